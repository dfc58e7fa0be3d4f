"""Benchmark: `lmsctl validate` at 1k, 10k and 100k grades: CPU, peak memory, phase split.

The manifests are those of bench/plan_scale.py (N/1000 sections, 25 assignments per section,
40 students graded on each: 100k grades = 100 sections x 40 students x 25 assignments), written
from a generated seed; validate needs no server, so only the files are made. Then
`lmsctl validate ROOT` runs as a child process:

- CPU (user + system of the lmsctl process) and peak RSS (the kernel's high-water mark from
  wait4), the median of ``--runs`` runs per size;
- the phase split, from one more run under cProfile (CPU-timed; cumulative times of the
  loader, the schema pass and the resolver, named in the output; the profiler inflates every
  figure, so the shares count);
- the goal at 100k grades (<= 1.5 s CPU) and the measured CPU over it, and the growth from
  the smallest to the largest size;
- with ``--baseline DIR`` (a folder holding another version's ``lmsctl`` package, e.g. an
  unpacked ``git archive main lmsctl``), that version too, its runs alternating with this
  one's so that the machine's load weighs on both alike, and the ratio of their medians.

    python bench/validate_scale.py [--sizes 1k,10k,100k] [--runs 3] [--no-profile]
                                   [--baseline DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

import harness
from harness import Shape

from lmsctl.sandbox import generate_seed

ROSTER, GRADED, ASSIGNMENTS = 250, 40, 25
GOAL_CPU = 1.5  # seconds at 100k grades

#: phase -> (file suffix, function) whose cumulative time is that phase
PHASES = {
    "load/compose": ("lmsctl/manifest/loader.py", "load_yaml_file"),
    "schema": ("lmsctl/manifest/schema.py", "schema_check"),
    "section": ("lmsctl/manifest/resolve.py", "_section"),  # holds the schema pass
    "validate_root": ("lmsctl/manifest/validate.py", "validate_root"),
}


@dataclasses.dataclass
class Size:
    grades: int
    cpu: list[float] = dataclasses.field(default_factory=list)
    peak: list[float] = dataclasses.field(default_factory=list)
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    profiled_total: float = 0.0
    base_cpu: list[float] = dataclasses.field(default_factory=list)
    base_peak: list[float] = dataclasses.field(default_factory=list)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def median_peak(self) -> float:
        return statistics.median(self.peak)


def validate_once(
    root: Path, profile: Path | None = None, baseline: Path | None = None
) -> harness.ChildRun:
    cmd = harness.lmsctl_command(["validate", str(root)], profile=profile)
    # the child imports the baseline's lmsctl first; it runs from the root's folder, since
    # `python -m` puts the working folder first on sys.path
    env = {"PYTHONPATH": str(baseline)} if baseline is not None else None
    run = harness.run_child(cmd, cwd=root.parent, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"validate exited {run.returncode}: {run.stderr_tail}")
    return run


def measure(base: Path, grades: int, runs: int, profile: bool, baseline: Path | None) -> Size:
    sections = max(1, grades // (GRADED * ASSIGNMENTS))
    shape = Shape(sections=sections, roster=ROSTER, graded=GRADED, assignments=ASSIGNMENTS)
    size = Size(shape.grades)
    root = base / f"g{grades}"
    root.mkdir()
    seed = generate_seed(districts=1, sections=sections, students=ROSTER)
    harness.write_manifests(root, seed, shape, value=0)
    for _ in range(runs):
        run = validate_once(root)
        size.cpu.append(run.cpu)
        size.peak.append(run.peak_mb)
        if baseline is not None:
            run = validate_once(root, baseline=baseline)
            size.base_cpu.append(run.cpu)
            size.base_peak.append(run.peak_mb)
    if profile:
        prof = base / f"validate-{grades}.prof"
        validate_once(root, profile=prof)
        size.phases, size.profiled_total = harness.phase_split(prof, PHASES)
    report(size)
    return size


def report(s: Size) -> None:
    cpus = ", ".join(f"{c:.2f}" for c in s.cpu)
    print(
        f"  {s.grades} grades: {s.median_cpu:.2f} s CPU (median of {cpus}), "
        f"peak {s.median_peak:.0f} MB"
    )
    if s.base_cpu:
        base, base_peak = statistics.median(s.base_cpu), statistics.median(s.base_peak)
        others = ", ".join(f"{c:.2f}" for c in s.base_cpu)
        print(
            f"    baseline: {base:.2f} s CPU (median of {others}), peak {base_peak:.0f} MB; "
            f"this version's CPU = x{s.median_cpu / base:.2f} of the baseline's"
        )
    if not s.phases:
        return
    total = s.profiled_total or 1.0
    get = s.phases.get
    rows = [
        ("load/compose (YAML)", get("load/compose", 0.0)),
        ("schema validation", get("schema", 0.0)),
        ("resolve (semantic pass)", get("section", 0.0) - get("schema", 0.0)),
    ]
    rows.append(("other (start-up, CLI, modelines)", total - sum(v for _, v in rows)))
    print(
        "    phases (CPU-timed cProfile, cumulative: load_yaml_file; schema_check; "
        f"resolve._section minus schema_check; the rest. Profiled total {total:.2f} s; "
        "share x unprofiled median CPU in brackets):"
    )
    for name, value in rows:
        print(
            f"      {name:34} {value:6.2f} s  {value / total:5.1%}  "
            f"[~{value / total * s.median_cpu:5.2f} s]"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k", help="grade counts, e.g. 1k,10k")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (the median counts)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run the lmsctl package found in DIR (alternating with this one's runs)",
    )
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "lmsctl" / "__init__.py").is_file():
        parser.error(f"{args.baseline} holds no lmsctl package")
    sizes = sorted(harness.parse_size(x) for x in args.sizes.split(",") if x.strip())
    print(f"lmsctl validate; {harness.load_average()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for grades in sizes:
            results.append(
                measure(Path(tmp), grades, max(1, args.runs), not args.no_profile, args.baseline)
            )
    print()
    print("| grades | CPU (median) | peak MB (median) | baseline CPU | baseline peak MB |")
    print("|---|---|---|---|---|")
    for s in results:
        base = f"{statistics.median(s.base_cpu):.2f} s" if s.base_cpu else "-"
        base_peak = f"{statistics.median(s.base_peak):.0f}" if s.base_peak else "-"
        print(f"| {s.grades} | {s.median_cpu:.2f} s | {s.median_peak:.0f} | {base} | {base_peak} |")
    if len(results) > 1:
        lo, hi = results[0], results[-1]
        scale = hi.grades / lo.grades
        cpu, peak = hi.median_cpu / lo.median_cpu, hi.median_peak / lo.median_peak
        print(
            f"growth {lo.grades} -> {hi.grades} grades (x{scale:.0f}): CPU x{cpu:.1f}, "
            f"peak memory x{peak:.1f}"
        )
    largest = results[-1]
    print(
        f"goal at 100k: CPU <= {GOAL_CPU} s; measured at {largest.grades}: "
        f"{largest.median_cpu:.2f} s = x{largest.median_cpu / GOAL_CPU:.2f} of the goal; "
        f"{harness.load_average()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
