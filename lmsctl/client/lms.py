"""LmsClient: typed, rate-limited, retrying calls to Clever LMS Connect v3.1 and the Data API.

Every httpx error is translated here (the one seam) into lmsctl errors:
- an error status -> ``ApiError`` subclass with Clever's message, the method and the path;
- no usable answer -> ``TransportError``; a create whose answer was lost -> ``OutcomeUnknownError``.
The token is sent in the Authorization header and appears nowhere else: not in errors, not in
reprs, not in stats.

Retry rules: GET, PATCH and DELETE are retried on 429, 5xx, timeouts and broken connections
with exponential backoff and full jitter. A POST is retried only when it surely never reached
the server (the connection was never made, or the server said 429 or 503); any other failure
after sending makes its outcome unknown.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from lmsctl import __version__
from lmsctl.client.ratelimit import RateLimiter
from lmsctl.errors import (
    ApiError,
    ApiNotFoundError,
    OutcomeUnknownError,
    TransportError,
    api_error_for,
)

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
#: statuses that say the server did not process a POST at all
POST_NOT_PROCESSED = frozenset({503})
MAX_429_RETRIES = 10
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
        return str(body["message"])
    text = re.sub(r"<[^>]+>", " ", response.text or "")
    text = " ".join(html.unescape(text).split())
    if not text:
        return response.reason_phrase or f"HTTP {response.status_code} with an empty body"
    return text[:160] + ("..." if len(text) > 160 else "")


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait after a 429: Retry-After, else X-RateLimit-Reset, else 60."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return 60.0


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
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path
        self._sleep = sleep
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = rng or random.Random()
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
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"LmsClient({self.base_url!r})"

    async def __aenter__(self) -> LmsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the one seam ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """A path below the base URL, or a ``next`` link (relative to the origin, or absolute)."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if f"{parts.scheme}://{parts.netloc}" != self._origin:
                raise TransportError(f"refusing to follow a link to another host ({parts.netloc})")
            return path
        if path.startswith("/v3.") or path.startswith(self._base_path + "/"):
            return self._origin + path
        return self.base_url + path

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    async def _request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        url = self._url(path)
        shown = urlsplit(url).path
        is_post = method == "POST"
        attempt = 0
        limited = 0
        while True:
            await self.limiter.acquire()
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] += 1
            failure: LmsctlError_ | None = None
            try:
                response = await self._http.request(method, url, json=json, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # the request never left: safe to retry, even a POST
                failure = TransportError(
                    f"cannot connect to the API: {type(exc).__name__}", method=method, path=shown
                )
                failure.__cause__ = exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                what = (
                    "timed out waiting for an answer"
                    if isinstance(exc, httpx.TimeoutException)
                    else "the connection broke before an answer came back"
                )
                if is_post:
                    raise OutcomeUnknownError(
                        f"{what}: the request may or may not have been carried out",
                        method=method,
                        path=shown,
                    ) from exc
                failure = TransportError(what, method=method, path=shown)
                failure.__cause__ = exc
            except httpx.HTTPError as exc:
                raise TransportError(
                    f"HTTP error: {type(exc).__name__}", method=method, path=shown
                ) from exc
            else:
                status = response.status_code
                if status < 400:
                    return response
                message = _excerpt(response)
                if status == 429 and limited < MAX_429_RETRIES:
                    limited += 1
                    self.stats.rate_limited += 1
                    wait = _retry_after(response)
                    self.stats.waited_seconds += wait
                    self.limiter.pause_for(wait)
                    continue
                if status in RETRYABLE_STATUS:
                    if is_post and status not in POST_NOT_PROCESSED:
                        if status == 500:
                            raise api_error_for(status, message, method=method, path=shown)
                        raise OutcomeUnknownError(
                            f"{status} {message}: the request may or may not have been carried out",
                            method=method,
                            path=shown,
                        )
                    failure = api_error_for(status, message, method=method, path=shown)
                else:
                    if status == 404 and method == "DELETE" and attempt > 0:
                        return response  # an earlier attempt deleted it; its answer was lost
                    raise api_error_for(status, message, method=method, path=shown)
            if attempt >= self.max_retries:
                assert failure is not None
                raise failure
            delay = self._backoff(attempt)
            attempt += 1
            self.stats.retries += 1
            self.stats.waited_seconds += delay
            await self._sleep(delay)

    async def _json(
        self, method: str, path: str, endpoint: str, *, json: Any = None, params: Any = None
    ) -> Any:
        response = await self._request(method, path, endpoint, json=json, params=params)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TransportError(
                "the API answered with a body that is not JSON",
                method=method,
                path=urlsplit(str(response.request.url)).path,
            ) from exc

    async def _data(
        self, method: str, path: str, endpoint: str, *, json: Any = None
    ) -> dict[str, Any]:
        body = await self._json(method, path, endpoint, json=json)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise TransportError("the API answered without a data object", method=method, path=path)
        return data

    # -- Data API --------------------------------------------------------------------------------

    async def get_my_district(self) -> dict[str, Any]:
        """The token's own district (GET /districts)."""
        body = await self._json("GET", "/districts", "GET districts")
        items = body.get("data") if isinstance(body, dict) else None
        if not items:
            raise TransportError("GET /districts listed no district for this token")
        first = items[0]
        return dict(first.get("data", first))

    async def get_district(self, district_id: str) -> dict[str, Any]:
        return await self._data("GET", f"/districts/{district_id}", "GET district")

    async def get_section(self, section_id: str) -> dict[str, Any]:
        return await self._data("GET", f"/sections/{section_id}", "GET section")

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every user of a section with ``role`` (Data API paging, links rel=next)."""
        seen: dict[str, dict[str, Any]] = {}
        path: str | None = f"/sections/{section_id}/users?role={role}&limit={limit}"
        while path:
            body = await self._json("GET", path, "GET section users")
            for item in body.get("data") or []:
                user = item.get("data", item) if isinstance(item, dict) else None
                if isinstance(user, dict) and user.get("id"):
                    seen.setdefault(str(user["id"]), user)
            path = _next_link(body)
        return list(seen.values())

    # -- LMS Connect -----------------------------------------------------------------------------

    def _assignment(self, section_id: str, assignment_id: str) -> str:
        return f"/sections/{section_id}/assignments/{assignment_id}"

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._data(
            "POST", f"/sections/{section_id}/assignments", "POST assignment", json=body
        )

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
        await self._request(
            "DELETE", self._assignment(section_id, assignment_id), "DELETE assignment"
        )

    async def list_submissions(
        self, section_id: str, assignment_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every submission of an assignment (next links; restarts if a cursor expired)."""
        first = f"{self._assignment(section_id, assignment_id)}/submissions?limit={limit}"
        restarts = 0
        while True:
            seen: dict[str, dict[str, Any]] = {}
            path: str | None = first
            try:
                while path:
                    body = await self._json("GET", path, "GET submissions")
                    for sub in body.get("data") or []:
                        if isinstance(sub, dict):
                            seen.setdefault(str(sub.get("user_id")), sub)
                    path = _next_link(body)
                return list(seen.values())
            except ApiError as exc:
                if (
                    exc.status_code == 400
                    and "cursor" in exc.message.lower()
                    and path != first
                    and restarts < MAX_LISTING_RESTARTS
                ):
                    restarts += 1
                    continue
                raise

    async def get_submission(
        self, section_id: str, assignment_id: str, user_id: str
    ) -> dict[str, Any]:
        return await self._data(
            "GET",
            f"{self._assignment(section_id, assignment_id)}/submissions/{user_id}",
            "GET submission",
        )

    async def update_submission(
        self, section_id: str, assignment_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._data(
            "PATCH",
            f"{self._assignment(section_id, assignment_id)}/submissions/{user_id}",
            "PATCH submission",
            json=body,
        )


LmsctlError_ = ApiError | TransportError


def _next_link(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for link in body.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("uri"):
            return str(link["uri"])
    return None


__all__ = ["ApiNotFoundError", "ClientStats", "LmsClient"]
