"""apply's progress on a real (pseudo-)terminal 40 columns wide, interrupted with Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.support.e2e import SandboxPeek

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")

COLUMNS = 40
TOTAL = 34  # the examples: 11 creates and 23 grades


def _read_until(
    fd: int, proc: subprocess.Popen[bytes], seen: bytearray, want: bytes, limit: float
) -> None:
    deadline = time.monotonic() + limit
    while want not in seen and time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                return


@pytest.mark.slow
def test_a_narrow_terminal_never_wraps_and_ctrl_c_freezes_the_bar(
    lmsctl, coursework: Path, sandbox: SandboxPeek
) -> None:  # type: ignore[no-untyped-def]
    assert lmsctl("--sandbox", "plan", str(coursework)).code == 0  # makes the sandbox
    # every write takes 0.4 s, one at a time: the run lasts long enough to interrupt
    sandbox.call("PUT", "/_sandbox/faults", {"latency": {"POST": [0.4, 0.4], "PATCH": [0.4, 0.4]}})

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("LMSCTL_SANDBOX", "COLUMNS")}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmsctl",
            "--sandbox",
            "apply",
            str(coursework),
            "--auto-approve",
            "--parallelism",
            "1",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, proc, seen, b"3/34 done", 60)
        assert b"3/34 done" in seen, seen.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        _read_until(master, proc, seen, b"Apply interrupted", 60)
        proc.wait(timeout=60)
        _read_until(master, proc, seen, b"\x00never", 1)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 130, text

    frames = [f.replace("\x1b[K", "") for f in re.split(r"[\r\n]", text)]
    bar_frames = [f for f in frames if re.match(r"^(\[[=x.]+\] )?\d+/34 done", f)]
    assert bar_frames, text
    for frame in bar_frames:
        assert len(frame) < COLUMNS, frame  # fits: the terminal never wraps it
    last = bar_frames[-1]
    done = int(re.match(r"^(?:\[[=x.]+\] )?(\d+)/34 done", last).group(1))  # type: ignore[union-attr]
    assert 3 <= done < TOTAL  # frozen where it was, not jumped to 34/34
    assert text.count("Stopping: no new call starts;") == 1
    # each change not done is listed once, by the final report
    listed = re.findall(r"^  skipped: (\S+)", text, flags=re.M)
    assert listed and len(listed) == len(set(listed))
    assert "Apply interrupted:" in text
    assert "0/0 done" not in text  # the total is known from the start
