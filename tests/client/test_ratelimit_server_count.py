"""The limiter reads the server's own count (X-RateLimit-Limit/-Remaining/-Reset with Date): a
burst at the start no longer costs the next window half its requests, and no window of the
server's ever holds more than its limit."""

from __future__ import annotations

import asyncio
import collections
import email.utils
import math

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsctl.client.lms import LmsClient
from lmsctl.client.ratelimit import RateLimiter
from tests.support.client import BASE, TOKEN
from tests.support.virtual_time import VirtualClock, run_virtual

EPOCH = 1_800_000_000 - 1_800_000_000 % 60  # a server minute starts here


class FixedWindowServer:
    """Counts each request when it arrives in its clock's minute; answers 429 beyond ``limit``;
    every answer says the count (the sandbox's and Clever's headers). Its minutes start at the
    local time ``first_reset`` (and every 60 s after); ``date_off`` moves its Date header alone
    (a Date of another clock than its reset)."""

    def __init__(
        self,
        clock: VirtualClock,
        limit: int,
        *,
        first_reset: float,
        latency: float,
        headers: bool = True,
        date_off: float = 0.0,
    ) -> None:
        self.clock = clock
        self.limit = limit
        self.latency = latency
        self.headers = headers
        self.date_off = date_off
        self.start = EPOCH + 60 - first_reset  # the server's time at local 0
        self.counts: collections.Counter[int] = collections.Counter()
        self.refused = 0
        self.arrivals: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.start + self.clock.now
        minute = math.floor(now / 60)
        self.counts[minute] += 1
        used = self.counts[minute]
        headers = {}
        if self.headers:
            headers = {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, self.limit - used)),
                "X-RateLimit-Reset": str((minute + 1) * 60),
                "Date": email.utils.formatdate(math.floor(now + self.date_off), usegmt=True),
            }
        if used > self.limit:
            self.refused += 1
            return httpx.Response(429, json={"message": "Too Many Requests"}, headers=headers)
        self.arrivals.append(self.clock.now)
        await asyncio.sleep(self.latency if request.method != "GET" else 0.05)
        return httpx.Response(200, json={"data": {"id": "x"}}, headers=headers)

    def full_minutes(self) -> list[int]:
        """Requests counted in each of the server's minutes that the run spans whole."""
        first = math.floor((self.start + self.arrivals[0]) / 60) + 1
        last = math.floor((self.start + self.arrivals[-1]) / 60) - 1
        return [self.counts[m] for m in range(first, last + 1)]


def run_apply(
    server: FixedWindowServer, clock: VirtualClock, *, reads: int, writes: int, at_once: int
) -> LmsClient:
    """A plan's reads all at once, then writes ``at_once`` at a time (more than the rate)."""

    async def go() -> LmsClient:
        client = LmsClient(
            BASE,
            TOKEN,
            transport=httpx.MockTransport(server),
            sleep=asyncio.sleep,
            clock=clock,
            rate_limit=server.limit,
        )
        async with client:
            await asyncio.gather(*(client.get_section(f"s{i}") for i in range(reads)))
            room = asyncio.Semaphore(at_once)

            async def write(i: int) -> None:
                async with room:
                    await client.update_submission("s", "a", f"u{i}", {"grade_points": 1})

            await asyncio.gather(*(write(i) for i in range(writes)))
        return client

    return run_virtual(go(), clock)


def test_after_a_burst_every_server_window_is_used_when_the_server_says_its_count() -> None:
    """100 reads at once, then 1 s writes: the sliding window alone is full until the burst
    leaves it, 60 s later, though the server's minute reset 20 s in; the server's count and
    reset let the writes go on from its reset."""
    clock = VirtualClock()
    server = FixedWindowServer(clock, 120, first_reset=20.0, latency=1.0)
    client = run_apply(server, clock, reads=100, writes=700, at_once=5)
    assert server.refused == 0 and client.stats.rate_limited == 0
    minutes = server.full_minutes()
    assert len(minutes) >= 4
    assert all(n <= 117 for n in minutes)  # the 2% margin is kept in the server's count too
    assert all(n >= 0.95 * 120 for n in minutes), minutes


