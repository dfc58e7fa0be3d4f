"""The plan document as JSON text (``lmsctl plan --json``, ``lmsctl show --json``).

The document itself is built by lmsctl.plan.document and described by
lmsctl/schemas/plan.schema.json. Keys keep the document's order, so the output is stable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmsctl.safetext import escape_controls

__all__ = ["dumps_for_terminal", "render_plan_json"]


def dumps_for_terminal(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` with UTF-8 text kept, but control and bidirectional characters written as
    ``\\uXXXX`` escapes: the same value for a JSON reader, and nothing a terminal acts on
    (json.dumps itself escapes only U+0000-U+001F)."""
    return escape_controls(json.dumps(value, ensure_ascii=False, **kwargs))


def render_plan_json(doc: Mapping[str, Any]) -> str:
    """The document as indented JSON (2 spaces, UTF-8 text kept as is, control characters
    escaped), ending in a newline."""
    return dumps_for_terminal(doc, indent=2) + "\n"
