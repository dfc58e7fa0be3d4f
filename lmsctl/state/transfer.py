"""Moving state as a whole: ``state migrate``, ``push``, ``restore`` and ``rekey`` (no click).

Each function holds the locks it needs, checks everything before it writes, and returns a small
record of what it did for the CLI to render.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lmsctl.errors import StateError
from lmsctl.state import crypto, recovery
from lmsctl.state.backend import StateBackend
from lmsctl.state.model import StateSnapshot


@runtime_checkable
class HistoryBackend(Protocol):
    """A backend that keeps earlier versions of the state (postgres)."""

    def history(self) -> list[dict[str, Any]]: ...
    def version(self, serial: int) -> StateSnapshot: ...


@runtime_checkable
class RunHistoryBackend(Protocol):
    """A backend that records which run wrote each version (postgres: its versions table;
    local: its journal, until it is folded into the snapshot)."""

    def writes_since(self, serial: int) -> recovery.LaterWrites: ...


@runtime_checkable
class ReplacingBackend(Protocol):
    """A backend that can store a snapshot over another lineage (``migrate --force``)."""

    def replace(self, snapshot: StateSnapshot) -> None: ...


@runtime_checkable
class RekeyingBackend(Protocol):
    """A backend whose stored state can be re-encrypted under another key."""

    keys: crypto.StateKeys

    def rekey(self, keys: crypto.StateKeys) -> list[Any]: ...


@dataclass(frozen=True)
class Rekeyed:
    target: str
    old_kid: str | None  # None: it was in clear
    new_kid: str | None  # None: it is in clear now (--decrypt)
    rewritten: int  # files (local) or rows (postgres) re-encrypted


@dataclass(frozen=True)
class Migrated:
    source: str
    target: str
    lineage: str
    serial: int
    assignments: int
    grades: int
    replaced: bool  # the target held another state, overwritten with --force


@dataclass(frozen=True)
class Pushed:
    file: str
    target: str
    records: int
    serial: int
    #: versions the file's own run had written after the file's base (saves that were stored
    #: though the run never learnt it); the file's records were stored over them
    own_versions: int = 0


@dataclass(frozen=True)
class Restored:
    target: str
    version: int
    serial: int
    changed: int


def is_empty(snapshot: StateSnapshot) -> bool:
    return snapshot.serial == 0 and not snapshot.resources


def migrate(
    source: StateBackend,
    target: StateBackend,
    *,
    force: bool = False,
    lock_timeout: float = 0.0,
    command: str = "lmsctl state migrate",
) -> Migrated:
    """Copy the source's state to the target; the source is only read, never changed."""
    from lmsctl.state import locked

    if source.description == target.description:
        raise StateError(f"the state is already in {source.description}; nothing to migrate")
    with locked(source, command, lock_timeout), locked(target, command, lock_timeout):
        snapshot = source.read()
        if is_empty(snapshot):
            raise StateError(
                f"{source.description} holds no state; nothing to migrate",
                hint="check --root and state: in lmsctl.yaml",
            )
        existing = target.read()
        replaced = not is_empty(existing)
        if replaced and not force:
            raise StateError(
                f"{target.description} already holds a state ({len(existing.resources)} "
                f"assignment(s), lineage {existing.lineage}, serial {existing.serial}); "
                "nothing was copied",
                hint="use another workspace or path, or --force to overwrite it",
            )
        copy = snapshot.copy()
        if replaced:
            copy.serial = existing.serial
            if not isinstance(target, ReplacingBackend):  # pragma: no cover - all do
                raise StateError(f"{target.description} cannot be overwritten")
            target.replace(copy)
        else:
            copy.serial = max(snapshot.serial - 1, 0)
            target.write(copy)
    return Migrated(
        source=source.description,
        target=target.description,
        lineage=copy.lineage,
        serial=copy.serial,
        assignments=len(copy.resources),
        grades=copy.grade_count,
        replaced=replaced,
    )


def push(
    backend: StateBackend,
    path: Path,
    *,
    force: bool = False,
    lock_timeout: float = 0.0,
    command: str = "lmsctl state push",
) -> Pushed:
    """Store a recovery file's records into the state it came from, then remove the file."""
    from lmsctl.state import locked

    kept = recovery.load(path, getattr(backend, "keys", None))
    # who wrote since the file's base, read before the lock: the local backend folds its
    # journal, which names the run of each save, into its snapshot when it is locked. Under
    # the lock, a serial still equal to the last one read says that nothing was written since.
    later = (
        backend.writes_since(kept.base_serial)
        if kept.run_id is not None and isinstance(backend, RunHistoryBackend)
        else None
    )
    with locked(backend, command, lock_timeout, pending_recovery=True):
        snapshot = backend.read()
        if snapshot.lineage != kept.lineage:
            raise StateError(
                f"{path} belongs to another state (lineage {kept.lineage}) than "
                f"{backend.description} (lineage {snapshot.lineage}); nothing was pushed",
                hint="push it with the root (and lmsctl.yaml) of the run that wrote it",
            )
        own = 0
        if snapshot.serial != kept.base_serial and not force:
            own = _moved_on_by_its_own_run(backend, kept, snapshot, path, later)
        addresses = kept.apply_to(snapshot)
        backend.save(snapshot, addresses)
    path.unlink(missing_ok=True)
    return Pushed(str(path), backend.description, len(addresses), snapshot.serial, own)


