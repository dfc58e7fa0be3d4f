"""The state backend protocol, the lock record, and an in-memory backend for tests.

A backend stores one :class:`StateSnapshot` and one lock. ``read`` gives a snapshot the caller
owns; ``write`` stores all of it atomically and bumps its serial in place; ``save`` stores only
the records at the addresses given (what one API call changed), so a save costs the records
that changed, not the whole state: apply saves after every call. While plan or apply runs,
the caller holds the lock (``lock`` / ``unlock``, or :func:`lmsctl.state.locked`); a second run
fails at once naming the holder, or waits up to a timeout.

A lock left by a run that died on this host (its pid is gone, e.g. after SIGKILL) is stale: the
next ``lock`` takes it over by itself and says so in :attr:`LockInfo.replaced`, so the CLI can
print a warning. A lock held on another host is never judged stale: ``force-unlock`` frees it.
"""

from __future__ import annotations

import copy
import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lmsctl.errors import StateError, StateLockedError
from lmsctl.state.model import StateSnapshot
from lmsctl.timeutil import format_api_datetime, utcnow

#: How often a waiting ``lock(timeout=...)`` looks again.
POLL_INTERVAL = 0.1

#: Ids of the locks this process made (to tell its own locks from a dead run's with its pid).
_OWN_LOCK_IDS: set[str] = set()


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock, and since when."""

    id: str
    user: str
    host: str
    pid: int
    command: str
    created: str  # Clever-format UTC timestamp
    #: set when this lock took over a stale one (its holder had died on this host)
    replaced: LockInfo | None = None
    #: the CI run holding it (GitHub Actions: the run's URL), when there is one
    ci_run: str | None = None

    @classmethod
    def new(cls, command: str, *, replaced: LockInfo | None = None) -> LockInfo:
        """A lock record for this process."""
        lock_id = str(uuid.uuid4())
        _OWN_LOCK_IDS.add(lock_id)
        return cls(
            id=lock_id,
            user=current_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            created=format_api_datetime(utcnow()),
            replaced=replaced,
            ci_run=ci_run_url(),
        )

    @property
    def holder(self) -> str:
        return f"{self.user}@{self.host}"

    def describe(self) -> str:
        """One line for people: who holds it, since when, and how to free it."""
        ci = f", CI run {self.ci_run}" if self.ci_run else ""
        return (
            f"state is locked by {self.holder} (pid {self.pid}, `{self.command}`{ci}) since "
            f"{self.created}; lock id {self.id}; if that run is gone: "
            f"lmsctl force-unlock {self.id}"
        )

    def describe_takeover(self) -> str | None:
        """A warning when this lock replaced a stale one, else None."""
        old = self.replaced
        if old is None:
            return None
        return (
            f"took over a stale state lock: {old.holder} (pid {old.pid}, `{old.command}`) "
            f"since {old.created} is no longer running; lock id {old.id}. "
            "That run may have stopped half-way: check the plan before applying."
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "command": self.command,
            "created": self.created,
        }
        if self.replaced is not None:
            data["replaced"] = self.replaced.to_dict()
        if self.ci_run:
            data["ci_run"] = self.ci_run
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LockInfo:
        """Build from the JSON form; StateError if it is not one."""
        if not isinstance(data, dict):
            raise StateError("lock record is not a JSON object")
        try:
            replaced_raw = data.get("replaced")
            info = cls(
                id=str(data["id"]),
                user=str(data["user"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
                command=str(data["command"]),
                created=str(data["created"]),
                replaced=cls.from_dict(replaced_raw) if replaced_raw is not None else None,
                ci_run=str(data["ci_run"]) if data.get("ci_run") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"lock record is malformed: {exc}") from exc
        if not info.id:
            raise StateError("lock record has an empty id")
        return info


@runtime_checkable
class StateBackend(Protocol):
    """Where state lives. Local JSON file by default; MemoryBackend in tests."""

    def read(self) -> StateSnapshot:
        """The stored snapshot; an empty one (serial 0, fresh lineage) when none exists yet."""
        ...

    def write(self, snapshot: StateSnapshot) -> None:
        """Store all of it atomically; bumps ``snapshot.serial`` in place first.

        StateError when the stored state moved on since this snapshot was read (another
        lineage, or a higher serial): writing would lose what the other run recorded.
        """
        ...

    def save(self, snapshot: StateSnapshot, addresses: Iterable[str]) -> None:
        """Store only what changed: the records at ``addresses``, and the serial.

        Each address is stored as ``snapshot.resources`` holds it now; an address no longer in
        it is removed. The header (lineage, api_url, district_id) is stored too. Bumps
        ``snapshot.serial`` in place; atomic, durable when it returns, with the same check as
        ``write`` (compare-and-swap on the serial). The cost is the records named, not the
        state's size. A save that cannot be stored raises :class:`StateSaveError`; the caller
        must then start no new API calls.
        """
        ...

    def close(self) -> None:
        """Release what the backend holds open (connections); it is unusable afterwards."""
        ...

    def lock(self, command: str, timeout: float = 0.0) -> LockInfo:
        """Take the lock; StateLockedError with the holder's description if it is held."""
        ...

    def unlock(self, lock_id: str) -> None:
        """Release a lock this run holds (no-op if it is already gone)."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Release whoever's lock has this id; StateError if not locked or another id."""
        ...

    def current_lock(self) -> LockInfo | None:
        """The lock as it stands, or None."""
        ...

    @property
    def description(self) -> str:
        """Where the state is, for messages (e.g. ``.lmsctl/state.json``)."""
        ...


