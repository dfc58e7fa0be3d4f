"""What the LMS behind a district does to writes, read from its profile (:mod:`lmsctl.lms`).

The sandbox knows no LMS by name: every rule here reads an :class:`~lmsctl.lms.LmsProfile`.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from lmsctl.lms import LmsProfile
from lmsctl.sandbox.validation import BodyError
from lmsctl.timeutil import format_api_datetime

#: fields of an assignment body that say who is assigned (not stored as they come)
ASSIGNEE_FIELDS = ("assignee_mode", "assignee_ids")


def stored_value(value: Any) -> Any:
    """A decoded body value as the store keeps it (dates as the API writes them)."""
    return format_api_datetime(value) if isinstance(value, dt.datetime) else value


def strip_html(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip()


def no_valid_users(lms: LmsProfile) -> BodyError:
    """The LMS's refusal of an assignment that would assign no enrolled student."""
    return BodyError(f"no valid users found in {lms.name}")


def check_refused_types(fields: dict[str, Any], lms: LmsProfile) -> None:
    """BodyError when the body uses a submission or attachment type the LMS refuses."""
    refused = lms.refused_submission_types
    kinds = [k for k in fields.get("submission_types") or [] if k in refused]
    kinds += [
        a.get("type")
        for a in fields.get("attachments") or []
        if a.get("type") in lms.refused_attachment_types
    ]
    if kinds:
        # (the LMS's own words, for attachments too)
        raise BodyError(f"{lms.name} does not support submission type of {kinds[0]}")


def check_submission_state(fields: dict[str, Any], lms: LmsProfile) -> None:
    """Where some states are the student's own (turning work in, reclaiming it, a submission
    going back to created), a teacher (the app) can only return it."""
    state = fields.get("state")
    if lms.student_only_states and state is not None and state != "returned":
        raise BodyError(f"{lms.name} does not allow a teacher to set submission state {state}")


def apply_assignment_fields(data: dict[str, Any], fields: dict[str, Any], lms: LmsProfile) -> None:
    """Write a create's or a PATCH's fields into the stored assignment, as the LMS keeps them."""
    for name, value in fields.items():
        if name in ASSIGNEE_FIELDS:
            continue
        if name in lms.ignored_fields:
            continue  # the LMS ignores it (the stored value does not change)
        value = stored_value(value)
        if name in lms.zero_reads_unset and value == 0:
            value = None  # 0 means "not set" there (e.g. ungraded), and reads as unset
        data[name] = value
    if "description" in fields and "description_plaintext" not in fields:
        data["description_plaintext"] = strip_html(data.get("description") or "")
    if lms.start_date_is_display_date:
        data["start_date"] = data.get("display_date")


def round_grades(fields: dict[str, Any], lms: LmsProfile) -> None:
    """Round the grade fields the LMS keeps to fewer decimals (its rounding mode is not
    documented; half-even here)."""
    for name, places in lms.decimals.items():
        if fields.get(name) is not None:
            unit = Decimal(1).scaleb(-places)
            fields[name] = float(Decimal(repr(fields[name])).quantize(unit, ROUND_HALF_EVEN))
