"""lmsctl pull: a teacher's edits in the LMS come back into the YAML, nothing else changes."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

from tests.support.e2e import ALGEBRA, ALGEBRA_FILE, CliResult, SandboxPeek, edit

SAND = ("--sandbox",)
S2, S4, S9 = (f"5f1a0c0b8e1d2a0001b0000{n}" for n in (2, 4, 9))
HW1, HW2, QUIZ = (
    "Homework 1: Linear equations",
    "Homework 2: Slope and intercept",
    "Quiz 1: Linear equations",
)


def _apply(lmsctl: Callable[..., CliResult], coursework: Path) -> None:
    res = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert res.code == 0, res.text
    _IDS.clear()


_IDS: dict[str, str] = {}


def _patch(peek: SandboxPeek, title: str, body: dict[str, object], student: str = "") -> None:
    aid = _IDS.get(title) or peek.by_title(title)["id"]
    _IDS[title] = aid
    path = f"/v3.1/sections/{ALGEBRA}/assignments/{aid}"
    peek.call("PATCH", f"{path}/submissions/{student}" if student else path, body)


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return (
        [d[2:] for d in diff if d.startswith("- ")],
        [d[2:] for d in diff if d.startswith("+ ")],
    )


def test_teacher_edits_come_back_into_exactly_those_lines(
    lmsctl: Callable[..., CliResult], coursework: Path, sandbox: SandboxPeek
) -> None:
    _apply(lmsctl, coursework)
    path = coursework / ALGEBRA_FILE
    before = path.read_text()
    # a teacher, in the LMS: a title, a due date and two grades
    _patch(sandbox, HW1, {"title": "Homework 1: Linear equations (revised)"})
    _patch(sandbox, HW2, {"due_date": "2027-02-02T05:59:00.000Z"})  # 23:59 on 1 Feb, Chicago
    _patch(sandbox, HW1, {"grade_points": 9}, S2)
    _patch(sandbox, HW1, {"grade_points": 10}, S4)
    drifted = lmsctl(*SAND, "plan", str(coursework))
    assert "drift" in drifted.out.lower(), drifted.out

    dry = lmsctl(*SAND, "pull", str(coursework), "--dry-run")
    assert dry.code == 0, dry.text
    assert path.read_text() == before
    res = lmsctl(*SAND, "pull", str(coursework))
    assert res.code == 0, res.text
    assert res.out.startswith(dry.out.split("Would write")[0])  # the same diff
    assert f"+++ b/{path.as_posix()}" in res.out
    assert "Wrote 4 changed values and 0 new grades" in res.out
    after = path.read_text()
    removed, added = _changed_lines(before, after)
    assert removed == [
        '    title: "Homework 1: Linear equations"',
        f"      {S2}: {{grade_points: 8.5, state: returned}}",
        "        grade_points: 9",
        "    due_date: 2027-01-29",
    ]
    assert added == [
        '    title: "Homework 1: Linear equations (revised)"',
        f"      {S2}: {{grade_points: 9, state: returned}}",
        "        grade_points: 10",
        "    due_date: 2027-02-01",
    ]
    # every other byte, comments and all, is as it was
    assert len(after.splitlines()) == len(before.splitlines())
    assert after.splitlines()[:2] == before.splitlines()[:2]
    assert lmsctl("validate", str(coursework)).code == 0
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 0, plan.text
    assert "No changes. The LMS matches the manifests." in plan.out
    nothing = lmsctl(*SAND, "pull", str(coursework))
    assert nothing.code == 0 and "Nothing to pull" in nothing.out
    # pulled, then thrown away (git checkout): still drift, never a plain update that reverts
    path.write_text(before)
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 0, plan.text
    assert "Drift: 4 fields changed" in plan.out, plan.out
    assert "except for the drift above, which is kept" in plan.out, plan.out


def test_grades_set_only_in_the_lms_and_fields_from_defaults_are_added(
    lmsctl: Callable[..., CliResult], coursework: Path, sandbox: SandboxPeek
) -> None:
    _apply(lmsctl, coursework)
    path = coursework / ALGEBRA_FILE
    before = path.read_text()
    _patch(sandbox, QUIZ, {"grade_points": 20, "state": "returned"}, S9)  # not in the manifest
    _patch(sandbox, HW1, {"points_possible": 12})  # hw-01 takes it from defaults
    res = lmsctl(*SAND, "pull", str(coursework), "--target", f"{ALGEBRA}/hw-01")
    assert res.code == 0, res.text
    removed, added = _changed_lines(before, path.read_text())
    assert removed == [] and added == ["    points_possible: 12"]  # defaults keep 10
    assert "  points_possible: 10" in path.read_text()
    res = lmsctl(*SAND, "pull", str(coursework))
    assert res.code == 0, res.text
    assert "1 new grade" in res.out
    removed, added = _changed_lines(before, path.read_text())
    assert added == [
        "    points_possible: 12",
        f"      {S9}: {{grade_points: 20, state: returned}}",
    ]
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 0 and "No changes" in plan.out, plan.text


def test_conflicts_and_gradebook_files_are_left_alone(
    lmsctl: Callable[..., CliResult], coursework: Path, sandbox: SandboxPeek
) -> None:
    _apply(lmsctl, coursework)
    path = coursework / ALGEBRA_FILE
    edit(path, 'title: "Homework 1: Linear equations"', 'title: "Homework 1 (ours)"')
    before = path.read_text()
    csv = coursework / "lincoln-high/grades/algebra-hw-02.csv"
    csv_before = csv.read_text()
    _patch(sandbox, HW1, {"title": "Homework 1 (theirs)"})  # changed in both places
    _patch(sandbox, HW2, {"grade_points": 3}, S2)  # hw-02's grades come from the CSV file
    res = lmsctl(*SAND, "pull", str(coursework))
    assert res.code == 0, res.text
    assert f"Skipped {ALGEBRA}/hw-01 title: conflict" in res.err, res.err
    assert f"Skipped {ALGEBRA}/hw-02/grades/{S2} grade_points: in the gradebook" in res.err
    assert "Nothing to pull" in res.out
    assert path.read_text() == before and csv.read_text() == csv_before


def test_block_scalars_and_single_quotes_keep_their_place(
    lmsctl: Callable[..., CliResult], coursework: Path, sandbox: SandboxPeek
) -> None:
    path = coursework / ALGEBRA_FILE
    edit(path, 'title: "Homework 1: Linear equations"', "title: 'Homework 1: Linear equations'")
    edit(
        path,
        "description: Problems 1-20 on page 42. Show your work.\n",
        "description: |\n      Problems 1-20 on page 42.\n      Show your work.\n",
    )
    _apply(lmsctl, coursework)
    before = path.read_text()
    _patch(sandbox, HW1, {"title": "It's homework 1", "description": "Problems 1-25.\nShow it."})
    res = lmsctl(*SAND, "pull", str(coursework))
    assert res.code == 0, res.text
    after = path.read_text()
    removed, added = _changed_lines(before, after)
    assert removed == [
        "    title: 'Homework 1: Linear equations'",
        "    description: |",
        "      Problems 1-20 on page 42.",
        "      Show your work.",
    ]
    assert added == [
        "    title: 'It''s homework 1'",
        '    description: "Problems 1-25.\\nShow it."',
    ]
    assert "    display_date: 2027-01-18" in after  # the next line is still its own
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 0 and "No changes" in plan.out, plan.text
