"""Three-way diff of one managed field: desired (manifests) / applied (state) / live (LMS).

Values are normalised before any comparison, so an unchanged manifest never shows a diff:
date-times become UTC instants in Clever's form, numbers compare as numbers (10 == 10.0),
lists whose order has no meaning (submission types, flags, assignee ids) compare as sets,
attachments compare by their request fields only.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from lmsctl.model import ASSIGNMENT_DATE_FIELDS, GRADE_DATE_FIELDS
from lmsctl.timeutil import normalize_api_datetime

_DATE_FIELDS = ASSIGNMENT_DATE_FIELDS | GRADE_DATE_FIELDS
_SET_FIELDS = frozenset({"submission_types", "flags", "assignee_ids"})
_FLOAT_FIELDS = frozenset({"points_possible", "grade_points"})
_INT_FIELDS = frozenset({"max_attempts", "extra_attempts"})
_ATTACHMENT_KEYS = ("type", "title", "url", "description")

#: a value absent from state (never applied); distinct from None
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


def normalize(field: str, value: Any) -> Any:
    """The comparable form of a field's value."""
    if value is None:
        return [] if field in _SET_FIELDS or field == "attachments" else None
    if field in _DATE_FIELDS:
        return normalize_api_datetime(value)
    if field in _SET_FIELDS:
        if isinstance(value, list | tuple):
            return sorted({str(v) for v in value})
        return value
    if field in _FLOAT_FIELDS:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return float(value)
        return value
    if field in _INT_FIELDS:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if field == "attachments" and isinstance(value, list | tuple):
        items = []
        for item in value:
            if isinstance(item, Mapping):
                items.append({k: item[k] for k in _ATTACHMENT_KEYS if item.get(k) is not None})
            else:
                items.append(item)
        return sorted(items, key=lambda i: json.dumps(i, sort_keys=True, default=str))
    if field == "grade" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def to_wire(field: str, value: Any) -> Any:
    """The JSON value sent to the API for a desired value (tuples become lists)."""
    if isinstance(value, tuple):
        return [to_wire(field, v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_wire(k, v) for k, v in value.items()}
    return value


def equal(field: str, a: Any, b: Any) -> bool:
    return bool(normalize(field, a) == normalize(field, b))


class Decision(enum.StrEnum):
    IN_SYNC = "in-sync"  # desired == live
    NEWLY_MANAGED = "newly-managed"  # never applied by lmsctl, and live differs
    UPDATE = "update"  # only desired moved
    DRIFT = "drift"  # only live moved
    CONFLICT = "conflict"  # both moved, to different values


def decide(field: str, desired: Any, applied: Any, live: Any) -> Decision:
    """Classify one managed field. ``applied`` is MISSING when lmsctl never applied it."""
    if equal(field, desired, live):
        return Decision.IN_SYNC
    if applied is MISSING:
        return Decision.NEWLY_MANAGED
    if equal(field, live, applied):
        return Decision.UPDATE
    if equal(field, desired, applied):
        return Decision.DRIFT
    return Decision.CONFLICT


def is_set(field: str, value: Any) -> bool:
    """True when a live grade field holds something a person set (not an empty default)."""
    if value is None:
        return False
    if field == "state":
        # created/submitted/reclaimed are the student's side; only "returned" is a teacher's act
        return bool(value == "returned")
    if field in _SET_FIELDS:
        return bool(value)
    if field in _INT_FIELDS:
        return bool(value not in (0, "0", ""))
    return bool(value != "")
