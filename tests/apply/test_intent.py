"""Intents: a write whose result a killed run never recorded is still known as lmsctl's own.

The executor records the values it is about to send before every write (update, grade,
delete) and clears them when it records the result. A run killed between the two leaves the
intent; the next plan takes a live value equal to it as applied by lmsctl (never as a teacher's
change, so no false conflict), and the next apply records it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.model import Action
from lmsctl.render.apply import apply_summary
from lmsctl.state.backend import MemoryBackend
from lmsctl.state.model import ResourceRecord, StateSnapshot
from tests.apply.test_executor import FakeLms
from tests.support.factories import (
    BASE,
    S1,
    S2,
    SEC,
    assignment,
    desired,
    grade,
    live,
    record,
    state,
)
from tests.support.factories import sub as make_sub

ADDRESS = f"{SEC}/hw-01"


class Killed(BaseException):
    """The process died (SIGKILL): nothing after this point runs."""


class DyingLms(FakeLms):
    """Carries out every write, then the process dies before the answer is recorded."""

    async def update_assignment(
        self, section_id: str, aid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        await super().update_assignment(section_id, aid, body)
        raise Killed

    async def update_submission(
        self, section_id: str, aid: str, user: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        await super().update_submission(section_id, aid, user, body)
        raise Killed


def _world() -> tuple[MemoryBackend, FakeLms, ResourceRecord]:
    rec = record(grades={S1: {"grade_points": 5}})
    backend = MemoryBackend(state(rec))
    lms = DyingLms()
    lms.assignments[rec.assignment_id or ""] = dict(BASE, id=rec.assignment_id)
    lms.subs[rec.assignment_id or ""] = {
        S1: make_sub(S1, grade_points=5.0),
        S2: make_sub(S2),
    }
    return backend, lms, rec


def _live(lms: FakeLms, rec: ResourceRecord) -> Any:
    aid = rec.assignment_id or ""
    return live({rec.address: dict(lms.assignments[aid])}, {rec.address: lms.subs[aid]})


def _plan(d: Any, snap: StateSnapshot, lms: FakeLms, rec: ResourceRecord) -> Any:
    return PlanBuilder(d, snap, _live(lms, rec)).build()


def _apply(plan: Any, lms: FakeLms, backend: MemoryBackend, *, parallelism: int = 1) -> Any:
    snap = backend.read()
    return asyncio.run(Executor(plan, lms, backend, snap, ApplyOptions(parallelism)).run())


def _killed_run(backend: MemoryBackend, lms: FakeLms, rec: ResourceRecord, d: Any) -> None:
    """Every write of the plan reaches the LMS, then the process dies before any answer is
    recorded (the writes are in flight together: nothing runs after the death)."""
    plan = _plan(d, backend.read(), lms, rec)
    with pytest.raises(Killed):
        _apply(plan, lms, backend, parallelism=len(plan.changes))


def test_an_unrecorded_grade_that_reached_the_lms_is_not_a_conflict() -> None:
    backend, lms, rec = _world()
    first = desired(assignment(grades=(grade(S1, grade_points=9), grade(S2, grade_points=7))))
    _killed_run(backend, lms, rec, first)
    # the grade reached the LMS; state holds the intent, not the result
    stored = backend.read().resources[ADDRESS]
    assert lms.subs[rec.assignment_id or ""][S1]["grade_points"] == 9
    assert stored.grades[S1] == {"grade_points": 5}
    assert stored.intended_grades[S1] == {"grade_points": [9]}

    assert stored.intended_grades[S2] == {"grade_points": [7]}  # never graded by lmsctl before

    # the manifests change between runs: S1 now 8, S2 still 7
    second = desired(assignment(grades=(grade(S1, grade_points=8), grade(S2, grade_points=7))))
    plan = _plan(second, backend.read(), lms, rec)
    assert plan.conflicts == ()  # on today's main: two (S1 both changed, S2 never applied)
    by_student = {c.student: c for c in plan.changes if c.action is Action.GRADE}
    assert set(by_student) == {S1}
    assert by_student[S1].fields[0].applied == 9  # shown as lmsctl's own last write
    assert [(f.student, dict(f.set_fields)) for f in plan.state_fixes] == [
        (S2, {"grade_points": 7})
    ]


def test_an_unrecorded_write_is_recorded_by_the_next_apply() -> None:
    backend, lms, rec = _world()
    d = desired(assignment(title="Homework 1 (revised)", grades=(grade(S1, grade_points=9),)))
    # first killed run: the assignment PATCH reaches the LMS, then the process dies
    _killed_run(backend, lms, rec, d)
    assert backend.read().resources[ADDRESS].intended == {"title": ["Homework 1 (revised)"]}
    # second killed run: the title is now in sync; the grade PATCH reaches the LMS
    _killed_run(backend, lms, rec, d)
    stored = backend.read().resources[ADDRESS]
    assert stored.applied["title"] == "Homework 1"  # neither result was recorded
    assert stored.intended_grades[S1] == {"grade_points": [9]}

    plan = _plan(d, backend.read(), lms, rec)
    assert plan.conflicts == () and plan.drift == ()
    assert not plan.has_changes, [c.address for c in plan.changes]
    calls = len(lms.calls)
    result = _apply(plan, lms, backend)
    assert result.ok, apply_summary(result)
    assert len(lms.calls) == calls  # state only: no API call
    stored = backend.read().resources[ADDRESS]
    assert stored.applied["title"] == "Homework 1 (revised)"
    assert stored.grades[S1] == {"grade_points": 9}
    assert not stored.has_intent
    again = _plan(d, backend.read(), lms, rec)
    assert not again.has_changes and again.state_fixes == ()


def test_a_teacher_edit_after_an_unsent_intent_is_still_a_conflict() -> None:
    backend, lms, rec = _world()
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    snap = backend.read()
    snap.resources[ADDRESS].intend({"grade_points": 9}, S1)  # killed before the PATCH left
    backend.save(snap, [ADDRESS])
    lms.subs[rec.assignment_id or ""][S1]["grade_points"] = 6.0  # a teacher's grade
    changed = desired(assignment(grades=(grade(S1, grade_points=8),)))
    plan = _plan(changed, backend.read(), lms, rec)
    assert [(c.address, c.live) for c in plan.conflicts] == [(f"{ADDRESS}/grades/{S1}", 6.0)]
    del d


def test_a_successful_write_clears_its_intent_and_old_state_reads_without_one() -> None:
    backend, _, rec = _world()
    lms = FakeLms()
    lms.assignments[rec.assignment_id or ""] = dict(BASE, id=rec.assignment_id)
    lms.subs[rec.assignment_id or ""] = {S1: make_sub(S1, grade_points=5.0)}
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    result = _apply(_plan(d, backend.read(), lms, rec), lms, backend)
    assert result.ok
    stored = backend.read().resources[ADDRESS]
    assert stored.grades[S1] == {"grade_points": 9} and not stored.has_intent
    assert "intent" not in stored.to_dict()  # the state file looks as it did before intents
    legacy = {k: v for k, v in stored.to_dict().items() if k != "intent"}
    assert not ResourceRecord.from_dict(legacy).has_intent
