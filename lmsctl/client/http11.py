"""lmsctl's HTTP/1.1 client for the API's one origin: requests written whole, answers parsed in C.

The :class:`LmsClient <lmsctl.client.lms.LmsClient>` sends every call through ``request``,
here or, when it cannot be used (a proxy from the environment, a transport given by a test or
the embedded sandbox), through an ``httpx.AsyncClient`` with the same signature. What differs is
the cost: httpx builds a URL object, a request object, a cookie jar's view of both, and streams
the answer through four layers; a 100k-grade plan's 10,000 reads spent more CPU there than on
anything else. This client keeps httpx's error classes (what the seam reads), its trust store
and its reading of an answer (headers, content decoding: see :mod:`lmsctl.client.answer`, whose
light ``WireAnswer`` it returns, or an ``httpx.Response`` for an encoded body), and does the
rest directly:

- the request is one ``bytes``: the request line, ``Host``, the client's fixed headers
  (prepared once), and for a body ``Content-Type`` and ``Content-Length``; JSON is encoded as
  httpx 0.28 encodes it;
- connections come from :mod:`lmsctl.client.pool` (per origin, constant time) and speak through
  :mod:`lmsctl.client.wire` (an asyncio protocol; httptools parses the answers);
- the timeouts are httpx's (``httpx.Timeout``): waiting for a connection (pool), opening it
  (connect), writing (write), and each wait for the answer's bytes (read);
- ``sent`` is called once a request is written to its connection (the rate limiter counts
  its start from then).
"""

from __future__ import annotations

import json as stdjson
import re
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from lmsctl.client.answer import ApiAnswer, answer_of
from lmsctl.client.pool import ConnectionPool, OriginKey

#: what a request target may hold as it is (printable ASCII, no space)
_PLAIN_TARGET = re.compile(r"[!-~]+")
#: the encodings httpx's answer can decode without optional packages
ACCEPT_ENCODING = "gzip, deflate"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def proxy_applies(scheme: str) -> bool:
    """Whether the environment names a proxy for ``scheme`` (httpx then decides, by NO_PROXY
    and the rest of its rules, which requests go through it)."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(scheme) or proxies.get("all"))


class Http11Client:
    """Requests to one origin (``scheme://host[:port]``) over the pool's connections."""

    def __init__(
        self,
        origin: str,
        *,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        sent: Callable[[], None] | None = None,
        trust_env: bool = True,
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
            raise ValueError(f"not an origin lmsctl's client can open: {origin!r}")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._lower_origin = self._origin.lower()
        self._key: OriginKey = (
            parts.scheme,
            parts.hostname,
            parts.port or _DEFAULT_PORTS[parts.scheme],
        )
        fixed = {"Host": parts.netloc, **headers, "Accept-Encoding": ACCEPT_ENCODING}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode(
            "latin-1"
        )
        self._timeout = timeout
        self._sent = sent
        self._pool = ConnectionPool(
            # the same trust store as httpx's own transport (certifi, or SSL_CERT_FILE/DIR);
            # none for plain http (a sandbox on this machine): loading it costs CPU
            ssl_context=(
                httpx.create_ssl_context(trust_env=trust_env) if parts.scheme == "https" else None
            ),
            max_connections=limits.max_connections,
            max_keepalive=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    def _target(self, url: str) -> str:
        """The request target (path and query) of a URL on this client's origin."""
        cut = len(self._origin)
        if url[:cut].lower() != self._lower_origin or url[cut : cut + 1] not in ("/", "?", ""):
            raise httpx.UnsupportedProtocol(f"this client only calls {self._origin}")
        target = url[cut:] or "/"
        if target[0] == "?":
            target = "/" + target
        if not _PLAIN_TARGET.fullmatch(target):
            target = httpx.URL(url).raw_path.decode("ascii")  # (percent-encoded as httpx does)
        return target

    async def request(self, method: str, url: str, *, json: Any = None) -> ApiAnswer:
        """Send one request and read its whole answer (httpx's errors for what failed)."""
        if method not in _METHODS:
            raise httpx.UnsupportedProtocol(f"method {method} is not one the API takes")
        target = self._target(url)
        if json is None:
            head = f"{method} {target} HTTP/1.1\r\n".encode() + self._head + b"\r\n"
            body = b""
        else:
            body = stdjson.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            head = (
                f"{method} {target} HTTP/1.1\r\n".encode()
                + self._head
                + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
            )
        timeout = self._timeout
        key = self._key
        connection = await self._pool.acquire(
            key, pool_timeout=timeout.pool, connect_timeout=timeout.connect
        )
        try:
            status, headers, content = await connection.exchange(
                head + body, read_timeout=timeout.read, write_timeout=timeout.write, sent=self._sent
            )
        finally:
            self._pool.release(key, connection)
        # (an encoded body is httpx's to decode: see lmsctl.client.answer)
        return answer_of(status, headers, content)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def __aenter__(self) -> Http11Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
