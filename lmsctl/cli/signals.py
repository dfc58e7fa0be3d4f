"""Ctrl-C and SIGTERM: one rule for the whole life of every command.

Both signals mean "stop". The command ends with exit 130, the state lock is released, and
nothing is left half-written. How the stop is delivered depends on where the command is:

- outside an event loop (loading manifests, taking the lock, rendering): ``KeyboardInterrupt``
  is raised at once, so ``with`` blocks unwind (the workspace releases the lock);
- inside an event loop (refresh, apply's calls): the handler never raises in the middle of
  code. It schedules the stop on the loop: the stop the running step registered
  (:meth:`SignalGuard.on_stop`: apply starts no new call, lets in-flight ones finish, and a
  second signal abandons them) or, by default, cancelling the loop's tasks, which stop at
  their next ``await``. State saves run synchronously between awaits, so a stop never tears one;
- while a prompt waits for input (:meth:`SignalGuard.blocking`): raised at once, as the loop
  cannot run its callbacks while ``input()`` blocks it.

Later signals while the command is already stopping are counted but do not interrupt the
unwinding (releasing the lock, the final save), except as ``on_stop`` decides.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalGuard:
    """Turns SIGINT / SIGTERM into an orderly stop (see the module's rule)."""

    def __init__(self) -> None:
        self.count = 0  # signals received so far
        self._blocking = 0
        self._on_stop: Callable[[int], None] | None = None
        self._stopped_by_step = False  # an ``on_stop`` took the stop: it reports it itself
        self._in_run = False  # inside run(): asyncio.run is starting, running or closing a loop
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def signalled(self) -> bool:
        return self.count > 0

    # -- installing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalGuard]:
        """Handle the stop signals while the block runs (the main thread only; else a no-op)."""
        for sig in STOP_SIGNALS:
            # not the main thread (a test runner's worker): leave signals alone
            with contextlib.suppress(ValueError, OSError):
                self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, previous in self._previous.items():
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(sig, previous)
            self._previous.clear()

    @contextlib.contextmanager
    def on_stop(self, stop: Callable[[int], None]) -> Iterator[None]:
        """While the block runs, a signal inside the event loop calls ``stop(count)`` on it."""
        previous, self._on_stop = self._on_stop, stop
        try:
            yield
        finally:
            self._on_stop = previous

    @contextlib.contextmanager
    def blocking(self) -> Iterator[None]:
        """A blocking wait (a prompt): a signal raises KeyboardInterrupt at once."""
        if self.signalled:
            raise KeyboardInterrupt
        self._blocking += 1
        try:
            yield
        finally:
            self._blocking -= 1

    @staticmethod
    def can_wait_on(stream: Any) -> bool:
        """True when ``read_line`` can wait on ``stream`` (it has a file descriptor)."""
        try:
            stream.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        return True

    def read_line(self, prompt: str, write: Callable[[str], None]) -> str:
        """Ask on the terminal; a stop signal interrupts the wait at once (KeyboardInterrupt).

        Not ``input()``: a signal delivered to another thread (the API client's workers) would
        not wake it, and the prompt would wait on. The wait here also watches a wake-up pipe
        that the signal writes to whichever thread receives it; the handler then runs here.
        """
        with self.blocking():
            write(prompt)
            wake_r, wake_w = os.pipe()
            os.set_blocking(wake_w, False)
            previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
            try:
                while True:
                    ready, _, _ = select.select([sys.stdin, wake_r], [], [])
                    if sys.stdin in ready:
                        line = sys.stdin.readline()
                        if not line:
                            raise EOFError
                        return line.rstrip("\n")
                    os.read(wake_r, 512)  # the handler raises right after, in this thread
            finally:
                signal.set_wakeup_fd(previous)
                os.close(wake_r)
                os.close(wake_w)

    # -- delivering ----------------------------------------------------------------------------

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self._blocking:
            raise KeyboardInterrupt
        # (asyncio is imported lazily, by the commands that run a loop: --help never loads it)
        aio = sys.modules.get("asyncio")
        try:
            loop = aio.get_running_loop() if aio is not None else None
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.call_soon_threadsafe(self._stop_loop, loop, self.count)
            return
        if self._in_run:
            # asyncio.run is making or closing its loop: raising here would leave the loop
            # unclosed (a traceback at exit); run() stops the command once asyncio.run returns
            return
        if self.count == 1:
            raise KeyboardInterrupt
        # already stopping: let the unwinding (lock release, final save) finish

    def _stop_loop(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        if self._on_stop is not None:
            self._stopped_by_step = True
            self._on_stop(count)
            return
        import asyncio  # lazy: see _handle

        for task in asyncio.all_tasks(loop):
            task.cancel()

    async def _woken(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` with the loop woken by every signal, whichever thread receives it (the
        handler runs in the main thread only when it runs Python code; an idle loop would
        otherwise wait for its next network event first)."""
        import asyncio  # lazy: see _handle

        if self.signalled:  # stopped while the loop was being made: do not start the command
            main.close()
            raise asyncio.CancelledError
        loop = asyncio.get_running_loop()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        try:
            previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            os.close(wake_r)
            os.close(wake_w)
            return await main

        def drain() -> None:
            with contextlib.suppress(OSError):
                os.read(wake_r, 512)

        loop.add_reader(wake_r, drain)
        try:
            return await main
        finally:
            loop.remove_reader(wake_r)
            signal.set_wakeup_fd(previous)
            os.close(wake_r)
            os.close(wake_w)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """``asyncio.run(main)``; a stop signal ends it with KeyboardInterrupt (exit 130)."""
        import asyncio  # lazy: see _handle

        self._in_run = True
        try:
            result = asyncio.run(self._woken(main))
        except asyncio.CancelledError:
            if self.signalled:
                raise KeyboardInterrupt from None
            raise
        finally:
            self._in_run = False
        if self.signalled and not self._stopped_by_step:
            raise KeyboardInterrupt
        return result


#: the guard of the command running in this process (installed by ``lmsctl.cli.run``)
GUARD = SignalGuard()


def current() -> SignalGuard:
    return GUARD


@contextlib.contextmanager
def guarded() -> Iterator[SignalGuard]:
    """A fresh guard for one command run, installed for all of it."""
    global GUARD
    previous, GUARD = GUARD, SignalGuard()
    try:
        with GUARD.installed() as guard:
            yield guard
    finally:
        GUARD = previous


__all__ = ["GUARD", "STOP_SIGNALS", "SignalGuard", "current", "guarded"]
