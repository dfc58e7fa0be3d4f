"""``plan --format json`` is written in parts, and the parts make exactly the whole document.

A plan of 100k changes used to be one JSON string, copied again to escape control characters
and again to encode it (about 1 GB at its peak): iter_plan_json gives it a part at a time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Plan
from lmsctl.render import json as render_json
from lmsctl.render.json import dumps_for_terminal, iter_plan_json, render_plan_json
from tests.render.plans import (
    conflict_plan,
    drift_only_plan,
    empty_plan,
    first_apply_plan,
    full_plan,
    state_fix_plan,
)

HOSTILE = "\u202e\x1b[8m\r\x07\u2028 Ünï\n\t"


def _whole(doc: Any) -> str:
    return dumps_for_terminal(doc, indent=2) + "\n"


@pytest.mark.parametrize(
    "make",
    [full_plan, empty_plan, drift_only_plan, conflict_plan, first_apply_plan, state_fix_plan],
)
def test_the_parts_join_to_the_whole_document(make: Any) -> None:
    plan: Plan = make()
    doc = plan_to_document(plan)
    assert render_plan_json(doc) == _whole(doc)
    assert json.loads(render_plan_json(doc)) == json.loads(_whole(doc))


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"a": []},
        {"a": {}, "b": [[]], "c": [{}], "d": None},
        {"changes": [{"name": HOSTILE, "x": [1, {"y": HOSTILE}]}, {"z": {}}], HOSTILE: HOSTILE},
    ],
)
def test_edge_values_render_as_json_dumps_does(doc: dict[str, Any]) -> None:
    assert render_plan_json(doc) == _whole(doc)


def test_a_large_plan_comes_in_many_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_json, "PART_SIZE", 2000)
    doc = plan_to_document(first_apply_plan(sections=3, assignments=5, students=30))
    parts = list(iter_plan_json(doc))
    assert len(parts) > 10
    assert max(len(p) for p in parts) < 2000 + 5000  # one change's text at most beyond it
    assert "".join(parts) == _whole(doc)
