"""Benchmark: the memory `lmsctl plan --format json` costs over the text plan, at 100k changes.

The world is bench/plan_scale.py's: N/1000 sections of 250 enrolled students, 25 assignments
per section, 40 students graded on each (100k grades = 100 sections x 40 x 25), set up by a
fast first apply (in-process, not measured) and served by `lmsctl sandbox serve` over real
HTTP (no proxy in between: see bench/plan_scale.py). The manifests are then rewritten so that
every grade changes, and each of these runs as a child process, median of --runs runs:

- `plan --format json` (stdout to a file) and `plan` (text, stdout to a file) of the same world;
  the JSON-rendering share is the JSON plan's peak minus the text plan's (both hold refresh's
  live data, which is not the renderer's);
- `plan --format json --out FILE` (a plan file in clear), the same with LMSCTL_STATE_KEY set
  (the file encrypted), and `show --format json FILE` of each saved plan (no server needed).

Peak memory is the child's own (VmHWM at its exit, see harness.phase_timed_command: wait4's
figure would be at least this process's own peak, which holds the district it set up), and
"the output added" is that peak less the child's peak when it began to write its output
(emit_plan: the renderer's own share; for --out, after the plan file is written); CPU is user +
system of the child (wait4). The first JSON output is parsed and checked: one change
per grade, the document whole. With --baseline DIR each command also runs with the lmsctl
found in DIR (a checkout of another version, put first on PYTHONPATH), on the same world and
interleaved, so before and after are measured alike. Goal: `plan --format json` of 100k
changes peaks at <= 300 MB.

    python bench/plan_json.py [--sizes 10k,100k] [--runs 3] [--no-files] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness
import yaml
from harness import Shape

from lmsctl.sandbox import generate_seed
from lmsctl.state.crypto import KEY_ENV, StateKey

ROSTER, GRADED, ASSIGNMENTS = 250, 40, 25
PLAN_FLAGS = ["--detailed-exitcode", "--rate-limit", "1000000"]
GOAL_MB = 300.0


@dataclasses.dataclass
class Runs:
    """One command's runs with one lmsctl: (CPU s, peak MB, peak MB when the output began)."""

    label: str
    figures: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)

    @property
    def cpu(self) -> float:
        return statistics.median(f[0] for f in self.figures)

    @property
    def peak(self) -> float:
        return statistics.median(f[1] for f in self.figures)

    @property
    def output_share(self) -> float:
        """What writing the output added to the peak (peak - peak when the output began)."""
        return statistics.median(f[1] - f[2] for f in self.figures)

    def row(self) -> str:
        spread = ", ".join(f"{f[1]:.0f}" for f in self.figures)
        return (
            f"{self.label:42} {self.cpu:6.2f} s CPU   peak {self.peak:6.0f} MB  ({spread}); "
            f"the output added {self.output_share:+.0f} MB"
        )


@dataclasses.dataclass
class Version:
    """The lmsctl a command runs with: this checkout's, or the one in ``path``."""

    name: str
    path: Path | None = None
    runs: dict[str, Runs] = dataclasses.field(default_factory=dict)

    def env(self) -> dict[str, str]:
        if self.path is None:
            return {}
        return {"PYTHONPATH": os.pathsep.join([str(self.path), os.environ.get("PYTHONPATH", "")])}

    def record(self, label: str, figures: tuple[float, float, float]) -> None:
        self.runs.setdefault(label, Runs(label)).figures.append(figures)


#: the output, timed in the child (its peak when the output began is the plan's before it)
OUTPUT = {
    "output": ("lmsctl.cli.commands.plan", "emit_plan"),
    "output (show)": ("lmsctl.cli.commands.show", "emit_plan"),
}


