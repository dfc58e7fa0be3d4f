"""One grade's line of the text plan, and the values every line shows.

``grade_line`` is the line of one grade change of the plan document; :class:`GradeLines` is
the same for one rendering of a whole plan, remembering the parts its grades repeat (a plan of
100k grades names a few thousand students, with a few dozen kinds of field changes).

Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lmsctl.plan.words import reason_words
from lmsctl.render.style import Style
from lmsctl.safetext import escape_controls

MAX_VALUE_CHARS = 72
ELLIPSIS = "…"


# -- values ------------------------------------------------------------------------------------


def _truncate_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = max(limit - len(ELLIPSIS), 2)
    head = (keep + 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head) :]


def format_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value as the plan shows it: JSON-like, one line, long strings cut in the middle.

    Strings are quoted, lists look like ``["a", "b"]``, a missing value is ``null``.
    """
    if isinstance(value, str):
        inner = escape_controls(json.dumps(value, ensure_ascii=False)[1:-1])
        return '"' + _truncate_middle(inner, max(limit - 2, 3)) + '"'
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the API answers 10.0 for 10: show what the manifest says
    if type(value) is int:  # (not bool) json.dumps's text of it, at a fraction of the cost
        return _truncate_middle(str(value), limit)
    if isinstance(value, list) and len(value) > 1:
        # a list is cut between items, never inside an id
        shown: list[str] = []
        for i, item in enumerate(value):
            piece = format_value(item, limit)
            if sum(len(p) + 2 for p in shown) + len(piece) > limit and shown:
                return "[" + ", ".join(shown) + f", ... {len(value) - i} more]"
            shown.append(piece)
        return "[" + ", ".join(shown) + "]"
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return _truncate_middle(escape_controls(text), limit)


_HEX24 = re.compile(r"[0-9a-f]{24}")


def short_id(value: str | None) -> str:
    """A 24-hex id shortened for reading: ``5f1a...b00007`` (other values unchanged)."""
    if not value:
        return ""
    if len(value) == 24 and _HEX24.fullmatch(value):
        return f"{value[:4]}...{value[-6:]}"
    return value


def extra_reason(change: Mapping[str, Any]) -> str:
    """The change's reasons worth showing next to it (empty if the symbol says it all)."""
    return reason_words(change.get("reasons") or (), hide_obvious=True)


def removes(f: Mapping[str, Any]) -> bool:
    """A change that clears a value the LMS holds (after is null, or [] for a list)."""
    return f.get("after") in (None, []) and f.get("before") not in (None, [], "")


def grade_line(style: Style, change: Mapping[str, Any]) -> str:
    """``~ grade Ava Nguyen (5f1a...b00007): grade_points: 7 -> 9`` (no indent)."""
    text = f"{style.symbol('~')} grade {_who(change)}: {_grade_fields(change.get('fields') or [])}"
    extra = extra_reason(change)
    if extra:
        text += style(f"  ({extra})", "dim")
    return text


def _who(change: Mapping[str, Any]) -> str:
    """``Ava Nguyen (5f1a...b00007)``: the student a grade line names."""
    student = change.get("student") or ""
    name = change.get("name") or student
    who = f"{name} ({short_id(student)})" if name != student else short_id(student)
    return escape_controls(who)  # a name from the roster


def _grade_fields(fields: Iterable[Mapping[str, Any]]) -> str:
    """``grade_points: 7 -> 9, ...``: the fields a grade line shows."""
    parts = []
    for f in fields:
        after = format_value(f.get("after"), 40)
        name = escape_controls(str(f.get("field")))
        if removes(f):
            parts.append(f"{name}: {format_value(f.get('before'), 40)} -> (removed)")
        elif f.get("before") is None:
            parts.append(f"{name}: {after}")
        else:
            parts.append(f"{name}: {format_value(f.get('before'), 40)} -> {after}")
    return ", ".join(parts)


class GradeLines:
    """:func:`grade_line` for one rendering, remembering the parts its grades repeat: a plan's
    grades name a few thousand students, with a few dozen kinds of field changes and reasons.
    Only plain values (text, numbers, None, True/False) are remembered, at most :data:`LIMIT`
    of each; anything else is rendered as :func:`grade_line` renders it."""

    LIMIT = 16_384

    __slots__ = ("_extra", "_fields", "_who", "style", "tilde")

    def __init__(self, style: Style) -> None:
        self.style = style
        self.tilde = style.symbol("~")
        self._who: dict[tuple[str, str], str] = {}
        self._fields: dict[tuple[Any, ...], str] = {}
        self._extra: dict[tuple[str, ...], str] = {}

    def line(self, change: Mapping[str, Any]) -> str:
        return f"{self.tilde} grade {self.who(change)}: {self.fields(change)}{self.extra(change)}"

    def who(self, change: Mapping[str, Any]) -> str:
        name, student = change.get("name"), change.get("student")
        if type(name) is not str or type(student) is not str:
            return _who(change)
        found = self._who.get((name, student))
        if found is None:
            found = _who(change)
            if len(self._who) < self.LIMIT:
                self._who[name, student] = found
        return found

    def fields(self, change: Mapping[str, Any]) -> str:
        fields = change.get("fields") or []
        key: list[Any] = []
        for f in fields:
            name = f.get("field")
            if type(name) is not str:
                return _grade_fields(fields)
            key.append(name)
            for value in (f.get("before"), f.get("after")):
                kind = type(value)
                if kind not in _PLAIN:
                    return _grade_fields(fields)
                key.append(kind)
                key.append(repr(value) if kind is float else value)
        found = self._fields.get(tuple(key))
        if found is None:
            found = _grade_fields(fields)
            if len(self._fields) < self.LIMIT:
                self._fields[tuple(key)] = found
        return found

    def extra(self, change: Mapping[str, Any]) -> str:
        key = tuple(change.get("reasons") or ())
        try:
            found = self._extra.get(key)  # (only codes that are text are remembered)
        except TypeError:  # a code that is not hashable (a damaged document)
            return self._dim(extra_reason(change))
        if found is None:
            found = self._dim(extra_reason(change))
            if len(self._extra) < self.LIMIT and all(type(code) is str for code in key):
                self._extra[key] = found
        return found

    def _dim(self, extra: str) -> str:
        return self.style(f"  ({extra})", "dim") if extra else ""


#: the values a grade line's parts are remembered by (see :class:`GradeLines`)
_PLAIN = frozenset({type(None), bool, int, float, str})
