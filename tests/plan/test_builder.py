"""PlanBuilder: each kind of change, drift, conflict and protection, from hand-built values."""

from __future__ import annotations

import gc

import pytest

from lmsctl.errors import PlanError
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Action, Consent, ConsentNeed, Reason
from lmsctl.plan.words import unknown_outcome_words
from lmsctl.state.model import ResourceStatus
from tests.support.factories import (
    AID,
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
    sub,
)

ADDR = f"{SEC}/hw-01"


def build(d, s, lv, **opts):  # type: ignore[no-untyped-def]
    return PlanBuilder(d, s, lv, PlanOptions(**opts)).build()


def test_new_assignment_is_created_with_its_grades() -> None:
    plan = build(desired(assignment(grades=(grade(S1, grade_points=9),))), state(), live())
    assert [(c.action, c.address) for c in plan.changes] == [
        (Action.CREATE, ADDR),
        (Action.GRADE, f"{ADDR}/grades/{S1}"),
    ]
    assert plan.changes[1].depends_on == ADDR
    assert plan.summary() == "Plan: 1 to create, 0 to update, 1 grades to set, 0 to delete."


def test_unchanged_manifest_gives_no_changes_even_with_other_forms() -> None:
    lv = live({ADDR: {**BASE, "due_date": "2027-02-04T17:59:00-06:00", "points_possible": 10.0}})
    plan = build(
        desired(assignment(points_possible=10)),
        state(record(applied={**BASE, "points_possible": 10})),
        lv,
    )
    assert not plan.has_changes
    assert not plan.drift and not plan.conflicts


def test_update_only_where_desired_moved() -> None:
    lv = live({ADDR: dict(BASE)})
    plan = build(desired(assignment(title="Homework 1b")), state(record()), lv)
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert dict(change.body) == {"title": "Homework 1b"}
    assert change.unchanged == 3


def test_drift_is_kept_unless_reverted() -> None:
    lv = live({ADDR: {**BASE, "title": "Changed by teacher"}})
    plan = build(desired(assignment()), state(record()), lv)
    assert not plan.has_changes
    assert [(d.field, d.live) for d in plan.drift] == [("title", "Changed by teacher")]
    plan = build(desired(assignment()), state(record()), lv, revert_drift=True)
    assert [dict(c.body) for c in plan.changes] == [{"title": "Homework 1"}]


def test_conflict_blocks_unless_forced() -> None:
    lv = live({ADDR: {**BASE, "title": "Teacher"}})
    plan = build(desired(assignment(title="Git")), state(record()), lv)
    assert len(plan.blocking_conflicts) == 1 and not plan.has_changes
    plan = build(desired(assignment(title="Git")), state(record()), lv, force=True)
    assert not plan.blocking_conflicts and plan.changes[0].body == {"title": "Git"}


def test_grade_set_by_teacher_and_never_applied_is_a_conflict() -> None:
    lv = live({ADDR: dict(BASE)}, {ADDR: {S1: sub(S1, grade_points=5.0), S2: sub(S2)}})
    d = desired(assignment(grades=(grade(S1, grade_points=9), grade(S2, grade_points=8))))
    plan = build(d, state(record()), lv)
    assert [c.address for c in plan.blocking_conflicts] == [f"{ADDR}/grades/{S1}"]
    assert [c.address for c in plan.changes] == [f"{ADDR}/grades/{S2}"]


def test_deleted_in_lms_is_created_again() -> None:
    plan = build(desired(assignment()), state(record()), live({ADDR: None}))
    (change,) = plan.changes
    assert change.action is Action.CREATE and change.reasons == (Reason.DELETED_IN_LMS,)


def test_removed_from_manifests_is_deleted_with_impact() -> None:
    lv = live(
        {ADDR: dict(BASE)},
        {ADDR: {S1: sub(S1, state="submitted"), S2: sub(S2, grade_points=3.0)}},
    )
    plan = build(desired(), state(record()), lv)
    (change,) = plan.changes
    assert change.action is Action.DELETE
    assert change.impact is not None
    assert (change.impact.submissions, change.impact.turned_in, change.impact.graded) == (2, 1, 1)
    # deleting student work needs its own consent, recorded as data
    assert plan.consents[0] == ConsentNeed(Consent.DESTROY_SUBMISSIONS, ADDR, change.impact)
    # and deleting the section's only tracked assignment is a mass delete
    assert plan.consents[1] == ConsentNeed(Consent.MASS_DELETE, SEC, deleting=1, tracked=1)


def test_protected_delete_is_an_error() -> None:
    rec = record()
    rec.protect = True
    with pytest.raises(PlanError) as err:
        build(desired(), state(rec), live({ADDR: dict(BASE)}, {ADDR: {}}))
    assert "protected" in err.value.diagnostics[0].message


def test_unknown_create_outcome_is_shown_with_both_ways_out() -> None:
    rec = record(status=ResourceStatus.UNKNOWN, aid=None)
    plan = build(desired(assignment()), state(rec), live())
    (change,) = plan.changes
    assert change.action is Action.UNKNOWN
    assert change.reasons == (Reason.OUTCOME_UNKNOWN,)
    words = unknown_outcome_words(change.address, change.reasons)
    assert f"lmsctl import {ADDR}" in words and f"lmsctl state rm {ADDR}" in words
    assert not plan.has_changes


def test_district_not_ready_refuses_to_plan() -> None:
    with pytest.raises(PlanError, match="matching_in_progress"):
        build(
            desired(assignment()),
            state(),
            live(district={"id": "x", "lms_state": "matching_in_progress"}),
        )


@pytest.mark.parametrize("enabled", [True, False])
def test_building_a_plan_leaves_the_cycle_collector_as_it_was(enabled: bool) -> None:
    # (the builder pauses it while it runs, also when the plan cannot be made)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        build(desired(assignment(grades=(grade(S1, grade_points=9),))), state(), live())
        assert gc.isenabled() is enabled
        with pytest.raises(PlanError):
            build(desired(assignment()), state(), live(district={"id": "x", "lms_state": "x"}))
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable() if was else gc.disable()


def test_roster_reference_resolves_and_unknown_reference_is_error() -> None:
    roster = {SEC: [{"id": S1, "roles": {"student": {"sis_id": "603"}}, "name": {"first": "Ava"}}]}
    plan = build(
        desired(assignment(grades=(grade("sis:603", grade_points=9),))),
        state(),
        live(rosters=roster),
    )
    assert plan.changes[1].student == S1 and plan.changes[1].name == "Ava"
    with pytest.raises(PlanError) as err:
        build(
            desired(assignment(grades=(grade("sis:999", grade_points=9),))),
            state(),
            live(rosters=roster),
        )
    assert "no student with sis_id '999'" in err.value.diagnostics[0].message
    assert err.value.diagnostics[0].line == 3


def test_canvas_ignored_fields_warn_and_never_diff() -> None:
    lv = live({ADDR: {**BASE, "start_date": "2027-01-01T00:00:00.000Z"}})
    plan = build(desired(assignment(start_date="2027-01-10T00:00:00.000Z")), state(record()), lv)
    assert not plan.has_changes
    assert any("Canvas ignores start_date" in w for w in plan.warnings)


def test_moved_from_readdresses_without_delete_or_create() -> None:
    old = record(key="hw-old")
    spec = assignment(key="hw-new", moved_from="hw-old")
    plan = build(desired(spec), state(old), live({f"{SEC}/hw-old": dict(BASE)}))
    assert [(c.action, c.address) for c in plan.changes] == [(Action.MOVE, f"{SEC}/hw-new")]
    assert plan.changes[0].assignment_id == AID
