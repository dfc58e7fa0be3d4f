"""The async client for Clever's API: LmsClient, its rate limiter, and the factory commands use.

The names are loaded when first used (PEP 562): importing a light module of the package, such
as :mod:`lmsctl.client.concurrency` for a default the CLI shows, does not import httpx, which
commands that never call the API (validate, schema, state) do not need.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

# httpx imports its own command line (httpx._main) with itself when it can, and that brings
# rich and pygments in: 45 ms of every command that calls the API, for a tool lmsctl never
# runs. Marked absent before httpx is first imported, httpx falls back to its stub ``main``.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

if TYPE_CHECKING:
    from lmsctl.client.factory import (
        SandboxConnection,
        SandboxOpener,
        open_client,
        resolve_api_url,
        sandbox_api_url,
    )
    from lmsctl.client.lms import ClientStats, LmsClient, is_loopback
    from lmsctl.client.policy import (
        RetryPolicy,
        Verdict,
        classify_answer,
        is_documented_refusal,
        is_rate_limiter_refusal,
    )
    from lmsctl.client.ratelimit import RateLimiter

#: each exported name -> the module that defines it
_HOMES = {
    "ClientStats": "lms",
    "LmsClient": "lms",
    "RateLimiter": "ratelimit",
    "RetryPolicy": "policy",
    "SandboxConnection": "factory",
    "SandboxOpener": "factory",
    "Verdict": "policy",
    "classify_answer": "policy",
    "is_documented_refusal": "policy",
    "is_loopback": "lms",
    "is_rate_limiter_refusal": "policy",
    "open_client": "factory",
    "resolve_api_url": "factory",
    "sandbox_api_url": "factory",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # (found directly from now on)
    return value


__all__ = [
    "ClientStats",
    "LmsClient",
    "RateLimiter",
    "RetryPolicy",
    "SandboxConnection",
    "SandboxOpener",
    "Verdict",
    "classify_answer",
    "is_documented_refusal",
    "is_loopback",
    "is_rate_limiter_refusal",
    "open_client",
    "resolve_api_url",
    "sandbox_api_url",
]
