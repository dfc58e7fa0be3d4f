"""The field table: for every writable assignment and grade field, how the API echoes it, how
lmsctl compares it, and how it can be cleared; and the writes each LMS refuses.

This is the one place that knows that the LMS leaves ``extra_attempts`` out when it is 0, that
``points_possible`` is a 32-bit float, or that Google Classroom rounds grades to 2 decimals.
``lmsctl.diff`` compares with it, the plan builder checks the LMS rules with it, and the manifest
schema pass explains with it why a field cannot be cleared.

Where a rule comes from (the reference is Clever's OpenAPI spec and the research notes):
- ``x-omitempty`` in the spec: Go's encoder leaves the zero value out of answers, so an absent
  field reads as that zero value (``max_attempts``, ``extra_attempts``, ``grade_points``: 0;
  ``submission_types``, ``flags``, ``assignee_ids``, ``attachments``: empty);
- ``format: float``: go-swagger decodes into a ``float32``, so a number comes back rounded to the
  nearest 32-bit float (123456.789 -> 123456.79);
- ``nullable: true`` in ``SubmissionRequest``: a null clears the field; a field that is not
  nullable (``grade_points``, ``extra_attempts``, ``state``) ignores a null (Go's decoder leaves
  a non-pointer value untouched), so lmsctl refuses one with the reason;
- Google Classroom (its REST docs): grades are rounded to 2 decimals; ``maxPoints`` 0 means
  ungraded and reads back unset; only the student turns work in or reclaims it;
- date-times compare as instants at Clever's millisecond precision, whatever the offset written.

Why not deepdiff: each rule here produces one canonical form of a value, and the re-check
fingerprints of a saved plan hash exactly that form. A second comparison path (DeepDiff's
order-free lists, numeric tolerance) would answer "equal or not" by rules of its own that could
disagree with the fingerprint, so a value could read as unchanged at plan and stale at apply.
Attachments, order-free lists and the one numeric tolerance take a few lines on the canonical
form instead.
"""

from __future__ import annotations

import enum
import functools
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from lmsctl.lms import profile
from lmsctl.timeutil import normalize_api_datetime


class Kind(enum.StrEnum):
    TEXT = "text"
    ENUM = "enum"
    NUMBER = "number"
    INTEGER = "integer"
    DATETIME = "datetime"
    SET = "set"  # a list whose order has no meaning
    ATTACHMENTS = "attachments"


class Clear(enum.StrEnum):
    """How a field written as null (``grade_comment: null``) is cleared in the LMS."""

    NULL = "null"  # sent as null (the spec marks it nullable)
    EMPTY = "empty"  # sent as [] (a list: empty is its cleared form)
    NEVER = "never"  # the API cannot clear it: validate refuses the null, with ``clear_reason``


class Resource(enum.StrEnum):
    ASSIGNMENT = "assignment"
    GRADE = "grade"


@dataclass(frozen=True)
class FieldRule:
    """One writable field: its kind, how the API echoes it, how it is cleared."""

    name: str
    resource: Resource
    kind: Kind
    #: the API leaves the field out of answers when it holds this value (x-omitempty)
    omitted_as: Any = None
    #: ``format: float``: stored and echoed as a 32-bit float
    float32: bool = False
    clear: Clear = Clear.NEVER
    clear_reason: str = ""
    clear_hint: str = ""
    #: the API refuses to create an assignment without it
    required_on_create: bool = False

    def empty(self) -> Any:
        """What an absent or null value means when reading the LMS."""
        if self.omitted_as is not None:
            return self.omitted_as
        if self.kind in (Kind.SET, Kind.ATTACHMENTS):
            return []
        return None

    def wire_clear(self) -> Any:
        """The value sent to clear the field."""
        return [] if self.clear is Clear.EMPTY else None


_NOT_NULLABLE = (
    "the API types {name} as a {what} that cannot be null: its decoder ignores a null, "
    "so the value in the LMS would stay"
)

