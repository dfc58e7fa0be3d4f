"""lmsctl init's core: choosing sections and laying out files, with a fake Data API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lmsctl.errors import ApiError, UsageError, api_error_for
from lmsctl.init import InitFilters, plan_files, read_district

SECTIONS = [
    {
        "id": f"{n:024x}",
        "name": f"Biology {n % 2}",
        "school": "s1" if n < 3 else "s2",
        "teachers": [f"{100 + n:024x}"],
    }
    for n in range(1, 5)
]


class FakeReader:
    def __init__(self, *, teachers_refused: bool = False) -> None:
        self.teachers_refused = teachers_refused

    async def get_my_district(self) -> dict[str, Any]:
        return {"id": "d" * 24, "name": "D", "lms_type": "schoology", "lms_state": "error"}

    async def list_sections(self, limit: int = 10000) -> list[dict[str, Any]]:
        assert limit == 10000
        return list(SECTIONS)

    async def list_users(self, role: str, limit: int = 10000) -> list[dict[str, Any]]:
        if self.teachers_refused:
            raise api_error_for(403, "Could not authorize token", method="GET", path="/users")
        return [
            {"id": s["teachers"][0], "email": f"t{i}@x.example", "name": {"first": "T"}}
            for i, s in enumerate(SECTIONS)
        ]

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100, *, compact: bool = False
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": "b" * 24,
                "name": {"first": "Ann", "last": "Lee"},
                "roles": {"student": {"sis_id": "7"}},
            }
        ]


def test_filters_combine_and_names_stay_unique() -> None:
    got = asyncio.run(read_district(FakeReader(), InitFilters(schools=("s1",))))
    assert [s.id for s in got.sections] == [SECTIONS[0]["id"], SECTIONS[1]["id"]]
    got = asyncio.run(read_district(FakeReader(), InitFilters(teachers=("T2@x.example",))))
    assert [s.id for s in got.sections] == [SECTIONS[2]["id"]]
    everything = asyncio.run(read_district(FakeReader(), InitFilters()))
    files = plan_files(Path("r"), everything, api_url="https://api.clever.com/v3.1", timezone="UTC")
    names = [f.path.name for f in files if f.path.parent.name == "sections"]
    assert len(set(names)) == 4  # "Biology 0" twice and "Biology 1" twice, still 4 files


def test_teachers_are_optional_unless_an_email_filter_needs_them() -> None:
    got = asyncio.run(read_district(FakeReader(teachers_refused=True), InitFilters()))
    assert len(got.sections) == 4 and got.lms_state == "error"
    assert all(s.teachers == () for s in got.sections)
    with pytest.raises(ApiError):
        asyncio.run(
            read_district(FakeReader(teachers_refused=True), InitFilters(teachers=("t@x.example",)))
        )
    with pytest.raises(UsageError, match="no section matches"):
        asyncio.run(read_district(FakeReader(), InitFilters(schools=("nope",))))
