"""Which rosters a plan reads, and what the builder makes of a student outside the section."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lmsctl.errors import PlanError
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.refresh import refresh_scope
from tests.support.factories import S1, SEC, assignment, desired, grade, live, ref, state

OUTSIDER = "5f1a0c0b8e1d2a0001b0ffff"


def test_a_roster_is_read_whenever_a_section_names_students_by_id_or_reference() -> None:
    graded = desired(assignment(grades=(grade(OUTSIDER, grade_points=9),)))
    assigned = desired(replace(assignment(), assignee_refs=(ref(OUTSIDER),)))
    by_ref = desired(assignment(grades=(grade("sis:603", grade_points=9),)))
    nobody = desired(assignment())
    assert refresh_scope(graded, state()).rosters == (SEC,)
    assert refresh_scope(assigned, state()).rosters == (SEC,)
    assert refresh_scope(by_ref, state()).rosters == (SEC,)
    assert refresh_scope(nobody, state()).rosters == ()  # no student named: no call


def test_a_student_by_id_outside_the_section_is_a_plan_error_with_its_position() -> None:
    roster = {SEC: [{"id": S1}]}
    for wanted in (
        desired(assignment(grades=(grade(OUTSIDER, grade_points=9),))),
        desired(replace(assignment(), assignee_refs=(ref(OUTSIDER),))),
    ):
        with pytest.raises(PlanError) as err:
            PlanBuilder(wanted, state(), live(rosters=roster), PlanOptions()).build()
        (diag,) = err.value.diagnostics
        assert diag.message == f"student {OUTSIDER} is not enrolled in section {SEC}"
        assert (diag.file, diag.line) == ("sec.yaml", 3)
