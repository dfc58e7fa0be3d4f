"""lmsctl show: print a saved plan."""

from __future__ import annotations

from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import format_options
from lmsctl.cli.output import emit_plan
from lmsctl.plan.planfile import load_plan


@click.command("show", epilog="Example: lmsctl show plan.json --format markdown")
@click.argument("planfile", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@format_options
@pass_cli
def show(cli: CliContext, planfile: Path, fmt: str, as_json: bool) -> int:
    """Print a plan saved with `lmsctl plan --out FILE`, as text, JSON or Markdown."""
    plan, _ = load_plan(planfile)
    emit_plan(plan, "json" if as_json else fmt, color=cli.color)
    return 0
