"""The command line: global options, lazy command loading, and the single error boundary.

Commands live one per module in ``lmsctl.cli.commands``; each parses its arguments, makes one
core call, renders the result and returns an exit code. Only this package imports click.
"""

from __future__ import annotations

import atexit
import datetime as dt
import gc
import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from lmsctl import __version__, heap
from lmsctl.cli import signals
from lmsctl.cli.context import CliContext
from lmsctl.cli.flags import (
    add_command_flags,
    carry_flags,
    env_flag,
    env_no_color,
    examples,
    group_flags,
)
from lmsctl.errors import LmsctlError
from lmsctl.safetext import escape_controls

if TYPE_CHECKING:
    from lmsctl.privacy import Scrubber

#: Exit codes, the same for every command (as Terraform's): 2 is only ever
#: ``plan --detailed-exitcode``'s "there are changes", so a usage error can never read as changes.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\b
Exit codes:
  0    success (plan --detailed-exitcode: no changes)
  1    any error: bad usage or manifests, API error, conflicts, a failed or stale
       change, apply cancelled at the prompt
  2    plan --detailed-exitcode only: there are changes
  3    plan --detailed-exitcode only: there are changes, some need approval
  130  interrupted (Ctrl-C / SIGTERM); state holds what was done"""

#: command name -> ("module:attribute", one-line help). A command's module is imported only when
#: that command runs (or its own --help is asked for), so ``lmsctl --help`` and ``--version``
#: import none of them; tests/cli/test_startup.py checks each line against the command's help.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "lmsctl.cli.commands.validate:validate",
        "Check the manifests under ROOT without contacting the LMS.",
    ),
    "plan": ("lmsctl.cli.commands.plan:plan", "Show what apply would change in the LMS."),
    "show": ("lmsctl.cli.commands.show:show", "Print a plan saved with plan --out."),
    "apply": ("lmsctl.cli.commands.apply:apply", "Make the LMS match the manifests."),
    "status": (
        "lmsctl.cli.commands.status:status",
        "Show the district, its lms_state, state and the lock.",
    ),
    "import": (
        "lmsctl.cli.commands.import_:import_",
        "Adopt an existing LMS assignment into state (and a manifest).",
    ),
    "state": ("lmsctl.cli.commands.state:state", "Look at or fix what lmsctl tracks, by hand."),
    "force-unlock": (
        "lmsctl.cli.commands.state:force_unlock",
        "Release a state lock left by a run that is gone.",
    ),
    "sandbox": ("lmsctl.cli.commands.sandbox:sandbox", "Run a local emulator of the Clever API."),
    "init": ("lmsctl.cli.commands.init:init", "Write lmsctl.yaml and a file per section."),
    "schema": ("lmsctl.cli.commands.schema:schema", "Write the JSON Schemas manifests follow."),
    "pull": ("lmsctl.cli.commands.pull:pull", "Write edits made in the LMS back into manifests."),
    "ci": ("lmsctl.cli.commands.ci:ci", "Run one pipeline step as the GitHub Action does."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; its own help lists them from
    :data:`COMMANDS` without importing any."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_line) for name, (_, help_line) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return add_command_flags(command)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=examples("lmsctl plan examples/coursework --sandbox") + "\n\n" + EXIT_CODES_HELP,
)
@click.version_option(__version__, "--version", prog_name="lmsctl")
@group_flags
@click.pass_context
def cli(
    ctx: click.Context,
    sandbox: bool | None,
    sandbox_db: str | None,
    api_url: str | None,
    no_color: bool,
    debug: bool,
) -> None:
    """lmsctl: keep coursework and grades as YAML in git, and make the LMS match.

    Plan shows what would change in the LMS (Canvas, Schoology, Google Classroom, through
    Clever LMS Connect); apply makes it so, safely. The API token comes from CLEVER_TOKEN.

    The options below may also follow the command, with the same meaning
    (lmsctl plan --sandbox is lmsctl --sandbox plan).
    """
    obj = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    # --sandbox-db names the embedded sandbox's file, so it implies --sandbox
    obj.sandbox = (
        bool(sandbox or sandbox_db)
        if sandbox is not None or sandbox_db
        else env_flag("LMSCTL_SANDBOX")
    )
    obj.sandbox_db = sandbox_db
    obj.api_url = api_url or os.environ.get("LMSCTL_API_URL") or None
    obj.color = not no_color and not env_no_color() and sys.stdout.isatty()
    obj.debug = debug
    ctx.obj = obj


def _report(exc: LmsctlError, color: bool, scrub: Scrubber, obj: CliContext) -> None:
    for diag in getattr(exc, "diagnostics", ()):
        click.echo(scrub.text(carry_flags(obj, diag.format())), err=True)
    prefix = click.style("Error:", fg="red", bold=True) if color else "Error:"
    text = carry_flags(obj, str(exc))
    click.echo(f"{prefix} {scrub.text(escape_controls(text))}", err=True)


def _debug_report(exc: BaseException, scrub: Scrubber) -> None:
    """--debug in a private run: the traceback, with students scrubbed like all output."""
    import traceback  # lazy: only a --debug report needs it

    text = "".join(traceback.format_exception(exc))
    click.echo(scrub.text(text), err=True, nl=False)


def run(argv: list[str] | None = None, *, clock: Callable[[], dt.datetime] | None = None) -> int:
    """Run the CLI behind the single error boundary; returns the exit code.

    ``clock`` replaces lmsctl's own "now" (used only when the API sends no Date header).
    Errors, diagnostics and ``--debug`` tracebacks obey the run's privacy level: the one the
    command chose, else the environment's default (private whenever ``CI`` is set).
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    debug = "--debug" in args
    color = "--no-color" not in args and not env_no_color() and sys.stderr.isatty()
    obj = CliContext(clock=clock) if clock is not None else CliContext()

    def scrub() -> Scrubber:
        return obj.scrubber

    try:
        with signals.guarded() as guard:  # Ctrl-C and SIGTERM for the command's whole life
            try:
                rv = cli.main(args=args, prog_name="lmsctl", standalone_mode=False, obj=obj)
            except BaseException as exc:
                # a loop the signal stopped (import, pull); asyncio is imported only by the
                # commands that use it, so --help and --version never load it
                aio = sys.modules.get("asyncio")
                if aio is not None and isinstance(exc, aio.CancelledError) and guard.signalled:
                    raise KeyboardInterrupt from None
                raise
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        # click exits 2 on a usage error; 2 means "changes" under --detailed-exitcode
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except LmsctlError as exc:
        if debug and not scrub().choice.private:
            raise
        if debug:
            _debug_report(exc, scrub())
        _report(exc, color, scrub(), obj)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last boundary: never a traceback without --debug
        if debug and not scrub().choice.private:
            raise
        if debug:
            _debug_report(exc, scrub())
        click.echo(
            scrub().text(
                escape_controls(
                    f"Error: internal error: {type(exc).__name__}: {exc} "
                    "(re-run with --debug for details)"
                )
            ),
            err=True,
        )
        return EXIT_ERROR
    return rv if isinstance(rv, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and exit with its code."""
    # At exit the cycle collector walks whatever is left on the heap once more (about half a
    # second after a 100k-grade plan): the command is over, its files were closed by their
    # own `with` blocks, so that last walk is skipped (the other exit handlers and threads run
    # as ever; registered first, this one runs last).
    atexit.register(gc.freeze)
    # the process ends with the command: the manifests, state and plan it builds are kept out
    # of the collector's later passes, which are fewer (lmsctl.heap)
    with heap.console_command():
        code = run(argv)
    sys.exit(code)
