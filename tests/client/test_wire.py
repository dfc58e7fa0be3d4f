"""lmsctl's own HTTP/1.1 client over real sockets: the shapes an answer may take on the wire
(chunked, ended by the close, interim, split across reads, trickled), what is sent (a target
percent-encoded as httpx would, the same headers), answers cut short, a server that asks
to close, and a proxy from the environment (then httpx carries the requests)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import httpx
import pytest

from lmsctl.client.http11 import Http11Client
from lmsctl.errors import OutcomeUnknownError
from tests.client.test_connection_failures import (
    SECTION,
    Handler,
    _answer,
    _client,
    _port,
    _read_request,
    _serve,
)

TIMEOUT = httpx.Timeout(5.0)
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)
BODY = json.dumps({"data": {"id": "a1", "title": "Essay"}}).encode()


async def _get_with(handler: Handler, **kw: object) -> tuple[dict[str, object], int]:
    """GET one assignment from a server that runs ``handler``: the answer, and retries."""
    server = await _serve(handler)
    async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1", **kw) as client:
        got = await client.get_assignment(SECTION, "a1")
        return got, client.stats.retries


def _writes(*parts: bytes, pause: float = 0.0, close: bool = False) -> Handler:
    """A handler that reads each request and answers with ``parts``, written one by one."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                for i, part in enumerate(parts):
                    if pause and i:
                        await asyncio.sleep(pause)
                    writer.write(part)
                    await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handler


def test_a_chunked_answer_split_across_many_reads_is_read_whole() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (BODY[:7], BODY[7:20], BODY[20:]))
    wire = head + chunks + b"0\r\n\r\n"
    parts = [wire[i : i + 5] for i in range(0, len(wire), 5)]  # five bytes at a time
    got, retries = asyncio.run(_get_with(_writes(*parts)))
    assert got == {"id": "a1", "title": "Essay"} and retries == 0


def test_an_answer_ended_by_the_close_and_one_after_an_interim_answer_are_read() -> None:
    until_close = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY
    got, _ = asyncio.run(_get_with(_writes(until_close, close=True)))
    assert got["title"] == "Essay"
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    got, retries = asyncio.run(_get_with(_writes(interim + _answer(200, BODY))))
    assert got["id"] == "a1" and retries == 0


def test_an_answer_trickling_in_slower_than_the_timeout_in_all_is_read() -> None:
    # the timeout is for each wait for bytes (as httpx's read timeout), not for the whole answer
    wire = _answer(200, BODY, "Content-Type: application/json")
    parts = [wire[i : i + 20] for i in range(0, len(wire), 20)]
    got, retries = asyncio.run(_get_with(_writes(*parts, pause=0.15), timeout=0.5))
    assert (len(parts) - 1) * 0.15 > 0.5  # (the whole answer takes longer than one timeout)
    assert got["id"] == "a1" and retries == 0


def test_a_create_cut_off_in_the_middle_of_its_answer_has_an_unknown_outcome() -> None:
    cut = _answer(201, BODY, "Content-Type: application/json")[:-10]

    async def main() -> None:
        server = await _serve(_writes(cut, close=True))
        async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1") as client:
            with pytest.raises(OutcomeUnknownError, match="may or may not"):
                await client.create_assignment(SECTION, {"title": "Essay"})
            assert client.stats.retries == 0

    asyncio.run(main())


