"""Benchmark: does a plan make exactly the minimum number of API calls?

A synthetic district (20 sections x 30 students), 10 assignments tracked per section, half of
them graded for every student, half of the sections using roster references. After one apply,
a plan must make:

    1 GET per tracked assignment
  + 1 submissions page per 100 submissions of each graded assignment
  + 1 roster page per section that grades students (references or plain Clever ids: every
    student named must be enrolled; one page holds up to 10,000 students)
  + 1 district read

Prints calls made / minimum (1.00 is the target) and the plan's wall time at the default
rate limit (1200/min). Run: python bench/plan_calls.py [--sections 20] [--students 30]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

import yaml

from lmsctl.sandbox import generate_seed
from lmsctl.workspace import Workspace, WorkspaceOptions


def write_manifests(root: Path, seed: dict, assignments: int) -> tuple[int, int, int]:  # type: ignore[type-arg]
    """Manifests for every section of the seed.

    Returns (graded assignments, sections with refs, sections with grades).
    """
    (root / "lmsctl.yaml").write_text("timezone: UTC\n")
    graded = 0
    with_refs = 0
    with_grades = 0
    for n, section in enumerate(seed["districts"][0]["sections"]):
        use_refs = n % 2 == 0
        with_refs += use_refs
        items = {}
        for i in range(assignments):
            spec: dict[str, object] = {
                "title": f"Assignment {i + 1}",
                "description": f"Work item {i + 1}",
                "due_date": "2027-05-01",
                "points_possible": 10,
                "assignee_mode": "all",
            }
            if i % 2 == 0:
                graded += 1
                grades = {}
                for s in section["students"]:
                    ref = f"sis:{s['sis_id']}" if use_refs else s["id"]
                    grades[ref] = {"grade_points": (i + len(s["id"])) % 11, "state": "returned"}
                spec["grades"] = grades
            items[f"a-{i + 1:02d}"] = spec
        with_grades += any("grades" in spec for spec in items.values())
        doc = {"section": section["id"], "name": section["name"], "assignments": items}
        (root / f"section-{n:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return graded, with_refs, with_grades


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=20)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--assignments", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        seed = generate_seed(districts=1, sections=args.sections, students=args.students)
        seed_file = base / "seed.yaml"
        seed_file.write_text(yaml.safe_dump(seed))
        root = base / "coursework"
        root.mkdir()
        graded, with_refs, with_grades = write_manifests(root, seed, args.assignments)
        db = base / "sandbox.db"
        from lmsctl.client.factory import SandboxConnection
        from lmsctl.sandbox import DEMO_TOKEN, FaultConfig, SandboxConfig, sandbox_transport
        from lmsctl.sandbox.app import create_app

        def opener(path: Path) -> SandboxConnection:
            return SandboxConnection(DEMO_TOKEN, sandbox_transport(SandboxConfig(db_path=path)))

        # seed the db; no rate limit while setting up, so the benchmark takes seconds
        create_app(SandboxConfig(db_path=db, seed_path=seed_file, faults=FaultConfig(rate_limit=0)))
        setup_options = WorkspaceOptions(
            root=root, sandbox=True, sandbox_db=str(db), rate_limit=1_000_000, open_sandbox=opener
        )
        options = WorkspaceOptions(root=root, sandbox=True, sandbox_db=str(db), open_sandbox=opener)

        async def apply_all() -> None:
            from lmsctl.apply.executor import ApplyOptions, Executor
            from lmsctl.render.apply import apply_summary

            ws = Workspace.open(setup_options)
            with ws:
                plan, _, snapshot = await ws.make_plan()
                result = await Executor(
                    plan, ws.client(), ws.backend, snapshot, ApplyOptions(parallelism=20)
                ).run()
                await ws.aclose()
                assert result.ok, apply_summary(result)

        t0 = time.perf_counter()
        asyncio.run(apply_all())
        setup = time.perf_counter() - t0

        async def plan_once() -> tuple[int, float, bool]:
            ws = Workspace.open(options)
            with ws:
                start = time.perf_counter()
                plan, _, _ = await ws.make_plan()
                elapsed = time.perf_counter() - start
                calls = ws.client().stats.requests
                await ws.aclose()
            return calls, elapsed, plan.has_changes

        calls, elapsed, changes = asyncio.run(plan_once())

    tracked = args.sections * args.assignments
    pages = graded * math.ceil(args.students / 100)
    rosters = with_grades * math.ceil(args.students / 10_000)
    minimum = tracked + pages + rosters + 1
    print(
        f"district: {args.sections} sections x {args.students} students; "
        f"{tracked} assignments tracked, {graded} graded, {with_refs} sections use references"
    )
    print(f"setup apply: {setup:.1f} s")
    print(f"plan: {calls} calls made / {minimum} minimum = {calls / minimum:.2f}")
    print(
        f"  ({tracked} assignment GETs + {pages} submissions pages + {rosters} roster pages "
        f"(every graded section, {with_refs} of them by reference) + 1 district)"
    )
    print(
        f"plan wall time: {elapsed:.2f} s at the default rate limit (1200/min); "
        f"changes after apply: {changes}"
    )
    return 0 if calls == minimum and not changes else 1


if __name__ == "__main__":
    sys.exit(main())
