"""lmsctl status: the district, its LMS, state and lock at a glance."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import root_argument, workspace_options
from lmsctl.render.status import render_status_text, status_document
from lmsctl.usecases.status import read_status


@click.command("status", epilog="Example: lmsctl --sandbox status examples/coursework")
@root_argument
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_cli
def status(cli: CliContext, root: Path, as_json: bool) -> int:
    """Show the district, its LMS and lms_state, what state tracks, and who holds the lock.

    It names no student: only counts of grades and assignment addresses.
    """
    report = read_status(workspace_options(cli, root, command="lmsctl status"))
    if as_json:
        click.echo(json.dumps(status_document(report), indent=2))
    else:
        click.echo(render_status_text(report), nl=False)
    return 0
