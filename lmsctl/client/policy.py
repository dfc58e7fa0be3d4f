"""The retry policy of the API client: what each answer means, and how long to wait.

The rules (``classify_answer`` applies them; the tables below are the contract):

GET, PATCH and DELETE are idempotent: they are retried on 429, on 500/502/503/504 and on
timeouts and broken connections, with exponential backoff and full jitter. A 5xx whose body is
a documented refusal (see ``DOCUMENTED_REFUSALS``) is final: sending it again cannot help.

POST (create an assignment) has no idempotency key and the API has no list endpoint, so a create
sent twice is a duplicate assignment in front of students. Once a POST has left, only an answer
that proves what happened is trusted::

    answer to a POST                                 verdict
    -----------------------------------------------  -----------------------------------------
    never sent: ConnectError, ConnectTimeout,        not sent: send again after a backoff
      PoolTimeout
    2xx with a JSON body {"data": {...}}             created
    2xx with any other body (HTML, empty, no data)   UNKNOWN
    3xx (never followed: the token stays put)        UNKNOWN
    429                                              rate limited: wait as told, send again
    503 from the API's own rate limiter (below)      rate limited: wait as told, send again
    any other 4xx                                    refused (final, nothing was created)
    5xx whose JSON message is a documented refusal   refused (final, nothing was created)
    any other 5xx: 500, 502, 503, 504, ...           UNKNOWN
    timeout or broken connection after sending       UNKNOWN

UNKNOWN raises ``OutcomeUnknownError``: the executor marks the address ``unknown`` in state,
never re-creates it, and every later plan shows the two ways out (``lmsctl import ADDRESS ID``
if it exists in the LMS, ``lmsctl state rm ADDRESS`` if it does not).

A 5xx proves nothing about a POST: a proxy or gateway in front of a slow backend can answer 500,
502, 503 or 504 after the backend carried out the create. The one 503 that proves the request was
not processed is the rate limiter's own refusal, told apart by its headers: Clever's limiter
sends ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (research
notes, section 2). A 503 counts as the limiter's refusal only when it carries *both*
``Retry-After`` and ``X-RateLimit-Remaining: 0`` (the limiter refuses only an exhausted window,
and says when to come back). Rate-limit headers alone are not enough: the limiter adds them to
every answer that passes through it, a backend's 503 included.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import math
import random
import re
import time
from dataclasses import dataclass, field

from lmsctl.client.answer import ApiAnswer

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
#: Clever's documented refusals (reference/lms-connect-api-errors.txt, and the Schoology
#: messages of the research notes), matched against the whole JSON ``message`` with its
#: whitespace collapsed. A 5xx carrying one of them is final: the API refused the request, so
#: nothing was created and retrying cannot help.
DOCUMENTED_REFUSALS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.S)
    for p in (
        r"missing required field\(s\): .+",
        r"request body is required, but was empty",
        r"due_date must be in the future",
        r"[Ii]nvalid character .+",
        r"validation failure list: .+",
        r"INVALID_ID",
        r"NOT_FOUND: Person with id .+ not found for this integration\.",
        r"parsing time .+",
        r"MISSING_REQUIRED_FIELD",
        r"no valid users found in .+",
        r"Schoology does not support submission type of link",
        # Schoology: the student has not opened the app yet (PATCH of a submission)
        r"Error updating submission",
    )
)
MAX_429_RETRIES = 10
#: a 429 whose reset time already passed still waits this long (no hammering); LmsClient takes
#: its own floor (``min_rate_limit_wait``) so tests against a fast fake limiter stay fast
MIN_429_WAIT = 1.0


class Verdict(enum.Enum):
    """What an answer means for the request that got it (see the tables in the docstring)."""

    OK = "ok"  # a 2xx
    RATE_LIMITED = "rate_limited"  # the limiter refused it unprocessed: wait, send again
    RETRY = "retry"  # a transient failure of an idempotent request: back off, send again
    REFUSED = "refused"  # a definite answer: the API refused it (final)
    UNKNOWN = "unknown"  # a POST that may or may not have been carried out


def _message_of(response: ApiAnswer) -> str | None:
    """The JSON ``message`` of an answer, whitespace collapsed; None if the body has none."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return " ".join(str(body["message"]).split()).strip('"\u201c\u201d')
    return None


def is_documented_refusal(response: ApiAnswer) -> bool:
    """True when the answer's JSON message is one of Clever's documented refusals."""
    text = _message_of(response)
    return text is not None and any(p.fullmatch(text) for p in DOCUMENTED_REFUSALS)


def is_rate_limiter_refusal(response: ApiAnswer) -> bool:
    """A 429, or a 503 with the limiter's signature (Retry-After and X-RateLimit-Remaining: 0)."""
    if response.status_code == 429:
        return True
    if response.status_code != 503:
        return False
    remaining = (response.headers.get("X-RateLimit-Remaining") or "").strip()
    return bool((response.headers.get("Retry-After") or "").strip()) and remaining == "0"


def classify_answer(method: str, response: ApiAnswer) -> Verdict:
    """The verdict the rule tables give an answer to a request with ``method``.

    A 2xx POST answer is OK here; whether its body proves the create is checked where the body
    is read (a non-JSON body or one without a data object is UNKNOWN there).
    """
    status = response.status_code
    if 200 <= status < 300:
        return Verdict.OK
    if is_rate_limiter_refusal(response):
        return Verdict.RATE_LIMITED
    is_post = method.upper() == "POST"
    if status < 400:
        return Verdict.UNKNOWN if is_post else Verdict.REFUSED
    if status < 500:
        return Verdict.REFUSED
    if is_documented_refusal(response):
        return Verdict.REFUSED
    if is_post:
        return Verdict.UNKNOWN
    return Verdict.RETRY if status in RETRYABLE_STATUS else Verdict.REFUSED


def retry_after(response: ApiAnswer, floor: float = MIN_429_WAIT) -> float:
    """Seconds to wait after a 429: Retry-After, else X-RateLimit-Reset, else 60 (at least
    ``floor``)."""
    wait = 60.0
    value = (response.headers.get("Retry-After") or "").strip()
    reset = (response.headers.get("X-RateLimit-Reset") or "").strip()
    if value:
        try:
            wait = float(value)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                # the HTTP-date form
                wait = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    elif reset:
        with contextlib.suppress(ValueError):
            wait = float(reset) - time.time()
    if not math.isfinite(wait):
        wait = 60.0
    return max(floor, wait)


@dataclass
class RetryPolicy:
    """How often and how long a client backs off: exponential backoff with full jitter for
    transient failures, and at least ``min_rate_limit_wait`` after a 429."""

    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    min_rate_limit_wait: float = MIN_429_WAIT
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.min_rate_limit_wait = max(0.0, self.min_rate_limit_wait)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1`` of a transient failure."""
        return self.rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def rate_limit_wait(self, response: ApiAnswer) -> float:
        """Seconds every request waits after this rate-limit refusal."""
        return retry_after(response, self.min_rate_limit_wait)


__all__ = [
    "RetryPolicy",
    "Verdict",
    "classify_answer",
    "is_documented_refusal",
    "is_rate_limiter_refusal",
]
