"""The three-way diff of one assignment's or one grade's managed fields, written once.

For every field the manifests manage: the desired value (wire form), the value lmsctl last
applied (state; intents considered) and the live value (LMS) decide, by the field table's rules
for the resource (:class:`lmsctl.fields.Resource`), whether the field is in sync, changes,
drifted or conflicts. Drift and conflicts are recorded in the findings; the result carries the
field changes to make and the state fixes to record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsctl.diff import MISSING, Decision, decide_out_of_sync, equal, is_set
from lmsctl.fields import Resource
from lmsctl.plan.context import PlanContext
from lmsctl.plan.model import Conflict, ConflictReason, Drift, FieldChange, FieldReason


@dataclass
class FieldDiff:
    """One resource's fields after the diff."""

    changed: list[FieldChange] = field(default_factory=list)
    unchanged: int = 0
    #: fields the LMS already holds as desired whose applied record is missing or stale
    fix_set: dict[str, Any] = field(default_factory=dict)
    #: applied fields the manifests no longer manage
    drop: tuple[str, ...] = ()
    #: intents the plan resolves
    clear: list[str] = field(default_factory=list)

    @property
    def needs_fix(self) -> bool:
        return bool(self.fix_set or self.drop or self.clear)


@dataclass(slots=True)
class Side:
    """One resource as the diff sees it: who it is and its three sets of values (not frozen,
    which makes it in a quarter of the time: a plan makes one per grade that changes)."""

    resource: Resource
    address: str
    name: str  # friendly: the assignment's title or the student's name
    wanted: Mapping[str, Any]  # wire form
    applied: Mapping[str, Any]  # state: last applied
    intended: Mapping[str, list[Any]]  # state: sent but not acknowledged
    live: Mapping[str, Any]
    source_of: Callable[[str], str]  # a field's manifest position


class FieldDiffer:
    """Decides each managed field of a resource (lmsctl.diff.decide) for one plan."""

    def __init__(self, ctx: PlanContext) -> None:
        self.ctx = ctx
        self.lms_type = ctx.lms_type

    def diff(self, side: Side) -> FieldDiff:
        out = FieldDiff()
        resource, same = side.resource, self.same
        for name, want in side.wanted.items():
            recorded = side.applied.get(name, MISSING)
            have = side.live.get(name)
            if same(resource, name, want, have):
                # in sync whatever was applied (decide's first rule): nothing to write
                out.unchanged += 1
                if recorded is MISSING or not same(resource, name, recorded, want):
                    out.fix_set[name] = want  # the LMS holds it: record it as applied
                if name in side.intended:
                    out.clear.append(name)
                continue
            applied = self.with_intent(resource, name, recorded, side.intended.get(name), have)
            fc = self._field(side, name, want, applied, have)
            if fc is None:
                out.unchanged += 1  # drift kept, or a conflict not forced
                if name in side.intended:
                    out.clear.append(name)
            else:
                out.changed.append(fc)  # its write records (and clears) the intent
        unmanaged = side.applied.keys() - side.wanted.keys()
        if unmanaged:
            out.drop = tuple(sorted(unmanaged))
        if side.intended:
            out.clear.extend(f for f in sorted(side.intended) if f not in side.wanted)
        return out

    def all_in_sync(
        self,
        resource: Resource,
        wanted: Mapping[str, Any],
        applied: Mapping[str, Any],
        live: Mapping[str, Any],
    ) -> bool:
        """True when :meth:`diff` of a resource without intents would find nothing to do:
        lmsctl applied exactly the wanted fields, as wanted, and the LMS holds them (no
        change, no drift, no state fix). Quicker than the diff, for the usual grade."""
        if len(applied) != len(wanted):
            return False
        lms_type = self.lms_type
        for name, want in wanted.items():
            recorded = applied.get(name, MISSING)
            if (
                recorded is MISSING
                or not equal(name, recorded, want, lms_type, resource)
                or not equal(name, want, live.get(name), lms_type, resource)
            ):
                return False
        return True

    def _field(
        self, side: Side, field_name: str, want: Any, applied: Any, have: Any
    ) -> FieldChange | None:
        """Decide one field the LMS does not hold as wanted; record drift/conflict; return the
        change to make, if any."""
        decision = decide_out_of_sync(field_name, want, applied, have, self.lms_type, side.resource)
        shown_applied = None if applied is MISSING else applied
        if decision is Decision.UPDATE:
            return FieldChange(field_name, have, want, shown_applied, FieldReason.UPDATE)
        if decision is Decision.NEWLY_MANAGED:
            if side.resource is Resource.GRADE and is_set(field_name, have):
                why = ConflictReason.NEVER_APPLIED
                return self._conflict(side, field_name, want, shown_applied, have, why)
            return FieldChange(field_name, have, want, shown_applied, FieldReason.NEWLY_MANAGED)
        if decision is Decision.DRIFT:
            revert = self.ctx.revert_drift
            self.ctx.findings.drift.append(
                Drift(
                    side.address,
                    field_name,
                    shown_applied,
                    have,
                    want,
                    side.name,
                    revert,
                    side.source_of(field_name),
                )
            )
            if revert:
                return FieldChange(field_name, have, want, shown_applied, FieldReason.REVERT_DRIFT)
            return None
        why = ConflictReason.BOTH_CHANGED
        return self._conflict(side, field_name, want, shown_applied, have, why)

    def with_intent(
        self, resource: Resource, name: str, recorded: Any, sent: list[Any] | None, live: Any
    ) -> Any:
        """The last-applied value of a field for the three-way diff, intents considered.

        The rule: lmsctl records each value it is about to write (an intent) before sending it,
        and records it as applied once the API acknowledges it. A run killed in between leaves
        the intent. When the live value is one of the intended values (as the district's LMS
        echoes it: rounding, omitted defaults), the write reached the LMS: that value counts as
        applied (and the next apply records it), so lmsctl's own write never reads as a
        teacher's change. Any other live value is judged against what was recorded as applied,
        by the usual three-way rules (a teacher's edit is still drift or a conflict).
        """
        if sent and any(self.same(resource, name, value, live) for value in sent):
            return live
        return recorded

    def same(self, resource: Resource, name: str, a: Any, b: Any) -> bool:
        return equal(name, a, b, self.lms_type, resource)

    def _conflict(
        self,
        side: Side,
        field_name: str,
        want: Any,
        applied: Any,
        have: Any,
        why: ConflictReason,
    ) -> FieldChange | None:
        forced = self.ctx.options.force
        source = side.source_of(field_name)
        self.ctx.findings.conflicts.append(
            Conflict(side.address, field_name, applied, have, want, side.name, why, source, forced)
        )
        if forced:
            return FieldChange(field_name, have, want, applied, FieldReason.FORCED)
        return None
