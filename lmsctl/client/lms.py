"""LmsClient: typed, rate-limited, retrying calls to Clever LMS Connect v3.1 and the Data API.

Every httpx error is translated here (the one seam) into lmsctl errors:
- an error status -> ``ApiError`` subclass with Clever's message, the method and the path;
- no usable answer -> ``TransportError``;
- a create whose outcome is unknown -> ``OutcomeUnknownError``.
The token is sent in the Authorization header and appears nowhere else: not in errors, not in
reprs, not in stats.

The retry rules and the POST safety table live in :mod:`lmsctl.client.policy`; the
translation of httpx errors and failed answers in :mod:`lmsctl.client.seam`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import ipaddress
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

import httpx

from lmsctl import __version__, jsonread
from lmsctl.client.answer import ApiAnswer
from lmsctl.client.concurrency import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_TIMEOUT,
    count_request,
    limiter_wait,
)
from lmsctl.client.http11 import Http11Client, proxy_applies
from lmsctl.client.listing import SubmissionListing, read_plan_page
from lmsctl.client.policy import (
    MAX_429_RETRIES,
    MIN_429_WAIT,
    RetryPolicy,
    Verdict,
    classify_answer,
)
from lmsctl.client.ratelimit import RateLimiter
from lmsctl.client.rosterpage import RosterItem, compact_student, read_roster_page, student_of
from lmsctl.client.seam import Sender, answer_failure, excerpt, outcome_unknown, send
from lmsctl.errors import (
    ApiBadRequestError,
    ApiError,
    ConfigError,
    TransportError,
    api_error_for,
)
from lmsctl.roster import compact_user

MAX_LISTING_RESTARTS = 2
#: connections beyond the cap on changes in flight (a listing shared by a phase's changes)
POOL_SPARE = 8
#: connections kept open between requests: beyond this many idle ones a freed connection is
#: closed (a new request opens its own). Reads and fast writes (a few dozen in flight) keep
#: theirs; a burst of a thousand slow writes (60 s each) does not leave a thousand idle sockets
#: behind it. (The pool finds a connection in constant time, whatever the count: see
#: :mod:`lmsctl.client.pool`.)
KEEP_ALIVE = 64


@dataclass
class ClientStats:
    """Counters for benchmarks, tests and the apply summary."""

    requests: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (plain http is allowed only to these)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pool_limits(connections: int) -> httpx.Limits:
    """A pool of ``connections``, with the soft open-file limit raised to hold them (up to the
    hard limit: a default of 1024 would otherwise fail 60 s writes at the rate limit, which
    keep about 1,200 connections open)."""
    try:
        import resource  # (POSIX only)

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = connections + 64  # files, the state's journal, the event loop's own
        if soft != resource.RLIM_INFINITY and soft < wanted:
            top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    except (ImportError, ValueError, OSError):
        pass  # keep the limit as it is: the pool is still sized, the OS refuses sockets late
    return httpx.Limits(
        max_connections=connections, max_keepalive_connections=min(connections, KEEP_ALIVE)
    )


def _checked_url(base_url: str, token: str, *, allow_insecure: bool) -> SplitResult:
    """The API URL's parts, once the URL and the token are fit to use (a ConfigError if not)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"API URL {base_url!r} is not an http(s) URL")
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
    return parts


