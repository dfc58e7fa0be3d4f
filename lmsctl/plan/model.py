"""The plan as a value: ordered changes, drift, conflicts and warnings.

A Plan is data only. Renderers (lmsctl.render) turn it into text, JSON or Markdown; the executor
(lmsctl.apply) carries it out; lmsctl.plan.planfile saves and loads it. Nothing here talks to the
API or prints.

Ordering (the phases apply walks): move (state only) -> create -> update -> grade -> delete.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsctl.addresses import Address
from lmsctl.model import SourcePos

PLAN_FORMAT_VERSION = "1.2"
#: the oldest plan format whose safety data (consents, reasons) this lmsctl can read
OLDEST_READABLE_PLAN_FORMAT = "1.1"


class Action(enum.StrEnum):
    """What a change does. ``symbol`` is what the text plan shows."""

    MOVE = "move"  # state only: an assignment key renamed with moved_from
    CREATE = "create"
    UPDATE = "update"
    GRADE = "grade"  # set grade fields of one student's submission
    DELETE = "delete"
    UNKNOWN = "unknown"  # a create whose outcome is unknown: nothing is done until resolved

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def phase(self) -> int:
        return _PHASES[self]


_SYMBOLS = {
    Action.MOVE: ">",
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.GRADE: "~",
    Action.DELETE: "-",
    Action.UNKNOWN: "?",
}
_PHASES = {
    Action.MOVE: 0,
    Action.CREATE: 1,
    Action.UPDATE: 2,
    Action.GRADE: 3,
    Action.DELETE: 4,
    Action.UNKNOWN: 5,
}


class ResourceKind(enum.StrEnum):
    ASSIGNMENT = "assignment"
    GRADE = "grade"


class FieldReason(enum.StrEnum):
    """Which case of the three-way diff made a field change (renderers map it to words)."""

    NEW = "new"  # the assignment or grade is being created
    UPDATE = "update"  # changed in the manifests
    NEWLY_MANAGED = "newly-managed"  # a field the manifests did not manage before
    REVERT_DRIFT = "revert-drift"  # puts the manifest value back over a change in the LMS
    FORCED = "forced"  # overwrites a conflict (--force)
    RECREATE = "recreate"  # the assignment was deleted in the LMS and is created again


class Reason(enum.StrEnum):
    """Why a change (or a state fix) happens: data for renderers, never parsed from text."""

    NOT_IN_LMS = "not_in_lms"  # create: not yet in the LMS
    DELETED_IN_LMS = "deleted_in_lms"  # create: the LMS answered 404, so it is created again
    MANIFEST_CHANGED = "manifest_changed"
    GRADE = "grade"  # a grade of the change's assignment
    REVERTS_DRIFT = "reverts_drift"
    FORCED = "forced"  # overwrites a conflict (--force)
    NEWLY_MANAGED = "newly_managed"
    MOVED_FROM = "moved_from"  # a key renamed with moved_from: state only
    REMOVED_FROM_MANIFESTS = "removed_from_manifests"
    OUTCOME_UNKNOWN = "outcome_unknown"  # a create whose answer was lost
    GONE_FROM_LMS = "gone_from_lms"  # state fix: removed from the manifests and gone already
    NO_LONGER_MANAGED = "no_longer_managed"  # state fix: a grade left the manifests


class ConflictReason(enum.StrEnum):
    """What makes a conflict."""

    NEVER_APPLIED = "never_applied"  # a grade already set in the LMS that lmsctl never applied
    BOTH_CHANGED = "both_changed"  # changed in the manifests and in the LMS since applied


class Consent(enum.StrEnum):
    """A danger apply carries out only with its own explicit flag (``flag``)."""

    DESTROY_SUBMISSIONS = "destroy_submissions"  # delete turned-in or graded student work
    MASS_DELETE = "mass_delete"  # delete most of a section's tracked assignments at once

    @property
    def flag(self) -> str:
        return _CONSENT_FLAGS[self]


_CONSENT_FLAGS = {
    Consent.DESTROY_SUBMISSIONS: "--allow-destroy-submissions",
    Consent.MASS_DELETE: "--allow-mass-delete",
}


@dataclass(frozen=True, slots=True, init=False)
class FieldChange:
    """One field: its value in the LMS now (``before``) and the value the change sets (``after``).

    ``applied`` is the value lmsctl last applied (None when never applied); ``why`` says which
    case of the three-way diff produced it.
    """

    field: str
    before: Any
    after: Any
    applied: Any = None
    why: FieldReason = FieldReason.UPDATE

    def __init__(
        self,
        field: str,
        before: Any,
        after: Any,
        applied: Any = None,
        why: FieldReason = FieldReason.UPDATE,
    ) -> None:
        # (the slots' descriptors, as Change's __init__: one or more per grade that changes)
        s = _FIELD_CHANGE_SLOTS
        s[0](self, field)
        s[1](self, before)
        s[2](self, after)
        s[3](self, applied)
        s[4](self, why)


_FIELD_CHANGE_SLOTS = tuple(
    getattr(FieldChange, name).__set__ for name in ("field", "before", "after", "applied", "why")
)


@dataclass(frozen=True)
class DeleteImpact:
    """What a delete would destroy."""

    submissions: int = 0
    turned_in: int = 0
    graded: int = 0

    @property
    def holds_student_work(self) -> bool:
        return self.turned_in > 0 or self.graded > 0


@dataclass(frozen=True, slots=True, init=False)
class Change:
    """One thing apply will do, with everything needed to do it and to explain it."""

    address: Address
    action: Action
    kind: ResourceKind
    section_id: str
    key: str
    name: str  # friendly: assignment title, or student name
    section_name: str = ""
    student: str | None = None  # student user id, for grades
    assignment_id: str | None = None  # known for update/grade/delete of existing assignments
    fields: tuple[FieldChange, ...] = ()
    unchanged: int = 0  # managed fields already right (hidden in the text plan)
    body: Mapping[str, Any] = field(default_factory=dict)  # exactly what will be sent
    reasons: tuple[Reason, ...] = ()
    source: str = ""  # manifest file:line:col behind the change (given as text or SourcePos)
    fingerprint: str | None = None  # of the live value the plan saw (None: nothing live yet)
    depends_on: str | None = None  # address of the create a grade waits for
    impact: DeleteImpact | None = None
    moved_from: str | None = None  # for MOVE: the old address

    def __init__(
        self,
        address: Address | None,
        action: Action,
        kind: ResourceKind,
        section_id: str,
        key: str,
        name: str,
        section_name: str = "",
        student: str | None = None,
        assignment_id: str | None = None,
        fields: tuple[FieldChange, ...] = (),
        unchanged: int = 0,
        body: Mapping[str, Any] | None = None,
        reasons: tuple[Reason, ...] = (),
        source: str | SourcePos = "",
        fingerprint: str | None = None,
        depends_on: str | None = None,
        impact: DeleteImpact | None = None,
        moved_from: str | None = None,
    ) -> None:
        # the dataclass's own __init__ sets each field through object.__setattr__; the slots'
        # descriptors do the same in a third of the time (a plan may hold a change per grade)
        s = _CHANGE_SLOTS
        # an address made of the change's own parts (or None) is kept as those parts, and a
        # SourcePos as itself: both are made into text when read (see _change_address and
        # _change_source); a grade change's address and source were 260 of its 440 bytes
        if address is None or (
            type(address) is Address
            and address.student == student
            and address.key == key
            and address.section_id == section_id
        ):
            s[0](self, None)
        else:
            s[0](self, address)
        s[1](self, action)
        s[2](self, kind)
        s[3](self, section_id)
        s[4](self, key)
        s[5](self, name)
        s[6](self, section_name)
        s[7](self, student)
        s[8](self, assignment_id)
        s[9](self, fields)
        s[10](self, unchanged)
        s[11](self, {} if body is None else body)
        s[12](self, reasons)
        s[13](self, source)
        s[14](self, fingerprint)
        s[15](self, depends_on)
        s[16](self, impact)
        s[17](self, moved_from)

    @property
    def symbol(self) -> str:
        return self.action.symbol


_CHANGE_FIELDS = (
    "address",
    "action",
    "kind",
    "section_id",
    "key",
    "name",
    "section_name",
    "student",
    "assignment_id",
    "fields",
    "unchanged",
    "body",
    "reasons",
    "source",
    "fingerprint",
    "depends_on",
    "impact",
    "moved_from",
)
_CHANGE_SLOTS = tuple(getattr(Change, name).__set__ for name in _CHANGE_FIELDS)
# (the slots' own descriptors: the fields are properties below)
_ADDRESS_HELD = getattr(Change, "address").__get__  # noqa: B009
_SOURCE_HELD = getattr(Change, "source").__get__  # noqa: B009


def _change_address(change: Change) -> Address:
    """A change's address: as given, or made of its section, key and student."""
    held = _ADDRESS_HELD(change)
    if held is None:
        return Address(change.section_id, change.key, change.student)
    return held  # type: ignore[no-any-return]


