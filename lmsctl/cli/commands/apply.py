"""lmsctl apply: make the LMS match the manifests (or carry out a saved plan)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from lmsctl.addresses import Address
from lmsctl.apply.executor import (
    ApplyOptions,
    ApplyResult,
    Executor,
    Outcome,
    check_consent,
)
from lmsctl.cli import signals
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import (
    allow_frozen_option,
    connection_options,
    drift_force_options,
    target_option,
    workspace_options,
)
from lmsctl.cli.output import emit_plan, print_warnings
from lmsctl.cli.progress import ApplyProgress, not_done_lines
from lmsctl.client.concurrency import DEFAULT_MAX_IN_FLIGHT
from lmsctl.errors import InterruptedError_, StalePlanError, UsageError
from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Consent, Plan
from lmsctl.plan.planfile import ensure_fresh, is_plan_file, load_plan
from lmsctl.policy import check_freeze
from lmsctl.privacy import Scrubber, StudentDirectory, resolve_privacy
from lmsctl.state.model import StateSnapshot
from lmsctl.workspace import Workspace

#: the highest --parallelism: file descriptors, one connection per change in flight
MAX_PARALLELISM = 10_000


def _result_json(result: ApplyResult) -> dict[str, Any]:
    return {
        "format_version": "1.0",
        "ok": result.ok,
        "interrupted": result.interrupted,
        "seconds": round(result.seconds, 3),
        "summary": result.summary(),
        "results": [
            {
                "address": r.change.address,
                "action": r.change.action.value,
                "outcome": r.outcome.value,
                "message": r.message,
                "source": r.change.source,
            }
            for r in result.results
        ],
    }


def _unknown_left(n: int) -> int:
    """Nothing more lmsctl can do by itself: creates with an unknown outcome need a person."""
    click.echo(
        f"{n} create(s) have an unknown outcome; nothing is done to them until you resolve each: "
        "lmsctl import ADDRESS ASSIGNMENT_ID if it exists in the LMS, lmsctl state rm ADDRESS if "
        "it does not (see the plan above).",
        err=True,
    )
    return 1


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "refusing to apply without confirmation: there is no terminal to ask on",
            hint="review the plan and re-run with --auto-approve, or apply a saved plan file",
        )
    # Ctrl-C / SIGTERM abort the prompt at once (exit 130, nothing changed, lock released).
    guard = signals.current()
    if guard.can_wait_on(sys.stdin):
        try:
            answer = guard.read_line(
                "Apply these changes? (yes/no): ", lambda text: click.echo(text, nl=False)
            )
        except EOFError:
            answer = ""
    else:  # a terminal without a file descriptor (an embedding program's): click's prompt
        with guard.blocking():
            answer = click.prompt("Apply these changes? (yes/no)", default="", show_default=False)
    if answer.strip().lower() != "yes":
        # as Terraform: only "yes" applies; anything else changes nothing and exits 1
        click.echo("Apply cancelled.")
        raise click.exceptions.Exit(1)


async def _execute(
    ws: Workspace,
    plan: Plan,
    snapshot: StateSnapshot,
    options: ApplyOptions,
    view: ApplyProgress,
) -> ApplyResult:
    """Carry out the plan (Ctrl-C / SIGTERM stop it gracefully), then close the client."""
    try:
        executor = Executor(plan, ws.client(), ws.backend, snapshot, options, on_event=view.event)
        async with view.running(executor, ws.client(), total=len(plan.actionable)):
            return await _run_stoppable(executor)
    finally:
        await ws.aclose()


async def _run_stoppable(executor: Executor) -> ApplyResult:
    """Run the executor; Ctrl-C or SIGTERM stops it gracefully, a second one at once.

    After the first signal no new call starts and in-flight calls get ``stop_wait`` seconds to
    finish; then (or on a second signal) they are abandoned. State is saved either way.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(executor.run())

    def stop(count: int) -> None:
        if count > 1 or executor.stopping:
            task.cancel()
            return
        executor.stop()
        loop.call_later(executor.options.stop_wait, task.cancel)

    with signals.current().on_stop(stop):
        try:
            return await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this coroutine itself was cancelled: not ours to absorb
            return executor.abandon()


