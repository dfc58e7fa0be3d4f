"""Apply's progress line: true counts, the phase and waits, never wider than the terminal, frozen
on Ctrl-C, and each change not done listed once."""

from __future__ import annotations

import io
import re

import pytest

from lmsctl.apply.results import ApplyEvent, ApplyResult, ChangeResult, Outcome
from lmsctl.cli.progress import ApplyProgress
from lmsctl.plan.model import Action, Change, ResourceKind
from lmsctl.render.apply import MAX_SKIPPED_LISTED, not_done_lines

SECTION = "5f1a0c0b8e1d2a0001a00001"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Executor:
    def __init__(self) -> None:
        self.stopping = False
        self.phase: Action | None = Action.CREATE


class _Stats:
    retries = 0
    rate_limited = 0


class _Limiter:
    def __init__(self) -> None:
        self.left = 0.0

    def paused_for(self) -> float:
        return self.left


def _change(n: int, action: Action = Action.GRADE) -> Change:
    kind = ResourceKind.GRADE if action is Action.GRADE else ResourceKind.ASSIGNMENT
    student = f"5f1a0c0b8e1d2a0001b{n:05x}"
    return Change(
        address=f"{SECTION}/hw-01/grades/{student}"
        if action is Action.GRADE
        else f"{SECTION}/a{n}",
        action=action,
        kind=kind,
        section_id=SECTION,
        key="hw-01",
        name=f"Student {n}",
        student=student,
        source=f"s.yaml:{n}:7",
    )


def _frames(out: str) -> list[str]:
    """What the terminal shows after each redraw: the text between carriage returns/newlines,
    with the erase-to-end-of-line code removed."""
    return [f.replace("\x1b[K", "") for f in re.split(r"[\r\n]", out) if f.replace("\x1b[K", "")]


def _progress(width: int) -> tuple[ApplyProgress, io.StringIO, _Clock, _Executor, _Stats, _Limiter]:
    stream = io.StringIO()
    clock = _Clock()
    view = ApplyProgress(stream=stream, tty=True, width=lambda: width, clock=clock)
    ex, stats, limiter = _Executor(), _Stats(), _Limiter()
    view.attach(ex, stats, limiter)
    return view, stream, clock, ex, stats, limiter


def _finish(
    view: ApplyProgress, clock: _Clock, n: int, outcome: Outcome, done: int, total: int
) -> None:
    clock.now += 0.5
    result = ChangeResult(
        _change(n), outcome, "404 User not found" if outcome is Outcome.FAILED else ""
    )
    view.event(ApplyEvent(result, done, total))


def test_failed_and_skipped_are_counted_apart_and_do_not_fill_the_bar() -> None:
    view, stream, clock, ex, _, _ = _progress(120)
    ex.phase = Action.GRADE
    _finish(view, clock, 1, Outcome.DONE, 1, 4)
    _finish(view, clock, 2, Outcome.FAILED, 2, 4)
    _finish(view, clock, 3, Outcome.SKIPPED, 3, 4)
    last = _frames(stream.getvalue())[-1]
    assert "1/4 done, 1 failed, 1 skipped" in last
    assert "| grades |" in last
    bar = last[: last.index("]") + 1]
    assert bar.count("=") == len(bar[1:-1]) // 4  # a quarter done
    assert bar.count("x") == len(bar[1:-1]) // 2  # a half finished without being done
    # nothing listed as it happens: the final report lists it, once
    assert "404 User not found" not in stream.getvalue()


def test_retries_429s_and_a_rate_limit_wait_are_shown() -> None:
    view, stream, clock, _, stats, limiter = _progress(160)
    stats.retries, stats.rate_limited, limiter.left = 3, 2, 42.0
    _finish(view, clock, 1, Outcome.DONE, 1, 10)
    last = _frames(stream.getvalue())[-1]
    assert "3 retries, 2x 429, rate limit: waiting 42 s" in last
    assert "left" in last and "/min" in last


@pytest.mark.parametrize("width", [20, 30, 40, 60, 80, 200])
def test_every_redraw_fits_the_terminal_width(width: int) -> None:
    view, stream, clock, ex, stats, limiter = _progress(width)
    stats.retries, stats.rate_limited, limiter.left = 12, 4, 3600.0
    for n in range(1, 41):
        outcome = Outcome.DONE if n % 5 else Outcome.FAILED
        _finish(view, clock, n, outcome, n, 40)
    ex.stopping = True
    view.tick()
    view.close()
    frames = _frames(stream.getvalue())
    assert frames
    for frame in frames:
        assert len(frame) < width, (width, frame)  # never the last column: no wrap
    assert "done" in frames[0] or width < 25


def test_ctrl_c_freezes_the_bar_once_and_draws_nothing_after() -> None:
    view, stream, clock, ex, _, _ = _progress(100)
    for n in range(1, 4):
        _finish(view, clock, n, Outcome.DONE, n, 50)
    ex.stopping = True  # Ctrl-C: the executor stops starting calls
    view.tick()
    frozen = stream.getvalue()
    assert frozen.endswith("(Ctrl-C again to abandon them)\n")
    assert "3/50 done, 0 failed, 0 skipped" in _frames(frozen)[-2]
    # the 47 changes never started end at once: they are counted, but not drawn
    for n in range(4, 51):
        _finish(view, clock, n, Outcome.SKIPPED, n, 50)
    view.close()
    assert stream.getvalue() == frozen  # no jump to 100%, no line per skipped change
    assert view.counts.skipped == 47


def test_each_change_not_done_is_listed_once_with_skipped_ones_capped() -> None:
    results = [ChangeResult(_change(1), Outcome.DONE)]
    results.append(ChangeResult(_change(2), Outcome.FAILED, "404 User not found"))
    results += [
        ChangeResult(_change(n), Outcome.SKIPPED, "not started: apply was stopped")
        for n in range(3, 3 + MAX_SKIPPED_LISTED + 5)
    ]
    lines = not_done_lines(ApplyResult(results=results, interrupted=True))
    assert lines[0] == (
        f"  failed: {SECTION}/hw-01/grades/5f1a0c0b8e1d2a0001b00002 [s.yaml:2:7]: "
        "404 User not found"
    )
    assert len(lines) == 1 + MAX_SKIPPED_LISTED + 1
    assert lines[-1].startswith("  ... and 5 more not started")
    addresses = [line.split(": ")[1].split(" [")[0] for line in lines[:-1]]
    assert len(addresses) == len(set(addresses))


def test_off_a_terminal_one_line_per_change_done_and_no_bar() -> None:
    stream = io.StringIO()
    view = ApplyProgress(stream=stream, tty=False)
    view.event(ApplyEvent(ChangeResult(_change(1), Outcome.DONE, seconds=1.25), 1, 2))
    view.event(ApplyEvent(ChangeResult(_change(2), Outcome.FAILED, "boom"), 2, 2))
    view.close()
    assert stream.getvalue() == (
        f"~ {SECTION}/hw-01/grades/5f1a0c0b8e1d2a0001b00001: grade done (1.2 s)\n"
    )


def test_a_redraw_that_changes_nothing_writes_nothing() -> None:
    view, stream, clock, _, _, _ = _progress(40)  # room for the counts only
    _finish(view, clock, 1, Outcome.DONE, 1, 10)
    before = stream.getvalue()
    for _ in range(5):
        clock.now += 0.2
        view.tick()  # the ticker, while a call is in flight: the line says the same
    assert stream.getvalue() == before
    _finish(view, clock, 2, Outcome.DONE, 2, 10)
    assert stream.getvalue() == before + "\r2/10 done, 0 failed, 0 skipped\x1b[K"
