"""What every command gets: the global options, and lazily built services."""

from __future__ import annotations

from dataclasses import dataclass

import click


@dataclass
class CliContext:
    """Global options from the ``lmsctl`` group, passed to every command."""

    sandbox: bool = False
    sandbox_db: str | None = None
    api_url: str | None = None
    color: bool = True
    debug: bool = False


pass_cli = click.make_pass_decorator(CliContext, ensure=True)
