"""The plan document as JSON text (``lmsctl plan --json``, ``lmsctl show --json``).

The document itself is built by lmsctl.plan.document and described by
lmsctl/schemas/plan.schema.json. Keys keep the document's order, so the output is stable.
:func:`iter_plan_json` gives the text in parts, reading the document's lazy lists (its
``changes``, lmsctl.plan.document.plan_document) one item at a time: a plan of 100k changes is
never held as 100k dicts, nor as one string, nor copied to escape or to encode it.
:func:`render_plan_json` joins the parts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from lmsctl.plan.document import document_pieces, joined_parts
from lmsctl.safetext import escape_controls

__all__ = ["dumps_for_terminal", "iter_plan_json", "render_plan_json"]

#: about how much text each part of :func:`iter_plan_json` holds
PART_SIZE = 256 * 1024


def dumps_for_terminal(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` with UTF-8 text kept, but control and bidirectional characters written as
    ``\\uXXXX`` escapes: the same value for a JSON reader, and nothing a terminal acts on
    (json.dumps itself escapes only U+0000-U+001F)."""
    return escape_controls(json.dumps(value, ensure_ascii=False, **kwargs))


def iter_plan_json(doc: Mapping[str, Any]) -> Iterator[str]:
    """:func:`render_plan_json`'s text in parts of about :data:`PART_SIZE` characters."""
    for part in joined_parts(document_pieces(doc), PART_SIZE, "\n"):
        yield escape_controls(part)


def render_plan_json(doc: Mapping[str, Any]) -> str:
    """The document as indented JSON (2 spaces, UTF-8 text kept as is, control characters
    escaped), ending in a newline."""
    return "".join(iter_plan_json(doc))
