"""What ``lmsctl state list|show|rm|mv`` do to a snapshot (no I/O, no click).

Each operation takes a snapshot and parsed addresses, checks everything before it changes
anything (all or nothing), changes the snapshot in place, and returns a value describing what it
did for the CLI to render. None of them touches the LMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from lmsctl.addresses import Address
from lmsctl.errors import StateError
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot


@dataclass(frozen=True)
class ResourceRow:
    """One line of ``state list``."""

    address: str
    status: ResourceStatus
    assignment_id: str | None
    title: str | None
    grades: int
    updated_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status.value,
            "assignment_id": self.assignment_id,
            "title": self.title,
            "grades": self.grades,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Removed:
    """One address ``state rm`` forgot."""

    address: str
    kind: str  # "assignment" | "grade"
    assignment_id: str | None
    status: ResourceStatus
    grades: int = 0  # for an assignment: how many students' grades were forgotten with it


@dataclass(frozen=True)
class Moved:
    """What ``state mv`` did."""

    old: str
    new: str
    assignment_id: str | None
    status: ResourceStatus


def list_resources(snapshot: StateSnapshot) -> list[ResourceRow]:
    """Every tracked assignment, in address order."""
    rows = []
    for address in sorted(snapshot.resources):
        record = snapshot.resources[address]
        title = record.applied.get("title")
        rows.append(
            ResourceRow(
                address=address,
                status=record.status,
                assignment_id=record.assignment_id,
                title=str(title) if title is not None else None,
                grades=len(record.grades),
                updated_at=record.updated_at,
            )
        )
    return rows


def show(snapshot: StateSnapshot, address: Address) -> dict[str, Any]:
    """Everything state holds for an assignment address, or for one grade address."""
    record = _record(snapshot, address)
    if address.student is None:
        return {"address": address.assignment, **record.to_dict()}
    grade = record.grades.get(address.student)
    if grade is None:
        raise StateError(
            f"{address} is not in state: lmsctl has applied no grade for student "
            f"{address.student} on {address.assignment}",
            hint=f"lmsctl state show {address.assignment} lists the grades it has applied",
        )
    return {
        "address": str(address),
        "assignment": address.assignment,
        "assignment_id": record.assignment_id,
        "student": address.student,
        "applied": grade,
    }


def remove(snapshot: StateSnapshot, addresses: Sequence[Address]) -> list[Removed]:
    """Forget assignments (with their grades) or single grades; nothing is deleted in the LMS.

    Every address must be in state, else nothing is removed. A grade address under an
    assignment that is removed too is covered by the assignment.
    """
    missing: list[str] = []
    for address in addresses:
        record = snapshot.resources.get(address.assignment)
        if record is None or (address.student is not None and address.student not in record.grades):
            missing.append(str(address))
    if missing:
        grade = next((a for a in addresses if a.student is not None and str(a) in missing), None)
        raise StateError(
            "not in state: " + ", ".join(dict.fromkeys(missing)) + "; nothing was removed",
            hint=(
                f"lmsctl state show {grade.assignment} lists the grades it holds"
                if grade is not None and grade.assignment in snapshot.resources
                else "lmsctl state list shows what state holds"
            ),
        )
    whole = {a.assignment for a in addresses if a.student is None}
    done: list[Removed] = []
    seen: set[str] = set()
    for address in addresses:
        if str(address) in seen or (address.student is not None and address.assignment in whole):
            continue
        seen.add(str(address))
        if address.student is None:
            record = snapshot.resources.pop(address.assignment)
            done.append(
                Removed(
                    address.assignment,
                    "assignment",
                    record.assignment_id,
                    record.status,
                    grades=len(record.grades),
                )
            )
        else:
            record = snapshot.resources[address.assignment]
            del record.grades[address.student]
            done.append(Removed(str(address), "grade", record.assignment_id, record.status))
    return done


def move(snapshot: StateSnapshot, old: Address, new: Address) -> Moved:
    """Re-address a tracked assignment within its section (a key rename); the LMS is unchanged."""
    if old.student is not None or new.student is not None:
        raise StateError(
            "state mv moves assignments; a grade belongs to its student and its assignment",
            hint="move the assignment and its grades follow: "
            f"lmsctl state mv {old.assignment} {new.assignment}",
        )
    if old.section_id != new.section_id:
        raise StateError(
            f"cannot move {old} to another section ({new.section_id}): an LMS assignment "
            "belongs to the section it was created in",
            hint=(
                "put the assignment in the other section's manifest (the plan creates it there) "
                f"and remove it from this one (the plan deletes it), or lmsctl state rm {old} "
                "to stop managing the old one"
            ),
        )
    if old == new:
        raise StateError(f"{old} and {new} are the same address")
    record = _record(snapshot, old)
    if new.assignment in snapshot.resources:
        existing = snapshot.resources[new.assignment]
        raise StateError(
            f"{new} is already in state (assignment {existing.assignment_id or 'not created'})",
            hint=f"if that record is wrong: lmsctl state rm {new}, then move again",
        )
    del snapshot.resources[old.assignment]
    # everything but the address moves with it: adopted, intents, an unanswered delete
    moved = replace(record, section_id=new.section_id, key=new.key)
    snapshot.resources[new.assignment] = moved
    return Moved(old.assignment, new.assignment, record.assignment_id, record.status)


def _record(snapshot: StateSnapshot, address: Address) -> ResourceRecord:
    record = snapshot.resources.get(address.assignment)
    if record is None:
        raise StateError(
            f"{address.assignment} is not in state",
            hint="lmsctl state list shows what state holds",
        )
    return record


__all__ = [
    "Moved",
    "Removed",
    "ResourceRow",
    "list_resources",
    "move",
    "remove",
    "show",
]