def test_without_the_servers_count_the_first_window_after_a_burst_is_lost() -> None:
    """The same run against a server that says nothing: only the sliding window decides, and
    the minute after the burst carries little (what the server's count wins back)."""
    clock = VirtualClock()
    server = FixedWindowServer(clock, 120, first_reset=20.0, latency=1.0, headers=False)
    client = run_apply(server, clock, reads=100, writes=700, at_once=5)
    assert server.refused == 0 and client.stats.rate_limited == 0
    minutes = server.full_minutes()
    assert minutes[0] < 0.6 * 120
    assert max(minutes) <= 117


def test_a_date_of_another_clock_is_not_compared_with_the_reset() -> None:
    """A Date an hour off its reset (a proxy's clock, say): the reset is not predicted from
    it; the run is as safe as the sliding window alone."""
    clock = VirtualClock()
    server = FixedWindowServer(clock, 120, first_reset=20.0, latency=1.0, date_off=3600.0)
    client = run_apply(server, clock, reads=100, writes=400, at_once=5)
    assert server.refused == 0 and client.stats.rate_limited == 0
    assert max(server.counts.values()) <= 117


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=5, max_value=150),
    first_reset=st.floats(min_value=0.0, max_value=59.9),
    latency=st.sampled_from([0.05, 0.3, 1.0, 3.0, 15.0]),
    at_once=st.integers(min_value=1, max_value=40),
    reads=st.integers(min_value=0, max_value=200),
    date_off=st.sampled_from([0.0, 0.0, -0.5, 0.999]),
)
def test_no_server_window_ever_holds_more_than_its_limit(
    limit: int, first_reset: float, latency: float, at_once: int, reads: int, date_off: float
) -> None:
    """Whatever the server's phase, the answers' latency, the demand and a Date that is up to a
    second off (the header's rounding): never a 429, never over the limit in a window."""
    clock = VirtualClock()
    server = FixedWindowServer(
        clock, limit, first_reset=first_reset, latency=latency, date_off=date_off
    )
    client = run_apply(server, clock, reads=reads, writes=3 * limit, at_once=at_once)
    assert server.refused == 0 and client.stats.rate_limited == 0
    assert max(server.counts.values()) <= limit


def _headers(limit: int, remaining: int, **more: str) -> httpx.Headers:
    return httpx.Headers(
        {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), **more}
    )


def test_a_429_or_a_second_bucket_stops_the_limiter_trusting_the_servers_count() -> None:
    limiter = RateLimiter(100)
    limiter.answered(_headers(100, 90), 0)
    assert limiter.server_count and limiter.credit == 100 - 2 - 10 + 1
    limiter.refused()
    limiter.answered(_headers(100, 99), 5)
    assert not limiter.server_count and limiter.credit == -math.inf

    limiter = RateLimiter(100)
    limiter.answered(_headers(100, 90, **{"X-RateLimit-Bucket": "sections"}), 0)
    limiter.answered(_headers(100, 90, **{"X-RateLimit-Bucket": "sections"}), 1)
    assert limiter.server_count
    limiter.answered(_headers(100, 99, **{"X-RateLimit-Bucket": "submissions"}), 2)
    assert not limiter.server_count and limiter.credit == -math.inf


def test_a_lower_limit_of_lmsctls_own_caps_the_servers_count() -> None:
    """--rate-limit 60 against a server that allows 1200: the server's count allows 60 a
    window (less the margin), not 1200."""
    limiter = RateLimiter(60)
    limiter.answered(_headers(1200, 1199), 0)
    assert limiter.credit == 60 - 2 - 1 + 1
    for bad in (_headers(0, 0), _headers(100, 101), httpx.Headers({"X-RateLimit-Limit": "x"})):
        fresh = RateLimiter(60)
        fresh.answered(bad, 0)
        assert fresh.credit == -math.inf and fresh.settled == 1
