"""lmsctl state list|show|rm|mv|history|restore|migrate|push|rekey|keygen, force-unlock.

None of these talks to the LMS. They read lmsctl.yaml under ROOT (the last argument, or --root;
default: .) to find the state (the sandbox's with --sandbox) and hold the state lock while they
write.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from lmsctl.addresses import Address, parse_address
from lmsctl.cli.completion import complete_address
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples, hint_command
from lmsctl.cli.options import (
    lock_timeout_option,
    merge_root,
    output_format,
    privacy_option,
    remember_root,
    root_argument,
    root_flag_option,
)
from lmsctl.errors import StateError, StateLockedError, UsageError
from lmsctl.manifest.config import load_config
from lmsctl.privacy import Scrubber
from lmsctl.render.json import dumps_for_terminal
from lmsctl.render.state import (
    entry_document,
    history_document,
    listing_document,
    render_entry_text,
    render_history_text,
    render_listing_text,
    render_moved_text,
    render_removed_text,
)
from lmsctl.state import crypto, open_backend
from lmsctl.state.backend import LockInfo, StateBackend, pid_alive
from lmsctl.state.transfer import HistoryBackend, migrate, push, rekey, restore
from lmsctl.usecases.state import (
    StateAccess,
    list_state,
    move_in_state,
    open_state,
    remove_from_state,
    show_state,
)

F = TypeVar("F", bound=Callable[..., Any])


def _backend(cli: CliContext, root: Path, **kw: Any) -> StateBackend:
    """The root's state backend, closed when the command ends (a postgres one holds a
    connection)."""
    backend = open_backend(root, load_config(root), sandbox=cli.sandbox, **kw)
    click.get_current_context().call_on_close(backend.close)
    return backend


def _warn_takeover(lock: LockInfo, cli: CliContext) -> None:
    warning = lock.describe_takeover()
    if warning:
        text = f"Warning: {warning}"
        click.echo(click.style(text, fg="yellow") if cli.color else text, err=True)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _dump(data: dict[str, Any]) -> None:
    """A state document as JSON: keys sorted, except ``format_version``, first as in every
    other document lmsctl prints (docs/json-output.md)."""
    doc = _sorted(data)
    if "format_version" in doc:
        doc = {"format_version": doc.pop("format_version"), **doc}
    click.echo(dumps_for_terminal(doc, indent=2))


_SECTION = "5f1a0c0b8e1d2a0001a00001"
_ROOT = "examples/coursework"


@click.group("state", epilog=examples(f"lmsctl state list {_ROOT} --sandbox"))
def state() -> None:
    """Look at or fix what lmsctl tracks, by hand; nothing changes in the LMS."""


def _open(
    cli: CliContext, root: Path, privacy: str | None = None, fmt: str = "text"
) -> StateAccess:
    """The state, and the run's privacy level: errors from here on obey it too."""
    access = open_state(root, sandbox=cli.sandbox, env=os.environ, privacy=privacy, fmt=fmt)
    # (a postgres backend holds a connection: closed when the command ends)
    click.get_current_context().call_on_close(access.backend.close)
    directory = cli.scrubber.directory if cli.scrubber is not None else None
    cli.scrubber = Scrubber(access.privacy, directory)
    return access


def _students(cli: CliContext, addresses: Sequence[Address]) -> None:
    """The students the addresses name, for the scrubber (an error may repeat them)."""
    if cli.scrubber is not None:
        for address in addresses:
            if address.student is not None:
                cli.scrubber.directory.add(address.student, address.student)


@state.command(
    "list",
    short_help="List the assignments state tracks.",
    epilog=examples(f"lmsctl state list {_ROOT} --sandbox", f"lmsctl state list {_ROOT} --json"),
)
@root_argument
@output_format("text", "json")
@pass_cli
def list_(cli: CliContext, root: Path, fmt: str) -> int:
    """List every assignment in state under ROOT, with its status, LMS id and number of grades."""
    listing = list_state(_open(cli, root))
    if fmt == "json":
        _dump(listing_document(listing))
    else:
        click.echo(render_listing_text(listing), nl=False)
    return 0


