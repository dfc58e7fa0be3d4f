"""``lmsctl state list|show|rm|mv``: look at or fix what state tracks; nothing touches the LMS.

Each function takes a ``StateAccess`` (the backend lmsctl.yaml names, and the run's privacy
level, both resolved once by ``open_state``) and returns a value for lmsctl.render.state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmsctl.addresses import Address
from lmsctl.manifest.config import load_config
from lmsctl.privacy import PrivacyChoice, resolve_privacy
from lmsctl.render.state import StateEntry, StateListing
from lmsctl.state import locked, open_backend
from lmsctl.state.backend import LockInfo, StateBackend
from lmsctl.state.ops import Moved, Removed, list_resources, move, remove, show

__all__ = [
    "StateAccess",
    "list_state",
    "move_in_state",
    "open_state",
    "remove_from_state",
    "show_state",
]

TakeoverFn = Callable[[LockInfo], None]


@dataclass(frozen=True)
class StateAccess:
    backend: StateBackend
    #: what the output may show of students (``--privacy``, else lmsctl.yaml's, else default)
    privacy: PrivacyChoice


def open_state(
    root: Path,
    *,
    sandbox: bool,
    env: Mapping[str, str],
    privacy: str | None = None,
    fmt: str = "text",
) -> StateAccess:
    """The root's state backend (the sandbox's with ``sandbox``) and the run's privacy level."""
    config = load_config(root)
    choice = resolve_privacy(privacy, config.privacy, fmt=fmt, env=env)
    return StateAccess(open_backend(root, config, sandbox=sandbox), choice)


def list_state(access: StateAccess) -> StateListing:
    backend = access.backend
    snapshot = backend.read()
    return StateListing(
        location=backend.description,
        lineage=snapshot.lineage,
        serial=snapshot.serial,
        api_url=snapshot.api_url,
        district_id=snapshot.district_id,
        rows=tuple(list_resources(snapshot)),
    )


def show_state(access: StateAccess, address: Address) -> StateEntry:
    """What state holds for an assignment or one grade; StateError when it holds nothing."""
    return StateEntry(address, show(access.backend.read(), address))


def remove_from_state(
    access: StateAccess,
    addresses: Sequence[Address],
    *,
    lock_timeout: float,
    on_takeover: TakeoverFn,
) -> list[Removed]:
    """Forget assignments or single grades, under the state lock (all or nothing)."""
    backend = access.backend
    with locked(backend, "lmsctl state rm", lock_timeout) as lock:
        on_takeover(lock)
        snapshot = backend.read()
        removed = remove(snapshot, addresses)
        backend.write(snapshot)
    return removed


def move_in_state(
    access: StateAccess,
    old: Address,
    new: Address,
    *,
    lock_timeout: float,
    on_takeover: TakeoverFn,
) -> Moved:
    """Re-address an assignment (a key rename within its section), under the state lock."""
    backend = access.backend
    with locked(backend, "lmsctl state mv", lock_timeout) as lock:
        on_takeover(lock)
        snapshot = backend.read()
        moved = move(snapshot, old, new)
        backend.write(snapshot)
    return moved
