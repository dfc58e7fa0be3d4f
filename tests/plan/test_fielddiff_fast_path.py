"""The planner's quick check for the usual grade (``FieldDiffer.all_in_sync``) says "nothing to
do" exactly when the full three-way diff finds nothing to write, no drift, no conflict and no
state fix: a rule added to the diff and not to the quick check would otherwise be skipped for
every grade applied as written."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lmsctl.fields import Resource
from lmsctl.plan.context import PlanContext, PlanOptions
from lmsctl.plan.fielddiff import FieldDiffer, Side
from tests.support.factories import desired, live, state

#: values a grade field takes on each side ("absent": the field is not there at all)
ABSENT = object()
POINTS = (ABSENT, None, 0, 7, 7.0, 7.004, 8)
STATES = (ABSENT, "returned", "created")


def _differ(lms_type: str) -> FieldDiffer:
    district = {"id": "6a5e00000101000000000001", "lms_type": lms_type, "lms_state": "success"}
    return FieldDiffer(PlanContext(desired(), state(), live(district=district), PlanOptions()))


def _fields(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not ABSENT}


def _cases() -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    out = []
    for want, applied, have in itertools.product(POINTS, repeat=3):
        if want is ABSENT:
            continue
        out.append(
            (_fields(grade_points=want), _fields(grade_points=applied), _fields(grade_points=have))
        )
    for want_state, applied_state, have_state in itertools.product(STATES, repeat=3):
        out.append(
            (
                _fields(grade_points=7, state=want_state),
                _fields(grade_points=7, state=applied_state),
                _fields(grade_points=7, state=have_state),
            )
        )
    return out


@pytest.mark.parametrize("lms_type", ["canvas", "schoology", "google_classroom"])
def test_the_quick_check_agrees_with_the_full_diff(lms_type: str) -> None:
    differ = _differ(lms_type)
    seen = {True: 0, False: 0}
    for wanted, applied, have in _cases():
        side = Side(Resource.GRADE, "a", "Ava", wanted, applied, {}, have, lambda _: "f.yaml:1")
        full = differ.diff(side)
        nothing = not full.changed and not full.needs_fix and not differ.ctx.findings.drift
        nothing = nothing and not differ.ctx.findings.conflicts
        quick = differ.all_in_sync(Resource.GRADE, wanted, applied, have)
        assert quick == nothing, (lms_type, wanted, applied, have, full)
        seen[quick] += 1
        differ.ctx.findings.drift.clear()
        differ.ctx.findings.conflicts.clear()
    assert seen[True] and seen[False]  # both answers were reached
