"""Grade changes with the same field changes share them (a plan's 100k grades repeat few
values): equal only when the plan shows and sends them alike, never ``1`` for ``True`` or
``1.0``, nor ``0.0`` for ``-0.0``."""

from __future__ import annotations

from typing import Any

from lmsctl.plan.changes import SharedParts, reasons_of
from lmsctl.plan.model import FieldChange, FieldReason, Reason


def _one(before: Any, after: Any, why: FieldReason = FieldReason.UPDATE) -> list[FieldChange]:
    return [FieldChange("grade_points", before, after, before, why)]


def test_equal_grade_changes_share_one_set_of_parts() -> None:
    shared = SharedParts()
    first = shared.grade_parts(_one(1, 2))
    again = shared.grade_parts(_one(1, 2))
    assert again is first
    fields, body, reasons = first
    assert fields == tuple(_one(1, 2))
    assert body == {"grade_points": 2}
    assert reasons == reasons_of(_one(1, 2), Reason.GRADE) == (Reason.GRADE,)


def test_values_that_print_differently_are_never_shared() -> None:
    shared = SharedParts()
    seen = [
        shared.grade_parts(_one(1, 2)),
        shared.grade_parts(_one(1, True)),
        shared.grade_parts(_one(1, 2.0)),
        shared.grade_parts(_one(0.0, 2)),
        shared.grade_parts(_one(-0.0, 2)),
        shared.grade_parts(_one(1, 2, FieldReason.FORCED)),
    ]
    afters = [s[1]["grade_points"] for s in seen]
    assert [type(a) for a in afters] == [int, bool, float, int, int, int]
    assert repr(seen[3][0][0].before) == "0.0" and repr(seen[4][0][0].before) == "-0.0"
    assert seen[5][2] == (Reason.GRADE, Reason.FORCED)
    assert len({id(s) for s in seen}) == len(seen)


def test_values_that_are_not_plain_are_made_for_each_change() -> None:
    shared = SharedParts()
    value = ["a", "b"]
    first = shared.grade_parts(_one(value, ["c"]))
    second = shared.grade_parts(_one(value, ["c"]))
    assert first is not second and first[1] is not second[1]
    assert first == second


def test_at_most_limit_distinct_parts_are_held() -> None:
    shared = SharedParts()
    for n in range(SharedParts.LIMIT + 10):
        shared.grade_parts(_one(n, n + 1))
    late = SharedParts.LIMIT + 5
    assert shared.grade_parts(_one(late, late + 1)) is not shared.grade_parts(_one(late, late + 1))
    assert shared.grade_parts(_one(3, 4)) is shared.grade_parts(_one(3, 4))
