"""The shared rate limiter: never trips a server's per-minute limit, yet keeps near it."""

from __future__ import annotations

import asyncio
import bisect

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsctl.client.ratelimit import RateLimiter
from tests.support.client import FakeTime, make_client, message, ok, run


def _max_in_any_window(starts: list[float], width: float = 60.0) -> int:
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, t + width) - i for i, t in enumerate(starts))


def test_limiter_keeps_a_two_percent_margin() -> None:
    assert RateLimiter(1200).effective == 1176
    assert RateLimiter(100).effective == 98
    assert RateLimiter(1).effective == 1
    with pytest.raises(ValueError):
        RateLimiter(0)


@pytest.mark.parametrize("offset", [0.0, 13.7, 59.99])
def test_a_fixed_window_server_never_answers_429_to_many_concurrent_tasks(offset: float) -> None:
    """A server counting 100 requests per fixed minute (starting anywhere) never limits us."""
    ft = FakeTime()
    ft.now = offset
    counts: dict[int, int] = {}
    starts: list[float] = []

    def server(request: httpx.Request) -> httpx.Response:
        starts.append(ft.now)
        minute = int(ft.now // 60)
        counts[minute] = counts.get(minute, 0) + 1
        if counts[minute] > 100:
            return message(429, "Too Many Requests", **{"Retry-After": "60"})
        return ok({"id": request.url.path})

    async def go() -> None:
        async with make_client(server, ft, rate_limit=100) as client:
            async with asyncio.TaskGroup() as tg:
                for i in range(500):
                    tg.create_task(client.get_section(f"s{i}"))
            assert client.stats.rate_limited == 0
            assert client.stats.requests == 500

    run(go())
    assert _max_in_any_window(starts) <= 98
    # throughput: the first 5 minutes carry at least 95% of what the limit allows
    first_five = sum(1 for t in starts if t < offset + 300)
    assert first_five >= 0.95 * 500


def test_the_limit_is_shared_by_every_kind_of_call() -> None:
    ft = FakeTime()
    starts: list[float] = []

    def server(request: httpx.Request) -> httpx.Response:
        starts.append(ft.now)
        if request.method == "GET" and request.url.path.endswith("/submissions"):
            return httpx.Response(200, json={"data": [], "links": []})
        return ok({"id": "x"})

    async def go() -> None:
        async with make_client(server, ft, rate_limit=10) as client:
            await asyncio.gather(
                *(client.get_assignment("s", f"a{i}") for i in range(10)),
                *(client.update_submission("s", "a", f"u{i}", {"grade": 1}) for i in range(10)),
                *(client.list_submissions("s", f"a{i}") for i in range(10)),
            )

    run(go())
    assert len(starts) == 30
    assert _max_in_any_window(starts) <= 9
    assert max(starts) <= 180.0


def test_limiter_waits_are_counted_in_the_stats() -> None:
    ft = FakeTime()

    async def go() -> None:
        async with make_client(lambda r: ok(), ft, rate_limit=3) as client:
            for _ in range(3):
                await client.get_section("s")
            assert client.stats.waited_seconds == pytest.approx(60.0)
            assert ft.now == pytest.approx(60.0)

    run(go())


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=60),
    gaps=st.lists(st.floats(min_value=0.0, max_value=40.0), min_size=1, max_size=150),
)
def test_no_sliding_minute_ever_holds_more_than_the_effective_limit(
    limit: int, gaps: list[float]
) -> None:
    ft = FakeTime()
    limiter = RateLimiter(limit, clock=ft.clock, sleep=ft.sleep)
    starts: list[float] = []

    async def go() -> None:
        for gap in gaps:
            ft.now += gap  # idle time before the next request arrives
            await limiter.acquire()
            starts.append(ft.now)

    run(go())
    assert _max_in_any_window(starts) <= limiter.effective
    # and it waits no longer than the limit needs
    assert ft.now <= sum(gaps) + (len(gaps) // limiter.effective + 1) * 60.0 + 1.0
