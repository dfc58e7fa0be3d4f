"""The changes of one assignment that exists in state: create it, update it, set its grades.

Each function reads the plan context and adds to its findings; the builder decides which of
them an assignment needs (lmsctl.plan.builder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmsctl.diff import to_wire
from lmsctl.fields import REQUIRED_ON_CREATE, Resource, is_cleared
from lmsctl.model import AssignmentSpec, GradeSpec, SectionSpec
from lmsctl.plan.context import PlanContext
from lmsctl.plan.desired import Desired, DesiredResolver
from lmsctl.plan.fielddiff import FieldDiffer, Side
from lmsctl.plan.fingerprints import field_fingerprint
from lmsctl.plan.model import (
    Action,
    Change,
    FieldChange,
    FieldReason,
    Reason,
    ResourceKind,
    StateFix,
)
from lmsctl.plan.outcomes import GradeOutcomes
from lmsctl.state.model import ResourceRecord


class ChangeMaker:
    """Makes the create, update and grade changes of each assignment for one plan."""

    def __init__(self, ctx: PlanContext, resolver: DesiredResolver) -> None:
        self.ctx = ctx
        self.findings = ctx.findings
        self.resolver = resolver
        self.differ = FieldDiffer(ctx)
        self.shared = SharedParts()
        self.outcomes = GradeOutcomes()

    # -- create ----------------------------------------------------------------------------------

    def create(
        self, section: SectionSpec, spec: AssignmentSpec, desired: Desired, *, reason: Reason
    ) -> None:
        fields = desired.fields
        missing = [f for f in REQUIRED_ON_CREATE if f not in fields]
        if missing:
            self.findings.diag(
                spec.pos,
                f"{spec.address}:",
                f"missing {', '.join(missing)}: Clever requires {_and_list(REQUIRED_ON_CREATE)} "
                "to create an assignment",
                "add them to the assignment or to the section's defaults",
            )
        if "assignee_mode" not in fields:
            self.findings.diag(
                spec.pos,
                f"{spec.address}:",
                "missing assignee_mode: Clever refuses to create an assignment without it "
                "('no valid users found')",
                "add assignee_mode: all (or individuals with assignee_ids), here or in defaults",
            )
        self.resolver.check_dates(spec, fields, list(fields), creating=True)
        self.findings.changes.append(
            Change(
                address=spec.address,
                action=Action.CREATE,
                kind=ResourceKind.ASSIGNMENT,
                section_id=spec.section_id,
                key=spec.key,
                name=desired.title(spec),
                section_name=section.label,
                fields=tuple(
                    FieldChange(f, None, v, why=FieldReason.NEW) for f, v in fields.items()
                ),
                body=fields,
                reasons=(reason,),
                source=str(spec.pos),
            )
        )
        if spec.protect:
            self.findings.fixes.append(StateFix(address=spec.address, student=None, protect=True))
        self._create_grades(section, spec, desired)

    def _create_grades(self, section: SectionSpec, spec: AssignmentSpec, desired: Desired) -> None:
        """The grades of an assignment being created: set once it exists."""
        assignees = desired.fields.get("assignee_ids")
        only: set[str] | None = None
        if desired.fields.get("assignee_mode") == "individuals" and isinstance(
            assignees, list | tuple
        ):
            only = {str(a) for a in assignees}
        for grade, uid in desired.grades:
            if not self.ctx.targeted(spec.grade_address(uid)):
                continue
            if only is not None and uid not in only:
                # Clever creates submissions for the assignees only: the grade would fail (404)
                self.findings.diag(
                    grade.pos,
                    f"{spec.address}: grades: {grade.student.raw}:",
                    f"student {uid} is not one of the assignment's assignee_ids",
                    "remove the grade, or add the student to assignee_ids",
                )
                continue
            # a new assignment's submissions hold nothing yet: clearing a field is a no-op
            body = {
                f: to_wire(f, v, Resource.GRADE)
                for f, v in grade.fields.items()
                if not is_cleared(f, v, Resource.GRADE)
            }
            if not body:
                continue
            self.findings.changes.append(
                Change(
                    address=spec.grade_address(uid),
                    action=Action.GRADE,
                    kind=ResourceKind.GRADE,
                    section_id=spec.section_id,
                    key=spec.key,
                    student=uid,
                    name=desired.names.get(uid) or uid,
                    section_name=section.label,
                    fields=tuple(
                        FieldChange(f, None, v, why=FieldReason.NEW) for f, v in body.items()
                    ),
                    body=body,
                    reasons=(Reason.GRADE,),
                    source=grade.pos,
                    depends_on=spec.address,
                )
            )

    # -- update ----------------------------------------------------------------------------------

    def update(
        self,
        section: SectionSpec,
        spec: AssignmentSpec,
        record: ResourceRecord,
        live: Mapping[str, Any],
        desired: Desired,
    ) -> None:
        fields = desired.fields
        title = desired.title(spec)
        diff = self.differ.diff(
            Side(
                Resource.ASSIGNMENT,
                spec.address,
                title,
                wanted=fields,
                applied=record.applied,
                intended=record.intended,
                live=live,
                source_of=lambda name: str(spec.pos_of(name)),
            )
        )
        if diff.needs_fix or record.deleting:
            self.findings.fixes.append(
                StateFix(
                    address=spec.address,
                    student=None,
                    set_fields=diff.fix_set,
                    drop_fields=diff.drop,
                    clear_intents=tuple(diff.clear),
                    clear_delete=record.deleting,  # it is still live: the DELETE never happened
                )
            )
        changed = diff.changed
        if not changed:
            return
        if any(fc.field == "due_date" for fc in changed):
            self.resolver.check_dates(spec, fields, ["due_date"])
        names = [fc.field for fc in changed]
        self.findings.changes.append(
            Change(
                address=spec.address,
                action=Action.UPDATE,
                kind=ResourceKind.ASSIGNMENT,
                section_id=spec.section_id,
                key=spec.key,
                name=title,
                section_name=section.label,
                assignment_id=record.assignment_id,
                fields=tuple(changed),
                unchanged=diff.unchanged,
                body={fc.field: fc.after for fc in changed},
                reasons=reasons_of(changed),
                source=str(spec.pos_of(names[0])),
                fingerprint=field_fingerprint(live, names),
            )
        )

    # -- grades ----------------------------------------------------------------------------------

    def grades(
        self,
        section: SectionSpec,
        spec: AssignmentSpec,
        record: ResourceRecord,
        state_address: str,
        desired: Desired,
        newly_assigned: set[str],
    ) -> None:
        """The grade changes of an assignment in the LMS (``newly_assigned``: the students the
        update assigns, who have no submission yet)."""
        subs = self.ctx.live.submissions.get(state_address) or {}
        targeted = self.ctx.targeted if self.ctx.options.targets else None
        address = spec.address
        applied_of, intended_of = record.grades, record.intended_grades
        outcomes, label, names = self.outcomes, section.label, desired.names
        changes = self.findings.changes
        for grade, uid in desired.grades:
            if targeted is not None and not targeted(spec.grade_address(uid)):
                continue
            sub = subs.get(uid)
            if sub is None and uid not in newly_assigned:
                self.findings.diag(
                    grade.pos,
                    f"{address}: grades: {grade.student.raw}:",
                    f"student {uid} has no submission for this assignment "
                    "(not enrolled in the section, or not one of its assignees)",
                    "remove the grade, or add the student to assignee_ids",
                )
                continue
            depends_on = address if uid in newly_assigned else None
            key = None
            if not intended_of.get(uid):
                # a grade with the values of one diffed before (nearly every one): its outcome
                want = wire_grade(grade.fields)
                key = outcomes.key(want, applied_of.get(uid) or {}, sub or {}, sub is not None)
                if key is not None:
                    known, outcome = outcomes.get(key)
                    if known:
                        if outcome is not None:
                            changes.append(
                                _grade_change(
                                    spec, record, label, names, grade, uid, outcome, depends_on
                                )
                            )
                        continue
            change = self._grade(section, spec, record, desired, (grade, uid), sub, depends_on, key)
            if change is not None:
                changes.append(change)
        wanted = {uid for _, uid in desired.grades}
        self._forget_unmanaged_grades(spec, record, wanted)

    def _grade(
        self,
        section: SectionSpec,
        spec: AssignmentSpec,
        record: ResourceRecord,
        desired: Desired,
        graded: tuple[GradeSpec, str],
        sub: Mapping[str, Any] | None,
        depends_on: str | None,
        key: tuple[Any, ...] | None,
    ) -> Change | None:
        """One student's grade: the diff of its fields, its state fix, its change (if any).
        ``key``: its outcome's key (lmsctl.plan.outcomes), one not seen before; None when it
        has intents or is not to be shared."""
        grade, uid = graded
        live_sub: Mapping[str, Any] = sub or {}
        wanted = wire_grade(grade.fields)
        applied = record.grades.get(uid) or {}
        intended = record.intended_grades.get(uid) or {}
        if not intended and self.differ.all_in_sync(Resource.GRADE, wanted, applied, live_sub):
            # the usual grade: applied as the manifests say, and the LMS holds it (its diff
            # would find nothing: no change, drift nor state fix)
            if key is not None:
                self.outcomes.put(key, None)
            return None
        grade_address = spec.grade_address(uid)
        name = desired.names.get(uid) or uid
        seen = self._found_count()
        diff = self.differ.diff(
            Side(
                Resource.GRADE,
                grade_address,
                name,
                wanted=wanted,
                applied=applied,
                intended=intended,
                live=live_sub,
                source_of=lambda field: str(grade.field_pos.get(field, grade.pos)),
            )
        )
        if diff.needs_fix:
            self.findings.fixes.append(
                StateFix(
                    address=spec.address,
                    student=uid,
                    set_fields=diff.fix_set,
                    drop_fields=diff.drop,
                    clear_intents=tuple(diff.clear),
                )
            )
        changed = diff.changed
        if not changed:
            if key is not None and not diff.needs_fix and seen == self._found_count():
                self.outcomes.put(key, None)
            return None
        parts = self.shared.grade_parts(changed)
        # a student the update assigns has no submission to re-check yet
        fingerprint = (
            None if sub is None else field_fingerprint(live_sub, [fc.field for fc in changed])
        )
        outcome = (parts, diff.unchanged, fingerprint)
        if key is not None and not diff.needs_fix and seen == self._found_count():
            self.outcomes.put(key, outcome)
        return _grade_change(
            spec, record, section.label, desired.names, *graded, outcome, depends_on
        )

    def _found_count(self) -> int:
        """How many drifts and conflicts the plan found so far."""
        return len(self.findings.drift) + len(self.findings.conflicts)

    def _forget_unmanaged_grades(
        self, spec: AssignmentSpec, record: ResourceRecord, wanted: set[str]
    ) -> None:
        """Grades state holds that the manifests no longer set: stop managing them."""
        for uid in sorted((record.grades.keys() | record.intended_grades.keys()) - wanted):
            applied_grade = record.grades.get(uid) or {}
            sent = record.intended_grades.get(uid) or {}
            if applied_grade or sent:
                self.findings.fixes.append(
                    StateFix(
                        address=spec.address,
                        student=uid,
                        drop_fields=tuple(sorted(applied_grade)),
                        why=Reason.NO_LONGER_MANAGED,
                        clear_intents=tuple(sorted(sent)),
                    )
                )


def _grade_change(
    spec: AssignmentSpec,
    record: ResourceRecord,
    section_name: str,
    names: Mapping[str, str],
    grade: GradeSpec,
    uid: str,
    outcome: tuple[
        tuple[tuple[FieldChange, ...], Mapping[str, Any], tuple[Reason, ...]], int, str | None
    ],
    depends_on: str | None,
) -> Change:
    """One student's grade change (its address is made of its parts when read)."""
    (fields, body, reasons), unchanged, fingerprint = outcome
    # (positionally, in Change's order: one per grade that changes)
    return Change(
        None,  # the address: made of the section, key and student when read
        Action.GRADE,
        ResourceKind.GRADE,
        spec.section_id,
        spec.key,
        names.get(uid) or uid,
        section_name,
        uid,
        record.assignment_id,
        fields,
        unchanged,
        body,
        reasons,
        grade.pos,
        fingerprint,
        depends_on,
    )


