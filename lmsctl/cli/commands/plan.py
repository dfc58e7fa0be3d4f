"""lmsctl plan: show what apply would change in the LMS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lmsctl.addresses import Address
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import (
    connection_options,
    drift_force_options,
    format_options,
    root_argument,
    target_option,
    workspace_options,
)
from lmsctl.cli.output import emit_plan, plan_exit_code, print_warnings
from lmsctl.plan.model import Plan
from lmsctl.plan.planfile import save_plan
from lmsctl.workspace import Workspace


async def _plan(ws: Workspace, **kwargs: object) -> Plan:
    try:
        plan, _, _ = await ws.make_plan(**kwargs)  # type: ignore[arg-type]
        return plan
    finally:
        await ws.aclose()


@click.command(
    "plan",
    epilog="Example: lmsctl --sandbox plan examples/coursework --out plan.json",
)
@root_argument
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to FILE."
)
@format_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on any error "
    "(a usage error too, so it never reads as changes).",
)
@target_option
@drift_force_options
@connection_options
@pass_cli
def plan(
    cli: CliContext,
    root: Path,
    out: Path | None,
    fmt: str,
    as_json: bool,
    detailed_exitcode: bool,
    targets: tuple[Address, ...],
    revert_drift: bool,
    force: bool,
    rate_limit: int,
    timeout: float,
    lock_timeout: float,
) -> int:
    """Show what apply would change in the LMS, without changing anything.

    Reads the manifests under ROOT (default: .), the state, and only the live values it needs;
    prints creates (+), updates (~), grades to set, deletes (-), drift and conflicts (!).
    Exits 1 when there are conflicts (unless --force).
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
    print_warnings(ws.warnings, cli.color)
    with ws:
        result = asyncio.run(_plan(ws, revert_drift=revert_drift, force=force, targets=targets))
    if out is not None:
        save_plan(out, result, sandbox=cli.sandbox)
    emit_plan(result, "json" if as_json else fmt, color=cli.color)
    if out is not None:
        click.echo(f"Saved the plan to {out}. To carry it out: lmsctl apply {out}", err=True)
    return plan_exit_code(result, detailed_exitcode)
