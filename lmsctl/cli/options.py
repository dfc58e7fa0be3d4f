"""Reusable click options and the bridge from flags to core options."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lmsctl.addresses import Address, parse_address
from lmsctl.cli.context import CliContext
from lmsctl.client.concurrency import DEFAULT_MAX_IN_FLIGHT
from lmsctl.workspace import WorkspaceOptions

F = TypeVar("F", bound=Callable[..., Any])

root_argument = click.argument(
    "root", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)


class Seconds(click.FloatRange):
    """A number of seconds: a FloatRange that also refuses nan (it passes every bound)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        result = super().convert(value, param, ctx)
        if isinstance(result, float) and math.isnan(result):
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        return result


def _targets(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[Address, ...]:
    from lmsctl.errors import UsageError

    try:
        return tuple(parse_address(v) for v in value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc


def target_option(f: F) -> F:
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        callback=_targets,
        help="Only this assignment (<section>/<key>) or grade (.../grades/<student>); repeatable.",
    )(f)


def format_options(f: F) -> F:
    """--format text|json|markdown and its --json shorthand (as ``fmt`` and ``as_json``)."""
    f = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "markdown"]),
        default="text",
        show_default=True,
        help="Output format.",
    )(f)
    return f


def drift_force_options(f: F) -> F:
    f = click.option(
        "--force",
        is_flag=True,
        help="Overwrite conflicting LMS values (changed both in the manifests and in the LMS).",
    )(f)
    f = click.option(
        "--revert-drift",
        is_flag=True,
        help="Put back manifest values somebody changed in the LMS (default: keep and report).",
    )(f)
    return f


def root_option(f: F) -> F:
    """``--root``, for commands whose positional arguments are something else."""
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="Manifests root (where lmsctl.yaml and the state live).",
    )(f)


def lock_timeout_option(f: F) -> F:
    return click.option(
        "--lock-timeout",
        type=Seconds(min=0),
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help="Wait this long for another run's state lock instead of failing at once.",
    )(f)


def connection_options(f: F) -> F:
    f = lock_timeout_option(f)
    f = click.option(
        "--timeout",
        type=Seconds(min=1),
        default=60.0,
        show_default=True,
        metavar="SECONDS",
        help="HTTP timeout per request (Clever writes can take 15-60 s).",
    )(f)
    f = click.option(
        "--rate-limit",
        type=click.IntRange(min=1),
        default=1200,
        show_default=True,
        metavar="N",
        help="Requests per minute (Clever allows 1200 per token).",
    )(f)
    return f


def progress_printer(enabled: bool) -> Callable[[str, int, int], None] | None:
    """A progress line on stderr, only when it is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None

    def show(what: str, done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\r{what}: {done}/{total}", err=True, nl=False)
        if end:
            click.echo("\r\033[K", err=True, nl=False)

    return show


def workspace_options(
    cli: CliContext,
    root: Path,
    *,
    command: str,
    rate_limit: int = 1200,
    timeout: float = 60.0,
    lock_timeout: float = 0.0,
    progress: bool = True,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> WorkspaceOptions:
    return WorkspaceOptions(
        root=root,
        sandbox=cli.sandbox,
        sandbox_db=cli.sandbox_db,
        api_url=cli.api_url,
        rate_limit=rate_limit,
        timeout=timeout,
        lock_timeout=lock_timeout,
        max_in_flight=max_in_flight,
        command=command,
        progress=progress_printer(progress),
        notice=lambda text: click.echo(f"Warning: {_scrub(cli, text)}", err=True),
        clock=cli.clock,
        open_sandbox=cli.open_sandbox,
    )


def _scrub(cli: CliContext, text: str) -> str:
    return cli.scrubber.text(text) if cli.scrubber is not None else text


def privacy_option(f: F) -> F:
    return click.option(
        "--privacy",
        type=click.Choice(["full", "pseudonymise", "redact"]),
        default=None,
        help="What the output shows of students: full; pseudonymise (keyed pseudonyms from "
        "LMSCTL_PSEUDONYM_KEY, no comments); redact (grade aggregates only). [default: privacy "
        "in lmsctl.yaml, else pseudonymise for --format markdown or when CI is set, else full]",
    )(f)


def allow_frozen_option(f: F) -> F:
    return click.option(
        "--allow-frozen",
        "allow_frozen",
        multiple=True,
        metavar="WINDOW",
        help="Let changes through the policies.freeze window named WINDOW; repeatable.",
    )(f)
