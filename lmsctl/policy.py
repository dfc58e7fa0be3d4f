"""Policies on a built plan: grading-period freezes and approval rules (``policies:``).

``apply_policies`` marks a plan's changes with typed records (lmsctl.plan.model):

- ``FrozenChange``: a change inside an open ``policies.freeze`` window. Unless
  ``--allow-frozen WINDOW`` names the window, the plan blocks (exit 1) and apply refuses it.
- ``ApprovalNeed``: a change a ``policies.approval`` rule matches (a grade whose submission is
  returned, a grade lowered by more than N points, a delete). ``plan --detailed-exitcode``
  exits 3 so a workflow can ask a second reviewer before apply.

``check_freeze`` is apply's re-check of a saved plan at the time it runs: a plan made before a
window began is refused once the window has begun.

Pure: decisions read the plan's typed data, the config and the given ``now``, never text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from lmsctl.errors import PlanError
from lmsctl.model import FreezeWindow, PolicyConfig
from lmsctl.plan.model import (
    Action,
    ApprovalNeed,
    ApprovalRule,
    Change,
    FrozenChange,
    Plan,
)

__all__ = ["apply_policies", "approvals", "check_freeze", "frozen_changes", "unknown_windows"]

_ASSIGNMENT_ACTIONS = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})


def _covers(
    window: FreezeWindow, change: Change, now: dt.datetime, schools: Mapping[str, str]
) -> bool:
    if not window.is_open(now):
        return False
    if window.sections and change.section_id not in window.sections:
        return False
    if window.schools and schools.get(change.section_id) not in window.schools:
        return False
    if change.action is Action.GRADE:
        return window.grades
    return change.action in _ASSIGNMENT_ACTIONS and window.assignments


def frozen_changes(
    changes: Iterable[Change],
    windows: Iterable[FreezeWindow],
    now: dt.datetime,
    *,
    allowed: Collection[str] = (),
    schools: Mapping[str, str] | None = None,
) -> tuple[FrozenChange, ...]:
    """Every (window, change) pair where an open window covers the change."""
    schools = schools or {}
    windows = tuple(windows)
    if not windows:  # nothing can be frozen: no need to look at 100k changes
        return ()
    out = []
    for change in changes:
        for w in windows:
            if _covers(w, change, now, schools):
                out.append(FrozenChange(w.name, change.address, allowed=w.name in allowed))
    return tuple(out)


def _grade_points(change: Change) -> tuple[Any, Any] | None:
    for f in change.fields:
        if f.field == "grade_points":
            return f.before, f.after
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def approvals(
    changes: Iterable[Change],
    policy: PolicyConfig,
    live_submissions: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> tuple[ApprovalNeed, ...]:
    """The changes ``policies.approval`` says need a second reviewer.

    ``live_submissions`` maps an assignment address to {student id: live submission}.
    """
    rules = policy.approval
    if not (rules.deletes or rules.returned_grades or rules.grade_drop_points is not None):
        return ()  # no rule set: no change needs approval, none is read
    out: list[ApprovalNeed] = []
    for c in changes:
        if c.action is Action.DELETE and rules.deletes:
            out.append(ApprovalNeed(ApprovalRule.DELETE, c.address))
        if c.action is not Action.GRADE:
            continue
        if rules.returned_grades and c.student:
            live = (live_submissions.get(f"{c.section_id}/{c.key}") or {}).get(c.student) or {}
            if live.get("state") == "returned":
                out.append(ApprovalNeed(ApprovalRule.RETURNED_GRADE, c.address))
        points = _grade_points(c)
        if rules.grade_drop_points is not None and points is not None:
            before, after = _number(points[0]), _number(points[1])
            if before is not None and after is not None:
                drop = before - after
                if drop > rules.grade_drop_points:
                    out.append(ApprovalNeed(ApprovalRule.GRADE_DROP, c.address, drop=drop))
    return tuple(out)


def unknown_windows(policy: PolicyConfig, names: Iterable[str]) -> list[str]:
    """The ``--allow-frozen`` names no ``policies.freeze`` window has."""
    known = {w.name for w in policy.freeze}
    return sorted(set(names) - known)


def apply_policies(
    plan: Plan,
    policy: PolicyConfig,
    now: dt.datetime,
    *,
    allow_frozen: Collection[str] = (),
    live_submissions: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    schools: Mapping[str, str] | None = None,
) -> Plan:
    """The plan with its frozen changes and approval needs recorded.

    The allowed windows (and the schools of sections, when a window names schools) are kept
    in the plan, so apply's re-check of a saved plan judges it the same way.
    """
    actionable = plan.actionable
    return replace(
        plan,
        frozen=frozen_changes(
            actionable, policy.freeze, now, allowed=allow_frozen, schools=schools
        ),
        approvals=approvals(actionable, policy, live_submissions or {}),
        allow_frozen=tuple(sorted(allow_frozen)) or plan.allow_frozen,
        section_schools=dict(schools) if schools else plan.section_schools,
    )


def check_freeze(plan: Plan, policy: PolicyConfig, now: dt.datetime) -> None:
    """Refuse to carry out a plan any change of which an open freeze window covers now.

    A plan made before a window began shows none of its changes as frozen; applied once the
    window has begun, it is refused here, naming the window.
    """
    blocked = [
        f
        for f in frozen_changes(
            plan.actionable,
            policy.freeze,
            now,
            allowed=plan.allow_frozen,
            schools=plan.section_schools,
        )
        if not f.allowed
    ]
    if not blocked:
        return
    windows = sorted({f.window for f in blocked})
    by_name = {w.name: w for w in policy.freeze}
    began = ", ".join(
        f"{name!r} (since {by_name[name].start.strftime('%Y-%m-%d %H:%M UTC')})" for name in windows
    )
    raise PlanError(
        f"refusing to apply: {len(blocked)} change(s) of this plan fall in freeze window {began}"
        f"; the plan was made {plan.created or 'earlier'}; nothing was changed",
        hint="run lmsctl plan again; to change frozen grades anyway, plan with "
        + " ".join(f"--allow-frozen {n}" for n in windows),
    )
