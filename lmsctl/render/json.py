"""The plan document as JSON text (``lmsctl plan --json``, ``lmsctl show --json``).

The document itself is built by lmsctl.plan.document and described by
lmsctl/schemas/plan.schema.json. Keys keep the document's order, so the output is stable.
:func:`iter_plan_json` gives the text in parts (a plan of 100k changes is never held as one
string, nor copied to escape or to encode it); :func:`render_plan_json` joins them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from lmsctl.safetext import escape_controls

__all__ = ["dumps_for_terminal", "iter_plan_json", "render_plan_json"]

#: about how much text each part of :func:`iter_plan_json` holds
PART_SIZE = 256 * 1024


def dumps_for_terminal(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` with UTF-8 text kept, but control and bidirectional characters written as
    ``\\uXXXX`` escapes: the same value for a JSON reader, and nothing a terminal acts on
    (json.dumps itself escapes only U+0000-U+001F)."""
    return escape_controls(json.dumps(value, ensure_ascii=False, **kwargs))


def _indented(value: Any, depth: int) -> str:
    # json.dumps never writes a raw newline inside a string, so every newline is indentation
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return text.replace("\n", "\n" + "  " * depth) if depth else text


def _pieces(doc: Mapping[str, Any]) -> Iterator[str]:
    """The text of ``dumps(doc, indent=2)``, one top-level value or one list item at a time."""
    if not doc:
        yield "{}"
        return
    yield "{"
    for n, (key, value) in enumerate(doc.items()):
        head = ("," if n else "") + "\n  " + json.dumps(key, ensure_ascii=False) + ": "
        if isinstance(value, list | tuple) and value:
            yield head + "["
            for i, item in enumerate(value):
                yield ("," if i else "") + "\n    " + _indented(item, 2)
            yield "\n  ]"
        else:
            yield head + _indented(value, 1)
    yield "\n}"


def iter_plan_json(doc: Mapping[str, Any]) -> Iterator[str]:
    """:func:`render_plan_json`'s text in parts of about :data:`PART_SIZE` characters."""
    batch: list[str] = []
    size = 0
    for piece in _pieces(doc):
        batch.append(piece)
        size += len(piece)
        if size >= PART_SIZE:
            yield escape_controls("".join(batch))
            batch, size = [], 0
    batch.append("\n")
    yield escape_controls("".join(batch))


def render_plan_json(doc: Mapping[str, Any]) -> str:
    """The document as indented JSON (2 spaces, UTF-8 text kept as is, control characters
    escaped), ending in a newline."""
    return "".join(iter_plan_json(doc))
