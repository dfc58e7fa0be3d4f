"""Student references and dates as manifests write them."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import zoneinfo

from lmsctl.addresses import OBJECT_ID_RE
from lmsctl.model import RefKind, StudentRef
from lmsctl.timeutil import format_api_datetime, parse_datetime

#: Reference kinds other than a plain Clever id, as written before the colon.
REF_KINDS: tuple[str, ...] = tuple(k.value for k in RefKind if k is not RefKind.ID)
REF_HINT = (
    "use a 24-hex Clever user id, or sis:<id>, email:<address>, student_number:<n>, state_id:<id>"
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_DATE_ONLY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class RefError(ValueError):
    """A student reference that cannot be used; carries a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def parse_student_ref(raw: str) -> StudentRef:
    """Parse ``<24-hex id>`` or ``kind:value``; RefError with a hint when malformed."""
    text = raw.strip()
    if OBJECT_ID_RE.match(text):
        return StudentRef(raw=text, kind=RefKind.ID, value=text)
    if ":" in text:
        kind, _, value = text.partition(":")
        kind_l = kind.strip()
        value = value.strip()
        if kind_l not in REF_KINDS:
            match = difflib.get_close_matches(kind_l.lower(), list(REF_KINDS), n=1, cutoff=0.5)
            hint = f"did you mean '{match[0]}:{value}'?" if match else REF_HINT
            raise RefError(f"unknown student reference kind {kind_l!r}", hint)
        if not value:
            raise RefError(f"student reference {text!r} has no value", REF_HINT)
        ref_kind = RefKind(kind_l)
        if ref_kind is RefKind.EMAIL and not _EMAIL_RE.match(value):
            raise RefError(f"{value!r} is not an email address", "write email:<name>@<domain>")
        return StudentRef(raw=f"{kind_l}:{value}", kind=ref_kind, value=value)
    if re.fullmatch(r"[0-9a-fA-F]{24}", text):
        raise RefError(
            f"{text!r} is not a Clever id (ids are lowercase)", "write the id in lowercase"
        )
    return _not_ref(text)


def _not_ref(text: str) -> StudentRef:
    if text.isdigit():
        raise RefError(
            f"{text!r} is not a student reference",
            f"for a SIS id write sis:{text}; a Clever id has 24 hex characters",
        )
    raise RefError(f"{text!r} is not a student reference", REF_HINT)


def student_identity(ref: StudentRef) -> tuple[RefKind, str]:
    """What makes two references the same student offline (emails compare case-insensitively)."""
    value = ref.value.lower() if ref.kind is RefKind.EMAIL else ref.value
    return (ref.kind, value)


@functools.lru_cache(maxsize=4096)
def normalize_date(value: str, timezone: str) -> str:
    """A manifest date or date-time -> Clever's UTC form. ValueError (with a reason) if bad.

    A plain date means 23:59:00 that day in ``timezone``. (Remembered: a district's thousands
    of assignments share a few due dates; a bad one raises again each time.)
    """
    text = value.strip()
    match = _DATE_ONLY.match(text)
    if match:
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date ({exc})") from exc
        local = dt.datetime.combine(day, dt.time(23, 59), tzinfo=zoneinfo.ZoneInfo(timezone))
        return _to_api(local, text)
    try:
        parsed = parse_datetime(text)
    except ValueError as exc:
        if "without an offset" in str(exc):
            raise ValueError(f"{text!r} has no UTC offset") from exc
        raise ValueError(f"{text!r} is not a date or date-time") from exc
    return _to_api(parsed, text)


def _to_api(value: dt.datetime, text: str) -> str:
    try:
        return format_api_datetime(value)
    except OverflowError as exc:  # 9999-12-31 west of UTC is in year 10000
        raise ValueError(f"{text!r} is out of range (years 1 to 9999 in UTC)") from exc