class SharedParts:
    """The field changes, body and reasons of a grade change, made once for every grade change
    with the same ones: a plan's grades repeat few values (a plan of 100k grade changes held
    100k equal field changes, bodies and reasons; each was 60-180 bytes of every grade).

    Only changes whose values are all plain (None, bool, int, float, str) are shared: they are
    immutable, and equal only when they print the same (a float is compared by its repr, so
    ``-0.0`` is not ``0.0``; a type is part of the key, so ``1`` is not ``True`` nor ``1.0``).
    At most :data:`LIMIT` distinct ones are held; others are made as before.
    """

    LIMIT = 4096

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[
            tuple[Any, ...], tuple[tuple[FieldChange, ...], Mapping[str, Any], tuple[Reason, ...]]
        ] = {}

    def grade_parts(
        self, changed: list[FieldChange]
    ) -> tuple[tuple[FieldChange, ...], Mapping[str, Any], tuple[Reason, ...]]:
        """``(tuple(changed), {field: after}, reasons_of(changed, Reason.GRADE))``."""
        key = _key_of(changed)
        if key is not None:
            found = self._held.get(key)
            if found is not None:
                return found
        parts = (
            tuple(changed),
            {fc.field: fc.after for fc in changed},
            reasons_of(changed, Reason.GRADE),
        )
        if key is not None and len(self._held) < self.LIMIT:
            self._held[key] = parts
        return parts


