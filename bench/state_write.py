"""How long one state write takes for a large state (apply writes after every API call).

Builds a state of 1,000 assignments x 30 grades (the size of a busy district), then times
``LocalBackend.write`` (serialise, temp file, fsync, backup link, replace, folder fsync) and
``read``. Prints milliseconds per write.

    python bench/state_write.py [--assignments 1000] [--grades 30] [--writes 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lmsctl.state.local import LocalBackend
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot


def build(assignments: int, grades: int) -> StateSnapshot:
    snapshot = StateSnapshot.empty()
    snapshot.api_url = "https://api.clever.com/v3.1"
    snapshot.district_id = "5f1a0c0b8e1d2a0001000001"
    for i in range(assignments):
        section = f"5f1a0c0b8e1d2a0001a{i // 10:05x}"
        key = f"hw-{i % 10:02d}"
        record = ResourceRecord(
            section_id=section,
            key=key,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--grades", type=int, default=30)
    parser.add_argument("--writes", type=int, default=20)
    args = parser.parse_args()
    snapshot = build(args.assignments, args.grades)
    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(Path(tmp) / ".lmsctl" / "state.json")
        backend.write(snapshot)
        times = []
        for n in range(args.writes):
            record = next(iter(snapshot.resources.values()))
            record.grades[next(iter(record.grades))]["grade_points"] = n
            started = time.perf_counter()
            backend.write(snapshot)
            times.append((time.perf_counter() - started) * 1000)
        size = backend.path.stat().st_size
        started = time.perf_counter()
        backend.read()
        read_ms = (time.perf_counter() - started) * 1000
    print(
        f"state: {args.assignments} assignments x {args.grades} grades, {size / 1e6:.1f} MB on disk"
    )
    print(
        f"write: {statistics.median(times):.1f} ms per write (median of {args.writes}; "
        f"min {min(times):.1f}, max {max(times):.1f})"
    )
    print(f"read:  {read_ms:.1f} ms")


if __name__ == "__main__":
    main()
