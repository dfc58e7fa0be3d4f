"""The adaptive gate: Little's law from observed latency, on a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from lmsctl.client import ratelimit
from lmsctl.client.concurrency import (
    HEADROOM,
    SPARE,
    AdaptiveGate,
    Meter,
    count_request,
    current_meter,
    limiter_wait,
    request_rate,
)
from lmsctl.client.lms import LmsClient
from lmsctl.client.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def gate(clock: FakeClock, *, cap: int = 1000, rate: float = 20.0, floor: int = 8) -> AdaptiveGate:
    return AdaptiveGate(cap=cap, rate=rate, floor=floor, clock=clock, retune_every=None)


def test_the_limit_is_rate_times_latency_with_headroom() -> None:
    clock = FakeClock()
    g = gate(clock)
    assert g.limit == 8  # the floor, before anything is known
    g.observe(15.0, 1)  # one 15 s write
    assert g.limit == (
        math.ceil(HEADROOM * 20 * 15) + SPARE
    )  # 334: 20/s x 15 s, plus a tenth and 4
    g2 = gate(clock)
    g2.observe(1.0, 1)
    assert g2.limit == 26  # 20/s x 1 s x 1.1, and 4 spare: more than the old fixed 10
    g3 = gate(clock)
    g3.observe(0.01, 1)
    assert g3.limit == 8  # fast answers: the floor


def test_the_limit_stays_between_the_floor_and_the_users_cap() -> None:
    clock = FakeClock()
    g = gate(clock, cap=100)
    g.observe(60.0, 1)
    assert g.limit == 100
    tiny = gate(clock, cap=2)
    assert tiny.limit == 2  # a cap below the floor is the limit (--parallelism 1 stays 1)
    with pytest.raises(ValueError):
        AdaptiveGate(cap=0)


def test_changes_that_make_several_requests_need_fewer_slots() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.observe(1.0, 2)  # a re-read and a write per change: 10 changes/s at 20 requests/s
    assert g.limit == (math.ceil(HEADROOM * 10 * 1.0) + SPARE)


def test_the_moving_average_follows_a_change_of_latency() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.observe(1.0, 1)
    for _ in range(30):
        g.observe(15.0, 1)
    assert g.latency is not None and 14.5 < g.latency <= 15.0
    assert (
        (math.ceil(HEADROOM * 20 * 14.5) + SPARE)
        <= g.limit
        <= (math.ceil(HEADROOM * 20 * 15) + SPARE)
    )
    for _ in range(30):
        g.observe(0.3, 1)
    assert g.limit == (math.ceil(HEADROOM * 20 * g.latency) + SPARE) < 15


def test_the_rate_is_read_from_the_limiter_when_the_limit_changes() -> None:
    limiter = RateLimiter(1200)
    rate = request_rate(type("C", (), {"limiter": limiter})())
    assert rate() == pytest.approx(1176 / 60)  # the limiter's 2% margin
    assert request_rate(object())() == 20.0  # no limiter: Clever's 1200/min
    clock = FakeClock()
    g = AdaptiveGate(cap=1000, rate=lambda: 5.0, clock=clock, retune_every=None)
    g.observe(10.0, 1)
    assert g.limit == (math.ceil(HEADROOM * 5 * 10) + SPARE)


def test_limiter_waits_do_not_count_as_service_time() -> None:
    clock = FakeClock()
    meter = Meter(clock)
    clock.now = 1.0
    meter.wait_began()  # waits 10 s in the rate limiter
    clock.now = 11.0
    assert meter.service() == pytest.approx(1.0)  # while waiting: the wait so far is left out
    meter.wait_ended()
    clock.now = 12.0
    assert meter.service() == pytest.approx(2.0)


def test_slow_changes_in_flight_raise_the_limit_before_any_ends() -> None:
    clock = FakeClock()
    g = gate(clock)

    async def main() -> None:
        meters = [await g.acquire() for _ in range(8)]
        assert g.limit == 8 and g.in_flight == 8
        clock.now = 4.0  # none has ended after 4 s: a change takes at least 4 s
        assert g.retune() == (math.ceil(HEADROOM * 20 * 4.0) + SPARE)
        for m in meters:
            g.release(m)

    asyncio.run(main())


def test_one_stuck_call_alone_does_not_inflate_the_limit() -> None:
    clock = FakeClock()
    g = gate(clock)

    async def main() -> None:
        g.observe(0.5, 1)
        stuck = await g.acquire()  # hangs for 60 s
        clock.now = 59.0
        others = [await g.acquire() for _ in range(g.limit - 1)]  # each in flight for 0.5 s
        clock.now = 59.5
        # the 90th percentile age decides, not the oldest one
        assert g.retune() == (math.ceil(HEADROOM * 20 * 0.5) + SPARE)
        for m in [stuck, *others]:
            g.release(m)

    asyncio.run(main())


def test_waiters_are_served_in_order_as_the_limit_grows() -> None:
    clock = FakeClock()
    g = gate(clock, floor=2)
    order: list[int] = []

    async def change(n: int) -> None:
        async with g.slot():
            order.append(n)
            await asyncio.sleep(0)
            count_request()
            clock.now += 1.0

    async def main() -> None:
        held = [await g.acquire(), await g.acquire()]
        tasks = [asyncio.ensure_future(change(n)) for n in range(5)]
        await asyncio.sleep(0)
        assert order == [] and g.waiting == 5  # the limit (2) is taken
        g.observe(1.0, 1)  # 1 s changes: Little's law wants 25
        for m in held:
            g.release(m)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
        assert g.in_flight == 0 and g.most_in_flight == 7

    asyncio.run(main())


def test_a_cancelled_waiter_takes_no_slot() -> None:
    clock = FakeClock()
    g = gate(clock, cap=1)

    async def main() -> None:
        held = await g.acquire()
        waiter = asyncio.ensure_future(g.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        g.release(held)
        assert g.in_flight == 0
        again = await asyncio.wait_for(g.acquire(), 1)  # the slot is free
        g.release(again)

    asyncio.run(main())


def test_waiters_given_up_no_longer_count_as_waiting_and_the_rest_keep_their_order() -> None:
    clock = FakeClock()
    g = gate(clock, cap=1, floor=1)

    async def main() -> None:
        held = await g.acquire()
        order: list[int] = []

        async def wait(i: int) -> None:
            meter = await g.acquire()
            order.append(i)
            g.release(meter)

        tasks = [asyncio.ensure_future(wait(i)) for i in range(5)]
        await asyncio.sleep(0)
        assert g.waiting == 5
        tasks[1].cancel()
        tasks[3].cancel()
        await asyncio.sleep(0)
        assert g.waiting == 3  # (what the re-sizing ticker and a new request's fast path read)
        g.release(held)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert order == [0, 2, 4] and g.waiting == 0 and g.in_flight == 0
        again = await asyncio.wait_for(g.acquire(), 1)  # no stale waiter blocks a new request
        g.release(again)

    asyncio.run(main())


def test_the_gate_re_sizes_itself_while_changes_wait() -> None:
    clock = FakeClock()
    g = AdaptiveGate(cap=1000, rate=20.0, clock=clock, sleep=clock.sleep, retune_every=0.25)

    async def slow_change(done: asyncio.Event) -> None:
        async with g.slot():
            count_request()
            await done.wait()

    async def main() -> None:
        done = asyncio.Event()
        tasks = [asyncio.ensure_future(slow_change(done)) for _ in range(100)]
        while g.in_flight < 100 and clock.now < 10:
            await asyncio.sleep(0)
        # re-sized every 0.25 s of fake time from the ages in flight (none ended yet): 100 in
        # flight needs (100 - 4) / (1.1 x 20/s) = 4.4 s of observed age, and takes little more
        assert g.in_flight == 100
        assert (100 - SPARE) / (HEADROOM * 20) <= clock.now <= 6.5
        done.set()
        await asyncio.gather(*tasks)
        g.close()

    asyncio.run(main())


def test_the_clients_requests_report_their_limiter_waits_to_the_slot() -> None:
    """A request that waits in the client's rate limiter: the wait is not service time."""
    clock = FakeClock()

    def answer(request: httpx.Request) -> httpx.Response:
        clock.now += 0.5  # the API takes 0.5 s
        return httpx.Response(200, json={"data": {"id": "a1"}})

    async def main() -> None:
        client = LmsClient(
            "http://127.0.0.1/v3.1",
            "token",
            transport=httpx.MockTransport(answer),
            rate_limit=1,  # one request a minute: the second waits about 60 s
            clock=clock,
            sleep=clock.sleep,
        )
        g = AdaptiveGate(cap=10, rate=request_rate(client), clock=clock, retune_every=None)
        async with g.slot() as meter:
            assert current_meter() is meter
            await client.get_section("s1")
            await client.get_section("s1")
            assert meter.requests == 2
            assert meter.waited == pytest.approx(59.5)
            assert meter.service() == pytest.approx(1.0)
        assert current_meter() is None
        assert g.latency == pytest.approx(1.0)
        await client.aclose()

    asyncio.run(main())


def test_waits_outside_a_slot_are_ignored() -> None:
    with limiter_wait():
        count_request()
    assert current_meter() is None


def test_the_limiter_rate_follows_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "WINDOW", 15.0)
    assert RateLimiter(300).per_second == pytest.approx(294 / 15)


def test_after_samples_only_a_clear_slowdown_in_flight_raises_the_limit() -> None:
    """Changes a little older than the average (waiting on something the gate cannot see, a
    shared read or a lock) do not grow the limit; twice as old (the API slowed down) do."""
    clock = FakeClock()
    g = gate(clock)

    async def main() -> None:
        g.observe(1.0, 1)
        assert g.limit == 26
        held = [await g.acquire() for _ in range(26)]
        clock.now = 1.9
        assert g.retune() == 26  # 1.9 s < 2 x 1 s: the average decides
        clock.now = 3.0
        assert g.retune() == (math.ceil(HEADROOM * 20 * 3.0) + SPARE)  # a slowdown: the ages decide
        for m in held:
            g.release(m)

    asyncio.run(main())
