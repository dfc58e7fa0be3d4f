"""In a private run (CI, or privacy: in lmsctl.yaml) the commands besides plan name no student
either: status, state list/show/rm, import, pull's printed diff, apply of a plan file, errors
and --debug. Each scan looks for every name and roster id of the demo students."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lmsctl.state import LocalBackend
from lmsctl.state.crypto import StateKey
from tests.e2e.conftest import ALGEBRA, CliResult, SandboxPeek
from tests.e2e.test_privacy import KEY, _grade_comments, _identifying_values, _leaks

HW1 = f"{ALGEBRA}/hw-01"
S1 = "5f1a0c0b8e1d2a0001b00001"  # Mateo Chen, graded "Excellent work" on hw-01
S2, S9 = "5f1a0c0b8e1d2a0001b00002", "5f1a0c0b8e1d2a0001b00009"
SAND = ("--sandbox",)


def _private_leaks(result: CliResult) -> list[str]:
    return _leaks(result.text, _identifying_values() | _grade_comments())


@pytest.fixture
def applied(coursework: Path, lmsctl: Callable[..., CliResult]) -> Path:
    done = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert done.code == 0, done.text
    return coursework


def test_state_show_in_ci_shows_pseudonyms_and_no_comment(
    applied: Path, lmsctl: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = ("--root", str(applied))
    full = lmsctl(*SAND, "state", "show", HW1, *root)
    assert full.code == 0, full.text
    assert S1 in full.out and "Excellent work" in full.out  # the scan would see them

    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    for args in (
        ("state", "show", HW1, *root),
        ("state", "show", HW1, *root, "--json"),
        ("state", "show", f"{HW1}/grades/{S1}", *root),
        ("state", "show", f"{ALGEBRA}/quiz-1-retake", *root),  # assignee_ids
        ("state", "list", *root),
        ("state", "list", *root, "--json"),
        ("status", str(applied)),
        ("status", str(applied), "--json"),
    ):
        result = lmsctl(*SAND, *args)
        assert result.code == 0, (args, result.text)
        assert _private_leaks(result) == [], args
    shown = lmsctl(*SAND, "state", "show", HW1, *root, "--json")
    doc = json.loads(shown.out)
    assert doc["privacy"] == {"level": "pseudonymise"}
    assert len(doc["grades"]) == 5 and all(k.startswith("student-") for k in doc["grades"])
    assert {g["grade_points"] for g in doc["grades"].values()} == {10, 8.5, 7, 9, 0}
    grade = lmsctl(*SAND, "state", "show", f"{HW1}/grades/{S1}", *root)
    assert "/grades/student-" in grade.out and "grade_points: 10" in grade.out

    # redact: not even pseudonyms or grade values, only how many grades there are
    redacted = lmsctl(*SAND, "state", "show", HW1, *root, "--privacy", "redact")
    assert redacted.code == 0, redacted.text
    assert "student-" not in redacted.out and "grade_points=" not in redacted.out
    assert "grades (5): not shown at privacy level redact" in redacted.out
    # the full record is there for whoever holds the key
    keyed = lmsctl(*SAND, "state", "show", HW1, *root, "--privacy", "full")
    assert keyed.code == 0 and S1 in keyed.out and "Excellent work" in keyed.out


def test_state_show_and_rm_of_a_grade_and_their_errors_in_ci_name_no_student(
    applied: Path, lmsctl: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    root = ("--root", str(applied))
    absent = "5f1a0c0b8e1d2a0001b00009"  # a demo student with no grade on hw-01
    for debug in ((), ("--debug",)):
        missing = lmsctl(*debug, *SAND, "state", "show", f"{HW1}/grades/{absent}", *root)
        assert missing.code == 1 and "is not in state" in missing.err, missing.text
        assert "Traceback" not in missing.err or debug
        assert _private_leaks(missing) == [] and absent not in missing.text
    removed = lmsctl(*SAND, "state", "rm", f"{HW1}/grades/{S1}", *root)
    assert removed.code == 0, removed.text
    assert "Forgot the grade values lmsctl applied for" in removed.out
    assert _private_leaks(removed) == []


def test_apply_of_a_plan_file_obeys_privacy_in_lmsctl_yaml_as_apply_of_a_root_does(
    coursework: Path, lmsctl: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in CI: only lmsctl.yaml says the run is private; both ways of applying read it."""
    config = coursework / "lmsctl.yaml"
    config.write_text(config.read_text() + "privacy: pseudonymise\n")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    made = lmsctl(*SAND, "plan", str(coursework), "--out", "plan.json")
    assert made.code == 0, made.text
    from_file = lmsctl(*SAND, "apply", "plan.json", "--json")
    assert from_file.code == 0, from_file.text
    grades = [r for r in json.loads(from_file.out)["results"] if r["action"] == "grade"]
    assert grades and all("/grades/student-" in r["address"] for r in grades)
    assert _private_leaks(from_file) == []

    # the same change made again from the root reads the same pseudonyms
    edit_path = coursework / "lincoln-high" / "algebra-1-period-2.yaml"
    edit_path.write_text(edit_path.read_text().replace("{grade_points: 8.5,", "{grade_points: 9,"))
    lmsctl(*SAND, "plan", str(coursework), "--out", "again.json")
    again = lmsctl(*SAND, "apply", "again.json", "--json")
    edit_path.write_text(edit_path.read_text().replace("{grade_points: 9,", "{grade_points: 9.5,"))
    root = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", "--json")
    assert again.code == 0 and root.code == 0, again.text + root.text
    by_file = {r["address"] for r in json.loads(again.out)["results"]}
    by_root = {r["address"] for r in json.loads(root.out)["results"]}
    assert by_file == by_root and all("/grades/student-" in a for a in by_file)
    assert _private_leaks(again) == [] and _private_leaks(root) == []


