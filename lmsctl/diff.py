"""Three-way diff of one managed field: desired (manifests) / applied (state) / live (LMS).

Values are compared the way the LMS echoes them, by the rules of the field table
(``lmsctl.fields``): date-times as UTC instants, numbers as the LMS stores them (a 32-bit float,
Google Classroom's 2 decimals), a field the API leaves out when it holds its default as that
default (``extra_attempts: 0``), order-free lists as sets, attachments by their request fields.
So an applied manifest always reads back as in sync.
"""

from __future__ import annotations

import enum
from typing import Any

from lmsctl import fields as _fields
from lmsctl.fields import Resource, to_wire

__all__ = [
    "MISSING",
    "Decision",
    "Resource",
    "decide",
    "decide_out_of_sync",
    "equal",
    "is_set",
    "normalize",
    "to_wire",
]

#: a value absent from state (never applied); distinct from None
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


#: the comparable form of a field's value (``lmsctl.fields.normalize``), and whether two values
#: mean the same (``lmsctl.fields.equal``); the field table's own functions (a plan calls them
#: several times per grade)
normalize = _fields.normalize
equal = _fields.equal


class Decision(enum.StrEnum):
    IN_SYNC = "in-sync"  # desired == live
    NEWLY_MANAGED = "newly-managed"  # never applied by lmsctl, and live differs
    UPDATE = "update"  # only desired moved
    DRIFT = "drift"  # only live moved
    CONFLICT = "conflict"  # both moved, to different values


def decide(
    field: str,
    desired: Any,
    applied: Any,
    live: Any,
    lms_type: str = "",
    resource: Resource | None = None,
) -> Decision:
    """Classify one managed field. ``applied`` is MISSING when lmsctl never applied it."""
    if equal(field, desired, live, lms_type, resource):
        return Decision.IN_SYNC
    return decide_out_of_sync(field, desired, applied, live, lms_type, resource)


def decide_out_of_sync(
    field: str,
    desired: Any,
    applied: Any,
    live: Any,
    lms_type: str = "",
    resource: Resource | None = None,
) -> Decision:
    """:func:`decide` of a field whose live value is not the desired one (never IN_SYNC)."""

    def same(a: Any, b: Any) -> bool:
        return equal(field, a, b, lms_type, resource)

    if applied is MISSING:
        return Decision.NEWLY_MANAGED
    if same(live, applied):
        return Decision.UPDATE
    if same(desired, applied):
        return Decision.DRIFT
    return Decision.CONFLICT


def is_set(field: str, value: Any) -> bool:
    """True when a live grade field holds something a person set (not an empty default)."""
    if value is None:
        return False
    if field == "state":
        # created/submitted/reclaimed are the student's side; only "returned" is a teacher's act
        return bool(value == "returned")
    rule = _fields.rule_for(field, Resource.GRADE)
    if rule is not None and rule.kind is _fields.Kind.SET:
        return bool(value)
    if rule is not None and rule.kind is _fields.Kind.INTEGER:
        return bool(value not in (0, "0", ""))
    return bool(value != "")