def test_a_server_that_asks_to_close_gets_the_next_request_on_a_new_connection() -> None:
    connections = 0
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                head, _ = await _read_request(reader)
                heads.append(head)
                writer.write(_answer(200, BODY, "Connection: close"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await _serve(handler)
        async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1") as client:
            for _ in range(3):
                assert (await client.get_assignment(SECTION, "a1"))["id"] == "a1"
            assert client.stats.retries == 0

    asyncio.run(main())
    assert connections == 3 and len(heads) == 3


def test_a_target_with_spaces_or_non_ascii_is_percent_encoded_and_headers_sent_once() -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await _read_request(reader)
        heads.append(head)
        writer.write(_answer(200, BODY))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await _serve(handler)
        origin = f"http://127.0.0.1:{_port(server)}"
        async with (
            server,
            Http11Client(
                origin, headers={"Accept": "application/json"}, timeout=TIMEOUT, limits=LIMITS
            ) as http,
        ):
            answer = await http.request("GET", f"{origin}/v3.1/sections?cursor=a b&q=é")
            assert answer.status_code == 200 and answer.json()["data"]["id"] == "a1"

    asyncio.run(main())
    request_line, *lines = heads[0].decode("ascii").split("\r\n")
    assert request_line == "GET /v3.1/sections?cursor=a%20b&q=%C3%A9 HTTP/1.1"
    names = [line.split(":")[0].lower() for line in lines if line]
    assert sorted(names) == ["accept", "accept-encoding", "host"]


def test_a_request_to_another_origin_is_refused_before_anything_is_sent() -> None:
    async def main() -> None:
        async with Http11Client(
            "http://127.0.0.1:9", headers={}, timeout=TIMEOUT, limits=LIMITS
        ) as http:
            with pytest.raises(Exception, match=r"only calls http://127\.0\.0\.1:9"):
                await http.request("GET", "http://127.0.0.1:99/v3.1/sections")

    asyncio.run(main())


def test_a_proxy_named_by_the_environment_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await _read_request(reader)
        seen.append(head)
        writer.write(_answer(200, BODY, "Content-Type: application/json"))
        await writer.drain()
        writer.close()

    async def main() -> dict[str, object]:
        server = await _serve(proxy)
        async with server:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_port(server)}")
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            # (nothing listens at the API's own address: only the proxy can answer)
            async with _client("http://127.0.0.1:9/v3.1") as client:
                return await client.get_assignment(SECTION, "a1")

    assert asyncio.run(main())["id"] == "a1"
    assert seen and seen[0].startswith(
        f"GET http://127.0.0.1:9/v3.1/sections/{SECTION}/assignments/a1 HTTP/1.1".encode()
    )


@pytest.mark.parametrize(
    ("how", "error"),
    [("closes", httpx.RemoteProtocolError), ("resets", httpx.ReadError)],
)
def test_an_answer_cut_short_is_a_protocol_error_and_a_reset_a_read_error(
    how: str, error: type[Exception]
) -> None:
    # (what the seam reads in both: the answer was lost; h11 and httpcore name them so too)
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(200, BODY)[:-10])
        await writer.drain()
        if how == "resets":  # (lingering 0 s: the socket closes with an RST, not a goodbye)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async def main() -> None:
        server = await _serve(handler)
        origin = f"http://127.0.0.1:{_port(server)}"
        async with server, Http11Client(origin, headers={}, timeout=TIMEOUT, limits=LIMITS) as h:
            with pytest.raises(error):
                await h.request("GET", f"{origin}/v3.1/sections")

    asyncio.run(main())


def test_a_request_the_server_cannot_take_in_time_is_a_write_timeout_else_it_goes() -> None:
    big = {"description": "x" * 16_000_000}  # (far beyond what the sockets' buffers hold)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(1.0)  # not reading: the client's writes back up
            _, body = await _read_request(reader)
            writer.write(_answer(200, b'{"n": %d}' % len(body)))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def send(timeout: float) -> httpx.Response:
        server = await _serve(handler)
        origin = f"http://127.0.0.1:{_port(server)}"
        limits = httpx.Limits(max_connections=1)
        async with (
            server,
            Http11Client(origin, headers={}, timeout=httpx.Timeout(timeout), limits=limits) as http,
        ):
            return await http.request("POST", f"{origin}/v3.1/x", json=big)

    with pytest.raises(httpx.WriteTimeout):
        asyncio.run(send(0.3))
    answer = asyncio.run(send(5.0))  # the wait for room is within the timeout: all of it goes
    assert answer.status_code == 200 and answer.json()["n"] > 16_000_000


def _answers_after(*delays: float | None) -> Handler:
    """A handler that answers its n-th request after ``delays[n]`` seconds (None: never)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for delay in delays:
                await _read_request(reader)
                if delay is None:
                    await asyncio.sleep(30)
                    return
                await asyncio.sleep(delay)
                writer.write(_answer(200, BODY, "Content-Type: application/json"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handler


async def _two_requests(handler: Handler, timeout: float, pause: float) -> list[object]:
    """Two GETs on one connection, ``pause`` seconds apart: each answer's status, or the
    error's class, with the seconds it took."""
    server = await _serve(handler)
    origin = f"http://127.0.0.1:{_port(server)}"
    loop = asyncio.get_running_loop()
    out: list[object] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with (
        server,
        Http11Client(origin, headers={}, timeout=httpx.Timeout(timeout), limits=limits) as http,
    ):
        for i in range(2):
            if i:
                await asyncio.sleep(pause)
            began = loop.time()
            try:
                answer = await http.request("GET", f"{origin}/v3.1/x")
                out.append((answer.status_code, loop.time() - began))
            except httpx.HTTPError as exc:
                out.append((type(exc), loop.time() - began))
    return out


def test_a_request_after_a_quick_one_still_times_out_when_no_answer_comes() -> None:
    first, second = asyncio.run(_two_requests(_answers_after(0.0, None), 0.4, pause=0.1))
    assert first[0] == 200
    assert second[0] is httpx.ReadTimeout and 0.35 <= second[1] < 2.0  # type: ignore[index]


def test_the_timeout_counts_from_each_request_not_from_the_one_before_it() -> None:
    # the second answer comes 0.5 s after it is asked for, within its 0.8 s timeout, but more
    # than 0.8 s after the first request began
    first, second = asyncio.run(_two_requests(_answers_after(0.0, 0.5), 0.8, pause=0.5))
    assert first[0] == 200 and second[0] == 200  # type: ignore[index]