def _change_source(change: Change) -> str:
    """A change's ``file:line:col``: as given, or its SourcePos as that text."""
    held = _SOURCE_HELD(change)
    return str(held) if type(held) is SourcePos else held


# the fields read through these (dataclasses.replace, ==, repr, pickle and copy read and set
# them by name: object.__setattr__ reaches the setters, which keep the value as given)
setattr(Change, "address", property(_change_address, _CHANGE_SLOTS[0]))  # noqa: B010
setattr(Change, "source", property(_change_source, _CHANGE_SLOTS[13]))  # noqa: B010


@dataclass(frozen=True, slots=True)
class Drift:
    """A managed field somebody changed in the LMS since lmsctl applied it."""

    address: str
    field: str
    applied: Any
    live: Any
    desired: Any
    name: str = ""
    reverted: bool = False  # True when this plan puts the manifest value back
    source: str = ""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field that moved both in the manifests and in the LMS (or a grade lmsctl never set)."""

    address: str
    field: str
    applied: Any
    live: Any
    desired: Any
    name: str = ""
    why: ConflictReason = ConflictReason.BOTH_CHANGED
    source: str = ""
    forced: bool = False  # True when --force makes this plan overwrite the LMS value


@dataclass(frozen=True, slots=True)
class StateFix:
    """A state-only correction apply records without an API call.

    Used when the LMS already holds the desired value (so nothing is sent) but state's record of
    what was applied is missing or stale, and when a field stops being managed.
    """

    address: str  # assignment address
    student: str | None
    set_fields: Mapping[str, Any] = field(default_factory=dict)
    drop_fields: tuple[str, ...] = ()
    forget: bool = False  # remove the record (e.g. an assignment already gone from the LMS)
    protect: bool | None = None  # record the manifest's ``protect`` flag (None: unchanged)
    why: Reason | None = None
    #: intents resolved by the plan (fields of the assignment, or of ``student``'s grade): the
    #: confirmed ones are in ``set_fields``; the rest did not reach the LMS or were overwritten
    clear_intents: tuple[str, ...] = ()
    clear_delete: bool = False  # a DELETE that did not happen: the assignment is still live


@dataclass(frozen=True)
class ConsentNeed:
    """Something in the plan that apply carries out only with ``consent``'s flag.

    DESTROY_SUBMISSIONS: ``address`` is the delete, ``impact`` the student work it destroys.
    MASS_DELETE: ``address`` is the section id; it deletes ``deleting`` of its ``tracked``.
    """

    consent: Consent
    address: str
    impact: DeleteImpact | None = None
    deleting: int = 0
    tracked: int = 0


class ApprovalRule(enum.StrEnum):
    """A ``policies.approval`` rule: a change it matches needs a second reviewer."""

    RETURNED_GRADE = "returned_grade"  # a grade whose submission is returned to the student
    GRADE_DROP = "grade_drop"  # grade_points lowered by more than the policy's points
    DELETE = "delete"  # any delete of an assignment


@dataclass(frozen=True)
class ApprovalNeed:
    """A change that a ``policies.approval`` rule says needs approval (``--detailed-exitcode``
    exits 3). For GRADE_DROP, ``drop`` is how many points the grade goes down."""

    rule: ApprovalRule
    address: str
    drop: float | None = None


@dataclass(frozen=True)
class FrozenChange:
    """A change inside a ``policies.freeze`` window (``window`` is its name).

    ``allowed`` is True when ``--allow-frozen WINDOW`` let it through; otherwise the plan
    blocks (exit 1) and apply refuses it.
    """

    window: str
    address: str
    allowed: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything a plan found, ready to render, save, or execute."""

    changes: tuple[Change, ...] = ()
    drift: tuple[Drift, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    warnings: tuple[str, ...] = ()
    state_fixes: tuple[StateFix, ...] = ()
    consents: tuple[ConsentNeed, ...] = ()
    approvals: tuple[ApprovalNeed, ...] = ()
    frozen: tuple[FrozenChange, ...] = ()
    lineage: str = ""
    serial: int = 0
    api_url: str = ""
    district_id: str = ""
    lms_type: str = ""
    manifests_digest: str = ""
    created: str = ""
    #: the planner's options in effect (revert_drift, force, targets), as the document shows them
    options: Mapping[str, Any] = field(default_factory=dict)
    #: the manifests root the plan was made in (apply of a saved plan opens it)
    root: Path | None = None
    #: the freeze windows ``--allow-frozen`` let through, and the school of each changed section
    #: (for windows that name schools): apply's re-check judges a saved plan the same way
    allow_frozen: tuple[str, ...] = ()
    section_schools: Mapping[str, str] = field(default_factory=dict)

    @property
    def actionable(self) -> tuple[Change, ...]:
        """Changes apply will carry out (everything but the unknown ones)."""
        return tuple(c for c in self.changes if c.action is not Action.UNKNOWN)

    @property
    def has_changes(self) -> bool:
        # (the first actionable change answers it: no tuple of them all)
        return any(c.action is not Action.UNKNOWN for c in self.changes)

    @property
    def blocking_conflicts(self) -> tuple[Conflict, ...]:
        return tuple(c for c in self.conflicts if not c.forced)

    @property
    def blocking_frozen(self) -> tuple[FrozenChange, ...]:
        """Changes inside a freeze window that no ``--allow-frozen`` let through."""
        return tuple(f for f in self.frozen if not f.allowed)

    def required_consents(self) -> tuple[ConsentNeed, ...]:
        """Every consent this plan needs: those the planner recorded, plus every delete whose
        impact holds student work, read from the change itself (so a plan whose consent
        records were lost still needs the consent)."""
        needs = list(self.consents)
        recorded = {(n.consent, n.address) for n in needs}
        for c in self.changes:
            if (
                c.action is Action.DELETE
                and c.impact is not None
                and c.impact.holds_student_work
                and (Consent.DESTROY_SUBMISSIONS, c.address) not in recorded
            ):
                needs.append(ConsentNeed(Consent.DESTROY_SUBMISSIONS, c.address, c.impact))
        return tuple(needs)

    @property
    def unknown(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is Action.UNKNOWN)

    def counts(self) -> Counter[Action]:
        return Counter(c.action for c in self.changes)

    def summary(self, counts: Counter[Action] | None = None) -> str:
        """The plan's closing line (``counts``: :meth:`counts`, if already made)."""
        n = self.counts() if counts is None else counts
        text = (
            f"Plan: {n[Action.CREATE]} to create, {n[Action.UPDATE]} to update, "
            f"{n[Action.GRADE]} grades to set, {n[Action.DELETE]} to delete."
        )
        extra = []
        if n[Action.MOVE]:
            extra.append(f"{n[Action.MOVE]} to move in state")
        if n[Action.UNKNOWN]:
            extra.append(f"{n[Action.UNKNOWN]} with unknown outcome")
        if self.blocking_conflicts:
            n_conflicts = len(self.blocking_conflicts)
            extra.append(f"{n_conflicts} conflict{'s' if n_conflicts != 1 else ''}")
        if self.blocking_frozen:
            extra.append(f"{len(self.blocking_frozen)} frozen")
        if self.approvals:
            extra.append(f"{len({a.address for a in self.approvals})} need approval")
        if extra:
            text = text[:-1] + " (" + ", ".join(extra) + ")."
        return text


#: one encoder for every canonical form: ``json.dumps`` with options builds a new encoder per
#: call, which a plan pays once per grade (the output is the same)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)``."""
    return _CANONICAL.encode(value)
