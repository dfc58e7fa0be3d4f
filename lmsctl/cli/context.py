"""What every command gets: the global options, and lazily built services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import click

from lmsctl.privacy import Scrubber
from lmsctl.timeutil import utcnow


@dataclass
class CliContext:
    """Global options from the ``lmsctl`` group, passed to every command."""

    sandbox: bool = False
    sandbox_db: str | None = None
    api_url: str | None = None
    color: bool = True
    debug: bool = False
    #: lmsctl's "now" (freeze windows, past due dates); tests pass another with run(clock=...)
    clock: Callable[[], dt.datetime] = utcnow
    #: what errors and warnings may show of students (set by the privacy level of the run)
    scrubber: Scrubber | None = field(default=None, repr=False)


pass_cli = click.make_pass_decorator(CliContext, ensure=True)
