"""The async client for Clever's API: LmsClient, its rate limiter, and the factory commands use."""

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
