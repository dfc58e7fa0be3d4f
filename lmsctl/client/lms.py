"""LmsClient: typed, rate-limited, retrying calls to Clever LMS Connect v3.1 and the Data API.

Every httpx error is translated here (the one seam) into lmsctl errors:
- an error status -> ``ApiError`` subclass with Clever's message, the method and the path;
- no usable answer -> ``TransportError``;
- a create whose outcome is unknown -> ``OutcomeUnknownError``.
The token is sent in the Authorization header and appears nowhere else: not in errors, not in
reprs, not in stats.

Retry rules (``classify_answer`` applies them; the tables below are the contract):

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

import asyncio
import contextlib
import datetime as dt
import email.utils
import enum
import html
import ipaddress
import math
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from lmsctl import __version__
from lmsctl.client.ratelimit import RateLimiter
from lmsctl.errors import (
    ApiBadRequestError,
    ApiError,
    ConfigError,
    OutcomeUnknownError,
    TransportError,
    api_error_for,
)

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
MAX_LISTING_RESTARTS = 2


@dataclass
class ClientStats:
    """Counters for benchmarks, tests and the apply summary."""

    requests: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0


def _excerpt(response: httpx.Response) -> str:
    """Clever's message, or a short readable excerpt of an HTML / empty / odd body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = " ".join(str(body["message"]).split())
    else:
        text = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", response.text or "", flags=re.I | re.S)
        text = re.sub(r"<[^>]*>", " ", text)
        text = " ".join(html.unescape(text).split())
    if not text:
        return response.reason_phrase or f"HTTP {response.status_code} with an empty body"
    return text[:200] + ("..." if len(text) > 200 else "")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (plain http is allowed only to these)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Verdict(enum.Enum):
    """What an answer means for the request that got it (see the tables in the docstring)."""

    OK = "ok"  # a 2xx
    RATE_LIMITED = "rate_limited"  # the limiter refused it unprocessed: wait, send again
    RETRY = "retry"  # a transient failure of an idempotent request: back off, send again
    REFUSED = "refused"  # a definite answer: the API refused it (final)
    UNKNOWN = "unknown"  # a POST that may or may not have been carried out


def _message_of(response: httpx.Response) -> str | None:
    """The JSON ``message`` of an answer, whitespace collapsed; None if the body has none."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return " ".join(str(body["message"]).split()).strip('"\u201c\u201d')
    return None


def is_documented_refusal(response: httpx.Response) -> bool:
    """True when the answer's JSON message is one of Clever's documented refusals."""
    text = _message_of(response)
    return text is not None and any(p.fullmatch(text) for p in DOCUMENTED_REFUSALS)


def is_rate_limiter_refusal(response: httpx.Response) -> bool:
    """A 429, or a 503 with the limiter's signature (Retry-After and X-RateLimit-Remaining: 0)."""
    if response.status_code == 429:
        return True
    if response.status_code != 503:
        return False
    remaining = (response.headers.get("X-RateLimit-Remaining") or "").strip()
    return bool((response.headers.get("Retry-After") or "").strip()) and remaining == "0"


def classify_answer(method: str, response: httpx.Response) -> Verdict:
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


def _retry_after(response: httpx.Response, floor: float = MIN_429_WAIT) -> float:
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


