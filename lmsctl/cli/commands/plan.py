"""lmsctl plan: show what apply would change in the LMS."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from lmsctl.addresses import Address
from lmsctl.cli import signals
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import command_prefix, examples
from lmsctl.cli.options import (
    allow_frozen_option,
    connection_options,
    drift_force_options,
    output_format,
    privacy_option,
    root_argument,
    target_option,
    workspace_options,
)
from lmsctl.cli.output import emit_plan, plan_exit_code, print_warnings
from lmsctl.errors import UsageError
from lmsctl.plan.model import Plan
from lmsctl.plan.planfile import save_plan
from lmsctl.policy import unknown_windows
from lmsctl.privacy import Scrubber, StudentDirectory, resolve_privacy
from lmsctl.render.notices import plan_file_notice
from lmsctl.workspace import Workspace


async def _plan(
    ws: Workspace,
    *,
    revert_drift: bool,
    force: bool,
    targets: tuple[Address, ...],
    allow_frozen: tuple[str, ...],
) -> tuple[Plan, Mapping[str, tuple[Mapping[str, Any], ...]]]:
    """The plan, and the rosters it read (of the live state, only they are kept for the output:
    the submissions and the state are dropped before the plan is rendered)."""
    try:
        plan, live, _ = await ws.make_plan(
            revert_drift=revert_drift, force=force, targets=targets, allow_frozen=allow_frozen
        )
        return plan, live.rosters
    finally:
        await ws.aclose()


@click.command(
    "plan",
    epilog=examples(
        "lmsctl plan examples/coursework --sandbox --out plan.json",
        "lmsctl plan examples/coursework --sandbox --format markdown --privacy redact",
    ),
)
@root_argument
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to FILE."
)
@output_format("text", "json", "markdown")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 3 when some of them need "
    "approval (policies.approval), 1 on any error (a usage error too, so it never reads as "
    "changes).",
)
@privacy_option
@allow_frozen_option
@target_option
@drift_force_options
@connection_options
@pass_cli
def plan(
    cli: CliContext,
    root: Path,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    privacy: str | None,
    allow_frozen: tuple[str, ...],
    targets: tuple[Address, ...],
    revert_drift: bool,
    force: bool,
    rate_limit: int,
    timeout: float,
    lock_timeout: float,
) -> int:
    """Show what apply would change in the LMS, without changing anything.

    Reads the manifests under ROOT (the last argument; default: .), the state, and only the
    live values it needs; prints creates (+), updates (~), grades to set, deletes (-), drift
    and conflicts (!).
    Exits 1 when there are conflicts (unless --force) or changes inside a freeze window
    (policies.freeze; unless --allow-frozen WINDOW).

    The output shows students at the --privacy level; a plan file saved with --out is always
    the full plan apply needs (mode 0600: keep it out of pull-request comments).
    """
    options = workspace_options(
        cli,
        root,
        command="lmsctl plan",
        rate_limit=rate_limit,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )
    ws = Workspace.open(options)
    choice = resolve_privacy(privacy, ws.desired.config.privacy, fmt=fmt, env=os.environ)
    directory = StudentDirectory()
    directory.add_desired(ws.desired)
    cli.scrubber = Scrubber(choice, directory)
    if choice.notice:
        click.echo(f"Note: {choice.notice}", err=True)
    print_warnings(ws.warnings, cli.color, cli.scrubber.text)
    unknown = unknown_windows(ws.desired.config.policies, allow_frozen)
    if unknown:
        names = ", ".join(w.name for w in ws.desired.config.policies.freeze) or "none"
        raise UsageError(
            f"--allow-frozen {unknown[0]}: no policies.freeze window has that name",
            hint=f"the windows in lmsctl.yaml: {names}",
        )
    with ws:
        result, rosters = signals.current().run(
            _plan(
                ws,
                revert_drift=revert_drift,
                force=force,
                targets=targets,
                allow_frozen=allow_frozen,
            )
        )
    directory.add_rosters(rosters)
    if out is not None:
        save_plan(out, result, sandbox=cli.sandbox)
    emit_plan(
        result,
        fmt,
        color=cli.color,
        privacy=choice,
        directory=directory,
        command=command_prefix(cli),
        root="" if root == Path(".") else shlex.quote(str(root)),
    )
    if out is not None:
        _saved(cli, out, notice=plan_file_notice(str(out), choice, os.environ))
    return plan_exit_code(result, detailed_exitcode)


def _saved(cli: CliContext, out: Path, *, notice: str) -> None:
    """What to do with the plan file, as a command that works when pasted."""
    again = f"{command_prefix(cli)} apply {shlex.quote(str(out))}"
    click.echo(f"Saved the plan to {out}. To carry it out: {again}", err=True)
    if notice:
        click.echo(notice, err=True)
