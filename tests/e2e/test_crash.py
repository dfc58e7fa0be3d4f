"""Crashes and stops: apply killed with SIGKILL at random points, and stopped with SIGTERM.

Each run is a real ``python -m lmsctl --sandbox apply`` process on a shared sandbox database.
After the kills, re-running apply (and resolving any create whose answer was lost, as the plan
says) leaves no duplicate assignment and every grade as the manifests say.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmsctl.state.local import LocalBackend
from lmsctl.state.model import StateSnapshot
from tests.e2e.conftest import SandboxPeek
from tests.e2e.workload import check_converged, resolve_unknown, write_workload


def _start(root: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("CLEVER_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "lmsctl", "--sandbox", "apply", str(root), "--auto-approve", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _state_is_whole(state_file: Path) -> StateSnapshot | None:
    """The state as the next run reads it (snapshot and journal); an error if not whole."""
    if not state_file.exists():
        return None
    return LocalBackend(state_file).read()


@pytest.mark.slow
def test_apply_killed_at_random_points_then_rerun_converges(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("work")
    expected = write_workload(root, assignments=3)
    sandbox = SandboxPeek(root / ".lmsctl" / "sandbox.db")
    # slow enough writes that a kill lands in the middle of the work
    sandbox.call(
        "PUT", "/_sandbox/faults", {"latency": {"POST": [0.1, 0.3], "PATCH": [0.02, 0.08]}}
    )
    state_file = root / ".lmsctl" / "sandbox" / "state.json"
    rng = random.Random(20261123)
    serials = []
    for _ in range(10):
        proc = _start(root, "--parallelism", "2")
        time.sleep(rng.uniform(0.4, 2.0))
        proc.kill()
        proc.communicate()
        snapshot = _state_is_whole(state_file)  # never half-written
        serials.append(snapshot.serial if snapshot else 0)
    assert serials[-1] > 0, "the kills came before any work was done"
    # the kills landed while there was work left (state moved on between most of them)
    assert len(set(serials)) >= 5, serials
    sandbox.call("PUT", "/_sandbox/faults", {})
    assert [p for p in check_converged(sandbox, expected) if p.startswith("duplicate")] == []
    rerun = lmsctl("--sandbox", "apply", str(root), "--auto-approve")
    assert "Traceback" not in rerun.text
    resolve_unknown(lmsctl, root, sandbox, state_file)
    final = lmsctl("--sandbox", "apply", str(root), "--auto-approve")
    assert final.code == 0, final.text
    assert check_converged(sandbox, expected) == []
    again = lmsctl("--sandbox", "plan", str(root), "--detailed-exitcode")
    assert again.code == 0, again.text


@pytest.mark.slow
def test_sigterm_stops_gracefully_with_exit_130_and_state_saved(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("work")
    expected = write_workload(root, assignments=2)
    sandbox = SandboxPeek(root / ".lmsctl" / "sandbox.db")
    sandbox.call("PUT", "/_sandbox/faults", {"latency": {"PATCH": [0.2, 0.2], "POST": [0.2, 0.2]}})
    proc = _start(root, "--parallelism", "4")
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Apply interrupted" in out + err
    assert "Traceback" not in out + err
    snapshot = _state_is_whole(Path(root / ".lmsctl" / "sandbox" / "state.json"))
    assert snapshot is not None and snapshot.resources
    # what was done is in state: nothing that finished is redone, the rest completes
    sandbox.call("PUT", "/_sandbox/faults", {})
    final = lmsctl("--sandbox", "apply", str(root), "--auto-approve")
    assert final.code == 0, final.text
    done_later = int(re.search(r"(\d+) grades set", final.text).group(1))  # type: ignore[union-attr]
    assert done_later < 200, "the interrupted run's grades were kept, not redone"
    assert check_converged(sandbox, expected) == []
