"""Benchmark: `lmsctl plan` at 1k, 10k and 100k grades: CPU, peak memory, phases, API calls.

Each size is N/1000 sections of 250 enrolled students, 25 assignments per section, 40 students
graded on each (100k grades = 100 sections x 40 students x 25 assignments). A fast first apply
(in-process, not measured) sets the district up; then `lmsctl plan` runs as a child process
against a served sandbox (`lmsctl sandbox serve --access-log`) over real HTTP, its requests
counted in the sandbox's own access log (no proxy: on a 2-core machine a proxy is a third busy
process, and it raised the plan's own CPU by about 30% through contention):

- plan CPU (user + system of the lmsctl process, from wait4) and its peak RSS (its own
  high-water mark, VmHWM: wait4's would include this benchmark's own peak, see
  harness.phase_timed_command), --runs times (default 3) with no changes and as many with
  every grade changed: the figures are the medians of those runs, the CPU with its range (the
  machines are noisy: on a 2-core machine one run may differ from the next by 20%);
- the phase split of those runs: each phase's function (PHASES) timed inside that same plan
  with the process's CPU clock, so the figures add up to the plan's own CPU (a
  profiler would inflate Python code many times more than the JSON parser's C);
- calls received by the server against the minimum the API's shape allows (below);
- growth from the smallest to the largest size (linear: the ratio of their grade counts).

The minimum calls for one plan: 1 district read; per section, one roster page (the Data API
pages up to 10,000 students); per tracked assignment one GET (LMS Connect v3.1 has no listing
of a section's assignments) and one submissions page per 100 submissions (its maximum page;
every one of the 250 enrolled students has a submission, graded or not).

The sandbox's rate limit is off and plan runs with --rate-limit 1000000: at Clever's 1200/min
the 100k plan's ~10,100 calls alone take 8.5 minutes of waiting, which costs no CPU.

    python bench/plan_scale.py [--sizes 1k,10k,100k] [--runs 3] [--keep-profiles DIR]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import harness
import yaml
from harness import Seen, ServerLog, Shape

from lmsctl.sandbox import generate_seed

ROSTER, GRADED, ASSIGNMENTS = 250, 40, 25
ROSTER_PAGE, SUBMISSIONS_PAGE = 10_000, 100  # the API's maximum page sizes
PLAN_FLAGS = ["--rate-limit", "1000000"]  # and --detailed-exitcode, to check the set-up

#: phase -> (module, attribute) of the function whose CPU time is that phase, timed in the
#: plan itself (no profiler: the figures are the real ones); plan runs them one after another
PHASES = {
    "load+validate (manifests)": ("lmsctl.workspace", "load_or_raise"),
    "state read": ("lmsctl.workspace", "Workspace.read_state"),
    "refresh + HTTP client": ("lmsctl.workspace", "refresh"),
    "build": ("lmsctl.workspace", "PlanBuilder.build"),
    "policies": ("lmsctl.workspace", "apply_policies"),
    "digest": ("lmsctl.workspace", "manifests_digest"),
    "privacy directory": ("lmsctl.privacy", "StudentDirectory.add_desired"),
    "privacy rosters": ("lmsctl.privacy", "StudentDirectory.add_rosters"),
    "render": ("lmsctl.cli.commands.plan", "emit_plan"),
}
#: the phase that is the HTTP client's (everything else counts as outside it)
HTTP_PHASE = "refresh + HTTP client"


class RunCpu(NamedTuple):
    """One plan's CPU seconds (see :func:`split`)."""

    total: float  # wait4's: the exit too
    outside: float  # all but refresh's: start-up and exit included
    phases: float  # the timed phases but refresh (load, validate, state, build, render, ...)


@dataclasses.dataclass
class Size:
    grades: int
    shape: Shape
    wall: float = 0.0
    calls: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    minimum: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    phases: harness.PhaseTimes | None = None
    phases_changed: harness.PhaseTimes | None = None
    #: each run's CPU, no changes and all changed
    runs: list[RunCpu] = dataclasses.field(default_factory=list)
    runs_changed: list[RunCpu] = dataclasses.field(default_factory=list)

    @property
    def cpu(self) -> float:
        return statistics.median(r.total for r in self.runs)

    @property
    def cpu_changed(self) -> float:
        return statistics.median(r.total for r in self.runs_changed)

    @property
    def peak(self) -> float:
        return self.phases.peak_mb if self.phases is not None else 0.0

    @property
    def peak_changed(self) -> float:
        return self.phases_changed.peak_mb if self.phases_changed is not None else 0.0