def run_once(
    args: list[str], expect: int, out: Path, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """``lmsctl ARGS`` with stdout to ``out``; (CPU, own peak MB, own peak MB when the output
    began). ``env`` is added to lmsctl's."""
    report = out.with_suffix(".peak")
    report.unlink(missing_ok=True)
    cmd = harness.phase_timed_command(args, report, OUTPUT)
    with out.open("wb") as fh:
        # from the output's folder: `python -c` puts the working folder first on sys.path, so
        # run from a checkout it would import that checkout's lmsctl, not the baseline's
        run = harness.run_child(cmd, stdout=fh, cwd=out.parent, env=env)
    if run.returncode != expect or not report.exists():
        tail = out.read_bytes()[-300:].decode(errors="replace")
        raise RuntimeError(f"lmsctl {args[2:4]} exited {run.returncode}: {run.stderr_tail} {tail}")
    times = harness.read_phase_times(report)
    (began,) = times.peak_at_mb.values()  # (plan or show: one of them wrote the output)
    return run.cpu, times.peak_mb, began


def check_json(path: Path, grades: int) -> str:
    """The streamed document parses whole and holds one change per grade."""
    with path.open(encoding="utf-8") as fh:
        doc = json.load(fh)
    changes = doc["changes"]
    graded = sum(1 for c in changes if c["actions"] == ["grade"])
    if doc["format_version"] != "1.2" or graded != grades:
        raise RuntimeError(f"the JSON plan is not the expected one: {graded} grade changes")
    size = path.stat().st_size / 1e6
    return f"{len(changes)} changes ({graded} grades), {size:.0f} MB of JSON"


def _world(d: Path, shape: Shape, url: str) -> tuple[Path, Path, dict[str, object]]:
    seed = generate_seed(districts=1, sections=shape.sections, students=ROSTER)
    seed_file = d / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    root = d / "coursework"
    root.mkdir()
    harness.write_manifests(root, seed, shape, value=0)
    t0 = time.perf_counter()
    summary = harness.cloned_district(root, d / "sandbox.db", seed_file, seed, shape, url)
    print(f"  set-up {shape.grades} grades: {summary} [{time.perf_counter() - t0:.0f} s]")
    harness.write_manifests(root, seed, shape, value=1)  # every grade changes
    return root, seed_file, seed


def _plans(v: Version, plan: list[str], d: Path, key: dict[str, str], files: bool) -> None:
    out = d / f"stdout-{v.name}"
    json_plan = [*plan, "--format", "json"]
    v.record("plan --format json", run_once(json_plan, 2, d / f"json-{v.name}", v.env()))
    v.record("plan (text)", run_once(plan, 2, out, v.env()))
    if files:
        clear, sealed = d / f"plan-{v.name}", d / f"sealed-{v.name}"
        v.record(
            "plan --format json --out FILE",
            run_once([*json_plan, "--out", str(clear)], 2, out, v.env()),
        )
        v.record(
            "plan --format json --out FILE, encrypted",
            run_once([*json_plan, "--out", str(sealed)], 2, out, {**v.env(), **key}),
        )


def _shows(v: Version, d: Path, key: dict[str, str]) -> None:
    out = d / f"stdout-{v.name}"
    show = ["show", "--format", "json"]
    v.record(
        "show --format json FILE", run_once([*show, str(d / f"plan-{v.name}")], 0, out, v.env())
    )
    v.record(
        "show --format json FILE, encrypted",
        run_once([*show, str(d / f"sealed-{v.name}")], 0, out, {**v.env(), **key}),
    )


def measure(base: Path, grades: int, runs: int, files: bool, versions: list[Version]) -> None:
    sections = max(1, grades // (GRADED * ASSIGNMENTS))
    shape = Shape(sections=sections, roster=ROSTER, graded=GRADED, assignments=ASSIGNMENTS)
    d = base / f"g{grades}"
    d.mkdir()
    key = {KEY_ENV: StateKey.generate().export()}
    port = harness.free_port()
    url = f"http://127.0.0.1:{port}/v3.1"
    root, seed_file, _ = _world(d, shape, url)
    own = harness.own_peak_mb()
    print(f"    this benchmark's own peak: {own:.0f} MB (wait4's figure for a child: >= this)")
    plan = ["--api-url", url, "plan", str(root), *PLAN_FLAGS]
    with harness.sandbox_served(d / "sandbox.db", seed_file, rate_limit=0, port=port):
        for n in range(runs):
            for v in versions:
                _plans(v, plan, d, key, files)
                if n == 0:
                    found = check_json(d / f"json-{v.name}", shape.grades)
                    print(f"    {v.name}: JSON checked: {found}")
    if files:
        for _ in range(runs):
            for v in versions:
                _shows(v, d, key)
        mb = [(d / f"{k}-{versions[0].name}").stat().st_size / 1e6 for k in ("plan", "sealed")]
        print(f"    plan files: {mb[0]:.0f} MB in clear, {mb[1]:.0f} MB encrypted")
    print(f"  {shape.grades} grades, every one changed (median of {runs}; each run's peak):")
    for v in versions:
        print(f"   lmsctl {v.name}:")
        for r in v.runs.values():
            print("    " + r.row())
        js, text = v.runs["plan --format json"], v.runs["plan (text)"]
        print(
            f"    JSON rendering share (JSON peak - text peak): {js.peak - text.peak:+.0f} MB; "
            f"JSON peak / goal = {js.peak:.0f} / {GOAL_MB:.0f} = {js.peak / GOAL_MB:.2f}; "
            f"JSON / text peak = {js.peak / text.peak:.2f}"
        )
    print()
    print("| grades | lmsctl | command | CPU (median) | peak MB (median) | added by the output |")
    print("|---|---|---|---|---|---|")
    for v in versions:
        for r in v.runs.values():
            print(
                f"| {shape.grades} | {v.name} | {r.label} | {r.cpu:.2f} s | {r.peak:.0f} | "
                f"{r.output_share:+.0f} MB |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100k", help="grade counts, e.g. 10k,100k")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    parser.add_argument(
        "--no-files", action="store_true", help="skip plan --out and show (plan files)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run every command with the lmsctl package in DIR (another version's checkout)",
    )
    args = parser.parse_args()
    sizes = sorted(harness.parse_size(x) for x in args.sizes.split(",") if x.strip())
    print(f"lmsctl plan, every grade changed; {harness.load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        for grades in sizes:
            versions = [Version("this")]
            if args.baseline is not None:
                versions.insert(0, Version("baseline", args.baseline.resolve()))
            measure(Path(tmp), grades, args.runs, not args.no_files, versions)
    print(f"goal: plan --format json of 100k changes <= {GOAL_MB:.0f} MB; {harness.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
