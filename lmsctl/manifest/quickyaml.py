"""A fast reader for the plain block-style YAML that manifests are written in.

The event-based loader (:mod:`lmsctl.manifest.loader`) reads any YAML and reports every
problem, but it pays for a parser event (and two position objects) per key and value: most of
``lmsctl validate``'s time on a district's manifests. This reader handles, line by line, the
subset that section files use almost always:

- block mappings and block sequences (also a sequence at its key's indent, and ``- key: value``
  items), nested to any depth below the loader's limit;
- one-line flow collections (``{grade_points: 9, flags: [late]}``);
- plain scalars, single-quoted scalars, and double-quoted scalars without escapes;
- comments and blank lines.

Its result is the loader's exactly: the same values (the same PyYAML resolver reads plain
scalars) and the same positions. Anything else (anchors, aliases, tags, merge keys, block
scalars, multi-line scalars or flow collections, escapes, duplicate keys, a control, tab or
bidirectional character anywhere, a non-finite number, ``---``, a line it cannot place)
makes it give up on the whole file, and the loader reads it instead: so every check and
every diagnostic stays the loader's, and this reader never reports anything itself.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from lmsctl.manifest.yamldoc import Path_, YamlDocument
from lmsctl.model import SourcePos
from lmsctl.safetext import UNSAFE_CHARS

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_CONSTRUCTED = frozenset(
    {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"}
    | {"tag:yaml.org,2002:null"}
)
_MISSING: Any = object()

#: characters libyaml's reader refuses, and any the loader warns about (UNSAFE_CHARS), are
#: left to the loader; so are tabs and carriage returns (this reader splits lines on \n only)
_PRINTABLE = "\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff"
_NOT_MODELLED = re.compile(f"[^{_PRINTABLE}]")

#: first characters of a plain scalar this reader accepts (besides letters and digits)
_PLAIN_FIRST = frozenset("_./~+($^=<;)")
#: where a plain scalar inside a flow collection ends (':' and '#' are left to the loader)
_FLOW_STOP = frozenset(",[]{}:?#")
#: libyaml's longest simple key is 1024 characters
_MAX_KEY = 1000
_MAP, _SEQ, _INDENTLESS = 0, 1, 2
#: the usual line: ``key: value`` with a plain key and a plain value (no ':' and no '#' in it),
#: or ``key:`` alone; the groups are the indent, the key and the value (None when alone)
_QUICK_ENTRY = re.compile(
    r"( *)([0-9A-Za-z_][^ #:]*(?::[^ #:]+)*):(?: *| +([0-9A-Za-z_][^:#]*?) *)"
)


class Unsupported(Exception):
    """The text uses YAML this reader does not model: the loader reads the file."""


def read_block_yaml(text: str, file: str, *, max_nodes: int, max_depth: int) -> YamlDocument | None:
    """``text`` (shown as ``file``) read as the loader reads it, or None: the loader must."""
    if _NOT_MODELLED.search(text) is not None or UNSAFE_CHARS.search(text) is not None:
        return None
    reader = _Reader(file, max_nodes, max_depth)
    try:
        data = reader.read(text)
    except Unsupported:
        return None
    return YamlDocument(file, data, reader.positions, reader.key_positions)


def _plain_first(text: str, at: int) -> bool:
    """True when ``text[at]`` may start a plain scalar here (conservatively)."""
    c = text[at]
    if c.isalnum() or c in _PLAIN_FIRST or c >= "\xa0":
        return True
    return c == "-" and text[at + 1 : at + 2].isalnum()


def _is_dash(s: str) -> bool:
    return s[0] == "-" and (len(s) == 1 or s[1] == " ")


class _Frame:
    """An open block mapping or sequence."""

    __slots__ = ("container", "indent", "kind", "path")

    def __init__(self, indent: int, container: Any, path: Path_, kind: int) -> None:
        self.indent = indent
        self.container = container
        self.path = path
        self.kind = kind


class _Pending:
    """A key (or a ``-``) with nothing after it: a nested block follows, or it is null."""

    __slots__ = ("frame", "indent", "key", "null_pos", "path")

    def __init__(self, frame: _Frame, key: str | None, path: Path_, null_pos: SourcePos) -> None:
        self.frame = frame
        self.key = key  # None: a sequence item
        self.path = path
        self.null_pos = null_pos
        self.indent = frame.indent


class _Reader:
    def __init__(self, file: str, max_nodes: int, max_depth: int) -> None:
        self.file = file
        self.positions: dict[Path_, SourcePos] = {}
        self.key_positions: dict[Path_, SourcePos] = {}
        self.stack: list[_Frame] = []
        self.pending: _Pending | None = None
        self.max_nodes = max_nodes
        self.max_depth = max_depth - 1  # a margin: the loader draws the line exactly
        self._cache: dict[str, Any] = {}
        self._resolver: yaml.SafeLoader | None = None

    def read(self, text: str) -> Any:
        stack = self.stack
        positions, key_positions, cache = self.positions, self.key_positions, self._cache
        file, new = self.file, tuple.__new__
        quick = _QUICK_ENTRY.fullmatch
        for lineno, line in enumerate(text.split("\n"), 1):
            m = quick(line)
            if m is None:
                self._line(line, lineno)
                continue
            # the usual line, handled here: ``key: plain value`` or ``key:``
            indent, key, value = m.groups()
            n = len(indent)
            if not stack:
                self._open_root(n, lineno, False)
            elif self.pending is not None:
                self._settle_pending(n, lineno, False)
            top = stack[-1]
            while top.indent > n or (top.kind == _INDENTLESS and top.indent == n):
                stack.pop()
                if not stack:
                    raise Unsupported("dedent below the document")
                top = stack[-1]
            container = top.container
            if top.indent != n or top.kind != _MAP or key in container or len(key) > _MAX_KEY:
                raise Unsupported("a line this reader cannot place, or a duplicate key")
            path = (*top.path, key)
            key_positions[path] = new(SourcePos, (file, lineno, n + 1))
            if value is None:
                self.pending = _Pending(top, key, path, self._pos(lineno, n + len(key) + 2))
                continue
            found = cache.get(value, _MISSING)
            container[key] = self._plain(value) if found is _MISSING else found
            positions[path] = new(SourcePos, (file, lineno, m.start(3) + 1))
        if not stack:
            raise Unsupported("an empty document")
        if self.pending is not None:
            self._null(self.pending)
        if len(positions) + len(key_positions) > self.max_nodes:
            raise Unsupported("too many values")
        return stack[0].container

    def _line(self, line: str, lineno: int) -> None:
        """Any line but the usual ``key: value`` (blank lines and comments too)."""
        s = line.lstrip(" ")
        if not s or s[0] == "#":
            return
        n = len(line) - len(s)
        if n == 0 and s.startswith(("---", "...")):
            raise Unsupported("document markers")
        dash = _is_dash(s)
        stack = self.stack
        if not stack:
            self._open_root(n, lineno, dash)
        elif self.pending is not None:
            self._settle_pending(n, lineno, dash)
        top = stack[-1]
        while top.indent > n or (top.kind == _INDENTLESS and top.indent == n and not dash):
            stack.pop()
            if not stack:
                raise Unsupported("dedent below the document")
            top = stack[-1]
        if top.indent != n:
            raise Unsupported("a line this reader cannot place")
        if dash:
            if top.kind == _MAP:
                raise Unsupported("a sequence entry in a mapping")
            self._item(top, s, n, lineno)
        else:
            if top.kind != _MAP:
                raise Unsupported("a mapping key in a sequence")
            self._entry(top, s, n, lineno)

    def _pos(self, line: int, col: int) -> SourcePos:
        return SourcePos(self.file, line, col)

    def _open_root(self, n: int, lineno: int, dash: bool) -> None:
        if dash:
            raise Unsupported("a sequence document")
        self.stack.append(_Frame(n, {}, (), _MAP))
        self.positions[()] = self._pos(lineno, n + 1)

    def _push(self, indent: int, container: Any, path: Path_, kind: int) -> _Frame:
        if len(self.stack) >= self.max_depth:
            raise Unsupported("deep nesting")
        frame = _Frame(indent, container, path, kind)
        self.stack.append(frame)
        return frame

    def _settle_pending(self, n: int, lineno: int, dash: bool) -> None:
        """The line after a bare key or ``-``: it opens a nested block, or the value is null."""
        pending = self.pending
        assert pending is not None
        self.pending = None
        if n > pending.indent:
            kind = _SEQ if dash else _MAP
        elif n == pending.indent and dash and pending.key is not None:
            kind = _INDENTLESS
        else:
            self._null(pending)
            return
        container: Any = [] if kind != _MAP else {}
        self._attach(pending.frame, pending.key, pending.path, container, self._pos(lineno, n + 1))
        self._push(n, container, pending.path, kind)

    def _null(self, pending: _Pending) -> None:
        self._attach(pending.frame, pending.key, pending.path, None, pending.null_pos)

    def _attach(
        self, frame: _Frame, key: str | None, path: Path_, value: Any, pos: SourcePos
    ) -> None:
        if key is None:
            frame.container.append(value)
        else:
            frame.container[key] = value
        self.positions[path] = pos

    def _item(self, frame: _Frame, s: str, n: int, lineno: int) -> None:
        """``- ...`` in a block sequence."""
        rest = s[1:].lstrip(" ")
        col = n + len(s) - len(rest)  # 0-based column of what follows the dash
        path = (*frame.path, len(frame.container))
        if not rest or rest[0] == "#":
            self.pending = _Pending(frame, None, path, self._pos(lineno, n + 2))
            return
        if _is_dash(rest):
            raise Unsupported("a sequence in a sequence item")
        key = self._key(rest)
        if key is None:
            value = self._value(rest, col, lineno, path)
            self._attach(frame, None, path, value, self._pos(lineno, col + 1))
            return
        child: dict[str, Any] = {}
        self._attach(frame, None, path, child, self._pos(lineno, col + 1))
        self._entry(self._push(col, child, path, _MAP), rest, col, lineno, key)

    def _entry(
        self,
        frame: _Frame,
        s: str,
        col: int,
        lineno: int,
        key_end: tuple[str, int] | None = None,
    ) -> None:
        """``key: ...`` in a block mapping; ``s`` starts at the key, in column ``col``."""
        found = key_end if key_end is not None else self._key(s)
        if found is None:
            raise Unsupported("not a key")
        key, after = found
        container = frame.container
        if key in container:
            raise Unsupported("a duplicate key")  # the loader reports it
        path = (*frame.path, key)
        self.key_positions[path] = self._pos(lineno, col + 1)
        rest = s[after:].lstrip(" ")
        if not rest or rest[0] == "#":
            self.pending = _Pending(frame, key, path, self._pos(lineno, col + after + 1))
            return
        vcol = col + len(s) - len(rest)
        container[key] = self._value(rest, vcol, lineno, path)
        self.positions[path] = self._pos(lineno, vcol + 1)

    def _key(self, s: str) -> tuple[str, int] | None:
        """(key, index after its ':') when ``s`` starts with ``key:`` (then a space or the
        end); None when it is not a key; Unsupported when it may be one this reader skips."""
        first = s[0]
        if first == "'" or first == '"':
            key, end = self._quoted(s, 0)
            if s[end : end + 1] != ":":
                return None
            if end + 1 < len(s) and s[end + 1] != " ":
                raise Unsupported("a quoted key followed by ':' and text")
        else:
            colon = s.find(": ")
            if colon < 0:
                if not s.endswith(":"):
                    return None
                colon = len(s) - 1
            key = s[:colon]
            if not _plain_first(s, 0) or " #" in key or key.endswith(" "):
                raise Unsupported("a key this reader does not model")
            if key == "<<" or key == "=":
                raise Unsupported("a merge or value key")
            end = colon
        if len(key) > _MAX_KEY:
            raise Unsupported("a long key")
        return key, end + 1

    def _quoted(self, s: str, at: int) -> tuple[str, int]:
        """A one-line quoted scalar starting at ``s[at]``: (text, index after it)."""
        quote = s[at]
        if quote == '"':
            end = s.find('"', at + 1)
            if end < 0 or "\\" in s[at + 1 : end]:
                raise Unsupported("an escape or a multi-line double-quoted scalar")
            return s[at + 1 : end], end + 1
        parts: list[str] = []
        start = at + 1
        while True:
            end = s.find("'", start)
            if end < 0:
                raise Unsupported("a multi-line single-quoted scalar")
            if s[end + 1 : end + 2] == "'":
                parts.append(s[start : end + 1])
                start = end + 2
                continue
            parts.append(s[start:end])
            return "".join(parts), end + 1

    def _value(self, s: str, col: int, lineno: int, path: Path_) -> Any:
        """The value written in ``s`` (the rest of the line, from column ``col``)."""
        first = s[0]
        if first == "{" or first == "[":
            value, end = self._flow(s, 0, col, lineno, path, len(self.stack) + 1)
        elif first == "'" or first == '"':
            value, end = self._quoted(s, 0)
        elif _plain_first(s, 0):
            cut = s.find(" #")
            text = (s if cut < 0 else s[:cut]).rstrip(" ")
            if ": " in text or text.endswith(":"):
                raise Unsupported("a plain scalar with ': '")
            return self._plain(text)
        else:
            raise Unsupported("a value this reader does not model")
        tail = s[end:]
        if tail and (tail[0] != " " or tail.lstrip(" ")[:1] not in ("", "#")):
            raise Unsupported("text after a value")
        return value

    def _plain(self, text: str) -> Any:
        """A plain scalar's value, as the loader reads it (PyYAML's resolver and constructor)."""
        value = self._cache.get(text, _MISSING)
        if value is not _MISSING:
            return value
        if self._resolver is None:
            self._resolver = yaml.SafeLoader("")
        resolver: Any = self._resolver
        tag = resolver.resolve(yaml.ScalarNode, text, (True, False))
        if tag in (_STR, _TIMESTAMP):
            value = text
        elif tag in _CONSTRUCTED:
            try:
                value = resolver.construct_object(yaml.ScalarNode(tag, text), deep=True)
            except (yaml.YAMLError, ValueError) as exc:
                raise Unsupported("a value PyYAML cannot construct") from exc
            if isinstance(value, float) and not math.isfinite(value):
                raise Unsupported("a non-finite number")  # the loader warns about it
        else:
            raise Unsupported(f"a scalar tagged {tag}")
        self._cache[text] = value
        return value

    def _flow(
        self, s: str, at: int, base: int, lineno: int, path: Path_, depth: int
    ) -> tuple[Any, int]:
        """A one-line flow mapping or sequence at ``s[at]``: (value, index after it)."""
        if depth >= self.max_depth:
            raise Unsupported("deep nesting")
        is_map = s[at] == "{"
        close = "}" if is_map else "]"
        container: Any = {} if is_map else []
        i = _skip(s, at + 1)
        while s[i : i + 1] != close:
            key: str | None = None
            if is_map:
                key, i = self._flow_key(s, i, base, lineno, path, container)
                child: Path_ = (*path, key)
            else:
                child = (*path, len(container))
            value, i = self._flow_value(s, i, base, lineno, child, depth)
            if key is None:
                container.append(value)
            else:
                container[key] = value
            i = _skip(s, i)
            c = s[i : i + 1]
            if c == ",":
                i = _skip(s, i + 1)
            elif c != close:
                raise Unsupported("a flow collection over more than one line")
        return container, i + 1

    def _flow_key(
        self, s: str, i: int, base: int, lineno: int, path: Path_, container: dict[str, Any]
    ) -> tuple[str, int]:
        if s[i : i + 1] in ("'", '"'):
            key, end = self._quoted(s, i)
        else:
            key, end = self._flow_plain_text(s, i)
        if s[end : end + 2] != ": " or key in container or key in ("<<", "="):
            raise Unsupported("a flow mapping entry this reader does not model")
        if len(key) > _MAX_KEY:
            raise Unsupported("a long key")
        self.key_positions[(*path, key)] = self._pos(lineno, base + i + 1)
        return key, _skip(s, end + 2)

    def _flow_value(
        self, s: str, i: int, base: int, lineno: int, path: Path_, depth: int
    ) -> tuple[Any, int]:
        self.positions[path] = self._pos(lineno, base + i + 1)
        c = s[i : i + 1]
        if c == "{" or c == "[":
            return self._flow(s, i, base, lineno, path, depth + 1)
        if c == "'" or c == '"':
            return self._quoted(s, i)
        text, end = self._flow_plain_text(s, i)
        return self._plain(text), end

    def _flow_plain_text(self, s: str, i: int) -> tuple[str, int]:
        """A plain scalar inside a flow collection: (text, index after it)."""
        if i >= len(s) or not _plain_first(s, i):
            raise Unsupported("a flow entry this reader does not model")
        end = i + 1
        size = len(s)
        while end < size and s[end] not in _FLOW_STOP:
            end += 1
        text = s[i:end].rstrip(" ")
        return text, i + len(text)


def _skip(s: str, i: int) -> int:
    """The index of the first character at or after ``i`` that is not a space."""
    size = len(s)
    while i < size and s[i] == " ":
        i += 1
    return i
