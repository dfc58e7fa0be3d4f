"""Date-times in Clever's form (``YYYY-MM-DDThh:mm:ss.sssZ``, UTC) and a replaceable clock."""

from __future__ import annotations

import datetime as dt
import re

_API_FORMAT = "%Y-%m-%dT%H:%M:%S"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_api_datetime(value: dt.datetime) -> str:
    """Format an aware datetime the way Clever does: UTC, milliseconds, ``Z``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(dt.UTC)
    return value.strftime(_API_FORMAT) + f".{value.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> dt.datetime:
    """Parse an RFC 3339 date-time with an offset (``Z`` allowed). ValueError if it is not one."""
    s = text.strip()
    if not s or _DATE_ONLY.match(s):
        raise ValueError(f"not a date-time with offset: {text!r}")
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(s.replace("t", "T"))
    if value.tzinfo is None:
        raise ValueError(f"date-time without an offset: {text!r}")
    return value


def normalize_api_datetime(value: object) -> object:
    """Turn any date-time string the API or a manifest holds into Clever's UTC form.

    Values that are not parseable date-time strings (None, '', junk) come back unchanged, so
    comparing normalised values never raises.
    """
    if not isinstance(value, str):
        return value
    try:
        return format_api_datetime(parse_datetime(value))
    except ValueError:
        return value
