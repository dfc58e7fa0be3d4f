"""lmsctl validate: check the manifests offline and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.errors import Severity
from lmsctl.manifest.validate import validate_root
from lmsctl.render.validate import render_validation_json


@click.command(
    "validate",
    epilog="Example: lmsctl validate examples/coursework --format json",
)
@click.argument(
    "root", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@pass_cli
def validate(cli: CliContext, root: Path, fmt: str) -> int:
    """Check the manifests under ROOT (default: .) without contacting the LMS.

    Reports every problem at once, sorted by file and line, as
    FILE:LINE:COL: error: WHERE WHAT (HOW TO FIX). Warnings print but do not fail.
    Exits 1 when there is any error, 0 otherwise.
    """
    report = validate_root(root)
    # in CI, diagnostics name no student (roster references, ids in grade labels)
    scrub = cli.scrubber.text if cli.scrubber is not None else str
    if fmt == "json":
        click.echo(scrub(render_validation_json(report)), nl=False)
        return 0 if report.ok else 1
    for diag in report.diagnostics:
        text = scrub(diag.format())
        if cli.color:
            text = click.style(text, fg="red" if diag.severity is Severity.ERROR else "yellow")
        click.echo(text)
    summary = report.summary()
    if cli.color:
        summary = click.style(summary, fg="green" if report.ok else "red", bold=True)
    click.echo(summary)
    return 0 if report.ok else 1
