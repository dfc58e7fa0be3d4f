"""Apply's progress display: one status line on a terminal, a log line per change otherwise.

What it promises (each rule is what a user reading it can rely on):

- the counts say what happened: ``done``, ``failed``, ``skipped`` (and ``unknown`` / ``stale``
  when there are any) are counted apart, and the bar fills only with what was done (``=``);
  what finished without being done is ``x``; nothing else moves it;
- the line names the phase running (creates, updates, grades, deletes), the retries so far, the
  429s and a rate-limit pause being waited out, the calls in flight, the requests a minute the
  API received over the last seconds and how long each waited for the rate limiter on average
  (a wait means the limit is in full use), the rate of changes and the time left;
- it always fits the terminal: the width is re-read on every redraw and the line shortened (the
  bar narrows, then the less useful parts go, then the bar) so it never wraps, whatever the
  width;
- on Ctrl-C (or SIGTERM) the bar stops at once, as it is, with one line saying that no new call
  starts; changes that end after that are not drawn, and what was not done is listed once, by
  the final report (:func:`lmsctl.render.apply.not_done_lines`), never also as it happens;
- off a terminal (CI logs, pipes) there is no bar: one line per change done, then the report.

The bar is hand-written rather than built on a progress library: it is one line of text whose
content is all lmsctl's (counts, phase, the client's retry and rate-limit counters), and the
rules above (fit, freeze on stop, never list twice) are a few lines here, with no new runtime
dependency for every install of a tool that mostly runs in CI.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from lmsctl.apply.results import ApplyEvent, Outcome
from lmsctl.plan.model import Action
from lmsctl.privacy import Scrubber
from lmsctl.safetext import escape_controls

#: seconds between redraws of the status line (events in between are counted, not drawn)
REDRAW_EVERY = 0.1
#: seconds of recent requests the achieved rate (requests a minute) is measured over
RATE_SPAN = 10.0

_PHASE_NAMES = {
    Action.MOVE: "moves",
    Action.CREATE: "creates",
    Action.UPDATE: "updates",
    Action.GRADE: "grades",
    Action.DELETE: "deletes",
}


class _Stats(Protocol):
    retries: int
    rate_limited: int


class _Limiter(Protocol):
    def paused_for(self) -> float: ...


class _Running(Protocol):
    """The part of the executor the display reads."""

    @property
    def stopping(self) -> bool: ...

    phase: Action | None


@dataclass
class Counts:
    """How the changes finished so far."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    stale: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped + self.unknown + self.stale

    @property
    def not_done(self) -> int:
        return self.finished - self.done

    def add(self, outcome: Outcome) -> None:
        match outcome:
            case Outcome.DONE:
                self.done += 1
            case Outcome.FAILED:
                self.failed += 1
            case Outcome.SKIPPED:
                self.skipped += 1
            case Outcome.UNKNOWN:
                self.unknown += 1
            case Outcome.STALE:
                self.stale += 1


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` writes to (80 when it cannot be told)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size((80, 24)).columns


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ApplyProgress:
    """Progress of one apply, drawn on ``stream`` (stderr)."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        tty: bool | None = None,
        width: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        scrub: Scrubber | None = None,
    ) -> None:
        self.quiet = quiet
        #: the run's privacy level: a grade's address names its student
        self.scrub = scrub
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._width = width or (lambda: terminal_width(self.stream))
        self._clock = clock
        self.start = clock()
        self.counts = Counts()
        self.total = 0
        self.phase: Action | None = None
        self.stats: _Stats | None = None
        self.limiter: _Limiter | None = None
        self.executor: _Running | None = None
        self.stopped = False
        self._drawn = False
        self._last_draw = float("-inf")
        self._last_line = ""
        #: (time, requests, seconds waited) seen at recent redraws: the achieved request rate
        self._samples: collections.deque[tuple[float, int, float]] = collections.deque()

    # -- sources -----------------------------------------------------------------------------

    def attach(
        self, executor: _Running, stats: _Stats | None = None, limiter: _Limiter | None = None
    ) -> None:
        """Read the phase, the stop and the client's retry counters from these while running."""
        self.executor = executor
        self.stats = stats
        self.limiter = limiter

    @contextlib.asynccontextmanager
    async def running(
        self,
        executor: _Running,
        client: Any = None,
        *,
        total: int = 0,
        every: float = REDRAW_EVERY,
    ) -> AsyncIterator[None]:
        """Redraw while the block runs (so waits and a stop show even when no change ends)."""
        self.total = total
        self.attach(executor, getattr(client, "stats", None), getattr(client, "limiter", None))
        ticker = asyncio.ensure_future(self._tick_forever(every)) if self._live else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            self.close()

    async def _tick_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.tick()

    @property
    def _live(self) -> bool:
        return self.tty and not self.quiet

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    # -- events ------------------------------------------------------------------------------

    def event(self, ev: ApplyEvent) -> None:
        """One change ended (the executor's hook)."""
        self.total = ev.total
        self.counts.add(ev.result.outcome)
        self.phase = ev.result.change.action
        if self.quiet:
            return
        if not self.tty:
            if ev.result.outcome is Outcome.DONE:
                r = ev.result
                c = r.change
                line = escape_controls(f"{c.symbol} {c.address}: {c.action.value} done")
                if self.scrub is not None:
                    line = self.scrub.text(line)
                self._write(f"{line} ({r.seconds:.1f} s)\n")
            return
        self.tick(force=self.counts.finished >= self.total)

    def tick(self, *, force: bool = False) -> None:
        """Redraw the status line (at most every REDRAW_EVERY s unless forced); notice a stop."""
        if not self._live or self.stopped:
            return
        if self.executor is not None:
            if self.executor.stopping:
                self.stop()
                return
            self.phase = self.executor.phase or self.phase
        now = self._clock()
        if not force and now - self._last_draw < REDRAW_EVERY:
            return
        self._last_draw = now
        line = self.line(self._width())
        if line == self._last_line and self._drawn:
            return  # nothing moved: write nothing
        self._last_line = line
        self._write("\r" + line + "\x1b[K")
        self._drawn = True

    def stop(self) -> None:
        """Ctrl-C: freeze the bar as it is and say so, once; nothing more is drawn."""
        if self.stopped:
            return
        self.stopped = True
        if not self._live:
            return
        width = self._width()
        self._write("\r" + self.line(width) + "\x1b[K\n")
        note = (
            "Stopping: no new call starts; waiting for the calls in flight "
            "(Ctrl-C again to abandon them)"
        )
        # printed once, never redrawn: it may take more than one line
        self._write("\n".join(textwrap.wrap(note, max(width - 1, 10))) + "\n")
        self._drawn = False

    def close(self) -> None:
        """The run ended: leave the last state of the line in place, and end it."""
        if self._live and not self.stopped:
            self.tick(force=True)
        if self._drawn:
            self._write("\n")
            self._drawn = False

    # -- the line ------------------------------------------------------------------------------

    def line(self, width: int) -> str:
        """The status line, at most ``width - 1`` characters (never the last column: no wrap)."""
        c = self.counts
        total = max(self.total, c.finished)
        counts = f"{c.done}/{total} done, {c.failed} failed, {c.skipped} skipped"
        if c.unknown:
            counts += f", {c.unknown} unknown"
        if c.stale:
            counts += f", {c.stale} stale"
        phase = _PHASE_NAMES.get(self.phase, "") if self.phase is not None else ""
        waits = []
        if self.stats is not None:
            if self.stats.retries:
                waits.append(f"{self.stats.retries} retries")
            if self.stats.rate_limited:
                waits.append(f"{self.stats.rate_limited}x 429")
        if self.limiter is not None:
            paused = self.limiter.paused_for()
            if paused > 0.5:
                waits.append(f"rate limit: waiting {_fmt_seconds(paused)}")
        elapsed = max(self._clock() - self.start, 1e-6)
        rate = c.finished / elapsed
        timing = f"{rate * 60:.0f}/min"
        if 0 < c.finished < total and rate > 0:
            timing += f", {_fmt_seconds((total - c.finished) / rate)} left"
        parts = [p for p in (counts, phase, ", ".join(waits), self._api_rate(), timing) if p]
        return _fit(parts, width, bar=(c.done, c.not_done, total))

    def _api_rate(self) -> str:
        """``300 in flight, 1176 req/min, waits 0.4 s each``: calls in flight (the adaptive
        gate's), requests a minute over the last RATE_SPAN s and their mean wait (for the rate
        limiter or a retry backoff)."""
        parts = []
        gate = getattr(self.executor, "gate", None)
        in_flight = getattr(gate, "in_flight", None)
        if isinstance(in_flight, int) and in_flight:
            parts.append(f"{in_flight} in flight")
        requests = getattr(self.stats, "requests", None)
        waited = getattr(self.stats, "waited_seconds", None)
        if isinstance(requests, int) and isinstance(waited, int | float):
            now = self._clock()
            samples = self._samples
            samples.append((now, requests, float(waited)))
            while len(samples) > 2 and now - samples[1][0] >= RATE_SPAN:
                samples.popleft()
            then, before, waited_before = samples[0]
            sent = requests - before
            if now - then >= 1.0 and sent > 0:
                parts.append(f"{sent / (now - then) * 60:.0f} req/min")
                wait = (waited - waited_before) / sent
                if wait >= 0.05:
                    parts.append(f"waits {wait:.1f} s each")
        return ", ".join(parts)


def _bar(cells: int, done: int, not_done: int, total: int) -> str:
    total = max(total, 1)
    filled = cells * done // total
    failed = min(cells - filled, -(-cells * not_done // total) if not_done else 0)
    return "[" + "=" * filled + "x" * failed + "." * (cells - filled - failed) + "]"


def _fit(parts: Sequence[str], width: int, *, bar: tuple[int, int, int] | None = None) -> str:
    """``parts`` joined by " | " behind an optional bar, in at most ``width - 1`` characters.

    The bar narrows first (from 30 cells down to 10); then the last parts are dropped (time,
    waits, phase); with the counts alone the bar goes, and last the counts are cut.
    """
    room = max(width - 1, 1)
    kept = list(parts)
    while True:
        text = " | ".join(kept)
        if bar is not None:
            cells = min(30, room - len(text) - 3)
            if cells >= 10:
                return _bar(cells, *bar) + " " + text
        if len(text) <= room or len(kept) <= 1:
            break
        kept.pop()
    if len(text) <= room:
        return text
    return text[: room - 3] + "..." if room > 3 else text[:room]
