"""Apply's progress line shows the calls in flight, the requests a minute the API gets and how
long each waited for the rate limiter (so a user sees the limit is in full use)."""

from __future__ import annotations

import asyncio
import io
import re

from lmsctl.apply.executor import ApplyEvent, ChangeResult, Outcome
from lmsctl.cli.progress import ApplyProgress
from lmsctl.client.concurrency import AdaptiveGate
from lmsctl.client.lms import ClientStats
from lmsctl.plan.model import Action, Change, ResourceKind

SECTION = "5f1a0c0b8e1d2a0001a00001"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Executor:
    def __init__(self, gate: AdaptiveGate) -> None:
        self.stopping = False
        self.phase: Action | None = Action.GRADE
        self.gate = gate


def _event(n: int, total: int) -> ApplyEvent:
    change = Change(
        address=f"{SECTION}/a{n}",
        action=Action.GRADE,
        kind=ResourceKind.ASSIGNMENT,
        section_id=SECTION,
        key=f"a{n}",
        name=f"A {n}",
    )
    return ApplyEvent(ChangeResult(change, Outcome.DONE), n, total)


def _last_frame(out: str) -> str:
    return [f.replace("\x1b[K", "") for f in re.split(r"[\r\n]", out) if f.strip()][-1]


def test_the_line_shows_in_flight_the_achieved_request_rate_and_the_mean_wait() -> None:
    clock = _Clock()
    stream = io.StringIO()
    view = ApplyProgress(stream=stream, tty=True, width=lambda: 240, clock=clock)
    gate = AdaptiveGate(cap=1000, clock=clock, retune_every=None)
    stats = ClientStats()
    view.attach(_Executor(gate), stats)

    async def hold() -> None:
        for _ in range(8):
            await gate.acquire()

    asyncio.run(hold())
    view.event(_event(1, 1000))
    # over the next 10 s the API got 20 requests a second, which waited 100 s in all
    for n in range(2, 12):
        clock.now += 1.0
        stats.requests += 20
        stats.waited_seconds += 10.0
        view.event(_event(n, 1000))
    last = _last_frame(stream.getvalue())
    assert "8 in flight, 1200 req/min, waits 0.5 s each" in last, last
    # then 5 a second that did not wait: the rate shown is the recent one, not the run's mean
    for n in range(12, 30):
        clock.now += 1.0
        stats.requests += 5
        view.event(_event(n, 1000))
    last = _last_frame(stream.getvalue())
    assert "8 in flight, 300 req/min |" in last, last
