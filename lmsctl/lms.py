"""What each LMS behind Clever does differently: one profile per LMS type.

Clever's LMS Connect API is one interface over Canvas, Schoology and Google Classroom, but each
LMS ignores some fields, refuses some values, rounds some numbers and fails in its own way. This
module is the one place that knows it: the field table (:mod:`lmsctl.fields`), the plan builder,
the executor's error hints, the renderers and the sandbox all read :func:`profile`. Adding an
LMS behaviour is one edit to a profile here (plus a test case).

Where each rule comes from: ``../reference`` (Clever's API documents and the research notes on
Canvas, Schoology and Google Classroom).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field


class LmsType(enum.StrEnum):
    """The district's ``lms_type`` as Clever reports it."""

    CANVAS = "canvas"
    SCHOOLOGY = "schoology"
    GOOGLE_CLASSROOM = "google_classroom"


@dataclass(frozen=True)
class FinalError:
    """An LMS error answer that retrying or re-planning cannot fix, with what to do instead."""

    #: the HTTP status and the LMS's words (matched against the whole message)
    status: int
    pattern: re.Pattern[str]
    #: ``grade``: only for grade writes; ``any``: for every write
    applies_to: str
    hint: str

    def matches(self, status: int, message: str) -> bool:
        return status == self.status and bool(self.pattern.fullmatch(" ".join(message.split())))


@dataclass(frozen=True)
class LmsProfile:
    """One LMS: its name and every way it differs from the API's documented behaviour."""

    type: LmsType | None
    #: the name people know it by (plan headers, messages)
    name: str
    #: assignment fields the LMS ignores on writes: never diffed (they would show a diff forever)
    #: and warned about; the sandbox leaves them unchanged
    ignored_fields: frozenset[str] = frozenset()
    #: number fields where 0 means "not set" and reads back as null
    zero_reads_unset: frozenset[str] = frozenset()
    #: grade fields the LMS rounds, and to how many decimals
    decimals: Mapping[str, int] = field(default_factory=dict)
    #: submission types and attachment types the LMS refuses
    refused_submission_types: frozenset[str] = frozenset()
    refused_attachment_types: frozenset[str] = frozenset()
    #: submission states only the student's own action sets (a teacher's write is refused)
    student_only_states: frozenset[str] = frozenset()
    #: only the app that created an assignment may change, grade or delete it, so an adopted
    #: one (``lmsctl import``) is read-only
    creator_only_writes: bool = False
    #: the assignment's start date always reads as its display date
    start_date_is_display_date: bool = False
    #: submissions carry no id of their own
    submission_ids: bool = True
    #: a grade write fails until the student opened the assignment in the LMS
    grade_needs_student_launch: bool = False
    #: error answers that are final, with their hints
    final_errors: tuple[FinalError, ...] = ()
    #: the LMS's own names of API fields, for messages (``points_possible``: ``maxPoints``)
    native_names: Mapping[str, str] = field(default_factory=dict)

    def final_error_hint(self, status: int, message: str, *, grade: bool) -> str:
        """What to do about an error answer, when the LMS is known to answer it that way."""
        for error in self.final_errors:
            if error.applies_to == "grade" and not grade:
                continue
            if error.matches(status, message):
                return error.hint
        return ""


PROFILES: dict[LmsType, LmsProfile] = {
    LmsType.CANVAS: LmsProfile(
        type=LmsType.CANVAS,
        name="Canvas",
        # (its assignment ``state`` too, which lmsctl does not manage)
        ignored_fields=frozenset({"start_date", "term_id", "state"}),
        start_date_is_display_date=True,
    ),
    LmsType.SCHOOLOGY: LmsProfile(
        type=LmsType.SCHOOLOGY,
        name="Schoology",
        refused_submission_types=frozenset({"link"}),
        refused_attachment_types=frozenset({"link"}),
        grade_needs_student_launch=True,
        final_errors=(
            FinalError(
                500,
                re.compile(r".*"),
                "grade",
                "on Schoology this usually means the student has not yet opened the "
                "assignment's LTI link; it works once they have, then run apply again",
            ),
        ),
    ),
    LmsType.GOOGLE_CLASSROOM: LmsProfile(
        type=LmsType.GOOGLE_CLASSROOM,
        name="Google Classroom",
        zero_reads_unset=frozenset({"points_possible"}),
        native_names={"points_possible": "maxPoints"},
        decimals={"grade_points": 2},
        student_only_states=frozenset({"created", "submitted", "reclaimed"}),
        creator_only_writes=True,
        submission_ids=False,
    ),
}

LMS_TYPES: tuple[str, ...] = tuple(t.value for t in LmsType)
_BY_VALUE: dict[str, LmsType] = {t.value: t for t in LmsType}


def lms_type_of(value: object) -> LmsType | None:
    """The LmsType of a district's ``lms_type`` value, or None when it is unknown or missing."""
    return _BY_VALUE.get(str(value or ""))


def profile(lms_type: object) -> LmsProfile:
    """The profile of an ``lms_type`` (an LmsType or its string); an unknown LMS gets a profile
    with no quirks, named by its own value."""
    known = lms_type_of(lms_type)
    if known is not None:
        return PROFILES[known]
    text = str(lms_type or "")
    return _unknown(text)


@functools.lru_cache(maxsize=64)
def _unknown(text: str) -> LmsProfile:
    # cached: the field comparisons ask for a profile per value (a plan asks ~10 per grade)
    return LmsProfile(type=None, name=text or "LMS")


def display_name(lms_type: object) -> str:
    """``Canvas``, ``Google Classroom``...; an unknown value as it is."""
    return profile(lms_type).name
