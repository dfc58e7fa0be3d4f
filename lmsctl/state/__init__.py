"""State: what lmsctl manages, the ids it got, and the values it last applied.

- :mod:`lmsctl.state.model`: ``StateSnapshot`` / ``ResourceRecord`` and the API/district binding;
- :mod:`lmsctl.state.backend`: the ``StateBackend`` protocol, ``LockInfo``, ``MemoryBackend``;
- :mod:`lmsctl.state.local`: ``LocalBackend``, the atomic JSON file (the default);
- :mod:`lmsctl.state.ops`: what ``lmsctl state list|show|rm|mv`` do.

State for the embedded sandbox is kept apart from state for a real API (:func:`state_path`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from lmsctl.errors import ConfigError, StateError
from lmsctl.model import ProjectConfig, StateConfig
from lmsctl.state.backend import LockInfo, MemoryBackend, StateBackend
from lmsctl.state.local import LocalBackend
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot, ensure_binding

#: Where the sandbox's state goes when state.path is left at its default.
SANDBOX_STATE_PATH = ".lmsctl/sandbox/state.json"


def state_path(root: Path, config: ProjectConfig, *, sandbox: bool) -> Path:
    """The local state file for this root.

    ``state.path`` from lmsctl.yaml, relative to the root (absolute allowed). For the sandbox,
    kept apart: ``<root>/.lmsctl/sandbox/state.json`` when the path is the default, else
    ``<stem>.sandbox<suffix>`` beside the configured file.
    """
    configured = config.state.path or StateConfig().path
    if sandbox:
        if configured == StateConfig().path:
            configured = SANDBOX_STATE_PATH
        else:
            p = Path(configured)
            configured = str(p.with_name(f"{p.stem}.sandbox{p.suffix or '.json'}"))
    path = Path(configured).expanduser()
    return path if path.is_absolute() else Path(root) / path


def open_backend(
    root: Path, config: ProjectConfig, *, sandbox: bool, kind: str | None = None
) -> StateBackend:
    """The backend lmsctl.yaml asks for (``state.backend``), or ``kind`` (local / postgres).

    postgres: the connection from LMSCTL_PG_DSN, else ``state.dsn``, else libpq's PG*
    variables; ``state.workspace`` names this root's state (``<workspace>.sandbox`` for the
    embedded sandbox, kept apart like the local file). Nothing connects until first use.
    """
    kind = (kind or config.state.backend or "local").strip().lower()
    if kind == "local":
        return LocalBackend(state_path(root, config, sandbox=sandbox), privacy=config.privacy)
    if kind == "postgres":
        # lazy: psycopg (libpq) loads only for the postgres backend
        from lmsctl.state.dsn import dsn_from_environment
        from lmsctl.state.postgres import PostgresBackend

        workspace = config.state.workspace + (".sandbox" if sandbox else "")
        return PostgresBackend(
            dsn_from_environment(config.state.dsn),
            workspace=workspace,
            schema=config.state.schema,
            keep_versions=config.state.history,
            recovery_dir=Path(root) / ".lmsctl",
            privacy=config.privacy,
        )
    where = f" in {config.file}" if config.file else ""
    raise ConfigError(
        f"state backend {config.state.backend!r}{where} is not available",
        hint="use state: {backend: local} or state: {backend: postgres, workspace: NAME}",
    )


@contextmanager
def locked(
    backend: StateBackend, command: str, timeout: float = 0.0, *, pending_recovery: bool = False
) -> Iterator[LockInfo]:
    """Hold the state lock for a block; released on the way out, even after an error.

    A backend refuses the lock while a recovery file of an earlier run waits to be pushed;
    ``pending_recovery=True`` (``state push`` itself) takes it anyway.
    """
    if pending_recovery and hasattr(backend, "check_recovery"):
        backend.check_recovery = False
    info = backend.lock(command, timeout=timeout)
    try:
        yield info
    finally:
        # StateError: someone force-unlocked and another run took it; it is theirs now
        with suppress(StateError):
            backend.unlock(info.id)


__all__ = [
    "SANDBOX_STATE_PATH",
    "LocalBackend",
    "LockInfo",
    "MemoryBackend",
    "ResourceRecord",
    "ResourceStatus",
    "StateBackend",
    "StateSnapshot",
    "ensure_binding",
    "locked",
    "open_backend",
    "state_path",
]
