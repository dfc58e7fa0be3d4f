"""Read one YAML file safely, keeping the position of every key and value.

PyYAML's own loaders silently keep the last of two duplicate keys, construct arbitrary objects
for ``!!python/...`` tags (unsafe loaders) and expand aliases without limit. This loader only
*composes* the node graph with PyYAML's safe machinery and then walks it itself:

- duplicate keys at any depth are reported (both positions);
- only the standard YAML tags are accepted (``!!python/...`` and custom tags are refused);
- alias expansion is bounded (:data:`MAX_NODES` values per file, :data:`MAX_DEPTH` levels);
- files above :data:`MAX_FILE_BYTES`, binary files and non-UTF-8 files are refused;
- timestamps stay strings, exactly as written (date handling is the resolver's job).

The result is a :class:`YamlDocument`: plain Python values (dict, list, str, int, float, bool,
None) plus a map from each value's path to its 1-based (line, column), and the same for keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmsctl.errors import Diagnostic, Severity

#: Largest manifest file read, in bytes.
MAX_FILE_BYTES = 5 * 1024 * 1024
#: Most values one file may expand to (aliases included): bounds alias bombs.
MAX_NODES = 200_000
#: Deepest nesting accepted (bounds recursive aliases and pathological nesting).
MAX_DEPTH = 40

Path_ = tuple[str | int, ...]
Pos = tuple[int, int]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP}


@dataclass
class YamlDocument:
    """One loaded file: its value and where each part of it was written."""

    file: str
    data: Any
    positions: dict[Path_, Pos] = field(default_factory=dict)
    key_positions: dict[Path_, Pos] = field(default_factory=dict)

    def pos(self, path: Path_) -> Pos:
        """Position of the value at ``path``, or of its nearest written ancestor."""
        p = tuple(path)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (1, 1))

    def key_pos(self, path: Path_) -> Pos:
        """Position of the key naming ``path`` (falls back to the value's position)."""
        p = tuple(path)
        if p in self.key_positions:
            return self.key_positions[p]
        return self.pos(p)


class LoadFailure(Exception):
    """Internal: a file cannot be loaded; carries the diagnostics saying why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].message if diagnostics else "load failure")
        self.diagnostics = diagnostics


class _Loader(yaml.SafeLoader):
    """A safe loader used only to compose nodes (never to construct objects)."""


def _diag(
    file: str, pos: Pos, message: str, hint: str = "", rule: str = "yaml", where: str = ""
) -> Diagnostic:
    return Diagnostic(
        file=file,
        line=pos[0],
        col=pos[1],
        severity=Severity.ERROR,
        where=where,
        message=message,
        hint=hint,
        rule=rule,
    )


def read_text(path: Path, display: str) -> str:
    """Read a text file within the size limit, as UTF-8; raise LoadFailure otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoadFailure(
                [
                    _diag(
                        display,
                        (1, 1),
                        f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})",
                        "split it into smaller files",
                        rule="file-size",
                    )
                ]
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise LoadFailure(
            [
                _diag(
                    display,
                    (1, 1),
                    f"cannot read file: {exc.strerror or exc}",
                    "check that it exists and is readable",
                    rule="file-read",
                )
            ]
        ) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise LoadFailure(
            [
                _diag(
                    display,
                    (1, 1),
                    f"file is too large (the limit is {MAX_FILE_BYTES} bytes)",
                    "split it into smaller files",
                    rule="file-size",
                )
            ]
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise LoadFailure(
            [
                _diag(
                    display,
                    (line, 1),
                    "file is binary (it contains NUL bytes), not YAML text",
                    "save it as UTF-8 text, or move it out of the manifest folder",
                    rule="encoding",
                )
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LoadFailure(
            [
                _diag(
                    display,
                    (line, col),
                    f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                    "save the file as UTF-8",
                    rule="encoding",
                )
            ]
        ) from exc
    return text


def _mark_pos(mark: Any) -> Pos:
    if mark is None:
        return (1, 1)
    return (int(mark.line) + 1, int(mark.column) + 1)


class _Walker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.doc = YamlDocument(file=file, data=None)
        self.errors: list[Diagnostic] = []
        self.count = 0
        self._scalar_loader = _Loader("")

    def fail(self, pos: Pos, message: str, hint: str, rule: str) -> LoadFailure:
        return LoadFailure([_diag(self.file, pos, message, hint, rule=rule)])

    def walk(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        pos = _mark_pos(node.start_mark)
        if self.count > MAX_NODES:
            raise self.fail(
                pos,
                f"file expands to more than {MAX_NODES} values (aliases expanded)",
                "remove the nested anchors/aliases; this looks like an alias bomb",
                "alias-limit",
            )
        if depth > MAX_DEPTH:
            raise self.fail(
                pos,
                f"nesting deeper than {MAX_DEPTH} levels (or a recursive alias)",
                "flatten the structure; aliases may not refer to themselves",
                "depth-limit",
            )
        self.doc.positions[path] = pos
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, pos)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self.bad_tag(node, pos)
            return [self.walk(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise self.bad_tag(node, pos)
            return self.mapping(node, path, depth)
        raise self.fail(pos, "unsupported YAML node", "", "yaml")  # pragma: no cover

    def bad_tag(self, node: yaml.Node, pos: Pos) -> LoadFailure:
        tag = str(node.tag)
        short = tag.replace("tag:yaml.org,2002:", "!!")
        return self.fail(
            pos,
            f"YAML tag {short!r} is not allowed",
            "manifests hold plain data only: remove the tag",
            "yaml-tag",
        )

    def scalar(self, node: yaml.ScalarNode, pos: Pos) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            raise self.bad_tag(node, pos)
        if tag in (_STR, _TIMESTAMP):
            return str(node.value)
        try:
            return self._scalar_loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            raise self.fail(pos, f"bad scalar {node.value!r}", "quote it", "yaml") from exc

    def mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        seen: dict[Any, Pos] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            kpos = _mark_pos(key_node.start_mark)
            if key_node.tag == _MERGE:
                self.merge(value_node, path, depth, merged)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(
                    kpos, "mapping keys must be plain scalars", "use a string key", "yaml-key"
                )
            self.scalar(key_node, kpos)  # refuses unsafe tags on keys too
            key = str(key_node.value)  # keys stay as written: '01' is not 1, 'no' is not False
            if key in seen:
                first = seen[key]
                self.errors.append(
                    _diag(
                        self.file,
                        kpos,
                        f"duplicate key {key!r}, first written at line {first[0]}",
                        "keep only one of them; YAML would silently use the last",
                        rule="duplicate-key",
                    )
                )
                continue
            seen[key] = kpos
            child = (*path, key)
            self.doc.key_positions[child] = kpos
            result[key] = self.walk(value_node, child, depth + 1)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def merge(self, node: yaml.Node, path: Path_, depth: int, into: dict[Any, Any]) -> None:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in nodes:
            if not isinstance(item, yaml.MappingNode):
                raise self.fail(
                    _mark_pos(item.start_mark),
                    "a merge key '<<' needs a mapping (or a list of mappings)",
                    "merge an anchored mapping, e.g. '<<: *defaults'",
                    "yaml-merge",
                )
            value = self.walk(item, path, depth + 1)
            for key, val in value.items():
                into.setdefault(key, val)


def _offset_pos(text: str, offset: int) -> Pos:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return (line, col)


def load_yaml_text(text: str, display: str) -> YamlDocument:
    """Parse YAML text into a :class:`YamlDocument`; raise LoadFailure on any problem.

    Duplicate keys do not stop loading: they are returned in ``LoadFailure`` only when nothing
    else is wrong, through :func:`load_yaml_file`; here they are collected on the walker.
    """
    doc, errors = _load(text, display)
    if errors:
        raise LoadFailure(errors)
    return doc


def _load(text: str, display: str) -> tuple[YamlDocument, list[Diagnostic]]:
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        raise LoadFailure(
            [
                _diag(
                    display,
                    _offset_pos(text, exc.position),
                    f"character {exc.character!r} is not allowed in YAML",
                    "remove control characters from the file",
                    rule="encoding",
                )
            ]
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})" if "while" not in exc.context else problem
        raise LoadFailure(
            [
                _diag(
                    display,
                    _mark_pos(mark),
                    f"YAML syntax error: {problem}",
                    "fix the YAML syntax at this position",
                    rule="yaml-syntax",
                )
            ]
        ) from exc
    except yaml.YAMLError as exc:
        raise LoadFailure(
            [_diag(display, (1, 1), f"YAML error: {exc}", "fix the YAML", rule="yaml-syntax")]
        ) from exc
    except RecursionError as exc:
        raise LoadFailure(
            [
                _diag(
                    display,
                    (1, 1),
                    "YAML nesting is too deep",
                    "flatten the structure",
                    rule="depth-limit",
                )
            ]
        ) from exc
    walker = _Walker(display)
    if node is None:
        walker.doc.data = None
        return walker.doc, []
    try:
        walker.doc.data = walker.walk(node, (), 0)
    except RecursionError as exc:
        raise walker.fail(
            (1, 1), "YAML nesting is too deep", "flatten the structure", "depth-limit"
        ) from exc
    return walker.doc, walker.errors


def load_yaml_file(
    path: Path, display: str, *, on_diagnostic: Callable[[Diagnostic], None]
) -> YamlDocument | None:
    """Load one YAML file. Problems go to ``on_diagnostic``; None when nothing usable was read.

    Duplicate keys are reported but the document is still returned (the first value is kept),
    so later checks can report every other problem at once.
    """
    try:
        text = read_text(path, display)
        doc, errors = _load(text, display)
    except LoadFailure as failure:
        for diag in failure.diagnostics:
            on_diagnostic(diag)
        return None
    for diag in errors:
        on_diagnostic(diag)
    return doc
