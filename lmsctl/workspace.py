"""A workspace: one manifests root, its state backend and API client, for one command run.

This is the seam between the CLI and the core: commands build a ``WorkspaceOptions`` from their
flags, and they or the use cases they call (``lmsctl.usecases.apply``) open a Workspace and call
``make_plan`` (and apply's executor) inside it. The workspace holds the state lock for the
whole run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lmsctl.addresses import Address
from lmsctl.client.concurrency import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, READ_MAX_IN_FLIGHT
from lmsctl.client.factory import SandboxOpener, open_client, resolve_api_url, sandbox_api_url
from lmsctl.client.lms import LmsClient
from lmsctl.errors import ConfigError, Diagnostic, StateError
from lmsctl.heap import collector_paused
from lmsctl.manifest import load_or_raise
from lmsctl.manifest.config import CONFIG_FILE, display_path, load_config
from lmsctl.model import DesiredState
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Plan
from lmsctl.policy import apply_policies
from lmsctl.refresh import LiveState, ProgressFn, refresh
from lmsctl.state import open_backend
from lmsctl.state.backend import LockInfo, StateBackend
from lmsctl.state.model import StateSnapshot, ensure_binding
from lmsctl.timeutil import format_api_datetime, utcnow

_MANIFEST_SUFFIXES = (".yaml", ".yml", ".csv")


@dataclass(frozen=True)
class WorkspaceOptions:
    """Everything a run needs from the command line and the environment."""

    root: Path
    sandbox: bool = False
    sandbox_db: str | None = None
    api_url: str | None = None
    rate_limit: int = 1200
    timeout: float = DEFAULT_TIMEOUT
    lock_timeout: float = 0.0
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # cap on calls in flight (apply's --parallelism)
    command: str = "lmsctl"
    progress: ProgressFn | None = None
    notice: Callable[[str], None] | None = None  # one-line notices for the user (stderr)
    #: lmsctl's own "now", used only when the API has not told its clock (see Workspace.now)
    clock: Callable[[], dt.datetime] = utcnow
    open_sandbox: SandboxOpener | None = None  # how --sandbox reaches the embedded sandbox


def manifests_digest(root: Path) -> str:
    """A digest of every manifest and gradebook file under root (what the plan was made from)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(_MANIFEST_SUFFIXES):
                continue
            path = Path(dirpath) / name
            h.update(str(path.relative_to(root)).encode())
            h.update(b"\0")
            try:
                h.update(path.read_bytes())
            except OSError:
                continue
            h.update(b"\0")
    return h.hexdigest()[:16]


def _refuse_part_of_a_root(root: Path) -> None:
    """Refuse a folder inside another root that has neither settings nor state of its own.

    Its section files belong to the enclosing root; run alone it would start from empty state
    and create every assignment in it a second time.
    """
    root_abs = Path(os.path.abspath(root))
    if (
        not root_abs.is_dir()
        or (root_abs / CONFIG_FILE).exists()
        or (root_abs / ".lmsctl").exists()
    ):
        return
    for parent in root_abs.parents:
        if (parent / CONFIG_FILE).is_file():
            shown, outer = display_path(root_abs), display_path(parent)
            raise ConfigError(
                f"{shown} is inside the lmsctl root {outer} (it holds {CONFIG_FILE}), and has "
                "no settings or state of its own: run alone, it would create its assignments "
                "a second time",
                hint=f"run lmsctl on {outer}, with --target to limit a plan; to make {shown} a "
                f"root of its own, add {shown}/{CONFIG_FILE}",
            )


