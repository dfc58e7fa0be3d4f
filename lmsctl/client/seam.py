"""The HTTP seam of the API client: every httpx error and every answer that is not a success
becomes an lmsctl error here, and only here.

``send`` sends a request once: an answer, a failure worth sending again (the request never
left, or an idempotent one got no answer), or it raises (final). ``answer_failure`` does the
same for an answer the retry policy did not accept. A POST (a create) whose outcome cannot be
known raises ``OutcomeUnknownError``: it is never sent again (see :mod:`lmsctl.client.policy`).
"""

from __future__ import annotations

import html
import re
from typing import Any, Protocol

import httpx

from lmsctl.client.answer import ApiAnswer
from lmsctl.client.policy import Verdict
from lmsctl.errors import ApiError, OutcomeUnknownError, TransportError, api_error_for


def outcome_unknown(what: str, *, method: str, path: str) -> OutcomeUnknownError:
    """The error of a create that may or may not have been carried out, and why."""
    return OutcomeUnknownError(
        f"{what}: the create may or may not have been carried out", method=method, path=path
    )


class Sender(Protocol):
    """What sends the client's requests: lmsctl's own HTTP/1.1 client
    (:class:`lmsctl.client.http11.Http11Client`) or an ``httpx.AsyncClient``."""

    async def request(self, method: str, url: str, *, json: Any = None) -> ApiAnswer: ...

    async def aclose(self) -> None: ...


async def send(
    http: Sender, method: str, url: str, shown: str, json: Any
) -> ApiAnswer | TransportError:
    """Send once: the answer, or a failure that may be sent again; raises when final."""
    is_post = method == "POST"
    try:
        return await http.request(method, url, json=json)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # the request never left: safe to retry, even a POST
        failure = TransportError(
            f"cannot connect to the API ({type(exc).__name__})", method=method, path=shown
        )
        failure.__cause__ = exc
        return failure
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        what = (
            f"no answer within the timeout ({type(exc).__name__})"
            if isinstance(exc, httpx.TimeoutException)
            else f"the connection broke before an answer came back ({type(exc).__name__})"
        )
        if is_post:
            raise outcome_unknown(what, method=method, path=shown) from exc
        failure = TransportError(what, method=method, path=shown)
        failure.__cause__ = exc
        return failure
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        what = f"the request failed ({type(exc).__name__})"
        if is_post:
            raise outcome_unknown(what, method=method, path=shown) from exc
        raise TransportError(what, method=method, path=shown) from exc


def answer_failure(
    method: str, shown: str, response: ApiAnswer, verdict: Verdict, message: str
) -> ApiError:
    """The error of an answer that is neither a success nor a rate-limit refusal: raised when
    final (refused, unknown outcome, a redirect), returned when it may be sent again."""
    status = response.status_code
    if verdict is Verdict.UNKNOWN:
        what = (
            f"the API answered {status} (a redirect, not followed)"
            if status < 400
            else f"the API answered {status} ({message})"
        )
        raise outcome_unknown(what, method=method, path=shown)
    if status < 400:
        raise TransportError(
            f"the API answered {status} (a redirect); not followed, so the token "
            "stays with the configured API URL",
            method=method,
            path=shown,
        )
    failure = api_error_for(status, message, method=method, path=shown)
    if verdict is Verdict.REFUSED:
        raise failure
    return failure


def excerpt(response: ApiAnswer) -> str:
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
