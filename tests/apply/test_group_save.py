"""apply writes the state saves asked for at the same moment together (one journal line, one
fsync), and each save still returns only once its records were written."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.apply.saving import GroupSave
from lmsctl.client.concurrency import MIN_IN_FLIGHT
from lmsctl.errors import StateError
from lmsctl.plan.builder import PlanBuilder
from lmsctl.render.apply import apply_summary
from lmsctl.state.backend import MemoryBackend
from tests.apply.test_executor import FakeLms
from tests.support.factories import SEC, assignment, desired, grade, live, state, sub

STUDENTS = [f"5f1a0c0b8e1d2a0001b{n:05d}" for n in range(40)]


def test_saves_of_one_moment_are_one_write_and_each_returns_after_it() -> None:
    written: list[tuple[str, ...]] = []
    returned: list[tuple[str, int]] = []
    group = GroupSave(written.append)

    async def save(address: str) -> None:
        await group.save([address, "shared"])
        returned.append((address, len(written)))

    async def go() -> None:
        await asyncio.gather(save("a"), save("b"), save("c"))
        await save("d")  # a later moment: its own write

    asyncio.run(go())
    assert written == [("a", "shared", "b", "c"), ("d", "shared")]
    assert sorted(returned) == [("a", 1), ("b", 1), ("c", 1), ("d", 2)]
    assert (group.writes, group.saves) == (2, 4)


def test_a_failed_write_fails_every_save_it_carried() -> None:
    def fail(addresses: tuple[str, ...]) -> None:
        raise StateError("disk full")

    group = GroupSave(fail)

    async def go() -> list[BaseException | None]:
        return await asyncio.gather(group.save(["a"]), group.save(["b"]), return_exceptions=True)

    outcomes = asyncio.run(go())
    assert [str(o) for o in outcomes] == ["disk full", "disk full"]


def test_a_cancelled_caller_does_not_cancel_the_write_the_others_wait_for() -> None:
    written: list[tuple[str, ...]] = []
    group = GroupSave(written.append)

    async def go() -> None:
        first = asyncio.ensure_future(group.save(["a"]))
        second = asyncio.ensure_future(group.save(["b"]))
        await asyncio.sleep(0)
        first.cancel()
        await second
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(go())
    assert written == [("a", "b")]


def test_a_save_that_names_nothing_still_writes_everything() -> None:
    written: list[tuple[str, ...]] = []
    group = GroupSave(written.append)

    async def go() -> None:
        await asyncio.gather(group.save(["a"]), group.save([]))

    asyncio.run(go())
    assert written == [()]  # () is "all of it" to the executor's save


class ClassOf40(FakeLms):
    """The LMS of a class of STUDENTS."""

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]:
        created = await super().create_assignment(section_id, body)
        self.subs[created["id"]] = {u: sub(u) for u in STUDENTS}
        return created


def test_grades_set_together_are_saved_together_and_each_is_recorded() -> None:
    """Grades in flight at once: their intents are saved in one write and their results in
    another (it was two saves per grade), and every grade is in state."""
    students = STUDENTS
    d = desired(
        assignment(grades=tuple(grade(s, grade_points=n % 10) for n, s in enumerate(students)))
    )
    snap = state()
    backend = MemoryBackend(snap)
    plan = PlanBuilder(d, snap, live()).build()
    lms = ClassOf40()
    executor = Executor(plan, lms, backend, backend.read(), ApplyOptions(parallelism=100))
    result = asyncio.run(executor.run())
    assert result.ok, apply_summary(result)
    saved = backend.read().resources[f"{SEC}/hw-01"]
    assert saved.grades == {s: {"grade_points": n % 10} for n, s in enumerate(students)}
    assert not saved.has_intent
    # the create's intent and result, then per group of grades in flight together (the gate
    # starts at MIN_IN_FLIGHT: no latency seen yet) one save of intents and one of results, and
    # the final fixes; two saves per grade made 82
    groups = math.ceil(len(STUDENTS) / MIN_IN_FLIGHT)
    assert backend.saves <= 2 + 2 * groups + 1
