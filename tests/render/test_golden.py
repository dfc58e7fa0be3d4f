"""Golden tests: the WHOLE rendered plan is compared with a file in tests/render/golden/.

When a renderer changes on purpose, regenerate the files and review the diff like code:

    LMSCTL_UPDATE_GOLDEN=1 pytest tests/render/test_golden.py
    git diff tests/render/golden/

With LMSCTL_UPDATE_GOLDEN set, each test rewrites its file and passes; without it, a missing
or different file fails the test with a unified diff.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Action, ApprovalNeed, ApprovalRule, FrozenChange, Plan
from lmsctl.privacy import PrivacyChoice, PrivacyLevel, privatise_document
from lmsctl.render.json import render_plan_json
from lmsctl.render.markdown import render_plan_markdown
from lmsctl.render.text import render_plan_text

from .plans import (
    conflict_plan,
    drift_only_plan,
    empty_plan,
    first_apply_plan,
    full_plan,
    review_plan,
)

_PSEUDONYMISE = PrivacyChoice(PrivacyLevel.PSEUDONYMISE, b"golden key")
_REDACT = PrivacyChoice(PrivacyLevel.REDACT)


def _private(
    choice: PrivacyChoice, render: Callable[[dict[str, Any]], str]
) -> Callable[[dict[str, Any]], str]:
    return lambda d: render(privatise_document(d, choice))


def _policy_plan() -> Plan:
    """The full plan with a freeze window on one grade and approval needs on others."""
    plan = full_plan()
    grades = [c for c in plan.changes if c.action is Action.GRADE]
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    return replace(
        plan,
        frozen=(FrozenChange("q2-report-cards", grades[0].address),),
        approvals=(
            ApprovalNeed(ApprovalRule.RETURNED_GRADE, grades[-1].address),
            ApprovalNeed(ApprovalRule.GRADE_DROP, grades[-1].address, drop=3.0),
            *(ApprovalNeed(ApprovalRule.DELETE, c.address) for c in deletes),
        ),
    )


GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LMSCTL_UPDATE_GOLDEN", "") not in ("", "0")


def _doc(plan: Plan) -> dict[str, Any]:
    doc = plan_to_document(plan)
    doc["lmsctl_version"] = "0.0.0+golden"  # keep the files stable across releases
    return doc


CASES: dict[str, tuple[Callable[[], Plan], Callable[[dict[str, Any]], str]]] = {
    "full.txt": (full_plan, lambda d: render_plan_text(d)),
    "full.color.txt": (full_plan, lambda d: render_plan_text(d, color=True)),
    "empty.txt": (empty_plan, lambda d: render_plan_text(d)),
    "empty.color.txt": (empty_plan, lambda d: render_plan_text(d, color=True)),
    "drift-only.txt": (drift_only_plan, lambda d: render_plan_text(d)),
    "conflict.txt": (conflict_plan, lambda d: render_plan_text(d)),
    "first-apply.txt": (lambda: first_apply_plan(2, 2, 3), lambda d: render_plan_text(d)),
    "full.md": (full_plan, lambda d: render_plan_markdown(d)),
    "empty.md": (empty_plan, lambda d: render_plan_markdown(d)),
    "drift-only.md": (drift_only_plan, lambda d: render_plan_markdown(d)),
    "first-apply-large.md": (
        lambda: first_apply_plan(3, 4, 40),
        lambda d: render_plan_markdown(d, max_chars=12_000),
    ),
    "full.json": (full_plan, render_plan_json),
    "full.pseudonymise.txt": (full_plan, _private(_PSEUDONYMISE, render_plan_text)),
    "full.pseudonymise.md": (full_plan, _private(_PSEUDONYMISE, render_plan_markdown)),
    "full.redact.txt": (full_plan, _private(_REDACT, render_plan_text)),
    "full.redact.md": (full_plan, _private(_REDACT, render_plan_markdown)),
    "conflict.redact.txt": (conflict_plan, _private(_REDACT, render_plan_text)),
    "policies.txt": (_policy_plan, lambda d: render_plan_text(d)),
    "policies.md": (_policy_plan, lambda d: render_plan_markdown(d)),
    "empty.json": (empty_plan, render_plan_json),
    # the whole documents the streamed output (tests/render/test_json_stream.py) must equal
    "review.json": (review_plan, render_plan_json),
    "review.pseudonymise.json": (review_plan, _private(_PSEUDONYMISE, render_plan_json)),
    "review.redact.json": (review_plan, _private(_REDACT, render_plan_json)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_plan_matches_golden_file(name: str) -> None:
    make_plan, render = CASES[name]
    actual = render(_doc(make_plan()))
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path.name} is missing; run with LMSCTL_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"golden/{name}",
                "rendered",
            )
        )
        pytest.fail(
            f"rendered output differs from golden/{name} "
            f"(LMSCTL_UPDATE_GOLDEN=1 regenerates it):\n{diff}"
        )


def test_every_golden_file_has_a_case() -> None:
    """A stale golden file (its case renamed or removed) is noticed."""
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_file()) == sorted(CASES)