def _finish(
    result: ApplyResult, pending_unknown: int, as_json: bool, scrub: Scrubber | None = None
) -> int:
    """Report the result; creates still of unknown outcome keep the exit code non-zero."""
    code = _report(result, as_json, scrub)
    return code or (_unknown_left(pending_unknown) if pending_unknown else 0)


def _report(result: ApplyResult, as_json: bool, scrub: Scrubber | None = None) -> int:
    """The result at the run's privacy level (addresses of grades name students)."""
    if as_json:
        doc = _result_json(result)
        click.echo(json.dumps(scrub.value(doc) if scrub is not None else doc, indent=2))
    else:
        not_done = not_done_lines(result)  # each change not done, once
        if not_done:
            click.echo("")
            for line in not_done:
                click.echo(scrub.text(line) if scrub is not None else line)
        if any(r.outcome is Outcome.STALE for r in result.results):
            click.echo(
                "\nA change marked stale was not written: its value changed in the LMS after the "
                "plan was shown (a teacher's edit is never overwritten silently). Run lmsctl plan "
                "again to see it: a grade lmsctl never set shows as a conflict."
            )
        unknown = [r for r in result.results if r.outcome is Outcome.UNKNOWN]
        if unknown:
            click.echo(
                "\nA create whose answer was lost is never retried automatically (it could make a "
                "duplicate in front of students). For each address above: if it exists in the "
                "LMS, lmsctl import ADDRESS ASSIGNMENT_ID; if it does not, lmsctl state rm ADDRESS."
            )
        click.echo(result.summary())
    if result.interrupted:
        raise InterruptedError_("apply was interrupted; state holds everything that was done")
    return 0 if result.ok else 1


@click.command("apply", epilog="Example: lmsctl --sandbox apply examples/coursework --auto-approve")
@click.argument("target", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Manifests root when applying a plan file [default: the root the plan was made in].",
)
@click.option(
    "--parallelism",
    type=click.IntRange(min=1, max=MAX_PARALLELISM),
    default=DEFAULT_MAX_IN_FLIGHT,
    show_default=True,
    metavar="N",
    help="The most changes in flight at once. Within it, lmsctl keeps as many in flight as "
    "the rate limit needs at the latency it observes (requests per second x seconds per "
    "write: 300 for 15 s writes at 1200/min); every call stays under --rate-limit.",
)
@click.option(
    "--allow-destroy-submissions",
    is_flag=True,
    help="Allow deleting assignments that hold turned-in or graded student work.",
)
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Allow deleting more than policies.max_delete_fraction of a section's tracked "
    "assignments in one apply.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@allow_frozen_option
