"""What lmsctl remembers between runs: the state snapshot.

State maps each resource address (``<section id>/<assignment key>``) to the LMS assignment id
and to the values lmsctl last applied, field by field and, per student, grade field by grade
field. The planner compares those "last applied" values with the manifests and with the live
LMS (the three-way diff).

A snapshot is versioned like Terraform's: a ``lineage`` (uuid4, fixed for the life of one state)
and a ``serial`` bumped by every write. It is bound to one API base URL and one district, so the
same state is never used against another LMS.

Records and snapshots are mutable on purpose: apply updates them after every call and writes
them out. Use :meth:`StateSnapshot.copy` before changing one you do not own.
"""

from __future__ import annotations

import copy as _copy
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from lmsctl.addresses import assignment_address
from lmsctl.errors import StateError, StateMismatchError

#: The newest state format this version of lmsctl reads and writes.
FORMAT_VERSION = 1


class ResourceStatus(enum.StrEnum):
    """How sure lmsctl is that an address's assignment exists in the LMS."""

    CREATED = "created"  # the assignment exists; assignment_id known
    PENDING = "pending"  # intent recorded before a POST; the answer has not come back (yet)
    UNKNOWN = "unknown"  # a POST was sent and its answer lost: it may exist; never re-create


@dataclass
class ResourceRecord:
    """One managed assignment: its LMS id and what lmsctl last applied to it."""

    section_id: str
    key: str
    assignment_id: str | None
    status: ResourceStatus
    #: assignment field -> value lmsctl last applied (API normal form)
    applied: dict[str, Any]
    #: student user id -> {grade field -> value lmsctl last applied}
    grades: dict[str, dict[str, Any]]
    created_at: str | None = None  # Clever-format timestamps
    updated_at: str | None = None
    intent_at: str | None = None  # when a create intent was recorded
    #: ``protect: true`` in the manifest when last planned (a delete is then refused)
    protect: bool = False
    #: adopted with ``lmsctl import`` (made by someone else): Google Classroom lets only the app
    #: that created an assignment change it, its grades or delete it
    adopted: bool = False
    #: intents: values lmsctl is sending, recorded before each write and cleared when the write
    #: is recorded as applied. After a crash, a live value equal to one of them is lmsctl's own
    #: unrecorded write, not a teacher's. assignment field -> values sent (oldest first)
    intended: dict[str, list[Any]] = field(default_factory=dict)
    #: student user id -> {grade field -> values sent (oldest first)}
    intended_grades: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    #: a DELETE was about to be sent (or was sent) and its answer not recorded
    deleting: bool = False

    @property
    def has_intent(self) -> bool:
        return bool(self.intended or self.intended_grades or self.deleting)

    def intend(self, values: dict[str, Any], student: str | None = None) -> None:
        """Record that ``values`` are about to be sent (before the write)."""
        target = self.intended if student is None else self.intended_grades.setdefault(student, {})
        for name, value in values.items():
            sent = target.setdefault(name, [])
            if value not in sent:
                sent.append(_copy.deepcopy(value))

    def forget_intent(self, names: Iterable[str], student: str | None = None) -> None:
        """Drop the intents of ``names`` (the write is recorded, refused, or resolved by a plan)."""
        target = self.intended if student is None else self.intended_grades.get(student, {})
        for name in names:
            target.pop(name, None)
        if student is not None and not target:
            self.intended_grades.pop(student, None)

    @property
    def address(self) -> str:
        return assignment_address(self.section_id, self.key)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "section_id": self.section_id,
            "key": self.key,
            "assignment_id": self.assignment_id,
            "status": self.status.value,
            "applied": self.applied,
            "grades": self.grades,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "intent_at": self.intent_at,
        }
        if self.protect:
            data["protect"] = True
        if self.adopted:
            data["adopted"] = True
        intent: dict[str, Any] = {}
        if self.intended:
            intent["fields"] = self.intended
        if self.intended_grades:
            intent["grades"] = self.intended_grades
        if self.deleting:
            intent["delete"] = True
        if intent:  # optional: state without it (older lmsctl's) reads as "no intent"
            data["intent"] = intent
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "resource", copy: bool = True) -> ResourceRecord:
        """Build a record from its JSON form; StateError naming ``where`` if it is malformed.

        The record copies what it keeps of ``data``; with ``copy=False`` it takes it over (for
        JSON just parsed and dropped after: a state of 100k grades then costs no copy of them).
        """
        if not isinstance(data, dict):
            raise StateError(f"{where}: expected an object, found {_kind(data)}")
        section_id = _str(data, "section_id", where)
        key = _str(data, "key", where)
        raw_status = _str(data, "status", where)
        try:
            status = ResourceStatus(raw_status)
        except ValueError:
            allowed = ", ".join(s.value for s in ResourceStatus)
            raise StateError(f"{where}: status {raw_status!r} is not one of {allowed}") from None
        assignment_id = _opt_str(data, "assignment_id", where)
        applied = data.get("applied", {})
        if not isinstance(applied, dict):
            raise StateError(f"{where}: 'applied' must be an object, found {_kind(applied)}")
        grades = data.get("grades", {})
        if not isinstance(grades, dict):
            raise StateError(f"{where}: 'grades' must be an object, found {_kind(grades)}")
        for student, values in grades.items():
            if not isinstance(values, dict):
                raise StateError(
                    f"{where}: grades of {student!r} must be an object, found {_kind(values)}"
                )
        protect = data.get("protect", False)
        if not isinstance(protect, bool):
            raise StateError(f"{where}: 'protect' must be true or false")
        adopted = data.get("adopted", False)
        if not isinstance(adopted, bool):
            raise StateError(f"{where}: 'adopted' must be true or false")
        intended, intended_grades, deleting = _intent(data.get("intent"), where)
        return cls(
            section_id=section_id,
            key=key,
            assignment_id=assignment_id,
            status=status,
            applied=_json_copy(applied) if copy else applied,
            # the student ids interned: one string per student, shared with the manifests and
            # the live submissions
            grades={intern(str(s)): _json_copy(v) if copy else v for s, v in grades.items()},
            created_at=_opt_str(data, "created_at", where),
            updated_at=_opt_str(data, "updated_at", where),
            intent_at=_opt_str(data, "intent_at", where),
            protect=protect,
            adopted=adopted,
            intended=intended,
            intended_grades=intended_grades,
            deleting=deleting,
        )


