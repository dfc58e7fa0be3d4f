"""What the client reads of an answer, and the light answer lmsctl's HTTP/1.1 client returns.

The seam, the retry policy and the client read an answer's status, a few headers (``Date``,
``Retry-After``, the rate limiter's ``X-RateLimit-*``), its body and, for an error, its text:
:class:`ApiAnswer` is that much. Two kinds of answer have it: ``httpx.Response`` (the
``httpx.AsyncClient`` path: a proxy from the environment, a transport given by a test, the
embedded sandbox) and :class:`WireAnswer`, which :class:`lmsctl.client.http11.Http11Client`
returns for an answer without a ``Content-Encoding``. Building an ``httpx.Response`` per answer
(its headers object, its content streamed through its decoders) cost more than parsing the
answer itself; a ``WireAnswer`` holds what came and reads a header when asked, as httpx would:
names case-insensitive, repeated headers joined with ", ", values decoded as ASCII, else UTF-8,
else ISO-8859-1 (for all of an answer's headers together). An encoded answer (gzip, deflate)
is still an ``httpx.Response``: httpx decodes it.
"""

from __future__ import annotations

import json as stdjson
from typing import Any, Protocol

import httpx

#: an answer's headers as received: (name, value) in order, repeats kept
RawHeaders = list[tuple[bytes, bytes]]


class HeaderLookup(Protocol):
    """An answer's headers as the client reads them: one value by name, any case."""

    def get(self, key: str, default: None = None) -> str | None: ...


class ApiAnswer(Protocol):
    """What the client reads of an answer (``httpx.Response`` and :class:`WireAnswer`)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> HeaderLookup: ...

    @property
    def content(self) -> bytes: ...

    @property
    def text(self) -> str: ...

    @property
    def reason_phrase(self) -> str: ...

    def json(self, **kwargs: Any) -> Any: ...


class WireHeaders:
    """An answer's headers as received, read as ``httpx.Headers`` reads them."""

    __slots__ = ("_encoding", "_index", "raw")

    def __init__(self, raw: RawHeaders) -> None:
        self.raw = raw
        self._encoding = ""
        #: lower-case name -> its values in order (made at the first lookup: an answer's
        #: headers are looked up several times, for its date and the rate limit's count)
        self._index: dict[bytes, list[bytes]] | None = None

    @property
    def encoding(self) -> str:
        """ASCII when every name and value is, else UTF-8 when all decode so, else ISO-8859-1."""
        if not self._encoding:
            if all(k.isascii() and v.isascii() for k, v in self.raw):
                self._encoding = "ascii"
            else:
                try:
                    for k, v in self.raw:
                        k.decode("utf-8")
                        v.decode("utf-8")
                    self._encoding = "utf-8"
                except UnicodeDecodeError:
                    self._encoding = "iso-8859-1"
        return self._encoding

    def get(self, key: str, default: None = None) -> str | None:
        """The header's value (repeats joined with ", "), or ``default``."""
        # (ASCII reads the same in all three encodings: the answer's only matters otherwise)
        wanted = key.lower().encode("ascii" if key.isascii() else self.encoding)
        index = self._index
        if index is None:
            index = self._index = {}
            for k, v in self.raw:
                index.setdefault(k.lower(), []).append(v)
        items = index.get(wanted)
        if not items:
            return default
        if len(items) == 1 and items[0].isascii():
            return items[0].decode("ascii")
        encoding = self.encoding
        return ", ".join(v.decode(encoding) for v in items)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __repr__(self) -> str:
        return f"WireHeaders({len(self.raw)} headers)"


class WireAnswer:
    """An answer read by lmsctl's HTTP/1.1 client, its body as it came (no content encoding)."""

    __slots__ = ("_text", "content", "headers", "status_code")

    def __init__(self, status_code: int, headers: RawHeaders, content: bytes) -> None:
        self.status_code = status_code
        self.headers = WireHeaders(headers)
        self.content = content
        self._text: str | None = None

    @property
    def reason_phrase(self) -> str:
        return httpx.codes.get_reason_phrase(self.status_code)

    @property
    def text(self) -> str:
        """The body as text, decoded as httpx decodes it (the Content-Type's charset, else
        UTF-8; undecodable bytes replaced). Only an error's excerpt reads it."""
        if self._text is None:
            self._text = httpx.Response(
                self.status_code, headers=self.headers.raw, content=self.content
            ).text
        return self._text

    def json(self, **kwargs: Any) -> Any:
        """The body as JSON, read as ``httpx.Response.json`` reads it (the standard library)."""
        return stdjson.loads(self.content, **kwargs)

    def __repr__(self) -> str:
        return f"<WireAnswer [{self.status_code}]>"


def answer_of(status: int, headers: RawHeaders, content: bytes) -> WireAnswer | httpx.Response:
    """The answer of what was received: a :class:`WireAnswer`, or an ``httpx.Response`` for a
    body with a ``Content-Encoding`` (httpx decodes it, or fails as it always did)."""
    for name, _ in headers:
        if name.lower() == b"content-encoding":
            return httpx.Response(status, headers=headers, content=content)
    return WireAnswer(status, headers, content)
