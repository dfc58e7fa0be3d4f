"""How many changes to keep in flight: Little's law, fed by the latency lmsctl observes.

The API's limit is a rate (Clever: 1200 requests a minute, 20 a second), and a write may take
15-60 s. To use the whole rate, the number of changes in flight must be about::

    in flight = changes per second the limiter lets through x seconds one change takes
              = (requests per second / requests per change) x service time

(20/s x 15 s = 300; at 0.3 s, 6). A fixed number is wrong for all but one latency: too few
leaves the limit unused, too many only queues at the limiter and holds each change's re-check
open longer. :class:`AdaptiveGate` sizes itself from what it sees:

- the *service time* of a change: from taking its slot to giving it back, less the time its
  requests waited in the rate limiter or in a retry backoff (those waits say the limit is
  already used, not that the API is slow), smoothed as an exponentially weighted moving
  average (EWMA); and the requests a change makes, smoothed the same way;
- while no change has ended yet, or when the API slows down (the changes in flight are twice
  as old as the average), the age of the changes in flight (less their waits): a change in
  flight for 5 s shows the service time is at least 5 s, so the limit grows within seconds
  instead of after the first slow answer;
- the limiter's rate (``RateLimiter.per_second``), which the limit follows as it is.

The limit is ``HEADROOM`` x the product plus ``SPARE``, between a small floor and the cap the
user sets (``--parallelism``). It never causes a 429: every request still passes the shared
:class:`~lmsctl.client.ratelimit.RateLimiter`, which alone decides when a request may start;
a gate sized too large only makes changes wait there.

A change's requests report their waits to the slot through a context variable
(:func:`limiter_wait`), so the client needs no reference to the gate.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import heapq
import math
import time
from collections.abc import Awaitable, Callable, Iterator

from lmsctl.client.ratelimit import RateLimiter

#: the default cap on changes in flight: 60 s writes at 20 requests/s, with headroom
DEFAULT_MAX_IN_FLIGHT = 1500
#: seconds a request may take: Clever says creates and updates may take 15-60 s, and a create
#: that times out has an unknown outcome (never re-sent), so the default leaves a margin
DEFAULT_TIMEOUT = 90.0
#: the cap on reads in flight (refresh): 16 hold the limit (20/s) for reads of up to 0.8 s,
#: and reads answer faster. More gains no time: each is one more open connection (and, with
#: httpcore's own pool, cost CPU: bench/plan_scale.py at 10k grades and no rate limit, 4.6 s
#: at 16, 12 s at 64, 14 s at 1500; lmsctl's pool finds a connection in constant time)
READ_MAX_IN_FLIGHT = 16
#: the fewest changes in flight the gate allows (unless the cap is lower)
MIN_IN_FLIGHT = 8
#: the limit is this much above Little's product, so the limiter, not the gate, is what waits
#: (a little: more only queues at the limiter, whose queue then starts in bursts)
HEADROOM = 1.1
#: and this many slots more: a slot is also held while its request waits its paced turn at
#: the limiter, which weighs most when few are in flight (fast answers)
SPARE = 4
#: weight of a new sample in the moving averages
SMOOTHING = 0.2
#: how much older than the average the changes in flight must be to count as a slowdown
SLOWDOWN = 2.0
#: seconds between re-sizings while changes are waiting for a slot
RETUNE_EVERY = 0.25
#: the requests a second assumed for a client without a rate limiter (Clever's 1200/min)
DEFAULT_RATE = 20.0


class Meter:
    """One slot's account: when it was taken, its requests, and the seconds they waited."""

    __slots__ = ("_clock", "_wait_from", "requests", "start", "waited")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.start = clock()
        self.requests = 0
        self.waited = 0.0
        self._wait_from: float | None = None

    def wait_began(self) -> None:
        self._wait_from = self._clock()

    def wait_ended(self) -> None:
        if self._wait_from is not None:
            self.waited += max(0.0, self._clock() - self._wait_from)
            self._wait_from = None

    def service(self, now: float | None = None) -> float:
        """Seconds the slot has been held, less the waits of its requests (so far)."""
        now = self._clock() if now is None else now
        waiting = now - self._wait_from if self._wait_from is not None else 0.0
        return max(0.0, now - self.start - self.waited - waiting)


_METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar(
    "lmsctl_slot_meter", default=None
)


def current_meter() -> Meter | None:
    """The meter of the slot the running task holds, if any."""
    return _METER.get()


@contextlib.contextmanager
def limiter_wait() -> Iterator[None]:
    """Around a wait that is not the API's service (the rate limiter, a retry backoff)."""
    meter = _METER.get()
    if meter is None:
        yield
        return
    meter.wait_began()
    try:
        yield
    finally:
        meter.wait_ended()


def count_request() -> None:
    """One request is being sent for the change that holds the running task's slot."""
    meter = _METER.get()
    if meter is not None:
        meter.requests += 1


def request_rate(client: object) -> Callable[[], float]:
    """The requests per second ``client``'s rate limiter lets through (read when asked)."""
    limiter = getattr(client, "limiter", None)
    if isinstance(limiter, RateLimiter):
        return lambda: limiter.per_second
    return lambda: DEFAULT_RATE


