"""Printing for commands: renderers chosen by format, warnings, exit codes."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable

import click

from lmsctl.errors import Diagnostic, LmsctlError
from lmsctl.plan.document import plan_document, plan_to_document
from lmsctl.plan.model import Plan
from lmsctl.privacy import PrivacyChoice, PrivacyLevel, StudentDirectory, privatise_document

#: the exit code of plan --detailed-exitcode when some changes need approval (policies.approval)
EXIT_NEEDS_APPROVAL = 3


def emit_plan(
    plan: Plan,
    fmt: str,
    *,
    color: bool,
    privacy: PrivacyChoice | None = None,
    directory: StudentDirectory | None = None,
    command: str = "lmsctl",
    root: str = "",
) -> None:
    """Render the plan at the privacy level: the one place a plan document meets a renderer.
    ``command`` and ``root`` complete the commands the text suggests (see ``hint_command``)."""
    level = privacy or PrivacyChoice(PrivacyLevel.FULL)
    if fmt == "json":
        from lmsctl.render.json import iter_plan_json

        # streamed: each change is made, made private, written and dropped in turn (never the
        # whole document in memory, nor as one string); an error stops it part-way, exit 1
        _write(
            iter_plan_json(privatise_document(plan_document(plan), level, directory)),
            "JSON document",
        )
        return
    if fmt == "markdown":
        from lmsctl.render.markdown import render_plan_markdown

        doc = privatise_document(plan_to_document(plan), level, directory)
        click.echo(render_plan_markdown(doc), nl=False)
    else:
        from lmsctl.render.text import iter_plan_text

        # the changes lazy: the text renderer reads each once and keeps only its line; the
        # text is written in parts (never the whole plan as one string, nor as its bytes)
        doc = privatise_document(plan_document(plan), level, directory)
        _write(iter_plan_text(doc, color=color, command=command, root=root), "text plan")


def _write(parts: Iterable[str], what: str) -> None:
    """Write the parts to stdout; a write that fails stops the command with exit code 1."""
    try:
        for part in parts:
            click.echo(part, nl=False)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise  # the reader has gone (lmsctl plan --json | head): click exits 1 quietly
        raise LmsctlError(
            f"cannot write the plan to standard output: {exc.strerror or exc} (what was "
            f"written is an incomplete {what})"
        ) from exc


def print_warnings(
    diagnostics: Iterable[Diagnostic], color: bool, scrub: Callable[[str], str] | None = None
) -> None:
    for diag in diagnostics:
        text = diag.format() if scrub is None else scrub(diag.format())
        click.echo(click.style(text, fg="yellow") if color else text, err=True)


def plan_exit_code(plan: Plan, detailed: bool) -> int:
    """1 on conflicts or frozen changes; with ``detailed``: 0 no changes, 2 changes, 3 changes
    of which some need approval (policies.approval)."""
    if plan.blocking_conflicts or plan.blocking_frozen:
        return 1
    if detailed:
        if plan.has_changes and plan.approvals:
            return EXIT_NEEDS_APPROVAL
        # an unknown create outcome needs someone's attention, like a change
        return 2 if plan.has_changes or plan.unknown else 0
    return 0