class LmsClient:
    """Calls Clever's API for lmsctl. Safe to share between many concurrent tasks."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit: int = 1200,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        allow_insecure: bool = False,
        rng: random.Random | None = None,
        min_rate_limit_wait: float = MIN_429_WAIT,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"API URL {self.base_url!r} is not an http(s) URL")
        if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
            raise ConfigError(
                f"refusing plain http:// for {parts.hostname}: the token would travel unencrypted",
                hint="use https://",
            )
        if not re.fullmatch(r"[\x21-\x7e]+", token):
            # never echo it: say only what is wrong with it
            raise ConfigError(
                "the API token is empty or has characters a bearer token cannot have "
                "(spaces, line breaks or non-ASCII)",
                hint="check how CLEVER_TOKEN was set",
            )
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path
        # an API mounted below a prefix (https://proxy/clever/v3.1): versioned links keep it
        cut = parts.path.rfind("/v3.")
        self._prefix = parts.path[:cut] if cut > 0 else ""
        self._token = token
        self._sleep = sleep
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.min_rate_limit_wait = max(0.0, min_rate_limit_wait)
        self._rng = rng or random.Random()
        self._clock = clock
        self._server_date: tuple[dt.datetime, float] | None = None
        self.limiter = RateLimiter(rate_limit, clock=clock, sleep=sleep)
        self.stats = ClientStats()
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"lmsctl/{__version__}",
            },
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            follow_redirects=False,
            trust_env=transport is None,
        )

    def __repr__(self) -> str:
        return f"LmsClient({self.base_url!r})"

    async def __aenter__(self) -> LmsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            await self._http.aclose()
        except (httpx.HTTPError, OSError) as exc:
            raise TransportError(f"closing the connections failed: {type(exc).__name__}") from exc

    # -- the one seam ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """A path below the base URL, or a ``next`` link (relative to the origin, or absolute)."""
        parts = urlsplit(path)
        if parts.scheme or parts.netloc:
            if f"{parts.scheme}://{parts.netloc}".lower() != self._origin.lower():
                raise TransportError(
                    "refusing to follow a next link to another server "
                    f"({parts.hostname or 'unknown host'}): the token is only sent to the API"
                )
            return path
        if self._base_path and path.startswith(self._base_path + "/"):
            return self._origin + path
        if path.startswith("/v3."):
            return self._origin + self._prefix + path
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def _clean(self, text: str) -> str:
        """Text from the server, with the token blotted out should the server echo it."""
        if self._token and self._token in text:
            text = text.replace(self._token, "[token]")
        return text

    def _note_date(self, response: httpx.Response) -> None:
        text = response.headers.get("Date")
        if not text:
            return
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            when = email.utils.parsedate_to_datetime(text)
            if when.tzinfo is not None:
                self._server_date = (when.astimezone(dt.UTC), self._clock())

    def server_now(self) -> dt.datetime | None:
        """The API's clock (the Date header of its latest answer, moved on by the time since),
        or None before any answer carried one. Clever refuses due dates in the past by its own
        clock, so the plan checks them against this one; the embedded demo sandbox's clock
        runs relative to the examples (see docs/sandbox.md)."""
        if self._server_date is None:
            return None
        when, seen = self._server_date
        return when + dt.timedelta(seconds=max(0.0, self._clock() - seen))

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    async def _wait(self, seconds: float) -> None:
        self.stats.waited_seconds += seconds
        await self._sleep(seconds)

    async def _request(
        self, method: str, path: str, endpoint: str, *, json: Any = None
    ) -> httpx.Response:
        url = self._url(path)
        shown = urlsplit(url).path
        is_post = method == "POST"
        attempt = 0
        limited = 0
        while True:
            self.stats.waited_seconds += await self.limiter.acquire()
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] += 1
            failure: ApiError | TransportError
            try:
                response = await self._http.request(method, url, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # the request never left: safe to retry, even a POST
                failure = TransportError(
                    f"cannot connect to the API ({type(exc).__name__})", method=method, path=shown
                )
                failure.__cause__ = exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                what = (
                    f"no answer within the timeout ({type(exc).__name__})"
                    if isinstance(exc, httpx.TimeoutException)
                    else f"the connection broke before an answer came back ({type(exc).__name__})"
                )
                if is_post:
                    raise OutcomeUnknownError(
                        f"{what}: the create may or may not have been carried out",
                        method=method,
                        path=shown,
                    ) from exc
                failure = TransportError(what, method=method, path=shown)
                failure.__cause__ = exc
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                if is_post:
                    raise OutcomeUnknownError(
                        f"the request failed ({type(exc).__name__}): the create may or may not "
                        "have been carried out",
                        method=method,
                        path=shown,
                    ) from exc
                raise TransportError(
                    f"the request failed ({type(exc).__name__})", method=method, path=shown
                ) from exc
            else:
                self._note_date(response)
                status = response.status_code
                verdict = classify_answer(method, response)
                if verdict is Verdict.OK:
                    return response
                message = self._clean(_excerpt(response))
                if verdict is Verdict.RATE_LIMITED:
                    if limited >= MAX_429_RETRIES:
                        raise api_error_for(status, message, method=method, path=shown)
                    limited += 1
                    self.stats.rate_limited += 1
                    self.limiter.pause_for(_retry_after(response, self.min_rate_limit_wait))
                    continue
                if verdict is Verdict.UNKNOWN:
                    what = (
                        f"the API answered {status} (a redirect, not followed)"
                        if status < 400
                        else f"the API answered {status} ({message})"
                    )
                    raise OutcomeUnknownError(
                        f"{what}: the create may or may not have been carried out",
                        method=method,
                        path=shown,
                    )
                if status < 400:
                    raise TransportError(
                        f"the API answered {status} (a redirect); not followed, so the token "
                        "stays with the configured API URL",
                        method=method,
                        path=shown,
                    )
                if verdict is Verdict.REFUSED:
                    if status == 404 and method == "DELETE" and attempt > 0:
                        return response  # an earlier attempt deleted it; its answer was lost
                    raise api_error_for(status, message, method=method, path=shown)
                failure = api_error_for(status, message, method=method, path=shown)
            if attempt >= self.max_retries:
                raise failure
            attempt += 1
            self.stats.retries += 1
            await self._wait(self._backoff(attempt - 1))

    async def _json(self, method: str, path: str, endpoint: str, *, json: Any = None) -> Any:
        response = await self._request(method, path, endpoint, json=json)
        shown = response.request.url.path
        try:
            return response.json() if response.content else None
        except ValueError as exc:
            if method == "POST":
                raise OutcomeUnknownError(
                    f"the API answered {response.status_code} with a body that is not JSON: "
                    "the create may or may not have been carried out",
                    method=method,
                    path=shown,
                ) from exc
            raise TransportError(
                "the API answered with a body that is not JSON", method=method, path=shown
            ) from exc

    async def _data(
        self, method: str, path: str, endpoint: str, *, json: Any = None
    ) -> dict[str, Any]:
        body = await self._json(method, path, endpoint, json=json)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            shown = urlsplit(self._url(path)).path
            if method == "POST":
                raise OutcomeUnknownError(
                    "the API answered without a data object: the create may or may not have "
                    "been carried out",
                    method=method,
                    path=shown,
                )
            raise TransportError(
                "the API answered without a data object", method=method, path=shown
            )
        return data

    async def _pages(self, path: str, endpoint: str) -> AsyncIterator[list[Any]]:
        """The ``data`` list of each page, following links rel=next until there is none."""
        next_path: str | None = path
        seen_links: set[str] = set()
        while next_path:
            body = await self._json("GET", next_path, endpoint)
            if not isinstance(body, dict) or not isinstance(body.get("data") or [], list):
                raise TransportError(
                    "the API answered a listing without a data list",
                    method="GET",
                    path=urlsplit(self._url(next_path)).path,
                )
            yield list(body.get("data") or [])
            next_path = _next_link(body)
            if next_path is not None:
                if next_path in seen_links:
                    raise TransportError(
                        "the API's next link goes round in a circle",
                        method="GET",
                        path=urlsplit(self._url(next_path)).path,
                    )
                seen_links.add(next_path)

    # -- Data API --------------------------------------------------------------------------------

    async def get_my_district(self) -> dict[str, Any]:
        """The token's own district (GET /districts, first item, unwrapped)."""
        body = await self._json("GET", "/districts", "GET districts")
        items = body.get("data") if isinstance(body, dict) else None
        district = _unwrap(items[0]) if isinstance(items, list) and items else None
        if district is None:
            raise TransportError(
                "the API listed no district for this token",
                method="GET",
                path=urlsplit(self._url("/districts")).path,
            )
        return district

    async def get_district(self, district_id: str) -> dict[str, Any]:
        return await self._data("GET", f"/districts/{_seg(district_id)}", "GET district")

    async def get_section(self, section_id: str) -> dict[str, Any]:
        return await self._data("GET", f"/sections/{_seg(section_id)}", "GET section")

    async def _listing(self, first: str, endpoint: str) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        async for items in self._pages(first, endpoint):
            for item in items:
                obj = _unwrap(item)
                if obj is not None and obj.get("id"):
                    seen.setdefault(str(obj["id"]), obj)
        return list(seen.values())

    async def list_sections(self, limit: int = 10000) -> list[dict[str, Any]]:
        """Every section the token sees (GET /sections, Data API paging, links rel=next)."""
        return await self._listing(f"/sections?limit={int(limit)}", "GET sections")

    async def list_users(self, role: str, limit: int = 10000) -> list[dict[str, Any]]:
        """Every user of the token's district with ``role`` (GET /users?role=)."""
        return await self._listing(f"/users?role={quote(role)}&limit={int(limit)}", "GET users")

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every user of a section with ``role`` (Data API paging, links rel=next)."""
        seen: dict[str, dict[str, Any]] = {}
        first = f"/sections/{_seg(section_id)}/users?role={quote(role)}&limit={int(limit)}"
        async for items in self._pages(first, "GET section users"):
            for item in items:
                user = _unwrap(item)
                if user is not None and user.get("id"):
                    seen.setdefault(str(user["id"]), user)
        return list(seen.values())

    # -- LMS Connect -----------------------------------------------------------------------------

    @staticmethod
    def _assignment(section_id: str, assignment_id: str) -> str:
        return f"/sections/{_seg(section_id)}/assignments/{_seg(assignment_id)}"

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create an assignment; OutcomeUnknownError when the answer does not prove the create
        (see the POST rule table above), including a 2xx whose data object has no id."""
        path = f"/sections/{_seg(section_id)}/assignments"
        data = await self._data("POST", path, "POST assignment", json=body)
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise OutcomeUnknownError(
                "the API answered without the new assignment's id: the create may or may not "
                "have been carried out",
                method="POST",
                path=urlsplit(self._url(path)).path,
            )
        return data

    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        return await self._data(
            "GET", self._assignment(section_id, assignment_id), "GET assignment"
        )

    async def update_assignment(
        self, section_id: str, assignment_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._data(
            "PATCH", self._assignment(section_id, assignment_id), "PATCH assignment", json=body
        )

    async def delete_assignment(self, section_id: str, assignment_id: str) -> None:
        """Delete an assignment; a 404 after a lost answer counts as deleted."""
        await self._request(
            "DELETE", self._assignment(section_id, assignment_id), "DELETE assignment"
        )

    async def list_submissions(
        self, section_id: str, assignment_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every submission of an assignment (next links; restarts if a cursor expired)."""
        first = f"{self._assignment(section_id, assignment_id)}/submissions?limit={int(limit)}"
        restarts = 0
        while True:
            seen: dict[str, dict[str, Any]] = {}
            pages = 0
            try:
                async for items in self._pages(first, "GET submissions"):
                    pages += 1
                    for sub in items:
                        if isinstance(sub, dict):
                            key = str(sub.get("user_id") or sub.get("id") or len(seen))
                            seen.setdefault(key, sub)
                return list(seen.values())
            except ApiBadRequestError as exc:
                if pages and "cursor" in exc.message.lower() and restarts < MAX_LISTING_RESTARTS:
                    restarts += 1
                    continue
                raise

    def _submission(self, section_id: str, assignment_id: str, user_id: str) -> str:
        return f"{self._assignment(section_id, assignment_id)}/submissions/{_seg(user_id)}"

    async def get_submission(
        self, section_id: str, assignment_id: str, user_id: str
    ) -> dict[str, Any]:
        return await self._data(
            "GET", self._submission(section_id, assignment_id, user_id), "GET submission"
        )

    async def update_submission(
        self, section_id: str, assignment_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._data(
            "PATCH",
            self._submission(section_id, assignment_id, user_id),
            "PATCH submission",
            json=body,
        )


def _seg(value: str) -> str:
    """An id as one URL path segment (a '/' or '?' in an id cannot reach another endpoint)."""
    return quote(str(value), safe="")


def _unwrap(item: Any) -> dict[str, Any] | None:
    """A Data API list item ``{"data": {...}}`` (or a bare object) as the object."""
    if not isinstance(item, dict):
        return None
    inner = item.get("data", item)
    return dict(inner) if isinstance(inner, dict) else None


def _next_link(body: dict[str, Any]) -> str | None:
    links = body.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("uri"):
            return str(link["uri"])
    return None


__all__ = [
    "ClientStats",
    "LmsClient",
    "Verdict",
    "classify_answer",
    "is_documented_refusal",
    "is_loopback",
    "is_rate_limiter_refusal",
]
