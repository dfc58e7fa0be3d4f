"""What state saves cost: saves per second with a big state, and a first apply's CPU by size.

Apply saves state after every API call (20 calls/s at Clever's rate limit), so a save must cost
the record that changed, not the whole state. This measures:

1. saves/s with a 100k-grade state (3,334 assignments x 30 grades), one changed grade per save,
   for the local backend (journal append + fsync) and, when a server is given, postgres (one
   compare-and-swap transaction). Each must stay >= 100/s: five times the API's rate.
2. the CPU of a first apply (creates, then grades) of 1k and of 10k grades, against an
   in-memory fake LMS so that only lmsctl's own work is counted, with the local backend. CPU
   must grow linearly: CPU(10k) / CPU(1k) <= 12.

    python bench/state_write.py [--saves 300] [--pg-dsn DSN]

The postgres part uses --pg-dsn, else LMSCTL_TEST_PG_DSN, else LMSCTL_PG_DSN; it works in a
schema of its own and drops it at the end. Without any, it is skipped (and says so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.model import (
    AssignmentSpec,
    DesiredState,
    GradeSpec,
    ProjectConfig,
    SectionSpec,
    SourcePos,
    StudentRef,
)
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.refresh import LiveState
from lmsctl.render.apply import apply_summary
from lmsctl.state.backend import StateBackend
from lmsctl.state.local import LocalBackend
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot

DISTRICT = {"id": "5f1a0c0b8e1d2a0001000001", "lms_state": "success", "lms_type": "canvas"}
POS = SourcePos("bench.yaml", 1, 1)


def build(assignments: int, grades: int) -> StateSnapshot:
    """A state of ``assignments`` x ``grades`` (the size of a busy district at 3,334 x 30)."""
    snapshot = StateSnapshot.empty()
    snapshot.api_url = "https://api.clever.com/v3.1"
    snapshot.district_id = DISTRICT["id"]
    for i in range(assignments):
        section = f"5f1a0c0b8e1d2a0001a{i // 10:05x}"
        record = ResourceRecord(
            section_id=section,
            key=f"hw-{i % 10:02d}",
            assignment_id=f"3f1c2a9e-7d4b-4e0a-9a61-{i:012x}",
            status=ResourceStatus.CREATED,
            applied={
                "title": f"Homework {i}: linear equations",
                "description": "Problems 1-20 on page 42.",
                "due_date": "2026-12-04T23:59:00.000Z",
                "points_possible": 10,
                "submission_types": ["text"],
                "assignee_mode": "all",
            },
            grades={
                f"5f1a0c0b8e1d2a0001b{j:05x}": {
                    "grade_points": j % 11,
                    "grade_comment": "Nice work",
                    "state": "returned",
                }
                for j in range(grades)
            },
            created_at="2026-11-01T10:00:00.000Z",
            updated_at="2026-11-01T10:00:00.000Z",
        )
        snapshot.resources[record.address] = record
    return snapshot


def saves_per_second(backend: StateBackend, snapshot: StateSnapshot, saves: int) -> float:
    """Save one changed grade at a time, as apply does after each grade call."""
    backend.write(snapshot)
    records = list(snapshot.resources.values())
    started = time.perf_counter()
    for n in range(saves):
        record = records[(n * 7919) % len(records)]
        student = next(iter(record.grades))
        record.grades[student]["grade_points"] = n % 11
        backend.save(snapshot, [record.address])
    return saves / (time.perf_counter() - started)


class FakeLms:
    """An LMS in memory: answers at once, so the CPU measured is lmsctl's own."""

    def __init__(self) -> None:
        self.subs: dict[str, dict[str, dict[str, Any]]] = {}

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]:
        aid = str(uuid.uuid4())
        self.subs[aid] = {}
        return dict(body, id=aid, created="2026-11-01T10:00:00.000Z")

    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        return {"id": assignment_id}

    async def update_assignment(
        self, section_id: str, assignment_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(body, id=assignment_id)

    async def delete_assignment(self, section_id: str, assignment_id: str) -> None:
        return None

    async def list_submissions(
        self, section_id: str, assignment_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        return list(self.subs.get(assignment_id, {}).values())

    async def get_submission(
        self, section_id: str, assignment_id: str, user_id: str
    ) -> dict[str, Any]:
        return dict(self.subs.get(assignment_id, {}).get(user_id) or {"user_id": user_id})

    async def update_submission(
        self, section_id: str, assignment_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        sub = self.subs.setdefault(assignment_id, {}).setdefault(user_id, {"user_id": user_id})
        sub.update(body)
        return sub


def first_apply_cpu(total_grades: int, per_assignment: int = 25) -> tuple[float, float, int]:
    """(CPU s, wall s, saves) of a first apply of ``total_grades`` grades, local backend."""
    count = max(1, total_grades // per_assignment)
    sections = []
    for s in range(max(1, count // 20)):
        section_id = f"5f1a0c0b8e1d2a0001a{s:05x}"
        specs = tuple(
            AssignmentSpec(
                section_id=section_id,
                key=f"hw-{a:03d}",
                fields={
                    "title": f"Homework {a}",
                    "description": "Problems 1-20",
                    "due_date": "2027-02-04T23:59:00.000Z",
                    "assignee_mode": "all",
                },
                pos=POS,
                grades=tuple(
                    GradeSpec(
                        StudentRef(sid, "id", sid),
                        {"grade_points": g % 11, "state": "returned"},
                        POS,
                    )
                    for g in range(per_assignment)
                    for sid in [f"5f1a0c0b8e1d2a0001b{g:05x}"]
                ),
                manages_grades=True,
            )
            for a in range(20 if count >= 20 else count)
        )
        sections.append(SectionSpec(section_id, f"section-{s}", "bench.yaml", POS, specs))
    desired = DesiredState(Path("."), ProjectConfig(), tuple(sections))
    live = LiveState(district=DISTRICT, assignments={}, submissions={}, rosters={})
    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(Path(tmp) / ".lmsctl" / "state.json")
        lock = backend.lock("bench")
        snapshot = backend.read()
        plan = PlanBuilder(
            desired,
            snapshot,
            live,
            PlanOptions(now="2026-11-01T10:00:00.000Z"),
            api_url="https://api.clever.com/v3.1",
        ).build()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        executor = Executor(
            plan, FakeLms(), backend, snapshot, ApplyOptions(parallelism=20), district_id="x"
        )
        result = asyncio.run(executor.run())
        backend.unlock(lock.id)  # the end of a run folds the journal into the snapshot
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        assert result.ok, apply_summary(result)
        grades = backend.read().grade_count
        assert grades == count * per_assignment, (grades, count * per_assignment)
    return cpu, wall, len(result.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--assignments", type=int, default=3334)
    parser.add_argument("--grades", type=int, default=30)
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--pg-dsn", default=None)
    args = parser.parse_args()
    snapshot = build(args.assignments, args.grades)
    print(f"state: {args.assignments} assignments x {args.grades} grades = {snapshot.grade_count}")

    with tempfile.TemporaryDirectory() as tmp:
        local = LocalBackend(Path(tmp) / ".lmsctl" / "state.json")
        rate = saves_per_second(local, snapshot.copy(), args.saves)
        size = local.path.stat().st_size / 1e6
        local.close()
    print(f"local:    {rate:8.0f} saves/s  (snapshot {size:.1f} MB; >= 100 needed)")

    dsn = args.pg_dsn or os.environ.get("LMSCTL_TEST_PG_DSN") or os.environ.get("LMSCTL_PG_DSN")
    if dsn:
        import psycopg

        from lmsctl.state.postgres import PostgresBackend

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        pg = PostgresBackend(dsn, workspace="bench", schema=schema)
        try:
            rate = saves_per_second(pg, snapshot.copy(), args.saves)
            print(f"postgres: {rate:8.0f} saves/s  (one transaction each; >= 100 needed)")
        finally:
            pg.close()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        print("postgres: skipped (no --pg-dsn, LMSCTL_TEST_PG_DSN or LMSCTL_PG_DSN)")

    small = first_apply_cpu(1000)
    large = first_apply_cpu(10000)
    for grades, (cpu, wall, changes) in ((1000, small), (10000, large)):
        print(
            f"first apply of {grades:>5} grades: {cpu:6.2f} CPU s, {wall:6.2f} s wall "
            f"({changes} changes, each saved)"
        )
    print(f"CPU ratio 10k/1k: {large[0] / small[0]:.1f} (<= 12 is linear enough)")


if __name__ == "__main__":
    main()
