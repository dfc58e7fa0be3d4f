"""Crashes and stops: apply killed with SIGKILL at random points, and stopped with SIGTERM.

Each run is a real ``python -m lmsctl --sandbox apply`` process on a shared sandbox database.
After the kills, re-running apply (and resolving any create whose answer was lost, as the plan
says) leaves no duplicate assignment and every grade as the manifests say.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsctl.errors import StateError
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, running_server
from lmsctl.state.local import LocalBackend
from lmsctl.state.model import StateSnapshot
from tests.support.e2e import SandboxPeek
from tests.support.processes import end_all
from tests.support.workload import check_converged, resolve_unknown, state_records, write_workload

_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """Every apply a test started is ended and its pipes closed, even when the test fails."""
    yield
    end_all(_started)


def _files_of(state_file: Path) -> tuple[tuple[int, int] | None, ...]:
    def stamp(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns

    return stamp(state_file), stamp(state_file.with_name(state_file.name + ".journal"))


def _wait_until_it_writes(proc: subprocess.Popen[str], state_file: Path) -> None:
    """Wait until the run has recorded something in its state, or has ended: a process that
    starts in under a second alone takes several on a loaded machine, and a kill meant for the
    middle of the work must not land before the work begins."""
    before = _files_of(state_file)
    deadline = time.monotonic() + 60
    while proc.poll() is None and _files_of(state_file) == before:
        assert time.monotonic() < deadline, "the apply recorded nothing in a minute"
        time.sleep(0.02)


def _wait_until_grades_are_recorded(proc: subprocess.Popen[str], state_file: Path) -> None:
    """Wait until the run's state holds a grade (the assignments are made first)."""
    deadline = time.monotonic() + 60
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the apply recorded no grade in a minute"
        try:
            if state_file.exists() and LocalBackend(state_file).read().grade_count > 0:
                return
        except StateError:  # read while a journal line is half-appended: look again
            pass
        time.sleep(0.05)


def _start(
    root: Path, *extra: str, connect: tuple[str, ...] = ("--sandbox",)
) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    if connect == ("--sandbox",):
        env.pop("CLEVER_TOKEN", None)
    else:
        env["CLEVER_TOKEN"] = DEMO_TOKEN
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmsctl", *connect, "apply", str(root), "--auto-approve", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    _started.append(proc)
    return proc


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
        _wait_until_it_writes(proc, state_file)
        time.sleep(rng.uniform(0.0, 1.2))
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


def _plan_doc(lmsctl, connect: tuple[str, ...], root: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = lmsctl(*connect, "plan", str(root), "--json")
    assert "Traceback" not in result.text
    doc: dict[str, Any] = json.loads(result.out)
    return doc


@pytest.mark.slow
def test_killed_applies_with_changing_manifests_show_no_false_conflict(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given applies killed at 10 random points against an LMS on a socket (a write sent
    before the kill is still carried out there, as by Clever), the manifests edited before
    each run, when a reviewer reads the plan before each apply, then it never reports
    lmsctl's own unrecorded writes as a teacher's (no conflict, no drift: nobody else touches
    the LMS), and the last apply converges with no duplicate and no lost grade."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLEVER_TOKEN", DEMO_TOKEN)
    root = Path("work")
    write_workload(root, assignments=2)
    db = tmp_path / "lms.db"
    sandbox = SandboxPeek(db)
    state_file = root / ".lmsctl" / "state.json"
    rng = random.Random(20261201)
    variant = 0
    false_conflicts: list[Any] = []
    false_drift: list[Any] = []
    serials = []
    with running_server(SandboxConfig(db_path=db)) as url:
        connect = ("--api-url", url)
        faults = {"latency": {"POST": [0.1, 0.3], "PATCH": [0.05, 0.15]}}
        httpx.put(
            url.removesuffix("/v3.1") + "/_sandbox/faults",
            json=faults,
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        ).raise_for_status()
        for _ in range(10):
            # the manifests change, a reviewer reads the plan, then an apply is killed
            variant = rng.choice([v for v in range(4) if v != variant])
            expected = write_workload(root, assignments=2, variant=variant)
            doc = _plan_doc(lmsctl, connect, root)
            false_conflicts += doc["conflicts"]
            false_drift += doc["drift"]
            proc = _start(root, "--parallelism", "3", connect=connect)
            _wait_until_it_writes(proc, state_file)
            time.sleep(rng.uniform(0.0, 2.0))
            proc.kill()
            proc.communicate()
            snapshot = _state_is_whole(state_file)
            serials.append(snapshot.serial if snapshot else 0)
            time.sleep(0.3)  # the writes the killed run had sent land in the LMS
            resolve_unknown(lmsctl, root, sandbox, state_file, connect)  # as the plan says
        variant = (variant + 1) % 4  # and once more after the last kill
        expected = write_workload(root, assignments=2, variant=variant)
        doc = _plan_doc(lmsctl, connect, root)
        false_conflicts += doc["conflicts"]
        false_drift += doc["drift"]
        assert len(set(serials)) >= 5, serials  # the kills landed in the middle of the work
        assert (len(false_conflicts), len(false_drift)) == (0, 0), false_conflicts[:3]
        httpx.put(
            url.removesuffix("/v3.1") + "/_sandbox/faults",
            json={},
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        ).raise_for_status()
        assert [p for p in check_converged(sandbox, expected) if p.startswith("duplicate")] == []
        final = lmsctl(*connect, "apply", str(root), "--auto-approve")
        assert final.code == 0, final.text
        assert check_converged(sandbox, expected) == []
        again = lmsctl(*connect, "plan", str(root), "--detailed-exitcode")
        assert again.code == 0, again.text
    records = state_records(state_file)
    assert not [a for a, r in records.items() if r.get("intent")], "intents left after success"


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
    _wait_until_grades_are_recorded(proc, root / ".lmsctl" / "sandbox" / "state.json")
    time.sleep(0.5)  # in the middle of the grades (0.2 s each)
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
