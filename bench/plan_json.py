"""Benchmark: the memory `lmsctl plan --format json` costs over the text plan, at 100k changes.

The world is bench/plan_scale.py's: N/1000 sections of 250 enrolled students, 25 assignments
per section, 40 students graded on each (100k grades = 100 sections x 40 x 25), set up by a
fast first apply (in-process, not measured) and served by `lmsctl sandbox serve` over real
HTTP through a counting proxy. The manifests are then rewritten so that every grade changes,
and each of these runs as a child process (peak RSS: the kernel's high-water mark from wait4;
CPU: user + system of the lmsctl process), median of --runs runs:

- `plan --format json` (stdout to a file) and `plan` (text, stdout to a file) of the same world;
  the JSON-rendering share is the JSON plan's peak minus the text plan's (both hold refresh's
  live data, which is not the renderer's);
- `plan --out FILE` (a plan file, in clear; text on stdout), the same with LMSCTL_STATE_KEY set
  (the file encrypted), and `show --format json FILE` of the saved plan (no server needed).

The JSON output of the first run is parsed and checked: one change per grade, the document
whole. The goal: `plan --format json` of 100k changes peaks at <= 300 MB.

    python bench/plan_json.py [--sizes 10k,100k] [--runs 3] [--no-files]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import yaml
from harness import CountingProxy, Shape

from lmsctl.sandbox import generate_seed
from lmsctl.state.crypto import KEY_ENV, StateKey

ROSTER, GRADED, ASSIGNMENTS = 250, 40, 25
PLAN_FLAGS = ["--detailed-exitcode", "--rate-limit", "1000000"]
GOAL_MB = 300.0


@dataclasses.dataclass
class Runs:
    """One command's runs: (CPU s, peak MB) each."""

    label: str
    figures: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    @property
    def cpu(self) -> float:
        return statistics.median(c for c, _ in self.figures)

    @property
    def peak(self) -> float:
        return statistics.median(p for _, p in self.figures)

    def row(self) -> str:
        spread = ", ".join(f"{p:.0f}" for _, p in self.figures)
        return f"{self.label:34} {self.cpu:6.2f} s CPU   peak {self.peak:6.0f} MB  ({spread})"


def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def run_once(
    args: list[str], expect: int, out: Path, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """``lmsctl ARGS`` with stdout to ``out``; (CPU, peak MB). ``env`` is added to lmsctl's."""
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        with out.open("wb") as fh:
            run = harness.run_child(harness.lmsctl_command(args), stdout=fh)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if run.returncode != expect:
        tail = out.read_bytes()[-300:].decode(errors="replace")
        raise RuntimeError(
            f"lmsctl {' '.join(args[2:4])} exited {run.returncode}: {run.stderr_tail} {tail}"
        )
    return run.cpu, run.peak_mb


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


def measure(base: Path, grades: int, runs: int, files: bool) -> list[Runs]:
    sections = max(1, grades // (GRADED * ASSIGNMENTS))
    shape = Shape(sections=sections, roster=ROSTER, graded=GRADED, assignments=ASSIGNMENTS)
    d = base / f"g{grades}"
    d.mkdir()
    seed = generate_seed(districts=1, sections=sections, students=ROSTER)
    seed_file = d / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    root = d / "coursework"
    root.mkdir()
    harness.write_manifests(root, seed, shape, value=0)
    json_runs, text_runs = Runs("plan --format json"), Runs("plan (text)")
    out_runs, sealed_runs = Runs("plan --out FILE"), Runs("plan --out FILE, encrypted")
    show_runs, sealed_show = Runs("show --format json FILE"), Runs("show --format json, encrypted")
    key = {KEY_ENV: StateKey.generate().export()}
    proxy = CountingProxy("http://127.0.0.1:1")
    with harness.proxy_running(proxy, harness.free_port()) as url:
        t0 = time.perf_counter()
        summary = harness.cloned_district(root, d / "sandbox.db", seed_file, seed, shape, url)
        print(f"  set-up {shape.grades} grades: {summary} [{time.perf_counter() - t0:.0f} s]")
        harness.write_manifests(root, seed, shape, value=1)  # every grade changes
        plan = ["--api-url", url, "plan", str(root), *PLAN_FLAGS]
        stdout = d / "stdout"
        with harness.sandbox_served(d / "sandbox.db", seed_file, rate_limit=0) as origin:
            proxy.upstream = origin
            for n in range(runs):
                json_runs.figures.append(run_once([*plan, "--format", "json"], 2, stdout))
                if n == 0:
                    print(f"    JSON checked: {check_json(stdout, shape.grades)}")
                text_runs.figures.append(run_once(plan, 2, stdout))
                if files:
                    out_runs.figures.append(run_once([*plan, "--out", str(d / "plan")], 2, stdout))
                    sealed_runs.figures.append(
                        run_once([*plan, "--out", str(d / "sealed")], 2, stdout, key)
                    )
        if files:
            for _ in range(runs):
                show_runs.figures.append(run_once(["show", str(d / "plan"), "--json"], 0, stdout))
                sealed_show.figures.append(
                    run_once(["show", str(d / "sealed"), "--json"], 0, stdout, key)
                )
            mb = (d / "plan").stat().st_size / 1e6, (d / "sealed").stat().st_size / 1e6
            print(f"    plan files: {mb[0]:.0f} MB in clear, {mb[1]:.0f} MB encrypted")
    found = [json_runs, text_runs]
    if files:
        found += [out_runs, sealed_runs, show_runs, sealed_show]
    print(f"  {shape.grades} grades, every one changed (median of {runs}; peaks of each run):")
    for r in found:
        print("    " + r.row())
    share = json_runs.peak - text_runs.peak
    print(
        f"    JSON rendering share (JSON peak - text peak): {share:.0f} MB; "
        f"JSON peak / goal = {json_runs.peak:.0f} / {GOAL_MB:.0f} = "
        f"{json_runs.peak / GOAL_MB:.2f}; "
        f"JSON / text peak = {json_runs.peak / text_runs.peak:.2f}"
    )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100k", help="grade counts, e.g. 10k,100k")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    parser.add_argument(
        "--no-files", action="store_true", help="skip plan --out and show (plan files)"
    )
    args = parser.parse_args()
    sizes = sorted(parse_size(x) for x in args.sizes.split(",") if x.strip())
    print(f"lmsctl plan, every grade changed; {harness.load_average()}")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for grades in sizes:
            table.append((grades, measure(Path(tmp), grades, args.runs, not args.no_files)))
    print()
    print(f"| grades | command | CPU (median) | peak MB (median) |  at {commit or '?'}")
    print("|---|---|---|---|")
    for grades, found in table:
        for r in found:
            print(f"| {grades} | {r.label} | {r.cpu:.2f} s | {r.peak:.0f} |")
    print(f"goal: plan --format json of 100k changes <= {GOAL_MB:.0f} MB; {harness.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
