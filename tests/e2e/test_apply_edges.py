"""apply edge cases found by hand: damaged plan files and plans applied from another folder."""

from __future__ import annotations

import gc
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from lmsctl.errors import api_error_for
from lmsctl.state.backend import LockInfo
from tests.support.e2e import ALGEBRA, CliResult, SandboxPeek

SCIENCE = "5f1a0c0b8e1d2a0001a00002"

SAND = ("--sandbox",)


def _clean(res: CliResult) -> None:
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err


def test_a_damaged_plan_file_is_named_as_a_plan_file_not_a_root(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    for name, body in [
        ("empty.json", ""),
        ("text.json", "hello\n"),
        ("list.json", "[]\n"),
        ("other.json", '{"kind": "something else"}\n'),
    ]:
        Path(name).write_text(body)
        res = lmsctl(*SAND, "apply", name)
        assert res.code == 1, (name, res.err)
        assert f"{name} is not a plan file" in res.err, res.err
        assert "not a folder" not in res.err
        _clean(res)


def test_a_saved_plan_applied_from_another_folder_says_where_to_run_it(
    lmsctl: Callable[..., CliResult], coursework: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lmsctl(*SAND, "plan", str(coursework), "--out", "plan.json").code == 0
    Path("elsewhere").mkdir()
    monkeypatch.chdir("elsewhere")
    res = lmsctl(*SAND, "apply", "../plan.json")
    assert res.code == 1, res.err  # a usage error: the command was run in the wrong place
    assert "the plan was made in root coursework" in res.err, res.err
    assert "--root" in res.err
    assert "error(s) in the manifests" not in res.err
    _clean(res)
    res = lmsctl(*SAND, "apply", "../plan.json", "--root", "../coursework")
    assert res.code == 0, res.err
    assert "Apply complete: 11 created" in res.out


def test_a_plan_file_with_a_damaged_field_is_a_clean_error(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    assert lmsctl(*SAND, "plan", str(coursework), "--out", "plan.json").code == 0
    doc = json.loads(Path("plan.json").read_text())
    for name, damage in [
        ("changes.json", {"changes": "x"}),
        ("drift.json", {"drift": [1, 2]}),
        ("options.json", {"options": "x"}),
    ]:
        Path(name).write_text(json.dumps({**doc, "plan": {**doc["plan"], **damage}}))
        res = lmsctl(*SAND, "apply", name)
        assert res.code == 1, (name, res.err)
        assert "the plan file is damaged" in res.err, res.err
        _clean(res)


def test_import_advice_is_a_command_that_works(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    root = ("--root", str(coursework))
    shown = lmsctl(*SAND, "state", "show", f"{SCIENCE}/unit-1-test", *root).out
    science_id = next(ln.split()[1] for ln in shown.splitlines() if ln.startswith("assignment_id"))
    # An assignment of another section: state mv cannot move it there, so it must not say so.
    res = lmsctl(*SAND, "import", f"{ALGEBRA}/hw-09", science_id, *root)
    assert res.code == 1, res.err
    assert f"already managed as {SCIENCE}/unit-1-test" in res.err
    assert "state mv" not in res.err, res.err
    assert f"belongs to section {SCIENCE}" in res.err
    # A new address and an id that does not exist: nothing to state rm.
    missing = "00000000-0000-4000-8000-000000000000"
    res = lmsctl(*SAND, "import", f"{ALGEBRA}/hw-09", missing, *root, "--generate")
    assert res.code == 1, res.err
    assert "does not exist in section" in res.err
    assert "state rm" not in res.err, res.err
    _clean(res)


def test_a_folder_inside_a_root_is_refused_not_planned_as_a_new_project(
    lmsctl: Callable[..., CliResult], coursework: Path, sandbox: SandboxPeek
) -> None:
    # lincoln-high/ holds section files of the coursework root. Run alone, it has no state of its
    # own, so everything in it would be created again: duplicates in front of students.
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    sub = coursework / "lincoln-high"
    for args in (("plan", str(sub)), ("apply", str(sub), "--auto-approve")):
        res = lmsctl(*SAND, *args)
        assert res.code == 1, (args, res.text)
        assert "coursework/lincoln-high is inside the lmsctl root coursework" in res.err, res.err
        assert "run lmsctl on coursework" in res.err
        _clean(res)
    assert len(sandbox.assignments()) == 4  # hw-01, hw-02, quiz-1, quiz-1-retake: no duplicate
    assert not (sub / ".lmsctl").exists()
    # A sub-folder with its own lmsctl.yaml is a root of its own.
    (sub / "lmsctl.yaml").write_text("timezone: America/Chicago\n")
    assert lmsctl(*SAND, "validate", str(sub)).code == 0


def test_ctrl_c_at_the_confirmation_prompt_aborts_at_once(
    lmsctl: Callable[..., CliResult], coursework: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The prompt ran inside the event loop, whose SIGINT handler only cancelled the main task:
    # Ctrl-C left the prompt waiting, and a "yes" typed after it reported "Apply interrupted".
    asked: list[str] = []

    def user_presses_ctrl_c(prompt: str) -> str:
        asked.append(prompt)
        signal.raise_signal(signal.SIGINT)
        return "yes"

    monkeypatch.setattr(sys, "stdin", _Tty())
    monkeypatch.setattr(click.termui, "visible_prompt_func", user_presses_ctrl_c)
    res = lmsctl(*SAND, "apply", str(coursework))
    assert asked and "Apply these changes? (yes/no)" in asked[0]
    assert res.code == 130, res.text
    assert "Aborted." in res.err
    assert "Apply interrupted" not in res.text and "Apply complete" not in res.text
    assert lmsctl(*SAND, "plan", str(coursework)).out.count("will be created") == 11


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_force_unlock_refuses_the_lock_of_a_run_still_running_here(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    lock_path = coursework / ".lmsctl" / "state.json.lock"
    lock_path.parent.mkdir(parents=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        info = LockInfo.new("lmsctl apply")
        live = LockInfo(info.id, info.user, info.host, running.pid, info.command, info.created)
        lock_path.write_text(json.dumps(live.to_dict()))
        res = lmsctl("force-unlock", live.id, "--root", str(coursework))
        assert res.code == 1, res.text
        assert f"pid {running.pid}" in res.err and "still running on this machine" in res.err
        assert lock_path.exists()  # two applies at once could write the same grades twice
    finally:
        running.kill()
        running.wait()
    res = lmsctl("force-unlock", live.id, "--root", str(coursework))
    assert res.code == 0, res.text
    assert not lock_path.exists()


def test_apply_json_of_a_plan_file_with_no_changes_is_json(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    assert lmsctl(*SAND, "plan", str(coursework), "--out", "plan.json").code == 0
    from_root = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", "--json")
    from_file = lmsctl(*SAND, "apply", "plan.json", "--json")
    assert (from_root.code, from_file.code) == (0, 0), from_file.text
    for res in (from_root, from_file):
        doc = json.loads(res.out)
        assert doc["ok"] is True and doc["results"] == []


def test_a_damaged_lock_file_is_reported_with_what_to_do(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    lock = coursework / ".lmsctl" / "sandbox" / "state.json.lock"
    lock.write_text("garbage\n")
    res = lmsctl(*SAND, "status", str(coursework))
    assert res.code == 0, res.text  # status still shows the district and state
    assert "11 assignments" in res.out
    assert "is unreadable" in res.out and "delete that file" in res.out
    res = lmsctl(*SAND, "force-unlock", "some-id", "--root", str(coursework))
    assert res.code == 1 and "is unreadable" in res.err and "delete that file" in res.err
    _clean(res)


def test_ctrl_c_while_reading_the_lms_prints_no_python_warnings(
    lmsctl: Callable[..., CliResult], coursework: Path, sandbox: SandboxPeek
) -> None:
    # Reads queued behind the concurrency gate were coroutines never awaited once Ctrl-C
    # cancelled the run: Python printed "RuntimeWarning: coroutine ... was never awaited".
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    sandbox.call("PUT", "/_sandbox/faults", {"latency": {"GET": 1.0}})
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        timer.start()
        try:
            res = lmsctl(*SAND, "plan", str(coursework))
        finally:
            timer.join()
        gc.collect()
    assert res.code == 130, res.text
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_sandbox_serve_on_a_busy_port_is_one_clean_error(
    lmsctl: Callable[..., CliResult], tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        db = tmp_path / "s.db"
        res = lmsctl("sandbox", "serve", "--port", str(port), "--db", str(db))
    assert res.code == 1, res.text
    assert f"cannot listen on 127.0.0.1:{port}" in res.err and "--port" in res.err
    assert "Clever API sandbox on" not in res.out  # no banner for a server that never ran
    assert not db.exists()


def test_a_refused_token_says_to_check_clever_token() -> None:
    # Clever answers a wrong token with 403 "Could not authorize token" (not 401).
    error = api_error_for(403, "Could not authorize token", method="GET", path="/v3.1/districts")
    assert str(error).startswith("GET /v3.1/districts -> 403: Could not authorize token")
    assert "check CLEVER_TOKEN" in str(error)
