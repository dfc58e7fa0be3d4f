"""Printing for commands: renderers chosen by format, warnings, exit codes."""

from __future__ import annotations

from collections.abc import Iterable

import click

from lmsctl.errors import Diagnostic
from lmsctl.plan.model import Plan
from lmsctl.render.document import plan_to_document


def emit_plan(plan: Plan, fmt: str, *, color: bool) -> None:
    doc = plan_to_document(plan)
    if fmt == "json":
        from lmsctl.render.json import render_plan_json

        click.echo(render_plan_json(doc), nl=False)
    elif fmt == "markdown":
        from lmsctl.render.markdown import render_plan_markdown

        click.echo(render_plan_markdown(doc), nl=False)
    else:
        from lmsctl.render.text import render_plan_text

        click.echo(render_plan_text(doc, color=color), nl=False)


def print_warnings(diagnostics: Iterable[Diagnostic], color: bool) -> None:
    for diag in diagnostics:
        text = diag.format()
        click.echo(click.style(text, fg="yellow") if color else text, err=True)


def plan_exit_code(plan: Plan, detailed: bool) -> int:
    if plan.blocking_conflicts:
        return 1
    if detailed:
        # an unknown create outcome needs someone's attention, like a change
        return 2 if plan.has_changes or plan.unknown else 0
    return 0