class LmsClient:
    """Calls Clever's API for lmsctl. Safe to share between many concurrent tasks."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit: int = 1200,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        allow_insecure: bool = False,
        rng: random.Random | None = None,
        min_rate_limit_wait: float = MIN_429_WAIT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        parts = _checked_url(self.base_url, token, allow_insecure=allow_insecure)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path
        # an API mounted below a prefix (https://proxy/clever/v3.1): versioned links keep it
        cut = parts.path.rfind("/v3.")
        self._prefix = parts.path[:cut] if cut > 0 else ""
        self._token = token
        self._sleep = sleep
        #: how often and how long to back off (``min_rate_limit_wait``: the floor of a 429 wait)
        self.policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            min_rate_limit_wait=min_rate_limit_wait,
            rng=rng or random.Random(),
        )
        self._clock = clock
        self._server_date: tuple[dt.datetime, float] | None = None
        self._date_text = ""  # the Date header that _server_date was read from
        self._date_seconds: float | None = None  # that header as Unix seconds (None: unread)
        self.limiter = RateLimiter(rate_limit, clock=clock, sleep=sleep)
        #: the cap on changes (and so requests) in flight; the connection pool is sized from it
        self.max_in_flight = max(1, max_in_flight)
        self.stats = ClientStats()
        self._http: Sender = self._sender(parts, token, transport, timeout)

    def _sender(
        self,
        parts: SplitResult,
        token: str,
        transport: httpx.AsyncBaseTransport | None,
        timeout: float,
    ) -> Sender:
        """What sends the requests: lmsctl's own HTTP/1.1 client, or httpx for a given transport
        or a proxy from the environment."""
        limits = _pool_limits(self.max_in_flight + POOL_SPARE)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"lmsctl/{__version__}",
        }
        # One connection per change in flight (each sends its requests one after another):
        # the pool is never what limits the calls in flight, the adaptive gate is; nor is the
        # process's open-file limit (raised as far as the system allows).
        #: httpx's own pool (through a proxy) reports when a request is written (the
        #: limiter's trace); another transport is taken as sending when asked to
        self._traced = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
        if transport is None and not proxy_applies(parts.scheme):
            # lmsctl's own HTTP/1.1 client (the usual case): it says when a request is written
            return Http11Client(
                self._origin,
                headers=headers,
                timeout=httpx.Timeout(timeout),
                limits=limits,
                sent=self.limiter.mark_sent,
            )
        # a transport given (a test's, the embedded sandbox's), or a proxy from the
        # environment: httpx, whose own transport sends through the proxy
        return httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=limits,
            follow_redirects=False,
            trust_env=transport is None,
            event_hooks={"request": [self._sending]},
        )

    def __repr__(self) -> str:
        return f"LmsClient({self.base_url!r})"

    async def _sending(self, request: httpx.Request) -> None:
        """httpx's hook before a request goes out: its start counts from when it is written to
        its connection (the pool's trace says when), or from now through another transport."""
        if self._traced:
            request.extensions["trace"] = self.limiter.trace
        else:
            self.limiter.mark_sent()

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
        # (a path, the usual case, has no scheme and no host: it is not parsed)
        is_path = path.startswith("/") and not path.startswith("//")
        if not is_path and ((parts := urlsplit(path)).scheme or parts.netloc):
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

    def _shown(self, url: str) -> str:
        """The path of a URL, as errors show it (the query left out: it may hold a cursor)."""
        rest = url[len(self._origin) :]
        if url.startswith(self._origin) and rest[:1] == "/":
            return rest.partition("?")[0].partition("#")[0]
        return urlsplit(url).path

    def _clean(self, text: str) -> str:
        """Text from the server, with the token blotted out should the server echo it."""
        if self._token and self._token in text:
            text = text.replace(self._token, "[token]")
        return text

    def _note_date(self, response: ApiAnswer) -> float | None:
        """Read the answer's Date (for :meth:`server_now`); return it as Unix seconds, or None
        when it has none or one that does not parse (for the rate limiter)."""
        text = response.headers.get("Date")
        if not text:
            return None
        if text == self._date_text:
            return self._date_seconds  # the same second as the answer before: read once
        self._date_text = text
        self._date_seconds = None
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            when = email.utils.parsedate_to_datetime(text)
            if when.tzinfo is not None:
                self._server_date = (when.astimezone(dt.UTC), self._clock())
                self._date_seconds = when.timestamp()
        return self._date_seconds

    def server_now(self) -> dt.datetime | None:
        """The API's clock (the Date header of its latest answer, moved on by the time since),
        or None before any answer carried one. Clever refuses due dates in the past by its own
        clock, so the plan checks them against this one; the embedded demo sandbox's clock
        runs relative to the examples (see docs/sandbox.md)."""
        if self._server_date is None:
            return None
        when, seen = self._server_date
        return when + dt.timedelta(seconds=max(0.0, self._clock() - seen))

    async def _wait(self, seconds: float) -> None:
        self.stats.waited_seconds += seconds
        with limiter_wait():
            await self._sleep(seconds)

    async def _request(
        self, method: str, path: str, endpoint: str, *, json: Any = None
    ) -> ApiAnswer:
        """Send until an answer is final: retries and waits as the policy says, raises the
        seam's error of a failure that is final or was retried too often."""
        url = self._url(path)
        shown = self._shown(url)
        attempt = 0
        limited = 0
        while True:
            with limiter_wait():
                self.stats.waited_seconds += await self.limiter.acquire()
            settled_before = self.limiter.settled  # (the server's count is read against it)
            count_request()
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] += 1
            try:
                answer = await send(self._http, method, url, shown, json)
            finally:
                self.limiter.mark_sent()  # (if the transport never said it was sent)
            failure: ApiError | TransportError
            if isinstance(answer, TransportError):
                self.limiter.answered(None, settled_before)
                failure = answer
            else:
                self.limiter.answered(answer.headers, settled_before, self._note_date(answer))
                verdict = classify_answer(method, answer)
                if verdict is Verdict.OK:
                    return answer
                message = self._clean(excerpt(answer))
                if verdict is Verdict.RATE_LIMITED:
                    if limited >= MAX_429_RETRIES:
                        raise api_error_for(answer.status_code, message, method=method, path=shown)
                    limited += 1
                    self.stats.rate_limited += 1
                    self.limiter.refused()
                    self.limiter.pause_for(self.policy.rate_limit_wait(answer))
                    continue
                if _deleted_before(method, answer, verdict, attempt):
                    return answer  # an earlier attempt deleted it; its answer was lost
                failure = answer_failure(method, shown, answer, verdict, message)
            if attempt >= self.policy.max_retries:
                raise failure
            attempt += 1
            self.stats.retries += 1
            await self._wait(self.policy.backoff(attempt - 1))

    async def _json(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json: Any = None,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """The answer's JSON; ``decode``: a decoder to try first (None: one it cannot read)."""
        response = await self._request(method, path, endpoint, json=json)
        if decode is not None and response.content:
            decoded = decode(response.content)
            if decoded is not None:
                return decoded
        try:
            return jsonread.loads(response.content) if response.content else None
        except ValueError as exc:
            shown = urlsplit(self._url(path)).path
            if method == "POST":
                raise outcome_unknown(
                    f"the API answered {response.status_code} with a body that is not JSON",
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
                raise outcome_unknown(
                    "the API answered without a data object", method=method, path=shown
                )
            raise TransportError(
                "the API answered without a data object", method=method, path=shown
            )
        return data

    async def _pages(
        self, path: str, endpoint: str, decode: Callable[[bytes], Any] | None = None
    ) -> AsyncIterator[list[Any]]:
        """The ``data`` list of each page, following links rel=next until there is none
        (``decode``: as for :meth:`_json`)."""
        next_path: str | None = path
        seen_links: set[str] = set()
        while next_path:
            body = await self._json("GET", next_path, endpoint, decode=decode)
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
        self, section_id: str, role: str = "student", limit: int = 100, *, compact: bool = False
    ) -> list[dict[str, Any]]:
        """Every user of a section with ``role`` (Data API paging, links rel=next); with
        ``compact``, each as ``lmsctl.roster.compact_user`` makes it, its page decoded with just
        those fields (see :mod:`lmsctl.client.rosterpage`)."""
        seen: dict[str, dict[str, Any]] = {}
        first = f"/sections/{_seg(section_id)}/users?role={quote(role)}&limit={int(limit)}"
        decode = read_roster_page if compact else None
        async for items in self._pages(first, "GET section users", decode):
            for item in items:
                if type(item) is RosterItem:
                    student = student_of(item)
                    if student is not None and student.id:
                        key = str(student.id)
                        if key not in seen:
                            seen[key] = compact_student(student)
                    continue
                user = _unwrap(item)
                if user is not None and user.get("id"):
                    key = str(user["id"])
                    if key not in seen:
                        seen[key] = compact_user(user) if compact else user
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
            raise outcome_unknown(
                "the API answered without the new assignment's id",
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
        self,
        section_id: str,
        assignment_id: str,
        limit: int = 100,
        *,
        only: frozenset[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every submission of an assignment (next links; restarts if a cursor expired), one
        per student (the first listed). With ``only``, just those students' submissions, picked
        as each page is read (a district's plan lists every enrolled student's submission of
        every assignment, and compares a few of them), each as the listing's
        ``compact_submission`` makes it: ``user_id`` and the grade fields, texts interned (see
        :mod:`lmsctl.client.listing`)."""
        first = f"{self._assignment(section_id, assignment_id)}/submissions?limit={int(limit)}"
        restarts = 0
        # (a plan's listing, with ``only``, decodes just the fields it reads: see listing.py)
        decode = read_plan_page if only is not None else None
        while True:
            pages = 0
            keep = SubmissionListing(only)
            try:
                async for items in self._pages(first, "GET submissions", decode):
                    pages += 1
                    keep.add(items)
                return keep.result()
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


def _deleted_before(method: str, answer: ApiAnswer, verdict: Verdict, attempt: int) -> bool:
    """A 404 to a DELETE sent again: the first one was carried out (its answer was lost)."""
    return (
        verdict is Verdict.REFUSED
        and answer.status_code == 404
        and method == "DELETE"
        and attempt > 0
    )


def _seg(value: str) -> str:
    """An id as one URL path segment (a '/' or '?' in an id cannot reach another endpoint)."""
    text = str(value)
    if _UNRESERVED.fullmatch(text):  # (what quote leaves as it is: nearly every id)
        return text
    return quote(text, safe="")


#: the characters ``quote`` never encodes (RFC 3986's unreserved ones)
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")


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
    "is_loopback",
]
