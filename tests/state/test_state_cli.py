"""lmsctl state list|show|rm|mv and force-unlock, through the CLI and its error boundary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lmsctl.model import ProjectConfig
from lmsctl.state import LocalBackend, state_path
from lmsctl.state.backend import LockInfo
from lmsctl.state.model import ResourceStatus
from tests.support.cli import run
from tests.support.factories import OTHER_SECTION, SECTION, STUDENT, make_record, make_snapshot

HW1 = f"{SECTION}/hw-01"
HW2 = f"{SECTION}/hw-02"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    backend = LocalBackend(state_path(tmp_path, ProjectConfig(), sandbox=False))
    snapshot = make_snapshot(
        make_record("hw-01"),
        make_record("hw-02", grades={}),
        make_record("quiz", status=ResourceStatus.UNKNOWN, assignment_id=None, applied={}),
    )
    snapshot.api_url = "https://api.clever.com/v3.1"
    backend.write(snapshot)
    return tmp_path


def backend_of(root: Path, *, sandbox: bool = False) -> LocalBackend:
    return LocalBackend(state_path(root, ProjectConfig(), sandbox=sandbox))


def test_list_prints_a_table(root: Path) -> None:
    code, out, err = run("state", "list", "--root", str(root))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["ADDRESS", "STATUS", "ASSIGNMENT", "ID", "GRADES", "TITLE"]
    assert lines[1].startswith(HW1) and "created" in lines[1] and "Homework hw-01" in lines[1]
    assert f"{SECTION}/quiz" in lines[3] and "unknown" in lines[3]
    assert "3 assignment(s), 2 grade(s)" in out


def test_list_json(root: Path) -> None:
    code, out, err = run("state", "list", "--root", str(root), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [r["address"] for r in data["resources"]] == [HW1, HW2, f"{SECTION}/quiz"]
    assert data["serial"] == 1 and data["api_url"] == "https://api.clever.com/v3.1"


def test_list_empty_state(tmp_path: Path) -> None:
    code, out, _ = run("state", "list", "--root", str(tmp_path))
    assert code == 0 and out.startswith("No assignments in state")
    assert not (tmp_path / ".lmsctl").exists()  # reading never creates anything


def test_sandbox_flag_reads_the_sandbox_state(root: Path) -> None:
    sandbox = backend_of(root, sandbox=True)
    sandbox.write(make_snapshot(make_record("lab-1")))
    code, out, _ = run("--sandbox", "state", "list", "--root", str(root), "--json")
    assert code == 0
    assert [r["address"] for r in json.loads(out)["resources"]] == [f"{SECTION}/lab-1"]


def test_show_assignment_text_and_json(root: Path) -> None:
    code, out, err = run("state", "show", HW1, "--root", str(root))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"# {HW1}"
    assert "status:        created" in out
    assert 'title: "Homework hw-01"' in out
    assert f"{STUDENT}: grade_points=9" in out
    code, out, _ = run("state", "show", HW1, "--root", str(root), "--json")
    assert code == 0 and json.loads(out)["grades"] == {STUDENT: {"grade_points": 9}}


def test_show_unknown_create_says_the_ways_out(root: Path) -> None:
    code, out, _ = run("state", "show", f"{SECTION}/quiz", "--root", str(root))
    assert code == 0
    assert f"lmsctl import {SECTION}/quiz ASSIGNMENT_ID" in out
    assert f"lmsctl state rm {SECTION}/quiz" in out


def test_show_a_grade(root: Path) -> None:
    code, out, _ = run("state", "show", f"{HW1}/grades/{STUDENT}", "--root", str(root), "--json")
    assert code == 0 and json.loads(out)["applied"] == {"grade_points": 9}


def test_show_missing_is_one_error_line(root: Path) -> None:
    code, out, err = run("state", "show", f"{SECTION}/nope", "--root", str(root))
    assert code == 1 and out == ""
    # the hint names the ROOT, so that it runs as pasted
    hint = f"lmsctl state list {root} shows what state holds"
    assert err == f"Error: {SECTION}/nope is not in state ({hint})\n"


def test_malformed_address_is_a_usage_error(root: Path) -> None:
    code, out, err = run("state", "show", "hw-01", "--root", str(root))
    assert code == 1 and out == ""  # every error exits 1; 2 is only plan's "changes"
    assert err.startswith("Error: malformed address 'hw-01'")


def test_rm_forgets_and_says_nothing_was_deleted(root: Path) -> None:
    code, out, err = run("state", "rm", HW1, f"{SECTION}/quiz", "--root", str(root))
    assert (code, err) == (0, "")
    assert f"Removed {HW1} from state (assignment 3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10" in out
    assert "Nothing was deleted in the LMS" in out and "lmsctl import" in out
    snapshot = backend_of(root).read()
    assert list(snapshot.resources) == [HW2]
    assert snapshot.serial == 2
    assert backend_of(root).current_lock() is None


def test_rm_a_grade(root: Path) -> None:
    code, out, _ = run("state", "rm", f"{HW1}/grades/{STUDENT}", "--root", str(root))
    assert code == 0 and f"Forgot the grade values lmsctl applied for {HW1}/grades/" in out
    assert "as if lmsctl had never set it" in out and "lmsctl import" not in out
    code, _, err = run("state", "rm", f"{HW1}/grades/{STUDENT}", "--root", str(root))
    assert code == 1 and f"lmsctl state show {HW1} {root} lists the grades it holds" in err
    assert backend_of(root).read().resources[HW1].grades == {}


def test_rm_of_something_missing_changes_nothing(root: Path) -> None:
    code, out, err = run("state", "rm", HW1, f"{SECTION}/nope", "--root", str(root))
    assert code == 1 and out == ""
    assert "not in state" in err and "nothing was removed" in err
    assert backend_of(root).read().serial == 1


def test_rm_while_locked_names_the_holder(root: Path) -> None:
    held = backend_of(root).lock("lmsctl apply")
    code, out, err = run("state", "rm", HW1, "--root", str(root))
    assert code == 1 and out == ""
    assert "state is locked by" in err and f"lmsctl force-unlock {held.id}" in err
    assert HW1 in backend_of(root).read().resources


def test_rm_takes_over_a_stale_lock_with_a_warning(root: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    info = LockInfo.new("lmsctl apply")
    stale = LockInfo(info.id, info.user, info.host, proc.pid, info.command, info.created)
    backend_of(root).lock_path.write_text(json.dumps(stale.to_dict()))
    code, out, err = run("--no-color", "state", "rm", HW1, "--root", str(root))
    assert code == 0 and "Removed" in out
    assert err.startswith("Warning: took over a stale state lock") and stale.id in err
    assert backend_of(root).current_lock() is None


def test_mv_moves_and_reminds_of_the_manifest(root: Path) -> None:
    new = f"{SECTION}/hw-01b"
    code, out, err = run("state", "mv", HW1, new, "--root", str(root))
    assert (code, err) == (0, "")
    assert f"Moved {HW1} to {new} in state" in out and "'hw-01b'" in out
    resources = backend_of(root).read().resources
    assert HW1 not in resources and resources[new].key == "hw-01b"


def test_mv_refusals(root: Path) -> None:
    code, _, err = run("state", "mv", HW1, HW2, "--root", str(root))
    assert code == 1 and f"{HW2} is already in state" in err
    code, _, err = run("state", "mv", HW1, f"{OTHER_SECTION}/hw-01", "--root", str(root))
    assert code == 1 and "belongs to the section it was created in" in err
    assert backend_of(root).read().serial == 1


def test_force_unlock(root: Path) -> None:
    held = backend_of(root).lock("lmsctl apply")
    code, out, err = run("force-unlock", "not-it", "--root", str(root))
    assert code == 1 and f"the lock id is {held.id}, not not-it" in err
    code, out, err = run("force-unlock", held.id, "--root", str(root))
    assert (code, err) == (0, "")
    assert f"Released the state lock {held.id} held by {held.holder}" in out
    assert backend_of(root).current_lock() is None
    code, _, err = run("force-unlock", held.id, "--root", str(root))
    assert code == 1 and "is not locked" in err


def test_state_commands_honour_state_path_in_lmsctl_yaml(tmp_path: Path) -> None:
    (tmp_path / "lmsctl.yaml").write_text("state: {backend: local, path: var/lms-state.json}\n")
    LocalBackend(tmp_path / "var/lms-state.json").write(make_snapshot(make_record()))
    code, out, _ = run("state", "list", "--root", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["state"].endswith("var/lms-state.json")
    assert len(json.loads(out)["resources"]) == 1


def test_every_command_has_help_with_an_example() -> None:
    for args in (
        ["state"],
        ["state", "list"],
        ["state", "show"],
        ["state", "rm"],
        ["state", "mv"],
        ["force-unlock"],
    ):
        code, out, _ = run(*args, "--help")
        assert code == 0 and re.search(r"Examples?( \(.*\))?:\n    lmsctl ", out), args


def test_state_list_and_show_print_a_hostile_title_escaped(tmp_path: Path) -> None:
    backend = backend_of(tmp_path)
    snapshot = make_snapshot(make_record("hw-01", applied={"title": "Essay \u202e\x9bcod.exe"}))
    snapshot.api_url = "https://api.clever.com/v3.1"
    backend.write(snapshot)
    _, listed, _ = run("state", "list", "--root", str(tmp_path))
    _, shown, _ = run("state", "show", HW1, "--root", str(tmp_path))
    _, as_json, _ = run("state", "show", HW1, "--json", "--root", str(tmp_path))
    for out in (listed, shown, as_json):
        assert "\u202e" not in out and "\x9b" not in out
        assert "\\u202e\\u009bcod.exe" in out
    assert json.loads(as_json)["applied"]["title"] == "Essay \u202e\x9bcod.exe"
