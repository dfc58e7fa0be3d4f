"""A loaded YAML file: its plain value, and where each part of it was written.

Made by :mod:`lmsctl.manifest.loader` (any YAML) or :mod:`lmsctl.manifest.quickyaml` (the
plain block style, faster); read by the schema pass and the resolver.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from lmsctl.model import SourcePos

Path_ = tuple[str | int, ...]
Pos = tuple[int, int]

#: SourcePos made without the named tuple's own __new__ (a Python function: three times slower,
#: and a district's manifests need a position for every grade)
_new = tuple.__new__


#: A run of entries :mod:`lmsctl.manifest.quickyaml` read in one go (a block of grades):
#: ``count`` entries at the start of ``mapping`` (the value at the run's path), each a
#: ``key:`` line, then a line with the entry's one ``name: value``; the first key on line
#: ``line``, every key in column ``key_col`` and every name in ``name_col``, the value one
#: space after the name's ``:``. ``same_name``: the name when every entry has the same one and
#: no value is null, else ''. Their positions are computed when they are needed.
Run = tuple[dict[str, Any], int, int, int, int, str]


class YamlDocument:
    """One loaded file: its value and where each part of it was written.

    ``positions`` maps each value's path to where the value starts, ``key_positions`` each
    mapping entry's path to where its key starts (1-based line and column). The entries of
    ``runs`` (by the path of the mapping holding them) are in neither map until one of them is
    asked for: then every run's positions are put in both (:meth:`run_at` gives a run's own
    figures without that).
    """

    __slots__ = ("_key_positions", "_positions", "_runs", "data", "file")

    def __init__(
        self,
        file: str,
        data: Any,
        positions: dict[Path_, Pos] | None = None,
        key_positions: dict[Path_, Pos] | None = None,
        runs: dict[Path_, Run] | None = None,
    ) -> None:
        self.file = file
        self.data = data
        self._positions: dict[Path_, Pos] = {} if positions is None else positions
        self._key_positions: dict[Path_, Pos] = {} if key_positions is None else key_positions
        self._runs: dict[Path_, Run] = {} if runs is None else runs

    def __repr__(self) -> str:
        return f"YamlDocument(file={self.file!r}, data={self.data!r})"

    @property
    def positions(self) -> dict[Path_, Pos]:
        if self._runs:
            self._place_runs()
        return self._positions

    @property
    def key_positions(self) -> dict[Path_, Pos]:
        if self._runs:
            self._place_runs()
        return self._key_positions

    def run_at(self, path: Path_) -> Run | None:
        """The run of entries at the start of the mapping at ``path``, if it was read as one."""
        return self._runs.get(path) if self._runs else None

    def _place_runs(self) -> None:
        """Every run's positions, put in the two maps (as the reader would have put them)."""
        positions, key_positions = self._positions, self._key_positions
        for path, (mapping, line, key_col, name_col, count, _) in self._runs.items():
            for key, entry in itertools.islice(mapping.items(), count):
                entry_path = (*path, key)
                key_positions[entry_path] = (line, key_col)
                positions[entry_path] = (line + 1, name_col)
                (name,) = entry
                name_path = (*entry_path, name)
                key_positions[name_path] = (line + 1, name_col)
                positions[name_path] = (line + 1, name_col + len(name) + 2)
                line += 2
        self._runs = {}

    def pos(self, path: Path_) -> Pos:
        """Position of the value at ``path``, or of its nearest written ancestor."""
        p = path if type(path) is tuple else tuple(path)
        positions = self._positions
        found = positions.get(p)
        if found is None and self._runs:
            self._place_runs()
            found = positions.get(p)
        while found is None and p:
            p = p[:-1]
            found = positions.get(p)
        return found if found is not None else (1, 1)

    def key_pos(self, path: Path_) -> Pos:
        """Position of the key naming ``path`` (falls back to the value's position)."""
        p = path if type(path) is tuple else tuple(path)
        found = self._key_positions.get(p)
        if found is None and self._runs:
            self._place_runs()
            found = self._key_positions.get(p)
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
