"""lmsctl pull: write teachers' edits made in the LMS back into the manifests."""

from __future__ import annotations

from pathlib import Path

import click

from lmsctl.addresses import Address
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import connection_options, root_argument, target_option, workspace_options
from lmsctl.cli.output import print_warnings
from lmsctl.manifest.config import display_path
from lmsctl.pull import EditKind
from lmsctl.pull import pull as pull_edits
from lmsctl.workspace import Workspace


@click.command(
    "pull",
    epilog="\b\nExample (the embedded sandbox; drop --sandbox for Clever):\n"
    "  lmsctl --sandbox pull examples/coursework --dry-run",
)
@root_argument
@target_option
@click.option("--dry-run", is_flag=True, help="Print the diff, write nothing.")
@connection_options
@pass_cli
def pull(
    cli: CliContext,
    root: Path,
    targets: tuple[Address, ...],
    dry_run: bool,
    rate_limit: int,
    timeout: float,
    lock_timeout: float,
) -> int:
    """Write edits made in the LMS back into the manifests under ROOT, and print the diff.

    Values somebody changed in the LMS since lmsctl applied them (drift), and grades set in
    the LMS that the manifests do not hold, go into the section files; comments, key order,
    quoting and every other line stay as they were. Conflicts (changed in both places) are
    reported and left alone. Afterwards plan says No changes for what was pulled.
    """
    options = workspace_options(
        cli,
        root,
        command="lmsctl pull",
        rate_limit=rate_limit,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )
    ws = Workspace.open(options)
    print_warnings(ws.warnings, cli.color)
    with ws:
        result = pull_edits(ws, targets, dry_run=dry_run)
    for change in result.files:
        click.echo(change.diff(), nl=False)
    for skip in result.skipped:
        what = f"{skip.address} {skip.field}".strip()
        click.echo(f"Skipped {what}: {skip.reason}", err=True)
    drift = sum(1 for e in result.edits if e.kind is EditKind.DRIFT)
    grades = sum(1 for e in result.edits if e.kind is EditKind.NEW_GRADE)
    if not result.files:
        click.echo("Nothing to pull: the manifests hold every edit made in the LMS.")
        return 0
    files = ", ".join(display_path(c.path) for c in result.files)
    verb = "Would write" if dry_run else "Wrote"
    values = f"{drift} changed value{'s' * (drift != 1)}"
    new = f"{grades} new grade{'s' * (grades != 1)}"
    click.echo(f"{verb} {values} and {new} into {files}.")
    if not dry_run:
        flags = (
            "--sandbox " if cli.sandbox else (f"--api-url {cli.api_url} " if cli.api_url else "")
        )
        click.echo(
            f"Review and commit them; lmsctl {flags}plan {display_path(root)} shows No changes."
        )
    return 0