@state.command(
    "show",
    short_help="Show what state holds for an address.",
    epilog=examples(f"lmsctl state show {_SECTION}/hw-01 {_ROOT} --sandbox --format json"),
)
@click.argument("address", shell_complete=complete_address)
@root_argument
@output_format("text", "json")
@privacy_option
@pass_cli
def show_(cli: CliContext, address: str, root: Path, fmt: str, privacy: str | None) -> int:
    """Show what state holds for ADDRESS: an assignment, or one grade (.../grades/<student>),
    in the state under ROOT.

    Students show at the --privacy level (as in plans: pseudonyms and no grade comments in CI).
    """
    parsed = parse_address(address)
    _students(cli, [parsed])
    access = _open(cli, root, privacy, fmt)
    assert cli.scrubber is not None
    if access.privacy.notice:
        click.echo(f"Note: {access.privacy.notice}", err=True)
    doc = entry_document(show_state(access, parsed), cli.scrubber)
    if fmt == "json":
        _dump(doc)
    else:
        click.echo(render_entry_text(doc, command=hint_command(cli), root=_shown(root)), nl=False)
    return 0


@state.command(
    "rm",
    short_help="Forget addresses (nothing is deleted in the LMS).",
    epilog=examples(f"lmsctl state rm {_SECTION}/hw-01 {_ROOT} --sandbox"),
)
@click.argument(
    "words", nargs=-1, required=True, metavar="ADDRESS... [ROOT]", shell_complete=complete_address
)
@root_flag_option
@lock_timeout_option
@pass_cli
def rm(cli: CliContext, words: tuple[str, ...], root_flag: Path | None, lock_timeout: float) -> int:
    """Forget each ADDRESS (an assignment, or one grade) in the state under ROOT; nothing is
    deleted in the LMS.

    ROOT, when given, is the last argument, after at least one ADDRESS: an argument that is
    not an address (<section id>/<key>[/grades/<student id>]) is read as ROOT.
    """
    addresses, given_root = _addresses_and_root(words)
    root = merge_root(given_root, root_flag)
    remember_root(root)
    parsed = [parse_address(a) for a in addresses]
    _students(cli, parsed)
    access = _open(cli, root)
    removed = remove_from_state(
        access,
        parsed,
        lock_timeout=lock_timeout,
        on_takeover=lambda lock: _warn_takeover(lock, cli),
    )
    assert cli.scrubber is not None
    click.echo(
        render_removed_text(
            removed,
            cli.scrubber,
            import_command=hint_command(cli, "import", "ADDRESS", "ASSIGNMENT_ID", root=root),
        ),
        nl=False,
    )
    return 0


@state.command(
    "mv",
    short_help="Re-address an assignment (a key rename).",
    epilog=examples(f"lmsctl state mv {_SECTION}/hw-01 {_SECTION}/homework-01 {_ROOT} --sandbox"),
)
@click.argument("old", shell_complete=complete_address)
@click.argument("new", shell_complete=complete_address)
@root_argument
@lock_timeout_option
@pass_cli
def mv(cli: CliContext, old: str, new: str, root: Path, lock_timeout: float) -> int:
    """Re-address an assignment in state (a key rename within its section); the LMS is unchanged."""
    old_address, new_address = parse_address(old), parse_address(new)
    moved = move_in_state(
        _open(cli, root),
        old_address,
        new_address,
        lock_timeout=lock_timeout,
        on_takeover=lambda lock: _warn_takeover(lock, cli),
    )
    click.echo(render_moved_text(moved, old_address, new_address), nl=False)
    return 0


@click.command(
    "force-unlock",
    epilog=examples(f"lmsctl force-unlock 0b1e7c3a-5d2f-4a8e-9c61-7f3d2b1a0e94 {_ROOT} --sandbox"),
)
@click.argument("lock_id")
@root_argument
@pass_cli
def force_unlock(cli: CliContext, lock_id: str, root: Path) -> int:
    """Release the state lock LOCK_ID of the state under ROOT, left by a run that is gone
    (never one still running)."""
    backend = _backend(cli, root)
    held = backend.current_lock()
    if (
        held is not None
        and held.id == lock_id
        and held.host == socket.gethostname()
        and held.pid != os.getpid()
        and pid_alive(held.pid)
    ):
        raise StateLockedError(
            f"the run holding lock {lock_id} (`{held.command}` by {held.holder} since "
            f"{held.created}) is still running on this machine (pid {held.pid}); two runs at "
            "once could both write grades and state",
            hint=f"let it finish, or stop it first (Ctrl-C or kill {held.pid})",
        )
    backend.force_unlock(lock_id)
    who = f" held by {held.holder} (pid {held.pid}, `{held.command}`)" if held else ""
    click.echo(f"Released the state lock {lock_id}{who} on {backend.description}.")
    return 0


