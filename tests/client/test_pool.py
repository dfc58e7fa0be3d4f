"""The client's connection pool over real sockets: connections are reused, never more are open
than the limit, a connection the server closed is not used again, a request that waits too long
for a connection never left (so it is sent again), and a request given up frees its place."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest

from lmsctl.client.http11 import Http11Client
from lmsctl.client.lms import LmsClient

SECTION = "6a5e00000101000000000101"
BODY = json.dumps({"data": {"id": SECTION, "name": "Algebra"}}).encode()


class Server:
    """A keep-alive HTTP/1.1 server that counts connections, and those open at once."""

    def __init__(self, *, delay: float = 0.0, close_after: int = 0) -> None:
        self.delay = delay
        #: close each connection after this many answers (0: keep it open)
        self.close_after = close_after
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        answered = 0
        try:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
                writer.write(head + BODY)
                await writer.drain()
                answered += 1
                if self.close_after and answered >= self.close_after:
                    return
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v3.1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def _client(url: str, *, in_flight: int, **kw: object) -> LmsClient:
    async def no_sleep(_: float) -> None:
        return None

    options: dict[str, object] = {"max_retries": 2, "sleep": no_sleep, "timeout": 5.0}
    options.update(kw)
    return LmsClient(url, "tok-1", max_in_flight=in_flight, **options)  # type: ignore[arg-type]


def _http(url: str, limits: httpx.Limits, timeout: httpx.Timeout | None = None) -> Http11Client:
    """lmsctl's HTTP/1.1 client, alone (the origin of ``url``)."""
    origin = url.split("/v3.1")[0]
    return Http11Client(origin, headers={}, timeout=timeout or httpx.Timeout(5), limits=limits)


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_requests_one_after_another_use_one_connection() -> None:
    async def go() -> None:
        server = Server()
        async with server as url, _client(url, in_flight=4) as client:
            for _ in range(20):
                assert (await client.get_section(SECTION))["name"] == "Algebra"
        assert server.requests == 20
        assert server.connections == 1

    _run(go)


def test_never_more_connections_open_than_the_pool_holds_and_every_request_is_answered() -> None:
    async def go() -> None:
        server = Server(delay=0.02)
        limits = httpx.Limits(max_connections=3, max_keepalive_connections=3)
        async with server as url, _http(url, limits) as http:
            answers = await asyncio.gather(
                *(http.request("GET", f"{url}/sections/{SECTION}") for _ in range(30))
            )
        assert [a.status_code for a in answers] == [200] * 30
        assert server.requests == 30
        assert server.most_open == 3
        assert server.connections == 3  # each reused, none opened again

    _run(go)


def test_a_connection_the_server_closed_is_not_used_again() -> None:
    async def go() -> None:
        server = Server(close_after=1)  # answers once, then hangs up
        async with server as url, _client(url, in_flight=2, max_retries=0) as client:
            for _ in range(5):
                await client.get_section(SECTION)
                await asyncio.sleep(0.05)  # the goodbye arrives
            assert client.stats.retries == 0  # no request was sent to a dead connection
        assert server.requests == 5
        assert server.connections == 5

    _run(go)


def test_beyond_the_keep_alive_limit_a_freed_connection_is_closed() -> None:
    async def go() -> None:
        server = Server(delay=0.05)
        limits = httpx.Limits(max_connections=6, max_keepalive_connections=2)
        async with server as url, _http(url, limits) as http:
            await asyncio.gather(
                *(http.request("GET", f"{url}/sections/{SECTION}") for _ in range(6))
            )
            await asyncio.sleep(0.05)
            assert server.open == 2  # the other four were closed when freed

    _run(go)


def test_a_request_that_waits_too_long_for_a_connection_never_left_and_is_sent_again() -> None:
    async def go() -> None:
        server = Server(delay=0.3)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with server as url, _http(url, limits, httpx.Timeout(5, pool=0.05)) as http:
            first = asyncio.ensure_future(http.request("GET", f"{url}/sections/{SECTION}"))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await http.request("GET", f"{url}/sections/{SECTION}")
            assert (await first).status_code == 200
            # the place the timed-out request waited for is still usable
            assert (await http.request("GET", f"{url}/sections/{SECTION}")).status_code == 200
        assert server.requests == 2  # the one that timed out in the pool was never sent
        assert server.connections == 1

    _run(go)


def test_a_request_given_up_while_it_waits_or_while_it_is_answered_frees_its_place() -> None:
    async def go() -> None:
        server = Server(delay=0.2)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with server as url, _http(url, limits) as http:
            busy = asyncio.ensure_future(http.request("GET", f"{url}/sections/{SECTION}"))
            await asyncio.sleep(0.05)
            waiting = asyncio.ensure_future(http.request("GET", f"{url}/sections/{SECTION}"))
            await asyncio.sleep(0.05)
            waiting.cancel()  # (Ctrl-C while it waited for the connection)
            busy.cancel()  # (and while the answer was on its way)
            for task in (busy, waiting):
                with pytest.raises(asyncio.CancelledError):
                    await task
            answer = await asyncio.wait_for(http.request("GET", f"{url}/sections/{SECTION}"), 2.0)
            assert answer.status_code == 200

    _run(go)
