"""Child processes a test starts: ended, and their pipes closed, even when the test fails."""

from __future__ import annotations

import subprocess


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
