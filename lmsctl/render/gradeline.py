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

from lmsctl.plan.model import Change, FieldChange, Reason
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

    __slots__ = ("_extra", "_fields", "_of_parts", "_of_reasons", "_who", "style", "tilde")

    def __init__(self, style: Style) -> None:
        self.style = style
        self.tilde = style.symbol("~")
        self._who: dict[tuple[str, str], str] = {}
        self._fields: dict[tuple[Any, ...], str] = {}
        self._extra: dict[tuple[str, ...], str] = {}
        #: id of a change's fields tuple -> (that tuple, its text): grade changes with the same
        #: field changes share one tuple (lmsctl.plan.changes.SharedParts); held, so the id
        #: stays that tuple's
        self._of_parts: dict[int, tuple[tuple[FieldChange, ...], str]] = {}
        self._of_reasons: dict[tuple[Reason, ...], str] = {}

    def line(self, change: Mapping[str, Any]) -> str:
        return f"{self.tilde} grade {self.who(change)}: {self.fields(change)}{self.extra(change)}"

    def change_line(self, change: Change) -> str:
        """:meth:`line` of the change's document dict (lmsctl.plan.document), read from the
        change itself: the same text, without the dict."""
        name, student = change.name, change.student
        if type(name) is str and type(student) is str:
            who = self._who.get((name, student))
            if who is None:
                who = self.who({"name": name, "student": student})
        else:
            who = _who({"name": name, "student": student})
        fields = change.fields
        held = self._of_parts.get(id(fields))
        if held is not None and held[0] is fields:
            shown = held[1]
        else:
            shown = self.fields({"fields": [_shown_field(f) for f in fields]})
            if len(self._of_parts) < self.LIMIT and all(
                type(f.before) in _PLAIN and type(f.after) in _PLAIN for f in fields
            ):
                self._of_parts[id(fields)] = (fields, shown)
        reasons = change.reasons
        extra = self._of_reasons.get(reasons) if type(reasons) is tuple else None
        if extra is None:
            extra = self.extra({"reasons": [r.value for r in reasons]})
            if type(reasons) is tuple and len(self._of_reasons) < self.LIMIT:
                self._of_reasons[reasons] = extra
        return f"{self.tilde} grade {who}: {shown}{extra}"

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


def _shown_field(f: FieldChange) -> dict[str, Any]:
    """What a grade line reads of a field change's dict."""
    return {"field": f.field, "before": f.before, "after": f.after}


#: the values a grade line's parts are remembered by (see :class:`GradeLines`)
_PLAIN = frozenset({type(None), bool, int, float, str})
