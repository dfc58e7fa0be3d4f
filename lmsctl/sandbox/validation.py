"""Checks of request bodies, with the messages Clever's Go backend answers.

Types are checked the way Go's ``encoding/json`` decodes into typed structs (``json: cannot
unmarshal ...``), date-times the way Go's ``time.Parse`` reads RFC 3339 (``parsing time ...``),
and enums the way go-openapi validates (``validation failure list:\\n<field> in body should be
one of [...]``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ASSIGNEE_MODES = ("all", "individuals")
GRADING_TYPES = ("points", "percent", "pass_fail", "letter_grade")
SUBMISSION_TYPES = ("link", "file", "text", "discussion")
ASSIGNMENT_STATES = ("draft", "scheduled", "open", "locked")
SUBMISSION_STATES = ("created", "submitted", "returned", "reclaimed")
SUBMISSION_FLAGS = ("excused", "late", "missing")
#: what the docs show for attachments (the spec lists only "file"); an LMS may refuse some
#: (its profile's refused_attachment_types)
ATTACHMENT_TYPES = ("file", "text", "link")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_object_id(value: str) -> bool:
    return bool(_OBJECT_ID.match(value))


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


class BodyError(ValueError):
    """A request body Clever would refuse with 400; the message is Clever's."""


# -- field kinds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """How one body field is decoded: kind, Go type name, enum, nullability."""

    kind: str  # string | number | integer | datetime | enum | enum_list | string_list | attachments
    go_type: str
    enum: tuple[str, ...] = ()
    nullable: bool = True
    #: the spec's ``format: float``: go-swagger keeps the value in a float32
    float32: bool = False


ASSIGNMENT_FIELDS: dict[str, Field] = {
    "title": Field("string", "string"),
    "description": Field("string", "string"),
    "description_plaintext": Field("string", "string"),
    "display_date": Field("datetime", "strfmt.DateTime"),
    "due_date": Field("datetime", "strfmt.DateTime"),
    "end_date": Field("datetime", "strfmt.DateTime"),
    "start_date": Field("datetime", "strfmt.DateTime"),
    "assignee_mode": Field("enum", "models.AssigneeMode", ASSIGNEE_MODES, nullable=False),
    "assignee_ids": Field("string_list", "[]string", nullable=False),
    "attachments": Field("attachments", "[]*models.AttachmentRequest", nullable=False),
    "grading_type": Field("enum", "models.GradingType", GRADING_TYPES, nullable=False),
    "max_attempts": Field("integer", "int64", nullable=False),
    "points_possible": Field("number", "float64", float32=True),
    "submission_types": Field(
        "enum_list", "[]models.SubmissionType", SUBMISSION_TYPES, nullable=False
    ),
    "term_id": Field("string", "string"),
    "state": Field("enum", "models.AssignmentState", ASSIGNMENT_STATES, nullable=False),
}

SUBMISSION_FIELDS: dict[str, Field] = {
    "attachments": Field("attachments", "[]*models.AttachmentRequest", nullable=False),
    "extra_attempts": Field("integer", "int64", nullable=False),
    "flags": Field("enum_list", "[]models.SubmissionFlag", SUBMISSION_FLAGS, nullable=False),
    "grade": Field("string", "string"),
    "grade_comment": Field("string", "string"),
    # not nullable in the spec (x-omitempty): a null is ignored, as Go leaves a float untouched
    "grade_points": Field("number", "float64", nullable=False, float32=True),
    "grader_id": Field("string", "string"),
    "override_due_date": Field("datetime", "strfmt.DateTime"),
    "state": Field("enum", "models.SubmissionState", SUBMISSION_STATES, nullable=False),
}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _unmarshal_error(
    value: Any, model: str, name: str, go_type: str, *, literal: bool = False
) -> BodyError:
    """Go's UnmarshalTypeError; a number Go could not parse into the type is quoted."""
    kind = _json_kind(value)
    if kind == "number" and literal:
        kind = f"number {getattr(value, 'literal', value)}"
    return BodyError(
        f"json: cannot unmarshal {kind} into Go struct field {model}.{name} of type {go_type}"
    )


def decode_body(body: Any, fields: Mapping[str, Field], model: str) -> dict[str, Any]:
    """Check a decoded JSON body against ``fields``.

    Returns the known fields that were sent, with date-times parsed to aware datetimes. A null
    for a field that is not nullable counts as not sent (as Go leaves such a field untouched).
    Unknown fields are ignored, as Go does. Raises BodyError with Clever's message.
    """
    if not isinstance(body, dict):
        raise BodyError(
            f"json: cannot unmarshal {_json_kind(body)} into Go value of type models.{model}"
        )
    result: dict[str, Any] = {}
    enum_failures: list[str] = []
    for name, spec in fields.items():
        if name not in body:
            continue
        value = body[name]
        if value is None:
            if spec.nullable:
                result[name] = None
            continue
        if spec.kind in ("string", "enum"):
            if not isinstance(value, str):
                raise _unmarshal_error(value, model, name, spec.go_type)
            if spec.kind == "enum" and value not in spec.enum:
                enum_failures.append(f"{name} in body should be one of [{' '.join(spec.enum)}]")
            result[name] = value
        elif spec.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _unmarshal_error(value, model, name, spec.go_type)
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):  # 1e309: out of float64's range, as Go says
                raise _unmarshal_error(value, model, name, spec.go_type, literal=True)
            result[name] = go_float32(number) if spec.float32 else number
        elif spec.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _unmarshal_error(value, model, name, spec.go_type)
            # Go's ParseInt: no fraction or exponent (1.0, 1e30), and within int64
            if isinstance(value, float) or not INT64_MIN <= value <= INT64_MAX:
                raise _unmarshal_error(value, model, name, spec.go_type, literal=True)
            result[name] = int(value)
        elif spec.kind == "datetime":
            if not isinstance(value, str):
                raise _unmarshal_error(value, model, name, spec.go_type)
            result[name] = parse_go_datetime(value)
        elif spec.kind in ("string_list", "enum_list"):
            if not isinstance(value, list):
                raise _unmarshal_error(value, model, name, spec.go_type)
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise _unmarshal_error(item, model, name, "string")
                if spec.kind == "enum_list" and item not in spec.enum:
                    enum_failures.append(
                        f"{name}.{i} in body should be one of [{' '.join(spec.enum)}]"
                    )
            result[name] = list(value)
        elif spec.kind == "attachments":
            result[name] = _attachments(value, model, name, enum_failures)
    if enum_failures:
        raise BodyError("validation failure list:\n" + "\n".join(enum_failures))
    return result


