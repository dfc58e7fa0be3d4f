"""The desired state: what the manifests say, loaded, merged and normalised.

Manifests -> (lmsctl.manifest) -> DesiredState -> sections -> assignments -> grades.
Everything here is frozen. Each value remembers where it was written (``SourcePos``) so that
plan and apply can point at the manifest line behind any change or error.

Field values are in the API's own vocabulary and normal form:
- date-times are strings in Clever's form ``YYYY-MM-DDThh:mm:ss.sssZ`` (UTC), see ``timeutil``;
- numbers are int or float as written; lists are tuples;
- only fields written in the manifest (or its ``defaults``) appear: absent means "not managed".
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from lmsctl.addresses import Address
from lmsctl.fields import ASSIGNMENT_RULES, GRADE_RULES, Kind

# The managed fields and their kinds come from the field table (lmsctl.fields), in its order.

#: Assignment fields lmsctl can manage, as AssignmentRequest names them.
ASSIGNMENT_FIELDS: tuple[str, ...] = tuple(ASSIGNMENT_RULES)

#: Assignment fields that hold date-times.
ASSIGNMENT_DATE_FIELDS: frozenset[str] = frozenset(
    name for name, rule in ASSIGNMENT_RULES.items() if rule.kind is Kind.DATETIME
)

#: Grade fields lmsctl can manage, as SubmissionRequest names them.
GRADE_FIELDS: tuple[str, ...] = tuple(GRADE_RULES)

#: Grade fields that hold date-times.
GRADE_DATE_FIELDS: frozenset[str] = frozenset(
    name for name, rule in GRADE_RULES.items() if rule.kind is Kind.DATETIME
)

#: lmsctl's own assignment keys (never sent to the API).
ASSIGNMENT_OWN_FIELDS: tuple[str, ...] = ("grades", "grades_file", "moved_from", "protect")


class SourcePos(NamedTuple):
    """Where a value was written: file relative to the current folder, 1-based line and column.

    A named tuple: a district's manifests hold one for every grade field, so it is kept small
    and quick to make."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class RefKind(enum.StrEnum):
    """How a manifest names a student: a Clever id, or the prefix of ``kind:value``."""

    ID = "id"
    SIS = "sis"
    EMAIL = "email"
    STUDENT_NUMBER = "student_number"
    STATE_ID = "state_id"


@dataclass(frozen=True, slots=True)
class StudentRef:
    """A reference to a student as written: a Clever id, or ``kind:value`` to resolve."""

    raw: str
    kind: RefKind
    value: str

    def __post_init__(self) -> None:
        # the kind is always a RefKind, also when given by its name ("sis")
        if type(self.kind) is not RefKind:
            object.__setattr__(self, "kind", RefKind(self.kind))

    @property
    def is_id(self) -> bool:
        return self.kind is RefKind.ID


class GradeSource(enum.StrEnum):
    """Where a grade was written: in the section file's ``grades:``, or in a CSV gradebook."""

    INLINE = "inline"
    CSV = "csv"


@dataclass(frozen=True, slots=True, init=False)
class GradeSpec:
    """The grade fields the manifests set for one student on one assignment."""

    student: StudentRef
    fields: Mapping[str, Any]
    pos: SourcePos
    field_pos: Mapping[str, SourcePos]
    source: GradeSource

    def __init__(
        self,
        student: StudentRef,
        fields: Mapping[str, Any],
        pos: SourcePos,
        field_pos: Mapping[str, SourcePos] | None = None,
        source: GradeSource = GradeSource.INLINE,
    ) -> None:
        # the dataclass's own __init__ sets each field through object.__setattr__; the slots'
        # descriptors do the same in three quarters of the time (a district has a GradeSpec
        # per grade)
        _GRADE_SLOTS[0](self, student)
        _GRADE_SLOTS[1](self, fields)
        _GRADE_SLOTS[2](self, pos)
        _GRADE_SLOTS[3](self, {} if field_pos is None else field_pos)
        # the source is always a GradeSource, also when given by its name ("csv")
        _GRADE_SLOTS[4](self, source if type(source) is GradeSource else GradeSource(source))