@state.command(
    "history",
    short_help="List the kept versions of the state (postgres).",
    epilog=examples(f"lmsctl state history {_ROOT} --json"),
)
@root_argument
@output_format("text", "json")
@pass_cli
def history(cli: CliContext, root: Path, fmt: str) -> int:
    """List the kept versions of the state, newest first: one per run that wrote it."""
    backend = _backend(cli, root)
    if not isinstance(backend, HistoryBackend):
        raise StateError(
            f"{backend.description} keeps no history (only the previous version, as .backup)",
            hint="the postgres backend keeps the last versions: state: {backend: postgres}",
        )
    versions = backend.history()
    if fmt == "json":
        _dump(history_document(backend.description, versions))
    else:
        restore = hint_command(cli, "state", "restore", "SERIAL", root=root)
        click.echo(render_history_text(backend.description, versions, restore), nl=False)
    return 0


@state.command(
    "restore",
    short_help="Make a kept version current again (postgres).",
    epilog=examples(f"lmsctl state restore 41 {_ROOT}"),
)
@click.argument("serial", type=click.IntRange(min=1))
@root_argument
@lock_timeout_option
@pass_cli
def restore_(cli: CliContext, serial: int, root: Path, lock_timeout: float) -> int:
    """Make version SERIAL (from state history) the current state; nothing changes in the LMS."""
    done = restore(_backend(cli, root), serial, lock_timeout=lock_timeout)
    click.echo(
        f"Restored version {done.version} of {done.target} as serial {done.serial} "
        f"({done.changed} assignment record(s) changed). Nothing changed in the LMS: run plan "
        "to see what differs now."
    )
    return 0


@state.command(
    "migrate",
    short_help="Copy state to the other backend.",
    epilog=examples(
        f"LMSCTL_PG_DSN=postgresql://ci@db/lmsctl lmsctl state migrate --to postgres {_ROOT}"
    ),
)
@click.option(
    "--to",
    "to",
    type=click.Choice(["postgres", "local"]),
    required=True,
    help="The backend to copy the state to (its settings come from state: in lmsctl.yaml).",
)
@click.option("--force", is_flag=True, help="Overwrite a target that already holds a state.")
@root_argument
@lock_timeout_option
@pass_cli
def migrate_(cli: CliContext, to: str, force: bool, root: Path, lock_timeout: float) -> int:
    """Copy the state from the configured backend to --to; the source is left untouched."""
    source = _backend(cli, root)
    target = _backend(cli, root, kind=to)
    done = migrate(source, target, force=force, lock_timeout=lock_timeout)
    click.echo(
        f"Copied {done.assignments} assignment(s) and {done.grades} grade(s) (lineage "
        f"{done.lineage}, serial {done.serial}) from {done.source} to {done.target}"
        + (", replacing the state it held" if done.replaced else "")
        + f". {done.source} is unchanged."
    )
    click.echo(
        f"Set state: {{backend: {to}}} in lmsctl.yaml to use it; keep the old state until "
        "a plan against the new one shows what you expect."
    )
    return 0


@state.command(
    "push",
    short_help="Store a recovery file left by a failed save.",
    epilog=examples(
        f"lmsctl state push {_ROOT}/.lmsctl/recovery-20261201T101500123456Z.json {_ROOT}"
    ),
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Push even though another run wrote to the state since."
)
@root_argument
@lock_timeout_option
@pass_cli
def push_(cli: CliContext, file: Path, force: bool, root: Path, lock_timeout: float) -> int:
    """Store the results a run could not save (FILE) into the state it came from."""
    done = push(_backend(cli, root), file, force=force, lock_timeout=lock_timeout)
    own = (
        f" The state was {done.own_versions} version(s) ahead of the file, written by the run "
        "that wrote the file (a save reached the database but its answer did not reach the run)."
        if done.own_versions
        else ""
    )
    click.echo(
        f"Pushed {done.records} assignment record(s) from {done.file} into {done.target} "
        f"(serial {done.serial}), and removed the file.{own} Run plan (or apply) again to finish."
    )
    return 0


