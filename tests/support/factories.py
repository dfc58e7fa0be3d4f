"""Small builders for desired state, state records and snapshots, and live values.

One record factory for every test folder: ``record`` builds a ``ResourceRecord`` as the planner
and executor tests want it (the applied fields are ``BASE``, no grades); ``make_record`` is the
same record as an earlier apply stored it (a title, one grade, timestamps), as the state tests
want it.
"""

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

SEC = SECTION = "5f1a0c0b8e1d2a0001a00001"
OTHER_SECTION = "5f1a0c0b8e1d2a0001a00002"
S1 = "5f1a0c0b8e1d2a0001b00001"
S2 = "5f1a0c0b8e1d2a0001b00002"
STUDENT = "5f1a0c0b8e1d2a0001b00007"
AID = ASSIGNMENT_ID = "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"
STAMP = "2026-11-01T10:00:00.000Z"
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
    *,
    section_id: str = SEC,
    created_at: str | None = None,
    updated_at: str | None = None,
) -> ResourceRecord:
    """The one ``ResourceRecord`` builder: applied ``BASE`` and no grades unless given."""
    return ResourceRecord(
        section_id=section_id,
        key=key,
        assignment_id=aid,
        status=status,
        applied=dict(BASE) if applied is None else applied,
        grades={} if grades is None else grades,
        created_at=created_at,
        updated_at=updated_at,
    )


def make_record(
    key: str = "hw-01",
    *,
    section_id: str = SECTION,
    assignment_id: str | None = ASSIGNMENT_ID,
    status: ResourceStatus = ResourceStatus.CREATED,
    applied: dict[str, Any] | None = None,
    grades: dict[str, dict[str, Any]] | None = None,
) -> ResourceRecord:
    """A record as an earlier apply stored it: a title, one grade of STUDENT, timestamps."""
    return record(
        key,
        {"title": f"Homework {key}"} if applied is None else applied,
        {STUDENT: {"grade_points": 9}} if grades is None else grades,
        status,
        assignment_id,
        section_id=section_id,
        created_at=STAMP,
        updated_at=STAMP,
    )


def make_snapshot(*records: ResourceRecord, serial: int = 0) -> StateSnapshot:
    snapshot = StateSnapshot.empty()
    snapshot.serial = serial
    for r in records:
        snapshot.resources[r.address] = r
    return snapshot


def state(*records: ResourceRecord) -> StateSnapshot:
    """A snapshot three saves old (the planner and executor tests' state)."""
    return make_snapshot(*records, serial=3)


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
