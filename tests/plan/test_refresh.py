"""Which rosters a plan reads, and what the builder makes of a student outside the section."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import replace
from typing import Any

import pytest

from lmsctl.errors import PlanError, TransportError
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.refresh import refresh, refresh_scope
from tests.support.factories import (
    BASE,
    DISTRICT,
    S1,
    SEC,
    assignment,
    desired,
    grade,
    live,
    record,
    ref,
    state,
)

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


class _Reader:
    """Answers every read from fixed data; submissions for all enrolled students (or those
    the listing is asked to keep)."""

    def __init__(self, students: list[str]) -> None:
        self.students = students
        self.only: list[frozenset[str] | None] = []  # what each listing was asked to keep

    async def get_my_district(self) -> dict[str, Any]:
        return dict(DISTRICT)

    async def get_district(self, district_id: str) -> dict[str, Any]:
        return dict(DISTRICT)

    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        return {"id": assignment_id, **BASE}

    async def list_submissions(
        self,
        section_id: str,
        assignment_id: str,
        limit: int = 100,
        *,
        only: frozenset[str] | None = None,
    ) -> list[dict[str, Any]]:
        self.only.append(only)
        return [
            {"user_id": s, "state": "created"} for s in self.students if only is None or s in only
        ]

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100, *, compact: bool = False
    ) -> list[dict[str, Any]]:
        return [{"id": s} for s in self.students]


def test_a_plan_keeps_only_the_submissions_of_the_students_its_grades_name() -> None:
    enrolled = [S1, OUTSIDER, "5f1a0c0b8e1d2a0001b00002"]
    kept = desired(assignment(grades=(grade(S1, grade_points=9),)))
    snapshot = state(record(), record(key="old", aid="3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f11"))
    reader = _Reader(enrolled)
    plan_live = asyncio.run(refresh(reader, kept, snapshot, all_submissions=False))
    assert set(plan_live.submissions[f"{SEC}/hw-01"]) == {S1}
    # (the listing itself is asked for the graded students: the others are never held)
    assert sorted(reader.only, key=str) == [None, frozenset({S1})]
    # an assignment to delete keeps every submission: the delete counts the work it destroys
    assert set(plan_live.submissions[f"{SEC}/old"]) == set(enrolled)
    full = asyncio.run(refresh(reader, kept, snapshot))
    assert set(full.submissions[f"{SEC}/hw-01"]) == set(enrolled)
    # a grade written as a reference needs the roster: every submission is kept
    by_ref = desired(assignment(grades=(grade("sis:603", grade_points=9),)))
    ref_live = asyncio.run(refresh(reader, by_ref, snapshot, all_submissions=False))
    assert set(ref_live.submissions[f"{SEC}/hw-01"]) == set(enrolled)


def test_the_cycle_collector_rests_while_refresh_reads_and_is_back_after() -> None:
    # (its passes over the loaded manifests were a tenth of a 100k-grade refresh's CPU)
    seen: list[bool] = []

    class Watching(_Reader):
        async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
            seen.append(gc.isenabled())
            return await super().get_assignment(section_id, assignment_id)

    wanted = desired(assignment(grades=(grade(S1, grade_points=9),)))
    assert gc.isenabled()
    asyncio.run(refresh(Watching([S1]), wanted, state(record()), all_submissions=False))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:  # (a caller that paused it keeps it paused)
        asyncio.run(refresh(Watching([S1]), wanted, state(record()), all_submissions=False))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_reads_start_in_order_and_a_failure_stops_the_ones_not_started() -> None:
    calls: list[str] = []

    class Failing(_Reader):
        async def get_my_district(self) -> dict[str, Any]:
            calls.append("district")
            return await super().get_my_district()

        async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
            calls.append(assignment_id)
            await asyncio.sleep(0)
            if assignment_id == "a-05":
                raise TransportError("no answer within the timeout", method="GET", path="/x")
            return await super().get_assignment(section_id, assignment_id)

    records = [record(key=f"k{i:02d}", aid=f"a-{i:02d}") for i in range(40)]
    with pytest.raises(TransportError, match="no answer"):
        asyncio.run(refresh(Failing([S1]), desired(), state(*records), max_in_flight=4))
    # (in the order of the state's addresses; of the rest, those not started never go)
    assert calls[:6] == [f"a-{i:02d}" for i in range(6)]
    assert len(calls) < 20 and "district" not in calls
    calls.clear()
    asyncio.run(refresh(Failing([S1]), desired(), state(*records[:3]), max_in_flight=1))
    assert calls == ["a-00", "a-01", "a-02", "district"]  # (the district last, as always)