@state.command(
    "rekey",
    short_help="Encrypt the state, or re-encrypt it under a new key.",
    epilog=examples(
        "lmsctl state keygen > state.key",
        f'LMSCTL_STATE_KEY="$(cat state.key)" lmsctl state rekey {_ROOT}',
        "lmsctl state keygen > new.key",
        'LMSCTL_STATE_KEY="$(cat state.key)" LMSCTL_STATE_NEW_KEY="$(cat new.key)" '
        f"lmsctl state rekey {_ROOT}",
        title="Examples (encrypt state kept in clear, then rotate its key; store each key as a "
        "secret, and use the new one as LMSCTL_STATE_KEY afterwards):",
    ),
)
@click.option(
    "--decrypt", is_flag=True, help="Store the state in clear again (turns encryption off)."
)
@root_argument
@lock_timeout_option
@pass_cli
def rekey_(cli: CliContext, decrypt: bool, root: Path, lock_timeout: float) -> int:
    """Re-encrypt every state record (and the backup, history and recovery files) at once.

    The state is read with LMSCTL_STATE_KEY (unset: it is in clear). It is written under
    LMSCTL_STATE_NEW_KEY when that is set, else under LMSCTL_STATE_KEY (which encrypts what is
    still in clear), or in clear with --decrypt. Atomic: an interrupted rekey leaves the state
    readable, and running it again with the same keys finishes it.
    """
    new_key = crypto.key_from_environment(crypto.NEW_KEY_ENV)
    if decrypt and new_key is not None:
        raise UsageError(f"--decrypt stores the state in clear: unset {crypto.NEW_KEY_ENV}")
    target = None if decrypt else new_key or crypto.key_from_environment(crypto.KEY_ENV)
    if target is None and not decrypt:
        raise UsageError(
            f"no key to encrypt with: set {crypto.NEW_KEY_ENV} (to rotate) or "
            f"{crypto.KEY_ENV} (to encrypt state kept in clear)",
            hint="make a key with: lmsctl state keygen",
        )
    done = rekey(_backend(cli, root), target, lock_timeout=lock_timeout)
    if done.new_kid is None:
        click.echo(
            f"Stored {done.target} in clear ({done.rewritten} part(s) rewritten). "
            f"Unset {crypto.KEY_ENV} from now on."
        )
    else:
        click.echo(
            f"Encrypted {done.target} under key id {done.new_kid} ({done.rewritten} part(s) "
            "rewritten)."
        )
        if done.old_kid != done.new_kid and new_key is not None:
            click.echo(
                f"Set {crypto.KEY_ENV} to the new key (the value of {crypto.NEW_KEY_ENV}) from "
                "now on: the old key no longer reads this state. Plan files made before the "
                "rekey still need the old key: make them again."
            )
    return 0


@state.command(
    "keygen",
    short_help="Print a new random key for LMSCTL_STATE_KEY.",
    epilog=examples(
        "lmsctl state keygen > state.key", title="Example (then store it as a secret):"
    ),
)
def keygen() -> int:
    """Print a new random 256-bit key (base64) for LMSCTL_STATE_KEY or LMSCTL_STATE_NEW_KEY."""
    click.echo(crypto.StateKey.generate().export())
    return 0


def _shown(root: Path) -> str:
    """ROOT as hints repeat it: nothing for the current folder."""
    return "" if root == Path(".") else shlex.quote(str(root))


def _addresses_and_root(words: Sequence[str]) -> tuple[list[str], Path | None]:
    """``state rm ADDRESS... [ROOT]``: the last word is ROOT when it is not an address (and
    follows one); any other word that is not an address is an error, as before."""
    if len(words) > 1 and not _is_address(words[-1]):
        return list(words[:-1]), Path(words[-1])
    return list(words), None


def _is_address(word: str) -> bool:
    try:
        parse_address(word)
    except UsageError:
        return False
    return True
