"""The light answer of lmsctl's HTTP/1.1 client reads as httpx's answer did: headers by name in
any case, repeats joined, values decoded as httpx decodes them, an error's excerpt from a body
that is not UTF-8, the retry policy's headers; an encoded answer is still decoded by httpx."""

from __future__ import annotations

import asyncio
import zlib

import httpx
import pytest

from lmsctl.client.answer import WireAnswer, answer_of
from lmsctl.client.http11 import Http11Client
from lmsctl.client.policy import RetryPolicy, Verdict, classify_answer
from lmsctl.client.seam import excerpt
from lmsctl.errors import TransportError
from tests.client.test_connection_failures import (
    SECTION,
    _answer,
    _client,
    _port,
    _read_request,
    _serve,
)

RAW = [
    (b"Content-Type", b"application/json"),
    (b"date", b"Wed, 02 Dec 2026 00:05:17 GMT"),
    (b"Set-Cookie", b"a=1"),
    (b"set-cookie", b"b=2"),
    (b"X-RateLimit-Remaining", b"0"),
]


@pytest.mark.parametrize(
    "raw",
    [
        RAW,
        [*RAW, (b"X-Note", "café".encode())],  # UTF-8 beyond ASCII
        [*RAW, (b"X-Note", b"caf\xe9")],  # neither: ISO-8859-1
    ],
    ids=["ascii", "utf-8", "latin-1"],
)
def test_headers_read_in_any_case_with_repeats_joined_as_httpx_reads_them(
    raw: list[tuple[bytes, bytes]],
) -> None:
    ours = WireAnswer(200, raw, b"{}").headers
    theirs = httpx.Response(200, headers=raw, content=b"{}").headers
    for name in ("date", "DATE", "Date", "set-cookie", "SET-COOKIE", "x-note", "X-Note"):
        assert ours.get(name) == theirs.get(name)
    assert ours.get("Set-Cookie") == "a=1, b=2"
    assert ours.get("Retry-After") is None and "retry-after" not in ours and "DATE" in ours
    assert ours["x-ratelimit-remaining"] == "0"
    with pytest.raises(KeyError):
        ours["Retry-After"]


def test_a_limiter_refusal_in_lower_case_headers_is_read_as_one_and_waited_for() -> None:
    raw = [(b"retry-after", b"7"), (b"x-ratelimit-remaining", b"0"), (b"content-length", b"2")]
    answer = WireAnswer(503, raw, b"{}")
    assert classify_answer("POST", answer) is Verdict.RATE_LIMITED  # (not an unknown outcome)
    assert RetryPolicy(min_rate_limit_wait=0.0).rate_limit_wait(answer) == 7.0
    assert classify_answer("POST", WireAnswer(503, raw[1:], b"{}")) is Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("content_type", "body", "shown"),
    [
        ("text/html; charset=iso-8859-1", b"<h1>Caf\xe9 ferm\xe9</h1>", "Café fermé"),
        ("text/html", b"<p>bad \xff byte</p>", "bad \ufffd byte"),  # (replaced, as httpx does)
        ("application/json", b'{"message": "  due_date  must be\\nin the future "}', None),
        ("text/plain", b"", "Service Unavailable"),
    ],
)
def test_an_error_excerpt_is_the_one_httpx_answer_gave(
    content_type: str, body: bytes, shown: str | None
) -> None:
    raw = [(b"Content-Type", content_type.encode())]
    ours = excerpt(WireAnswer(503, raw, body))
    assert ours == excerpt(httpx.Response(503, headers=raw, content=body))
    assert shown is None or ours == shown


def test_an_encoded_answer_is_decoded_by_httpx_and_a_plain_one_is_light() -> None:
    data = b'{"data": {"id": "a1"}}'
    gz = zlib.compressobj(wbits=31)
    gzipped = gz.compress(data) + gz.flush()
    answer = answer_of(200, [(b"content-encoding", b"gzip")], gzipped)
    assert isinstance(answer, httpx.Response) and answer.content == data
    answer = answer_of(200, [(b"Content-Encoding", b"deflate")], zlib.compress(data))
    assert isinstance(answer, httpx.Response) and answer.content == data
    plain = answer_of(200, [(b"content-type", b"application/json")], data)
    assert isinstance(plain, WireAnswer) and plain.json() == {"data": {"id": "a1"}}


def test_over_a_socket_a_plain_answer_is_light_and_a_deflated_one_decoded() -> None:
    body = b'{"data": {"id": "a1", "title": "Essay"}}'
    answers = [
        _answer(200, body, "Content-Type: application/json", "DATE: Wed, 02 Dec 2026 00:05:17 GMT"),
        _answer(200, zlib.compress(body), "Content-Encoding: deflate"),
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for wire in answers:
            await _read_request(reader)
            writer.write(wire)
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await _serve(handler)
        origin = f"http://127.0.0.1:{_port(server)}"
        timeout, limits = httpx.Timeout(5.0), httpx.Limits(max_connections=1)
        async with server, Http11Client(origin, headers={}, timeout=timeout, limits=limits) as h:
            plain = await h.request("GET", f"{origin}/v3.1/x")
            assert isinstance(plain, WireAnswer) and plain.json()["data"]["id"] == "a1"
            assert plain.headers.get("date") == "Wed, 02 Dec 2026 00:05:17 GMT"
            deflated = await h.request("GET", f"{origin}/v3.1/x")
            assert deflated.content == body

    asyncio.run(main())


def test_a_gzip_answer_that_does_not_decode_is_the_failure_it_was() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                writer.write(_answer(200, b"not gzip at all", "Content-Encoding: gzip"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await _serve(handler)
        async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1") as client:
            with pytest.raises(TransportError, match=r"the request failed \(DecodingError\)"):
                await client.get_assignment(SECTION, "a1")
            assert client.stats.requests == 1  # (final: not sent again)

    asyncio.run(main())


def test_a_client_of_a_plain_http_origin_loads_no_trust_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (loading the CA bundle is the costliest part of making a client; plain http needs none)
    def refuse(**_: object) -> object:
        raise AssertionError("a trust store was loaded for plain http")

    monkeypatch.setattr(httpx, "create_ssl_context", refuse)
    Http11Client(
        "http://127.0.0.1:9", headers={}, timeout=httpx.Timeout(1.0), limits=httpx.Limits()
    )
    with pytest.raises(AssertionError, match="trust store"):
        Http11Client(
            "https://127.0.0.1:9", headers={}, timeout=httpx.Timeout(1.0), limits=httpx.Limits()
        )