def ci_run_url() -> str | None:
    """The URL of the GitHub Actions run this process is part of, when it is one."""
    run_id = os.environ.get("GITHUB_RUN_ID", "").strip()
    if not run_id:
        return None
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").strip().rstrip("/")
    repo = os.environ.get("GITHUB_REPOSITORY", "").strip()
    if not repo:
        return f"run {run_id}"
    return f"{server}/{repo}/actions/runs/{run_id}"


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers without passwd entries)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (or we cannot tell)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    except OSError:
        return True
    return True


def is_stale(info: LockInfo) -> bool:
    """A lock is stale when its holder ran on this host and its process is gone.

    A lock naming this very process but not made by it is stale too: its holder died and the
    pid was handed out again (common in containers, where each run gets the same small pid).
    """
    if info.host != socket.gethostname():
        return False
    if info.pid == os.getpid():
        return info.id not in _OWN_LOCK_IDS
    return not pid_alive(info.pid)


def check_can_write(stored: StateSnapshot | None, snapshot: StateSnapshot, where: str) -> None:
    """Refuse a write that would overwrite state another run has moved on since."""
    if stored is None or stored.serial == 0:
        return
    if stored.lineage != snapshot.lineage:
        raise StateError(
            f"{where} now holds another state (lineage {stored.lineage}, serial "
            f"{stored.serial}) than the one this run read (lineage {snapshot.lineage})",
            hint="another run or a person replaced it; nothing was written. Run plan again",
        )
    if stored.serial > snapshot.serial:
        raise StateError(
            f"{where} was changed by another run since this one read it (serial "
            f"{stored.serial} there, {snapshot.serial} here)",
            hint="nothing was written; run plan again (and hold the lock while writing)",
        )


def wait_for_lock(
    try_once: Callable[[], LockInfo | None],
    holder: Callable[[], str],
    timeout: float,
) -> LockInfo:
    """Call ``try_once`` until it returns a lock or ``timeout`` seconds pass."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        info = try_once()
        if info is not None:
            return info
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            message = holder()
            if timeout > 0:
                message += f" (waited {timeout:g} s)"
            raise StateLockedError(message)
        time.sleep(min(POLL_INTERVAL, remaining))


class MemoryBackend:
    """State kept in memory, with the same semantics as the local file (a fake for tests).

    The snapshot is stored as its JSON form, so what a caller changes after ``write`` is never
    seen by the next ``read`` unless written again, exactly like a file.
    """

    def __init__(self, snapshot: StateSnapshot | None = None) -> None:
        self._data: dict[str, Any] | None = (
            copy.deepcopy(snapshot.to_dict()) if snapshot is not None else None
        )
        self._lock: LockInfo | None = None
        self.writes = 0  # every time state was stored
        self.saves = 0  # of which record-level saves

    @property
    def description(self) -> str:
        return "memory"

    def read(self) -> StateSnapshot:
        if self._data is None:
            return StateSnapshot.empty()
        return StateSnapshot.from_dict(self._data)

    def write(self, snapshot: StateSnapshot) -> None:
        stored = StateSnapshot.from_dict(self._data) if self._data is not None else None
        check_can_write(stored, snapshot, self.description)
        snapshot.serial += 1
        self._data = copy.deepcopy(snapshot.to_dict())
        self.writes += 1

    def save(self, snapshot: StateSnapshot, addresses: Iterable[str]) -> None:
        if self._data is None:
            self.write(snapshot)
            self.saves += 1
            return
        self.writes += 1
        stored_header = {k: v for k, v in self._data.items() if k != "resources"}
        check_can_write(
            StateSnapshot.from_dict({**stored_header, "resources": {}}), snapshot, self.description
        )
        snapshot.serial += 1
        self._data.update(
            {k: v for k, v in snapshot.to_dict().items() if k != "resources"},
        )
        resources = self._data["resources"]
        for address in addresses:
            record = snapshot.resources.get(address)
            if record is None:
                resources.pop(address, None)
            else:
                resources[address] = copy.deepcopy(record.to_dict())
        self.saves += 1

    def close(self) -> None:
        return None

    def set_lock(self, info: LockInfo | None) -> None:
        """Put a lock in place as another run would (tests)."""
        self._lock = info

    def lock(self, command: str, timeout: float = 0.0) -> LockInfo:
        def try_once() -> LockInfo | None:
            held = self._lock
            if held is not None and not is_stale(held):
                return None
            self._lock = LockInfo.new(command, replaced=held)
            return self._lock

        def holder() -> str:
            return self._lock.describe() if self._lock else "state is locked"

        return wait_for_lock(try_once, holder, timeout)

    def unlock(self, lock_id: str) -> None:
        if self._lock is None:
            return
        if self._lock.id != lock_id:
            raise StateError(
                f"cannot unlock: the lock is now held by another run ({self._lock.describe()})"
            )
        self._lock = None

    def force_unlock(self, lock_id: str) -> None:
        if self._lock is None:
            raise StateError("state is not locked; nothing to unlock")
        if self._lock.id != lock_id:
            raise StateError(
                f"the lock id is {self._lock.id}, not {lock_id}",
                hint=self._lock.describe(),
            )
        self._lock = None

    def current_lock(self) -> LockInfo | None:
        return self._lock


__all__ = [
    "LockInfo",
    "MemoryBackend",
    "StateBackend",
    "check_can_write",
    "ci_run_url",
    "current_user",
    "is_stale",
    "pid_alive",
]
