"""The text plan's grade lines, made once per repeated part (lmsctl.render.gradeline.GradeLines),
read exactly as each grade's own line: a remembered part is never shown for a grade whose
values print differently (``1`` and ``True``, ``0.0`` and ``-0.0``, a renamed student)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lmsctl.plan.document import ChangeItems, plan_document
from lmsctl.plan.model import Action, Change, FieldChange, Plan, Reason, ResourceKind
from lmsctl.render.gradeline import GradeLines, grade_line
from lmsctl.render.style import Style

A = "5f1a0c0b8e1d2a0001b00001"
B = "5f1a0c0b8e1d2a0001b00002"


def _change(student: Any, name: Any, fields: list[Any], reasons: Any) -> dict[str, Any]:
    return {"student": student, "name": name, "fields": fields, "reasons": reasons}


def _field(before: Any, after: Any, field: Any = "grade_points") -> dict[str, Any]:
    return {"field": field, "before": before, "after": after, "applied": before}


VALUES = (None, 0, 0.0, -0.0, 1, 1.0, True, False, "", "7", 7.5, [], ["x", "y"], {"a": 1})
PEOPLE = ((A, "Ava Nguyen"), (A, "Ava N."), (A, A), (B, ""), (B, None), ("", ""), (None, None))
REASONS = (["grade"], ["grade", "reverts_drift"], ["grade", "forced"], [], None, [["x"]])


def _cases() -> list[dict[str, Any]]:
    out = []
    for (student, name), before, after in itertools.product(PEOPLE, VALUES, VALUES):
        out.append(_change(student, name, [_field(before, after)], ["grade"]))
    for reasons in REASONS:
        out.append(_change(A, "Ava", [_field(1, 2), _field("a", None, "grade_comment")], reasons))
    out.append(_change(A, "Ava\x1b[31m", [_field(1, 2, 3)], ["grade"]))  # a field that is no str
    out.append(_change(A, "Ava", [_field(1, 2, ["odd"])], ["grade"]))
    return out


@pytest.mark.parametrize("color", [False, True])
def test_every_remembered_line_is_the_grade_s_own(color: bool) -> None:
    style = Style(color)
    lines = GradeLines(style)
    cases = _cases()
    for change in cases + cases:  # the second time from what is remembered
        assert lines.line(change) == grade_line(style, change), change


def test_a_full_memory_still_makes_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GradeLines, "LIMIT", 3)
    style = Style(False)
    lines = GradeLines(style)
    for n in range(20):
        change = _change(f"{n:024x}", f"Student {n}", [_field(n, n + 1)], ["grade", "forced"])
        assert lines.line(change) == grade_line(style, change)


# -- a grade's line read from the plan's own change (the text plan at level full) ------------


def _plan_changes() -> list[Change]:
    """Grade changes of every shape the line prints: people, values, several fields, reasons,
    and field tuples shared between changes (as the planner shares equal ones)."""
    shared = (FieldChange("grade_points", 1, 2),)
    out = []
    people = [(A, "Ava Nguyen"), (A, "Ava N."), (A, A), (B, ""), (A, "Ava\x1b[31m")]
    for (student, name), before, after in itertools.product(people, VALUES, VALUES):
        out.append(_grade_change(student, name, (FieldChange("grade_points", before, after),)))
    for reasons in ((Reason.GRADE,), (Reason.GRADE, Reason.REVERTS_DRIFT), (Reason.FORCED,), ()):
        two = (FieldChange("grade_points", 1, 2), FieldChange("grade_comment", "a", None))
        out.append(_grade_change(A, "Ava", two, reasons))
    out += [_grade_change(s, n, shared) for s, n in people]  # one tuple, several people
    out.append(_grade_change(B, "Ben", shared, (Reason.FORCED,)))
    return out


def _grade_change(
    student: str, name: str, fields: tuple[FieldChange, ...], reasons: Any = (Reason.GRADE,)
) -> Change:
    return Change(
        None,
        Action.GRADE,
        ResourceKind.GRADE,
        "5f1a0c0b8e1d2a0001a00001",
        "hw-01",
        name,
        student=student,
        assignment_id="5f1a0c0b8e1d2a0001c00001",
        fields=fields,
        reasons=reasons,
    )


@pytest.mark.parametrize("color", [False, True])
def test_a_line_read_from_the_change_is_the_line_of_its_document_dict(color: bool) -> None:
    """The text plan reads a grade's line from the change itself (GradeLines.change_line); the
    line must be the one the change's document dict gives (GradeLines.line), whatever the
    order in which changes come and what they share."""
    changes = _plan_changes()
    items = plan_document(Plan(changes=tuple(changes)))["changes"]
    assert isinstance(items, ChangeItems)
    style = Style(color)
    from_changes, from_dicts = GradeLines(style), GradeLines(style)
    for change in changes + changes[::-1]:
        assert from_changes.change_line(change) == from_dicts.line(items.make(change))
