"""Shell completion of addresses: ``<section>/<key>`` (and ``.../grades/<student>``) and section
ids, read from the state of the root on the command line through the normal state backend.

Click drives completion (``_LMSCTL_COMPLETE=bash_source lmsctl``, see the README); these are
the ``shell_complete`` callbacks of the parameters that take an ADDRESS. They never contact the
LMS, and offer nothing, quietly, when the state cannot be read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem, _resolve_context, split_arg_string

from lmsctl.cli.context import CliContext
from lmsctl.cli.flags import env_flag
from lmsctl.safetext import escape_controls

if TYPE_CHECKING:
    from lmsctl.state.model import StateSnapshot

#: parameters that may hold the manifests root, in the order they are looked at
_ROOT_PARAMS = ("root", "root_flag", "target")


def _words_before_option(ctx: click.Context) -> click.Context:
    """The context of the words typed before the option being completed (``--target <TAB>``).

    Click parses nothing of a command whose last word is an option still waiting for its value,
    so ROOT typed before it is lost; the shell scripts click installs pass the words in
    COMP_WORDS and COMP_CWORD (bash, zsh and fish alike): parse them again without that option.
    """
    words = split_arg_string(os.environ.get("COMP_WORDS", ""))
    try:
        cword = int(os.environ.get("COMP_CWORD", ""))
    except ValueError:
        return ctx
    args = words[1:cword]
    if not args or not args[-1].startswith("-"):
        return ctx
    top = ctx.find_root()
    return _resolve_context(top.command, {"obj": top.obj}, top.info_name or "lmsctl", args[:-1])


def _root_and_sandbox(ctx: click.Context) -> tuple[Path, bool]:
    if not any(ctx.params.get(name) for name in _ROOT_PARAMS):
        ctx = _words_before_option(ctx)
    root = Path(".")
    for name in _ROOT_PARAMS:
        value = ctx.params.get(name)
        if isinstance(value, (str, Path)) and Path(value).is_dir():
            root = Path(value)
            break
    top = ctx.find_root().params
    obj = ctx.find_object(CliContext)  # the flags given after the command set it
    sandbox = bool(
        top.get("sandbox")
        or top.get("sandbox_db")
        or (obj is not None and obj.sandbox)
        or env_flag("LMSCTL_SANDBOX")
    )
    return root, sandbox


def _snapshot(ctx: click.Context) -> StateSnapshot:
    # lazy: the state backends are read only when a shell asks for completions
    from lmsctl.manifest.config import load_config
    from lmsctl.state import open_backend

    root, sandbox = _root_and_sandbox(ctx)
    return open_backend(root, load_config(root), sandbox=sandbox).read()


def address_items(snapshot: StateSnapshot, incomplete: str) -> list[CompletionItem]:
    """What completes ``incomplete``: each tracked assignment's address, the section ids (as
    ``<section>/``) while no ``/`` is typed, and grade addresses once ``.../grades/`` is."""
    items: list[CompletionItem] = []
    if "/grades/" in incomplete:
        for address, record in sorted(snapshot.resources.items()):
            for student in sorted(record.grades):
                grade = f"{address}/grades/{student}"
                if grade.startswith(incomplete):
                    items.append(CompletionItem(grade, help="grade"))
        return items
    if "/" not in incomplete:
        sections = sorted({address.split("/", 1)[0] for address in snapshot.resources})
        items += [
            CompletionItem(f"{s}/", help="section") for s in sections if s.startswith(incomplete)
        ]
    for address, record in sorted(snapshot.resources.items()):
        if address.startswith(incomplete):
            title = record.applied.get("title")
            shown = escape_controls(title) if isinstance(title, str) and title else None
            items.append(CompletionItem(address, help=shown))
    return items


def complete_address(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The ``shell_complete`` callback of every ADDRESS parameter (state show/rm/mv, import,
    plan/apply/pull --target)."""
    try:
        snapshot = _snapshot(ctx)
    except Exception:  # a shell's completion must never fail: offer nothing
        return []
    return address_items(snapshot, incomplete)
