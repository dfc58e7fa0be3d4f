"""What every command gets: the global options, and lazily built services."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lmsctl.timeutil import utcnow

if TYPE_CHECKING:  # (the client loads httpx: only commands that talk to the API need it)
    from lmsctl.client.factory import SandboxConnection, SandboxOpener
    from lmsctl.privacy import Scrubber


def embedded_sandbox(db: Path) -> SandboxConnection:
    """The embedded sandbox (--sandbox) on database file ``db``, reached in-process."""
    # lazy: the sandbox (starlette, its seed) loads only when a --sandbox run needs a client
    from lmsctl.client.factory import SandboxConnection
    from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport

    return SandboxConnection(DEMO_TOKEN, sandbox_transport(SandboxConfig(db_path=db)))


@dataclass
class CliContext:
    """Global options from the ``lmsctl`` group, passed to every command."""

    sandbox: bool = False
    sandbox_db: str | None = None
    api_url: str | None = None
    color: bool = True
    debug: bool = False
    #: the manifests root the command was given (hints name it, so that they run as pasted)
    root: Path | None = None
    #: lmsctl's own "now", when the API gives no clock (Workspace.now); run(clock=...) sets it
    clock: Callable[[], dt.datetime] = utcnow
    #: connects a client to the embedded sandbox (the client package cannot import it)
    open_sandbox: SandboxOpener = embedded_sandbox
    #: what errors and warnings may show of students (set by the privacy level of the run;
    #: until a command sets it, the environment's default level: see :attr:`scrubber`)
    _scrubber: Scrubber | None = field(default=None, repr=False)

    @property
    def scrubber(self) -> Scrubber:
        """The run's scrubber; made on first use from the environment's default level (private
        whenever ``CI`` is set), so ``--help`` never loads the privacy module."""
        if self._scrubber is None:
            from lmsctl.privacy import Scrubber, resolve_privacy  # lazy: see above

            self._scrubber = Scrubber(resolve_privacy(None, None, fmt="text", env=os.environ))
        return self._scrubber

    @scrubber.setter
    def scrubber(self, value: Scrubber) -> None:
        self._scrubber = value


pass_cli = click.make_pass_decorator(CliContext, ensure=True)
