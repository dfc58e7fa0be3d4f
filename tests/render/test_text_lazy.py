"""The text plan from a lazy document (what ``lmsctl plan`` renders) is the text of the whole
document, and its changes are read once: a plan of 100k grades never holds 100k change dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lmsctl.plan.document import plan_document, plan_to_document
from lmsctl.plan.model import Plan
from lmsctl.privacy import PrivacyChoice, PrivacyLevel, privatise_document
from lmsctl.render.text import render_plan_text

from .plans import (
    conflict_plan,
    drift_only_plan,
    empty_plan,
    first_apply_plan,
    full_plan,
    review_plan,
    state_fix_plan,
)

PLANS: list[Callable[[], Plan]] = [
    full_plan,
    empty_plan,
    drift_only_plan,
    conflict_plan,
    first_apply_plan,
    state_fix_plan,
    review_plan,
]
CHOICES = [
    PrivacyChoice(PrivacyLevel.FULL),
    PrivacyChoice(PrivacyLevel.PSEUDONYMISE, b"test key"),
    PrivacyChoice(PrivacyLevel.REDACT),
]


@pytest.mark.parametrize("make", PLANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("choice", CHOICES, ids=lambda c: c.level.value)
@pytest.mark.parametrize("color", [False, True])
def test_lazy_document_renders_the_same_text(
    make: Callable[[], Plan], choice: PrivacyChoice, color: bool
) -> None:
    plan = make()
    whole = render_plan_text(privatise_document(plan_to_document(plan), choice), color=color)
    lazy = render_plan_text(privatise_document(plan_document(plan), choice), color=color)
    assert lazy == whole


class _Once:
    """Changes that count how often they are read, and refuse a second reading."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.reads = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.reads += 1
        assert self.reads == 1, "the renderer read the changes twice"
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def test_the_changes_are_read_once() -> None:
    doc = plan_to_document(full_plan())
    expected = render_plan_text(doc)
    once = _Once(doc["changes"])
    assert render_plan_text({**doc, "changes": once}) == expected
    assert once.reads == 1
