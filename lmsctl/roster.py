"""Roster resolution: ``sis:``, ``email:``, ``student_number:``, ``state_id:`` -> Clever user ids.

Pure functions over the section's student listing (Data API user objects). Errors come back as
Diagnostics naming the manifest file and line of the reference.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from lmsctl.errors import Diagnostic
from lmsctl.model import RefKind, SourcePos, StudentRef

#: Students read per roster page: the Data API's maximum ``limit`` (its default is 100), so a plan
#: reads a section of up to 10,000 students in one call.
ROSTER_PAGE_LIMIT = 10_000

#: The Data API student field each kind of ``kind:value`` reference is matched against.
ROSTER_FIELD: Mapping[RefKind, str] = {
    RefKind.SIS: "sis_id",
    RefKind.EMAIL: "email",
    RefKind.STUDENT_NUMBER: "student_number",
    RefKind.STATE_ID: "state_id",
}


def _student_fields(user: Mapping[str, Any]) -> dict[str, str]:
    roles = user.get("roles") or {}
    student = roles.get("student") or {}
    out: dict[str, str] = {}
    for key in ("sis_id", "student_number", "state_id"):
        value = student.get(key, user.get(key))
        if value not in (None, ""):
            out[key] = str(value)
    email = user.get("email")
    if email:
        out["email"] = str(email).strip().lower()
    return out


def compact_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """What lmsctl reads of a Data API student, in the same shape: the id, email and name, and
    every field a reference or the privacy scrubber matches (a tenth of the object: a district's
    rosters are held for the whole plan)."""
    out = {k: user[k] for k in ("id", "email", *ROSTER_FIELD.values()) if k in user}
    if type(out.get("id")) is str:  # one string per student id: the manifests', the state's
        out["id"] = intern(out["id"])
    name = user.get("name")
    if isinstance(name, Mapping):
        out["name"] = {k: name[k] for k in ("first", "middle", "last") if k in name}
    roles = user.get("roles")
    student = roles.get("student") if isinstance(roles, Mapping) else None
    if isinstance(student, Mapping):
        out["roles"] = {"student": {k: student[k] for k in ROSTER_FIELD.values() if k in student}}
    return out


def display_name(user: Mapping[str, Any]) -> str:
    name = user.get("name") or {}
    parts = [str(name.get("first") or ""), str(name.get("last") or "")]
    return " ".join(p for p in parts if p).strip()


@dataclass(frozen=True, eq=False)
class Roster:
    """One section's students, indexed by every kind of reference (``index``, made when first
    read: a plan whose grades all name students by Clever id never reads it)."""

    section_id: str
    ids: frozenset[str]
    names: Mapping[str, str]
    #: the students listed, with an id (what ``index`` is made of)
    users: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def from_users(cls, section_id: str, users: Iterable[Mapping[str, Any]]) -> Roster:
        listed: list[Mapping[str, Any]] = []
        ids: set[str] = set()
        names: dict[str, str] = {}
        for user in users:
            uid = str(user.get("id", ""))
            if not uid:
                continue
            listed.append(user)
            ids.add(uid)
            names[uid] = display_name(user)
        return cls(section_id, frozenset(ids), names, tuple(listed))

    @functools.cached_property
    def index(self) -> Mapping[tuple[str, str], tuple[str, ...]]:
        """(roster field, value) -> the ids of the students with it, sorted."""
        index: dict[tuple[str, str], list[str]] = {}
        for user in self.users:
            uid = str(user.get("id", ""))
            for pair in _student_fields(user).items():
                found = index.get(pair)
                if found is None:
                    index[pair] = [uid]
                else:
                    found.append(uid)
        # (nearly every value names one student, of 100k in a district's rosters: sorting that
        # one is the same tuple)
        return {k: (v[0],) if len(v) == 1 else tuple(sorted(set(v))) for k, v in index.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Roster):
            return NotImplemented
        return (self.section_id, self.ids, self.names, self.index) == (
            other.section_id,
            other.ids,
            other.names,
            other.index,
        )

    __hash__ = None  # type: ignore[assignment]  # (as before: its mappings are not hashable)

    def resolve(self, ref: StudentRef) -> tuple[str | None, str]:
        """(user id, "") when found; (None, why) when unknown or ambiguous."""
        if ref.is_id:
            if ref.value in self.ids:
                return ref.value, ""
            return None, f"student {ref.value} is not enrolled in section {self.section_id}"
        value = ref.value.strip().lower() if ref.kind is RefKind.EMAIL else ref.value
        kind = ROSTER_FIELD[ref.kind]
        found = self.index.get((kind, value), ())
        if len(found) == 1:
            return found[0], ""
        if not found:
            return None, f"no student with {kind} {ref.value!r} in section {self.section_id}"
        return None, (
            f"{kind} {ref.value!r} matches {len(found)} students in section "
            f"{self.section_id} ({', '.join(found)})"
        )


def resolve_ref(
    ref: StudentRef, roster: Roster | None, pos: SourcePos, where: str
) -> tuple[str | None, Diagnostic | None]:
    """Resolve one reference; a Diagnostic when it cannot be."""
    if roster is None:
        if ref.is_id:
            return ref.value, None
        return None, Diagnostic.at(
            pos,
            f"cannot resolve {ref.raw!r}: the section's roster was not read",
            where=where,
            rule="roster",
        )
    uid, why = roster.resolve(ref)
    if uid is not None:
        return uid, None
    hint = (
        "use a Clever id or another reference; list the section's students with "
        "GET /sections/<id>/users?role=student"
    )
    if ref.is_id:
        what = "the student from assignee_ids" if "assignee_ids" in where else "the grade"
        hint = f"remove {what}, or check the student id and the section"
    return None, Diagnostic.at(pos, why, hint, where=where, rule="roster")
