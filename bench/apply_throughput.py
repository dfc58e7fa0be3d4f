"""Benchmark: `lmsctl apply` throughput at the rate limit, with slow writes, counted at the server.

For each write latency (default 0.3, 1, 15 and 60 s on every create and update: the sandbox's
latency option), runs `lmsctl apply --auto-approve` with its default flags against a served
sandbox (`lmsctl sandbox serve`, a child process) over real HTTP, through a counting proxy
that notes every request the server side receives and every 429 it answers. The run lasts
until three full rate windows (or, with a shortened window, as many as one write latency
spans) have passed after the writes reached steady state (the first write plus one latency),
then apply is stopped with Ctrl-C (SIGINT) as a user would.

It prints, per full window, requests received / limit (the goal is >= 0.95 with 0 429s), and
beside it the same share for a naive script that sends one PATCH at a time and waits for each
answer. `--big-state N` adds one run at 0.3 s writes on a workspace whose state holds N grades
(default 100,000: 100 sections x 40 students x 25 assignments), of which only enough change
to fill the windows.

The sandbox's window is its own clock's minute (1200 requests/minute), and the windows measured
are the server's. `--window S` (`--quick`: 15 s) shortens it and the limit in proportion (1200 x
S / 60), keeping 20 requests/s and the real latencies: the proxy then enforces that window on
the sandbox's clock (same answers and headers as the sandbox, its X-RateLimit-Reset and the
sandbox's Date one clock, as a server's are)
and lmsctl's own limiter window is set to S s with --rate-limit 1200 x S / 60, which the output
says. The full run takes about 25 minutes (plus the big state's set-up and refresh); `--quick
--latencies 0.3,1 --big-state 0` takes about 3.

    python bench/apply_throughput.py [--latencies 0.3,1,15,60] [--quick | --window S]
        [--big-state N] [--naive-seconds 10] [--apply-args "--parallelism 10"]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import httpx
import yaml
from harness import CountingProxy, Seen, Shape

from lmsctl.sandbox import DEMO_TOKEN, generate_seed

RATE = 1200  # Clever's limit: requests per minute per token
WRITES = ("POST", "PATCH", "PUT", "DELETE")
DEFAULT_TIMEOUT = 90.0  # lmsctl apply's --timeout default


@dataclasses.dataclass
class Result:
    label: str
    latency: float
    shares: list[float]  # requests / limit per full window, in steady state
    ramp: list[float]  # full windows before steady state (writes began < one latency before)
    requests: int
    writes: int
    rejected: int  # 429s the server side answered during the run
    slow: int  # answers that took the server >= 60 s: lmsctl's default --timeout gave up first
    most_in_flight: int
    ran_out: bool  # apply finished by itself before the windows were filled
    note: str
    naive: float | None = None


def next_edge(t: float, window: float, offset: float) -> float:
    """The first start of a server window at or after ``t`` (its clock ``offset`` s ahead)."""
    return math.ceil((t + offset) / window) * window - offset


def full_windows(
    seen: list[Seen], start: float, stop: float, window: float, offset: float = 0.0
) -> list[tuple[float, int, int]]:
    """(window start, API requests arrived, 429s) for each fixed window inside [start, stop]:
    the server's windows, which start on whole windows of its clock (``offset`` s ahead)."""
    out = []
    edge = next_edge(start, window, offset)
    while edge + window <= stop:
        inside = [s for s in seen if edge <= s.arrived < edge + window]
        out.append((edge, len(inside), sum(s.status == 429 for s in inside)))
        edge += window
    return out


def api(seen: list[Seen]) -> list[Seen]:
    return [s for s in seen if s.path.startswith(("/v3.0/", "/v3.1/"))]


