"""A section's students as a plan reads them: each page decoded typed, just the fields it keeps.

A plan holds every graded section's roster (a district: 100 pages of 250 students). Each Data API
student comes wrapped (``{"data": {...}}``) with a dozen fields and nested ones (schools,
enrollments, credentials) that the plan never reads; decoding them all into dicts, unwrapping
each and then keeping a tenth (:func:`lmsctl.roster.compact_user`) cost more than the pages'
HTTP. :func:`read_roster_page` decodes only what ``compact_user`` keeps, into msgspec Structs,
and :func:`compact_student` makes of each exactly what ``compact_user`` makes of the whole
object. A page of another shape (an item that is not an object or has no ``data``, a name or
roles that are not objects, NaN) gives None: it is decoded as any answer is, and each student
read by ``compact_user`` as before.
"""

from __future__ import annotations

from sys import intern
from typing import Any

import msgspec

from lmsctl import jsonread
from lmsctl.roster import ROSTER_FIELD

_UNSET: Any = msgspec.UNSET
#: the fields of a student a plan keeps at its top level, and in its student role
_TOP = tuple(dict.fromkeys(("id", "email", *ROSTER_FIELD.values())))
_ROLE = tuple(ROSTER_FIELD.values())
_NAME = ("first", "middle", "last")


def _fields(names: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    return [(name, Any, _UNSET) for name in names]


_Name = msgspec.defstruct("_Name", _fields(_NAME))
_Student = msgspec.defstruct("_Student", _fields(_ROLE))
_Roles = msgspec.defstruct("_Roles", [("student", _Student | None, _UNSET)])
_User = msgspec.defstruct(
    "_User", [*_fields(_TOP), ("name", _Name | None, _UNSET), ("roles", _Roles | None, _UNSET)]
)
#: one item of a Data API listing: ``{"data": {...}}``
RosterItem = msgspec.defstruct("RosterItem", [("data", _User | None, _UNSET)])


_read_page = jsonread.page_reader(RosterItem)


def read_roster_page(content: bytes) -> dict[str, Any] | None:
    """A section users page as a plan reads it, ``{"data": [RosterItem...], "links": ...}``,
    or None when it is not of the usual shape (it is then decoded as any answer is)."""
    page = _read_page(content)
    if page is None:
        return None
    items, links = page
    for item in items:
        if item.data is _UNSET:  # (a bare object: the whole object is the user)
            return None
    return {"data": items, "links": links}


def student_of(item: Any) -> Any:
    """The student of a :data:`RosterItem` (None when its ``data`` is null)."""
    return item.data


def compact_student(student: Any) -> dict[str, Any]:
    """What :func:`lmsctl.roster.compact_user` makes of the student, made of the fields decoded."""
    unset = _UNSET
    out = {name: value for name in _TOP if (value := getattr(student, name)) is not unset}
    if type(out.get("id")) is str:
        out["id"] = intern(out["id"])
    name = student.name
    if name is not unset and name is not None:
        out["name"] = {k: v for k in _NAME if (v := getattr(name, k)) is not unset}
    roles = student.roles
    role = roles.student if roles is not unset and roles is not None else None
    if role is not unset and role is not None:
        out["roles"] = {"student": {k: v for k in _ROLE if (v := getattr(role, k)) is not unset}}
    return out
