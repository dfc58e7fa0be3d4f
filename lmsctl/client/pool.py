"""The client's connection pool: HTTP/1.1 connections kept per origin, found in constant time.

httpcore's own pool walks every connection, and for each idle one every connection again, each
time a request starts or ends (and asks each idle socket whether it is still open): at a
100k-grade plan's 10,000 reads with a few dozen connections that bookkeeping was a third of
lmsctl's CPU, more than the HTTP it managed. This pool keeps the idle connections of an origin
on a stack (the most recently used on top: the least likely to have expired) and checks only the
one it takes. Each connection is a :class:`lmsctl.client.wire.Connection` (asyncio's socket
transport, or its TLS one), which knows by itself when the server closed it.

- at most ``max_connections`` open (idle, busy or connecting); a request beyond them waits, in
  the order it came, up to the pool timeout (``httpx.PoolTimeout``, "the request never
  left", as httpx's pool says);
- at most ``max_keepalive`` idle: a connection freed beyond them is closed;
- a connection is handed back when its answer has been read; one that failed or that the
  server closed is dropped, and its place goes to the next waiting request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque

import httpx

from lmsctl.client.wire import Connection, as_connect_error

#: seconds the connections being closed at the end may take to say goodbye
CLOSE_WAIT = 1.0
#: (scheme, host, port) of a request's URL
OriginKey = tuple[str, str, int]


class ConnectionPool:
    """HTTP/1.1 connections for one client (see the module's docstring)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int | None,
        max_keepalive: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max = max_connections if max_connections is not None else 1 << 30
        self._max_idle = max_keepalive if max_keepalive is not None else self._max
        self._expiry = keepalive_expiry
        self._idle: dict[OriginKey, list[Connection]] = {}
        self._idle_count = 0
        #: connections that hold a place: idle, busy, and places taken by a connect under way
        self._open = 0
        self._busy: set[Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        #: connections dropped and still saying goodbye
        self._closing: set[Connection] = set()

    # -- a request -------------------------------------------------------------------------

    async def acquire(
        self, key: OriginKey, *, pool_timeout: float | None, connect_timeout: float | None
    ) -> Connection:
        """A connection to the origin, idle or new; hand it back with :meth:`release`."""
        connection = await self._take(key, pool_timeout)
        if connection is None:  # a place, for a new connection
            try:
                connection = await self._connect(key, connect_timeout)
            except BaseException:
                self._open -= 1
                self._wake()
                raise
        self._busy.add(connection)
        return connection

    async def _take(self, key: OriginKey, timeout: float | None) -> Connection | None:
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
            raise httpx.PoolTimeout("no connection was free within the pool timeout") from None
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

    async def _connect(self, key: OriginKey, timeout: float | None) -> Connection:
        scheme, host, port = key
        secure = scheme == "https"
        if secure:
            if self._ssl_context is None:
                raise httpx.UnsupportedProtocol("this pool was made without TLS for https")
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(self._expiry),
                    host,
                    port,
                    ssl=self._ssl_context if secure else None,
                    server_hostname=host if secure else None,
                )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            # (ssl.SSLError, a refused port, a name that does not resolve: OSErrors all)
            raise as_connect_error(exc) from exc
        return connection

    # -- handing back and closing -------------------------------------------------------------

    def release(self, key: OriginKey, connection: Connection) -> None:
        """A request is done with its connection: keep it idle, or close it."""
        self._busy.discard(connection)
        if connection.is_available() and self._idle_count < self._max_idle:
            self._idle.setdefault(key, []).append(connection)
            self._idle_count += 1
        else:
            self._drop(connection)
        self._wake()

    def _drop(self, connection: Connection) -> None:
        """Give up a connection's place and close it (asyncio finishes the goodbye in the
        background: no request waits for it)."""
        self._open -= 1
        connection.close()
        if not connection.closed.done():
            self._closing.add(connection)
            connection.closed.add_done_callback(lambda _: self._closing.discard(connection))

    async def aclose(self) -> None:
        """Close every connection (those still busy too), and give them a moment to say
        goodbye (a TLS close_notify) before the event loop ends."""
        every = [c for stack in self._idle.values() for c in stack] + [*self._busy, *self._closing]
        self._idle.clear()
        self._idle_count = 0
        self._busy.clear()
        for connection in every:
            connection.close()
        closing = [c.closed for c in every if not c.closed.done()]
        if closing:
            await asyncio.wait(closing, timeout=CLOSE_WAIT)
