"""Build the client a command needs: the real API (token from CLEVER_TOKEN) or the sandbox.

The embedded sandbox sits above the client in lmsctl's layers, so the factory never imports it:
the caller (the CLI) passes a ``SandboxOpener`` that connects to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from lmsctl.client.concurrency import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT
from lmsctl.client.lms import LmsClient, is_loopback
from lmsctl.errors import ConfigError
from lmsctl.model import ProjectConfig

SANDBOX_API_URL = "http://sandbox.local/v3.1"
TOKEN_ENV = "CLEVER_TOKEN"


@dataclass(frozen=True)
class SandboxConnection:
    """How a client reaches the embedded sandbox: its token and an in-process transport."""

    token: str
    transport: httpx.AsyncBaseTransport


#: Connects to the embedded sandbox whose database is the given file.
SandboxOpener = Callable[[Path], SandboxConnection]


def sandbox_api_url() -> str:
    """The pseudo base URL of the embedded sandbox (state made with it is bound to it)."""
    return SANDBOX_API_URL


def resolve_api_url(cli_api_url: str | None, config: ProjectConfig) -> str:
    """--api-url, else LMSCTL_API_URL, else lmsctl.yaml's api_url; checked and normalised."""
    url = (cli_api_url or os.environ.get("LMSCTL_API_URL") or config.api_url).strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # both raise ValueError when malformed
    except ValueError as exc:
        raise ConfigError(
            f"API URL {url!r} is not a valid URL ({exc})",
            hint="for example https://api.clever.com/v3.1",
        ) from exc
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise ConfigError(
            f"API URL {url!r} is not an http(s) URL",
            hint="for example https://api.clever.com/v3.1",
        )
    if parts.username is not None or parts.password is not None:
        # it would be stored in state and plan files and shown in messages
        raise ConfigError(
            "the API URL holds a user name or password",
            hint="remove 'user:password@' from it; the token comes from CLEVER_TOKEN only",
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"refusing plain http:// for {parts.hostname}: the token would travel unencrypted",
            hint="use https://, or http:// only for a sandbox on this machine (127.0.0.1)",
        )
    return url


def open_client(
    *,
    config: ProjectConfig,
    root: Path,
    sandbox: bool,
    sandbox_db: str | None,
    api_url: str | None,
    rate_limit: int = 1200,
    timeout: float = DEFAULT_TIMEOUT,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    open_sandbox: SandboxOpener | None = None,
) -> LmsClient:
    """A client for the embedded sandbox (``sandbox``, reached with ``open_sandbox``) or for
    the API named by the options."""
    if sandbox:
        if open_sandbox is None:
            raise ConfigError("the embedded sandbox is not available to this command")
        db = Path(sandbox_db) if sandbox_db else root / ".lmsctl" / "sandbox.db"
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the folder of the sandbox database {db}: "
                f"{exc.strerror or type(exc).__name__}",
                hint="give --sandbox-db a file in a writable folder",
            ) from exc
        sandbox_link = open_sandbox(db)
        return LmsClient(
            SANDBOX_API_URL,
            sandbox_link.token,
            transport=sandbox_link.transport,
            rate_limit=rate_limit,
            timeout=timeout,
            allow_insecure=True,
            max_in_flight=max_in_flight,
        )
    url = resolve_api_url(api_url, config)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"{TOKEN_ENV} is not set",
            hint=f"export {TOKEN_ENV}=<the district-app bearer token>, or use --sandbox to try "
            "lmsctl without Clever",
        )
    return LmsClient(
        url, token, rate_limit=rate_limit, timeout=timeout, max_in_flight=max_in_flight
    )


__all__ = [
    "SandboxConnection",
    "SandboxOpener",
    "open_client",
    "resolve_api_url",
    "sandbox_api_url",
]
