"""The text plan: what a reader relies on, beyond the golden files."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from lmsctl.plan.document import plan_from_document, plan_to_document
from lmsctl.plan.model import Action, Change, FieldChange, FieldReason, Plan, Reason, ResourceKind
from lmsctl.render.gradeline import format_value, short_id
from lmsctl.render.json import render_plan_json
from lmsctl.render.text import NO_CHANGES, render_plan_text

from .plans import ALGEBRA, drift_only_plan, empty_plan, full_plan, sid

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _text(plan: Plan, *, color: bool = False) -> str:
    return render_plan_text(plan_to_document(plan), color=color)


def test_summary_line_is_the_plans_own_and_comes_last() -> None:
    plan = full_plan()
    lines = _text(plan).splitlines()
    assert lines[-1] == plan.summary()


def test_no_changes_message_when_nothing_is_actionable() -> None:
    assert _text(empty_plan()).splitlines()[-1] == NO_CHANGES
    # drift and unknown outcomes are shown, but they are not changes; while an outcome is
    # unknown the LMS may not match, so the summary says so instead of "No changes"
    text = _text(drift_only_plan())
    assert text.splitlines()[-1].endswith("(1 with unknown outcome).")
    assert "Drift:" in text and "? 5f1a0c0b8e1d2a0001a00001/quiz-2" in text


def test_blocks_come_in_order_drift_conflicts_unknown_changes_warnings_summary() -> None:
    text = _text(full_plan())
    marks = [
        "Drift:",
        "Conflicts:",
        "Unknown outcome:",
        "lmsctl will make these changes",
        "Warnings:",
        "Plan: ",
    ]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions)


def test_changes_follow_phase_order_move_create_update_grades_delete() -> None:
    text = _text(full_plan())
    changes = text.split("lmsctl will make these changes", 1)[1].split("Warnings:", 1)[0]
    heads = [line[2] for line in changes.splitlines() if re.match(r"^  [>+~#-] ", line)]
    assert heads == [">", "+", "+", "~", "~", "#", "-", "-"]


def test_grade_line_reads_like_the_issue_says() -> None:
    change = Change(
        address=f"{ALGEBRA}/hw-01/grades/{sid('b00007')}",
        action=Action.GRADE,
        kind=ResourceKind.GRADE,
        section_id=ALGEBRA,
        key="hw-01",
        student=sid("b00007"),
        name="Ava Nguyen",
        fields=(FieldChange("grade_points", 7, 9, 7),),
        reasons=(Reason.GRADE,),
    )
    new = replace(change, fields=(FieldChange("grade_points", None, 9, why=FieldReason.NEW),))
    assert "      ~ grade Ava Nguyen (5f1a...b00007): grade_points: 7 -> 9\n" in _text(
        Plan(changes=(change,))
    )
    assert "      ~ grade Ava Nguyen (5f1a...b00007): grade_points: 9\n" in _text(
        Plan(changes=(new,))
    )


def test_update_shows_only_changed_fields_and_counts_the_hidden_ones() -> None:
    text = _text(full_plan())
    assert '      ~ title: "Homework 2: Slope" -> "Homework 2: Slope and intercepts"\n' in text
    assert "      (4 unchanged fields hidden)\n" in text
    assert "      (1 unchanged field hidden)\n" in text


def test_delete_says_what_student_work_it_destroys() -> None:
    text = _text(full_plan())
    assert "holds 25 submissions, 3 turned in, 7 graded" in text


def test_conflict_names_all_three_values_the_file_and_the_way_out() -> None:
    text = _text(full_plan())
    assert "  ! 5f1a0c0b8e1d2a0001a00001/hw-01/grades/5f1a0c0b8e1d2a0001b00002" in text
    assert "grade_points: manifests 6, LMS 5, last applied never" in text
    assert "sections/algebra-1-period-2.yaml:15:9" in text
    assert "edit the manifest to the LMS value, or plan again with --force" in text


def test_unknown_outcome_shows_both_commands_whole_on_their_lines() -> None:
    lines = _text(full_plan()).splitlines()
    assert any(line.endswith(f"lmsctl import {ALGEBRA}/quiz-2 <assignment id>;") for line in lines)
    assert any(line.endswith(f"lmsctl state rm {ALGEBRA}/quiz-2") for line in lines)


def test_recreate_says_why() -> None:
    assert "(deleted in the LMS (it answered 404); will be created again)" in _text(full_plan())


def test_colour_codes_only_when_asked_and_nothing_else_differs() -> None:
    for plan in (full_plan(), empty_plan(), drift_only_plan()):
        plain = _text(plan)
        coloured = _text(plan, color=True)
        assert "\x1b[" not in plain
        assert "\x1b[" in coloured
        assert ANSI.sub("", coloured) == plain


def test_saved_plan_renders_exactly_as_the_fresh_one() -> None:
    plan = full_plan()
    saved = json.loads(render_plan_json(plan_to_document(plan)))
    assert render_plan_text(saved) == _text(plan)
    assert _text(plan_from_document(saved)) == _text(plan)


def test_values_are_json_like() -> None:
    assert format_value("a") == '"a"'
    assert format_value(None) == "null"
    assert format_value(["a", "b"]) == '["a", "b"]'
    assert format_value(True) == "true"
    assert format_value(9.5) == "9.5"
    assert format_value("line\nbreak") == '"line\\nbreak"'


def test_long_values_are_cut_in_the_middle() -> None:
    text = "start " + "x" * 200 + " end"
    shown = format_value(text, 40)
    assert len(shown) == 40
    assert shown.startswith('"start ') and shown.endswith(' end"') and "…" in shown
    listed = format_value(list(range(100)), 30)
    assert listed.startswith("[0, 1, 2") and listed.endswith(" more]")
    ids = ["5f1a0c0b8e1d2a0001b0004c", "5f1a0c0b8e1d2a0001b0004d", "5f1a0c0b8e1d2a0001b0004e"]
    shown_ids = format_value(ids, 60)
    assert shown_ids == '["5f1a0c0b8e1d2a0001b0004c", "5f1a0c0b8e1d2a0001b0004d", ... 1 more]'


def test_whole_floats_show_as_written() -> None:
    assert format_value(10.0) == "10"


def test_numbers_and_flags_show_as_json_writes_them() -> None:
    for value in (0, 7, -3, 10**30, True, False, None, 2.5):
        assert format_value(value) == json.dumps(value), value
    assert format_value(10**60, 20) == format_value(str(10**60), 22)[1:-1]


def test_short_id() -> None:
    assert short_id(sid("b00007")) == "5f1a...b00007"
    assert short_id("not-an-object-id") == "not-an-object-id"
    assert short_id("5F1A0C0B8E1D2A0001B00007") == "5F1A0C0B8E1D2A0001B00007"  # (lower hex only)
    assert short_id("5f1a0c0b8e1d2a0001b0000\n") == "5f1a0c0b8e1d2a0001b0000\n"


def test_header_names_the_district_and_lms() -> None:
    first = _text(full_plan()).splitlines()[0]
    assert first == (
        "lmsctl plan for district 5f1a0c0b8e1d2a0001000001 (Canvas) at https://api.clever.com/v3.1"
    )


def test_tolerates_a_minimal_document() -> None:
    assert render_plan_text({"format_version": "1.0"}).endswith(NO_CHANGES + "\n")


def test_a_cleared_field_reads_as_a_removal() -> None:
    base = full_plan()
    grade = next(c for c in base.changes if c.action is Action.GRADE and c.assignment_id)
    cleared = replace(
        grade,
        fields=(
            FieldChange("grade_comment", "Nice work", None, "Nice work"),
            FieldChange("flags", ["late"], [], ["late"]),
            FieldChange("grade_points", 7, 9, 7),
        ),
    )
    text = _text(replace(base, changes=(cleared,)))
    assert (
        'grade_comment: "Nice work" -> (removed), flags: ["late"] -> (removed), '
        "grade_points: 7 -> 9" in text
    ), text
