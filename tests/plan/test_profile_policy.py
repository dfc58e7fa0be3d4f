"""The planner reads the district's LMS profile (lmsctl.lms) and the typed drift policy."""

from __future__ import annotations

import dataclasses

import pytest

from lmsctl import lms
from lmsctl.model import DriftPolicy, PolicyConfig, ProjectConfig
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Action, FieldReason
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
    state,
)

ADDR = f"{SEC}/hw-01"


def test_on_drift_revert_in_the_config_puts_the_manifest_value_back() -> None:
    config = ProjectConfig(policies=PolicyConfig(on_drift=DriftPolicy.REVERT))
    lv = live({ADDR: {**BASE, "title": "Changed by teacher"}})
    plan = PlanBuilder(desired(assignment(), config=config), state(record()), lv).build()
    assert [(d.field, d.reverted) for d in plan.drift] == [("title", True)]
    assert [(c.action, dict(c.body)) for c in plan.changes] == [
        (Action.UPDATE, {"title": "Homework 1"})
    ]
    assert plan.changes[0].fields[0].why is FieldReason.REVERT_DRIFT


def test_on_drift_keep_shows_drift_and_changes_nothing() -> None:
    config = ProjectConfig(policies=PolicyConfig(on_drift=DriftPolicy.KEEP))
    lv = live({ADDR: {**BASE, "title": "Changed by teacher"}})
    plan = PlanBuilder(desired(assignment(), config=config), state(record()), lv).build()
    assert [(d.field, d.reverted) for d in plan.drift] == [("title", False)]
    assert not plan.has_changes


def test_a_made_up_rounding_in_a_profile_is_what_the_plan_warns_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schoology = lms.PROFILES[lms.LmsType.SCHOOLOGY]
    made = dataclasses.replace(schoology, decimals={"grade_points": 1})
    monkeypatch.setitem(lms.PROFILES, lms.LmsType.SCHOOLOGY, made)
    lv = live(district={**DISTRICT, "lms_type": "schoology"})
    spec = assignment(grades=(grade(S1, grade_points=8.25),))
    plan = PlanBuilder(desired(spec), state(), lv, PlanOptions()).build()
    assert [w for w in plan.warnings if "grade_points" in w] == [
        f"sec.yaml:3:3: warning: {ADDR}: grades: {S1}: grade_points: Schoology keeps grades to "
        "1 decimal: 8.25 will be rounded (to 8.3 or its neighbour) "
        "(write at most 1 decimal, e.g. 8.3)"
    ]