class Slot:
    """One change's slot, held for an ``async with`` block (a class rather than a generator:
    a 100k-grade plan takes 10,000 of them). Ended by a cancellation it is given back without
    a sample (the change did not run its course); otherwise, failed or not, its service time is
    one."""

    __slots__ = ("_gate", "_meter", "_token")

    def __init__(self, gate: AdaptiveGate) -> None:
        self._gate = gate

    async def __aenter__(self) -> Meter:
        meter = self._meter = await self._gate.acquire()
        self._token = _METER.set(meter)
        return meter

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        _METER.reset(self._token)
        if kind is not None and issubclass(kind, asyncio.CancelledError):
            self._gate.release(self._meter)
        else:
            self._gate._done(self._meter)


class AdaptiveGate:
    """At most ``limit`` slots held at once; the limit follows Little's law (see the module).

    Waiters are served first come, first served. ``most_in_flight`` is the largest number of
    slots held at once (for tests and benchmarks).
    """

    def __init__(
        self,
        *,
        cap: int,
        rate: Callable[[], float] | float = DEFAULT_RATE,
        floor: int = MIN_IN_FLIGHT,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retune_every: float | None = RETUNE_EVERY,
    ) -> None:
        if cap < 1:
            raise ValueError("the cap on changes in flight must be at least 1")
        self.cap = cap
        self.floor = max(1, min(floor, cap))
        self._rate = rate if callable(rate) else (lambda: float(rate))
        self.headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._retune_every = retune_every
        #: smoothed service seconds and requests of one change (None before the first sample)
        self.latency: float | None = None
        self.requests_per_change = 1.0
        self.limit = self.floor
        self.most_in_flight = 0
        self._held: set[Meter] = set()
        self._waiters: collections.deque[asyncio.Future[Meter]] = collections.deque()
        #: waiters in the queue that were given up (cancelled) before their turn
        self._given_up = 0
        self._ticker: asyncio.Future[None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._held)

    @property
    def waiting(self) -> int:
        return len(self._waiters) - self._given_up

    # -- sizing ----------------------------------------------------------------------------------

    def observe(self, service: float, requests: int) -> None:
        """A change ended: it took ``service`` seconds (waits excluded) for ``requests``."""
        if requests < 1:
            return  # no request: nothing about the API (a move, or a change skipped)
        service = max(0.0, service)
        if self.latency is None:
            self.latency = service
            self.requests_per_change = float(requests)
        else:
            self.latency += SMOOTHING * (service - self.latency)
            self.requests_per_change += SMOOTHING * (requests - self.requests_per_change)
        self.retune()

    def target(self, latency: float) -> int:
        """Little's law: the slots that keep the limiter busy at ``latency`` s per change."""
        changes_per_second = self._rate() / max(self.requests_per_change, 1.0)
        wanted = math.ceil(self.headroom * changes_per_second * latency) + SPARE
        return max(self.floor, min(self.cap, wanted))

    def retune(self) -> int:
        """Re-size from the smoothed latency and the ages of the changes in flight."""
        latency = self.latency or 0.0
        if self._held and self.target(latency) < self.cap:  # (the ages can only raise it)
            now = self._clock()
            # about the 90th percentile age: one stuck call alone does not inflate the limit
            k = len(self._held) // 10 + 1
            age = heapq.nlargest(k, (m.service(now) for m in self._held))[-1]
            # before the first sample the ages are all there is; after it, only a clear slowdown
            # (twice the average) moves the limit before the slow changes end: a wait this gate
            # cannot see (a lock, a shared read) must not feed the limit that lengthens it
            if self.latency is None or age > SLOWDOWN * self.latency:
                latency = max(latency, age)
        self.limit = self.target(latency)
        self._wake()
        return self.limit

    # -- slots -----------------------------------------------------------------------------------

    def _grant(self) -> Meter:
        meter = Meter(self._clock)
        self._held.add(meter)
        self.most_in_flight = max(self.most_in_flight, len(self._held))
        return meter

    def _wake(self) -> None:
        while self._waiters and len(self._held) < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._grant())
            else:
                self._given_up -= 1

    async def acquire(self) -> Meter:
        """Wait for a slot (first come, first served) and take it."""
        if not self.waiting and len(self._held) < self.limit:
            return self._grant()
        waiter: asyncio.Future[Meter] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._start_ticker()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # granted just as it was cancelled
            else:
                self._given_up += 1  # (left in the queue, skipped when its turn comes)
            raise

    def release(self, meter: Meter) -> None:
        """Give the slot back (without a sample)."""
        self._held.discard(meter)
        self._wake()

    def slot(self) -> Slot:
        """Hold a slot for one change (``async with gate.slot():``); its service time is a
        sample when it ends."""
        return Slot(self)

    def _done(self, meter: Meter) -> None:
        self._held.discard(meter)
        self.observe(meter.service(), meter.requests)
        self._wake()

    # -- re-sizing while changes wait --------------------------------------------------------

    def _start_ticker(self) -> None:
        if self._retune_every is None or (self._ticker is not None and not self._ticker.done()):
            return
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        assert self._retune_every is not None
        while self.waiting:
            await self._sleep(self._retune_every)
            self.retune()

    def close(self) -> None:
        """Stop re-sizing (the phase ended or was cancelled)."""
        if self._ticker is not None and not self._ticker.done():
            self._ticker.cancel()
        self._ticker = None


__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "HEADROOM",
    "MIN_IN_FLIGHT",
    "SPARE",
    "AdaptiveGate",
    "Meter",
    "count_request",
    "current_meter",
    "limiter_wait",
    "request_rate",
]
