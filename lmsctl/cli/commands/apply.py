"""lmsctl apply: make the LMS match the manifests (or carry out a saved plan)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from lmsctl.addresses import Address
from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.apply.results import ApplyEvent, ApplyResult
from lmsctl.cli import signals
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import command_prefix, examples
from lmsctl.cli.options import (
    allow_frozen_option,
    connection_options,
    drift_force_options,
    output_format,
    target_option,
    workspace_options,
)
from lmsctl.cli.output import emit_plan, print_warnings
from lmsctl.cli.progress import ApplyProgress
from lmsctl.client.concurrency import DEFAULT_MAX_IN_FLIGHT
from lmsctl.client.lms import LmsClient
from lmsctl.errors import Diagnostic, InterruptedError_, UsageError
from lmsctl.plan.model import Consent, Plan
from lmsctl.plan.planfile import is_plan_file
from lmsctl.privacy import Scrubber, resolve_privacy
from lmsctl.render.apply import (
    NO_CHANGES,
    apply_report,
    apply_result_document,
    unknown_left_words,
)
from lmsctl.usecases.apply import ApplyRequest, ApplyRun, apply_planfile, apply_root
from lmsctl.workspace import WorkspaceOptions

T = TypeVar("T")

#: the highest --parallelism: file descriptors, one connection per change in flight
MAX_PARALLELISM = 10_000


class TerminalApplyView:
    """The apply use case's view on the terminal: prints, asks, draws progress, and passes
    Ctrl-C / SIGTERM on to the executor (the first stops it gracefully, a second at once)."""

    def __init__(self, cli: CliContext, *, as_json: bool, root: Path | None = None) -> None:
        self.cli = cli
        self.as_json = as_json
        #: the root the suggested commands name (None: the current folder, or a plan file's)
        self.root = "" if root is None or root == Path(".") else shlex.quote(str(root))
        self.progress = ApplyProgress(quiet=as_json, scrub=cli.scrubber)

    def privacy(self, scrubber: Scrubber) -> None:
        self.cli.scrubber = self.progress.scrub = scrubber

    def warnings(self, diagnostics: Sequence[Diagnostic]) -> None:
        scrub = self.cli.scrubber.text if self.cli.scrubber is not None else None
        print_warnings(diagnostics, self.cli.color, scrub)

    def plan(self, plan: Plan, scrubber: Scrubber) -> None:
        if not self.as_json:
            emit_plan(
                plan,
                "text",
                color=self.cli.color,
                privacy=scrubber.choice,
                directory=scrubber.directory,
                command=command_prefix(self.cli),
                root=self.root,
            )

    def confirm(self) -> bool:
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
                answer = click.prompt(
                    "Apply these changes? (yes/no)", default="", show_default=False
                )
        # as Terraform: only "yes" applies; anything else changes nothing (and exits 1)
        return answer.strip().lower() == "yes"

    @contextlib.asynccontextmanager
    async def running(
        self, executor: Executor, client: LmsClient, total: int
    ) -> AsyncIterator[None]:
        def stop(count: int) -> None:
            executor.interrupt(at_once=count > 1)

        with signals.current().on_stop(stop):
            async with self.progress.running(executor, client, total=total):
                yield

    def event(self, event: ApplyEvent) -> None:
        self.progress.event(event)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        return signals.current().run(main)


def _unknown_left(pending: int, view: TerminalApplyView) -> int:
    """Nothing more lmsctl can do by itself: creates with an unknown outcome need a person."""
    words = unknown_left_words(pending, command=command_prefix(view.cli), root=view.root)
    click.echo(words, err=True)
    return 1


def _report(run: ApplyRun, view: TerminalApplyView, *, as_json: bool, from_file: bool) -> int:
    """The run's result at its privacy level (addresses of grades name students); creates still
    of unknown outcome keep the exit code non-zero."""
    if run.cancelled:
        click.echo("Apply cancelled.")
        return 1
    result = run.result
    if result is None:  # nothing to carry out
        if as_json:
            click.echo(json.dumps(apply_result_document(ApplyResult()), indent=2))
        if run.pending_unknown:
            return _unknown_left(run.pending_unknown, view)
        if from_file and not as_json:  # (apply of a root has shown its plan: "No changes.")
            click.echo(NO_CHANGES)
        return 0
    if as_json:
        click.echo(json.dumps(run.scrubber.value(apply_result_document(result)), indent=2))
    else:
        command = command_prefix(view.cli)
        for line in apply_report(result, run.scrubber.text, command=command, root=view.root):
            click.echo(line)
    if result.interrupted:
        raise InterruptedError_("apply was interrupted; state holds everything that was done")
    if not result.ok:
        return 1
    return _unknown_left(run.pending_unknown, view) if run.pending_unknown else 0


@click.command(
    "apply",
    epilog=examples(
        "lmsctl apply examples/coursework --sandbox --auto-approve",
        "lmsctl plan examples/coursework --sandbox --out plan.json",
        "lmsctl apply plan.json --sandbox",
        title="Examples (apply at once; or save a plan, review it, then apply exactly that):",
    ),
)
@click.argument(
    "target",
    required=False,
    default=".",
    metavar="[ROOT | PLANFILE]",
    type=click.Path(path_type=Path),
)
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
@output_format("text", "json")
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
    fmt: str,
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
    consents = {Consent.DESTROY_SUBMISSIONS} if allow_destroy_submissions else set()
    if allow_mass_delete:
        consents.add(Consent.MASS_DELETE)
    request = ApplyRequest(
        options=ApplyOptions(parallelism=parallelism, consents=frozenset(consents)),
        auto_approve=auto_approve,
        revert_drift=revert_drift,
        force=force,
        targets=targets,
        allow_frozen=allow_frozen,
        env=os.environ,
    )
    as_json = fmt == "json"
    cli.scrubber = Scrubber(resolve_privacy(None, None, fmt="text", env=os.environ))
    from_file = is_plan_file(target) or target.is_file()
    view = TerminalApplyView(cli, as_json=as_json, root=root if from_file else root or target)

    def options(at: Path) -> WorkspaceOptions:
        return workspace_options(
            cli,
            at,
            command="lmsctl apply",
            rate_limit=rate_limit,
            timeout=timeout,
            lock_timeout=lock_timeout,
            max_in_flight=parallelism,
        )

    # A manifests root is a folder, so any file is read as a plan file (a damaged one is then
    # reported as "not a plan file", not as a root that is not a folder): from_file, above.
    if from_file:
        run = apply_planfile(target, request, view, workspace=options, root=root)
    else:
        run = apply_root(options(root or target), request, view)
    return _report(run, view, as_json=as_json, from_file=from_file)
