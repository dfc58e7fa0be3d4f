"""The executor saves record by record, and a save that fails stops all further API calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.errors import StateSaveError
from lmsctl.plan.builder import PlanBuilder
from lmsctl.render.apply import apply_summary
from lmsctl.state.backend import MemoryBackend
from lmsctl.state.model import StateSnapshot
from tests.apply.test_executor import FakeLms
from tests.support.factories import S1, S2, SEC, assignment, desired, grade, live, state


class RecordingBackend(MemoryBackend):
    """Remembers which addresses each save named; can start failing after N saves."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(state())
        self.saved: list[tuple[str, ...]] = []
        self.fail_after = fail_after

    def save(self, snapshot: StateSnapshot, addresses: Iterable[str]) -> None:
        names = tuple(addresses)
        if self.fail_after is not None and len(self.saved) >= self.fail_after:
            raise StateSaveError("lost the state database", recovery_file="recovery.json")
        self.saved.append(names)
        super().save(snapshot, names)


def _plan(n: int = 3):  # type: ignore[no-untyped-def]
    d = desired(
        *(
            assignment(f"hw-{i}", grades=(grade(S1, grade_points=i), grade(S2, grade_points=i)))
            for i in range(n)
        )
    )
    return PlanBuilder(d, state(), live()).build()


def test_each_save_names_only_the_record_its_call_changed() -> None:
    backend = RecordingBackend()
    plan = _plan()
    # one change at a time: no two saves fall in the same moment, so none is grouped
    options = ApplyOptions(parallelism=1)
    result = asyncio.run(Executor(plan, FakeLms(), backend, backend.read(), options).run())
    assert result.ok, apply_summary(result)
    calls = [names for names in backend.saved if names]
    # intent + result per write (3 creates, 6 grades): each names one assignment address
    assert len(calls) == 3 * 2 + 6 * 2
    assert all(len(names) == 1 and names[0].startswith(f"{SEC}/hw-") for names in calls)
    assert backend.writes == len(backend.saved)  # nothing saved the whole state


def test_saves_of_one_moment_name_only_the_records_their_calls_changed() -> None:
    backend = RecordingBackend()
    result = asyncio.run(
        Executor(_plan(), FakeLms(), backend, backend.read(), ApplyOptions()).run()
    )
    assert result.ok, apply_summary(result)
    calls = [names for names in backend.saved if names]
    # the saves of one moment are written together (the grades of an assignment, the creates):
    # fewer writes, each naming only assignment addresses
    assert len(calls) <= 3 * 2 + 6 * 2
    assert all(name.startswith(f"{SEC}/hw-") for names in calls for name in names)
    # every assignment saved at its create's intent and result and its grades' intents and
    # results, four moments one after the other
    for i in range(3):
        assert sum(f"{SEC}/hw-{i}" in names for names in calls) >= 4
    assert backend.writes == len(backend.saved)  # nothing saved the whole state


def test_a_failed_save_stops_new_calls_and_ends_the_run_with_it() -> None:
    backend = RecordingBackend(fail_after=4)
    lms = FakeLms()
    plan = _plan(5)
    executor = Executor(plan, lms, backend, backend.read(), ApplyOptions(parallelism=1))
    with pytest.raises(StateSaveError, match="lost the state database"):
        asyncio.run(executor.run())
    # 4 saves worked (two creates), the 5th (the third create's intent) failed: its POST and
    # everything after it were never sent
    assert [c for c in lms.calls if c.startswith("POST")] == ["POST Homework 1"] * 2
    assert not [c for c in lms.calls if c.startswith("GRADE")]
