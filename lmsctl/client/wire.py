"""One HTTP/1.1 connection: an asyncio protocol, with httptools (llhttp, in C) parsing answers.

A 100k-grade plan makes about 10,000 reads. Through httpx's transport each cost over a
millisecond of CPU in the client (h11's pure-Python parser, httpcore's connection state, the
stream layers between them and the socket), several times the cost of the JSON it carried.
Here a request is written with one ``transport.write``, and the answer is parsed as asyncio
hands over its bytes: no stream layer, no task per read, one future per request.

What a failure means is httpx's vocabulary, as the seam (:mod:`lmsctl.client.seam`) reads it:
- nothing could be sent (no connection): ``httpx.ConnectError`` / ``httpx.ConnectTimeout``;
- no answer within the timeout after sending: ``httpx.ReadTimeout``;
- the server closed the connection before a whole answer: ``httpx.RemoteProtocolError`` (as
  h11 says it); the socket failed (a reset): ``httpx.ReadError``;
- an answer that is not HTTP: ``httpx.RemoteProtocolError``.
A connection that failed, timed out or was given up mid-request (cancelled) is never used again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httptools
import httpx

#: (status, headers as received, body as received: still content-encoded)
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class Connection(asyncio.Protocol):
    """An HTTP/1.1 connection that sends one request at a time (see the module's docstring)."""

    def __init__(self, keepalive_expiry: float | None) -> None:
        self._expiry = keepalive_expiry
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        #: the answer of the request in flight (None when idle)
        self._answer: asyncio.Future[Answer] | None = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._heard = False  # some of the answer in flight has come
        self._done_headers = False
        self._keep = True  # the server keeps the connection open after this answer
        self._usable = True  # False once the connection can carry no further request
        self._idle_since = time.monotonic()
        self._last_heard = 0.0
        self._can_write: asyncio.Future[None] | None = None
        #: the read timeout's timer (see _check_timeout), and the timeout of the request in flight
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        #: set once the socket is closed (both ways, and a TLS goodbye said)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asked by the pool ---------------------------------------------------------------

    def is_available(self) -> bool:
        """Idle and open: a request may be sent on it."""
        return self._usable and self._answer is None and self._transport is not None

    def has_expired(self) -> bool:
        if self._expiry is None:
            return False
        return time.monotonic() - self._idle_since > self._expiry

    def close(self) -> None:
        self._usable = False
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close at once, without waiting for what is buffered (a request given up)."""
        self._usable = False
        if self._transport is not None:
            self._transport.abort()

    # -- a request -----------------------------------------------------------------------

    async def exchange(
        self,
        data: bytes,
        *,
        read_timeout: float | None,
        write_timeout: float | None,
        sent: Callable[[], None] | None = None,
    ) -> Answer:
        """Send one request (its head and body in ``data``) and return its answer."""
        transport = self._transport
        if transport is None or not self.is_available():
            raise httpx.RemoteProtocolError("the connection was closed before the request")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self._answer = answer
        self._status, self._headers, self._body = 0, [], []
        self._heard = self._done_headers = False
        try:
            transport.write(data)
            if self._can_write is not None:  # the socket's buffer is full: wait for room
                await self._wait_for_room(self._can_write, write_timeout)
            if sent is not None:
                sent()
            self._last_heard = loop.time()
            self._read_timeout = read_timeout
            if read_timeout is not None and self._timer is None:
                # (a timer still set by an earlier request goes on: it looks again when it
                # fires, so a connection's requests one after another set one timer per
                # timeout, not one each)
                self._timer = loop.call_later(read_timeout, self._check_timeout)
            result = await answer
        except BaseException:
            self.abort()  # (a cancelled or failed request leaves the connection unknown)
            raise
        finally:
            self._answer = None
        self._idle_since = time.monotonic()
        if not self._keep:
            self.close()
        return result

    async def _wait_for_room(self, waiter: asyncio.Future[None], timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(waiter)
        except TimeoutError:
            raise httpx.WriteTimeout("the request could not be written in time") from None

    def _check_timeout(self) -> None:
        """The read timeout's timer: fail the request in flight if nothing came for its
        timeout; otherwise look again when that much time has passed since the last bytes (or
        since it was sent). With no request in flight, or none with a timeout, it stops."""
        self._timer = None
        answer, timeout = self._answer, self._read_timeout
        if answer is None or answer.done() or timeout is None:
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last_heard
        if quiet >= timeout:
            self._fail(httpx.ReadTimeout("no answer within the timeout"))
            return
        self._timer = loop.call_later(timeout - quiet, self._check_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, error: Exception) -> None:
        self._usable = False
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(error)
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio's protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes nobody asked for: the connection is not to be trusted
            self._usable = False
            if self._transport is not None:
                self._transport.abort()
            return
        self._heard = True
        self._last_heard = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"the answer is not valid HTTP/1.1 ({exc})"))

    def eof_received(self) -> bool | None:
        self._usable = False
        answer = self._answer
        if answer is not None and not answer.done() and self._done_headers and self._read_to_end():
            # an answer whose end is the connection's end
            answer.set_result((self._status, self._headers, b"".join(self._body)))
        return None  # (closes the transport; connection_lost fails what is unfinished)

    def connection_lost(self, exc: Exception | None) -> None:
        self._usable = False
        self._transport = None
        self._stop_timer()
        if not self.closed.done():
            self.closed.set_result(None)
        answer = self._answer
        if answer is not None and not answer.done():
            if exc is not None:  # (a reset, a TLS failure: the socket failed)
                answer.set_exception(httpx.ReadError(str(exc) or type(exc).__name__))
            elif self._heard:
                answer.set_exception(
                    httpx.RemoteProtocolError("the server closed the connection mid-answer")
                )
            else:
                answer.set_exception(
                    httpx.RemoteProtocolError("the server disconnected without an answer")
                )
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)

    def pause_writing(self) -> None:
        self._can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self._can_write = self._can_write, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools' callbacks ------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep = self._parser.should_keep_alive()
        self._done_headers = self._status < 100 or self._status >= 200
        if not self._done_headers:  # an interim answer (100 Continue): the real one follows
            self._headers = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer = self._answer
        if not self._done_headers or answer is None or answer.done():
            return
        answer.set_result((self._status, self._headers, b"".join(self._body)))

    def _read_to_end(self) -> bool:
        """Whether the answer's length is "until the connection closes" (neither a length
        nor chunks), so the end of the stream ends it rather than cutting it short."""
        names = {name.lower() for name, _ in self._headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


def as_connect_error(exc: BaseException) -> Exception:
    """A failure to open a connection, as httpx names it (the request never left)."""
    if isinstance(exc, TimeoutError):
        return httpx.ConnectTimeout("the connection could not be opened in time")
    return httpx.ConnectError(str(exc) or type(exc).__name__)
