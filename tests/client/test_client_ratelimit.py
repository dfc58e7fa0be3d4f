"""The shared rate limiter: never trips a server's per-minute limit, yet keeps near it."""

from __future__ import annotations

import asyncio
import bisect
import math

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsctl.client.ratelimit import CATCH_UP, RateLimiter
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
    # the first 9 at once; once the window is full the rest are paced, one every 60/9 s (a
    # burst replayed a window later is what trips a fixed-window server: see below)
    assert max(starts) <= 60.0 + (30 - 9 - 1) * 60.0 / 9 + 0.01


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
            limiter.mark_sent()  # sent at once (as the client marks it)

    run(go())
    assert _max_in_any_window(starts) <= limiter.effective
    # and it waits no longer than the limit needs
    assert ft.now <= sum(gaps) + (len(gaps) // limiter.effective + 1) * 60.0 + 1.0


def test_a_burst_is_not_replayed_one_window_later() -> None:
    """3000 calls ready at once: the first window's burst is allowed, but from the window's turn
    the starts are paced, so no later second holds more than the rate (with its catch-up) and a
    small burst (a sliding window alone starts 1176 again at once, 60 s later, and again every
    minute)."""
    ft = FakeTime()
    limiter = RateLimiter(1200, clock=ft.clock, sleep=ft.sleep)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(ft.now)
        limiter.mark_sent()

    async def go() -> None:
        await asyncio.gather(*(one() for _ in range(3000)))

    run(go())
    assert _max_in_any_window(starts) <= 1176
    later = [t for t in starts if t >= 60.0]
    assert len(later) == 3000 - 1176
    assert _max_in_any_window(later, width=1.0) <= limiter.burst + math.ceil(1176 / 60 * CATCH_UP)


def test_a_start_counts_from_when_its_request_is_sent() -> None:
    """A request allowed at 0 s but sent at 5 s (a busy process) holds its place in the window
    until 65 s: the server counts what arrives, when it arrives."""
    ft = FakeTime()
    limiter = RateLimiter(1, clock=ft.clock, sleep=ft.sleep)

    async def go() -> None:
        await limiter.acquire()
        ft.now = 5.0
        limiter.mark_sent()
        await limiter.acquire()
        assert ft.now == pytest.approx(65.0)

    run(go())
