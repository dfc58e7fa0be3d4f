"""Recovery files: what a run could not save, kept on disk until ``lmsctl state push`` stores it.

When a save fails in the middle of an apply (the database went away, the disk is full), the
records the API had already acknowledged must not be lost: a created assignment missing from
state would be created again by the next run. The backend writes those records to
``<root>/.lmsctl/recovery-<UTC time>.json`` (mode 0600, written atomically), and adds to it on
every later failed save of the same run. ``lmsctl state push FILE`` stores them back (same
lineage only) and removes the file; until then, plan and apply on that root refuse to start.

The file holds the records as state would (student ids, the grade values and comments lmsctl
applied): push must restore exactly what the next three-way diff starts from, so nothing in it
is scrubbed. Instead it is encrypted under ``LMSCTL_STATE_KEY`` when that is set, like state;
without a key in a private run (CI) the error that names the file says it is in clear.

The file names the run that wrote it (``run_id``: its lock id, which the postgres versions and
the local journal lines are filed under; a random id, never a name). A save can be stored while
the run never learns it (the database committed it and its answer was lost; the journal line
was written and its fsync failed): the run keeps the file from the serial before it, and the
state is one version ahead, written by that same run. ``state push`` accepts a state that moved
on only through versions of the file's own run (and that changed no record the file lacks: it
was written after them), and refuses as before when any other run wrote since, or when who
wrote is unknown. A file without ``run_id`` (an older lmsctl) is pushed only onto the serial it
was written from.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsctl.errors import StateError, UsageError
from lmsctl.privacy import resolve_privacy
from lmsctl.state import crypto
from lmsctl.state.model import ResourceRecord, StateSnapshot
from lmsctl.timeutil import format_api_datetime, utcnow

KIND = "lmsctl-recovery"
FORMAT_VERSION = 1
PATTERN = "recovery-*.json"
#: What an encrypted recovery file keeps in clear (to find the files of a backend without a key).
CLEAR_FIELDS = ("kind", "format_version", "backend", "lineage", "base_serial", "created")


@dataclass(frozen=True)
class LaterWrites:
    """What moved a state on after a serial: the runs that wrote its later versions (each with
    the last serial it wrote), and the records those versions wrote or removed."""

    runs: dict[str, int]
    addresses: frozenset[str]


@dataclass
class Recovery:
    """The records one run could not save, and which state they belong to."""

    backend: str  # the backend's identity (where they must go)
    lineage: str
    base_serial: int  # the serial of the last save that did succeed
    api_url: str | None
    district_id: str | None
    created: str
    #: address -> record as the run last had it; None: the address was removed
    resources: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: the id of the run that wrote it, as the backend files that run's versions (None: unknown)
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "backend": self.backend,
            "lineage": self.lineage,
            "base_serial": self.base_serial,
            "api_url": self.api_url,
            "district_id": self.district_id,
            "created": self.created,
            "resources": self.resources,
            **({"run_id": self.run_id} if self.run_id is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Recovery:
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise StateError(f"{where} is not an lmsctl recovery file")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise StateError(f"{where} has format_version {version!r}; this lmsctl reads 1")
        resources = data.get("resources")
        if not isinstance(resources, dict):
            raise StateError(f"{where}: 'resources' must be an object")
        run_id = data.get("run_id")
        if run_id is not None and not isinstance(run_id, str):
            raise StateError(f"{where}: 'run_id' must be a string")
        for address, raw in resources.items():
            if raw is not None:
                record = ResourceRecord.from_dict(raw, where=f"{where}: resource {address!r}")
                if record.address != address:
                    raise StateError(f"{where}: resource {address!r} says it is {record.address}")
        try:
            return cls(
                backend=str(data["backend"]),
                lineage=str(data["lineage"]),
                base_serial=int(data["base_serial"]),
                api_url=data.get("api_url"),
                district_id=data.get("district_id"),
                created=str(data.get("created") or ""),
                resources=dict(resources),
                run_id=run_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{where} is malformed: {exc}") from exc

    def apply_to(self, snapshot: StateSnapshot) -> list[str]:
        """Put the kept records into ``snapshot``; returns the addresses changed."""
        for address, raw in self.resources.items():
            if raw is None:
                snapshot.resources.pop(address, None)
            else:
                snapshot.resources[address] = ResourceRecord.from_dict(raw)
        if not snapshot.api_url and self.api_url:
            snapshot.api_url = self.api_url
        if not snapshot.district_id and self.district_id:
            snapshot.district_id = self.district_id
        return sorted(self.resources)


class RecoveryKeeper:
    """Collects what failed saves could not store, and keeps it in one recovery file."""

    def __init__(
        self,
        folder: Path | None,
        backend: str,
        keys: crypto.StateKeys | None = None,
        *,
        privacy: str | None = None,
    ) -> None:
        self.folder = folder
        self.backend = backend
        #: ``privacy:`` of lmsctl.yaml (None: the environment's default, private in CI)
        self.privacy = privacy
        #: None: LMSCTL_STATE_KEY from the environment
        self.keys = keys if keys is not None else crypto.StateKeys.from_environment()
        self.recovery: Recovery | None = None
        self.path: Path | None = None

    def privacy_note(self) -> str:
        """What the error must add when the file holds students' grades in clear in a private
        run (CI: plans there name no student, so neither may an artifact made of this file)."""
        if self.keys.encrypting or not _private_run(self.privacy):
            return ""
        return (
            f"; the file holds students' grades in clear: do not upload or share it, and set "
            f"{crypto.KEY_ENV} so that recovery files are encrypted"
        )

    def keep(
        self, snapshot: StateSnapshot, addresses: Iterable[str], *, run_id: str | None = None
    ) -> Path | None:
        """Add these records (as the snapshot has them now) to the file; its path, or None.

        ``run_id``: the id of the run whose save failed, as the backend files its versions.
        The first failed save is the only one that can have reached the database (a backend
        writes nothing after it), so the file keeps the run id of its first call.
        """
        if self.recovery is None:
            self.recovery = Recovery(
                backend=self.backend,
                lineage=snapshot.lineage,
                base_serial=snapshot.serial,
                api_url=snapshot.api_url,
                district_id=snapshot.district_id,
                created=format_api_datetime(utcnow()),
                run_id=run_id,
            )
        for address in addresses:
            record = snapshot.resources.get(address)
            self.recovery.resources[address] = record.to_dict() if record is not None else None
        self.recovery.api_url = snapshot.api_url or self.recovery.api_url
        self.recovery.district_id = snapshot.district_id or self.recovery.district_id
        if self.folder is None:
            return None
        if self.path is None:
            stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
            self.path = self.folder / f"recovery-{stamp}.json"
        try:
            _write_private(self.path, seal(self.recovery.to_dict(), self.keys))
        except OSError:
            return None
        return self.path


def _private_run(configured: str | None = None) -> bool:
    """The run's privacy level for what it leaves behind, as for its errors: ``privacy:`` of
    lmsctl.yaml, else the default (private in CI)."""
    try:
        return resolve_privacy(None, configured, fmt="text", env=os.environ).private
    except UsageError:
        return True


def seal(data: dict[str, Any], keys: crypto.StateKeys) -> dict[str, Any]:
    """A recovery file's JSON form under the write key (as is when there is none)."""
    if not keys.encrypting:
        return data
    clear = {k: data[k] for k in CLEAR_FIELDS if k in data}
    plain = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return {**clear, crypto.FIELD: keys.seal(plain, _aad(clear))}


