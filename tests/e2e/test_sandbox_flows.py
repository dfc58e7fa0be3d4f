"""lmsctl end to end against the embedded sandbox: plan, apply, drift, conflicts, deletes, saved
plans, locks, import and state commands, through the real CLI, client and state files."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import jsonschema

from lmsctl.state.backend import LockInfo
from tests.support.e2e import ALGEBRA, ALGEBRA_FILE, CliResult, edit

SAND = ("--sandbox",)
S1 = "5f1a0c0b8e1d2a0001b00001"
S2 = "5f1a0c0b8e1d2a0001b00002"
HW1 = "Homework 1: Linear equations"
SUMMARY_RE = re.compile(
    r"Plan: (\d+) to create, (\d+) to update, (\d+) grades to set, (\d+) to delete"
)


def summary(result: CliResult) -> tuple[int, ...]:
    m = SUMMARY_RE.search(result.out)
    assert m, result.text
    return tuple(int(g) for g in m.groups())


def applied(lmsctl, coursework: Path) -> CliResult:  # type: ignore[no-untyped-def]
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 0, result.text
    assert "Apply complete: 11 created, 0 updated, 23 grades set, 0 deleted" in result.text
    return result


def test_first_plan_creates_everything_then_apply_converges(lmsctl, coursework, sandbox) -> None:
    first = lmsctl(*SAND, "plan", str(coursework))
    assert first.code == 0, first.text
    assert summary(first) == (11, 0, 23, 0)
    applied(lmsctl, coursework)
    again = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert again.code == 0, again.text
    assert "No changes. The LMS matches the manifests." in again.out
    hw1 = sandbox.by_title(HW1)
    subs = sandbox.submissions(ALGEBRA, hw1["id"])
    assert subs[S1]["grade_points"] == 10 and subs[S1]["state"] == "returned"
    assert subs["5f1a0c0b8e1d2a0001b00003"]["flags"] == ["late"]  # sis:603


def test_changed_grade_is_planned_and_applied(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    edit(
        coursework / ALGEBRA_FILE,
        "grade_points: 10, grade_comment: Excellent",
        "grade_points: 9.5, grade_comment: Excellent",
    )
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 2
    assert summary(plan) == (0, 0, 1, 0)
    assert "grade_points: 10 -> 9.5" in plan.out
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 0 and "1 grades set" in result.text
    subs = sandbox.submissions(ALGEBRA, sandbox.by_title(HW1)["id"])
    assert subs[S1]["grade_points"] == 9.5


def test_drift_is_reported_and_kept_then_reverted(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    hw1 = sandbox.by_title(HW1)
    sandbox.call(
        "PATCH", f"/v3.1/sections/{ALGEBRA}/assignments/{hw1['id']}", {"title": "HW1 (teacher)"}
    )
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 0, plan.text  # drift alone is not a change
    assert "Drift" in plan.out and "HW1 (teacher)" in plan.out
    assert sandbox.by_title("HW1 (teacher)")
    revert = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", "--revert-drift")
    assert revert.code == 0, revert.text
    assert sandbox.by_title(HW1)["id"] == hw1["id"]


def test_conflicting_grade_blocks_until_forced(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    hw1 = sandbox.by_title(HW1)
    sandbox.call(
        "PATCH",
        f"/v3.1/sections/{ALGEBRA}/assignments/{hw1['id']}/submissions/{S1}",
        {"grade_points": 6},
    )
    edit(
        coursework / ALGEBRA_FILE,
        "grade_points: 10, grade_comment: Excellent",
        "grade_points: 9, grade_comment: Excellent",
    )
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 1
    assert "!" in plan.out and "conflict" in plan.out.lower()
    refused = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert refused.code == 1
    assert sandbox.submissions(ALGEBRA, hw1["id"])[S1]["grade_points"] == 6
    forced = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", "--force")
    assert forced.code == 0, forced.text
    assert sandbox.submissions(ALGEBRA, hw1["id"])[S1]["grade_points"] == 9


def test_grade_set_by_teacher_is_never_overwritten_silently(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    hw1 = sandbox.by_title(HW1)
    s7 = "5f1a0c0b8e1d2a0001b00007"
    sandbox.call(
        "PATCH",
        f"/v3.1/sections/{ALGEBRA}/assignments/{hw1['id']}/submissions/{s7}",
        {"grade_points": 4},
    )
    edit(
        coursework / ALGEBRA_FILE,
        "      sis:603:",
        f"      {s7}: {{grade_points: 8}}\n      sis:603:",
    )
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 1, plan.text
    assert "never applied" in plan.out
    assert sandbox.submissions(ALGEBRA, hw1["id"])[s7]["grade_points"] == 4


def test_assignment_deleted_in_lms_is_recreated(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    hw1 = sandbox.by_title(HW1)
    sandbox.call("DELETE", f"/v3.1/sections/{ALGEBRA}/assignments/{hw1['id']}")
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert summary(plan) == (1, 0, 5, 0)
    assert "deleted in the LMS" in plan.out
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    assert sandbox.by_title(HW1)["id"] != hw1["id"]


def test_removed_assignment_with_grades_needs_consent_to_delete(
    lmsctl, coursework, sandbox
) -> None:
    applied(lmsctl, coursework)
    path = coursework / ALGEBRA_FILE
    text = path.read_text()
    start = text.index("  quiz-1:\n")
    end = text.index("  quiz-1-retake:\n")
    path.write_text(text[:start] + text[end:])
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert summary(plan) == (0, 0, 0, 1)
    assert "2 graded" in plan.out
    refused = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert refused.code == 1 and "--allow-destroy-submissions" in refused.err
    assert "--allow-mass-delete" not in refused.err  # 1 of the section's 4: not a mass delete
    assert sandbox.by_title("Quiz 1: Linear equations")
    done = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", "--allow-destroy-submissions")
    assert done.code == 0, done.text
    assert not [a for a in sandbox.assignments() if a["title"] == "Quiz 1: Linear equations"]


def test_deleting_most_of_a_section_needs_its_own_flag(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    path = coursework / "lincoln-high/biology-period-4.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  lab-02-cells:\n")])  # 2 of its 3 assignments, ungraded
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert summary(plan) == (0, 0, 0, 2)
    assert "deletes 2 of its 3 tracked assignments; apply requires --allow-mass-delete" in plan.out
    for flags in ((), ("--allow-destroy-submissions",)):
        refused = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", *flags)
        assert refused.code == 1, refused.text
        assert "--allow-mass-delete" in refused.err
        assert "--allow-destroy-submissions" not in refused.err  # no student work is at stake
    biology = "5f1a0c0b8e1d2a0001a00002"
    assert len(sandbox.assignments(biology)) == 3
    done = lmsctl(*SAND, "apply", str(coursework), "--auto-approve", "--allow-mass-delete")
    assert done.code == 0, done.text
    assert [a["title"] for a in sandbox.assignments(biology)] == ["Lab 1: Using a microscope"]


def test_protected_assignment_is_never_deleted(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    path = coursework / "washington-middle/world-history-8-period-3.yaml"
    text = path.read_text()
    text = text.replace(
        "    protect: true                  # lmsctl never deletes this one\n",
        "    protect: true\n",
    )
    path.write_text(text)
    # remove the whole protected assignment from the manifests
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "protect: true" in line)
    while not lines[start].startswith("  ") or lines[start].startswith("    "):
        start -= 1
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    path.write_text("".join(lines[:start] + lines[end:]))
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 1, plan.text
    assert "protected" in plan.err
    # not even with every consent flag
    forced = lmsctl(
        *SAND, "apply", str(coursework), "--auto-approve", "--force", "--allow-destroy-submissions"
    )
    assert forced.code == 1 and "protected" in forced.err
    rome = "5f1a0c0b8e1d2a0001a00004"
    assert sandbox.by_title("Project: Daily life in ancient Rome", section=rome)


def test_saved_plan_applies_exactly_and_refuses_when_stale(
    lmsctl, coursework, sandbox, tmp_path
) -> None:
    saved = lmsctl(*SAND, "plan", str(coursework), "--out", "plan.json")
    assert saved.code == 0, saved.text
    assert stat.S_IMODE(os.stat("plan.json").st_mode) == 0o600
    shown = lmsctl(*SAND, "show", "plan.json")
    assert summary(shown) == (11, 0, 23, 0)
    done = lmsctl(*SAND, "apply", "plan.json")
    assert done.code == 0, done.text
    assert "Apply complete: 11 created" in done.text
    stale = lmsctl(*SAND, "apply", "plan.json")
    assert stale.code == 1
    assert "stale plan: state changed since the plan was made; run plan again" in stale.err


def test_saved_plan_skips_a_grade_that_changed_since_the_plan(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    edit(
        coursework / ALGEBRA_FILE,
        "grade_points: 10, grade_comment: Excellent",
        "grade_points: 9, grade_comment: Excellent",
    )
    edit(
        coursework / ALGEBRA_FILE,
        "5f1a0c0b8e1d2a0001b00002: {grade_points: 8.5",
        "5f1a0c0b8e1d2a0001b00002: {grade_points: 8",
    )
    assert lmsctl(*SAND, "plan", str(coursework), "--out", "plan.json").code == 0
    hw1 = sandbox.by_title(HW1)
    sandbox.call(
        "PATCH",
        f"/v3.1/sections/{ALGEBRA}/assignments/{hw1['id']}/submissions/{S1}",
        {"grade_points": 3},
    )
    result = lmsctl(*SAND, "apply", "plan.json")
    assert result.code == 1
    assert "changed in the LMS since the plan was shown" in result.text
    assert "grade_points: plan saw 10, LMS now 3" in result.out
    subs = sandbox.submissions(ALGEBRA, hw1["id"])
    assert subs[S1]["grade_points"] == 3  # the teacher's change stands
    assert subs[S2]["grade_points"] == 8  # the other change went ahead


def test_second_run_fails_at_once_while_the_lock_is_held(lmsctl, coursework) -> None:
    lock_path = coursework / ".lmsctl" / "sandbox" / "state.json.lock"
    applied(lmsctl, coursework)
    held = LockInfo.new("lmsctl apply")
    held = LockInfo.from_dict({**held.to_dict(), "pid": 1, "host": "ci-runner-7"})
    lock_path.write_text(json.dumps(held.to_dict()))
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 1
    assert "ci-runner-7" in result.err and held.id in result.err
    freed = lmsctl(*SAND, "force-unlock", held.id, "--root", str(coursework))
    assert freed.code == 0, freed.text
    assert lmsctl(*SAND, "plan", str(coursework)).code == 0


def test_import_adopts_and_state_commands(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    hw1 = sandbox.by_title(HW1)
    address = f"{ALGEBRA}/hw-01"
    listed = lmsctl(*SAND, "state", "list", "--root", str(coursework))
    assert address in listed.out
    shown = lmsctl(*SAND, "state", "show", address, "--root", str(coursework))
    assert hw1["id"] in shown.out
    assert lmsctl(*SAND, "state", "rm", address, "--root", str(coursework)).code == 0
    # forgotten: plan would create a duplicate, so adopt it instead
    assert summary(lmsctl(*SAND, "plan", str(coursework)))[0] == 1
    imported = lmsctl(*SAND, "import", address, hw1["id"], "--root", str(coursework))
    assert imported.code == 0, imported.text
    after = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert after.code == 0, after.text
    assert len([a for a in sandbox.assignments() if a["title"] == HW1]) == 1
    bad = lmsctl(*SAND, "import", address, "not-a-uuid", "--root", str(coursework))
    assert bad.code == 1  # a usage error, like every error


def test_json_plan_validates_against_schema(lmsctl, coursework, repo_root) -> None:
    result = lmsctl(*SAND, "plan", str(coursework), "--json")
    assert result.code == 0, result.text
    doc = json.loads(result.out)
    schema = json.loads((repo_root / "schemas" / "plan.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["summary"]["create"] == 11
    md = lmsctl(*SAND, "plan", str(coursework), "--format", "markdown")
    assert "<details>" in md.out


def test_apply_refuses_without_a_terminal_or_auto_approve(lmsctl, coursework, sandbox) -> None:
    result = lmsctl(*SAND, "apply", str(coursework))
    assert result.code != 0
    assert "--auto-approve" in result.err
    assert sandbox.assignments() == []


def test_sandbox_state_is_kept_apart(lmsctl, coursework) -> None:
    applied(lmsctl, coursework)
    assert (coursework / ".lmsctl" / "sandbox" / "state.json").exists()
    assert not (coursework / ".lmsctl" / "state.json").exists()


def test_status_shows_district_and_state(lmsctl, coursework) -> None:
    applied(lmsctl, coursework)
    result = lmsctl(*SAND, "status", str(coursework))
    assert result.code == 0, result.text
    assert "canvas" in result.out and "'success'" in result.out
    assert "11 assignments" in result.out


def test_manifest_error_stops_plan_with_file_and_line(lmsctl, coursework, sandbox) -> None:
    edit(
        coursework / ALGEBRA_FILE,
        '    title: "Homework 1: Linear equations"',
        '    titel: "Homework 1"',
    )
    result = lmsctl(*SAND, "plan", str(coursework))
    assert result.code == 1
    assert f"{coursework / ALGEBRA_FILE}:13:5" in result.err
    assert "Traceback" not in result.text


def test_every_assignment_field_change_applies_and_then_plans_clean(
    lmsctl, coursework, sandbox
) -> None:
    applied(lmsctl, coursework)
    path = coursework / ALGEBRA_FILE
    edit(
        path,
        "description: Problems 1-20 on page 42. Show your work.",
        "description: Problems 1-25.",
    )
    edit(path, "display_date: 2027-01-18", "display_date: 2027-01-19")
    edit(
        path,
        "due_date: 2027-01-22",
        "due_date: 2027-01-23T08:30:00-06:00\n    end_date: 2027-01-30",
    )
    edit(
        path,
        "points_possible: 25\n    submission_types: [file]",
        "points_possible: 30\n    submission_types: [file, text]\n    max_attempts: 2",
    )
    edit(path, "        title: Formula sheet\n", "        title: Formula sheet (v2)\n")
    edit(
        path,
        "      - 5f1a0c0b8e1d2a0001b00005\n",
        "      - 5f1a0c0b8e1d2a0001b00005\n      - sis:608\n",
    )
    edit(path, "  grading_type: points\n", "  grading_type: percent\n")
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 0, plan.text
    assert summary(plan) == (0, 4, 0, 0), plan.out
    for text in (
        'description: "Problems 1-20 on page 42. Show your work." -> "Problems 1-25."',
        "max_attempts: 1 -> 2",
        "points_possible: 25 -> 30",
        "grading_type:",
    ):
        assert text in plan.out, text
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 0, result.text
    again = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert again.code == 0, again.out
    quiz = sandbox.by_title("Quiz 1: Linear equations")
    assert quiz["points_possible"] == 30 and sorted(quiz["submission_types"]) == ["file", "text"]
    assert quiz["attachments"][0]["title"] == "Formula sheet (v2)"
    retake = sandbox.by_title("Quiz 1 retake")
    assert "5f1a0c0b8e1d2a0001b00008" in retake["assignee_ids"]
    hw1 = sandbox.by_title(HW1)
    assert hw1["due_date"] == "2027-01-23T14:30:00.000Z"
    assert hw1["end_date"] == "2027-01-31T05:59:00.000Z"


def test_a_field_removed_from_the_manifest_stops_being_managed(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    edit(
        coursework / ALGEBRA_FILE,
        "    description: Problems 1-20 on page 42. Show your work.\n",
        "",
    )
    checked = lmsctl("validate", str(coursework))
    assert checked.code == 0, checked.text  # a warning: needed only to create
    assert "warning:" in checked.out and "missing 'description'" in checked.out
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 0, plan.text
    assert lmsctl(*SAND, "apply", str(coursework), "--auto-approve").code == 0
    assert sandbox.by_title(HW1)["description"] == "Problems 1-20 on page 42. Show your work."
    shown = lmsctl(*SAND, "state", "show", f"{ALGEBRA}/hw-01", "--root", str(coursework))
    assert "description" not in shown.out.split("grades")[0]


def test_sandbox_db_implies_sandbox(lmsctl, coursework) -> None:
    db = coursework / "elsewhere.db"
    result = lmsctl("--sandbox-db", str(db), "plan", str(coursework))
    assert result.code == 0, result.text  # no CLEVER_TOKEN needed: it is the sandbox
    assert db.exists()


def test_clearing_a_grade_comment_is_a_removal_then_settles(lmsctl, coursework, sandbox) -> None:
    applied(lmsctl, coursework)
    edit(coursework / ALGEBRA_FILE, "grade_comment: Excellent work", "grade_comment: null")
    plan = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert plan.code == 2, plan.text
    assert summary(plan) == (0, 0, 1, 0)
    assert 'grade_comment: "Excellent work" -> (removed)' in plan.out
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 0, result.text
    subs = sandbox.submissions(ALGEBRA, sandbox.by_title(HW1)["id"])
    assert subs[S1]["grade_comment"] is None and subs[S1]["grade_points"] == 10
    again = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode")
    assert again.code == 0, again.text


def test_an_empty_description_is_refused_before_anything_is_written(
    lmsctl, coursework, sandbox
) -> None:
    edit(
        coursework / ALGEBRA_FILE,
        "description: Problems 1-20 on page 42. Show your work.",
        'description: ""',
    )
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 1, result.text
    assert f"{coursework / ALGEBRA_FILE}:14:18: error:" in result.err
    assert "missing required field(s): description" in result.err
    assert sandbox.assignments() == []


def test_a_grader_who_is_not_a_teacher_of_the_section_is_a_plan_error(
    lmsctl, coursework, sandbox
) -> None:
    edit(coursework / ALGEBRA_FILE, "grader_id: 5f1a0c0b8e1d2a0001d00001", f"grader_id: {S2}")
    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 1, plan.text
    assert f"{coursework / ALGEBRA_FILE}:57:20: error:" in plan.err, plan.err
    assert f"grader_id: {S2} is not a teacher of section {ALGEBRA}" in plan.err
    assert sandbox.assignments() == []


def test_values_the_api_leaves_out_settle_even_with_revert_drift(
    lmsctl, coursework, sandbox
) -> None:
    # the report: extra_attempts: 0 read back as absent, so drift forever
    edit(
        coursework / ALGEBRA_FILE,
        "grade_points: 10, grade_comment: Excellent work, state: returned",
        "grade_points: 0, grade_comment: Excellent work, state: returned, extra_attempts: 0",
    )
    result = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert result.code == 0, result.text
    subs = sandbox.submissions(ALGEBRA, sandbox.by_title(HW1)["id"])
    assert "extra_attempts" not in subs[S1] and "grade_points" not in subs[S1]
    again = lmsctl(*SAND, "plan", str(coursework), "--detailed-exitcode", "--revert-drift")
    assert again.code == 0, again.text
    assert "No changes." in again.out and "Drift" not in again.out
