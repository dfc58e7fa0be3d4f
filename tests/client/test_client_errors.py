"""Errors: every failure becomes an lmsctl error with Clever's message; nothing leaks."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from lmsctl.client.lms import LmsClient, _seg
from lmsctl.errors import (
    ApiBadRequestError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiServerError,
    ApiUnauthorizedError,
    LmsctlError,
    OutcomeUnknownError,
    TransportError,
)
from tests.support.client import (
    ASSIGNMENT,
    SECTION,
    TOKEN,
    USER,
    Script,
    make_client,
    message,
    ok,
    run,
)

Call = Callable[[LmsClient], Awaitable[Any]]

#: every public method, each with arguments that need a page or an object back
CALLS: dict[str, Call] = {
    "get_my_district": lambda c: c.get_my_district(),
    "get_district": lambda c: c.get_district("d1"),
    "get_section": lambda c: c.get_section(SECTION),
    "list_section_users": lambda c: c.list_section_users(SECTION),
    "create_assignment": lambda c: c.create_assignment(SECTION, {"title": "T"}),
    "get_assignment": lambda c: c.get_assignment(SECTION, ASSIGNMENT),
    "update_assignment": lambda c: c.update_assignment(SECTION, ASSIGNMENT, {"title": "T"}),
    "delete_assignment": lambda c: c.delete_assignment(SECTION, ASSIGNMENT),
    "list_submissions": lambda c: c.list_submissions(SECTION, ASSIGNMENT),
    "get_submission": lambda c: c.get_submission(SECTION, ASSIGNMENT, USER),
    "update_submission": lambda c: c.update_submission(SECTION, ASSIGNMENT, USER, {"grade": 1}),
}


def _exc(kind: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def raise_it(request: httpx.Request) -> httpx.Response:
        if issubclass(kind, httpx.RequestError):
            raise kind("boom", request=request)
        raise kind("boom")

    return raise_it


HTTPX_FAILURES = [
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.LocalProtocolError,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.DecodingError,
    httpx.TooManyRedirects,
    httpx.InvalidURL,
]

ODD_ANSWERS = {
    "html 502": lambda r: httpx.Response(
        502, text="<html><body><h1>Bad Gateway</h1></body></html>"
    ),
    "empty 500": lambda r: httpx.Response(500),
    "text 200": lambda r: httpx.Response(200, text="not json"),
    "json list 200": lambda r: httpx.Response(200, json=[1, 2]),
    "null data 200": lambda r: httpx.Response(200, json={"data": None}),
    "links junk 200": lambda r: httpx.Response(200, json={"data": [], "links": "x"}),
    "redirect": lambda r: httpx.Response(302, headers={"Location": "https://evil.test/"}),
    "teapot": lambda r: httpx.Response(418, json={"message": f"bad token {TOKEN}"}),
    "403 echo": lambda r: httpx.Response(403, json={"message": f"Bearer {TOKEN} is invalid"}),
}


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in out:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def _assert_clean(exc: BaseException) -> None:
    assert isinstance(exc, LmsctlError), f"{type(exc).__name__} escaped: {exc!r}"
    assert not isinstance(exc, httpx.HTTPError | httpx.InvalidURL)
    for link in _chain(exc):
        assert TOKEN not in str(link)
        assert TOKEN not in repr(link)
        assert TOKEN not in repr(vars(link)) if hasattr(link, "__dict__") else True


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_httpx_exception_leaks_from_any_public_method(name: str) -> None:
    failures: list[Callable[[httpx.Request], httpx.Response]] = [_exc(k) for k in HTTPX_FAILURES]
    failures += list(ODD_ANSWERS.values())

    async def go() -> None:
        for failure in failures:
            client = make_client(Script(then=failure), max_retries=1)
            try:
                await CALLS[name](client)
            except Exception as exc:  # the point is to see what escapes
                _assert_clean(exc)
            finally:
                await client.aclose()

    run(go())


def test_the_token_appears_nowhere_even_in_logs_stats_and_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen_auth: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers["Authorization"])
        return httpx.Response(401, json={"message": f"token {TOKEN} was not accepted"})

    async def go() -> None:
        async with make_client(handler) as client:
            assert TOKEN not in repr(client)
            with pytest.raises(ApiUnauthorizedError) as info:
                await client.get_section(SECTION)
            _assert_clean(info.value)
            assert "[token]" in str(info.value)
            assert TOKEN not in repr(client.stats)

    run(go())
    assert seen_auth == [f"Bearer {TOKEN}"]
    assert TOKEN not in caplog.text


def test_error_carries_clevers_message_method_and_path_without_query() -> None:
    page = ok([{"user_id": "u1"}], links=[{"rel": "next", "uri": "/v3.1/x/subs?cursor=SECRET"}])

    def handler(request: httpx.Request) -> httpx.Response:
        return message(400, "invalid cursor") if "cursor=" in str(request.url) else page

    script = Script(then=handler)

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(ApiBadRequestError) as info:
                await client.list_submissions(SECTION, ASSIGNMENT)
            assert info.value.message == "invalid cursor"
            assert info.value.method == "GET"
            assert info.value.path == "/v3.1/x/subs"
            assert "cursor=" not in str(info.value)

    run(go())


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ApiBadRequestError),
        (401, ApiUnauthorizedError),
        (403, ApiForbiddenError),
        (404, ApiNotFoundError),
    ],
)
def test_client_errors_are_not_retried(status: int, cls: type[Exception]) -> None:
    script = Script(then=message(status, "NOT_FOUND" if status == 404 else "nope"))

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(cls) as info:
                await client.get_assignment(SECTION, ASSIGNMENT)
            assert str(info.value) == (
                f"GET /v3.1/sections/{SECTION}/assignments/{ASSIGNMENT} -> {status}: "
                + ("NOT_FOUND" if status == 404 else "nope")
            )

    run(go())
    assert script.count == 1


def test_html_and_empty_error_bodies_become_short_readable_messages() -> None:
    page = (
        "<html><head><style>body{color:red}</style><script>var x=1;</script></head>"
        "<body><h1>502 Bad&nbsp;Gateway</h1><p>" + "nginx " * 100 + "</p></body></html>"
    )

    async def go() -> None:
        async with make_client(Script(then=httpx.Response(502, text=page)), max_retries=0) as c:
            with pytest.raises(ApiServerError) as info:
                await c.get_section(SECTION)
            text = info.value.message
            assert text.startswith("502 Bad Gateway nginx")
            assert "<" not in text and "color" not in text and "var x" not in text
            assert len(text) <= 210
        async with make_client(Script(then=httpx.Response(503)), max_retries=0) as c:
            with pytest.raises(ApiServerError) as info:
                await c.get_section(SECTION)
            assert info.value.message == "Service Unavailable"

    run(go())


def test_a_redirect_is_not_followed() -> None:
    script = Script(then=httpx.Response(302, headers={"Location": "https://evil.test/steal"}))

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(TransportError, match="redirect"):
                await client.get_section(SECTION)

    run(go())
    assert [r.url.host for r in script.requests] == ["api.example.test"]


def test_a_create_whose_answer_is_unreadable_has_an_unknown_outcome() -> None:
    async def go() -> None:
        async with make_client(Script(then=httpx.Response(200, text="<html>"))) as client:
            with pytest.raises(OutcomeUnknownError):
                await client.create_assignment(SECTION, {"title": "T"})

    run(go())


def test_ids_cannot_reach_another_endpoint() -> None:
    script = Script(then=ok({"id": "x"}))

    async def go() -> None:
        async with make_client(script) as client:
            await client.get_assignment(SECTION, "../../districts?x=1")

    run(go())
    assert script.requests[0].url.raw_path.decode() == (
        f"/v3.1/sections/{SECTION}/assignments/..%2F..%2Fdistricts%3Fx%3D1"
    )


def test_an_id_in_a_path_is_encoded_as_quote_encodes_it() -> None:
    # (ids of letters, digits and -._~ are used as they are, without quote: the same text)
    rng = random.Random(3)
    alphabet = "aZ09-._~/?#%&= +é\n" + "\u00a0"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        assert _seg(text) == quote(text, safe=""), text
    assert _seg("6a5e000001a0000000000001") == "6a5e000001a0000000000001"
