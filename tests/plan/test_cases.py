"""Planner cases as data: tests/cases/plan/<case>/ holds

- ``manifests/``: a manifests root (lmsctl.yaml and section files);
- ``state.json``: the state before the plan (optional: empty state);
- ``live.json``: what the LMS holds ({district, assignments, submissions, rosters});
- ``options.json``: PlanOptions fields (optional: revert_drift, force, targets, now);
- ``expected.txt``: the plan, one line per change, drift, conflict, consent needed, warning or
  error, then the summary line.

A new case needs no Python. To write the expected file of a new case, run
``LMSCTL_UPDATE_CASES=1 python -m pytest tests/plan/test_cases.py`` and READ what it wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lmsctl.addresses import parse_address
from lmsctl.errors import PlanError
from lmsctl.manifest import load_desired
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Action, Consent, Plan
from lmsctl.plan.words import reason_words
from lmsctl.refresh import LiveState
from lmsctl.state.model import StateSnapshot

CASES = Path(__file__).resolve().parent.parent / "cases" / "plan"


def _v(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def describe(plan: Plan) -> list[str]:
    lines = []
    for d in plan.drift:
        state = "reverted" if d.reverted else "kept"
        lines.append(
            f"drift {d.address} {d.field}: applied {_v(d.applied)}, live {_v(d.live)} ({state})"
        )
    for c in plan.conflicts:
        forced = " (forced)" if c.forced else ""
        lines.append(
            f"conflict {c.address} {c.field}: applied {_v(c.applied)}, live {_v(c.live)}, "
            f"desired {_v(c.desired)}{forced}"
        )
    for ch in plan.changes:
        head = f"{ch.symbol} {ch.action.value} {ch.address}"
        if ch.action is Action.CREATE:
            reason = reason_words(ch.reasons)
            lines.append(f"{head} [{', '.join(f.field for f in ch.fields)}] ({reason})")
        elif ch.action is Action.DELETE and ch.impact is not None:
            i = ch.impact
            lines.append(
                f"{head} ({i.submissions} submissions, {i.turned_in} turned in, {i.graded} graded)"
            )
        elif ch.action is Action.MOVE:
            lines.append(f"{head} from {ch.moved_from}")
        elif ch.action is Action.UNKNOWN:
            lines.append(head)
        else:
            fields = ", ".join(f"{f.field}: {_v(f.before)} -> {_v(f.after)}" for f in ch.fields)
            lines.append(f"{head} {fields}")
    for n in plan.consents:
        if n.consent is Consent.MASS_DELETE:
            lines.append(
                f"consent {n.consent.flag}: section {n.address} deletes {n.deleting} of {n.tracked}"
            )
        else:
            lines.append(f"consent {n.consent.flag}: {n.address}")
    for w in plan.warnings:
        lines.append(f"warning {w}")
    lines.append(plan.summary())
    return lines


def run_case(case: Path) -> list[str]:
    root = case / "manifests"
    desired, diags = load_desired(root, cwd=case)
    errors = [d for d in diags if d.is_error]
    if errors:
        return [f"manifest-error {d.format()}" for d in errors]
    state_file = case / "state.json"
    snapshot = (
        StateSnapshot.from_dict(json.loads(state_file.read_text()))
        if state_file.exists()
        else StateSnapshot.empty()
    )
    live = LiveState.from_dict(json.loads((case / "live.json").read_text()))
    opts: dict[str, Any] = {"now": "2026-11-23T12:00:00.000Z"}
    options_file = case / "options.json"
    if options_file.exists():
        opts.update(json.loads(options_file.read_text()))
    opts["targets"] = tuple(parse_address(t) for t in opts.get("targets", ()))
    try:
        plan = PlanBuilder(desired, snapshot, live, PlanOptions(**opts)).build()
    except PlanError as exc:
        return [f"error {exc.message}"] + [f"error {d.format()}" for d in exc.diagnostics]
    return describe(plan)


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_plan_case(case: str) -> None:
    path = CASES / case
    got = run_case(path)
    expected_file = path / "expected.txt"
    if os.environ.get("LMSCTL_UPDATE_CASES"):
        expected_file.write_text("\n".join(got) + "\n")
    assert expected_file.exists(), f"{case}: no expected.txt (see this module's docstring)"
    assert got == expected_file.read_text().splitlines()
