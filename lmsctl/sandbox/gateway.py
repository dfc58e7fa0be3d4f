"""The gateway in front of /v3.0 and /v3.1: injected faults, bearer-token auth, the rate limit.

In order: injected faults (latency, dropped connection, 5xx without processing), then bearer-token
auth (401/403), then the fixed one-minute rate limit (429), then the endpoint; the rate-limit
headers go on every answer, and a drop-after fault discards the answer of a processed request and
drops the connection. The test-only control endpoints under /_sandbox/ need no token and never
get faults.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsctl.sandbox.config import FaultConfig
from lmsctl.sandbox.runtime import Sandbox
from lmsctl.sandbox.shapes import message


class ConnectionDropped(Exception):
    """Raised by the app to drop the client's connection (a fault); never reaches a client."""


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = bytes(value).decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""
    return None


async def _drop(send: Send, receive: Receive | None = None) -> None:
    """Drop the connection: start an answer that never completes, then fail.

    Over a socket the server closes the connection mid-answer (the client sees a protocol
    error); in-process, sandbox_transport turns the exception into httpx.RemoteProtocolError.
    Given ``receive``, the request body is read first, so that closing the socket never looks
    like a reset (unread data makes the kernel answer with RST).
    """
    while receive is not None:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            break
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"64")],
    }
    await send(start)
    raise ConnectionDropped("the sandbox dropped this connection (fault injection)")


class After(enum.Enum):
    """What happens to the answer of a processed request (a fault, or not)."""

    ANSWER = "answer"
    DROP = "drop"
    FAIL = "fail"
    GARBLE = "garble"


@dataclass(frozen=True)
class _Roll:
    """The faults one request gets."""

    drop_before: bool = False
    fail: bool = False
    after: After = After.ANSWER


async def _roll(sandbox: Sandbox, faults: FaultConfig, method: str) -> _Roll:
    """Wait the injected latency, then roll the dice for each fault (always in this order, so
    a random seed replays the same faults)."""
    if not (faults.active and faults.applies_to(method)):
        return _Roll()
    latency = faults.latency_for(method)
    if latency is not None:
        await sandbox.config.sleep(sandbox.dice.uniform(*latency))
    drop_before = sandbox.dice.random() < faults.drop_before_rate
    fail = sandbox.dice.random() < faults.fail_rate
    after = After.ANSWER
    if sandbox.dice.random() < faults.drop_after_rate:
        after = After.DROP
    elif sandbox.dice.random() < faults.fail_after_rate:
        after = After.FAIL
    elif sandbox.dice.random() < faults.garble_after_rate:
        after = After.GARBLE
    return _Roll(drop_before, fail, after)


class Gateway:
    """Faults, auth and rate limit in front of the API routes (pure ASGI middleware)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/v3.0/", "/v3.1/")):
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        faults = sandbox.refresh_faults()
        method = scope["method"]
        # the limiter sits in front: a request counts the moment it arrives, and a refusal goes
        # back at once (no injected latency: that is the backend's)
        token = _bearer(scope)
        district = sandbox.store.district_for_token(token) if token else None
        allowed, headers = sandbox.take_rate(token or "", count=bool(token))
        if district is not None and not allowed:
            status = faults.limit_status
            text = "Too Many Requests" if status == 429 else "Service Unavailable"
            await message(status, text, headers)(scope, receive, send)
            return
        roll = await _roll(sandbox, faults, method)
        if roll.drop_before:
            await _drop(send, receive)
        if roll.fail:
            await _fault_answer(faults.fail_status)(scope, receive, send)
            return
        if not token:
            _, headers = sandbox.take_rate("", count=False)
            await message(401, "No authorization provided", headers)(scope, receive, send)
            return
        if district is None:
            await message(403, "Could not authorize token", headers)(scope, receive, send)
            return
        media = _media_type(scope)
        if method in ("POST", "PATCH", "PUT") and media and not _is_json(media):
            # go-openapi's consumer check: only application/json bodies are read
            text = f'unsupported media type "{media}", only [application/json] are allowed'
            await message(415, text, headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["district"] = district
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"date", _http_date(sandbox.now()).encode()))

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg = dict(msg)
                msg["headers"] = [*msg.get("headers", []), *raw_headers]
            await send(msg)

        if roll.after is After.ANSWER:
            await self.app(scope, receive, send_with_headers)
            return

        async def discard(msg: Message) -> None:
            return None

        await self.app(scope, receive, discard)
        if roll.after is After.DROP:
            await _drop(send)
        elif roll.after is After.FAIL:
            await _fault_answer(faults.fail_status, headers)(scope, receive, send)
        else:
            page = "<html><body><h1>Request received</h1><p>Please wait.</p></body></html>"
            answer = Response(page, status_code=200, media_type="text/html", headers=headers)
            await answer(scope, receive, send)


def _media_type(scope: Scope) -> str:
    """The request's Content-Type without parameters, lower case ('' when none was sent)."""
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return bytes(value).decode("latin-1").split(";")[0].strip().lower()
    return ""


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _fault_answer(status: int, headers: dict[str, str] | None = None) -> Response:
    """A 5xx as a proxy or an overloaded backend answers it (never the limiter's signature)."""
    texts = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    text = texts.get(status, "Gateway Timeout" if status == 504 else "Server Error")
    kept = {k: v for k, v in (headers or {}).items() if k != "Retry-After"}
    return message(status, text, kept)


def _http_date(now: dt.datetime) -> str:
    """An HTTP Date header value (RFC 9110 IMF-fixdate) for the sandbox clock's time."""
    return email.utils.format_datetime(now.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)