def _key_of(changed: list[FieldChange]) -> tuple[Any, ...] | None:
    """What makes field changes equal as a plan shows and sends them, or None when a value is
    not plain (see :class:`SharedParts`)."""
    key: list[Any] = []
    for fc in changed:
        key.append(fc.field)
        key.append(fc.why)
        for value in (fc.before, fc.after, fc.applied):
            kind = type(value)
            if kind is float:
                key.append(repr(value))
            elif kind not in _SHAREABLE:
                return None
            key.append(kind)
            key.append(value)
    return tuple(key)


#: the value types a shared grade change may hold (immutable, and equal only when equal in JSON
#: and in the text plan; floats are keyed by their repr as well)
_SHAREABLE = frozenset({type(None), bool, int, float, str})


def wire_grade(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """A grade's fields as sent to the API (``lmsctl.diff.to_wire``): the fields themselves
    when they are all plain values, as nearly every grade's are (one dict less per grade)."""
    for value in fields.values():
        if type(value) not in _PLAIN:
            return {n: to_wire(n, v, Resource.GRADE) for n, v in fields.items()}
    return fields


#: the types to_wire sends as they are (None is a clear, tuples become lists)
_PLAIN = frozenset({int, float, str, bool})


def _and_list(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def reasons_of(changed: list[FieldChange], base: Reason | None = None) -> tuple[Reason, ...]:
    whys = {fc.why for fc in changed}
    reasons = [base] if base is not None else []
    if FieldReason.REVERT_DRIFT in whys:
        reasons.append(Reason.REVERTS_DRIFT)
    if FieldReason.FORCED in whys:
        reasons.append(Reason.FORCED)
    if FieldReason.NEWLY_MANAGED in whys and base is None:
        reasons.append(Reason.NEWLY_MANAGED)
    if not reasons:
        reasons.append(Reason.MANIFEST_CHANGED)
    return tuple(reasons)
