"""A loaded YAML file: its plain value, and where each part of it was written.

Made by :mod:`lmsctl.manifest.loader` (any YAML) or :mod:`lmsctl.manifest.quickyaml` (the
plain block style, faster); read by the schema pass and the resolver.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lmsctl.model import SourcePos

Path_ = tuple[str | int, ...]
Pos = tuple[int, int]

#: SourcePos made without the named tuple's own __new__ (a Python function: three times slower,
#: and a district's manifests need a position for every grade)
_new = tuple.__new__


@dataclass
class YamlDocument:
    """One loaded file: its value and where each part of it was written.

    ``positions`` maps each value's path to where the value starts, ``key_positions`` each
    mapping entry's path to where its key starts (1-based line and column).
    """

    file: str
    data: Any
    positions: dict[Path_, Pos] = field(default_factory=dict)
    key_positions: dict[Path_, Pos] = field(default_factory=dict)

    def pos(self, path: Path_) -> Pos:
        """Position of the value at ``path``, or of its nearest written ancestor."""
        p = path if type(path) is tuple else tuple(path)
        positions = self.positions
        found = positions.get(p)
        while found is None and p:
            p = p[:-1]
            found = positions.get(p)
        return found if found is not None else (1, 1)

    def key_pos(self, path: Path_) -> Pos:
        """Position of the key naming ``path`` (falls back to the value's position)."""
        p = path if type(path) is tuple else tuple(path)
        found = self.key_positions.get(p)
        return found if found is not None else self.pos(p)

    def source_pos(self, path: Path_) -> SourcePos:
        """:meth:`pos` with this file's name, for a Diagnostic or a model value."""
        line, col = self.pos(path)
        return _new(SourcePos, (self.file, line, col))

    def key_source_pos(self, path: Path_) -> SourcePos:
        """:meth:`key_pos` with this file's name."""
        line, col = self.key_pos(path)
        return _new(SourcePos, (self.file, line, col))


def format_where(path: Sequence[str | int]) -> str:
    """Render a value's path the way diagnostics name it: ``assignments.hw-01.grades.sis:603``."""
    parts: list[str] = []
    for item in path:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            text = str(item)
            if "." in text or " " in text or not text:
                text = json.dumps(text)
            parts.append(("." if parts else "") + text)
    return "".join(parts)


def where_label(path: Sequence[str | int]) -> str:
    """The ``<where>`` part of a diagnostic (empty for the document itself)."""
    return f"{format_where(path)}:" if path else ""