def _aad(clear: dict[str, Any]) -> bytes:
    return crypto.aad("recovery", *(clear.get(k) for k in CLEAR_FIELDS))


def _read_json(path: Path) -> Any:
    where = str(path)
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StateError(f"recovery file {where} does not exist") from None
    except OSError as exc:
        raise StateError(f"cannot read {where}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{where} is not an lmsctl recovery file (not JSON)") from exc


def _open(data: Any, where: str, keys: crypto.StateKeys) -> Any:
    if not isinstance(data, dict) or crypto.FIELD not in data:
        return data
    clear = {k: data[k] for k in CLEAR_FIELDS if k in data}
    plain = keys.open(data[crypto.FIELD], _aad(clear), f"recovery file {where}")
    try:
        opened = json.loads(plain)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{where} holds no JSON once decrypted") from exc
    if not isinstance(opened, dict) or any(opened.get(k) != v for k, v in clear.items()):
        raise StateError(f"{where} does not match the state it is filed under")
    return opened


def load(path: Path, keys: crypto.StateKeys | None = None) -> Recovery:
    """Read a recovery file; StateError naming it when it is not one (or cannot be decrypted).

    ``keys`` None: LMSCTL_STATE_KEY from the environment.
    """
    where = str(path)
    keys = keys if keys is not None else crypto.StateKeys.from_environment()
    return Recovery.from_dict(_open(_read_json(path), where, keys), where)


def _backend_of(path: Path) -> str | None:
    """The backend a recovery file belongs to (read in clear, no key needed); None if not one."""
    try:
        data = _read_json(path)
    except StateError:
        return None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return None
    backend = data.get("backend")
    return backend if isinstance(backend, str) else None


def rekey_recovery_files(
    folder: Path, backend: str, reader: crypto.StateKeys, keys: crypto.StateKeys
) -> list[Path]:
    """Re-encrypt this backend's recovery files in ``folder`` under ``keys`` (atomically each)."""
    both = crypto.StateKeys(
        write=keys.write, extra_read=tuple(reader.readers().values()), source=reader.source
    )
    done = []
    for path in pending(folder, backend):
        data = _read_json(path)
        if isinstance(data, dict) and crypto.FIELD in data:
            if keys.is_current(data[crypto.FIELD]):
                continue
        elif not keys.encrypting:
            continue
        opened = _open(data, str(path), both)
        _write_private(path, seal(opened, keys))
        done.append(path)
    return done


def pending(folder: Path, backend: str) -> list[Path]:
    """Recovery files in ``folder`` that belong to this backend, oldest first."""
    found = []
    for path in sorted(folder.glob(PATTERN)) if folder.is_dir() else []:
        if _backend_of(path) == backend:
            found.append(path)
    return found


def refuse_pending(folder: Path, backend: str) -> None:
    """StateError when a recovery file for this backend waits to be pushed."""
    left = pending(folder, backend)
    if left:
        shown = _display(left[0])
        root = _display(folder.parent) if folder.name == ".lmsctl" else "."
        where = f" --root {root}" if root not in (".", "") else ""
        raise StateError(
            f"{shown} holds results an earlier run could not save to state; running "
            "without them could create assignments a second time",
            hint=f"store them first: lmsctl state push {shown}{where}",
        )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write((json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = [
    "LaterWrites",
    "Recovery",
    "RecoveryKeeper",
    "load",
    "pending",
    "refuse_pending",
    "rekey_recovery_files",
    "seal",
]