@dataclass
class Workspace:
    """An open run: desired state loaded, state locked, a client ready."""

    options: WorkspaceOptions
    desired: DesiredState
    warnings: list[Diagnostic]
    backend: StateBackend
    lock: LockInfo | None = None
    api_url: str = ""
    _client: LmsClient | None = field(default=None, repr=False)

    @classmethod
    def open(cls, options: WorkspaceOptions, *, load_manifests: bool = True) -> Workspace:
        _refuse_part_of_a_root(options.root)
        if load_manifests:
            desired, warnings = load_or_raise(options.root)
        else:
            desired, warnings = DesiredState(options.root, load_config(options.root)), []
        backend = open_backend(options.root, desired.config, sandbox=options.sandbox)
        api_url = (
            sandbox_api_url()
            if options.sandbox
            else resolve_api_url(options.api_url, desired.config)
        )
        ws = cls(options, desired, warnings, backend, api_url=api_url)
        return ws

    def __enter__(self) -> Workspace:
        self.lock = self.backend.lock(self.options.command, timeout=self.options.lock_timeout)
        takeover = self.lock.describe_takeover()
        if takeover and self.options.notice is not None:
            self.options.notice(takeover)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            with contextlib.suppress(StateError):
                self.backend.unlock(self.lock.id)
            self.lock = None
        # a postgres backend holds a connection (opened again if the backend is used later)
        self.backend.close()

    def client(self) -> LmsClient:
        if self._client is None:
            self._client = open_client(
                config=self.desired.config,
                root=self.options.root,
                sandbox=self.options.sandbox,
                sandbox_db=self.options.sandbox_db,
                api_url=self.options.api_url,
                rate_limit=self.options.rate_limit,
                timeout=self.options.timeout,
                max_in_flight=self.options.max_in_flight,
                open_sandbox=self.options.open_sandbox,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def now(self) -> dt.datetime:
        """The API's clock (the Date header of its answers; the token's district is read first
        when nothing was asked yet), else lmsctl's own (an API that sends no Date header).

        Due dates and freeze windows are judged by it: a runner whose clock is off neither
        lets a frozen change through nor blocks one, and the sandbox's clock moves both."""
        client = self.client()
        if client.server_now() is None and not client.stats.requests:
            await client.get_my_district()
        return client.server_now() or self.options.clock()

    def read_state(self) -> StateSnapshot:
        # a district's state is a record per assignment and a mapping per grade, none in a
        # cycle: the collector's passes would walk the manifests and the state as they grow
        with collector_paused():
            snapshot = self.backend.read()
        if snapshot.api_url and snapshot.api_url != self.api_url:
            ensure_binding(snapshot, self.api_url, snapshot.district_id or "")
        return snapshot

    async def make_plan(
        self,
        *,
        revert_drift: bool = False,
        force: bool = False,
        targets: tuple[Address, ...] = (),
        snapshot: StateSnapshot | None = None,
        allow_frozen: tuple[str, ...] = (),
        all_submissions: bool = False,
    ) -> tuple[Plan, LiveState, StateSnapshot]:
        """Refresh and build the plan (state must be locked by the caller: use ``with``).

        The LiveState holds the submissions the plan compares (of the students the manifests
        grade); ``all_submissions`` keeps every student's (lmsctl pull writes them back).
        """
        snapshot = snapshot or self.read_state()
        live = await refresh(
            self.client(),
            self.desired,
            snapshot,
            targets=targets,
            district_id=self.desired.config.district,
            max_in_flight=min(self.options.max_in_flight, READ_MAX_IN_FLIGHT),
            progress=self.options.progress,
            all_submissions=all_submissions,
        )
        district_id = live.district.id
        ensure_binding(snapshot, self.api_url, district_id)
        options = PlanOptions(
            revert_drift=revert_drift,
            force=force,
            targets=targets,
            # the API's clock decides what is in the past (the demo sandbox's runs apart)
            now=format_api_datetime(await self.now()),
        )
        plan = PlanBuilder(
            self.desired,
            snapshot,
            live,
            options,
            api_url=self.api_url,
            manifests_digest=manifests_digest(self.options.root),
        ).build()
        plan = replace(plan, root=self.options.root)
        policies = self.desired.config.policies
        plan = apply_policies(
            plan,
            policies,
            await self.now(),
            allow_frozen=allow_frozen,
            live_submissions=live.submissions,
            schools=await self._schools(plan) if any(w.schools for w in policies.freeze) else None,
        )
        return plan, live, snapshot

    async def _schools(self, plan: Plan) -> dict[str, str]:
        """The school of each section the plan changes (for freeze windows naming schools)."""
        out: dict[str, str] = {}
        for section_id in sorted({c.section_id for c in plan.actionable}):
            section = await self.client().get_section(section_id)
            out[section_id] = str(section.get("school") or "")
        return out
