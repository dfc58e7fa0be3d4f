"""A manifest entry written from the live LMS: the fields and grades the LMS reports, as YAML.

``lmsctl import --generate`` writes whole entries with these (``render_entry``, spliced into a
section file by ``splice_entry``: every other byte stays as it was); ``lmsctl pull`` writes
single values with ``yaml_value``. Dates come out in the project's time zone; a date-time at
23:59 local is written as the date alone, as a teacher would write it.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from lmsctl.diff import is_set
from lmsctl.errors import ConfigError
from lmsctl.fields import ignored_fields
from lmsctl.model import ASSIGNMENT_DATE_FIELDS, ASSIGNMENT_FIELDS, GRADE_DATE_FIELDS, GRADE_FIELDS
from lmsctl.timeutil import parse_datetime
from lmsctl.yamledit import after_line, compose, end_of_block

__all__ = ["manifest_fields", "manifest_grades", "render_entry", "splice_entry", "yaml_value"]

_ATTACHMENT_KEYS = ("type", "title", "url", "description")


def manifest_fields(live: Mapping[str, Any], lms_type: str) -> dict[str, Any]:
    """The managed fields the LMS reports for an assignment (API form), in lmsctl's order."""
    ignored = ignored_fields(lms_type)
    out: dict[str, Any] = {}
    for name in ASSIGNMENT_FIELDS:
        value = live.get(name)
        if value is None or value == "" or value == [] or name in ignored:
            continue
        if name == "assignee_ids" and live.get("assignee_mode") != "individuals":
            continue  # with assignee_mode: all the LMS assigns everyone; ids are not managed
        if name == "attachments" and isinstance(value, list):
            value = [
                {k: a[k] for k in _ATTACHMENT_KEYS if a.get(k) is not None}
                for a in value
                if isinstance(a, Mapping)
            ]
        out[name] = value
    return out


def manifest_grades(submissions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per student, the grade fields a teacher set in the LMS (API form)."""
    grades: dict[str, dict[str, Any]] = {}
    for sub in sorted(submissions, key=lambda s: str(s.get("user_id"))):
        uid = str(sub.get("user_id") or "")
        fields = {f: sub[f] for f in GRADE_FIELDS if is_set(f, sub.get(f))}
        if uid and fields:
            grades[uid] = fields
    return grades


def _local_date(value: Any, zone: zoneinfo.ZoneInfo) -> Any:
    """An API date-time as a manifest writes it: a date alone for 23:59 local, else local."""
    if not isinstance(value, str):
        return value
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return value
    local = parsed.astimezone(zone)
    if (local.hour, local.minute, local.second, local.microsecond) == (23, 59, 0, 0):
        return local.date()
    spec = "milliseconds" if local.microsecond else "seconds"
    return local.isoformat(timespec=spec)


def _for_yaml(name: str, value: Any, zone: zoneinfo.ZoneInfo) -> Any:
    if name in ASSIGNMENT_DATE_FIELDS or name in GRADE_DATE_FIELDS:
        return _local_date(value, zone)
    return _tidy(value)


def yaml_value(name: str, value: Any, timezone: str) -> Any:
    """An API value of field ``name`` as a manifest writes it (dates in ``timezone``)."""
    return _for_yaml(name, value, zoneinfo.ZoneInfo(timezone))


class _Dumper(yaml.SafeDumper):
    """Multi-line text as ``|`` blocks, so a description reads as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def _tidy(value: Any) -> Any:
    """Whole floats as ints (20.0 -> 20); compare equal, read better."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    return value


def _dump(value: Any, *, flow: bool) -> str:
    text = yaml.dump(
        _tidy(value),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=flow,
        width=10_000,
    )
    return text.removesuffix("...\n").rstrip("\n")


def render_entry(
    key: str,
    fields: Mapping[str, Any],
    grades: Mapping[str, Mapping[str, Any]],
    timezone: str,
    *,
    indent: int = 2,
    comment: str = "",
) -> str:
    """The YAML lines of one assignment entry, indented ``indent`` under ``assignments:``."""
    zone = zoneinfo.ZoneInfo(timezone)
    pad = " " * indent
    body: dict[str, Any] = {name: _for_yaml(name, v, zone) for name, v in fields.items()}
    lines = [f"{pad}{key}:" + (f"  # {comment}" if comment else "")]
    for line in _dump(body, flow=False).splitlines():
        lines.append(f"{pad}  {line}")
    if grades:
        lines.append(f"{pad}  grades:")
        for uid, values in grades.items():
            shown = {name: _for_yaml(name, v, zone) for name, v in values.items()}
            lines.append(f"{pad}    {uid}: {_dump(shown, flow=True)}")
    return "\n".join(lines) + "\n"


def splice_entry(text: str, key: str, entry_for: Callable[[int], str]) -> str:
    """Add one entry under the top-level ``assignments:`` of a section file's text.

    ``entry_for(indent)`` renders the entry. Every other byte of the file stays as it was.
    ConfigError when the file's layout does not allow it (a non-empty flow mapping).
    """
    root = compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("the section file is not a mapping")
    for key_node, value in root.value:
        if key_node.value != "assignments":
            continue
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
            # 'assignments:' with nothing, or '~' / 'null'
            head = text[: value.start_mark.index] + text[value.end_mark.index :]
            at = after_line(head, key_node.start_mark.index)
            return _join(head, at, entry_for(2))
        if isinstance(value, yaml.MappingNode) and value.flow_style:
            if value.value:
                raise ConfigError(
                    "assignments is written as a {...} mapping",
                    hint="write it as a block (one key per line) so import can add to it",
                )
            head = text[: value.start_mark.index].rstrip(" ") + text[value.end_mark.index :]
            at = after_line(head, key_node.start_mark.index)
            return _join(head, at, entry_for(2))
        if isinstance(value, yaml.MappingNode):
            indent = value.value[0][0].start_mark.column
            return _join(text, end_of_block(text, value), entry_for(indent))
        raise ConfigError("assignments is not a mapping")
    base = text if text.endswith("\n") or not text else text + "\n"
    return base + "assignments:\n" + entry_for(2)


def _join(text: str, at: int, entry: str) -> str:
    before = text[:at]
    if before and not before.endswith("\n"):
        before += "\n"
    return before + entry + text[at:]
