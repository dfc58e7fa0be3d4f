"""Benchmark: does ``lmsctl --help`` start about as fast as Python itself?

Runs ``lmsctl --help``, ``lmsctl --version`` and ``python -c pass`` (Python's own start, the
floor) N times each, alternating so that machine noise hits all three alike, and prints each
median, the goal (``--help`` under 0.1 s) and the ratio to Python's start.

Run: python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def _once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("lmsctl")
    lmsctl = [exe] if exe else [sys.executable, "-m", "lmsctl"]
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "lmsctl --help": [*lmsctl, "--help"],
        "lmsctl --version": [*lmsctl, "--version"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, argv in cases.items():
            times[name].append(_once(argv))
    floor = statistics.median(times["python -c pass"])
    print(f"{'command':<20} {'median s':>9} {'x python':>9}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<20} {median:>9.3f} {median / floor:>9.2f}")
    helptime = statistics.median(times["lmsctl --help"])
    verdict = "meets" if helptime < 0.1 else "misses"
    print(f"lmsctl --help median {helptime:.3f} s: {verdict} the goal of < 0.1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
