"""Benchmark: apply throughput under slow writes and the rate limit.

Applies N grade changes (default 2,000) to a sandbox served on a real socket where every write
takes 300 ms and the rate limit is 1200 requests/minute, and prints the achieved requests per
minute / limit (target >= 0.95) and how many 429s the sandbox answered (target 0: lmsctl's own
limiter keeps it under the limit). For comparison it then times the same kind of work done one
call at a time, as a naive script would, on a sample, and extrapolates.

Run: python bench/apply_throughput.py [--grades 2000] [--latency 0.3] [--naive-sample 100]
It takes a few minutes: 2,000 writes at 1200/min is 100 s by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.client.lms import LmsClient
from lmsctl.render.apply import apply_summary
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, generate_seed, running_server
from lmsctl.workspace import Workspace, WorkspaceOptions


def manifests(root: Path, seed: dict, assignments: int, points: int) -> int:  # type: ignore[type-arg]
    (root / "lmsctl.yaml").write_text("timezone: UTC\n")
    count = 0
    for n, section in enumerate(seed["districts"][0]["sections"]):
        items = {}
        for i in range(assignments):
            grades = {
                s["id"]: {"grade_points": (points + i + k) % 10}
                for k, s in enumerate(section["students"])
            }
            count += len(grades)
            items[f"a-{i + 1:02d}"] = {
                "title": f"Assignment {i + 1}",
                "description": "bench",
                "due_date": "2027-05-01",
                "points_possible": 10,
                "assignee_mode": "all",
                "grades": grades,
            }
        doc = {"section": section["id"], "assignments": items}
        (root / f"s{n:02d}.yaml").write_text(yaml.safe_dump(doc))
    return count


def wait_for_new_minute() -> None:
    """The sandbox's window is the wall-clock minute: start measuring in a fresh one."""
    time.sleep(60 - time.time() % 60 + 0.2)


class Recording(httpx.AsyncBaseTransport):
    """Notes the wall-clock time each request is sent, to check the limit window by window."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(time.time())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def window_counts(sent: list[float]) -> tuple[int, int]:
    """(most requests in any sliding 60 s, most in one fixed wall-clock minute)."""
    sent = sorted(sent)
    most_sliding = 0
    j = 0
    for i, t in enumerate(sent):
        while sent[j] <= t - 60:
            j += 1
        most_sliding = max(most_sliding, i - j + 1)
    per_minute: dict[int, int] = {}
    for t in sent:
        per_minute[int(t // 60)] = per_minute.get(int(t // 60), 0) + 1
    return most_sliding, max(per_minute.values(), default=0)


RECORDER = Recording()


async def run_apply(options: WorkspaceOptions, parallelism: int) -> tuple[int, float, int, str]:
    ws = Workspace.open(options)
    assert options.api_url is not None
    ws._client = LmsClient(
        options.api_url, DEMO_TOKEN, transport=RECORDER, rate_limit=options.rate_limit
    )
    with ws:
        plan, _, snapshot = await ws.make_plan()
        client = ws.client()
        before = client.stats.requests
        t0 = time.perf_counter()
        result = await Executor(
            plan, client, ws.backend, snapshot, ApplyOptions(parallelism=parallelism)
        ).run()
        elapsed = time.perf_counter() - t0
        calls = client.stats.requests - before
        limited = client.stats.rate_limited
        await ws.aclose()
    return calls, elapsed, limited, apply_summary(result)


async def naive(base_url: str, section: str, assignment_id: str, users: list[str]) -> float:
    """One PATCH at a time, waiting for each answer: what a simple script does."""
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        t0 = time.perf_counter()
        for n, user in enumerate(users):
            url = f"/v3.1/sections/{section}/assignments/{assignment_id}/submissions/{user}"
            r = await client.patch(url, json={"grade_points": n % 10})
            r.raise_for_status()
        return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grades", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--rate-limit", type=int, default=1200)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--naive-sample", type=int, default=100)
    args = parser.parse_args()
    sections, assignments = 4, 10
    students = max(1, math.ceil(args.grades / (sections * assignments)))

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        seed = generate_seed(districts=1, sections=sections, students=students)
        seed_file = base / "seed.yaml"
        seed_file.write_text(yaml.safe_dump(seed))
        root = base / "coursework"
        root.mkdir()
        manifests(root, seed, assignments, 0)
        config = SandboxConfig(db_path=base / "sandbox.db", seed_path=seed_file, rate_limit=0)
        with running_server(config) as url:
            options = WorkspaceOptions(root=root, api_url=url, rate_limit=args.rate_limit)
            os.environ["CLEVER_TOKEN"] = DEMO_TOKEN
            # set up: create the assignments and first grades quickly, without limits
            fast = WorkspaceOptions(root=root, api_url=url, rate_limit=1_000_000)
            calls, elapsed, _, summary = asyncio.run(run_apply(fast, 20))
            print(f"setup: {summary}")
            n = manifests(root, seed, assignments, 1)  # every grade changes
            faults = {"latency": {"PATCH": args.latency}, "rate_limit": args.rate_limit}
            httpx.put(url.replace("/v3.1", "/_sandbox/faults"), json=faults).raise_for_status()
            wait_for_new_minute()
            RECORDER.sent.clear()
            calls, elapsed, limited, summary = asyncio.run(run_apply(options, args.parallelism))
            most_sliding, most_fixed = window_counts(RECORDER.sent)
            rpm = calls / elapsed * 60
            print(summary)
            print(
                f"lmsctl apply: {n} grade changes, {calls} requests in {elapsed:.1f} s "
                f"= {rpm:.0f} requests/min; achieved / limit = {rpm / args.rate_limit:.3f}; "
                f"429s received: {limited}"
            )
            print(
                f"  most requests in any 60 s: {most_sliding}; in one wall-clock minute (the "
                f"sandbox's window): {most_fixed}; limit {args.rate_limit}. A run shorter than two "
                "windows can average above the limit because the first window is used in full."
            )
            state = asyncio.run(_first_assignment(root, options))
            section, assignment_id = state
            users = [s["id"] for s in seed["districts"][0]["sections"][0]["students"]]
            sample = (users * math.ceil(args.naive_sample / len(users)))[: args.naive_sample]
            took = asyncio.run(naive(url.removesuffix("/v3.1"), section, assignment_id, sample))
            per_call = took / len(sample)
            print(
                f"naive (one call at a time): {len(sample)} PATCHes in {took:.1f} s = "
                f"{60 / per_call:.0f} requests/min; {n} grades would take {per_call * n:.0f} s "
                f"vs {elapsed:.0f} s with lmsctl ({per_call * n / elapsed:.1f}x slower)"
            )
    return 0


async def _first_assignment(root: Path, options: WorkspaceOptions) -> tuple[str, str]:
    ws = Workspace.open(options)
    snapshot = ws.backend.read()
    record = sorted(snapshot.resources.values(), key=lambda r: r.address)[0]
    return record.section_id, record.assignment_id or ""


if __name__ == "__main__":
    sys.exit(main())
