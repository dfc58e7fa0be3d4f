"""Grades with the same values share one diff (lmsctl.plan.outcomes): each change still names its
own student, address and manifest line, the plan is the one a full diff of every grade makes,
and a plan's grade changes hold no text of their own (their address and source are made of
parts the manifests and the roster hold already)."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import tracemalloc
from typing import Any

import pytest

from lmsctl.addresses import Address
from lmsctl.model import GradeSpec, SourcePos
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Action, Change, Plan, ResourceKind
from lmsctl.plan.outcomes import GradeOutcomes
from lmsctl.state.model import ResourceRecord
from tests.support.factories import AID, BASE, SEC, assignment, desired, live, record, ref, state

ADDR = f"{SEC}/hw-01"


def _student(n: int) -> str:
    return f"5f1a0c0b8e1d2a00{n:08x}"


def _grade(uid: str, line: int, **fields: Any) -> GradeSpec:
    return GradeSpec(ref(uid), fields, SourcePos("sec.yaml", line, 7))


def _world(n: int) -> tuple[Any, Any, Any]:
    """``n`` students: most change 7 -> 8; some drifted, some with intents, some in sync, one
    with a field the manifests no longer set, one graded by a teacher and never applied."""
    grades, applied, subs = [], {}, {}
    for i in range(n):
        uid = _student(i)
        want: dict[str, Any] = {"grade_points": 8}
        had: dict[str, Any] = {"grade_points": 7}
        have: dict[str, Any] = {"user_id": uid, "state": "created", "grade_points": 7}
        if i % 7 == 3:
            have["grade_points"] = 5  # drifted and changed: a conflict
        if i % 11 == 4:
            want = {"grade_points": 7}  # in sync
        if i == 5:
            had["grade_comment"] = "old"  # no longer managed: a state fix
        if i == 6:
            had = {}
            have["grade_points"] = 3  # a teacher's grade lmsctl never applied
        grades.append(_grade(uid, 10 + i, **want))
        applied[uid] = had
        subs[uid] = have
    rec = record(applied=dict(BASE), grades=applied)
    rec.intended_grades[_student(8)] = {"grade_points": [8]}
    spec = assignment(grades=tuple(grades))
    return desired(spec), state(rec), live({ADDR: dict(BASE)}, {ADDR: subs})


def _build(world: tuple[Any, Any, Any], **opts: Any) -> Plan:
    d, s, lv = copy.deepcopy(world)
    return PlanBuilder(d, s, lv, PlanOptions(**opts)).build()


@pytest.mark.parametrize("force", [False, True])
def test_the_plan_is_the_one_a_full_diff_of_every_grade_makes(
    monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    world = _world(60)
    shared = _build(world, force=force)
    monkeypatch.setattr(GradeOutcomes, "key", lambda self, *args: None)
    full = _build(world, force=force)
    assert shared.changes == full.changes
    assert shared.conflicts == full.conflicts and shared.drift == full.drift
    assert shared.state_fixes == full.state_fixes
    assert shared.conflicts and shared.drift and shared.state_fixes  # each case is there


def test_each_shared_change_names_its_own_student_and_line() -> None:
    plan = _build(_world(30))
    grades = [c for c in plan.changes if c.action is Action.GRADE]
    assert len({id(c.fields) for c in grades}) == 1  # one diff for all of them
    for c in grades:
        line = int(c.student[-8:], 16) + 10
        assert c.address == f"{ADDR}/grades/{c.student}"
        assert isinstance(c.address, Address) and c.address.student == c.student
        assert c.source == f"sec.yaml:{line}:7"
        assert c.name == c.student and c.assignment_id == AID
        assert c.fingerprint is not None and c.depends_on is None


def test_a_change_reads_back_its_address_and_source_as_given() -> None:
    pos = SourcePos("sec.yaml", 3, 7)
    made = Change(None, Action.GRADE, ResourceKind.GRADE, SEC, "hw-01", "Ava", student="b" * 24)
    assert made.address == f"{SEC}/hw-01/grades/{'b' * 24}" and made.source == ""
    odd = Address("x", "y")  # not made of the change's parts: kept as it is
    kept = Change(odd, Action.UPDATE, ResourceKind.ASSIGNMENT, SEC, "hw-01", "Ava", source=pos)
    assert kept.address is odd and kept.source == "sec.yaml:3:7"
    for again in (
        dataclasses.replace(made),
        copy.deepcopy(made),
        pickle.loads(pickle.dumps(made)),
    ):
        assert again == made and again.address == made.address
    assert dataclasses.replace(kept, source="a:1:1").source == "a:1:1"


def test_grade_changes_hold_no_text_of_their_own() -> None:
    n = 3000
    d, s, lv = _world(n)
    students = [_student(i) for i in range(n)]
    rec: ResourceRecord = s.resources[ADDR]
    rec.intended_grades.clear()
    for uid in students:  # every grade changes, in a few ways
        rec.grades[uid] = {"grade_points": 7}
        lv.submissions[ADDR][uid]["grade_points"] = 7
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        plan = PlanBuilder(d, s, lv, PlanOptions()).build()
        held, peak = (n - before for n in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    grades = [c for c in plan.changes if c.action is Action.GRADE]
    assert len(grades) > n * 0.8
    # a change's own record (~180 bytes), its place in the plan's lists and what the build
    # keeps (~230 bytes in all); a change that held its address and source as text of its own
    # took ~530
    assert held / len(grades) < 330, held / len(grades)
    # and at the build's peak (~360 bytes a change): no sort key of its own for each change
    # (~610 with those keys and that text)
    assert peak / len(grades) < 480, peak / len(grades)


def test_changes_come_in_phase_section_assignment_student_order() -> None:
    """The plan's order is the one sort by (phase, section, key, student) it always was."""
    grades = tuple(_grade(_student(n), n, grade_points=9) for n in (5, 2, 9, 1, 7))
    d = desired(
        assignment("hw-02", grades=grades),
        assignment("hw-01", grades=grades[::-1]),
        assignment("hw-03", grades=grades, title="new title"),
    )
    records = [
        record(key, grades={_student(n): {"grade_points": 1} for n in range(10)})
        for key in ("hw-01", "hw-03", "hw-04")
    ]
    subs = {
        f"{SEC}/{key}": {
            _student(n): {"user_id": _student(n), "grade_points": 1} for n in range(10)
        }
        for key in ("hw-01", "hw-03")
    }
    lv = live(
        {f"{SEC}/hw-01": dict(BASE), f"{SEC}/hw-03": dict(BASE), f"{SEC}/hw-04": dict(BASE)},
        {**subs, f"{SEC}/hw-04": {}},
    )
    plan = PlanBuilder(d, state(*records), lv, PlanOptions()).build()
    actions = {c.action for c in plan.changes}
    assert {Action.CREATE, Action.UPDATE, Action.GRADE, Action.DELETE} <= actions
    expected = sorted(
        plan.changes, key=lambda c: (c.action.phase, c.section_id, c.key, c.student or "")
    )
    assert list(plan.changes) == expected
