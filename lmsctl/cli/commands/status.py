"""lmsctl status: the district, its LMS, state and lock at a glance."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import carry_flags, examples, hint_command
from lmsctl.cli.options import output_format, root_argument, workspace_options
from lmsctl.render.status import render_status_text, status_document
from lmsctl.usecases.status import read_status


@click.command(
    "status",
    epilog=examples(
        "lmsctl status examples/coursework --sandbox",
        "lmsctl status examples/coursework --sandbox --json",
    ),
)
@root_argument
@output_format("text", "json")
@pass_cli
def status(cli: CliContext, root: Path, fmt: str) -> int:
    """Show the district, its LMS and lms_state, what state under ROOT tracks, and who holds
    the lock.

    It names no student: only counts of grades and assignment addresses.
    """
    report = read_status(workspace_options(cli, root, command="lmsctl status"))
    if fmt == "json":
        click.echo(json.dumps(status_document(report), indent=2))
    else:
        plan = hint_command(cli, "plan", root=root)
        click.echo(carry_flags(cli, render_status_text(report, plan_command=plan)), nl=False)
    return 0