def run_apply(
    label: str,
    root: Path,
    proxy: CountingProxy,
    proxy_url: str,
    latency: float,
    window: float,
    extra: list[str],
) -> Result:
    limit = round(RATE * window / 60)
    offset = proxy.clock_offset
    args = ["--api-url", proxy_url, "apply", str(root), "--auto-approve", *extra]
    if window != 60:
        args += ["--rate-limit", str(limit)]
    cmd = harness.lmsctl_command(args, patch_window=window if window != 60 else 0.0)
    mark = proxy.mark()
    proxy.reset_in_flight_peak()
    first_write: list[float] = []
    stop_at: list[float] = []

    def stop_when() -> bool:
        if not first_write:
            writes = [s for s in proxy.since(mark) if s.method in WRITES]
            if not writes:
                return False
            first_write.append(writes[0].arrived)
            # steady state from first write + one latency; then the next edge + 3 windows,
            # or as many as one latency spans (a shortened window is shorter than a 60 s write)
            steady = first_write[0] + latency
            count = steady_windows(latency, window)
            stop_at.append(next_edge(steady, window, offset) + count * window + 0.5)
        if time.time() >= stop_at[0]:
            stop_at[0] = time.time()
            return True
        return False

    run = harness.run_child(cmd, stop_when=stop_when, grace=latency + 30)
    seen = api(proxy.since(mark))
    end = stop_at[0] if stop_at and run.stopped else (max(s.arrived for s in seen) if seen else 0)
    start = first_write[0] if first_write else end
    steady_from = start + latency
    shares: list[float] = []
    ramp: list[float] = []
    for edge, count, _rejected in full_windows(seen, start, end, window, offset):
        (shares if edge >= steady_from else ramp).append(count / limit)
    note = f"exit {run.returncode}" + (" after SIGINT" if run.stopped else "")
    if run.killed:
        note += ", killed when in-flight calls outlived the grace"
    if run.returncode not in (0, 130) or not run.stopped:
        note += f"; stderr: {run.stderr_tail[-300:]}"
    return Result(
        label=label,
        latency=latency,
        shares=shares,
        ramp=ramp,
        requests=len(seen),
        writes=sum(s.method in WRITES for s in seen),
        rejected=sum(s.status == 429 for s in seen),
        slow=sum(s.done - s.arrived >= DEFAULT_TIMEOUT for s in seen if s.done),
        most_in_flight=proxy.most_in_flight,
        ran_out=not run.stopped,
        note=note,
    )


async def naive(proxy_url: str, section: str, users: list[str], seconds: float) -> None:
    """One call at a time, waiting for each answer, for ``seconds`` (at least one PATCH)."""
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    async with httpx.AsyncClient(base_url=proxy_url, headers=headers, timeout=None) as client:
        body = {
            "title": "naive",
            "description": "one call at a time",
            "due_date": "2027-05-01T23:59:00.000Z",
            "points_possible": 10,
            "assignee_mode": "all",
        }
        # an assignment lmsctl does not track, so its runs never see these grades
        created = await client.post(f"/sections/{section}/assignments", json=body)
        created.raise_for_status()
        aid = created.json()["data"]["id"]
        t0 = time.perf_counter()
        n = 0
        while n == 0 or time.perf_counter() - t0 < seconds:
            user = users[n % len(users)]
            r = await client.patch(
                f"/sections/{section}/assignments/{aid}/submissions/{user}",
                json={"grade_points": n % 10},
            )
            r.raise_for_status()
            n += 1


def naive_share(
    proxy: CountingProxy, proxy_url: str, seed: dict[str, Any], window: float, seconds: float
) -> float:
    section = seed["districts"][0]["sections"][0]
    users = [s["id"] for s in section["students"]]
    mark = proxy.mark()
    asyncio.run(naive(proxy_url, section["id"], users, seconds))
    time.sleep(0.5)  # the proxy notes an answer's end just after the client has it
    patches = [s for s in proxy.since(mark) if s.method == "PATCH" and s.status == 200]
    span = max(s.done for s in patches) - min(s.arrived for s in patches)
    return len(patches) / span * 60 / RATE


@dataclasses.dataclass
class District:
    root: Path
    db: Path
    seed_file: Path
    seed: dict[str, Any]
    shape: Shape


def make_district(base: Path, name: str, shape: Shape, proxy_url: str) -> District:
    d = base / name
    d.mkdir()
    seed = generate_seed(districts=1, sections=shape.sections, students=shape.roster)
    seed_file = d / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    root = d / "coursework"
    root.mkdir()
    harness.write_manifests(root, seed, shape, value=0)
    t0 = time.perf_counter()
    summary = harness.cloned_district(root, d / "sandbox.db", seed_file, seed, shape, proxy_url)
    print(f"  set-up ({name}, {shape.grades} grades): {summary} [{time.perf_counter() - t0:.0f} s]")
    return District(root, d / "sandbox.db", seed_file, seed, shape)


def steady_windows(latency: float, window: float) -> int:
    """Full windows to measure in steady state: three, and at least one latency's worth."""
    return max(3, math.ceil(latency / window))


def needed_changes(latency: float, window: float) -> int:
    """Grade changes enough to keep apply busy at the full limit for the whole measured span."""
    span = latency + (steady_windows(latency, window) + 2) * window + 30
    return math.ceil(RATE / 60 * span * 1.1)