def kind(seen: Seen) -> str:
    parts = seen.path.split("/")[2:]  # after /v3.x/
    if parts[0] == "districts":
        return "district"
    if parts[-1] == "users":
        return "roster pages"
    if parts[-1] == "submissions":
        return "submissions pages"
    if len(parts) == 4 and parts[2] == "assignments":
        return "assignment GETs"
    return "other " + seen.method


def minimum(shape: Shape) -> collections.Counter[str]:
    return collections.Counter(
        {
            "district": 1,
            "roster pages": shape.sections * math.ceil(shape.roster / ROSTER_PAGE),
            "assignment GETs": shape.sections * shape.assignments,
            "submissions pages": shape.sections
            * shape.assignments
            * math.ceil(shape.roster / SUBMISSIONS_PAGE),
        }
    )


def plan_once(
    root: Path,
    url: str,
    log: ServerLog,
    changes: bool,
    profile: Path | None = None,
    phases: Path | None = None,
) -> tuple[harness.ChildRun, list[Seen]]:
    """One plan; --detailed-exitcode checks it saw changes exactly when it should. With
    ``phases``, the plan times its phases (PHASES) and writes them there."""
    args = ["--api-url", url, "plan", str(root), "--detailed-exitcode", *PLAN_FLAGS]
    if phases is not None:
        cmd = harness.phase_timed_command(args, phases, PHASES)
    else:
        cmd = harness.lmsctl_command(args, profile=profile)
    mark = log.mark()
    with tempfile.TemporaryFile() as out:
        run = harness.run_child(cmd, stdout=out)
        if run.returncode != (2 if changes else 0):
            out.seek(0)
            shown = out.read()[-500:].decode(errors="replace")
            raise RuntimeError(f"plan exited {run.returncode}: {run.stderr_tail} {shown}")
    return run, [s for s in log.since(mark) if s.path.startswith(("/v3.0/", "/v3.1/"))]


