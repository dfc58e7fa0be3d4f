"""The deletes of a plan: assignments in state that the manifests no longer have.

Each delete shows the student work it destroys (its consent), ``protect`` makes it a plan
error, and deleting most of a section's tracked assignments at once needs its own consent.
"""

from __future__ import annotations

from collections import Counter

from lmsctl.addresses import Address, matches_targets
from lmsctl.model import SourcePos
from lmsctl.plan.context import PlanContext
from lmsctl.plan.fingerprints import delete_impact, impact_fingerprint
from lmsctl.plan.model import (
    Action,
    Change,
    Consent,
    ConsentNeed,
    Reason,
    ResourceKind,
    StateFix,
)
from lmsctl.state.model import ResourceRecord, ResourceStatus


def plan_deletes(ctx: PlanContext, keep: set[str]) -> None:
    """Delete every tracked assignment not in ``keep`` (within the targets)."""
    findings = ctx.findings
    tracked: Counter[str] = Counter()
    deleting: Counter[str] = Counter()
    targets = list(ctx.options.targets)
    for address, record in sorted(ctx.snapshot.resources.items()):
        tracked[record.section_id] += 1
        if address in keep or not matches_targets(address, targets):
            continue
        title = str(record.applied.get("title") or record.key)
        if record.status is not ResourceStatus.CREATED or not record.assignment_id:
            why = (Reason.REMOVED_FROM_MANIFESTS, Reason.OUTCOME_UNKNOWN)
            findings.changes.append(unknown_change(record, address, title, why))
            continue
        live = ctx.live.assignments.get(address)
        if live is None:
            findings.fixes.append(
                StateFix(address=address, student=None, forget=True, why=Reason.GONE_FROM_LMS)
            )
            continue
        title = str(live.get("title") or title)
        if record.protect:
            findings.diag(
                SourcePos("", 0, 0),
                f"{address}:",
                f"{title!r} is protected (protect: true) and would be deleted: it is in state "
                "but no longer in the manifests",
                f"restore it to the manifests, or stop managing it without deleting: "
                f"lmsctl state rm {address}",
            )
            continue
        impact = delete_impact(ctx.live.submissions.get(address))
        deleting[record.section_id] += 1
        findings.changes.append(
            Change(
                address=Address.of(address),
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
            findings.consents.append(ConsentNeed(Consent.DESTROY_SUBMISSIONS, address, impact))
    fraction = ctx.desired.config.policies.max_delete_fraction
    for section_id, n in sorted(deleting.items()):
        if n > fraction * tracked[section_id]:
            findings.consents.append(
                ConsentNeed(
                    Consent.MASS_DELETE, section_id, deleting=n, tracked=tracked[section_id]
                )
            )


def unknown_change(
    record: ResourceRecord,
    address: str,
    title: str,
    reasons: tuple[Reason, ...],
    section_name: str = "",
    source: str = "",
) -> Change:
    """A ``?`` entry: a create whose outcome is unknown; nothing is done until it is resolved."""
    return Change(
        address=Address.of(address),
        action=Action.UNKNOWN,
        kind=ResourceKind.ASSIGNMENT,
        section_id=record.section_id,
        key=address.rsplit("/", 1)[1],
        name=title,
        section_name=section_name,
        reasons=reasons,
        source=source,
    )
