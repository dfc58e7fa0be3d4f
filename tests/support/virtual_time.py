"""An event loop on a virtual clock: when every task waits on a timer, time jumps to it.

Many tasks sleeping concurrently (slow answers, a limiter's waits) each see the time they
would in a real run, without a real second passing: a run of minutes takes milliseconds, and
the same inputs give the same times."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_virtual(main: Coroutine[Any, Any, T], clock: VirtualClock) -> T:
    """Run ``main`` to its end on a loop whose ``time()`` is ``clock``."""
    loop = asyncio.new_event_loop()
    selector = loop._selector  # type: ignore[attr-defined]
    select = selector.select

    def jump(timeout: float | None = None) -> Any:
        events = select(0)
        if not events and timeout:
            clock.now += timeout  # nothing ready: on to the next timer
        return events

    loop.time = clock  # type: ignore[method-assign]
    selector.select = jump
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()
