"""lmsctl pull: write teachers' edits made in the LMS back into the manifests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from lmsctl.addresses import Address
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples, hint_command
from lmsctl.cli.options import (
    connection_options,
    output_format,
    privacy_option,
    root_argument,
    target_option,
    workspace_options,
)
from lmsctl.cli.output import print_warnings
from lmsctl.errors import Diagnostic
from lmsctl.manifest.config import display_path
from lmsctl.privacy import PrivacyChoice, Scrubber, StudentDirectory
from lmsctl.pull import pull_root
from lmsctl.render.json import dumps_for_terminal
from lmsctl.render.pull import EditKind, pull_document, render_pull_text


@click.command(
    "pull",
    epilog=examples(
        "lmsctl pull examples/coursework --sandbox --dry-run",
        "lmsctl pull examples/coursework --sandbox --dry-run --json",
        title="Examples (the embedded sandbox; drop --sandbox for Clever):",
    ),
)
@root_argument
@target_option
@click.option("--dry-run", is_flag=True, help="Print the diff, write nothing.")
@privacy_option
@output_format("text", "json")
@connection_options
@pass_cli
def pull(
    cli: CliContext,
    root: Path,
    targets: tuple[Address, ...],
    dry_run: bool,
    privacy: str | None,
    fmt: str,
    rate_limit: int,
    timeout: float,
    lock_timeout: float,
) -> int:
    """Write edits made in the LMS back into the manifests under ROOT, and print the diff.

    Values somebody changed in the LMS since lmsctl applied them (drift), and grades set in
    the LMS that the manifests do not hold, go into the section files; comments, key order,
    quoting and every other line stay as they were. Conflicts (changed in both places) are
    reported and left alone. Afterwards plan says No changes for what was pulled.

    In a private run (--privacy, privacy: in lmsctl.yaml, or CI) the diff, which names
    students, is replaced by one line per edit with the plan's pseudonyms. --format json
    prints the same as one document (the edits, the files and, at level full, their diffs).
    """
    options = workspace_options(
        cli,
        root,
        command="lmsctl pull",
        rate_limit=rate_limit,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )

    def start(
        choice: PrivacyChoice, directory: StudentDirectory, warnings: Sequence[Diagnostic]
    ) -> None:
        cli.scrubber = Scrubber(choice, directory)
        if choice.notice:
            click.echo(f"Note: {choice.notice}", err=True)
        print_warnings(list(warnings), cli.color, cli.scrubber.text)

    result = pull_root(
        options, targets, dry_run=dry_run, privacy=privacy, fmt=fmt, env=os.environ, start=start
    )
    if fmt == "json":
        click.echo(dumps_for_terminal(pull_document(result, cli.scrubber), indent=2))
        return 0
    out, err = render_pull_text(result, cli.scrubber)
    click.echo(out, nl=False)
    click.echo(err, nl=False, err=True)
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
        plan = hint_command(cli, "plan", display_path(root))
        click.echo(f"Review and commit them; {plan} shows No changes.")
    return 0