_GRADE_SLOTS = tuple(
    getattr(GradeSpec, name).__set__ for name in ("student", "fields", "pos", "field_pos", "source")
)


@dataclass(frozen=True, slots=True)
class AssignmentSpec:
    """One assignment of a section, with defaults merged and values normalised."""

    section_id: str
    key: str
    fields: Mapping[str, Any]
    pos: SourcePos
    field_pos: Mapping[str, SourcePos] = field(default_factory=dict)
    grades: tuple[GradeSpec, ...] = ()
    assignee_refs: tuple[StudentRef, ...] = ()
    moved_from: str | None = None
    protect: bool = False
    #: True when a ``grades`` mapping or ``grades_file`` is present (even if empty):
    #: grades of this assignment are then managed.
    manages_grades: bool = False

    @property
    def address(self) -> Address:
        return Address(self.section_id, self.key)

    def grade_address(self, student: str) -> Address:
        return Address(self.section_id, self.key, student)

    def pos_of(self, field_name: str) -> SourcePos:
        return self.field_pos.get(field_name, self.pos)


@dataclass(frozen=True)
class SectionSpec:
    """One section file."""

    section_id: str
    name: str | None
    file: str
    pos: SourcePos
    assignments: tuple[AssignmentSpec, ...] = ()

    @property
    def label(self) -> str:
        return self.name or self.section_id


@dataclass(frozen=True)
class StateConfig:
    """Where state lives (lmsctl.yaml ``state:``)."""

    backend: str = "local"
    path: str = ".lmsctl/state.json"
    dsn: str | None = None  # postgres: a DSN without password (LMSCTL_PG_DSN wins)
    workspace: str = "default"  # postgres: this root's workspace in the shared database
    schema: str = "lmsctl"  # postgres: the schema holding lmsctl's tables
    history: int = 20  # postgres: how many versions of the state to keep


@dataclass(frozen=True)
class FreezeWindow:
    """A ``policies.freeze`` window: [start, end) in UTC, over some sections or schools."""

    name: str
    start: dt.datetime
    end: dt.datetime
    sections: tuple[str, ...] = ()  # empty: every section
    schools: tuple[str, ...] = ()  # empty: every school
    grades: bool = True  # grades may not change
    assignments: bool = True  # assignments may not be created, updated or deleted
    line: int = 0  # where lmsctl.yaml defines it

    def is_open(self, now: dt.datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class ApprovalPolicy:
    """``policies.approval``: which changes need a second reviewer."""

    returned_grades: bool = False
    grade_drop_points: float | None = None
    deletes: bool = False


class DriftPolicy(enum.StrEnum):
    """``policies.on_drift``: what plan does with a value changed in the LMS since the last
    apply, when the manifest did not change it."""

    KEEP = "keep"  # keep the LMS's value (and say so)
    REVERT = "revert"  # put the manifest's value back


@dataclass(frozen=True)
class PolicyConfig:
    """Policies from lmsctl.yaml."""

    on_drift: DriftPolicy = DriftPolicy.KEEP
    max_delete_fraction: float = 0.5
    freeze: tuple[FreezeWindow, ...] = ()
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)


@dataclass(frozen=True)
class ProjectConfig:
    """lmsctl.yaml, with defaults applied."""

    api_url: str = "https://api.clever.com/v3.1"
    district: str | None = None
    timezone: str = "UTC"
    state: StateConfig = field(default_factory=StateConfig)
    policies: PolicyConfig = field(default_factory=PolicyConfig)
    privacy: str | None = None  # "full" | "pseudonymise" | "redact"; None: the default
    file: str | None = None


@dataclass(frozen=True)
class DesiredState:
    """Everything the manifests under one root say."""

    root: Path
    config: ProjectConfig
    sections: tuple[SectionSpec, ...] = ()

    def assignments(self) -> list[AssignmentSpec]:
        return [a for s in self.sections for a in s.assignments]

    def section(self, section_id: str) -> SectionSpec | None:
        for s in self.sections:
            if s.section_id == section_id:
                return s
        return None

    @property
    def grade_count(self) -> int:
        return sum(len(a.grades) for a in self.assignments())
