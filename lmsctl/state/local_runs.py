"""Which runs wrote the local state's latest saves, read from its journal (for ``state push``).

Each journal line of a run that holds the lock names the run (``run``: its lock id, a random
id). A save whose line reached the journal but whose fsync failed leaves the state one save
ahead of the recovery file that run kept; ``state push`` stores the file over it when the lines
after the file's serial are all that run's (:func:`lmsctl.state.transfer.push`).

Only the lines the state is read from (above the snapshot file's serial) count: a save folded
into the snapshot, or one of a run that names none, is a save by a run nobody can tell (``""``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lmsctl.errors import StateError
from lmsctl.state import crypto
from lmsctl.state.recovery import LaterWrites

if TYPE_CHECKING:
    from lmsctl.state.local import LocalBackend

#: the run of saves whose writer is not known
UNKNOWN = ""


def writes_since(backend: LocalBackend, serial: int) -> LaterWrites:
    """Who wrote the saves after ``serial`` (run id -> its last serial), and what they wrote."""
    current = backend.read()
    try:
        folded = backend._parse(backend.path.read_bytes()).serial  # what the snapshot holds
    except FileNotFoundError:
        folded = current.serial
    except OSError as exc:
        raise StateError(f"cannot read state file {backend.description}: {exc}") from exc
    try:
        raw = backend.journal_path.read_bytes()
    except FileNotFoundError:
        raw = b""
    except OSError as exc:
        raise StateError(f"cannot read the journal of {backend.description}: {exc}") from exc
    runs: dict[str, int] = {}
    addresses: set[str] = set()
    known: set[int] = set()
    for number, line in enumerate(raw.split(b"\n")[:-1], start=1):
        try:
            entry = json.loads(line)
            at, lineage = int(entry["serial"]), str(entry["lineage"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a torn line, never acknowledged (read() said what else is wrong)
        if lineage != current.lineage or not max(serial, folded) < at <= current.serial:
            continue
        if crypto.FIELD in entry:
            entry = backend._open_journal_entry(entry, lineage, at, number)
        run = entry.get("run")
        run = run if isinstance(run, str) and run else UNKNOWN
        runs[run] = max(runs.get(run, at), at)
        known.add(at)
        addresses.update(entry.get("set") or {})
        addresses.update(entry.get("del") or [])
    if known != set(range(serial + 1, current.serial + 1)):
        runs[UNKNOWN] = current.serial  # a save the journal does not show: its run is unknown
    return LaterWrites(runs=runs, addresses=frozenset(addresses))


__all__ = ["UNKNOWN", "writes_since"]
