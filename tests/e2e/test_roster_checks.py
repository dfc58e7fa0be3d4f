"""Plan reads the roster of every section it grades: an unenrolled student is a plan error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lmsctl.manifest import load_desired
from lmsctl.refresh import refresh, refresh_scope
from lmsctl.roster import ROSTER_PAGE_LIMIT
from lmsctl.state.model import StateSnapshot
from tests.support.e2e import edit

SAND = ("--sandbox",)
HISTORY = "5f1a0c0b8e1d2a0001a00004"
HISTORY_FILE = "washington-middle/world-history-8-period-3.yaml"
ALGEBRA_STUDENT = "5f1a0c0b8e1d2a0001b00001"  # enrolled in Algebra, not in World History


def _plain_ids_only_with_an_unenrolled_grade(coursework: Path) -> int:
    """World History with no roster reference left, and a grade for a student of Algebra."""
    path = coursework / HISTORY_FILE
    edit(path, "      - sis:678\n", "")
    edit(
        path,
        "    protect: true                  # lmsctl never deletes this one\n",
        "    protect: true\n"
        "    grades:\n"
        "      5f1a0c0b8e1d2a0001b0004c: {grade_points: 30}\n"
        f"      {ALGEBRA_STUDENT}: {{grade_points: 35}}\n",
    )
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"      {ALGEBRA_STUDENT}"))


def test_a_grade_for_a_student_not_in_the_section_is_a_plan_error(
    lmsctl, coursework, sandbox
) -> None:  # type: ignore[no-untyped-def]
    line = _plain_ids_only_with_an_unenrolled_grade(coursework)
    assert lmsctl("validate", str(coursework)).code == 0  # offline, it cannot be known

    plan = lmsctl(*SAND, "plan", str(coursework))
    assert plan.code == 1, plan.text
    assert (
        f"coursework/{HISTORY_FILE}:{line}:7: error: "
        f"{HISTORY}/ancient-rome-project: grades: {ALGEBRA_STUDENT}: "
        f"student {ALGEBRA_STUDENT} is not enrolled in section {HISTORY}"
    ) in plan.text

    apply = lmsctl(*SAND, "apply", str(coursework), "--auto-approve")
    assert apply.code == 1, apply.text
    assert sandbox.assignments(HISTORY) == []  # nothing was created half-way


class _CountingReader:
    """The reads refresh makes, recorded (a fake LMS with every section's students)."""

    def __init__(self, students: dict[str, list[str]]) -> None:
        self.students = students
        self.roster_calls: list[tuple[str, int]] = []
        self.teacher_calls: list[tuple[str, int]] = []

    async def get_my_district(self) -> dict[str, Any]:
        return {"id": "d", "lms_type": "canvas", "lms_state": "success"}

    async def get_district(self, district_id: str) -> dict[str, Any]:
        return await self.get_my_district()

    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        raise AssertionError("nothing is tracked")

    async def list_submissions(
        self,
        section_id: str,
        assignment_id: str,
        limit: int = 100,
        *,
        only: frozenset[str] | None = None,
    ) -> list[dict[str, Any]]:
        raise AssertionError("nothing is tracked")

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100, *, compact: bool = False
    ) -> list[dict[str, Any]]:
        if role == "teacher":  # read where grades name a grader_id
            self.teacher_calls.append((section_id, limit))
            return []
        self.roster_calls.append((section_id, limit))
        return [{"id": uid} for uid in self.students.get(section_id, [])]


def test_every_graded_section_costs_one_roster_call_of_the_largest_page(
    coursework: Path,
) -> None:
    _plain_ids_only_with_an_unenrolled_grade(coursework)
    desired, diags = load_desired(coursework)
    assert not [d for d in diags if d.severity.value == "error"]
    scope = refresh_scope(desired, StateSnapshot.empty())
    graded = sorted(
        s.section_id
        for s in desired.sections
        if any(a.grades or a.assignee_refs for a in s.assignments)
    )
    assert HISTORY in graded  # plain ids only now, and still read
    assert list(scope.rosters) == graded
    reader = _CountingReader({})
    asyncio.run(refresh(reader, desired, StateSnapshot.empty()))
    assert sorted(reader.roster_calls) == [(sid, ROSTER_PAGE_LIMIT) for sid in graded]
    assert reader.teacher_calls == [(sid, ROSTER_PAGE_LIMIT) for sid in scope.teachers]
    assert ROSTER_PAGE_LIMIT == 10_000
