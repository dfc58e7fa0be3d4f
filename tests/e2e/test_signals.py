"""SIGTERM and Ctrl-C at any moment of plan and apply: exit 130, the lock released, nothing
half-written, nothing written to the LMS that was not asked for.

Each run is a real ``python -m lmsctl --sandbox`` process; a slow sandbox (latency on reads)
holds it in its refresh long enough for the signal to land there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsctl.errors import StateError
from lmsctl.state.local import LocalBackend
from tests.e2e.test_recheck import Terminal
from tests.support.e2e import SandboxPeek
from tests.support.processes import end_all
from tests.support.workload import check_converged, write_workload

STATE = Path("work") / ".lmsctl" / "sandbox" / "state.json"


def _applied_once(lmsctl, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A root applied once (variant 0), then edited (variant 1): the next run has work."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    root = Path("work")
    before = write_workload(root, assignments=1)
    done = lmsctl("--sandbox", "apply", str(root), "--auto-approve")
    assert done.code == 0, done.text
    write_workload(root, assignments=1, variant=1)
    return root, SandboxPeek(root / ".lmsctl" / "sandbox.db"), before


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """Every run a test started is ended and its pipes closed, even when the test fails."""
    yield
    end_all(_started)


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmsctl", "--sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    _started.append(proc)
    return proc


def _holds_the_lock() -> bool:
    try:
        return LocalBackend(STATE).current_lock() is not None
    except StateError:  # the lock file is being written: look again
        return False


def _unlocked_and_whole() -> None:
    backend = LocalBackend(STATE)
    assert backend.current_lock() is None, "the lock was left behind"
    backend.read()  # never half-written


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "sig"),
    [
        ("plan", signal.SIGTERM),
        ("apply", signal.SIGTERM),
        ("apply", signal.SIGINT),
    ],
)
def test_a_signal_during_the_refresh_exits_130_and_frees_the_lock(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, sig: signal.Signals
) -> None:
    root, sandbox, before = _applied_once(lmsctl, monkeypatch, tmp_path)
    sandbox.call("PUT", "/_sandbox/faults", {"latency": {"GET": [4.0, 4.0]}})
    extra = ["--auto-approve"] if command == "apply" else []
    proc = _start(command, str(root), *extra)
    deadline = time.monotonic() + 30
    while not _holds_the_lock():  # then it waits on its reads (4 s each, concurrent)
        assert time.monotonic() < deadline and proc.poll() is None, "it never took the lock"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "Plan:" not in out  # it was still refreshing
    assert "Traceback" not in out + err
    _unlocked_and_whole()
    sandbox.call("PUT", "/_sandbox/faults", {})
    assert check_converged(sandbox, before) == []  # nothing was written


@pytest.mark.slow
def test_sigterm_at_the_prompt_exits_130_frees_the_lock_and_writes_nothing(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, sandbox, before = _applied_once(lmsctl, monkeypatch, tmp_path)
    term = Terminal("--sandbox", "apply", str(root))
    term.read_until("Apply these changes? (yes/no)")
    term.proc.send_signal(signal.SIGTERM)
    code = term.finish()
    assert code == 130, term.output
    assert "Traceback" not in term.output
    _unlocked_and_whole()
    assert check_converged(sandbox, before) == []


@pytest.mark.slow
def test_sigterm_during_the_writes_exits_130_frees_the_lock_and_keeps_what_was_done(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, sandbox, _ = _applied_once(lmsctl, monkeypatch, tmp_path)
    after = write_workload(root, assignments=1, variant=1)
    sandbox.call("PUT", "/_sandbox/faults", {"latency": {"PATCH": [0.2, 0.2]}})
    start = LocalBackend(STATE).read().serial
    proc = _start("apply", str(root), "--auto-approve", "--parallelism", "2")
    deadline = time.monotonic() + 30
    while LocalBackend(STATE).read().serial < start + 8:  # it is writing
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Apply interrupted" in out + err and "Traceback" not in out + err
    _unlocked_and_whole()
    sandbox.call("PUT", "/_sandbox/faults", {})
    final = lmsctl("--sandbox", "apply", str(root), "--auto-approve")
    assert final.code == 0, final.text
    assert check_converged(sandbox, after) == []
