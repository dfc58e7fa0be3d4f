"""Small builders for desired state, state and live values (planner and executor tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmsctl.model import (
    AssignmentSpec,
    DesiredState,
    GradeSpec,
    ProjectConfig,
    SectionSpec,
    SourcePos,
    StudentRef,
)
from lmsctl.refresh import LiveState
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot

SEC = "5f1a0c0b8e1d2a0001a00001"
S1 = "5f1a0c0b8e1d2a0001b00001"
S2 = "5f1a0c0b8e1d2a0001b00002"
AID = "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"
POS = SourcePos("sec.yaml", 3, 3)
DISTRICT = {"id": "5f1a0c0b8e1d2a0001000001", "lms_state": "success", "lms_type": "canvas"}
BASE = {
    "title": "Homework 1",
    "description": "Problems 1-20",
    "due_date": "2027-02-04T23:59:00.000Z",
    "assignee_mode": "all",
}


def ref(raw: str) -> StudentRef:
    if ":" in raw:
        kind, value = raw.split(":", 1)
        return StudentRef(raw, kind, value)
    return StudentRef(raw, "id", raw)


def grade(student: str, **fields: Any) -> GradeSpec:
    return GradeSpec(ref(student), fields, POS)


def assignment(
    key: str = "hw-01", grades: tuple[GradeSpec, ...] = (), **fields: Any
) -> AssignmentSpec:
    moved_from = fields.pop("moved_from", None)
    return AssignmentSpec(
        section_id=SEC,
        key=key,
        fields={**BASE, **fields},
        pos=POS,
        grades=grades,
        manages_grades=bool(grades),
        moved_from=moved_from,
    )


def desired(*assignments: AssignmentSpec, config: ProjectConfig | None = None) -> DesiredState:
    section = SectionSpec(SEC, "algebra", "sec.yaml", POS, tuple(assignments))
    return DesiredState(Path("."), config or ProjectConfig(), (section,))


def record(
    key: str = "hw-01",
    applied: dict[str, Any] | None = None,
    grades: dict[str, dict[str, Any]] | None = None,
    status: ResourceStatus = ResourceStatus.CREATED,
    aid: str | None = AID,
) -> ResourceRecord:
    return ResourceRecord(
        section_id=SEC,
        key=key,
        assignment_id=aid,
        status=status,
        applied=dict(BASE) if applied is None else applied,
        grades=grades or {},
    )


def state(*records: ResourceRecord) -> StateSnapshot:
    snap = StateSnapshot.empty()
    snap.serial = 3
    for r in records:
        snap.resources[r.address] = r
    return snap


def live(
    assignments: dict[str, dict[str, Any] | None] | None = None,
    submissions: dict[str, dict[str, dict[str, Any]]] | None = None,
    rosters: dict[str, list[dict[str, Any]]] | None = None,
    district: dict[str, Any] | None = None,
) -> LiveState:
    return LiveState(
        district=district or DISTRICT,
        assignments=assignments or {},
        submissions=submissions or {},
        rosters={k: tuple(v) for k, v in (rosters or {}).items()},
    )


def sub(user: str, **fields: Any) -> dict[str, Any]:
    return {"user_id": user, "state": "created", "grade": None, **fields}