def _moved_on_by_its_own_run(
    backend: StateBackend,
    kept: recovery.Recovery,
    snapshot: StateSnapshot,
    path: Path,
    later: recovery.LaterWrites | None,
) -> int:
    """How many versions the file's own run wrote after the file's base, when only that run
    moved the state on since (its save was stored, but the run never learnt it); StateError
    when another run wrote since, or when that is not known (a file without a run id, a
    backend that does not record who wrote). ``later``: who wrote after the file's base."""
    if (
        later is None
        or snapshot.serial <= kept.base_serial
        or later.runs != {kept.run_id: snapshot.serial}
    ):
        raise StateError(
            f"{backend.description} moved on since {path} was written (serial "
            f"{snapshot.serial}, the file expects {kept.base_serial}); nothing was pushed",
            hint="another run wrote meanwhile; check lmsctl state history, then re-run "
            "with --force if the file's records must still go in",
        )
    # the file was written after those saves, each of which it keeps: it holds them all
    missing = later.addresses - set(kept.resources)
    if missing:
        raise StateError(
            f"{path} lacks {len(missing)} record(s) that its own run saved to "
            f"{backend.description} after serial {kept.base_serial}, although it was written "
            "after them; nothing was pushed",
            hint="the file is not as that run left it; check lmsctl state history, then "
            "re-run with --force if the file's records must still go in",
        )
    return snapshot.serial - kept.base_serial


def restore(
    backend: StateBackend,
    serial: int,
    *,
    lock_timeout: float = 0.0,
    command: str = "lmsctl state restore",
) -> Restored:
    """Make a kept version the current state again, as a new version."""
    from lmsctl.state import locked

    if not isinstance(backend, HistoryBackend):
        raise StateError(
            f"{backend.description} keeps no history (only the previous version, as .backup)",
            hint="the postgres backend keeps the last versions: state: {backend: postgres}",
        )
    with locked(backend, command, lock_timeout):
        current = backend.read()
        old = backend.version(serial)
        changed = [
            a
            for a in sorted(set(current.resources) | set(old.resources))
            if (current.resources[a].to_dict() if a in current.resources else None)
            != (old.resources[a].to_dict() if a in old.resources else None)
        ]
        old.serial = current.serial
        if old.lineage != current.lineage and isinstance(backend, ReplacingBackend):
            backend.replace(old)
        else:
            backend.save(old, changed)
    return Restored(backend.description, serial, old.serial, len(changed))


def rekey(
    backend: StateBackend,
    target: crypto.StateKey | None,
    *,
    lock_timeout: float = 0.0,
    command: str = "lmsctl state rekey",
) -> Rekeyed:
    """Re-encrypt all of the backend's state under ``target`` (None: store it in clear).

    The backend reads with its own key (LMSCTL_STATE_KEY) and, so that an interrupted rekey can
    be run again, with ``target`` too. Atomic per backend: postgres in one transaction; the
    local files one by one, each replaced whole.
    """
    from lmsctl.state import locked

    if not isinstance(backend, RekeyingBackend):  # pragma: no cover - all do
        raise StateError(f"{backend.description} cannot be re-encrypted")
    current = backend.keys
    backend.keys = crypto.StateKeys(
        write=current.write,
        extra_read=(target,) if target is not None else (),
        source=current.source,
    )
    with locked(backend, command, lock_timeout, pending_recovery=True):
        rewritten = backend.rekey(crypto.StateKeys(write=target, source=current.source))
    return Rekeyed(
        target=backend.description,
        old_kid=current.write.kid if current.write else None,
        new_kid=target.kid if target else None,
        rewritten=len(rewritten),
    )


__all__ = [
    "HistoryBackend",
    "Migrated",
    "Pushed",
    "Rekeyed",
    "RekeyingBackend",
    "ReplacingBackend",
    "Restored",
    "RunHistoryBackend",
    "is_empty",
    "migrate",
    "push",
    "rekey",
    "restore",
]
