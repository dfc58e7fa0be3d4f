"""A stop signal at the edges of the event loop: while asyncio.run is still making its loop, or
closing it, the command stops with exit 130 and nothing on stderr but what it says itself (no
"Exception ignored ... BaseEventLoop.__del__" traceback at exit, no "never awaited" warning).

Each case runs in a child process, as a command does: the signal goes to the process itself at
the chosen moment (a hook on asyncio's own loop factory or clean-up), so the window is hit every
time instead of by luck under load.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import asyncio, atexit, gc, os, signal, sys
    from asyncio import events, runners

    from lmsctl.cli.signals import SignalGuard

    moment = sys.argv[1]
    started = []

    def stop():
        os.kill(os.getpid(), signal.SIGTERM)

    if moment == "making":
        make = events.new_event_loop

        def made():
            loop = make()
            stop()
            return loop

        events.new_event_loop = made
    elif moment == "closing":
        cancel = runners._cancel_all_tasks

        def cancelling(loop):
            stop()
            cancel(loop)

        runners._cancel_all_tasks = cancelling

    async def command():
        started.append(True)
        await asyncio.sleep(0)
        return "done"

    atexit.register(gc.freeze)  # as lmsctl's console command does
    guard = SignalGuard()
    with guard.installed():
        try:
            guard.run(command())
        except KeyboardInterrupt:
            print("stopped", "started" if started else "not started")
            sys.exit(130)
    print("finished")
    """
)


@pytest.mark.parametrize(
    ("moment", "said"),
    [("making", "stopped not started"), ("closing", "stopped started")],
)
def test_a_signal_while_the_loop_is_made_or_closed_stops_cleanly(moment: str, said: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", CHILD, moment],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 130, (proc.stdout, proc.stderr)
    assert proc.stdout.strip() == said
    assert proc.stderr == ""
