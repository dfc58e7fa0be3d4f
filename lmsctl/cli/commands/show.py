"""lmsctl show: print a saved plan."""

from __future__ import annotations

import os
from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples
from lmsctl.cli.options import output_format, privacy_option
from lmsctl.cli.output import emit_plan
from lmsctl.plan.planfile import load_plan
from lmsctl.privacy import Scrubber, resolve_privacy


@click.command(
    "show",
    epilog=examples(
        "lmsctl plan examples/coursework --sandbox --out plan.json",
        "lmsctl show plan.json --format markdown",
        title="Example (save a plan, then print it for a pull request):",
    ),
)
@click.argument("planfile", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@output_format("text", "json", "markdown")
@privacy_option
@pass_cli
def show(cli: CliContext, planfile: Path, fmt: str, privacy: str | None) -> int:
    """Print a plan saved with `lmsctl plan --out FILE`, as text, JSON or Markdown.

    The file is the full plan; --privacy says what is shown of students (default:
    pseudonymise for Markdown and when CI is set, else full). In CI, --privacy full needs
    LMSCTL_PSEUDONYM_KEY, the key of whoever may see the full plan.
    """
    choice = resolve_privacy(privacy, None, fmt=fmt, env=os.environ)
    cli.scrubber = Scrubber(choice)
    if choice.notice:
        click.echo(f"Note: {choice.notice}", err=True)
    plan, _ = load_plan(planfile)
    emit_plan(plan, fmt, color=cli.color, privacy=choice)
    return 0
