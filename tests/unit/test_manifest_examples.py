"""examples/coursework fits the demo district: every id exists, every graded student is enrolled
in that section, and the embedded sandbox accepts every assignment and grade as written."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import yaml

from lmsctl.manifest import load_or_raise
from lmsctl.model import DesiredState, StudentRef
from lmsctl.sandbox import DEMO_SEED_PATH, DEMO_TOKEN, SandboxConfig, sandbox_transport

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "coursework"


def _roster() -> dict[str, dict[tuple[str, str], str]]:
    """section id -> (kind, value) -> student id, from the demo seed."""
    seed = yaml.safe_load(DEMO_SEED_PATH.read_text(encoding="utf-8"))
    roster: dict[str, dict[tuple[str, str], str]] = {}
    for district in seed["districts"]:
        for section in district["sections"]:
            index: dict[tuple[str, str], str] = {}
            for s in section["students"]:
                index[("id", s["id"])] = s["id"]
                index[("sis", str(s["sis_id"]))] = s["id"]
                index[("email", s["email"].lower())] = s["id"]
                index[("student_number", str(s["student_number"]))] = s["id"]
                index[("state_id", str(s["state_id"]))] = s["id"]
            roster[section["id"]] = index
    return roster


def _resolve(index: dict[tuple[str, str], str], ref: StudentRef) -> str:
    value = ref.value.lower() if ref.kind == "email" else ref.value
    assert (ref.kind, value) in index, f"{ref.raw} is not a student of this section"
    return index[(ref.kind, value)]


def _desired() -> DesiredState:
    desired, warnings = load_or_raise(EXAMPLES, cwd=EXAMPLES)
    assert warnings == []
    return desired


def test_every_reference_is_a_student_enrolled_in_its_section() -> None:
    roster = _roster()
    for section in _desired().sections:
        assert section.section_id in roster, section.file
        for assignment in section.assignments:
            for ref in assignment.assignee_refs:
                _resolve(roster[section.section_id], ref)
            for grade in assignment.grades:
                _resolve(roster[section.section_id], grade.student)
                assert grade.fields.get("state", "returned") == "returned"


def test_examples_use_future_due_dates_and_sensible_date_order() -> None:
    for assignment in _desired().assignments():
        due = assignment.fields["due_date"]
        assert "2027-01-15" <= due[:10] <= "2027-06-11", assignment.address
        assert assignment.fields.get("display_date", due) <= due


def test_the_sandbox_accepts_every_example_assignment_and_grade() -> None:
    roster = _roster()
    transport = sandbox_transport(SandboxConfig(random_seed=7))

    async def run() -> list[str]:
        problems: list[str] = []
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox.local", headers=headers
        ) as client:
            for section in _desired().sections:
                for a in section.assignments:
                    body: dict[str, Any] = {
                        k: list(v) if isinstance(v, tuple) else v for k, v in a.fields.items()
                    }
                    if a.assignee_refs:
                        body["assignee_ids"] = [
                            _resolve(roster[section.section_id], r) for r in a.assignee_refs
                        ]
                    url = f"/v3.1/sections/{section.section_id}/assignments"
                    created = await client.post(url, json=body)
                    if created.status_code != 200:
                        problems.append(f"{a.address}: {created.status_code} {created.text}")
                        continue
                    assignment_id = created.json()["data"]["id"]
                    for g in a.grades:
                        student = _resolve(roster[section.section_id], g.student)
                        grade = {
                            k: list(v) if isinstance(v, tuple) else v for k, v in g.fields.items()
                        }
                        patched = await client.patch(
                            f"{url}/{assignment_id}/submissions/{student}", json=grade
                        )
                        if patched.status_code != 200:
                            problems.append(
                                f"{a.address} {g.student.raw}: {patched.status_code} {patched.text}"
                            )
        return problems

    assert asyncio.run(run()) == []
