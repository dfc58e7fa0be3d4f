"""An LMS behaviour is one profile entry (lmsctl/lms.py): the planner, the executor and the
sandbox all read it, so a made-up one needs no other edit.

The made-up behaviour: Schoology ignores ``end_date`` on writes. With only the profile changed,
the plan warns and leaves the field out, the sandbox keeps the stored value, and the next plan
says No changes (no diff forever).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lmsctl import lms
from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.client.lms import LmsClient
from lmsctl.errors import PlanError, Severity
from lmsctl.manifest import load_desired
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Plan
from lmsctl.refresh import refresh
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport
from lmsctl.sandbox.seed import dump_seed, generate_seed
from lmsctl.state.backend import MemoryBackend

NOW_TEXT = "2031-03-02T12:00:00.000Z"
BASE = "http://sandbox.local"


def _sandbox(tmp_path: Path) -> tuple[httpx.AsyncBaseTransport, str]:
    seed = generate_seed(sections=1, students=2, lms_type="schoology")
    path = tmp_path / "seed.yaml"
    path.write_text(dump_seed(seed), encoding="utf-8")
    transport = sandbox_transport(SandboxConfig(seed_path=path, rate_limit=1_000_000))

    async def pin() -> None:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            assert (await c.put("/_sandbox/clock", json={"now": NOW_TEXT})).status_code == 200

    asyncio.run(pin())
    return transport, str(seed["districts"][0]["sections"][0]["id"])


def _plan(client: LmsClient, root: Path, backend: MemoryBackend) -> Plan:
    desired, diags = load_desired(root)
    assert not [d for d in diags if d.severity is Severity.ERROR]
    snapshot = backend.read()
    live = asyncio.run(refresh(client, desired, snapshot))
    try:
        return PlanBuilder(desired, snapshot, live, PlanOptions(now=NOW_TEXT)).build()
    except PlanError as exc:
        raise AssertionError([d.format() for d in exc.diagnostics]) from exc


def _live(transport: httpx.AsyncBaseTransport, section: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
            r = await c.get(f"/_sandbox/sections/{section}/assignments")
            return list(r.json()["data"])

    return asyncio.run(go())


@pytest.mark.parametrize("made_up", [False, True])
def test_one_profile_entry_makes_an_lms_ignore_a_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made_up: bool
) -> None:
    if made_up:
        schoology = lms.PROFILES[lms.LmsType.SCHOOLOGY]
        ignored = schoology.ignored_fields | {"end_date"}
        made = dataclasses.replace(schoology, ignored_fields=ignored)
        monkeypatch.setitem(lms.PROFILES, lms.LmsType.SCHOOLOGY, made)
    transport, section = _sandbox(tmp_path)
    client = LmsClient(
        f"{BASE}/v3.1", DEMO_TOKEN, transport=transport, rate_limit=1_000_000, allow_insecure=True
    )
    root = tmp_path / "repo"
    root.mkdir()
    (root / "lmsctl.yaml").write_text("timezone: UTC\n", encoding="utf-8")
    body = {
        "title": "Essay",
        "description": "Write one page.",
        "due_date": "2031-04-01T12:00:00Z",
        "end_date": "2031-04-08T12:00:00Z",
        "assignee_mode": "all",
    }
    doc = {"section": section, "assignments": {"essay": body}}
    (root / "section.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    backend = MemoryBackend()

    plan = _plan(client, root, backend)
    warnings = list(plan.warnings)
    (create,) = plan.actionable
    written = {f.field for f in create.fields}
    if made_up:
        assert "end_date" not in written
        assert any("Schoology ignores end_date" in w for w in warnings), warnings
    else:
        assert "end_date" in written
        assert not any("ignores end_date" in w for w in warnings), warnings

    result = asyncio.run(Executor(plan, client, backend, backend.read(), ApplyOptions()).run())
    assert result.ok
    (live,) = _live(transport, section)
    assert (live.get("end_date") is None) is made_up

    # a plan ignores what the LMS ignores: no diff forever
    again = _plan(client, root, backend)
    assert not again.actionable and not again.drift and not again.conflicts

    # and a write of the field to the stored assignment leaves it as it was in the LMS
    if made_up:

        async def patch() -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
            async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
                r = await c.patch(
                    f"/v3.1/sections/{section}/assignments/{live['id']}",
                    json={"end_date": "2031-05-01T00:00:00Z"},
                )
                assert r.status_code == 200, r.text
                return dict(r.json()["data"])

        assert asyncio.run(patch()).get("end_date") is None


def test_an_unknown_lms_has_no_quirks_and_keeps_its_own_name() -> None:
    unknown = lms.profile("moodle")
    assert unknown.name == "moodle"
    assert not unknown.ignored_fields and not unknown.decimals
    assert lms.display_name("google_classroom") == "Google Classroom"
    assert lms.profile(lms.LmsType.CANVAS) is lms.PROFILES[lms.LmsType.CANVAS]