def _attachments(value: Any, model: str, name: str, failures: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _unmarshal_error(value, model, name, "[]*models.AttachmentRequest")
    result: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _unmarshal_error(item, model, name, "models.AttachmentRequest")
        attachment: dict[str, Any] = {}
        for key in ("type", "title", "description", "url", "text"):
            field_value = item.get(key)
            if field_value is not None and not isinstance(field_value, str):
                raise _unmarshal_error(field_value, "AttachmentRequest", key, "string")
            if key in item:
                attachment[key] = field_value
        kind = attachment.get("type")
        if kind is not None and kind not in ATTACHMENT_TYPES:
            failures.append(
                f"{name}.{i}.type in body should be one of [{' '.join(ATTACHMENT_TYPES)}]"
            )
        result.append(attachment)
    return result


def go_float32(value: float) -> float:
    """``value`` kept in a Go float32 and encoded by encoding/json (shortest digits that read
    back as the same float32), as a Python float."""
    if not math.isfinite(value) or abs(value) > 3.4028234663852886e38:  # float32's largest
        return value
    single = struct.unpack("<f", struct.pack("<f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        try:
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
                return float(text)
        except OverflowError:  # rounded up past float32's largest (near 3.4028235e38)
            continue
    return float(single)


# -- date-times the way Go's time.Parse reads RFC 3339 ---------------------------------------

_LAYOUT = "2006-01-02T15:04:05Z07:00"
_STEPS: tuple[tuple[str, str], ...] = (
    ("2006", r"\d{4}"),
    ("-", "-"),
    ("01", r"\d{2}"),
    ("-", "-"),
    ("02", r"\d{2}"),
    ("T", "T"),
    ("15", r"\d{2}"),
    (":", ":"),
    ("04", r"\d{2}"),
    (":", ":"),
    ("05", r"\d{2}(?:\.\d+)?"),
    ("Z07:00", r"Z|[+-]\d{2}:\d{2}"),
)


def parse_go_datetime(text: str) -> dt.datetime:
    """Parse an RFC 3339 date-time; BodyError with Go's ``parsing time`` message if it is not."""
    rest = text
    parts: list[str] = []
    for element, pattern in _STEPS:
        match = re.match(pattern, rest)
        if match is None:
            raise BodyError(
                f'parsing time "{text}" as "{_LAYOUT}": cannot parse "{rest}" as "{element}"'
            )
        parts.append(match.group(0))
        rest = rest[match.end() :]
    if rest:
        raise BodyError(f'parsing time "{text}": extra text: "{rest}"')
    year, month, day = int(parts[0]), int(parts[2]), int(parts[4])
    hour, minute = int(parts[6]), int(parts[8])
    second_text = parts[10]
    if not 1 <= month <= 12:
        raise BodyError(f'parsing time "{text}": month out of range')
    try:
        dt.date(max(year, 1), month, day)
    except ValueError:
        raise BodyError(f'parsing time "{text}": day out of range') from None
    if hour > 23:
        raise BodyError(f'parsing time "{text}": hour out of range')
    if minute > 59:
        raise BodyError(f'parsing time "{text}": minute out of range')
    seconds = int(second_text[:2])
    if seconds > 59:
        raise BodyError(f'parsing time "{text}": second out of range')
    micro = int((second_text[3:] + "000000")[:6]) if "." in second_text else 0
    zone = parts[11]
    if zone == "Z":
        tz = dt.UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        offset_h, offset_m = int(zone[1:3]), int(zone[4:6])
        if offset_h > 23 or offset_m > 59:
            raise BodyError(f'parsing time "{text}": time zone offset out of range')
        tz = dt.timezone(sign * dt.timedelta(hours=offset_h, minutes=offset_m))
    value = dt.datetime(max(year, 1), month, day, hour, minute, seconds, micro, tzinfo=tz)
    try:
        value.astimezone(dt.UTC)  # 9999-12-31T23:59:59-12:00 is past year 9999 in UTC
    except OverflowError:
        raise BodyError(f'parsing time "{text}": year outside of range [0,9999]') from None
    return value


def missing_required(body: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """The names among ``names`` that are absent, null or empty strings."""
    return [n for n in names if body.get(n) in (None, "")]
