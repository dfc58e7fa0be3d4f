"""The text plan's grade lines, made once per repeated part (lmsctl.render.gradeline.GradeLines),
read exactly as each grade's own line: a remembered part is never shown for a grade whose
values print differently (``1`` and ``True``, ``0.0`` and ``-0.0``, a renamed student)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

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
