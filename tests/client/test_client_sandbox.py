"""End to end against the sandbox: in-process (the --sandbox transport) and over a socket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from lmsctl.client.factory import sandbox_api_url
from lmsctl.client.lms import LmsClient
from lmsctl.errors import ApiBadRequestError, ApiNotFoundError, OutcomeUnknownError
from lmsctl.sandbox import (
    DEMO_DISTRICT_ID,
    DEMO_TOKEN,
    FaultConfig,
    SandboxConfig,
    running_server,
    sandbox_transport,
)
from tests.support.client import FakeTime, run

SECTION = "5f1a0c0b8e1d2a0001a00001"  # demo: Algebra 1, 25 students
STUDENT = "5f1a0c0b8e1d2a0001b00003"  # demo: sis 603, in SECTION
BODY: dict[str, Any] = {
    "title": "Homework 1",
    "description": "Problems 1-20",
    "due_date": "2031-05-01T23:59:00.000Z",
    "assignee_mode": "all",
    "submission_types": ["text"],
    "points_possible": 10,
}


def sandbox_client(
    transport: httpx.AsyncBaseTransport | None = None, **faults: Any
) -> tuple[LmsClient, FakeTime]:
    ft = FakeTime()
    transport = transport or sandbox_transport(
        SandboxConfig(faults=FaultConfig(random_seed=3, **faults))
    )
    client = LmsClient(
        sandbox_api_url(),
        DEMO_TOKEN,
        transport=transport,
        sleep=ft.sleep,
        clock=ft.clock,
        allow_insecure=True,
    )
    return client, ft


async def _lifecycle(client: LmsClient) -> None:
    district = await client.get_my_district()
    assert district["id"] == DEMO_DISTRICT_ID
    assert (await client.get_district(DEMO_DISTRICT_ID))["name"] == district["name"]
    section = await client.get_section(SECTION)
    assert section["id"] == SECTION
    students = await client.list_section_users(SECTION, limit=10)
    assert len(students) == 25 and len({s["id"] for s in students}) == 25

    created = await client.create_assignment(SECTION, BODY)
    aid = created["id"]
    assert (await client.get_assignment(SECTION, aid))["title"] == "Homework 1"
    patched = await client.update_assignment(SECTION, aid, {"title": "Homework 1 (revised)"})
    assert patched["title"] == "Homework 1 (revised)"

    subs = await client.list_submissions(SECTION, aid, limit=10)
    assert sorted(s["user_id"] for s in subs) == sorted(s["id"] for s in students)
    graded = await client.update_submission(SECTION, aid, STUDENT, {"grade_points": 9})
    assert graded["grade_points"] == 9
    assert (await client.get_submission(SECTION, aid, STUDENT))["grade_points"] == 9

    with pytest.raises(ApiBadRequestError):
        await client.list_submissions(SECTION, aid, limit=1000)

    await client.delete_assignment(SECTION, aid)
    with pytest.raises(ApiNotFoundError):
        await client.get_assignment(SECTION, aid)
    with pytest.raises(ApiNotFoundError):
        await client.delete_assignment(SECTION, aid)


def test_every_call_against_the_embedded_sandbox() -> None:
    client, _ = sandbox_client()

    async def go() -> None:
        async with client:
            await _lifecycle(client)

    run(go())


def test_every_call_over_a_real_socket_with_many_concurrent_tasks() -> None:
    with running_server(SandboxConfig()) as base_url:

        async def go() -> None:
            async with LmsClient(base_url, DEMO_TOKEN) as client:
                await _lifecycle(client)
                aid = (await client.create_assignment(SECTION, BODY))["id"]
                students = await client.list_section_users(SECTION)
                grades = await asyncio.gather(
                    *(
                        client.update_submission(SECTION, aid, s["id"], {"grade_points": n % 11})
                        for n, s in enumerate(students * 4)
                    )
                )
                assert len(grades) == 100
                subs = await client.list_submissions(SECTION, aid, limit=7)
                assert len(subs) == 25
                assert client.stats.rate_limited == 0

        run(go())


def test_a_create_whose_connection_drops_is_unknown_and_really_happened() -> None:
    transport = sandbox_transport(
        SandboxConfig(faults=FaultConfig(drop_after_rate=1.0, methods=("POST",)))
    )
    client, _ = sandbox_client(transport)

    async def go() -> list[dict[str, Any]]:
        async with client:
            with pytest.raises(OutcomeUnknownError):
                await client.create_assignment(SECTION, BODY)
            assert client.stats.by_endpoint["POST assignment"] == 1
            async with httpx.AsyncClient(
                transport=transport, base_url="http://sandbox.local"
            ) as admin:
                r = await admin.get(f"/_sandbox/sections/{SECTION}/assignments")
                listed: list[dict[str, Any]] = r.json()["data"]
                return listed

    assert [a["title"] for a in run(go())] == ["Homework 1"]


def test_flaky_reads_and_writes_get_through_with_retries() -> None:
    client, ft = sandbox_client(
        fail_rate=0.3, drop_before_rate=0.1, methods=("GET", "PATCH", "DELETE")
    )

    async def go() -> None:
        async with client:
            aid = (await client.create_assignment(SECTION, BODY))["id"]
            subs = await client.list_submissions(SECTION, aid, limit=5)
            await asyncio.gather(
                *(
                    client.update_submission(SECTION, aid, s["user_id"], {"grade_points": 5})
                    for s in subs
                )
            )
            after = await client.list_submissions(SECTION, aid, limit=5)
            assert {s["grade_points"] for s in after} == {5}
            await client.delete_assignment(SECTION, aid)
            assert client.stats.retries > 0

    run(go())
    assert ft.now < 600


def test_an_expired_cursor_restarts_the_listing_against_the_sandbox() -> None:
    inner = sandbox_transport(SandboxConfig())

    class AgeingTransport(httpx.AsyncBaseTransport):
        """Moves the sandbox clock past the cursor's two hours after the first page, once."""

        aged = False

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response: httpx.Response = await inner.handle_async_request(request)
            if request.url.path.endswith("/submissions") and not self.aged:
                await response.aread()
                self.aged = True
                clock = httpx.Request(
                    "PUT", "http://sandbox.local/_sandbox/clock", json={"advance_seconds": 7201}
                )
                await inner.handle_async_request(clock)
            return response

    client, _ = sandbox_client(AgeingTransport())

    async def go() -> None:
        async with client:
            aid = (await client.create_assignment(SECTION, BODY))["id"]
            subs = await client.list_submissions(SECTION, aid, limit=10)
            assert len(subs) == 25 and len({s["user_id"] for s in subs}) == 25
            assert client.stats.by_endpoint["GET submissions"] == 1 + 1 + 3

    run(go())


def test_server_now_is_the_apis_clock_from_its_date_header() -> None:
    """Plan judges due dates by this clock: the demo sandbox's, not the machine's."""
    import datetime as dt

    client, ft = sandbox_client()

    async def go() -> None:
        async with client:
            assert client.server_now() is None  # no answer yet
            await client.get_my_district()
            first = client.server_now()
            assert first is not None
            # the demo sandbox's clock started at its anchor a moment ago
            start = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
            assert start <= first < start + dt.timedelta(minutes=1)
            await ft.sleep(30)  # time moves on between answers
            assert client.server_now() == first + dt.timedelta(seconds=30)

    run(go())


@pytest.mark.parametrize("date", ["", "not a date", "Tue, 01 Dec 2026 12:00:00"])
def test_an_unreadable_date_header_is_ignored(date: str) -> None:
    from tests.support.client import Script, make_client, ok

    response = ok({"id": "x"})
    response.headers["Date"] = date

    async def go() -> None:
        async with make_client(Script(then=response)) as client:
            await client.get_section(SECTION)
            assert client.server_now() is None

    run(go())