_RULES: tuple[FieldRule, ...] = (
    # -- assignments (AssignmentRequest) --------------------------------------------------------
    FieldRule("title", Resource.ASSIGNMENT, Kind.TEXT, required_on_create=True),
    FieldRule("description", Resource.ASSIGNMENT, Kind.TEXT, required_on_create=True),
    FieldRule("due_date", Resource.ASSIGNMENT, Kind.DATETIME, required_on_create=True),
    FieldRule("display_date", Resource.ASSIGNMENT, Kind.DATETIME),
    FieldRule("start_date", Resource.ASSIGNMENT, Kind.DATETIME),
    FieldRule("end_date", Resource.ASSIGNMENT, Kind.DATETIME),
    FieldRule(
        "points_possible",
        Resource.ASSIGNMENT,
        Kind.NUMBER,
        float32=True,
    ),
    FieldRule("grading_type", Resource.ASSIGNMENT, Kind.ENUM),
    FieldRule("submission_types", Resource.ASSIGNMENT, Kind.SET),
    FieldRule("max_attempts", Resource.ASSIGNMENT, Kind.INTEGER, omitted_as=0),
    FieldRule("assignee_mode", Resource.ASSIGNMENT, Kind.ENUM),
    FieldRule("assignee_ids", Resource.ASSIGNMENT, Kind.SET),
    FieldRule("term_id", Resource.ASSIGNMENT, Kind.TEXT),
    FieldRule("attachments", Resource.ASSIGNMENT, Kind.ATTACHMENTS),
    # -- grades (SubmissionRequest) -------------------------------------------------------------
    FieldRule(
        "grade_points",
        Resource.GRADE,
        Kind.NUMBER,
        omitted_as=0.0,
        float32=True,
        clear=Clear.NEVER,
        clear_reason=_NOT_NULLABLE.format(name="grade_points", what="number")
        + " (and a 0 would be a grade of zero)",
        clear_hint="remove grade_points to stop managing the points (then clear them in the "
        "LMS); write grade: null to clear the grade text, which the API can clear",
    ),
    FieldRule("grade", Resource.GRADE, Kind.TEXT, clear=Clear.NULL),
    FieldRule("grade_comment", Resource.GRADE, Kind.TEXT, clear=Clear.NULL),
    FieldRule("flags", Resource.GRADE, Kind.SET, clear=Clear.EMPTY),
    FieldRule(
        "state",
        Resource.GRADE,
        Kind.ENUM,
        clear=Clear.NEVER,
        clear_reason=_NOT_NULLABLE.format(name="state", what="submission state"),
        clear_hint="a submission always has a state; remove state to stop managing it",
    ),
    FieldRule(
        "extra_attempts",
        Resource.GRADE,
        Kind.INTEGER,
        omitted_as=0,
        clear=Clear.NEVER,
        clear_reason=_NOT_NULLABLE.format(name="extra_attempts", what="whole number"),
        clear_hint="write extra_attempts: 0 to take the extra attempts back",
    ),
    FieldRule("override_due_date", Resource.GRADE, Kind.DATETIME, clear=Clear.NULL),
    FieldRule("grader_id", Resource.GRADE, Kind.TEXT, clear=Clear.NULL),
)

ASSIGNMENT_RULES: Mapping[str, FieldRule] = {
    r.name: r for r in _RULES if r.resource is Resource.ASSIGNMENT
}
GRADE_RULES: Mapping[str, FieldRule] = {r.name: r for r in _RULES if r.resource is Resource.GRADE}

#: the fields an assignment needs before the API will create it (title, description, due_date)
REQUIRED_ON_CREATE: tuple[str, ...] = tuple(r.name for r in _RULES if r.required_on_create)

#: the request fields of an attachment (answers add file_external_id, size, thumbnail_url)
ATTACHMENT_KEYS = ("type", "title", "url", "description", "text")


def rule_for(name: str, resource: Resource | None = None) -> FieldRule | None:
    """The rule of a field; ``resource`` picks between the two ``state``-like homonyms."""
    if resource is Resource.GRADE:
        return GRADE_RULES.get(name)
    if resource is Resource.ASSIGNMENT:
        return ASSIGNMENT_RULES.get(name)
    return ASSIGNMENT_RULES.get(name) or GRADE_RULES.get(name)


def ignored_fields(lms_type: str) -> frozenset[str]:
    """Assignment fields ``lms_type`` ignores on writes (its profile in :mod:`lmsctl.lms`)."""
    return profile(lms_type).ignored_fields & ASSIGNMENT_RULES.keys()


# -- comparison ---------------------------------------------------------------------------------


#: the largest 32-bit float (the schema's maximum for points_possible and grade_points)
FLOAT32_MAX = 3.4028234663852886e38


def to_float32(value: float) -> float:
    """The shortest decimal that a 32-bit float of ``value`` prints as (Go's encoding of a
    float32), back as a Python float: 0.1 -> 0.1, 123456.789 -> 123456.79."""
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        return value
    if value == 0:
        return float(value)  # (not cached: 0.0 and -0.0 are equal keys but print apart)
    return _nonzero_float32(float(value))