def measure(
    district: District,
    label: str,
    latencies: list[float],
    window: float,
    extra: list[str],
    naive_seconds: float | None,
    proxy: CountingProxy,
    proxy_url: str,
) -> list[Result]:
    limit = round(RATE * window / 60)
    results = []
    sandbox_limit = RATE if window == 60 else 0
    with harness.sandbox_served(district.db, district.seed_file, sandbox_limit) as origin:
        proxy.upstream = origin
        proxy.clock_offset = harness.clock_offset(origin)
        for n, latency in enumerate(latencies, start=1):
            changes = min(needed_changes(latency, window), district.shape.grades)
            harness.write_manifests(
                district.root, district.seed, district.shape, value=n, changed=changes
            )
            faults = {"latency": {"POST": latency, "PATCH": latency}, "rate_limit": sandbox_limit}
            harness.set_faults(origin, faults)
            print(f"  {label}, {latency:g} s writes: {changes} grade changes ...", flush=True)
            result = run_apply(label, district.root, proxy, proxy_url, latency, window, extra)
            report(result, window, limit)
            if naive_seconds is not None:
                time.sleep(window)  # a fresh window for the naive script
                result.naive = naive_share(proxy, proxy_url, district.seed, window, naive_seconds)
                print(f"    naive script (one call at a time): {result.naive:.3f} of the limit")
            results.append(result)
    return results


def report(r: Result, window: float, limit: int) -> None:
    shares = " ".join(f"{s:.3f}" for s in r.shares) or "none"
    ramp = " ".join(f"{s:.3f}" for s in r.ramp)
    print(
        f"    per full {window:g} s window (limit {limit}), steady state: {shares}"
        + (f"; before steady state: {ramp}" if ramp else "")
    )
    print(
        f"    at the server: {r.requests} requests ({r.writes} writes), {r.rejected} answered "
        f"429, at most {r.most_in_flight} in flight; {r.note}"
    )
    if r.slow:
        print(
            f"    {r.slow} answers took the server >= {DEFAULT_TIMEOUT:g} s: past lmsctl's default "
            "--timeout, so it gave up on them (and retried or re-read)"
        )
    if r.ran_out:
        print("    WARNING: apply finished before three full windows: figures are not valid")


def table(results: list[Result]) -> None:
    print()
    print(
        "| run | write latency | share of limit per full window (min / mean) | windows | "
        "429s at server | naive script | lmsctl / naive |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if r.shares:
            low, mean = min(r.shares), sum(r.shares) / len(r.shares)
            share = f"{low:.3f} / {mean:.3f}"
        else:
            share, mean = "no full window", 0.0
        naive = f"{r.naive:.3f}" if r.naive is not None else "-"
        ratio = f"{mean / r.naive:.1f}x" if r.naive and r.shares else "-"
        print(
            f"| {r.label} | {r.latency:g} s | {share} | {len(r.shares)} | {r.rejected} | "
            f"{naive} | {ratio} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latencies", default="0.3,1,15,60", help="write latencies, seconds")
    parser.add_argument("--window", type=float, default=60.0, help="rate window, seconds")
    parser.add_argument("--quick", action="store_true", help="same as --window 15")
    parser.add_argument(
        "--big-state",
        type=int,
        default=100_000,
        metavar="N",
        help="grades in the big-state run (multiple of 1000; 0 skips it)",
    )
    parser.add_argument("--naive-seconds", type=float, default=10.0)
    parser.add_argument("--apply-args", default="", help="extra flags for lmsctl apply")
    args = parser.parse_args()
    window = 15.0 if args.quick else args.window
    latencies = sorted(float(x) for x in args.latencies.split(",") if x.strip())
    extra = shlex.split(args.apply_args)
    print(f"lmsctl apply {' '.join(extra) or '(default flags)'}; {harness.load_average()}")
    if window != 60:
        print(
            f"SHORTENED WINDOW: {window:g} s windows with a limit of {round(RATE * window / 60)} "
            f"(1200/min in proportion), enforced by the counting proxy; lmsctl's limiter window "
            f"set to {window:g} s and --rate-limit {round(RATE * window / 60)}. Latencies are real."
        )
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        most = max(needed_changes(max(latencies), window), 1)
        small = Shape(sections=math.ceil(most / 300), roster=30, graded=30, assignments=10)
        port = harness.free_port()
        proxy = CountingProxy(
            "http://127.0.0.1:1", window if window != 60 else 0.0, round(RATE * window / 60)
        )
        with harness.proxy_running(proxy, port) as url:
            district = make_district(base, "small", small, url)
            results += measure(
                district,
                f"{small.grades // 1000}k-grade state",
                latencies,
                window,
                extra,
                args.naive_seconds,
                proxy,
                url,
            )
        if args.big_state:
            big = Shape(
                sections=max(1, args.big_state // 1000), roster=40, graded=40, assignments=25
            )
            port = harness.free_port()
            proxy = CountingProxy(
                "http://127.0.0.1:1", window if window != 60 else 0.0, round(RATE * window / 60)
            )
            with harness.proxy_running(proxy, port) as url:
                district = make_district(base, "big", big, url)
                results += measure(
                    district,
                    f"{big.grades // 1000}k-grade state",
                    [0.3],
                    window,
                    extra,
                    None,
                    proxy,
                    url,
                )
    table(results)
    print(
        f"goal: >= 0.95 of the limit in every steady full window, 0 429s; {harness.load_average()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
