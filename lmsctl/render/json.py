"""The plan document as JSON text (``lmsctl plan --json``, ``lmsctl show --json``).

The document itself is built by lmsctl.render.document and described by
lmsctl/schemas/plan.schema.json. Keys keep the document's order, so the output is stable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["render_plan_json"]


def render_plan_json(doc: Mapping[str, Any]) -> str:
    """The document as indented JSON (2 spaces, UTF-8 text kept as is), ending in a newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
