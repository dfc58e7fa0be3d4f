"""Factories for state tests."""

from __future__ import annotations

from typing import Any

from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot

SECTION = "5f1a0c0b8e1d2a0001a00001"
OTHER_SECTION = "5f1a0c0b8e1d2a0001a00002"
STUDENT = "5f1a0c0b8e1d2a0001b00007"
ASSIGNMENT_ID = "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"


def make_record(
    key: str = "hw-01",
    *,
    section_id: str = SECTION,
    assignment_id: str | None = ASSIGNMENT_ID,
    status: ResourceStatus = ResourceStatus.CREATED,
    applied: dict[str, Any] | None = None,
    grades: dict[str, dict[str, Any]] | None = None,
) -> ResourceRecord:
    return ResourceRecord(
        section_id=section_id,
        key=key,
        assignment_id=assignment_id,
        status=status,
        applied={"title": f"Homework {key}"} if applied is None else applied,
        grades={STUDENT: {"grade_points": 9}} if grades is None else grades,
        created_at="2026-11-01T10:00:00.000Z",
        updated_at="2026-11-01T10:00:00.000Z",
    )


def make_snapshot(*records: ResourceRecord) -> StateSnapshot:
    snapshot = StateSnapshot.empty()
    for record in records:
        snapshot.resources[record.address] = record
    return snapshot
