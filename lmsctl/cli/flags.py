"""The global flags (--sandbox, --sandbox-db, --api-url, --no-color, --debug): one definition,
accepted before the command (``lmsctl --sandbox plan``) and after it (``lmsctl plan --sandbox``)
with the same meaning; and the command prefix that makes a printed hint work when pasted.

Light on purpose: ``lmsctl --help`` loads this module, and no command module.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lmsctl.cli.context import CliContext

F = TypeVar("F", bound=Callable[..., Any])

#: marks a command whose global flags were added (commands are module singletons)
_MARK = "_lmsctl_global_flags"


def env_no_color(env: Mapping[str, str] | None = None) -> bool:
    """``NO_COLOR`` turns colours off only when it is set to something (no-color.org):
    ``NO_COLOR=`` (empty) leaves them on."""
    return bool((os.environ if env is None else env).get("NO_COLOR"))


def env_flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(name, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class _Flag:
    decls: tuple[str, ...]
    help: str
    is_flag: bool = True
    metavar: str | None = None
    path: bool = False

    def kwargs(self, **extra: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"help": self.help, **extra}
        if self.is_flag:
            kwargs["is_flag"] = True
        else:
            kwargs["metavar"] = self.metavar
            if self.path:
                kwargs["type"] = click.Path(dir_okay=False)
        return kwargs


_FLAGS: dict[str, _Flag] = {
    "sandbox": _Flag(
        ("--sandbox",),
        "Talk to the embedded Clever API sandbox instead of Clever (also LMSCTL_SANDBOX=1).",
    ),
    "sandbox_db": _Flag(
        ("--sandbox-db",),
        "SQLite file of the embedded sandbox (implies --sandbox) "
        "[default: .lmsctl/sandbox.db under the root].",
        is_flag=False,
        metavar="FILE",
        path=True,
    ),
    "api_url": _Flag(
        ("--api-url",),
        "Clever API base URL (also LMSCTL_API_URL; else api_url in lmsctl.yaml).",
        is_flag=False,
        metavar="URL",
    ),
    "no_color": _Flag(("--no-color",), "Plain output without colours (also a non-empty NO_COLOR)."),
    "debug": _Flag(("--debug",), "Show tracebacks of unexpected errors."),
}


def group_flags(f: F) -> F:
    """The flags on the ``lmsctl`` group itself (before the command), passed to its callback."""
    for name in reversed(list(_FLAGS)):
        extra: dict[str, Any] = {"default": None} if name == "sandbox" else {}
        f = click.option(*_FLAGS[name].decls, name, **_FLAGS[name].kwargs(**extra))(f)
    return f


def _set(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A command-level flag's callback: the same effect on the CliContext as before the command."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if not value:  # (also while completing: the completion reads --sandbox)
            return
        obj = ctx.ensure_object(CliContext)
        if name == "sandbox":
            obj.sandbox = True
        elif name == "sandbox_db":
            obj.sandbox_db, obj.sandbox = str(value), True
        elif name == "api_url":
            obj.api_url = str(value)
        elif name == "no_color":
            obj.color = False
        else:
            obj.debug = True

    return callback


def add_command_flags(command: click.Command) -> click.Command:
    """Let ``command`` (and, for a group, every command under it) take the global flags after
    its name too; the help of each lists them under its own options."""
    if getattr(command, _MARK, False):
        return command
    setattr(command, _MARK, True)
    taken = {opt for p in command.params for opt in getattr(p, "opts", ())}
    for name, flag in _FLAGS.items():
        if not taken.intersection(flag.decls):
            command.params.append(
                click.Option(
                    [*flag.decls, f"global_{name}"],
                    **flag.kwargs(expose_value=False, callback=_set(name)),
                )
            )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_command_flags(sub)
    return command


def connection_flags(cli: CliContext) -> list[str]:
    """The flags that chose this run's LMS and state: --sandbox-db, --sandbox, --api-url."""
    words: list[str] = []
    if cli.sandbox_db:
        words += ["--sandbox-db", cli.sandbox_db]
    elif cli.sandbox:
        words.append("--sandbox")
    if cli.api_url:
        words += ["--api-url", cli.api_url]
    return words


def command_prefix(cli: CliContext) -> str:
    """``lmsctl`` plus :func:`connection_flags`, so that a command printed as a hint talks to
    the same LMS and state when pasted (``lmsctl --sandbox apply plan.json``)."""
    return shlex.join(["lmsctl", *connection_flags(cli)])


def examples(*commands: str, title: str = "") -> str:
    """A help epilog listing example commands one per line, each as it is pasted: a ``\\b``
    paragraph, which click never rewraps (a wrapped command would not run)."""
    heading = title or ("Examples:" if len(commands) > 1 else "Example:")
    return "\b\n" + heading + "\n" + "\n".join(f"  {command}" for command in commands)


#: hints the layers below the CLI write as plain ``lmsctl state rm ADDRESS`` (they know neither
#: this run's flags nor its ROOT): the state commands and force-unlock, with their addresses
#: and ids
_ADDRESS = r"[0-9a-f]{24}/[^\s,;()]*[^\s,;().]"
_UUID = r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
_PLAIN_HINT = re.compile(
    rf"\blmsctl (force-unlock|state (?:list|show|rm|mv))((?: (?:{_ADDRESS}|{_UUID}))*)"
)


def carry_flags(cli: CliContext, text: str) -> str:
    """``text`` with the hints written below the CLI (``lmsctl force-unlock LOCK_ID``,
    ``lmsctl state rm ADDRESS``, ...) as this run's commands: its --sandbox/--api-url flags and
    ROOT added, so that they run as pasted."""
    root = cli.root
    shown_root = f" {shlex.quote(str(root))}" if root is not None and root != Path(".") else ""

    def full(m: re.Match[str]) -> str:
        if shown_root and text.startswith(shown_root, m.end()):
            return m.group(0)  # written with its ROOT already
        return hint_command(cli, m.group(1), *m.group(2).split(), root=root)

    return _PLAIN_HINT.sub(full, text)


def hint_command(cli: CliContext, *words: str, root: Path | None = None) -> str:
    """A command to print as a hint: :func:`command_prefix`, ``words`` (placeholders such as
    ADDRESS stay as they are), and the manifests root last when it is not the current folder."""
    tail = [str(root)] if root is not None and root != Path(".") else []
    return " ".join([command_prefix(cli), *words, *(shlex.quote(w) for w in tail)])
