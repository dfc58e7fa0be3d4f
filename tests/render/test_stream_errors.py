"""A streamed JSON plan that fails part-way: what was written is an incomplete document (no
reader takes it for a plan) and the command exits non-zero, with one line and no traceback.

(docs/json-output.md: a reader sees the document only when it ends.)"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lmsctl.cli.output import emit_plan
from lmsctl.plan.planfile import save_plan
from lmsctl.privacy import PrivacyChoice, PrivacyLevel
from lmsctl.render import json as render_json
from lmsctl.state.crypto import StateKeys
from tests.render.plans import first_apply_plan
from tests.support.processes import end_all

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "coursework"


def _env() -> dict[str, str]:
    env = dict(os.environ, NO_COLOR="1")
    for name in ("CI", "LMSCTL_SANDBOX", "LMSCTL_API_URL", "LMSCTL_STATE_KEY"):
        env.pop(name, None)
    return env


def _big_plan_file(tmp_path: Path) -> Path:
    """A saved plan of 1,500 grades: its JSON (about 2 MB) is far more than a pipe holds."""
    path = tmp_path / "plan.json"
    save_plan(path, first_apply_plan(sections=3, assignments=5, students=100), keys=StateKeys())
    return path


@pytest.mark.parametrize("level", [PrivacyLevel.FULL, PrivacyLevel.PSEUDONYMISE])
def test_a_change_that_cannot_be_written_stops_the_stream_part_way(
    level: PrivacyLevel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 300th change (a grade) holds a value JSON has no form for: the changes before it are
    already out, the document is not closed, and the error goes on to the CLI's boundary (which
    exits 1)."""
    monkeypatch.setattr(render_json, "PART_SIZE", 4096)
    choice = PrivacyChoice(level, b"k")
    plan = first_apply_plan(sections=2, assignments=3, students=100)
    changes = list(plan.changes)
    assert changes[300].student is not None
    changes[300] = replace(changes[300], body={"override_due_date": dt.date(2026, 12, 4)})
    good, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(good):
        emit_plan(plan, "json", color=False, privacy=choice)
    with pytest.raises(TypeError, match="not JSON serializable"), contextlib.redirect_stdout(out):
        emit_plan(replace(plan, changes=tuple(changes)), "json", color=False, privacy=choice)
    text, whole = out.getvalue(), good.getvalue()
    assert len(text) > 100_000 and whole.startswith(text) and len(text) < len(whole)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_a_reader_that_stops_reading_leaves_an_incomplete_document_and_exit_1(
    tmp_path: Path,
) -> None:
    """``lmsctl show plan.json --json | head -c 65536``: lmsctl exits 1, quietly."""
    plan_file = _big_plan_file(tmp_path)
    started: list[subprocess.Popen[str]] = []
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmsctl", "show", str(plan_file), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stderr is not None
        head = proc.stdout.read(65536)
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        end_all(started)
    assert code == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert head.startswith('{\n  "format_version": "1.2"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(head)


def test_ctrl_c_part_way_leaves_an_incomplete_document_and_exit_130(tmp_path: Path) -> None:
    """Ctrl-C while lmsctl waits for its reader (the pipe is full): it stops writing, says
    so, and exits 130; what came out does not parse."""
    plan_file = _big_plan_file(tmp_path)
    started: list[subprocess.Popen[str]] = []
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmsctl", "show", str(plan_file), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stderr is not None
        head = proc.stdout.read(100_000)  # lmsctl is now blocked writing the rest
        proc.send_signal(signal.SIGINT)
        text = head + proc.stdout.read()
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        end_all(started)
    assert code == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] in ("Aborted.", "Interrupted.")
    assert text.startswith('{\n  "format_version": "1.2"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_makes_plan_json_exit_1_with_one_line(tmp_path: Path) -> None:
    """``lmsctl plan --sandbox --json > file`` on a full disk: exit 1, one line saying the
    output is incomplete, nothing else (under --detailed-exitcode too: never read as 2)."""
    root = tmp_path / "coursework"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".lmsctl"))
    cmd = [sys.executable, "-m", "lmsctl", "--sandbox", "plan", str(root), "--json"]
    with open("/dev/full", "w", encoding="utf-8") as full:
        done = subprocess.run(
            [*cmd, "--detailed-exitcode"],
            stdout=full,
            stderr=subprocess.PIPE,
            env=_env(),
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: cannot write the plan to standard output: No space left on device (what was "
        "written is an incomplete JSON document)"
    ]
    # the same command with room to write: a whole document, and exit 2 for its changes
    ok = subprocess.run(
        [*cmd, "--detailed-exitcode"],
        capture_output=True,
        env=_env(),
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 2, ok.stderr
    assert isinstance(json.loads(ok.stdout)["changes"], list)


def test_the_same_plan_file_prints_whole_to_a_reader_that_reads_it_all(tmp_path: Path) -> None:
    plan_file = _big_plan_file(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "lmsctl", "show", str(plan_file), "--json"],
        capture_output=True,
        env=_env(),
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert len(doc["changes"]) == 15 + 1500
