"""Apply as a use case: make the LMS match a manifests root, or carry out a saved plan file.

The command parses its flags and calls :func:`apply_root` or :func:`apply_planfile`; each
returns what happened (:class:`ApplyRun`) and never prints. What the user sees or answers while
it runs goes through the :class:`ApplyView` the caller supplies: the CLI's prints on the
terminal, asks for confirmation, draws progress, runs the event loop, and turns Ctrl-C /
SIGTERM into the executor's cancellation (``Executor.interrupt``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lmsctl.addresses import Address
from lmsctl.apply.consent import check_consent
from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.apply.results import ApplyEvent, ApplyResult
from lmsctl.client.lms import LmsClient
from lmsctl.errors import Diagnostic, StalePlanError, UsageError
from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Plan
from lmsctl.plan.planfile import ensure_fresh, load_plan
from lmsctl.policy import check_freeze
from lmsctl.privacy import Scrubber, StudentDirectory, resolve_privacy
from lmsctl.state.model import StateSnapshot
from lmsctl.workspace import Workspace, WorkspaceOptions

T = TypeVar("T")

__all__ = ["ApplyRequest", "ApplyRun", "ApplyView", "apply_planfile", "apply_root"]


class ApplyView(Protocol):
    """What an apply shows and asks while it runs (the caller's; the core never prints)."""

    def privacy(self, scrubber: Scrubber) -> None:
        """The run's privacy level and its students, as soon as they are known."""

    def warnings(self, diagnostics: Sequence[Diagnostic]) -> None:
        """The manifests' warnings (apply_root)."""

    def plan(self, plan: Plan, scrubber: Scrubber) -> None:
        """The plan about to be carried out, before the confirmation (apply_root)."""

    def confirm(self) -> bool:
        """Whether to carry out the plan shown: only True applies."""

    def running(
        self, executor: Executor, client: LmsClient, total: int
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while the executor runs: progress, and the stop requests it passes on to
        ``executor.interrupt``."""

    def event(self, event: ApplyEvent) -> None:
        """One change ended."""

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` in an event loop (the caller's: it decides what stops it)."""


@dataclass(frozen=True)
class ApplyRequest:
    """What the user asked of one apply (its flags)."""

    options: ApplyOptions = field(default_factory=ApplyOptions)
    auto_approve: bool = False  # apply_root: carry out the plan without asking
    # apply_root's planning choices (a plan file has its own: refused with one)
    revert_drift: bool = False
    force: bool = False
    targets: tuple[Address, ...] = ()
    allow_frozen: tuple[str, ...] = ()
    #: the environment that sets the privacy defaults (CI, LMSCTL_PSEUDONYM_KEY)
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def plans_anything(self) -> bool:
        return bool(self.targets or self.revert_drift or self.force or self.allow_frozen)


@dataclass(frozen=True)
class ApplyRun:
    """What one apply did."""

    plan: Plan
    scrubber: Scrubber  # the run's privacy level (what its report may show of students)
    result: ApplyResult | None = None  # None: nothing was carried out (the plan had no changes)
    cancelled: bool = False  # the confirmation was refused: nothing changed

    @property
    def pending_unknown(self) -> int:
        """Creates of unknown outcome the plan listed: never carried out, they need a person."""
        return len(self.plan.unknown)


def apply_planfile(
    path: Path,
    request: ApplyRequest,
    view: ApplyView,
    *,
    workspace: Callable[[Path], WorkspaceOptions],
    root: Path | None = None,
) -> ApplyRun:
    """Carry out exactly the plan saved in ``path``, in ``root`` (default: the root it was made
    in; ``workspace`` gives the options of a root), refusing it if state, the API or the
    freeze windows say it no longer holds."""
    plan, _ = load_plan(path)
    scrubber = Scrubber(resolve_privacy(None, None, fmt="text", env=request.env))
    scrubber.directory.add_document(plan_to_document(plan))
    view.privacy(scrubber)
    if request.plans_anything:
        raise UsageError(
            "--target, --revert-drift, --force and --allow-frozen are decided when the "
            "plan is made",
            hint="pass them to lmsctl plan",
        )
    plan_root = root or plan.root or Path(".")
    if root is None and not plan_root.is_dir():
        raise UsageError(
            f"the plan was made in root {plan_root}, which is not a folder here",
            hint="run lmsctl apply from the folder where lmsctl plan ran, or pass --root ROOT",
        )
    ws = Workspace.open(workspace(plan_root))
    # the root's privacy: in lmsctl.yaml counts as it does for apply ROOT
    choice = resolve_privacy(None, ws.desired.config.privacy, fmt="text", env=request.env)
    scrubber = Scrubber(choice, scrubber.directory)
    view.privacy(scrubber)
    with ws:
        snapshot = ws.read_state()
        if plan.api_url and plan.api_url != ws.api_url:
            raise StalePlanError(
                f"the plan was made against {plan.api_url}, not {ws.api_url}",
                hint="apply it with the same --sandbox / --api-url as the plan",
            )
        ensure_fresh(plan, snapshot)
        if not plan.has_changes and not plan.state_fixes:
            check_consent(plan, request.options)
            return ApplyRun(plan, scrubber)
        result = view.run(_execute(ws, plan, snapshot, request.options, view, check=True))
    return ApplyRun(plan, scrubber, result)


def apply_root(options: WorkspaceOptions, request: ApplyRequest, view: ApplyView) -> ApplyRun:
    """Plan the manifests root, show the plan, ask (unless ``auto_approve``), carry it out."""
    ws = Workspace.open(options)
    choice = resolve_privacy(None, ws.desired.config.privacy, fmt="text", env=request.env)
    directory = StudentDirectory()
    directory.add_desired(ws.desired)
    scrubber = Scrubber(choice, directory)
    view.privacy(scrubber)
    view.warnings(ws.warnings)
    with ws:
        return view.run(_plan_and_apply(ws, request, view, scrubber))


async def _plan_and_apply(
    ws: Workspace, request: ApplyRequest, view: ApplyView, scrubber: Scrubber
) -> ApplyRun:
    try:
        plan, live, snapshot = await ws.make_plan(
            revert_drift=request.revert_drift,
            force=request.force,
            targets=request.targets,
            allow_frozen=request.allow_frozen,
        )
        scrubber.directory.add_rosters(live.rosters)
        view.plan(plan, scrubber)
        check_freeze(plan, ws.desired.config.policies, await ws.now())
        check_consent(plan, request.options)
        if not plan.has_changes:
            if plan.state_fixes:  # state only: nothing to show or to ask
                await Executor(plan, ws.client(), ws.backend, snapshot, request.options).run()
            return ApplyRun(plan, scrubber)
        if not request.auto_approve and not view.confirm():
            return ApplyRun(plan, scrubber, cancelled=True)
        result = await _execute(ws, plan, snapshot, request.options, view)
        return ApplyRun(plan, scrubber, result)
    finally:
        await ws.aclose()


async def _execute(
    ws: Workspace,
    plan: Plan,
    snapshot: StateSnapshot,
    options: ApplyOptions,
    view: ApplyView,
    *,
    check: bool = False,
) -> ApplyResult:
    """Carry out the plan (the view's stop requests interrupt it gracefully), close the client.

    ``check``: first refuse a saved plan that an open freeze window (by the API's clock, now)
    or a missing consent forbids."""
    try:
        if check:
            check_freeze(plan, ws.desired.config.policies, await ws.now())
            check_consent(plan, options)
        executor = Executor(plan, ws.client(), ws.backend, snapshot, options, on_event=view.event)
        async with view.running(executor, ws.client(), total=len(plan.actionable)):
            return await executor.run_cancellable()
    finally:
        await ws.aclose()