def _json_copy(value: Any) -> Any:
    """A copy of JSON data that shares its (immutable) scalars: what ``deepcopy`` gives, without
    its bookkeeping, which was most of reading a large state."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value if isinstance(value, str | int | float | bool | None) else _copy.deepcopy(value)


def _intent(
    raw: Any, where: str
) -> tuple[dict[str, list[Any]], dict[str, dict[str, list[Any]]], bool]:
    """The optional ``intent`` object of a record: fields, grades, delete."""
    if raw is None:
        return {}, {}, False
    if not isinstance(raw, dict):
        raise StateError(f"{where}: 'intent' must be an object, found {_kind(raw)}")

    def values(obj: Any, what: str) -> dict[str, list[Any]]:
        if not isinstance(obj, dict) or not all(isinstance(v, list) for v in obj.values()):
            raise StateError(f"{where}: {what} must map each field to a list of values")
        return {str(k): _copy.deepcopy(v) for k, v in obj.items()}

    fields = values(raw.get("fields", {}), "intent.fields")
    grades_raw = raw.get("grades", {})
    if not isinstance(grades_raw, dict):
        raise StateError(f"{where}: intent.grades must be an object, found {_kind(grades_raw)}")
    grades = {str(s): values(v, f"intent.grades of {s!r}") for s, v in grades_raw.items()}
    delete = raw.get("delete", False)
    if not isinstance(delete, bool):
        raise StateError(f"{where}: intent.delete must be true or false")
    return fields, grades, delete


@dataclass
class StateSnapshot:
    """Everything lmsctl manages under one root, as of one serial."""

    lineage: str  # uuid4, new for a new state
    serial: int  # bumped on every write
    api_url: str | None  # the API base URL this state belongs to (set on first write)
    district_id: str | None  # the district it belongs to
    resources: dict[str, ResourceRecord] = field(default_factory=dict)  # address -> record
    format_version: int = FORMAT_VERSION

    @classmethod
    def empty(cls) -> StateSnapshot:
        """A new state: fresh lineage, serial 0, bound to nothing yet."""
        return cls(lineage=str(uuid.uuid4()), serial=0, api_url=None, district_id=None)

    def copy(self) -> StateSnapshot:
        """A deep copy: changing it never changes this one."""
        return _copy.deepcopy(self)

    @property
    def grade_count(self) -> int:
        return sum(len(r.grades) for r in self.resources.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "api_url": self.api_url,
            "district_id": self.district_id,
            "resources": {address: r.to_dict() for address, r in self.resources.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, *, copy: bool = True) -> StateSnapshot:
        """Build a snapshot from its JSON form; StateError saying what is wrong if it is junk.

        ``copy=False`` takes ``data``'s values over instead of copying them (see
        :meth:`ResourceRecord.from_dict`): for JSON the caller just parsed and drops.
        """
        if not isinstance(data, dict):
            raise StateError(f"state must be a JSON object, found {_kind(data)}")
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise StateError(f"state has no valid format_version (found {version!r})")
        if version > FORMAT_VERSION:
            raise StateError(
                f"state has format_version {version}, newer than this lmsctl reads "
                f"({FORMAT_VERSION})",
                hint="upgrade lmsctl; an older version must not rewrite newer state",
            )
        lineage = _str(data, "lineage", "state")
        serial = data.get("serial")
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise StateError(f"state: 'serial' must be a whole number >= 0, found {serial!r}")
        resources_raw = data.get("resources", {})
        if not isinstance(resources_raw, dict):
            raise StateError(f"state: 'resources' must be an object, found {_kind(resources_raw)}")
        resources: dict[str, ResourceRecord] = {}
        for address, raw in resources_raw.items():
            record = ResourceRecord.from_dict(raw, where=f"state resource {address!r}", copy=copy)
            if record.address != address:
                raise StateError(
                    f"state resource {address!r} says it is {record.address!r} "
                    "(section_id/key disagree with its address)"
                )
            resources[address] = record
        return cls(
            lineage=lineage,
            serial=serial,
            api_url=_opt_str(data, "api_url", "state"),
            district_id=_opt_str(data, "district_id", "state"),
            resources=resources,
            format_version=FORMAT_VERSION,
        )


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def ensure_binding(snapshot: StateSnapshot, api_url: str, district_id: str) -> None:
    """Refuse to use state that belongs to another API base URL or district.

    Fields not yet set in the snapshot (a new state) match anything; an empty ``district_id``
    argument means "not known yet" and skips the district check. Raises StateMismatchError
    naming both sides and how to fix it. Never changes the snapshot (see :func:`bind`).
    """
    if snapshot.api_url and api_url and not _same_url(snapshot.api_url, api_url):
        raise StateMismatchError(
            f"this state belongs to {snapshot.api_url}"
            + (f" (district {snapshot.district_id})" if snapshot.district_id else "")
            + f", not to {api_url}",
            hint=(
                f"use --api-url {snapshot.api_url} (or --sandbox if it is the sandbox's), "
                "or point state.path in lmsctl.yaml at another state file"
            ),
        )
    if snapshot.district_id and district_id and snapshot.district_id != district_id:
        raise StateMismatchError(
            f"this state belongs to district {snapshot.district_id} at "
            f"{snapshot.api_url or api_url}, but the token reaches district {district_id}",
            hint=(
                f"use the token of district {snapshot.district_id} (or set district: in "
                "lmsctl.yaml), or point state.path in lmsctl.yaml at another state file"
            ),
        )


def bind(snapshot: StateSnapshot, api_url: str, district_id: str) -> None:
    """Check the binding, then record the API base URL and district where still unset."""
    ensure_binding(snapshot, api_url, district_id)
    if not snapshot.api_url and api_url:
        snapshot.api_url = api_url
    if not snapshot.district_id and district_id:
        snapshot.district_id = district_id


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _str(data: dict[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise StateError(f"{where}: {name!r} must be a non-empty string, found {value!r}")
    return value


def _opt_str(data: dict[str, Any], name: str, where: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise StateError(f"{where}: {name!r} must be a string or null, found {value!r}")
    return value


__all__ = [
    "FORMAT_VERSION",
    "ResourceRecord",
    "ResourceStatus",
    "StateSnapshot",
    "bind",
    "ensure_binding",
]
