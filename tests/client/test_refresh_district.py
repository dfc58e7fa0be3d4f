"""Refresh hands the plan a typed District record, read from the token's district."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lmsctl.lms import LmsType
from lmsctl.model import DesiredState, ProjectConfig
from lmsctl.refresh import District, LiveState, refresh
from lmsctl.state.model import StateSnapshot

ANSWER = {
    "id": "5f1a0c0b8e1d2a0001000001",
    "name": "Springfield",
    "lms_type": "schoology",
    "lms_state": "matching_in_progress",
    "extra": {"kept": True},
}


class OneDistrict:
    """A reader that knows one district (and is asked for nothing else: no sections)."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    async def get_my_district(self) -> dict[str, Any]:
        self.asked.append(None)
        return dict(ANSWER)

    async def get_district(self, district_id: str) -> dict[str, Any]:
        self.asked.append(district_id)
        return dict(ANSWER)

    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        raise AssertionError("no assignment is tracked")

    async def list_submissions(
        self,
        section_id: str,
        assignment_id: str,
        limit: int = 100,
        *,
        only: frozenset[str] | None = None,
    ) -> list[dict[str, Any]]:
        raise AssertionError("no assignment is tracked")

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100, *, compact: bool = False
    ) -> list[dict[str, Any]]:
        raise AssertionError("no section names students")


def _refresh(reader: OneDistrict, district_id: str | None = None) -> LiveState:
    empty = DesiredState(Path("."), ProjectConfig())
    return asyncio.run(refresh(reader, empty, StateSnapshot.empty(), district_id=district_id))


def test_refresh_reads_the_district_into_a_typed_record() -> None:
    reader = OneDistrict()
    live = _refresh(reader)
    assert reader.asked == [None]
    assert live.district == District.from_api(ANSWER)
    assert (live.district.id, live.district.name) == (ANSWER["id"], "Springfield")
    assert live.district.lms_state == "matching_in_progress"
    assert live.district.lms.type is LmsType.SCHOOLOGY
    # lmsctl.yaml's district is read by its id
    assert _refresh(OneDistrict(), ANSWER["id"]).district.id == ANSWER["id"]


def test_a_district_missing_fields_reads_as_empty_strings_and_keeps_its_object() -> None:
    district = District.from_api({"id": None, "lms_type": None})
    assert (district.id, district.name, district.lms_type, district.lms_state) == ("",) * 4
    assert district.lms.name == "LMS"
    assert district.get("lms_type") is None  # the mapping view answers as the API did


def test_the_plan_file_keeps_the_district_object_as_the_api_answered_it() -> None:
    live = _refresh(OneDistrict())
    again = LiveState.from_dict(live.to_dict())
    assert live.to_dict()["district"] == ANSWER
    assert again.district == live.district
