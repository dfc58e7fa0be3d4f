"""JSON read as the standard library reads it, faster: msgspec first, the standard library for
what msgspec refuses.

msgspec's decoder accepts strict JSON only (UTF-8, no NaN or Infinity, no lone surrogates), and
for that JSON gives what ``json.loads`` gives: the same values (integers of any size exact, the
last of a repeated key). Anything else, including every input ``json.loads`` rejects, goes to
``json.loads``, so what is accepted and the error of what is not (``json.JSONDecodeError`` or
``UnicodeDecodeError``, with its position) stay the standard library's.

:func:`page_reader` reads an API listing's pages typed, with just the fields of each item a
caller keeps (a plan's submission and roster pages), or says it cannot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

#: msgspec's untyped decoder: dicts, lists, str, int, float, bool and None, as json.loads makes
_DECODER = msgspec.json.Decoder()


def loads(content: bytes | str) -> Any:
    """``json.loads(content)``'s result (see the module's docstring)."""
    try:
        return _DECODER.decode(content)
    except msgspec.DecodeError:
        return json.loads(content)


#: a listing page read typed: its ``data`` items and its ``links`` (decoded as any JSON is)
Page = tuple[list[Any], Any]


def page_reader(item: type[msgspec.Struct]) -> Callable[[bytes], Page | None]:
    """A reader of API listing pages ``{"data": [...], "links": ...}`` whose items decode as
    ``item`` (a Struct of just the fields wanted: the rest are skipped, not made). It gives
    None for a page of another shape (not an object, a ``data`` that is neither a list nor
    null, an item ``item`` cannot hold, JSON msgspec refuses): the caller reads that one as
    any JSON is. A missing or null ``data`` is no items."""
    items: Any = list[item] | None  # type: ignore[valid-type]
    fields: list[tuple[str, Any, Any]] = [("data", items, None), ("links", Any, None)]
    decoder = msgspec.json.Decoder(msgspec.defstruct(f"{item.__name__}Page", fields))

    def read(content: bytes) -> Page | None:
        try:
            page: Any = decoder.decode(content)
        except msgspec.DecodeError:  # (a ValidationError is one)
            return None
        return page.data or [], page.links

    return read
