"""The local state's lock file: created exclusively, taken over when its holder is gone.

``state.json.lock`` holds the holder's LockInfo as JSON while a run holds the lock. A lock left
by a run that died (stale) is taken over under an flock on the state folder, so two runs that
find it stale at once cannot both take it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from lmsctl.errors import StateError
from lmsctl.state.backend import LockInfo, is_stale
from lmsctl.state.files import display, encode_json

try:  # POSIX: serialises the take-over of stale locks between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: A lock file that stays empty or unreadable this long was left by a crash while taking it.
UNREADABLE_LOCK_GRACE = 5.0


class LockFile:
    """The lock of the state file ``state_path``: ``<state_path>.lock`` beside it."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.path = state_path.with_name(state_path.name + ".lock")
        self._backup_name = state_path.name + ".backup"

    def try_take(self, command: str) -> LockInfo | None:
        """The lock, new or taken over from a holder that is gone; None while it is held."""
        info = LockInfo.new(command)
        if self._create(info):
            return info
        return self._take_over_if_stale(command)

    def _create(self, info: LockInfo) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StateError(f"cannot create lock file {display(self.path)}: {exc}") from exc
        try:
            try:
                os.write(fd, encode_json(info.to_dict()))
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        return True

    def _take_over_if_stale(self, command: str) -> LockInfo | None:
        with self._guard():
            try:
                held = self.read()
            except FileNotFoundError:
                return None  # released meanwhile: the next try creates it
            except StateError:
                if self._age() < UNREADABLE_LOCK_GRACE:
                    return None
                held = None  # left empty by a crash while it was being taken
            if held is not None and not is_stale(held):
                return None
            self.remove()
            info = LockInfo.new(command, replaced=held)
            if not self._create(info):
                return None
            self._remove_leftover_temp_files()
            return info

    def _remove_leftover_temp_files(self) -> None:
        """Delete temporary files a killed run left half-written (we hold the lock now)."""
        folder = self.state_path.parent
        for pattern in (f".{self.state_path.name}.*.tmp", f".{self._backup_name}.*.tmp"):
            for leftover in folder.glob(pattern):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        # flock on the state folder itself: no extra file, released if this process dies
        fd = os.open(self.state_path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def read(self) -> LockInfo:
        """The holder's record; FileNotFoundError when nobody holds the lock."""
        raw = self.path.read_bytes()
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(
                f"lock file {display(self.path)} is unreadable",
                hint="if no lmsctl run is active, delete that file",
            ) from exc
        return LockInfo.from_dict(data)

    def holder_message(self) -> str:
        try:
            return self.read().describe()
        except FileNotFoundError:
            return f"state lock {display(self.path)} is busy"
        except StateError:
            return (
                f"state lock file {display(self.path)} is unreadable; if no lmsctl run "
                "is active, delete that file"
            )

    def current(self) -> LockInfo | None:
        try:
            return self.read()
        except FileNotFoundError:
            return None

    def remove(self) -> None:
        """Delete the lock file (gone already: nothing to do)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
