"""Executor semantics with an in-memory fake LMS: order, state after each call, failures."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.apply.results import Outcome
from lmsctl.errors import (
    ApiBadRequestError,
    ApiNotFoundError,
    ApiServerError,
    OutcomeUnknownError,
    PlanError,
)
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.model import Action, Consent
from lmsctl.render.apply import apply_summary
from lmsctl.state.backend import MemoryBackend
from lmsctl.state.model import ResourceStatus
from tests.support.factories import (
    AID,
    BASE,
    DISTRICT,
    S1,
    S2,
    SEC,
    assignment,
    desired,
    grade,
    live,
    record,
    state,
    sub,
)

DESTROY, MASS = Consent.DESTROY_SUBMISSIONS, Consent.MASS_DELETE


class FakeLms:
    """Just enough of the LMS: assignments and submissions in dicts; failures on demand."""

    def __init__(self) -> None:
        self.assignments: dict[str, dict[str, Any]] = {}
        self.subs: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: list[str] = []
        self.fail_create: dict[str, Exception] = {}  # title -> error
        self.fail_grade: dict[str, Exception] = {}  # user -> error
        self.on_grade: Any = lambda aid, user: None  # a teacher acting while grades are written

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(f"POST {body['title']}")
        err = self.fail_create.get(body["title"])
        if isinstance(err, OutcomeUnknownError):
            aid = str(uuid.uuid4())  # created, but the answer is lost
            self.assignments[aid] = dict(body, id=aid)
            raise err
        if err:
            raise err
        aid = str(uuid.uuid4())
        self.assignments[aid] = dict(body, id=aid)
        self.subs[aid] = {u: sub(u) for u in (S1, S2)}
        return self.assignments[aid]

    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        if assignment_id not in self.assignments:
            raise ApiNotFoundError(404, "Assignment does not exist")
        return self.assignments[assignment_id]

    async def update_assignment(
        self, section_id: str, aid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(f"PATCH {aid}")
        self.assignments[aid].update(body)
        return self.assignments[aid]

    async def delete_assignment(self, section_id: str, aid: str) -> None:
        self.calls.append(f"DELETE {aid}")
        self.assignments.pop(aid)

    async def list_submissions(
        self,
        section_id: str,
        aid: str,
        limit: int = 100,
        *,
        only: frozenset[str] | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(f"LIST {aid}")
        subs = self.subs.get(aid, {}).values()
        return [s for s in subs if only is None or str(s.get("user_id")) in only]

    async def get_submission(self, section_id: str, aid: str, user: str) -> dict[str, Any]:
        self.calls.append(f"GET {user}")
        if user not in self.subs.get(aid, {}):
            raise ApiNotFoundError(404, "Submission does not exist")
        return self.subs[aid][user]

    async def update_submission(
        self, section_id: str, aid: str, user: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(f"GRADE {user}")
        self.on_grade(aid, user)
        if user in self.fail_grade:
            raise self.fail_grade[user]
        self.subs[aid][user].update(body)
        return self.subs[aid][user]


def run(plan, lms, backend, snapshot, **opts):  # type: ignore[no-untyped-def]
    return asyncio.run(Executor(plan, lms, backend, snapshot, ApplyOptions(**opts)).run())


def test_creates_then_grades_and_records_each_in_state() -> None:
    d = desired(assignment(grades=(grade(S1, grade_points=9), grade(S2, grade_points=7))))
    snap = state()
    backend = MemoryBackend(snap)
    plan = PlanBuilder(d, snap, live()).build()
    lms = FakeLms()
    result = run(plan, lms, backend, backend.read())
    assert result.ok, apply_summary(result)
    assert lms.calls[0] == "POST Homework 1" and sorted(lms.calls[1:]) == [
        f"GRADE {S1}",
        f"GRADE {S2}",
    ]
    saved = backend.read().resources[f"{SEC}/hw-01"]
    assert saved.status is ResourceStatus.CREATED
    assert saved.grades == {S1: {"grade_points": 9}, S2: {"grade_points": 7}}
    # intent, created, two grades, final fixes: every call was saved on its own
    assert backend.writes >= 4
    assert apply_summary(result).startswith(
        "Apply complete: 1 created, 0 updated, 2 grades set, 0 deleted"
    )


def test_failed_create_skips_its_grades_and_leaves_no_record() -> None:
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    backend = MemoryBackend(state())
    plan = PlanBuilder(d, backend.read(), live()).build()
    lms = FakeLms()
    lms.fail_create["Homework 1"] = ApiBadRequestError(400, "due_date must be in the future")
    result = run(plan, lms, backend, backend.read())
    outcomes = {r.change.action: (r.outcome, r.message) for r in result.results}
    assert outcomes[Action.CREATE] == (Outcome.FAILED, "400 due_date must be in the future")
    assert outcomes[Action.GRADE][0] is Outcome.SKIPPED
    assert backend.read().resources == {}
    assert not result.ok


def test_lost_create_answer_marks_unknown_and_is_never_recreated() -> None:
    d = desired(assignment())
    backend = MemoryBackend(state())
    plan = PlanBuilder(d, backend.read(), live()).build()
    lms = FakeLms()
    lms.fail_create["Homework 1"] = OutcomeUnknownError("connection dropped after sending")
    result = run(plan, lms, backend, backend.read())
    assert result.results[0].outcome is Outcome.UNKNOWN
    snap = backend.read()
    assert snap.resources[f"{SEC}/hw-01"].status is ResourceStatus.UNKNOWN
    replan = PlanBuilder(d, snap, live()).build()
    assert [c.action for c in replan.changes] == [Action.UNKNOWN]
    assert not replan.has_changes


def test_failed_grade_does_not_stop_the_others() -> None:
    rec = record()
    backend = MemoryBackend(state(rec))
    lms = FakeLms()
    lms.assignments[rec.assignment_id or ""] = dict(BASE)
    lms.subs[rec.assignment_id or ""] = {S1: sub(S1), S2: sub(S2)}
    lms.fail_grade[S1] = ApiNotFoundError(404, "User not found")
    d = desired(assignment(grades=(grade(S1, grade_points=9), grade(S2, grade_points=7))))
    lv = live({rec.address: dict(BASE)}, {rec.address: lms.subs[rec.assignment_id or ""]})
    plan = PlanBuilder(d, backend.read(), lv).build()
    result = run(plan, lms, backend, backend.read())
    by_student = {r.change.student: r.outcome for r in result.results}
    assert by_student == {S1: Outcome.FAILED, S2: Outcome.DONE}
    assert backend.read().resources[rec.address].grades == {S2: {"grade_points": 7}}


def test_delete_of_student_work_needs_consent() -> None:
    rec = record()
    backend = MemoryBackend(state(rec))
    lv = live({rec.address: dict(BASE)}, {rec.address: {S1: sub(S1, grade_points=4.0)}})
    plan = PlanBuilder(desired(), backend.read(), lv).build()
    lms = FakeLms()
    lms.assignments[rec.assignment_id or ""] = dict(BASE)
    lms.subs[rec.assignment_id or ""] = {S1: sub(S1, grade_points=4.0)}
    with pytest.raises(PlanError, match=r"holds student work .* --allow-destroy-submissions"):
        run(plan, lms, backend, backend.read())
    # it is also the section's only assignment: a mass delete, which needs its own flag
    with pytest.raises(PlanError) as refused:
        run(plan, lms, backend, backend.read(), consents=frozenset({DESTROY}))
    assert "--allow-mass-delete" in str(refused.value)
    assert "--allow-destroy-submissions" not in str(refused.value)
    assert lms.calls == []
    result = run(plan, lms, backend, backend.read(), consents=frozenset({DESTROY, MASS}))
    assert result.ok and backend.read().resources == {}


def test_stop_starts_nothing_new() -> None:
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    backend = MemoryBackend(state())
    plan = PlanBuilder(d, backend.read(), live()).build()
    executor = Executor(plan, FakeLms(), backend, backend.read(), ApplyOptions())
    executor.stop()
    result = asyncio.run(executor.run())
    assert result.interrupted
    assert {r.outcome for r in result.results} == {Outcome.SKIPPED}
    assert apply_summary(result).startswith("Apply interrupted")


class SlowLms(FakeLms):
    """Creates that hang until cancelled: calls in flight when a stop comes."""

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(f"POST {body['title']}")
        await asyncio.sleep(3600)
        raise AssertionError("never answered")


def _interrupted(*, at_once: bool, stop_wait: float) -> tuple[Any, float, MemoryBackend]:
    """Run a create that hangs, interrupt it as the CLI does on Ctrl-C; the result and how long
    the interrupt took to end the run."""
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    backend = MemoryBackend(state())
    plan = PlanBuilder(d, backend.read(), live()).build()
    lms = SlowLms()
    executor = Executor(plan, lms, backend, backend.read(), ApplyOptions(stop_wait=stop_wait))

    async def go() -> tuple[Any, float]:
        task = asyncio.ensure_future(executor.run_cancellable())
        while not lms.calls:  # the POST is in flight
            await asyncio.sleep(0)
        t0 = time.monotonic()
        executor.interrupt()
        if at_once:
            executor.interrupt(at_once=True)  # the second Ctrl-C
        result = await task
        return result, time.monotonic() - t0

    result, took = asyncio.run(go())
    return result, took, backend


def test_an_interrupt_waits_stop_wait_for_calls_in_flight_then_abandons_them() -> None:
    result, took, backend = _interrupted(at_once=False, stop_wait=0.2)
    assert 0.2 <= took < 5  # the call in flight got its grace period, then was abandoned
    assert result.interrupted and not result.ok
    assert {r.outcome for r in result.results} <= {Outcome.SKIPPED}  # the grade never started
    # the abandoned POST may have been carried out: its address is unknown, never re-created
    [record_] = backend.read().resources.values()
    assert record_.status is ResourceStatus.UNKNOWN


def test_a_second_interrupt_abandons_the_calls_in_flight_at_once() -> None:
    result, took, backend = _interrupted(at_once=True, stop_wait=60)
    assert took < 5  # not the 60 s grace period
    assert result.interrupted
    [record_] = backend.read().resources.values()
    assert record_.status is ResourceStatus.UNKNOWN


def test_schoology_500_on_a_grade_says_the_student_must_launch_the_app() -> None:
    rec = record()
    backend = MemoryBackend(state(rec))
    lms = FakeLms()
    lms.assignments[rec.assignment_id or ""] = dict(BASE)
    lms.subs[rec.assignment_id or ""] = {S1: sub(S1), S2: sub(S2)}
    lms.fail_grade[S1] = ApiServerError(500, "Error updating submission")
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    lv = live(
        {rec.address: dict(BASE)},
        {rec.address: lms.subs[rec.assignment_id or ""]},
        district={**DISTRICT, "lms_type": "schoology"},
    )
    plan = PlanBuilder(d, backend.read(), lv).build()
    result = run(plan, lms, backend, backend.read())
    (failed,) = result.results
    assert failed.outcome is Outcome.FAILED
    assert failed.message.startswith("500 Error updating submission")
    assert "has not yet opened the assignment's LTI link" in failed.message


AID2 = "4a2d3b0f-8e5c-4f1b-8b72-3c8d6e9f0a21"


def _two_graded_assignments() -> tuple[FakeLms, MemoryBackend, Any]:
    """hw-01 and hw-02 exist, no grades yet; the manifests grade S1 and S2 in both."""
    rec1, rec2 = record(), record("hw-02", aid=AID2)
    backend = MemoryBackend(state(rec1, rec2))
    lms = FakeLms()
    for aid in (AID, AID2):
        lms.assignments[aid] = dict(BASE, id=aid)
        lms.subs[aid] = {S1: sub(S1), S2: sub(S2)}
    d = desired(
        assignment(grades=(grade(S1, grade_points=9), grade(S2, grade_points=7))),
        assignment("hw-02", grades=(grade(S1, grade_points=5), grade(S2, grade_points=6))),
    )
    lv = live(
        {rec1.address: dict(BASE), rec2.address: dict(BASE)},
        {rec1.address: dict(lms.subs[AID]), rec2.address: dict(lms.subs[AID2])},
    )
    return lms, backend, PlanBuilder(d, backend.read(), lv).build()


def test_each_assignment_is_rechecked_just_before_its_grades_are_written() -> None:
    """The window is one assignment's writes: a teacher's grade in hw-02, set while hw-01's
    grades are being written, is still seen and kept."""
    lms, backend, plan = _two_graded_assignments()

    def teacher(aid: str, user: str) -> None:
        if aid == AID:
            lms.subs[AID2][S1]["grade_points"] = 2.0

    lms.on_grade = teacher
    result = run(plan, lms, backend, backend.read(), parallelism=1)
    assert lms.calls == [
        f"LIST {AID}",
        f"GRADE {S1}",
        f"GRADE {S2}",
        f"LIST {AID2}",
        f"GRADE {S2}",
    ]
    outcomes = {r.change.address: r.outcome for r in result.results}
    assert outcomes[f"{SEC}/hw-02/grades/{S1}"] is Outcome.STALE
    assert lms.subs[AID2][S1]["grade_points"] == 2.0  # the teacher's grade stands
    assert not result.ok
    assert "1 changed in the LMS since the plan was shown" in apply_summary(result)
    (stale,) = [r for r in result.results if r.outcome is Outcome.STALE]
    assert stale.message == (
        "not written: changed in the LMS since the plan was shown "
        "(grade_points: plan saw null, LMS now 2)"
    )
    # state does not claim the stale grade: the next plan shows the teacher's grade as a conflict
    assert S1 not in backend.read().resources[f"{SEC}/hw-02"].grades


def test_a_single_grade_is_rechecked_with_one_read() -> None:
    rec = record()
    backend = MemoryBackend(state(rec))
    lms = FakeLms()
    lms.assignments[AID] = dict(BASE, id=AID)
    lms.subs[AID] = {S1: sub(S1), S2: sub(S2)}
    d = desired(assignment(grades=(grade(S1, grade_points=9),)))
    lv = live({rec.address: dict(BASE)}, {rec.address: dict(lms.subs[AID])})
    plan = PlanBuilder(d, backend.read(), lv).build()
    result = run(plan, lms, backend, backend.read())
    assert result.ok, apply_summary(result)
    assert lms.calls == [f"GET {S1}", f"GRADE {S1}"]


def test_an_update_is_not_written_over_a_title_changed_since_the_plan() -> None:
    rec = record()
    backend = MemoryBackend(state(rec))
    lms = FakeLms()
    lms.assignments[AID] = dict(BASE, id=AID)
    d = desired(assignment(title="Homework 1 (revised)"))
    plan = PlanBuilder(d, backend.read(), live({rec.address: dict(BASE)})).build()
    lms.assignments[AID]["title"] = "Homework 1 (teacher)"
    result = run(plan, lms, backend, backend.read())
    (res,) = result.results
    assert res.outcome is Outcome.STALE
    assert 'title: plan saw "Homework 1", LMS now "Homework 1 (teacher)"' in res.message
    assert lms.assignments[AID]["title"] == "Homework 1 (teacher)"
    assert not any(c.startswith("PATCH") for c in lms.calls)
