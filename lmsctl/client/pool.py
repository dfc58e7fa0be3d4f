"""The client's connection pool: HTTP/1.1 connections kept per origin, found in constant time.

httpcore's own pool walks every connection, and for each idle one every connection again, each
time a request starts or ends (and asks each idle socket whether it is still open): at a
100k-grade plan's 10,000 reads with a few dozen connections that bookkeeping was a third of
lmsctl's CPU, more than the HTTP it managed. This pool keeps the idle connections of an origin
on a stack (the most recently used on top: the least likely to have expired) and checks only the
one it takes. What is on the wire stays httpcore's: each connection is an
``httpcore.AsyncHTTP11Connection`` on :mod:`lmsctl.client.netio`'s asyncio streams, with its
``trace`` events, keep-alive expiry and errors.

- at most ``max_connections`` open (idle, busy or connecting); a request beyond them waits, in
  the order it came, up to the pool timeout (``httpcore.PoolTimeout``, "the request never
  left", as httpx's pool says);
- at most ``max_keepalive`` idle: a connection freed beyond them is closed;
- a connection is handed back when its answer has been read and closed; one that failed or
  that the server closed is dropped, and its place goes to the next waiting request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpcore

#: (scheme, host, port) of a request's URL
OriginKey = tuple[bytes, bytes, int | None]


class ConnectionPool:
    """HTTP/1.1 connections for one client (see the module's docstring)."""

    def __init__(
        self,
        *,
        network_backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext,
        max_connections: int | None,
        max_keepalive: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        self._backend = network_backend
        self._ssl_context = ssl_context
        self._max = max_connections if max_connections is not None else 1 << 30
        self._max_idle = max_keepalive if max_keepalive is not None else self._max
        self._expiry = keepalive_expiry
        self._idle: dict[OriginKey, list[httpcore.AsyncHTTP11Connection]] = {}
        self._idle_count = 0
        #: connections that hold a place: idle, busy, and places taken by a connect under way
        self._open = 0
        self._busy: set[httpcore.AsyncHTTP11Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closing: set[asyncio.Task[None]] = set()

    # -- a request -------------------------------------------------------------------------

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        url = request.url
        if url.scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{url.scheme.decode()}://'."
            )
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        key: OriginKey = (url.scheme, url.host, url.port)
        while True:
            connection = await self._take(key, timeouts.get("pool"))
            if connection is None:  # a place, for a new connection
                try:
                    connection = await self._connect(url.origin, request, timeouts)
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            self._busy.add(connection)
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                self._give_back(key, connection)  # (closed by the server meanwhile)
                continue
            except BaseException:
                self._give_back(key, connection)
                raise
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_Body(response.stream, self, key, connection),
                extensions=response.extensions,
            )

    async def _take(
        self, key: OriginKey, timeout: float | None
    ) -> httpcore.AsyncHTTP11Connection | None:
        """An idle connection to the origin, or None for a place to open a new one (counted)."""
        while True:
            idle = self._idle.get(key)
            while idle:
                connection = idle.pop()
                self._idle_count -= 1
                if connection.is_available() and not connection.has_expired():
                    return connection
                self._drop(connection)
            if self._open < self._max:
                self._open += 1
                return None
            if self._idle_count:  # idle ones of other origins: close one to make a place
                other = next(stack for stack in self._idle.values() if stack)
                self._idle_count -= 1
                self._drop(other.pop())
                continue
            await self._wait(timeout)

    async def _wait(self, timeout: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise httpcore.PoolTimeout("no connection was free within the pool timeout") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken, but gone: the place goes to the next in line
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        """Let the first waiting request look again (a place or a connection came free)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(
        self, origin: httpcore.Origin, request: httpcore.Request, timeouts: dict[str, Any]
    ) -> httpcore.AsyncHTTP11Connection:
        timeout = timeouts.get("connect")
        stream = await self._backend.connect_tcp(
            origin.host.decode("ascii"), origin.port or 0, timeout=timeout
        )
        if origin.scheme == b"https":
            self._ssl_context.set_alpn_protocols(["http/1.1"])
            server_name = request.extensions.get("sni_hostname") or origin.host.decode("ascii")
            stream = await stream.start_tls(
                self._ssl_context, server_hostname=server_name, timeout=timeout
            )
        return httpcore.AsyncHTTP11Connection(
            origin=origin, stream=stream, keepalive_expiry=self._expiry
        )

    # -- handing back and closing -------------------------------------------------------------

    def _give_back(self, key: OriginKey, connection: httpcore.AsyncHTTP11Connection) -> None:
        """A request is done with its connection: keep it idle, or close it."""
        self._busy.discard(connection)
        if connection.is_available() and self._idle_count < self._max_idle:
            self._idle.setdefault(key, []).append(connection)
            self._idle_count += 1
        else:
            self._drop(connection)
        self._wake()

    def _drop(self, connection: httpcore.AsyncHTTP11Connection) -> None:
        """Give up a connection's place; close it in the background (a TLS goodbye takes a
        moment that no request should wait for)."""
        self._open -= 1
        if connection.is_closed():
            return
        task = asyncio.get_running_loop().create_task(connection.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled():
            task.exception()  # (a failed goodbye changes nothing: the place is already free)

    async def aclose(self) -> None:
        """Close every connection (those still busy too) and wait for the goodbyes."""
        every = [c for stack in self._idle.values() for c in stack] + list(self._busy)
        self._idle.clear()
        self._idle_count = 0
        self._busy.clear()
        for connection in every:
            with contextlib.suppress(Exception):
                await connection.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class _Body:
    """An answer's body; closing it hands its connection back to the pool."""

    def __init__(
        self,
        stream: Any,
        pool: ConnectionPool,
        key: OriginKey,
        connection: httpcore.AsyncHTTP11Connection,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._key = key
        self._connection: httpcore.AsyncHTTP11Connection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            connection, self._connection = self._connection, None
            if connection is not None:
                self._pool._give_back(self._key, connection)