@functools.lru_cache(maxsize=4096)
def _nonzero_float32(value: float) -> float:
    # cached: a plan compares each grade's points several times, and grades repeat
    single = struct.unpack("<f", struct.pack("<f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        try:
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
                return float(text)
        except OverflowError:  # rounded up past float32's largest (near 3.4028235e38)
            continue
    return float(single)


def round_half_up(value: float, decimals: int) -> float:
    try:
        exact = Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    except InvalidOperation:
        return value
    return float(exact)


#: normalize's answers for scalar values (a plan compares each grade's fields several times,
#: and grades repeat): (name, type, value, lms_type, resource) -> normal form
_NORMALIZED: dict[tuple[Any, ...], Any] = {}
_NORMALIZED_MAX = 65_536
_NOT_CACHED = object()


def normalize(name: str, value: Any, lms_type: str = "", resource: Resource | None = None) -> Any:
    """The comparable form of a field's value, as the LMS would echo it.

    Canonical, so it also serves fingerprints: equal values normalise to equal forms (except
    within a rounding tolerance, which :func:`equal` allows on top).
    """
    kind = type(value)
    # ints, strings, None and nonzero finite floats (0.0 and -0.0 are equal keys but print
    # apart; NaN is never equal to itself): their normal forms are immutable
    if not (
        kind is int
        or kind is str
        or value is None
        or (kind is float and value != 0 and math.isfinite(value))
    ):
        return _normalize(name, value, lms_type, resource)
    key = (name, kind, value, lms_type, resource)
    found = _NORMALIZED.get(key, _NOT_CACHED)
    if found is _NOT_CACHED:
        if len(_NORMALIZED) >= _NORMALIZED_MAX:
            _NORMALIZED.clear()
        found = _NORMALIZED[key] = _normalize(name, value, lms_type, resource)
    return found


def _normalize(name: str, value: Any, lms_type: str, resource: Resource | None) -> Any:
    rule = rule_for(name, resource)
    if rule is None:
        return value
    if value is None:
        return rule.empty()
    kind = rule.kind
    if kind is Kind.DATETIME:
        return normalize_api_datetime(value)
    if kind is Kind.SET:
        if isinstance(value, list | tuple):
            return sorted({str(v) for v in value})
        return value
    if kind is Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        number = to_float32(float(value)) if rule.float32 else float(value)
        lms = profile(lms_type)
        if name in lms.zero_reads_unset and number == 0:
            return None  # (after the float32: a tiny number is stored as 0)
        places = lms.decimals.get(name)
        if places is not None:
            number = round_half_up(number, places)
            number = to_float32(number) if rule.float32 else number
        return number
    if kind is Kind.INTEGER:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind is Kind.ATTACHMENTS and isinstance(value, list | tuple):
        items = []
        for item in value:
            if isinstance(item, Mapping):
                items.append({k: item[k] for k in ATTACHMENT_KEYS if item.get(k) is not None})
            else:
                items.append(item)
        return sorted(items, key=_attachment_key)
    if name == "grade" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _attachment_key(item: Any) -> tuple[str, ...]:
    if isinstance(item, Mapping):
        return tuple(str(item.get(k, "")) for k in ATTACHMENT_KEYS)
    return (str(item),)


def equal(name: str, a: Any, b: Any, lms_type: str = "", resource: Resource | None = None) -> bool:
    """True when the LMS holding ``b`` means the same as ``a`` (either side may be an echo)."""
    kind = type(a)
    if (kind is str or kind is int or a is None) and kind is type(b) and a == b:
        return True  # one value: normalize gives it one form (the usual grade)
    na = normalize(name, a, lms_type, resource)
    nb = normalize(name, b, lms_type, resource)
    if na == nb:
        return True
    rule, places = _rounding(name, lms_type, resource)
    if places is not None and rule is not None:
        # the rounding mode is not documented (half-up, half-even): a value within half a unit
        # of the other is what the LMS stores for it
        ra, rb = (rule.empty() if v is None else v for v in (a, b))
        if _is_number(ra) and _is_number(rb):
            return bool(abs(float(ra) - float(rb)) <= 0.5 * 10.0**-places + 1e-9)
    return False


#: _rounding's answers: (name, lms_type, resource) -> (rule, decimals the LMS rounds it to)
_ROUNDING: dict[tuple[str, str, Resource | None], tuple[FieldRule | None, int | None]] = {}


def _rounding(
    name: str, lms_type: str, resource: Resource | None
) -> tuple[FieldRule | None, int | None]:
    """A field's rule, and the decimals ``lms_type`` rounds it to (None: it does not)."""
    key = (name, lms_type, resource)
    found = _ROUNDING.get(key)
    if found is None:
        rule = rule_for(name, resource)
        found = (rule, profile(lms_type).decimals.get(name) if rule is not None else None)
        if len(_ROUNDING) < _NORMALIZED_MAX:  # (names and LMS types are few; never evicted)
            _ROUNDING[key] = found
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_wire(name: str, value: Any, resource: Resource | None = None) -> Any:
    """The JSON value sent to the API for a desired value (tuples become lists; a cleared list
    field becomes [])."""
    if value is None:
        rule = rule_for(name, resource)
        return rule.wire_clear() if rule is not None else None
    if isinstance(value, tuple):
        return [to_wire(name, v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_wire(k, v) for k, v in value.items()}
    return value


def is_cleared(name: str, value: Any, resource: Resource | None = None) -> bool:
    """True when ``value`` is the cleared form of the field (null, or [] for lists)."""
    if value is None:
        return True
    rule = rule_for(name, resource)
    return rule is not None and rule.clear is Clear.EMPTY and value in ([], ())


# -- what each LMS refuses ----------------------------------------------------------------------


class Refusal(enum.StrEnum):
    """A write an LMS refuses (each one documented in the reference)."""

    LMS_SUBMISSION_TYPE = "lms-refuses-submission-type"
    LMS_ATTACHMENT_TYPE = "lms-refuses-attachment-type"
    STUDENT_ONLY_STATE = "student-only-state"
    EMPTY_REQUIRED = "empty-required"


@dataclass(frozen=True)
class LmsRefusal:
    """One refused value: which rule, the field, the LMS's own words, and how to fix it."""

    refusal: Refusal
    field: str
    message: str
    hint: str


#: the API's submission types (the order hints list them in), and the attachment types its spec
#: documents (the docs also show text and link; the spec lists only file)
SUBMISSION_TYPES = ("text", "file", "discussion", "link")
ATTACHMENT_TYPES = ("file",)


def _or_list(items: Iterable[str]) -> str:
    words = list(items)
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def assignment_refusals(lms_type: str, fields: Mapping[str, Any]) -> list[LmsRefusal]:
    """The assignment fields (wire form) ``lms_type`` would refuse."""
    lms = profile(lms_type)
    out: list[LmsRefusal] = []
    kinds = [str(k) for k in fields.get("submission_types") or ()]
    for kind in sorted(lms.refused_submission_types.intersection(kinds)):
        out.append(
            LmsRefusal(
                Refusal.LMS_SUBMISSION_TYPE,
                "submission_types",
                f"{lms.name} does not support submission type of {kind}",
                "use "
                + _or_list(k for k in SUBMISSION_TYPES if k not in lms.refused_submission_types),
            )
        )
    attachments = fields.get("attachments") or ()
    types = [str(a.get("type")) for a in attachments if isinstance(a, Mapping)]
    for kind in sorted(lms.refused_attachment_types.intersection(types)):
        out.append(
            LmsRefusal(
                Refusal.LMS_ATTACHMENT_TYPE,
                "attachments",
                f"{lms.name} does not support attachments of type {kind}",
                "use type: "
                + _or_list(k for k in ATTACHMENT_TYPES if k not in lms.refused_attachment_types),
            )
        )
    return out


def grade_refusals(lms_type: str, fields: Mapping[str, Any]) -> list[LmsRefusal]:
    """The grade fields ``lms_type`` would refuse."""
    lms = profile(lms_type)
    out: list[LmsRefusal] = []
    state = fields.get("state")
    if state in lms.student_only_states:
        out.append(
            LmsRefusal(
                Refusal.STUDENT_ONLY_STATE,
                "state",
                f"{lms.name} lets only the student set state {state!r} (turning work in "
                "or reclaiming it); a teacher can only return it",
                "use state: returned to release the grade, or remove state",
            )
        )
    return out


def grade_refusal_fields(lms_type: str) -> frozenset[str]:
    """The grade fields :func:`grade_refusals` reads for ``lms_type``: a grade without any of
    them is never refused."""
    return frozenset({"state"}) if profile(lms_type).student_only_states else frozenset()


def grade_rounding_fields(lms_type: str) -> frozenset[str]:
    """The grade fields ``lms_type`` rounds: :func:`grade_rounding` is None for any other."""
    return frozenset(profile(lms_type).decimals.keys() & GRADE_RULES.keys())


def grade_rounding(lms_type: str, name: str, value: Any) -> float | None:
    """The value ``lms_type`` stores for a grade field when it differs from ``value`` (the LMS
    rounds it), else None."""
    rule = GRADE_RULES.get(name)
    if rule is None or not _is_number(value):
        return None
    places = profile(lms_type).decimals.get(name)
    if places is None:
        return None
    stored = round_half_up(float(value), places)
    return stored if stored != float(value) else None
