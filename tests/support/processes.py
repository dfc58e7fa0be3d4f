"""Child processes a test starts: ended, and their pipes closed, even when the test fails."""

from __future__ import annotations

import subprocess
from pathlib import Path


def end_all(started: list[subprocess.Popen[str]]) -> None:
    """Kill what still runs of ``started``, wait for each, close its pipes; empties the list."""
    while started:
        proc = started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def run_workflow_step(
    script: str, *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a workflow step's ``run:`` script as the runner does (bash -eo pipefail, no profile);
    the step must succeed (its output is the failure's message)."""
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done
