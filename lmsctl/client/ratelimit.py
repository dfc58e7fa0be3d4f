"""A shared rate limiter for one API token.

At most ``limit`` requests in any sliding 60-second window (less a small safety margin), so a
server that counts a fixed one-minute window never sees more than its limit from us, while
throughput stays close to the limit. A 429 from the server pauses every request of the client
until the time the server named.

The server counts a request when it arrives, so the window holds the times requests were *sent*,
and a request is in the window from the moment it is allowed until it has been sent:

- ``acquire`` allows a start and counts it as *pending*: a pending start is inside every window
  (it may reach the server at any moment) until ``mark_sent`` stamps it with the time its
  request went out (the client calls it once the request has been written to the connection),
  from which it stays for one window. A busy process can hold a request for seconds between
  the two (waiting for a pooled connection, or for an event loop busy with hundreds of answers):
  counted only from the moment it was allowed, it would leave the window before it reached the
  server, and the requests allowed in its place would land in the same server window as it;
- a start never seen sent (its request failed, or its task was cancelled) is stamped when the
  client gives up on it, or at the task's next ``acquire`` (a task sends one request at a time).

Under sustained demand starts are paced. A sliding window alone replays a burst: calls ready at
once start together, and one window later, when those starts expire together, the calls then
waiting start together again. A burst delivered over a moment counts partly in each of the
server's windows, differently each time, and one of them gets more than the limit. So once the
window is full, starts are spaced about ``WINDOW / effective`` seconds apart (10% less, to make
up a moment lost; a burst of at most half the margin: GCRA, the "virtual scheduling" form of a
token bucket) until a request finds no other waiting. A short run below the limit still starts
at once.

The sliding window alone is safe wherever the server's windows start, but it is blind: after a
burst (a plan's reads, all at once) it holds the next window's requests back until the burst's
starts leave it, one window later, while the server's own fixed window has long since reset;
every window that spans that gap is half used. So the limiter also reads the server's own count,
when its answers carry it (``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``, as Clever's and
the sandbox's do): an answer says how many requests the server had counted when it arrived, and
every start not settled (answered or failed) before that request was allowed may have arrived
after it. So it allows ``cap - margin - used - (starts since, not known to be earlier)`` more
(``cap``: the lower of the server's limit and lmsctl's; ``margin``: the same 2%), which holds
whatever the server's window is (fixed, sliding, a leaky bucket: its count only falls with
time) and counts other clients of the same token too. A start may go when either the sliding
window or the server's count allows it. The server's count is not trusted again in a run once
the server answered 429 or named a second bucket (``X-RateLimit-Bucket``): a count that is
another endpoint's, or wrong, must not pace this one.

Waiting requests are let through by one dispatcher, first come, first served, as many at once as
are due: a slow event loop (one turn taking a second) still starts a second's worth of requests
per turn, instead of one request per turn, which would stall the run far below the limit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmsctl.client.answer import HeaderLookup

WINDOW = 60.0
#: paced starts may run this much faster than the limit's rate, so a moment lost (no call was
#: ready) is made up within the window; the sliding window still caps the count
CATCH_UP = 1.1
#: a dispatcher woken late (a busy event loop) starts at once the paced starts it missed, up to
#: this many seconds' worth (the sliding window still caps the count)
LATE_SPAN = 1.0
#: the transport's trace event that says a request has been written to its connection (the
#: server can count it from now): httpcore's, after the headers and body went out
SENT_EVENT = ".receive_response_headers.started"
#: the headers of the server's own count (names are matched in any case)
LIMIT_HEADER = "X-RateLimit-Limit"
REMAINING_HEADER = "X-RateLimit-Remaining"
RESET_HEADER = "X-RateLimit-Reset"
BUCKET_HEADER = "X-RateLimit-Bucket"
#: a reset is taken as passed this long after its Date says: a Date rounded up, or stamped by a
#: machine a little ahead of the one that counts, must not make a request arrive before it
RESET_GUARD = 1.0


class _Start:
    """One allowed start, pending until its request is sent."""

    __slots__ = ("limiter", "pending", "task")

    def __init__(self, limiter: RateLimiter, task: asyncio.Task[Any] | None) -> None:
        self.limiter = limiter
        self.pending = True
        self.task = task  # settles the start when it ends, if nothing did before

    def __call__(self, task: asyncio.Task[Any]) -> None:
        self.task = None
        self.limiter._settle(self)


#: the start the running task was allowed last (stamped when its request is sent)
_START: contextvars.ContextVar[_Start | None] = contextvars.ContextVar(
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
        #: when the counted requests were sent, oldest first (stamped in time order)
        self._sent: collections.deque[float] = collections.deque()
        #: starts allowed whose requests are not yet sent: inside every window until they are
        self.pending = 0
        #: starts that may go at once while paced (half the margin, at least 1)
        self.burst = max(1, (limit_per_minute - self.effective) // 2)
        #: True once the window was full, until a request finds no other waiting
        self.paced = False
        self._next_start = -math.inf  # the paced time of the next start (GCRA's TAT)
        self._paused_until = 0.0
        #: every start allowed so far, and the requests settled (answered or failed) so far
        self.starts = 0
        self.settled = 0
        #: starts allowed while ``starts`` is below it, by the server's count (see the module)
        self.credit = -math.inf
        #: False once the server's count is not to be trusted (a 429, a second bucket)
        self.server_count = True
        self._bucket: str | None = None
        #: the server's next reset: (its X-RateLimit-Reset, the local time by which it has
        #: surely passed, the credit from then on); None before an answer said when
        self._reset: tuple[int, float, float] | None = None
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._dispatcher: asyncio.Future[None] | None = None

    @property
    def per_second(self) -> float:
        """Requests a second this limiter lets through when it is kept busy."""
        return self.effective / WINDOW

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn now (for progress displays and tests)."""
        return sum(1 for w in self._waiters if not w.done())

    def pause_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (after the server answered 429)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def answered(
        self, headers: HeaderLookup | None, settled_before: int, date: float | None = None
    ) -> None:
        """A request allowed when ``settled_before`` requests had settled has its answer (its
        ``headers``, its ``Date`` as Unix seconds) or failed (None): it settles, and its
        server's count may allow more."""
        self.settled += 1
        if headers is None or not self.server_count:
            return
        count = self._server_count(headers)
        if count is None:
            return
        cap, used = count
        # every start not settled before this request was allowed may have arrived after it
        known = settled_before + 1
        self._reset_after(headers, date, cap + known)
        if cap - used + known > self.credit:
            self.credit = cap - used + known
            self._let_through()

    def refused(self) -> None:
        """The server answered 429: its count is not trusted again in this run."""
        self.server_count = False
        self.credit = -math.inf
        self._reset = None

    def _server_count(self, headers: HeaderLookup) -> tuple[int, int] | None:
        """(the requests this client may make in the server's window, those the server has
        counted), or None when the answer does not say."""
        try:
            limit = int(headers.get(LIMIT_HEADER) or "")
            if limit < 1:
                return None  # (a server that counts nothing: the sandbox without its limit)
            remaining = int(headers.get(REMAINING_HEADER) or "")
        except ValueError:
            return None  # (absent, or not a number: the sliding window alone decides)
        if not 0 <= remaining <= limit:
            return None
        bucket = headers.get(BUCKET_HEADER)
        if bucket is not None:
            if self._bucket is not None and bucket != self._bucket:
                self.refused()  # a count per bucket: this one's says nothing of the next's
                return None
            self._bucket = bucket
        # counted by the server when this request arrived, itself too
        return min(limit, self.limit) - (self.limit - self.effective), limit - remaining

    def _reset_after(self, headers: HeaderLookup, now: float | None, credit: float) -> None:
        """Note when the server's window surely resets (its ``X-RateLimit-Reset`` less its
        ``Date``, both its clock: no clock of ours is compared with the server's) and the credit
        from then on: none of the starts this answer knew of is in the next window."""
        try:
            reset = int(headers.get(RESET_HEADER) or "")
        except ValueError:
            return
        # Date is rounded down to the second: the reset is at most this far off, never nearer
        left = reset - now if now is not None else -1.0
        if not 0 <= left <= WINDOW:
            return  # (no Date, or one of another clock: only the answers tell a reset)
        at = self._clock() + left + RESET_GUARD
        current = self._reset
        if current is None or reset > current[0]:
            self._reset = (reset, at, credit)
        elif reset == current[0]:  # the same reset: the earliest bound, the largest credit
            self._reset = (reset, min(at, current[1]), max(credit, current[2]))

    def _reset_passed(self, now: float) -> None:
        """The server's window has surely reset: the credit noted for it applies."""
        if self._reset is not None and self._reset[1] <= now:
            self.credit = max(self.credit, self._reset[2])
            self._reset = None

    def _let_through(self) -> None:
        """Let the waiting requests through that may start now (the server allowed more)."""
        now = self._clock()
        while self._waiters:
            if self._waiters[0].done():
                self._waiters.popleft()  # cancelled while waiting
            elif self._try_start(now, alone=len(self._waiters) <= 1) is None:
                self._waiters.popleft().set_result(None)
            else:
                return

    def paused_for(self) -> float:
        """Seconds left of the pause a 429 asked for (0 when none): for progress displays."""
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self) -> float:
        """Wait until one more request may start, count it, and return the seconds waited.

        The start is pending (inside every window) until ``mark_sent``; the running task's
        previous start, if still pending, is stamped now (its request has ended).
        """
        self.mark_sent()
        began = self._clock()
        if not self._waiters and self._try_start(began, alone=True) is None:
            self._begin()
            return 0.0
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.ensure_future(self._dispatch())
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._stamp()  # allowed just as it was cancelled: counted as sent now
            else:
                waiter.cancel()
                self._drop(waiter)
            raise
        self._begin()
        return max(0.0, self._clock() - began)

    def mark_sent(self) -> None:
        """The running task's request has been sent (or given up): it counts from now."""
        start = _START.get()
        if start is not None:
            _START.set(None)
            self._settle(start)

    def _begin(self) -> None:
        """The running task holds a pending start (settled at the latest when the task ends)."""
        task = asyncio.current_task()
        start = _Start(self, task)
        _START.set(start)
        if task is not None:
            task.add_done_callback(start)

    def _settle(self, start: _Start) -> None:
        if start.task is not None:
            start.task.remove_done_callback(start)  # (a task may send thousands of requests)
            start.task = None
        if start.pending and start.limiter is self:
            start.pending = False
            self._stamp()

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """An httpcore ``trace`` extension: marks the request sent once it has been written."""
        if event.endswith(SENT_EVENT):
            self.mark_sent()

    # -- the window ------------------------------------------------------------------------

    def _stamp(self) -> None:
        """One pending start was sent now."""
        self.pending = max(0, self.pending - 1)
        self._sent.append(self._clock())

    def _drop(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # (already let through)
            self._waiters.remove(waiter)

    def _try_start(self, now: float, *, alone: bool) -> float | None:
        """Count a pending start at ``now`` and return None, or the seconds to wait first.

        ``alone``: no other request is waiting (the demand is below the rate: no pacing).
        """
        wait = self._paused_until - now
        if wait > 0:
            return wait
        while self._sent and self._sent[0] <= now - WINDOW:
            self._sent.popleft()
        self._reset_passed(now)
        if len(self._sent) + self.pending >= self.effective and not self.starts < self.credit:
            # a pending start leaves the window no sooner than one window after now
            free_at = self._sent[0] + WINDOW if self._sent else now + WINDOW
            if self._reset is not None:
                free_at = min(free_at, self._reset[1])  # (the server's count may allow more)
            if not self.paced:
                # demand above the rate: pace from when the window frees (the starts before,
                # not paced, may have run the paced time ahead: the window counts them)
                self.paced = True
                self._next_start = free_at
            else:  # pacing resumes from when the window frees, not from a moment long past
                self._next_start = max(self._next_start, free_at)
            return free_at - now
        if self.paced and alone:
            self.paced = False  # nobody else waits: the demand is below the rate
        interval = WINDOW / (self.effective * CATCH_UP)
        if self.paced:
            wait = self._next_start - (self.burst - 1) * interval - now
            if wait > 0:
                return wait
        self._count()
        self._next_start = max(self._next_start, now - LATE_SPAN) + interval
        return None

    def _count(self) -> None:
        self.pending += 1
        self.starts += 1

    async def _dispatch(self) -> None:
        """Let the waiting requests through in order, every one that is due at each turn."""
        started = False
        while True:
            while self._waiters and self._waiters[0].done():
                self._waiters.popleft()  # cancelled while waiting
            if not self._waiters:
                return
            wait = self._try_start(self._clock(), alone=len(self._waiters) <= 1)
            if wait is None:
                self._waiters.popleft().set_result(None)
                started = True
                continue
            if started:
                # the requests just let through go first (they are sent before the next turn)
                started = False
                await asyncio.sleep(0)
                continue
            # never spin on a float rounding error: a wait is at least a millisecond
            await self._sleep(max(wait, 0.001))
