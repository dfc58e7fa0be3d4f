"""lmsctl validate: check the manifests offline and report every problem at once."""

from __future__ import annotations

import os
from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples
from lmsctl.cli.options import output_format, root_argument
from lmsctl.errors import LmsctlError, Severity, UsageError
from lmsctl.manifest.config import load_config
from lmsctl.manifest.validate import validate_root
from lmsctl.privacy import PrivacyChoice, PrivacyLevel, Scrubber, resolve_privacy


@click.command(
    "validate",
    epilog=examples(
        "lmsctl validate examples/coursework", "lmsctl validate examples/coursework --json"
    ),
)
@root_argument
@output_format("text", "json")
@pass_cli
def validate(cli: CliContext, root: Path, fmt: str) -> int:
    """Check the manifests under ROOT (default: .) without contacting the LMS.

    Reports every problem at once, sorted by file and line, as
    FILE:LINE:COL: error: WHERE WHAT (HOW TO FIX). Warnings print but do not fail.
    Exits 1 when there is any error, 0 otherwise.
    """
    report = validate_root(root)
    # in a private run, diagnostics name no student (roster references, ids in grade labels)
    cli.scrubber = Scrubber(_privacy(root))
    scrub = cli.scrubber.text
    if fmt == "json":
        from lmsctl.render.validate import render_validation_json  # (the JSON renderers)

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


def _privacy(root: Path) -> PrivacyChoice:
    """The level of ``privacy:`` in lmsctl.yaml, else the default (private in CI).

    A lmsctl.yaml that does not load is one of the problems validate reports: then the default.
    ``privacy: full`` in CI without the pseudonym key is refused by plan; here it reads as
    redact (pseudonymise without the key), so validate still reports every problem, naming
    no student.
    """
    try:
        configured = load_config(root).privacy
    except LmsctlError:
        configured = None
    try:
        return resolve_privacy(None, configured, fmt="text", env=os.environ)
    except UsageError:
        return PrivacyChoice(PrivacyLevel.REDACT)
