"""A shared rate limiter for one API token.

At most ``limit`` request starts in any sliding 60-second window (less a small safety margin),
so a server that counts a fixed one-minute window never sees more than its limit from us, while
throughput stays close to the limit. A 429 from the server pauses every request of the client
until the time the server named.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable

WINDOW = 60.0


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
        self._starts: collections.deque[float] = collections.deque()
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
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    wait = self._paused_until - now
                else:
                    while self._starts and self._starts[0] <= now - WINDOW:
                        self._starts.popleft()
                    if len(self._starts) < self.effective:
                        self._starts.append(now)
                        return waited
                    wait = self._starts[0] + WINDOW - now
                # never spin on a float rounding error: a wait is at least a millisecond
                wait = max(wait, 0.001)
                waited += wait
                await self._sleep(wait)
