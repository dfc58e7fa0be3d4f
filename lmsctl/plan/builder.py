"""PlanBuilder: (DesiredState, StateSnapshot, LiveState, PlanOptions) -> Plan.

Pure: no API calls and no I/O, so planner tests are data (tests/cases/plan/<case>/).

For each assignment in the manifests:
- not in state: create it (and set its grades once it exists);
- in state with an unknown create outcome: show ``?`` with the two ways out, do nothing;
- in state but 404 in the LMS: it was deleted there; create it again and say why;
- otherwise: a three-way diff per managed field (lmsctl.plan.fielddiff) and per managed grade
  field.
For each assignment in state but no longer in the manifests: delete it, showing what student work
it holds (``protect`` makes that a plan error; lmsctl.plan.deletes).

The parts: lmsctl.plan.desired resolves the desired values, lmsctl.plan.changes makes the
creates, updates and grades, lmsctl.plan.deletes the deletes; this module walks the manifests,
checks the whole plan and assembles it.
"""

from __future__ import annotations

from lmsctl.addresses import assignment_address, matches_targets
from lmsctl.errors import PlanError, Severity, sort_diagnostics
from lmsctl.heap import collector_paused
from lmsctl.model import AssignmentSpec, DesiredState, SectionSpec, SourcePos
from lmsctl.plan.changes import ChangeMaker
from lmsctl.plan.context import PlanContext, PlanOptions
from lmsctl.plan.deletes import plan_deletes, unknown_change
from lmsctl.plan.desired import DesiredResolver
from lmsctl.plan.model import Action, Change, Plan, Reason, ResourceKind, StateFix
from lmsctl.refresh import LiveState
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot


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
        self.ctx = PlanContext(desired, snapshot, live, options or PlanOptions())
        self.desired = desired
        self.snapshot = snapshot
        self.live = live
        self.options = self.ctx.options
        self.api_url = api_url
        self.manifests_digest = manifests_digest
        self.lms_type = self.ctx.lms_type
        self.lms = self.ctx.lms
        self.findings = self.ctx.findings
        self.resolver = DesiredResolver(self.ctx)
        self.changes = ChangeMaker(self.ctx, self.resolver)

    # -- entry point ---------------------------------------------------------------------------

    def build(self) -> Plan:
        # a plan of 100k grades makes a few objects per grade, none in a cycle: the collector's
        # full passes would walk the manifests, state and live values each time (0.9 s when
        # every grade changes)
        with collector_paused():
            return self._build()

    def _build(self) -> Plan:
        self._ensure_district_ready()
        found = self.findings
        desired_addresses: set[str] = set()
        moved_sources: set[str] = set()
        for section in self.desired.sections:
            for spec in section.assignments:
                desired_addresses.add(spec.address)
                if spec.moved_from:
                    moved_sources.add(f"{spec.section_id}/{spec.moved_from}")
                if matches_targets(spec.address, list(self.options.targets)):
                    self._assignment(section, spec)
        plan_deletes(self.ctx, desired_addresses | moved_sources)
        self._check_targets(desired_addresses | moved_sources)
        self._check_creator_only_writes()
        errors = [d for d in found.diags if d.severity is Severity.ERROR]
        if errors:
            raise PlanError(
                f"the plan cannot be made: {len(errors)} error(s)",
                diagnostics=sort_diagnostics(found.diags),
            )
        for d in sort_diagnostics(found.diags):
            found.warnings.append(d.format())
        return Plan(
            changes=_in_order(found.changes),
            drift=tuple(sorted(found.drift, key=lambda d: (d.address, d.field))),
            conflicts=tuple(sorted(found.conflicts, key=lambda c: (c.address, c.field))),
            warnings=tuple(found.warnings),
            state_fixes=tuple(found.fixes),
            consents=tuple(found.consents),
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

    def _check_targets(self, desired: set[str]) -> None:
        known = desired | set(self.snapshot.resources)
        for target in self.options.targets:
            if not any(matches_targets(a, [target]) for a in known):
                # a typo would otherwise print "No changes" and exit 0
                self.findings.diag(
                    SourcePos("", 0, 0),
                    f"--target {target}:",
                    "matches no assignment in the manifests or in state",
                    "check the section id and assignment key; lmsctl state list shows "
                    "tracked addresses",
                )

    def _check_creator_only_writes(self) -> None:
        """An LMS whose profile says ``creator_only_writes`` (Google Classroom) lets only the app
        (Cloud project) that created a coursework item change it, grade it or delete it
        (PERMISSION_DENIED otherwise): an assignment adopted with ``lmsctl import`` was made by
        someone else, so any write to it is a plan error."""
        if not self.lms.creator_only_writes:
            return
        verb = {Action.UPDATE: "change", Action.GRADE: "grade", Action.DELETE: "delete"}
        for change in self.findings.changes:
            if change.action not in verb:
                continue
            record = self.snapshot.resources.get(assignment_address(change.section_id, change.key))
            if record is None or not record.adopted:
                continue
            self.findings.diag(
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

    # -- one assignment --------------------------------------------------------------------------

    def _assignment(self, section: SectionSpec, spec: AssignmentSpec) -> None:
        desired = self.resolver.resolve(section, spec)
        record, state_address = self._tracked(section, spec, desired.title(spec))
        if record is None:
            self.changes.create(section, spec, desired, reason=Reason.NOT_IN_LMS)
            return
        if record.protect != spec.protect:
            self.findings.fixes.append(
                StateFix(address=spec.address, student=None, protect=spec.protect)
            )
        if record.status is not ResourceStatus.CREATED or not record.assignment_id:
            self.findings.changes.append(
                unknown_change(
                    record,
                    spec.address,
                    desired.title(spec),
                    (Reason.OUTCOME_UNKNOWN,),
                    section.label,
                    str(spec.pos),
                )
            )
            return
        if state_address not in self.live.assignments:
            raise PlanError(f"internal: {state_address} was not refreshed")
        live = self.live.assignments[state_address]
        if live is None:
            self.changes.create(section, spec, desired, reason=Reason.DELETED_IN_LMS)
            return
        self.changes.update(section, spec, record, live, desired)
        fields = desired.fields
        added = set()
        live_ids = set(live.get("assignee_ids") or [])
        if "assignee_ids" in fields:
            added = set(fields["assignee_ids"]) - live_ids
        if fields.get("assignee_mode") == "all" and live.get("assignee_mode") == "individuals":
            # the update assigns the whole section: its graded students get submissions then
            added = {uid for _, uid in desired.grades} - live_ids
        self.changes.grades(section, spec, record, state_address, desired, added)

    def _tracked(
        self, section: SectionSpec, spec: AssignmentSpec, title: str
    ) -> tuple[ResourceRecord | None, str]:
        """The state record of an assignment and its address in state (its old address when
        the manifests rename its key with ``moved_from``: the move is a change of its own)."""
        record = self.snapshot.resources.get(spec.address)
        if not spec.moved_from:
            return record, spec.address
        old = f"{spec.section_id}/{spec.moved_from}"
        if record is not None:
            if old in self.snapshot.resources:
                # both tracked: the old one would be neither moved nor deleted, silently
                self.findings.diag(
                    spec.pos_of("moved_from"),
                    f"{spec.address}: moved_from:",
                    f"{old} cannot move here: {spec.address} is already tracked in state",
                    f"remove moved_from to delete {old} from the LMS, or forget it "
                    f"without deleting: lmsctl state rm {old}",
                )
            return record, spec.address
        old_record = self.snapshot.resources.get(old)
        if old_record is None:
            return None, spec.address
        self.findings.changes.append(
            Change(
                address=spec.address,
                action=Action.MOVE,
                kind=ResourceKind.ASSIGNMENT,
                section_id=spec.section_id,
                key=spec.key,
                name=title,
                section_name=section.label,
                assignment_id=old_record.assignment_id,
                reasons=(Reason.MOVED_FROM,),
                source=str(spec.pos_of("moved_from")),
                moved_from=old,
            )
        )
        return old_record, old


def _in_order(changes: list[Change]) -> tuple[Change, ...]:
    """``sorted(changes, key=lambda c: (c.action.phase, c.section_id, c.key, c.student or ""))``
    without a key of its own for each change (a plan of 100k grade changes held 7 MB of keys
    at its peak): the changes of each assignment and phase, in the order of those, each batch
    sorted by student (both sorts are stable, as the one sort was)."""
    batches: dict[tuple[int, str, str], list[Change]] = {}
    phase = _PHASE
    for change in changes:
        at = (phase[change.action], change.section_id, change.key)
        batch = batches.get(at)
        if batch is None:
            batch = batches[at] = []
        batch.append(change)
    out: list[Change] = []
    for at in sorted(batches):
        batch = batches[at]
        if len(batch) > 1:
            batch.sort(key=_student)
        out.extend(batch)
    return tuple(out)


#: each action's phase (``Action.phase``, read without an enum property per change)
_PHASE = {action: action.phase for action in Action}


def _student(change: Change) -> str:
    return change.student or ""


def _source_pos(source: str) -> SourcePos:
    """A change's ``file:line:col`` back as a position (empty when it has none, e.g. a delete)."""
    file, _, rest = source.rpartition(":")
    file, _, line = file.rpartition(":")
    if file and line.isdigit() and rest.isdigit():
        return SourcePos(file, int(line), int(rest))
    return SourcePos("", 0, 0)
