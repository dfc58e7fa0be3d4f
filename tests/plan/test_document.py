"""The plan document's ``options`` on disk stay as they were, while the plan itself carries the
root and the freeze re-check's data as typed fields."""

from __future__ import annotations

from pathlib import Path

from lmsctl.plan.document import plan_from_document, plan_to_document
from lmsctl.plan.model import Plan

SECTION = "5f1a0c0b8e1d2a0001a00001"


def test_root_and_freeze_data_are_plan_fields_and_keep_their_place_in_options() -> None:
    plan = Plan(
        options={"revert_drift": False, "force": False, "targets": []},
        root=Path("courses/algebra"),
        allow_frozen=("term-end",),
        section_schools={SECTION: "school-1"},
    )
    doc = plan_to_document(plan)
    assert doc["options"] == {
        "revert_drift": False,
        "force": False,
        "targets": [],
        "root": "courses/algebra",
        "allow_frozen": ["term-end"],
        "section_schools": {SECTION: "school-1"},
    }
    assert list(doc["options"]) == [
        "revert_drift",
        "force",
        "targets",
        "root",
        "allow_frozen",
        "section_schools",
    ]
    back = plan_from_document(doc)
    assert back.root == Path("courses/algebra")
    assert back.allow_frozen == ("term-end",)
    assert back.section_schools == {SECTION: "school-1"}
    assert dict(back.options) == {"revert_drift": False, "force": False, "targets": []}
    assert plan_to_document(back) == doc


def test_a_plan_without_a_root_writes_none() -> None:
    doc = plan_to_document(Plan(options={"force": True}))
    assert doc["options"] == {"force": True}
    back = plan_from_document(doc)
    assert back.root is None and back.allow_frozen == () and dict(back.section_schools) == {}
