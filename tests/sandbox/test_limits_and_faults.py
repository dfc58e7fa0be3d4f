"""Rate limit and fault injection, in-process and over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lmsctl.sandbox import DEMO_TOKEN, FaultConfig, SandboxConfig, running_server
from lmsctl.sandbox.transport import sandbox_transport
from tests.support.sandbox_api import FUTURE, SECTION, Api

BODY = {"title": "T", "description": "D", "due_date": FUTURE, "assignee_mode": "all"}
ASSIGNMENTS = f"/v3.1/sections/{SECTION}/assignments"


def test_1300_rapid_gets_1200_ok_then_429_with_headers() -> None:
    transport = sandbox_transport(SandboxConfig())
    # the window is the sandbox clock's minute: pin it well inside one
    Api(transport).put("/_sandbox/clock", json={"now": "2031-01-01T00:00:05Z"})

    async def go() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox.local", headers=headers
        ) as client:
            return [await client.get("/v3.1/districts") for _ in range(1300)]

    answers = asyncio.run(go())
    assert [r.status_code for r in answers] == [200] * 1200 + [429] * 100
    first, last_ok, limited = answers[0], answers[1199], answers[1200]
    assert first.headers["X-RateLimit-Limit"] == "1200"
    assert first.headers["X-RateLimit-Remaining"] == "1199"
    assert last_ok.headers["X-RateLimit-Remaining"] == "0"
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert reset == 1924992060  # 2031-01-01T00:01:00Z
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # another token has its own window
    other = Api(transport).get("/v3.1/districts", token="WRONG")
    assert other.status_code == 403 and other.headers["X-RateLimit-Remaining"] == "1199"


def test_rate_limit_is_configurable(make_api: Callable[..., Api]) -> None:
    api = make_api(rate_limit=3)
    api.put("/_sandbox/clock", json={"now": "2031-01-01T00:00:05Z"})
    assert [api.get("/v3.1/districts").status_code for _ in range(4)] == [200, 200, 200, 429]
    api.put("/_sandbox/faults", json={"rate_limit": 5})
    assert api.get("/v3.1/districts").status_code == 200


def test_the_rate_window_is_the_minute_of_the_sandbox_clock(make_api: Callable[..., Api]) -> None:
    api = make_api(rate_limit=3)
    api.put("/_sandbox/clock", json={"now": "2031-01-01T00:00:05Z"})
    answers = [api.get("/v3.1/districts") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    # 2031-01-01T00:01:00Z, the next minute of the sandbox clock (not of the wall clock)
    assert answers[3].headers["X-RateLimit-Reset"] == "1924992060"
    assert 50 <= int(answers[3].headers["Retry-After"]) <= 55
    assert answers[0].headers["Date"] == "Wed, 01 Jan 2031 00:00:05 GMT"
    api.put("/_sandbox/clock", json={"advance_seconds": 60})
    assert api.get("/v3.1/districts").status_code == 200  # a new window


class HeldLatency:
    """The sandbox's latency wait, injected: each request waits until the test releases them
    (no real time passes); records every wait asked for and how many were held at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.held = 0
        self.most_held = 0
        self._released: asyncio.Event | None = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        await self._event().wait()
        self.held -= 1

    def _event(self) -> asyncio.Event:
        if self._released is None:
            self._released = asyncio.Event()
        return self._released

    async def until_held(self, count: int) -> None:
        """Return once ``count`` requests are held at the same time (fails after 5 s of real
        time if they never are: the waits did not overlap)."""

        async def held() -> None:
            while self.held < count:
                await asyncio.sleep(0)

        await asyncio.wait_for(held(), timeout=5)

    def release(self) -> None:
        self._event().set()


def test_a_request_counts_when_it_arrives_and_a_429_is_not_delayed(
    make_api: Callable[..., Api],
) -> None:
    """A slow request holds its place in the window; one over the limit is refused at once."""
    latency = HeldLatency()
    api = make_api(rate_limit=1, sleep=latency)
    api.put("/_sandbox/clock", json={"now": "2031-01-01T00:00:05Z"})
    api.put("/_sandbox/faults", json={"latency": {"GET": 1.0}})

    async def go() -> tuple[int, int, bool]:
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        async with httpx.AsyncClient(
            transport=api.transport, base_url="http://sandbox.local", headers=headers
        ) as client:
            first = asyncio.create_task(client.get("/v3.1/districts"))
            await latency.until_held(1)
            second = await asyncio.wait_for(client.get("/v3.1/districts"), timeout=5)
            first_still_waiting = not first.done()
            latency.release()
            return (await first).status_code, second.status_code, first_still_waiting

    first, second, first_still_waiting = asyncio.run(go())
    assert (first, second) == (200, 429)
    # the first one was slow (its 1 s latency), yet counted when it arrived; the refusal came
    # back at once, while the first was still in its latency, and waited none itself
    assert latency.waits == [1.0]
    assert first_still_waiting


def _count(api: Api) -> int:
    return len(api.get(f"/_sandbox/sections/{SECTION}/assignments").json()["data"])