@target_option
@drift_force_options
@connection_options
@pass_cli
def apply(
    cli: CliContext,
    target: Path,
    auto_approve: bool,
    root: Path | None,
    parallelism: int,
    allow_destroy_submissions: bool,
    allow_mass_delete: bool,
    as_json: bool,
    allow_frozen: tuple[str, ...],
    targets: tuple[Address, ...],
    revert_drift: bool,
    force: bool,
    rate_limit: int,
    timeout: float,
    lock_timeout: float,
) -> int:
    """Make the LMS match the manifests, in a safe order.

    Changes inside an open policies.freeze window are refused (a saved plan made before the
    window began, too) unless the plan was made with --allow-frozen WINDOW.

    TARGET is a manifests root (default: .): lmsctl plans, shows the plan and asks before
    changing anything; only `yes` applies, anything else prints "Apply cancelled." and exits 1.
    Or TARGET is a plan file saved with `lmsctl plan --out FILE`: lmsctl carries out exactly
    that plan, refusing it if state changed since.

    Either way, each value is re-read just before it is written: one that changed in the LMS
    since the plan was shown (a teacher's grade) is not overwritten; it is reported as stale
    and apply exits 1.
    """
    # A manifests root is a folder, so any file is read as a plan file (a damaged one is then
    # reported as "not a plan file", not as a root that is not a folder).
    from_file = is_plan_file(target) or target.is_file()
    consents = {Consent.DESTROY_SUBMISSIONS} if allow_destroy_submissions else set()
    if allow_mass_delete:
        consents.add(Consent.MASS_DELETE)
    options = ApplyOptions(parallelism=parallelism, consents=frozenset(consents))
    cli.scrubber = Scrubber(resolve_privacy(None, None, fmt="text", env=os.environ))
    view = ApplyProgress(quiet=as_json, scrub=cli.scrubber)
    if from_file:
        plan, _ = load_plan(target)
        if cli.scrubber.choice.private:
            directory = StudentDirectory()
            directory.add_document(plan_to_document(plan))
            cli.scrubber.directory.merge(directory)
        if targets or revert_drift or force or allow_frozen:
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
        ws = Workspace.open(
            workspace_options(
                cli,
                plan_root,
                command="lmsctl apply",
                rate_limit=rate_limit,
                timeout=timeout,
                lock_timeout=lock_timeout,
                max_in_flight=parallelism,
            )
        )
        with ws:
            snapshot = ws.read_state()
            if plan.api_url and plan.api_url != ws.api_url:
                raise StalePlanError(
                    f"the plan was made against {plan.api_url}, not {ws.api_url}",
                    hint="apply it with the same --sandbox / --api-url as the plan",
                )
            ensure_fresh(plan, snapshot)
            check_freeze(plan, ws.desired.config.policies, cli.clock())
            check_consent(plan, options)
            if not plan.has_changes and not plan.state_fixes:
                if as_json:
                    click.echo(json.dumps(_result_json(ApplyResult()), indent=2))
                if plan.unknown:
                    return _unknown_left(len(plan.unknown))
                if not as_json:
                    click.echo("No changes. The LMS matches the manifests.")
                return 0
            result = signals.current().run(_execute(ws, plan, snapshot, options, view))
        return _finish(result, len(plan.unknown), as_json, cli.scrubber)

    ws = Workspace.open(
        workspace_options(
            cli,
            root or target,
            command="lmsctl apply",
            rate_limit=rate_limit,
            timeout=timeout,
            lock_timeout=lock_timeout,
            max_in_flight=parallelism,
        )
    )
    choice = resolve_privacy(None, ws.desired.config.privacy, fmt="text", env=os.environ)
    directory = StudentDirectory()
    directory.add_desired(ws.desired)
    cli.scrubber = view.scrub = Scrubber(choice, directory)
    print_warnings(ws.warnings, cli.color, cli.scrubber.text)
    plans: list[Plan] = []

    async def flow() -> ApplyResult | None:
        try:
            plan, live, snapshot = await ws.make_plan(
                revert_drift=revert_drift, force=force, targets=targets, allow_frozen=allow_frozen
            )
            directory.add_rosters(live.rosters)
            plans.append(plan)
            if not as_json:
                emit_plan(plan, "text", color=cli.color, privacy=choice, directory=directory)
            check_freeze(plan, ws.desired.config.policies, cli.clock())
            check_consent(plan, options)
            if not plan.has_changes:
                if plan.state_fixes:
                    await Executor(plan, ws.client(), ws.backend, snapshot, options).run()
                return None
            _confirm(auto_approve)
            return await _execute(ws, plan, snapshot, options, view)
        finally:
            await ws.aclose()

    with ws:
        outcome = signals.current().run(flow())
    pending = len(plans[0].unknown) if plans else 0
    if outcome is None:
        if as_json:
            click.echo(json.dumps(_result_json(ApplyResult()), indent=2))
        return _unknown_left(pending) if pending else 0
    return _finish(outcome, pending, as_json, cli.scrubber)
