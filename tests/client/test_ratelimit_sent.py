"""A request counts in the rate limiter's window until it has been sent, and from then on.

A busy process can hold a request for seconds between the limiter allowing it and the request
reaching the server (waiting for a pooled connection, or for an event loop busy with hundreds of
answers). The server counts it when it arrives: the limiter must too, or the requests it allows
meanwhile land in the same server window and the server answers 429.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from lmsctl.client import ratelimit
from lmsctl.client.lms import LmsClient
from lmsctl.client.ratelimit import RateLimiter
from lmsctl.sandbox.server import in_thread
from tests.support.client import TOKEN, FakeTime, run


def _max_in_any_window(times: list[float], width: float = 60.0) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


def test_a_request_held_before_it_is_sent_keeps_its_place_in_the_window() -> None:
    """Allowed at 0 s, held until 61.5 s: at 61 s, when the other starts of the first window
    have expired, the limiter lets through one fewer, so no window of sends holds more than
    the limit (counted from its start, it left the window at 60 s: 11 sends in one minute)."""
    ft = FakeTime()
    limiter = RateLimiter(10, margin=0.0, clock=ft.clock, sleep=ft.sleep)
    sends: list[float] = []
    hold = asyncio.Event()

    async def held() -> None:
        await limiter.acquire()
        await hold.wait()  # in the connection pool, or behind a busy event loop
        sends.append(ft.now)
        limiter.mark_sent()

    async def at_once() -> None:
        await limiter.acquire()
        sends.append(ft.now)
        limiter.mark_sent()

    async def go() -> None:
        first = asyncio.ensure_future(held())
        await asyncio.sleep(0)
        await asyncio.gather(*(at_once() for _ in range(9)))
        ft.now = 61.0
        later = [asyncio.ensure_future(at_once()) for _ in range(10)]
        await asyncio.sleep(0)  # each that may start now has started
        assert sends.count(61.0) == 9
        ft.now = 61.5
        hold.set()
        await first
        await asyncio.gather(*later)

    run(go())
    assert len(sends) == 20
    assert _max_in_any_window(sends) <= limiter.effective


def test_a_start_never_seen_sent_counts_from_when_it_was_given_up() -> None:
    """A request whose send failed (or whose task ended) before the transport said it was sent
    counts from then, and never holds its place for ever."""
    ft = FakeTime()
    limiter = RateLimiter(1, margin=0.0, clock=ft.clock, sleep=ft.sleep)

    async def failed_send() -> None:
        await limiter.acquire()
        ft.now += 5.0  # the connection attempt fails after 5 s; the task ends

    async def go() -> None:
        await asyncio.ensure_future(failed_send())
        await asyncio.sleep(0)
        assert limiter.pending == 0
        await limiter.acquire()  # counted from 5 s: the window frees at 65 s
        assert ft.now == pytest.approx(65.0)

    run(go())


def test_a_slow_event_loop_still_starts_the_requests_that_are_due_at_each_turn() -> None:
    """Each turn of the event loop takes 0.2 s (a busy process: hundreds of answers, state
    saves). Once paced, the limiter lets through at each turn every start that is due, so the
    run keeps the rate; handing the turn from one waiting request to the next would start one
    request per turn: 5 a second, a quarter of the limit (the stall of the 15 s-write runs)."""
    ft = FakeTime()
    limiter = RateLimiter(1200, clock=ft.clock, sleep=ft.sleep)
    starts: list[float] = []
    running = True

    async def busy() -> None:
        while running:
            ft.now += 0.2
            await asyncio.sleep(0)  # one turn of the loop

    async def one() -> None:
        await limiter.acquire()
        starts.append(ft.now)
        limiter.mark_sent()

    async def go() -> None:
        nonlocal running
        loop = asyncio.ensure_future(busy())
        await asyncio.gather(*(one() for _ in range(1176 + 600)))
        running = False
        await loop

    run(go())
    after = sorted(t for t in starts if t > 60.0)
    assert len(after) == 600
    assert _max_in_any_window(starts) <= limiter.effective
    # the 600 after the first window's turn: about 30 s at the rate (120 s at one per turn)
    assert after[-1] - after[0] <= 40.0


# -- over real HTTP ------------------------------------------------------------------------------

WINDOW = 2.0  # seconds: the client's window and the server's, shortened
LIMIT = 10  # requests per window on both sides
HELD = 9  # the first requests, held this long between the limiter and the wire:
HOLD = 2.6  # longer than a window (seconds)


class FixedWindowServer:
    """A fixed-window limit of LIMIT per WINDOW, 429 over it (with Retry-After, as Clever's
    limiter answers), counting every request when it arrives. Its windows are laid half a window
    off the first arrival, so an arrival a moment early or late stays in its window."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.rejected = 0
        self._lock = threading.Lock()

    def _window(self, now: float) -> tuple[int, float]:
        origin = self.arrivals[0] - WINDOW / 2
        index = math.floor((now - origin) / WINDOW)
        return index, origin + (index + 1) * WINDOW

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        now = time.monotonic()
        with self._lock:
            self.arrivals.append(now)
            index, reset = self._window(now)
            used = sum(1 for t in self.arrivals if self._window(t)[0] == index)
        if used > LIMIT:
            self.rejected += 1
            wait = str(max(1, math.ceil(reset - now)))
            body = json.dumps({"message": "Too Many Requests"}).encode()
            headers = [(b"retry-after", wait.encode()), (b"x-ratelimit-remaining", b"0")]
            status = 429
        else:
            section = scope["path"].rsplit("/", 1)[-1]
            body = json.dumps({"data": {"id": section}}).encode()
            headers = []
            status = 200
        headers += [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class HeldPool(httpx.AsyncHTTPTransport):
    """httpx's own transport, holding the first HELD requests for HOLD s before the pool (as a
    busy process does): the client's hooks have run, the request is not yet written."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= HELD:
            await asyncio.sleep(HOLD)
        return await super().handle_async_request(request)


@pytest.fixture
def server() -> Iterator[tuple[FixedWindowServer, str]]:
    app = FixedWindowServer()
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    with in_thread(uvicorn.Server(config), "the fixed-window server") as port:
        yield app, f"http://127.0.0.1:{port}/v3.1"


def test_requests_held_before_the_wire_never_draw_a_429(
    server: tuple[FixedWindowServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over real HTTP: the first 9 requests are allowed at once and held 2.6 s before they are
    written; the next 9 may start only a window after those were sent, so no server window gets
    more than its limit (counted from when they were allowed, the first 9 left the window at
    2 s, the next 9 started then, and both reached the server in the same window: 8 429s)."""
    app, url = server
    monkeypatch.setattr(ratelimit, "WINDOW", WINDOW)
    pool = HeldPool()

    async def go() -> None:
        async with LmsClient(
            url, TOKEN, transport=pool, rate_limit=LIMIT, allow_insecure=True
        ) as client:
            got = await asyncio.gather(*(client.get_section(f"s{i}") for i in range(2 * HELD)))
            assert [g["id"] for g in got] == [f"s{i}" for i in range(2 * HELD)]
            assert client.stats.rate_limited == app.rejected

    run(go())
    assert app.rejected == 0
    assert len(app.arrivals) == 2 * HELD