def test_pull_in_ci_lists_edits_with_pseudonyms_instead_of_a_diff_naming_students(
    applied: Path,
    lmsctl: Callable[..., CliResult],
    sandbox: SandboxPeek,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hw1 = sandbox.by_title("Homework 1: Linear equations")["id"]
    path = f"/v3.1/sections/{ALGEBRA}/assignments/{hw1}/submissions"
    sandbox.call("PATCH", f"{path}/{S2}", {"grade_points": 9})  # drift of a grade
    # a grade a teacher set in the LMS, with a comment naming the student
    sandbox.call(
        "PATCH", f"{path}/{S9}", {"grade_points": 6, "grade_comment": "Excellent work, Mateo Chen"}
    )
    full = lmsctl(*SAND, "pull", str(applied), "--dry-run")
    assert full.code == 0, full.text
    assert S2 in full.out and S9 in full.out  # the diff names them: the scan would see it

    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    for args in (("--dry-run",), ("--dry-run", "--privacy", "redact"), ()):
        result = lmsctl(*SAND, "pull", str(applied), *args)
        assert result.code == 0, (args, result.text)
        assert _private_leaks(result) == [], args
        assert "Mateo" not in result.text and "grade changes" not in result.text
        assert "changed value" in result.out and "1 new grade" in result.out
        if "redact" in args:
            assert "student-" not in result.out and "8.5" not in result.out
            assert f"~ {HW1}: 2 grade(s) (not shown at privacy level redact)" in result.out
        else:
            assert f"~ {HW1}/grades/student-" in result.out and "8.5 -> 9" in result.out
            assert "grade_comment: (hidden)" in result.out
            assert "the diff is not shown at privacy level pseudonymise" in result.out
    # the manifest itself holds the ids: it is the source of truth, in the repository
    assert S9 in (applied / "lincoln-high" / "algebra-1-period-2.yaml").read_text()


def test_import_and_its_refusals_in_ci_name_no_student(
    applied: Path,
    lmsctl: Callable[..., CliResult],
    sandbox: SandboxPeek,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A guard: import names assignments and files only, also with --grades and --debug."""
    sandbox.call("PUT", "/_sandbox/clock", {"now": "2026-12-01T12:00:00Z"})
    body = {"title": "Essay 1", "description": "Made in the LMS.", "assignee_mode": "all"}
    made = sandbox.call(
        "POST",
        f"/v3.1/sections/{ALGEBRA}/assignments",
        {**body, "due_date": "2027-03-01T05:59:00.000Z"},
    )
    essay = str(made["data"]["id"])
    subs = f"/v3.1/sections/{ALGEBRA}/assignments/{essay}/submissions"
    sandbox.call("PATCH", f"{subs}/{S1}", {"grade_points": 18, "grade_comment": "Excellent work"})
    monkeypatch.setenv("CI", "true")
    root = ("--root", str(applied))
    for debug in ((), ("--debug",)):
        refused = lmsctl(*debug, *SAND, "import", f"{ALGEBRA}/essay-1", essay, *root)
        assert refused.code == 1 and "is in no manifest" in refused.err, refused.text
        assert _private_leaks(refused) == []
    done = lmsctl(*SAND, "import", f"{ALGEBRA}/essay-1", essay, *root, "--generate", "--grades")
    assert done.code == 0, done.text
    assert "with 1 grade" in done.out and _private_leaks(done) == []


def _disk_full_after_first_save(monkeypatch: pytest.MonkeyPatch) -> None:
    real_append = LocalBackend._append
    calls: list[int] = []

    def append(self: LocalBackend, line: bytes) -> None:
        if calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        calls.append(1)
        real_append(self, line)

    monkeypatch.setattr(LocalBackend, "_append", append)


@pytest.mark.parametrize("state_key", [False, True], ids=["in-clear", "encrypted"])
def test_a_failed_save_in_ci_warns_of_a_recovery_file_in_clear_and_names_no_student(
    applied: Path,
    lmsctl: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    state_key: bool,
) -> None:
    """The recovery file keeps what state push needs (student ids, grades, comments: the values
    applied, which the next three-way diff starts from), so it is encrypted under
    LMSCTL_STATE_KEY; without a key in a private run, the error says so. The output, with
    --debug too, names no student either way."""
    manifest = applied / "lincoln-high" / "algebra-1-period-2.yaml"
    manifest.write_text(
        manifest.read_text()
        .replace("{grade_points: 8.5, state: returned}", "{grade_points: 9.25, state: returned}")
        .replace("{grade_points: 24, state: returned}", "{grade_points: 23.5, state: returned}")
    )
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    if state_key:
        monkeypatch.setenv("LMSCTL_STATE_KEY", StateKey.generate().export())
    _disk_full_after_first_save(monkeypatch)
    failed = lmsctl("--debug", *SAND, "apply", str(applied), "--auto-approve", "--parallelism", "1")
    assert failed.code == 1, failed.text
    assert "lmsctl state push" in failed.err, failed.err
    assert _private_leaks(failed) == []
    (recovery,) = sorted((applied / ".lmsctl" / "sandbox").glob("recovery-*.json"))
    assert ("grades in clear: do not upload" in failed.err) is not state_key
    assert (S2 in recovery.read_text()) is not state_key  # what push needs, sealed with a key


def test_validate_obeys_privacy_in_lmsctl_yaml(
    coursework: Path, lmsctl: Callable[..., CliResult]
) -> None:
    path = coursework / "lincoln-high" / "algebra-1-period-2.yaml"
    path.write_text(
        path.read_text()
        .replace("sis:603: {grade_points: 7", "sis:603: {grade_points: seven")
        .replace(f"{S2}: {{grade_points: 8.5", f"{S2}: {{grade_points: x")
    )
    plain = lmsctl("validate", str(coursework))
    assert plain.code == 1 and "sis:603" in plain.out and S2 in plain.out
    config = coursework / "lmsctl.yaml"
    config.write_text(config.read_text() + "privacy: redact\n")
    for fmt in ("text", "json"):
        result = lmsctl("validate", str(coursework), "--format", fmt)
        assert result.code == 1 and "grade_points" in result.out, result.text
        assert _private_leaks(result) == [] and "sis:603" not in result.text, fmt