def test_fail_rate_answers_5xx_without_processing(api: Api) -> None:
    api.put("/_sandbox/faults", json={"fail_rate": 1.0})
    r = api.post(ASSIGNMENTS, json=BODY)
    assert (r.status_code, r.json()) == (503, {"message": "Service Unavailable"})
    assert _count(api) == 0
    api.put("/_sandbox/faults", json={"fail_rate": 1.0, "fail_status": 500})
    assert api.get("/v3.1/districts").status_code == 500


def test_drop_before_loses_the_request(api: Api) -> None:
    api.put("/_sandbox/faults", json={"drop_before_rate": 1.0, "methods": ["POST"]})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(ASSIGNMENTS, json=BODY)
    assert _count(api) == 0
    assert api.get("/v3.1/districts").status_code == 200  # only POST gets the fault


def test_drop_after_processes_then_loses_the_answer(api: Api) -> None:
    api.put("/_sandbox/faults", json={"drop_after_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(ASSIGNMENTS, json=BODY)
    assert _count(api) == 1  # the create happened; the client cannot know


def test_latency_is_per_method_and_does_not_block(make_api: Callable[..., Api]) -> None:
    latency = HeldLatency()
    api = make_api(random_seed=7, sleep=latency)
    api.put("/_sandbox/faults", json={"latency": {"PATCH": [0.3, 0.3]}})

    async def go() -> list[int]:
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        async with httpx.AsyncClient(
            transport=api.transport, base_url="http://sandbox.local", headers=headers
        ) as client:

            async def release_when_all_held() -> None:
                await latency.until_held(5)
                latency.release()

            await client.get("/v3.1/districts")
            assert latency.waits == []  # GET has no latency of its own
            results = await asyncio.gather(
                *(client.patch(f"{ASSIGNMENTS}/not-a-uuid", json={}) for _ in range(5)),
                release_when_all_held(),
            )
            return [r.status_code for r in results if r is not None]

    assert asyncio.run(go()) == [400] * 5
    # five overlapping 0.3 s waits (all five held at once), not one after another
    assert latency.waits == [0.3] * 5
    assert latency.most_held == 5


def test_faults_never_touch_control_endpoints(api: Api) -> None:
    api.put("/_sandbox/faults", json={"fail_rate": 1.0, "drop_before_rate": 1.0})
    assert api.get(f"/_sandbox/sections/{SECTION}/assignments").status_code == 200
    assert api.put("/_sandbox/faults", json={}).json()["data"]["fail_rate"] == 0.0


def test_seeded_faults_replay(make_api: Callable[..., Api]) -> None:
    def run() -> list[int]:
        api = make_api(faults=FaultConfig(fail_rate=0.5, random_seed=42))
        return [api.get("/v3.1/districts").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert set(first) == {200, 503}


def test_bad_fault_settings_are_400(api: Api) -> None:
    for body in ({"fail_rate": 2}, {"nonsense": 1}, {"latency": {"BREW": 1}}, [1]):
        r = api.put("/_sandbox/faults", json=body)
        assert r.status_code == 400, body
        assert r.json()["message"]


def _over_socket(
    client: httpx.Client, root: str, faults: dict[str, Any]
) -> tuple[type[Exception] | int, int]:
    """POST once to a served sandbox with these faults (and no others); (error type or
    status, assignments the POST made)."""

    def count() -> int:
        return len(client.get(f"{root}/_sandbox/sections/{SECTION}/assignments").json()["data"])

    assert client.put(f"{root}/_sandbox/faults", json=faults).status_code == 200
    before = count()
    outcome: type[Exception] | int
    try:
        outcome = client.post(f"sections/{SECTION}/assignments", json=BODY).status_code
    except httpx.HTTPError as exc:
        outcome = type(exc)
    return outcome, count() - before


def test_faults_over_a_real_socket() -> None:
    with running_server(SandboxConfig()) as base_url:
        root = base_url.removesuffix("/v3.1")
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            assert _over_socket(client, root, {"fail_rate": 1.0}) == (503, 0)
            drop_before = _over_socket(client, root, {"drop_before_rate": 1.0})
            assert drop_before == (httpx.RemoteProtocolError, 0)
            drop_after = _over_socket(client, root, {"drop_after_rate": 1.0})
            assert drop_after == (httpx.RemoteProtocolError, 1)
            assert _over_socket(client, root, {"latency": 0.05}) == (200, 1)


def test_faults_and_clock_are_shared_by_sandboxes_on_one_db(tmp_path: Any) -> None:
    """A test pokes the db through one sandbox; lmsctl's own embedded sandbox obeys."""
    db = tmp_path / "shared.db"
    poke = Api(sandbox_transport(SandboxConfig(db_path=db)))
    lmsctl_side = Api(sandbox_transport(SandboxConfig(db_path=db)))
    poke.put("/_sandbox/faults", json={"fail_rate": 1.0, "methods": ["POST"]})
    assert lmsctl_side.post(ASSIGNMENTS, json=BODY).status_code == 503
    poke.put("/_sandbox/clock", json={"now": "2031-06-01T00:00:00Z"})
    later = Api(sandbox_transport(SandboxConfig(db_path=db)))
    assert later.get("/_sandbox/clock").json()["now"].startswith("2031-06-01T00:00")
    poke.post("/_sandbox/reset")
    assert lmsctl_side.post(ASSIGNMENTS, json=BODY).status_code == 200