def measure(base: Path, grades: int, runs: int = 3, keep: Path | None = None) -> Size:
    sections = max(1, grades // (GRADED * ASSIGNMENTS))
    shape = Shape(sections=sections, roster=ROSTER, graded=GRADED, assignments=ASSIGNMENTS)
    size = Size(shape.grades, shape)
    d = base / f"g{grades}"
    d.mkdir()
    seed = generate_seed(districts=1, sections=sections, students=ROSTER)
    seed_file = d / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    root = d / "coursework"
    root.mkdir()
    harness.write_manifests(root, seed, shape, value=0)
    port = harness.free_port()
    url = f"http://127.0.0.1:{port}/v3.1"
    log = ServerLog(d / "access.log")
    t0 = time.perf_counter()
    summary = harness.cloned_district(root, d / "sandbox.db", seed_file, seed, shape, url)
    print(f"  set-up {shape.grades} grades: {summary} [{time.perf_counter() - t0:.0f} s]")
    size.minimum = minimum(shape)
    with harness.sandbox_served(
        d / "sandbox.db", seed_file, rate_limit=0, port=port, access_log=log.path
    ):
        report_file = d / "phases.json"
        size.phases, size.runs, walls, size.calls = repeated(
            root, url, log, runs, changes=False, report_file=report_file
        )
        size.wall = statistics.median(walls)
        if keep is not None:
            prof = d / "plan.prof"
            plan_once(root, url, log, changes=False, profile=prof)
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(prof, keep / f"plan-{shape.grades}.prof")
        harness.write_manifests(root, seed, shape, value=1)  # every grade changes
        size.phases_changed, size.runs_changed, _, _ = repeated(
            root, url, log, runs, changes=True, report_file=report_file
        )
    report(size)
    return size


def repeated(
    root: Path, url: str, log: ServerLog, runs: int, *, changes: bool, report_file: Path
) -> tuple[harness.PhaseTimes, list[RunCpu], list[float], collections.Counter[str]]:
    """``runs`` phase-timed plans: their phases (medians, the peak the most of any run), each
    run's :func:`split`, each run's wall time, and the calls of the run that made the most
    (every run should make the same)."""
    timed: list[harness.PhaseTimes] = []
    splits: list[RunCpu] = []
    walls: list[float] = []
    most: collections.Counter[str] = collections.Counter()
    for _ in range(runs):
        run, seen = plan_once(root, url, log, changes=changes, phases=report_file)
        timed.append(harness.read_phase_times(report_file))
        splits.append(split(run.cpu, timed[-1]))
        walls.append(run.wall)
        calls = collections.Counter(kind(s) for s in seen)
        if sum(calls.values()) > sum(most.values()):
            most = calls
    return harness.median_phase_times(timed), splits, walls, most


def split(cpu: float, times: harness.PhaseTimes) -> RunCpu:
    """A plan's CPU (``cpu``: wait4's) as :class:`RunCpu` splits it."""
    http = times.phases.get(HTTP_PHASE, 0.0)
    return RunCpu(cpu, cpu - http, sum(times.phases.values()) - http)


def spread(values: list[float]) -> str:
    """The median of the runs' figures, and their range when there are several."""
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def report(s: Size) -> None:
    calls, least = sum(s.calls.values()), sum(s.minimum.values())
    print(
        f"  {s.grades} grades ({s.shape.sections} sections x {s.shape.graded} graded of "
        f"{s.shape.roster} enrolled x {s.shape.assignments} assignments):"
    )
    n = len(s.runs)
    print(
        f"    plan, no changes:   {spread([r.total for r in s.runs])} CPU, peak {s.peak:.0f} MB, "
        f"{s.wall:.2f} s wall"
    )
    print(
        f"    plan, all changed:  {spread([r.total for r in s.runs_changed])} CPU, "
        f"peak {s.peak_changed:.0f} MB"
    )
    if n > 1:
        print(f"      (medians of {n} runs each, the range in brackets)")
    print(f"    calls at the server / minimum = {calls} / {least} = {calls / least:.2f}")
    for name in sorted(set(s.calls) | set(s.minimum)):
        print(f"      {name:18} {s.calls[name]:6} / {s.minimum[name]:6}")
    if s.phases is not None and s.phases_changed is not None:
        no, all_ = s.phases, s.phases_changed
        print(
            "    phases (CPU seconds, no changes / all changed, each the median of the runs; each "
            "phase's function timed in the plan by the process's own clock, no profiler):"
        )
        rows = [("start-up (imports, options)", no.start, all_.start)]
        rows += [(name, no.phases.get(name, 0.0), all_.phases.get(name, 0.0)) for name in PHASES]
        rows.append(("other (lock, exit)", no.other, all_.other))
        for name, a, b in rows:
            print(f"      {name:30} {a:6.2f} s  {b:6.2f} s")
        print(
            f"      outside the HTTP client (all but refresh): "
            f"{spread([r.outside for r in s.runs])} / "
            f"{spread([r.outside for r in s.runs_changed])} of CPU"
        )
        print(
            f"        of which the phases (load, validate, state, build, render): "
            f"{spread([r.phases for r in s.runs])} / {spread([r.phases for r in s.runs_changed])}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k", help="grade counts, e.g. 1k,10k")
    parser.add_argument(
        "--keep-profiles",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run each size under cProfile and save DIR/plan-<grades>.prof (pstats)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="plans per case and size; the figures are their medians (default 3)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    sizes = sorted(harness.parse_size(x) for x in args.sizes.split(",") if x.strip())
    print(f"lmsctl plan {' '.join(PLAN_FLAGS)}; {harness.load_average()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for grades in sizes:
            results.append(measure(Path(tmp), grades, args.runs, args.keep_profiles))
    print()
    print("| grades | CPU no changes | CPU all changed | peak MB (no / all) | calls / minimum |")
    print("|---|---|---|---|---|")
    for s in results:
        ratio = sum(s.calls.values()) / sum(s.minimum.values())
        print(
            f"| {s.grades} | {s.cpu:.2f} s | {s.cpu_changed:.2f} s | "
            f"{s.peak:.0f} / {s.peak_changed:.0f} | {ratio:.2f} |"
        )
    if len(results) > 1:
        lo, hi = results[0], results[-1]
        scale = hi.grades / lo.grades
        print(
            f"growth {lo.grades} -> {hi.grades} grades (x{scale:.0f}): CPU x{hi.cpu / lo.cpu:.1f} "
            f"(no changes), x{hi.cpu_changed / lo.cpu_changed:.1f} (all changed); peak memory "
            f"x{hi.peak / lo.peak:.1f}; linear would be x{scale:.0f} less the fixed start-up"
        )
    print(
        "goal at 100k: CPU <= 6 s, <= 2 s outside the HTTP client, peak <= 250 MB, "
        f"calls / minimum = 1.00; {harness.load_average()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
