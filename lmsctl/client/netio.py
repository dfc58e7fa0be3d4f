"""The client's network transport: httpcore's HTTP/1.1 connections on plain asyncio sockets,
in lmsctl's own pool (:mod:`lmsctl.client.pool`).

httpx's default transport runs httpcore over anyio, whose per-call bookkeeping (a cancel scope
per read and write, a dictionary of every socket attribute each time the pool asks whether an
idle connection is still open) was about a quarter of a 100k-grade plan's CPU. httpcore takes
the network layer as a parameter (its ``AsyncNetworkBackend`` interface); this one uses
asyncio's streams directly and keeps httpcore's semantics: the same exceptions for the same
failures, ``b""`` at the end of a stream, TLS by the trust store httpx uses, and "is readable"
for an idle connection the server has closed.

Everything above the socket stays httpx's: the client, its event hooks and error classes,
content decoding, proxies from the environment (httpx mounts its own transports for proxied
URLs), the test transports and the embedded sandbox's in-process transport. httpcore's errors
become httpx's, as httpx's own transport maps them, so the seam (:mod:`lmsctl.client.seam`)
decides exactly as before: a request that never left is a connect error or timeout, one whose
answer was lost is a read timeout, a network error or a protocol error.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpcore
import httpx

from lmsctl.client.pool import ConnectionPool

#: seconds a connection being closed may take to say goodbye (a TLS close_notify)
_CLOSE_WAIT = 1.0

#: a socket failure in httpcore's terms, per direction (TimeoutError first: it is an OSError)
_READ = {TimeoutError: httpcore.ReadTimeout, OSError: httpcore.ReadError}
_WRITE = {TimeoutError: httpcore.WriteTimeout, OSError: httpcore.WriteError}
_CONNECT = {TimeoutError: httpcore.ConnectTimeout, OSError: httpcore.ConnectError}

#: httpcore's error -> httpx's (most specific first), as httpx's own transport maps them
_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.RemoteProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.TimeoutException, httpx.TimeoutException),
)


@contextlib.contextmanager
def _socket_errors(table: dict[type[OSError], type[Exception]]) -> Iterator[None]:
    try:
        yield
    except OSError as exc:  # (ssl.SSLError and TimeoutError are OSErrors too)
        for kind, ours in table.items():
            if isinstance(exc, kind):
                raise ours(str(exc) or type(exc).__name__) from exc
        raise
    except asyncio.IncompleteReadError as exc:  # a TLS handshake cut short
        raise table[OSError](str(exc)) from exc


@contextlib.contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for kind, ours in _HTTPX:
            if isinstance(exc, kind):
                raise ours(str(exc) or type(exc).__name__, request=request) from exc
        raise


def _deadline(timeout: float | None) -> contextlib.AbstractAsyncContextManager[Any]:
    return asyncio.timeout(timeout) if timeout is not None else contextlib.nullcontext()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio reader and writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _socket_errors(_READ):
            async with _deadline(timeout):
                return await self._reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _socket_errors(_WRITE):
            async with _deadline(timeout):
                self._writer.write(buffer)
                await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_WAIT):
                await self._writer.wait_closed()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with _socket_errors(_CONNECT):
                async with _deadline(timeout):
                    await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except BaseException:
            await self.aclose()
            raise
        return self

    def get_extra_info(self, info: str) -> Any:
        writer = self._writer
        if info == "is_readable":
            # an idle connection is readable only when the server closed it (or sent what it
            # should not have); asyncio may already have read that into the reader
            if self._reader.at_eof() or self._reader.exception() is not None:
                return True
            return _readable(writer.get_extra_info("socket"))
        if info == "ssl_object":
            return writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return writer.get_extra_info("sockname")
        if info == "server_addr":
            return writer.get_extra_info("peername")
        if info == "socket":
            return writer.get_extra_info("socket")
        return None


def _readable(sock: Any) -> bool:
    """Whether a read would return at once (data, or the end): a closed socket counts."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections through asyncio's own streams (which set TCP_NODELAY)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _socket_errors(_CONNECT):
            async with _deadline(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None
                )
            sock = writer.get_extra_info("socket")
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _socket_errors(_CONNECT):
            async with _deadline(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    """A response body as httpcore streams it, its errors in httpx's terms."""

    def __init__(self, stream: Any, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self._request):
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        with _as_httpx(self._request):
            await self._stream.aclose()


class AsyncioTransport(httpx.AsyncBaseTransport):
    """An httpx transport: lmsctl's pool (:mod:`lmsctl.client.pool`) of httpcore's HTTP/1.1
    connections, on :class:`AsyncioBackend`."""

    def __init__(self, *, limits: httpx.Limits, trust_env: bool = True) -> None:
        self._pool = ConnectionPool(
            # the same trust store as httpx's own transport (certifi, or SSL_CERT_FILE/DIR)
            ssl_context=httpx.create_ssl_context(trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx(request):
            answer = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream, request),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
