"""PlanBuilder: (DesiredState, StateSnapshot, LiveState, PlanOptions) -> Plan.

Pure: no API calls and no I/O, so planner tests are data (tests/cases/plan/<case>/).

For each assignment in the manifests:
- not in state: create it (and set its grades once it exists);
- in state with an unknown create outcome: show ``?`` with the two ways out, do nothing;
- in state but 404 in the LMS: it was deleted there; create it again and say why;
- otherwise: a three-way diff per managed field (lmsctl.diff.decide) and per managed grade field.
For each assignment in state but no longer in the manifests: delete it, showing what student work
it holds (``protect`` makes that a plan error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsctl.addresses import Address, assignment_address, matches_targets
from lmsctl.diff import MISSING, Decision, decide, equal, is_set, normalize, to_wire
from lmsctl.errors import Diagnostic, PlanError, Severity, sort_diagnostics
from lmsctl.fields import (
    Resource,
    assignment_refusals,
    grade_refusals,
    grade_rounding,
    ignored_fields,
    is_cleared,
)
from lmsctl.lms import profile
from lmsctl.model import AssignmentSpec, DesiredState, GradeSpec, SectionSpec, SourcePos
from lmsctl.plan.model import (
    Action,
    Change,
    Conflict,
    ConflictReason,
    Consent,
    ConsentNeed,
    DeleteImpact,
    Drift,
    FieldChange,
    FieldReason,
    Plan,
    Reason,
    ResourceKind,
    StateFix,
    fingerprint,
)
from lmsctl.refresh import LiveState
from lmsctl.roster import Roster, resolve_ref
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot
from lmsctl.timeutil import normalize_api_datetime

REQUIRED_ON_CREATE = ("title", "description", "due_date")


def delete_impact(submissions: Mapping[str, Mapping[str, Any]] | None) -> DeleteImpact:
    subs = list((submissions or {}).values())
    return DeleteImpact(
        submissions=len(subs),
        turned_in=sum(1 for s in subs if s.get("state") == "submitted"),
        # a grade of 0 is left out of answers (x-omitempty): a returned submission is graded too
        graded=sum(
            1
            for s in subs
            if s.get("grade_points") is not None
            or s.get("grade") not in (None, "")
            or s.get("state") == "returned"
        ),
    )


def field_fingerprint(live: Mapping[str, Any], fields: list[str]) -> str:
    """Digest of the live values of ``fields`` (what apply re-checks before writing)."""
    return fingerprint({f: normalize(f, live.get(f)) for f in sorted(fields)})


def impact_fingerprint(impact: DeleteImpact) -> str:
    return fingerprint([impact.submissions, impact.turned_in, impact.graded])


@dataclass(frozen=True)
class PlanOptions:
    revert_drift: bool = False
    force: bool = False
    targets: tuple[Address, ...] = ()
    now: str = ""  # Clever-format UTC timestamp; "" = no past-date check


@dataclass
class _Acc:
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: list[StateFix] = field(default_factory=list)
    consents: list[ConsentNeed] = field(default_factory=list)
    diags: list[Diagnostic] = field(default_factory=list)


class PlanBuilder:
    """Builds a Plan from desired, state and live values."""

    def __init__(
        self,
        desired: DesiredState,
        snapshot: StateSnapshot,
        live: LiveState,
        options: PlanOptions | None = None,
        *,
        api_url: str = "",
        manifests_digest: str = "",
    ) -> None:
        self.desired = desired
        self.snapshot = snapshot
        self.live = live
        self.options = options or PlanOptions()
        self.api_url = api_url
        self.manifests_digest = manifests_digest
        self.lms_type = str(live.district.get("lms_type") or "")
        self.lms = profile(self.lms_type)
        self.ignored = ignored_fields(self.lms_type)
        self.rosters = {sid: Roster.from_users(sid, users) for sid, users in live.rosters.items()}
        self._acc = _Acc()
        self._warned: set[tuple[str, str]] = set()

    # -- entry point ---------------------------------------------------------------------------

    def build(self) -> Plan:
        self._ensure_district_ready()
        acc = self._acc
        desired_addresses: set[str] = set()
        moved_sources: set[str] = set()
        for section in self.desired.sections:
            for spec in section.assignments:
                desired_addresses.add(spec.address)
                if spec.moved_from:
                    moved_sources.add(f"{spec.section_id}/{spec.moved_from}")
                if matches_targets(spec.address, list(self.options.targets)):
                    self._assignment(section, spec)
        self._deletes(desired_addresses | moved_sources)
        self._check_targets(desired_addresses | moved_sources)
        self._check_adopted_in_google_classroom()
        errors = [d for d in acc.diags if d.severity is Severity.ERROR]
        if errors:
            raise PlanError(
                f"the plan cannot be made: {len(errors)} error(s)",
                diagnostics=sort_diagnostics(acc.diags),
            )
        for d in sort_diagnostics(acc.diags):
            acc.warnings.append(d.format())
        changes = sorted(
            acc.changes,
            key=lambda c: (c.action.phase, c.section_id, c.key, c.student or ""),
        )
        return Plan(
            changes=tuple(changes),
            drift=tuple(sorted(acc.drift, key=lambda d: (d.address, d.field))),
            conflicts=tuple(sorted(acc.conflicts, key=lambda c: (c.address, c.field))),
            warnings=tuple(acc.warnings),
            state_fixes=tuple(acc.fixes),
            consents=tuple(acc.consents),
            lineage=self.snapshot.lineage,
            serial=self.snapshot.serial,
            api_url=self.api_url,
            district_id=str(self.live.district.get("id") or ""),
            lms_type=self.lms_type,
            manifests_digest=self.manifests_digest,
            created=self.options.now,
            options={
                "revert_drift": self.options.revert_drift,
                "force": self.options.force,
                "targets": [str(t) for t in self.options.targets],
            },
        )

    # -- checks ----------------------------------------------------------------------------------

    def _targeted(self, address: str) -> bool:
        """True when no --target is given, or ``address`` falls under one (a grade target
        selects its assignment too, but not the assignment's other grades)."""
        targets = list(self.options.targets)
        return not targets or matches_targets(address, targets)

    def _check_targets(self, desired: set[str]) -> None:
        known = desired | set(self.snapshot.resources)
        for target in self.options.targets:
            if not any(matches_targets(a, [target]) for a in known):
                # a typo would otherwise print "No changes" and exit 0
                self._diag(
                    SourcePos("", 0, 0),
                    f"--target {target}:",
                    "matches no assignment in the manifests or in state",
                    "check the section id and assignment key; lmsctl state list shows "
                    "tracked addresses",
                )

    def _check_adopted_in_google_classroom(self) -> None:
        """Google Classroom lets only the app (Cloud project) that created a coursework item
        change it, grade it or delete it (PERMISSION_DENIED otherwise): an assignment adopted
        with ``lmsctl import`` was made by someone else, so any write to it is a plan error."""
        if not self.lms.creator_only_writes:
            return
        for change in self._acc.changes:
            if change.action not in (Action.UPDATE, Action.GRADE, Action.DELETE):
                continue
            record = self.snapshot.resources.get(assignment_address(change.section_id, change.key))
            if record is None or not record.adopted:
                continue
            verb = {Action.UPDATE: "change", Action.GRADE: "grade", Action.DELETE: "delete"}
            self._diag(
                _source_pos(change.source),
                f"{change.address}:",
                f"{self.lms.name} lets only the app that created an assignment "
                f"{verb[change.action]} it, and this one was adopted with lmsctl import "
                "(another app made it)",
                f"make the change in {self.lms.name}, then leave the manifest as the LMS has it "
                "(lmsctl pull writes it back); or create the assignment with lmsctl instead",
            )

    def _ensure_district_ready(self) -> None:
        district = self.live.district
        state = district.get("lms_state")
        if state != "success":
            name = district.get("name") or district.get("id") or "the district"
            raise PlanError(
                f"{name} is not ready for LMS writes: lms_state is {state!r}, not 'success'",
                hint="Clever must finish connecting and matching the LMS first; "
                "ask the district's Clever admin, then run plan again",
            )

    def _diag(
        self, pos: SourcePos, where: str, message: str, hint: str = "", *, warn: bool = False
    ) -> None:
        self._acc.diags.append(
            Diagnostic(
                pos.file,
                pos.line,
                pos.col,
                severity=Severity.WARNING if warn else Severity.ERROR,
                where=where,
                message=message,
                hint=hint,
                rule="plan",
            )
        )

    # -- desired values --------------------------------------------------------------------------

    def _resolve(
        self, section: SectionSpec, spec: AssignmentSpec
    ) -> tuple[dict[str, Any], list[tuple[GradeSpec, str]], dict[str, str]]:
        """Desired wire fields (assignee refs resolved, ignored fields dropped), resolved grades."""
        roster = self.rosters.get(section.section_id)
        fields: dict[str, Any] = {}
        for name, value in spec.fields.items():
            if name in self.ignored:
                key = (spec.pos_of(name).file, name)
                if key not in self._warned:
                    self._warned.add(key)
                    lms = self.lms.name
                    self._diag(
                        spec.pos_of(name),
                        f"{spec.address}:",
                        f"{lms} ignores {name}; lmsctl does not manage it for this district",
                        "remove it from the manifests to silence this warning",
                        warn=True,
                    )
                continue
            fields[name] = to_wire(name, value)
        if spec.assignee_refs:
            ids: list[str] = []
            for ref in spec.assignee_refs:
                uid, diag = resolve_ref(
                    ref,
                    roster,
                    spec.pos_of("assignee_ids"),
                    f"{spec.address}: assignee_ids:",
                )
                if diag is not None:
                    self._acc.diags.append(diag)
                elif uid is not None:
                    ids.append(uid)
            fields["assignee_ids"] = sorted(set(ids))
        for refusal in assignment_refusals(self.lms_type, fields):
            self._diag(
                spec.pos_of(refusal.field),
                f"{spec.address}: {refusal.field}:",
                refusal.message,
                refusal.hint,
            )
        grades: list[tuple[GradeSpec, str]] = []
        names: dict[str, str] = dict(roster.names) if roster else {}
        seen: dict[str, GradeSpec] = {}
        for grade in spec.grades:
            uid, diag = resolve_ref(
                grade.student, roster, grade.pos, f"{spec.address}: grades: {grade.student.raw}:"
            )
            if diag is not None:
                self._acc.diags.append(diag)
                continue
            assert uid is not None
            if uid in seen:
                other = seen[uid]
                self._diag(
                    grade.pos,
                    f"{spec.address}: grades: {grade.student.raw}:",
                    f"is the same student as {other.student.raw} at {other.pos}",
                    "keep one entry per student",
                )
                continue
            seen[uid] = grade
            grades.append((grade, uid))
            self._check_grade_rules(spec, grade)
        if (
            "points_possible" in self.lms.zero_reads_unset
            and fields.get("points_possible") == 0
            and any(g.fields.get("grade_points") is not None for g, _ in grades)
        ):
            self._diag(
                spec.pos_of("points_possible"),
                f"{spec.address}: points_possible:",
                f"0 makes the assignment ungraded in {self.lms.name} (its maxPoints), yet "
                "grades set grade_points",
                "set points_possible above 0 to grade it in points",
                warn=True,
            )
        return fields, grades, names

    def _check_grade_rules(self, spec: AssignmentSpec, grade: GradeSpec) -> None:
        """What the district's LMS refuses or changes in a grade, at the manifest line."""
        where = f"{spec.address}: grades: {grade.student.raw}:"
        for refusal in grade_refusals(self.lms_type, grade.fields):
            pos = grade.field_pos.get(refusal.field, grade.pos)
            self._diag(pos, f"{where} {refusal.field}:", refusal.message, refusal.hint)
        grader = grade.fields.get("grader_id")
        teachers = self.live.teachers.get(spec.section_id)
        if grader is not None and teachers is not None and grader not in teachers:
            # Clever: 400 NOT_FOUND: Person with id clever:<id> not found for this integration
            self._diag(
                grade.field_pos.get("grader_id", grade.pos),
                f"{where} grader_id:",
                f"{grader} is not a teacher of section {spec.section_id}; Clever refuses the "
                "grade ('Person with id clever:... not found for this integration')",
                "use the Clever id of one of the section's teachers, or remove grader_id",
            )
        for name, value in grade.fields.items():
            stored = grade_rounding(self.lms_type, name, value)
            if stored is not None:
                lms = self.lms.name
                shown = int(stored) if stored.is_integer() else stored
                self._diag(
                    grade.field_pos.get(name, grade.pos),
                    f"{where} {name}:",
                    f"{lms} keeps grades to 2 decimals: {value} will be rounded (to {shown} "
                    "or its neighbour)",
                    f"write at most 2 decimals, e.g. {shown}",
                    warn=True,
                )

    def _check_dates(
        self,
        spec: AssignmentSpec,
        fields: Mapping[str, Any],
        names: list[str],
        *,
        creating: bool = False,
    ) -> None:
        now = self.options.now
        if not now or "due_date" not in names:
            return
        due = fields.get("due_date")
        if isinstance(due, str) and normalize_api_datetime(due) <= normalize_api_datetime(now):  # type: ignore[operator]
            self._diag(
                spec.pos_of("due_date"),
                f"{spec.address}: due_date:",
                f"{due} is in the past; Clever refuses past due dates",
                "set a future due_date (Clever needs one to create the assignment)"
                if creating
                else "set a future due_date, or leave the field out to stop managing it",
            )

    # -- one assignment --------------------------------------------------------------------------

    def _assignment(self, section: SectionSpec, spec: AssignmentSpec) -> None:
        acc = self._acc
        address = spec.address
        fields, grades, names = self._resolve(section, spec)
        state_address = address
        record = self.snapshot.resources.get(address)
        if record is None and spec.moved_from:
            old = f"{spec.section_id}/{spec.moved_from}"
            old_record = self.snapshot.resources.get(old)
            if old_record is not None:
                record = old_record
                state_address = old
                acc.changes.append(
                    Change(
                        address=address,
                        action=Action.MOVE,
                        kind=ResourceKind.ASSIGNMENT,
                        section_id=spec.section_id,
                        key=spec.key,
                        name=str(fields.get("title") or spec.key),
                        section_name=section.label,
                        assignment_id=old_record.assignment_id,
                        reasons=(Reason.MOVED_FROM,),
                        source=str(spec.pos_of("moved_from")),
                        moved_from=old,
                    )
                )
        elif record is not None and spec.moved_from:
            old = f"{spec.section_id}/{spec.moved_from}"
            if old in self.snapshot.resources:
                # both tracked: the old one would be neither moved nor deleted, silently
                self._diag(
                    spec.pos_of("moved_from"),
                    f"{spec.address}: moved_from:",
                    f"{old} cannot move here: {spec.address} is already tracked in state",
                    f"remove moved_from to delete {old} from the LMS, or forget it "
                    f"without deleting: lmsctl state rm {old}",
                )
        title = str(fields.get("title") or spec.key)
        if record is None:
            self._create(section, spec, fields, grades, names, reason=Reason.NOT_IN_LMS)
            return
        if getattr(record, "protect", False) != spec.protect:
            acc.fixes.append(StateFix(address=address, student=None, protect=spec.protect))
        if record.status is not ResourceStatus.CREATED or not record.assignment_id:
            acc.changes.append(
                _unknown_change(
                    record, address, title, (Reason.OUTCOME_UNKNOWN,), section.label, str(spec.pos)
                )
            )
            return
        if state_address not in self.live.assignments:
            raise PlanError(f"internal: {state_address} was not refreshed")
        live = self.live.assignments[state_address]
        if live is None:
            self._create(
                section,
                spec,
                fields,
                grades,
                names,
                reason=Reason.DELETED_IN_LMS,
            )
            return
        self._update(section, spec, record, live, fields, title)
        added = set()
        live_ids = set(live.get("assignee_ids") or [])
        if "assignee_ids" in fields:
            added = set(fields["assignee_ids"]) - live_ids
        if fields.get("assignee_mode") == "all" and live.get("assignee_mode") == "individuals":
            # the update assigns the whole section: its graded students get submissions then
            added = {uid for _, uid in grades} - live_ids
        self._grades(section, spec, record, state_address, grades, names, title, added)

    def _create(
        self,
        section: SectionSpec,
        spec: AssignmentSpec,
        fields: dict[str, Any],
        grades: list[tuple[GradeSpec, str]],
        names: dict[str, str],
        *,
        reason: Reason,
    ) -> None:
        missing = [f for f in REQUIRED_ON_CREATE if f not in fields]
        if missing:
            self._diag(
                spec.pos,
                f"{spec.address}:",
                f"missing {', '.join(missing)}: Clever requires title, description and due_date "
                "to create an assignment",
                "add them to the assignment or to the section's defaults",
            )
        if "assignee_mode" not in fields:
            self._diag(
                spec.pos,
                f"{spec.address}:",
                "missing assignee_mode: Clever refuses to create an assignment without it "
                "('no valid users found')",
                "add assignee_mode: all (or individuals with assignee_ids), here or in defaults",
            )
        self._check_dates(spec, fields, list(fields), creating=True)
        title = str(fields.get("title") or spec.key)
        self._acc.changes.append(
            Change(
                address=spec.address,
                action=Action.CREATE,
                kind=ResourceKind.ASSIGNMENT,
                section_id=spec.section_id,
                key=spec.key,
                name=title,
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
            self._acc.fixes.append(StateFix(address=spec.address, student=None, protect=True))
        assignees = fields.get("assignee_ids")
        only: set[str] | None = None
        if fields.get("assignee_mode") == "individuals" and isinstance(assignees, list | tuple):
            only = {str(a) for a in assignees}
        for grade, uid in grades:
            if not self._targeted(spec.grade_address(uid)):
                continue
            if only is not None and uid not in only:
                # Clever creates submissions for the assignees only: the grade would fail (404)
                self._diag(
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
            self._acc.changes.append(
                Change(
                    address=spec.grade_address(uid),
                    action=Action.GRADE,
                    kind=ResourceKind.GRADE,
                    section_id=spec.section_id,
                    key=spec.key,
                    student=uid,
                    name=names.get(uid) or uid,
                    section_name=section.label,
                    fields=tuple(
                        FieldChange(f, None, v, why=FieldReason.NEW) for f, v in body.items()
                    ),
                    body=body,
                    reasons=(Reason.GRADE,),
                    source=str(grade.pos),
                    depends_on=spec.address,
                )
            )

    def _update(
        self,
        section: SectionSpec,
        spec: AssignmentSpec,
        record: ResourceRecord,
        live: Mapping[str, Any],
        fields: dict[str, Any],
        title: str,
    ) -> None:
        acc = self._acc
        changed: list[FieldChange] = []
        fix_set: dict[str, Any] = {}
        unchanged = 0
        clear: list[str] = []
        for name, want in fields.items():
            recorded = record.applied.get(name, MISSING)
            have = live.get(name)
            applied = self._with_intent(name, recorded, record.intended.get(name), have)
            fc = self._field(
                spec.address,
                title,
                name,
                want,
                applied,
                have,
                str(spec.pos_of(name)),
                grade=False,
            )
            if fc is None:
                unchanged += 1
                stale = recorded is MISSING or not self._same(name, recorded, want)
                if stale and self._same(name, want, have):
                    fix_set[name] = want
                if name in record.intended:
                    clear.append(name)
            else:
                changed.append(fc)  # its write records (and clears) the intent
        drop = tuple(sorted(f for f in record.applied if f not in fields))
        clear.extend(f for f in sorted(record.intended) if f not in fields)
        if fix_set or drop or clear or record.deleting:
            acc.fixes.append(
                StateFix(
                    address=spec.address,
                    student=None,
                    set_fields=fix_set,
                    drop_fields=drop,
                    clear_intents=tuple(clear),
                    clear_delete=record.deleting,  # it is still live: the DELETE never happened
                )
            )
        if not changed:
            return
        if any(fc.field == "due_date" for fc in changed):
            self._check_dates(spec, fields, ["due_date"])
        names = [fc.field for fc in changed]
        acc.changes.append(
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
                unchanged=unchanged,
                body={fc.field: fc.after for fc in changed},
                reasons=_reasons(changed),
                source=str(spec.pos_of(names[0])),
                fingerprint=field_fingerprint(live, names),
            )
        )

    def _field(
        self,
        address: str,
        name: str,
        field_name: str,
        want: Any,
        applied: Any,
        have: Any,
        source: str,
        *,
        grade: bool,
    ) -> FieldChange | None:
        """Decide one field; record drift/conflict; return the change to make, if any."""
        acc = self._acc
        resource = Resource.GRADE if grade else Resource.ASSIGNMENT
        decision = decide(field_name, want, applied, have, self.lms_type, resource)
        shown_applied = None if applied is MISSING else applied
        if decision is Decision.IN_SYNC:
            return None
        if decision is Decision.UPDATE:
            return FieldChange(field_name, have, want, shown_applied, FieldReason.UPDATE)
        if decision is Decision.NEWLY_MANAGED:
            if grade and is_set(field_name, have):
                return self._conflict(
                    address,
                    name,
                    field_name,
                    want,
                    shown_applied,
                    have,
                    source,
                    ConflictReason.NEVER_APPLIED,
                )
            return FieldChange(field_name, have, want, shown_applied, FieldReason.NEWLY_MANAGED)
        if decision is Decision.DRIFT:
            revert = self.options.revert_drift or self.desired.config.policies.on_drift == "revert"
            acc.drift.append(
                Drift(address, field_name, shown_applied, have, want, name, revert, source)
            )
            if revert:
                return FieldChange(field_name, have, want, shown_applied, FieldReason.REVERT_DRIFT)
            return None
        return self._conflict(
            address,
            name,
            field_name,
            want,
            shown_applied,
            have,
            source,
            ConflictReason.BOTH_CHANGED,
        )

    def _with_intent(
        self, name: str, recorded: Any, sent: list[Any] | None, live: Any, *, grade: bool = False
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
        if sent and any(self._same(name, value, live, grade=grade) for value in sent):
            return live
        return recorded

    def _same(self, name: str, a: Any, b: Any, *, grade: bool = False) -> bool:
        resource = Resource.GRADE if grade else Resource.ASSIGNMENT
        return equal(name, a, b, self.lms_type, resource)

    def _conflict(
        self,
        address: str,
        name: str,
        field_name: str,
        want: Any,
        applied: Any,
        have: Any,
        source: str,
        why: ConflictReason,
    ) -> FieldChange | None:
        forced = self.options.force
        self._acc.conflicts.append(
            Conflict(address, field_name, applied, have, want, name, why, source, forced)
        )
        if forced:
            return FieldChange(field_name, have, want, applied, FieldReason.FORCED)
        return None

    def _grades(
        self,
        section: SectionSpec,
        spec: AssignmentSpec,
        record: ResourceRecord,
        state_address: str,
        grades: list[tuple[GradeSpec, str]],
        names: dict[str, str],
        title: str,
        newly_assigned: set[str],
    ) -> None:
        acc = self._acc
        subs = self.live.submissions.get(state_address)
        wanted_students = set()
        for grade, uid in grades:
            wanted_students.add(uid)
            address = spec.grade_address(uid)
            if not self._targeted(address):
                continue
            sub = (subs or {}).get(uid)
            if sub is None and uid not in newly_assigned:
                self._diag(
                    grade.pos,
                    f"{spec.address}: grades: {grade.student.raw}:",
                    f"student {uid} has no submission for this assignment "
                    "(not enrolled in the section, or not one of its assignees)",
                    "remove the grade, or add the student to assignee_ids",
                )
                continue
            live_sub: Mapping[str, Any] = sub or {}
            applied_grade = record.grades.get(uid) or {}
            sent = record.intended_grades.get(uid) or {}
            changed: list[FieldChange] = []
            fix_set: dict[str, Any] = {}
            clear: list[str] = []
            unchanged = 0
            for name, value in grade.fields.items():
                want = to_wire(name, value, Resource.GRADE)
                recorded = applied_grade.get(name, MISSING)
                applied = self._with_intent(
                    name, recorded, sent.get(name), live_sub.get(name), grade=True
                )
                fc = self._field(
                    address,
                    names.get(uid) or uid,
                    name,
                    want,
                    applied,
                    live_sub.get(name),
                    str(grade.field_pos.get(name, grade.pos)),
                    grade=True,
                )
                if fc is None:
                    unchanged += 1
                    stale = recorded is MISSING or not self._same(name, recorded, want, grade=True)
                    if stale and self._same(name, want, live_sub.get(name), grade=True):
                        fix_set[name] = want
                    if name in sent:
                        clear.append(name)
                else:
                    changed.append(fc)  # its write records (and clears) the intent
            drop = tuple(sorted(f for f in applied_grade if f not in grade.fields))
            clear.extend(f for f in sorted(sent) if f not in grade.fields)
            if fix_set or drop or clear:
                acc.fixes.append(
                    StateFix(
                        address=spec.address,
                        student=uid,
                        set_fields=fix_set,
                        drop_fields=drop,
                        clear_intents=tuple(clear),
                    )
                )
            if not changed:
                continue
            acc.changes.append(
                Change(
                    address=address,
                    action=Action.GRADE,
                    kind=ResourceKind.GRADE,
                    section_id=spec.section_id,
                    key=spec.key,
                    student=uid,
                    name=names.get(uid) or uid,
                    section_name=section.label,
                    assignment_id=record.assignment_id,
                    fields=tuple(changed),
                    unchanged=unchanged,
                    body={fc.field: fc.after for fc in changed},
                    reasons=_reasons(changed, Reason.GRADE),
                    source=str(grade.pos),
                    # a student the update assigns has no submission to re-check yet
                    fingerprint=None
                    if sub is None
                    else field_fingerprint(live_sub, [fc.field for fc in changed]),
                    depends_on=spec.address if uid in newly_assigned else None,
                )
            )
        for uid in sorted(set(record.grades) | set(record.intended_grades)):
            applied_grade = record.grades.get(uid) or {}
            sent = record.intended_grades.get(uid) or {}
            if uid not in wanted_students and (applied_grade or sent):
                acc.fixes.append(
                    StateFix(
                        address=spec.address,
                        student=uid,
                        drop_fields=tuple(sorted(applied_grade)),
                        why=Reason.NO_LONGER_MANAGED,
                        clear_intents=tuple(sorted(sent)),
                    )
                )

    # -- deletes ---------------------------------------------------------------------------------

    def _deletes(self, keep: set[str]) -> None:
        acc = self._acc
        tracked: Counter[str] = Counter()
        deleting: Counter[str] = Counter()
        targets = list(self.options.targets)
        for address, record in sorted(self.snapshot.resources.items()):
            tracked[record.section_id] += 1
            if address in keep or not matches_targets(address, targets):
                continue
            title = str(record.applied.get("title") or record.key)
            if record.status is not ResourceStatus.CREATED or not record.assignment_id:
                why = (Reason.REMOVED_FROM_MANIFESTS, Reason.OUTCOME_UNKNOWN)
                acc.changes.append(_unknown_change(record, address, title, why))
                continue
            live = self.live.assignments.get(address)
            if live is None:
                acc.fixes.append(
                    StateFix(
                        address=address,
                        student=None,
                        forget=True,
                        why=Reason.GONE_FROM_LMS,
                    )
                )
                continue
            title = str(live.get("title") or title)
            if getattr(record, "protect", False):
                self._diag(
                    SourcePos("", 0, 0),
                    f"{address}:",
                    f"{title!r} is protected (protect: true) and would be deleted: it is in state "
                    "but no longer in the manifests",
                    f"restore it to the manifests, or stop managing it without deleting: "
                    f"lmsctl state rm {address}",
                )
                continue
            impact = delete_impact(self.live.submissions.get(address))
            deleting[record.section_id] += 1
            acc.changes.append(
                Change(
                    address=address,
                    action=Action.DELETE,
                    kind=ResourceKind.ASSIGNMENT,
                    section_id=record.section_id,
                    key=record.key,
                    name=title,
                    assignment_id=record.assignment_id,
                    reasons=(Reason.REMOVED_FROM_MANIFESTS,),
                    fingerprint=impact_fingerprint(impact),
                    impact=impact,
                )
            )
            if impact.holds_student_work:
                acc.consents.append(ConsentNeed(Consent.DESTROY_SUBMISSIONS, address, impact))
        fraction = self.desired.config.policies.max_delete_fraction
        for section_id, n in sorted(deleting.items()):
            if n > fraction * tracked[section_id]:
                acc.consents.append(
                    ConsentNeed(
                        Consent.MASS_DELETE, section_id, deleting=n, tracked=tracked[section_id]
                    )
                )


def _unknown_change(
    record: ResourceRecord,
    address: str,
    title: str,
    reasons: tuple[Reason, ...],
    section_name: str = "",
    source: str = "",
) -> Change:
    """A ``?`` entry: a create whose outcome is unknown; nothing is done until it is resolved."""
    return Change(
        address=address,
        action=Action.UNKNOWN,
        kind=ResourceKind.ASSIGNMENT,
        section_id=record.section_id,
        key=address.rsplit("/", 1)[1],
        name=title,
        section_name=section_name,
        reasons=reasons,
        source=source,
    )


def _reasons(changed: list[FieldChange], base: Reason | None = None) -> tuple[Reason, ...]:
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


def _source_pos(source: str) -> SourcePos:
    """A change's ``file:line:col`` back as a position (empty when it has none, e.g. a delete)."""
    file, _, rest = source.rpartition(":")
    file, _, line = file.rpartition(":")
    if file and line.isdigit() and rest.isdigit():
        return SourcePos(file, int(line), int(rest))
    return SourcePos("", 0, 0)
