"""Reusable click options and the bridge from flags to core options."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from lmsctl.addresses import Address, parse_address
from lmsctl.cli.completion import complete_address
from lmsctl.cli.context import CliContext
from lmsctl.errors import UsageError

if TYPE_CHECKING:
    from lmsctl.workspace import WorkspaceOptions

F = TypeVar("F", bound=Callable[..., Any])

_ROOT_TYPE = click.Path(file_okay=False, path_type=Path)


def merge_root(positional: Path | None, flag: Path | None) -> Path:
    """ROOT given as an argument or as ``--root`` (the older form); both must agree."""
    if positional is not None and flag is not None and positional != flag:
        raise UsageError(
            f"ROOT given twice ({positional} and --root {flag})",
            hint="give the manifests root once, as the last argument",
        )
    return positional or flag or Path(".")


def remember_root(root: Path) -> None:
    """Note the command's ROOT in its CliContext, for hints printed when it fails."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(CliContext) if ctx is not None else None
    if obj is not None:
        obj.root = root


def root_argument(f: F) -> F:
    """``[ROOT]``, the manifests root (default: .), the same on every command; ``--root ROOT``
    is kept as an alias. The command receives ``root``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["root"] = merge_root(kwargs.get("root"), kwargs.pop("root_flag"))
        remember_root(kwargs["root"])
        return f(*args, **kwargs)

    decorated = root_flag_option(wrapper)
    decorated = click.argument("root", required=False, default=None, type=_ROOT_TYPE)(decorated)
    return cast(F, decorated)


def root_flag_option(f: F) -> F:
    """``--root ROOT``, the alias of the ROOT argument (as ``root_flag``)."""
    return click.option(
        "--root",
        "root_flag",
        type=_ROOT_TYPE,
        default=None,
        metavar="ROOT",
        help="Same as the ROOT argument (the older form).",
    )(f)


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
        shell_complete=complete_address,
        help="Only this assignment (<section>/<key>) or grade (.../grades/<student>); repeatable.",
    )(f)


def output_format(*choices: str) -> Callable[[F], F]:
    """``--format`` (one of ``choices``, default text) and ``--json``, the same as
    ``--format json``: the one definition every command that prints data uses. The command
    receives ``fmt`` only."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            as_json, fmt = kwargs.pop("as_json"), kwargs.pop("fmt")
            if as_json and fmt not in (None, "json"):
                raise click.UsageError(f"--json contradicts --format {fmt}: give one of them")
            kwargs["fmt"] = "json" if as_json else (fmt or "text")
            return f(*args, **kwargs)

        decorated = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(
            wrapper
        )
        decorated = click.option(
            "--format",
            "fmt",
            type=click.Choice(list(choices)),
            default=None,
            help="Output format [default: text].",
        )(decorated)
        return cast(F, decorated)

    return decorate


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


def _lock_timeout(f: F, *, checked: bool) -> F:
    """``--lock-timeout``: its one definition (checked here, or passed on as given)."""
    help_text = "Wait this long for another run's state lock instead of failing at once."
    if not checked:
        help_text += " Passed on to plan and apply, which check it: a bad value fails the step."
    return click.option(
        "--lock-timeout",
        type=Seconds(min=0) if checked else str,
        default="0",
        show_default=True,
        metavar="SECONDS",
        help=help_text,
    )(f)


def lock_timeout_option(f: F) -> F:
    """``--lock-timeout SECONDS``, as a float."""
    return _lock_timeout(f, checked=True)


def passed_on_lock_timeout_option(f: F) -> F:
    """``--lock-timeout``, as the string given: for ``lmsctl ci``, which hands it to the plan
    and apply it runs, so a bad value fails the pipeline's step (its outputs and comment say
    so) rather than the whole command."""
    return _lock_timeout(f, checked=False)


def connection_options(f: F) -> F:
    # (imported here: the client's modules bring asyncio, which validate and schema do not need)
    from lmsctl.client.concurrency import DEFAULT_TIMEOUT

    f = lock_timeout_option(f)
    f = click.option(
        "--timeout",
        type=Seconds(min=1),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="HTTP timeout per request (Clever writes can take 15-60 s; a create that times "
        "out has an unknown outcome, so keep it above 60).",
    )(f)
    f = click.option(
        "--rate-limit",
        type=click.IntRange(min=1),
        default=1200,
        show_default=True,
        metavar="N",
        help="Requests per minute (Clever allows 1200 per token). The API's own count "
        "(X-RateLimit-* headers) is followed too, never above this.",
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
    max_in_flight: int | None = None,
) -> WorkspaceOptions:
    """The workspace's options from the flags (``max_in_flight`` None: the client's default)."""
    # lazy: the workspace brings the client and httpx, which validate and schema do not need
    from lmsctl.client.concurrency import DEFAULT_MAX_IN_FLIGHT
    from lmsctl.workspace import WorkspaceOptions

    return WorkspaceOptions(
        root=root,
        sandbox=cli.sandbox,
        sandbox_db=cli.sandbox_db,
        api_url=cli.api_url,
        rate_limit=rate_limit,
        timeout=timeout,
        lock_timeout=lock_timeout,
        max_in_flight=DEFAULT_MAX_IN_FLIGHT if max_in_flight is None else max_in_flight,
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
