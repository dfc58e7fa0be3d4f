"""A shared rate limiter for one API token.

At most ``limit`` request starts in any sliding 60-second window (less a small safety margin),
so a server that counts a fixed one-minute window never sees more than its limit from us, while
throughput stays close to the limit. A 429 from the server pauses every request of the client
until the time the server named.

Two details keep a fixed-window server from ever counting more than the limit when hundreds of
calls are in flight (slow writes):

- a start is counted when the request is handed to the connection (``mark_sent``, called by
  the client just before sending), not only when it was allowed: a busy process may take a
  moment between the two, and the server counts what arrives;
- under sustained demand starts are paced. A sliding window alone replays a burst: calls ready
  at once start together, and one window later, when those starts expire together, the calls
  then waiting start together again. A burst delivered over a moment counts partly in each of
  the server's windows, differently each time, and one of them gets more than the limit. So
  once the window is full, starts are spaced about ``WINDOW / effective`` seconds apart (10%
  less, to make up a moment lost; a burst of at most half the margin: GCRA, the "virtual
  scheduling" form of a token bucket) until a request finds no other waiting. A short run
  below the limit still starts at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import math
import time
from collections.abc import Awaitable, Callable

WINDOW = 60.0
#: paced starts may run this much faster than the limit's rate, so a moment lost (no call was
#: ready) is made up within the window; the sliding window still caps the count
CATCH_UP = 1.1

#: the start the running task was allowed last (re-stamped when its request is sent)
_START: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "lmsctl_rate_start", default=None
)


class RateLimiter:
    """Sliding-window limiter shared by every task of one client."""

    def __init__(
        self,
        limit_per_minute: int,
        *,
        margin: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit_per_minute < 1:
            raise ValueError("the rate limit must be at least 1 request per minute")
        self.limit = limit_per_minute
        self.effective = max(1, math.floor(limit_per_minute * (1.0 - margin)))
        self._clock = clock
        self._sleep = sleep
        #: starts in the window, oldest first: [time] (a list, so a send can re-stamp it)
        self._starts: collections.deque[list[float]] = collections.deque()
        #: starts that may go at once while paced (half the margin, at least 1)
        self.burst = max(1, (limit_per_minute - self.effective) // 2)
        #: True once the window was full, until a request finds no other waiting
        self.paced = False
        self._next_start = -math.inf  # the paced time of the next start (GCRA's TAT)
        self._queued = 0  # requests in acquire (the one deciding included)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    @property
    def per_second(self) -> float:
        """Requests a second this limiter lets through when it is kept busy."""
        return self.effective / WINDOW

    def pause_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (after the server answered 429)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def paused_for(self) -> float:
        """Seconds left of the pause a 429 asked for (0 when none): for progress displays."""
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self) -> float:
        """Wait until one more request may start, count it, and return the seconds waited."""
        waited = 0.0
        self._queued += 1
        try:
            async with self._lock:
                while True:
                    now = self._clock()
                    wait = self._paused_until - now
                    if wait <= 0:
                        paced = self._start_or_wait(now)
                        if paced is None:
                            return waited
                        wait = paced
                    # never spin on a float rounding error: a wait is at least a millisecond
                    wait = max(wait, 0.001)
                    waited += wait
                    await self._sleep(wait)
        finally:
            self._queued -= 1

    def mark_sent(self) -> None:
        """The running task's request is being sent now: its start counts from now."""
        start = _START.get()
        if start is not None:
            start[0] = max(start[0], self._clock())
            _START.set(None)

    def _start_or_wait(self, now: float) -> float | None:
        """Count a start at ``now`` and return None, or return the seconds to wait first."""
        while self._starts and self._starts[0][0] <= now - WINDOW:
            self._starts.popleft()
        if len(self._starts) >= self.effective:
            if not self.paced:
                self.paced = True  # demand above the rate: pace from here on
                self._next_start = max(self._next_start, now)
            return self._starts[0][0] + WINDOW - now
        if self.paced and self._queued <= 1:
            self.paced = False  # nobody else waits: the demand is below the rate
        interval = WINDOW / (self.effective * CATCH_UP)
        if self.paced:
            wait = self._next_start - (self.burst - 1) * interval - now
            if wait > 0:
                return wait
        start = [now]
        self._starts.append(start)
        _START.set(start)
        self._next_start = max(self._next_start, now) + interval
        return None
