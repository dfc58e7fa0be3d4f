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

A run of entries written alike, each a ``key:`` line and one ``name: value`` line below it (a
block of grades, as YAML writers write them), is read in one pass of a regular expression, and
its positions are left for the document to compute when they are asked for
(:data:`lmsctl.manifest.yamldoc.Run`).

Its result is the loader's exactly: the same values (the same PyYAML resolver reads plain
scalars) and the same positions. Anything else (anchors, aliases, tags, merge keys, block
scalars, multi-line scalars or flow collections, escapes, duplicate keys, a control, tab or
bidirectional character anywhere, a non-finite number, ``---``, a line it cannot place)
makes it give up on the whole file, and the loader reads it instead: so every check and
every diagnostic stays the loader's, and this reader never reports anything itself.
"""

from __future__ import annotations

import functools
import math
import re
from operator import itemgetter
from sys import intern
from typing import Any

import yaml

from lmsctl.manifest.quicklines import FLOW_PAIR, LINES, RUN_HEAD, run_pattern
from lmsctl.manifest.yamldoc import Path_, Pos, Run, YamlDocument
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

#: first characters of a plain scalar this reader accepts (besides letters and digits)
_PLAIN_FIRST = frozenset("_./~+($^=<;)")
#: where a plain scalar inside a flow collection ends (':' and '#' are left to the loader)
_FLOW_STOP = frozenset(",[]{}:?#")
#: libyaml's longest simple key is 1024 characters
_MAX_KEY = 1000
_MAP, _SEQ, _INDENTLESS = 0, 1, 2


class Unsupported(Exception):
    """The text uses YAML this reader does not model: the loader reads the file."""


def read_block_yaml(text: str, file: str, *, max_nodes: int, max_depth: int) -> YamlDocument | None:
    """``text`` (shown as ``file``) read as the loader reads it, or None: the loader must."""
    if not _modelled_characters(text):
        return None
    reader = _Reader(max_nodes, max_depth)
    try:
        data = reader.read(text)
    except Unsupported:
        return None
    return YamlDocument(file, data, reader.positions, reader.key_positions, reader.runs)


def _modelled_characters(text: str) -> bool:
    """True when ``text`` holds no character this reader leaves to the loader."""
    if text.replace("\n", "").isprintable():
        # (checked at C speed; printable characters are all within libyaml's and none is one
        # of UNSAFE_CHARS, which are control, format or separator characters)
        return True
    return _not_modelled().search(text) is None and UNSAFE_CHARS.search(text) is None


@functools.cache
def _not_modelled() -> re.Pattern[str]:
    # compiled when first needed: a class of most of Unicode takes 10 ms to compile
    return re.compile(f"[^{_PRINTABLE}]")


def _plain_first(text: str, at: int) -> bool:
    """True when ``text[at]`` may start a plain scalar here (conservatively)."""
    c = text[at]
    if c.isalnum() or c in _PLAIN_FIRST or c >= "\xa0":
        return True
    return c == "-" and text[at + 1 : at + 2].isalnum()


def _is_dash(s: str) -> bool:
    return s[0] == "-" and (len(s) == 1 or s[1] == " ")


#: An open block mapping or sequence: (indent, container, path, kind). A plain tuple: the
#: reader makes one per nested mapping (a district's grades are thousands of them).
_Frame = tuple[int, Any, Path_, int]
#: A key (or a ``-``) with nothing after it, waiting for the next line: a nested block opens,
#: or the value is null. (frame, key or None for a sequence item, path, line, column of null)
_Pending = tuple[_Frame, "str | None", Path_, int, int]


class _Reader:
    def __init__(self, max_nodes: int, max_depth: int) -> None:
        self.positions: dict[Path_, Pos] = {}
        self.key_positions: dict[Path_, Pos] = {}
        self.stack: list[_Frame] = []
        self.pending: _Pending | None = None
        self.max_nodes = max_nodes
        self.max_depth = max_depth - 1  # a margin: the loader draws the line exactly
        self._cache: dict[str, Any] = {}
        self._resolver: yaml.SafeLoader | None = None
        self.runs: dict[Path_, Run] = {}
        self.run_entries = 0

    def read(self, text: str) -> Any:
        try:
            return self._read(text)
        except IndexError as exc:  # a dedent below the document's own indent
            raise Unsupported("a line this reader cannot place") from exc

    def _read(self, text: str) -> Any:
        at, lineno = 0, 0
        while at >= 0:
            at, lineno = self._lines(text, at, lineno)
        stack = self.stack
        if not stack:
            raise Unsupported("an empty document")
        if self.pending is not None:
            self._null(self.pending)
        # (a run's entry has four positions: its key, its mapping, its one name and value)
        if len(self.positions) + len(self.key_positions) + 4 * self.run_entries > self.max_nodes:
            raise Unsupported("too many values")
        return stack[0][1]

    def _lines(self, text: str, at: int, lineno: int) -> tuple[int, int]:
        """Read the lines from ``text[at]``: (-1, lines read) at the end of the text, or where
        to go on after a run of entries (:meth:`_run`) and the lines read by then."""
        stack = self.stack
        positions, key_positions, cache = self.positions, self.key_positions, self._cache
        max_depth = self.max_depth
        for m in LINES.finditer(text, at):
            lineno += 1
            indent, key, extra, key2, value2, flow, value, other = m.groups()
            if key is None:
                self._line(other, lineno)
                continue
            n = len(indent)
            if self.pending is None and stack:  # (the usual case, here: one call less)
                top = stack[-1]
                while top[0] > n:
                    stack.pop()
                    top = stack[-1]
                if top[0] != n or top[3] != _MAP:
                    top = self._frame_for(n, lineno)
            else:
                top = self._frame_for(n, lineno)
            key, container = intern(key), top[1]
            if key in container:
                raise Unsupported("a duplicate key")
            path = top[2] + (key,)  # (faster than unpacking: once per grade)
            key_positions[path] = (lineno, n + 1)
            if key2 is not None:  # ``key:``, then a deeper ``key: value``: a grade, say
                lineno += 1
                inner = n + len(extra)
                child: dict[str, Any] = {}
                container[key] = child
                positions[path] = (lineno, inner + 1)
                if len(stack) >= max_depth:
                    raise Unsupported("deep nesting")
                stack.append((inner, child, path, _MAP))
                key = intern(key2)
                path = path + (key,)  # noqa: RUF005 (faster than unpacking)
                key_positions[path] = (lineno, inner + 1)
                found = cache.get(value2, _MISSING)
                child[key] = self._plain(value2) if found is _MISSING else found
                positions[path] = (lineno, m.start(5) - m.start(3) + n + 1)
            elif flow is not None:  # ``key: {...}``
                vcol = m.start(6) - m.start()
                container[key] = self._quick_flow(flow, vcol, lineno, path)
                positions[path] = (lineno, vcol + 1)
            elif value is not None:  # ``key: value``
                found = cache.get(value, _MISSING)
                container[key] = self._plain(value) if found is _MISSING else found
                positions[path] = (lineno, m.start(7) - m.start() + 1)
            else:  # ``key:`` alone: a nested block follows, or the value is null
                self.pending = (top, key, path, lineno, n + len(key) + 2)
                run = self._run(text, m.end(), lineno)
                if run is not None:
                    return run
        return -1, lineno

    def _run(self, text: str, at: int, lineno: int) -> tuple[int, int] | None:
        """After ``key:`` alone (line ``lineno``), a run of entries of one field each, all
        written alike (a block of grades, say): read at once, their positions left to the
        document (:data:`lmsctl.manifest.yamldoc.Run`). Where to go on and the lines read, or
        None when the next lines are not such a run."""
        head = RUN_HEAD.match(text, at)
        if head is None:
            return None
        pending = self.pending
        assert pending is not None
        frame, key, path = pending[0], pending[1], pending[2]
        indent, inner = head.end(1) - at, head.end(2) - head.start(2)
        if indent <= frame[0] or inner <= indent:
            return None
        whole = run_pattern(indent, inner)
        found = whole.match(text, at)
        if found is None:
            return None
        end = found.end()
        lines = text[at:end].split("\n")
        count = len(lines) // 2  # (a last '' after the last newline, or none at the end)
        self.pending = None  # the entries open a nested mapping (as _frame_for does)
        mapping: dict[str, Any] = {}
        self._attach(frame, key, path, mapping, (lineno + 1, indent + 1))
        self._push(indent, mapping, path, _MAP)
        if len(self.stack) >= self.max_depth:
            raise Unsupported("deep nesting")  # (an entry's own mapping is one level deeper)
        # the run matched: each entry is exactly the key's indent, the key, ':' and spaces,
        # then the name's indent, the name (no space in it), ': ', the value and spaces
        keys = [intern(line[indent:].rstrip(" ")[:-1]) for line in lines[0 : 2 * count : 2]]
        pairs = [line[inner:].partition(": ") for line in lines[1 : 2 * count : 2]]
        names = list(map(itemgetter(0), pairs))
        texts = [pair[2].rstrip(" ") for pair in pairs]
        mapping.update(zip(keys, self._run_values(names, texts), strict=True))
        if len(mapping) != len(keys):
            raise Unsupported("a duplicate key")
        same = names[0] if names.count(names[0]) == len(names) else ""
        if same and None in map(self._cache.__getitem__, set(texts)):
            same = ""  # (a null is read by the grade pass's general path)
        self.runs[path] = (mapping, lineno + 1, indent + 1, inner + 1, count, same)
        self.run_entries += count
        return end, lineno + 2 * count

    def _run_values(self, names: list[str], texts: list[str]) -> list[dict[str, Any]]:
        """Each entry's mapping, of its one name and value (the values of a district's grades
        are a few texts, each read once)."""
        plain = self._plain
        values = {text: plain(text) for text in set(texts)}
        if names.count(names[0]) == len(names):
            name = intern(names[0])
            return [{name: value} for value in map(values.__getitem__, texts)]
        return [
            {intern(name): value}
            for name, value in zip(names, map(values.__getitem__, texts), strict=True)
        ]

    def _frame_for(self, n: int, lineno: int) -> _Frame:
        """The mapping a usual line indented by ``n`` (a key, not a dash) belongs to."""
        stack, pending = self.stack, self.pending
        if pending is not None and n > pending[0][0]:
            # the first key of a nested mapping
            self.pending = None
            frame, key, path = pending[0], pending[1], pending[2]
            child: dict[str, Any] = {}
            self._attach(frame, key, path, child, (lineno, n + 1))
            return self._push(n, child, path, _MAP)
        if pending is None and stack:
            top = stack[-1]
            while top[0] > n:
                stack.pop()
                top = stack[-1]
        else:
            top = self._top(n, False, lineno)
        if top[0] != n or top[3] != _MAP:
            top = self._top(n, False, lineno)
            if top[0] != n or top[3] != _MAP:
                raise Unsupported("a line this reader cannot place")
        return top

    def _quick_flow(self, text: str, base: int, lineno: int, path: Path_) -> dict[str, Any]:
        """The flow mapping _LINES matched, ``text``, from 0-based column ``base``."""
        if len(self.stack) + 2 >= self.max_depth:
            raise Unsupported("deep nesting")
        positions, key_positions, cache = self.positions, self.key_positions, self._cache
        mapping: dict[str, Any] = {}
        col = base + 2  # 1-based column of the first key, just after '{'
        for key, plain, items in FLOW_PAIR.findall(text):
            key = intern(key)
            if key in mapping:
                raise Unsupported("a duplicate key")
            kpath = path + (key,)  # noqa: RUF005 (faster than unpacking: once per grade field)
            key_positions[kpath] = (lineno, col)
            col += len(key) + 2  # the value's column, after ': '
            positions[kpath] = (lineno, col)
            if plain:
                found = cache.get(plain, _MISSING)
                mapping[key] = self._plain(plain) if found is _MISSING else found
                col += len(plain) + 2  # the next key's, after ', '
                continue
            values: list[Any] = []
            mapping[key] = values
            item_col = col + 1
            for item in items.split(", ") if items else ():
                positions[(*kpath, len(values))] = (lineno, item_col)
                values.append(self._plain(item))
                item_col += len(item) + 2
            col += len(items) + 4  # the brackets, and ', '
        return mapping

    def _top(self, n: int, dash: bool, lineno: int) -> _Frame:
        """The frame a line indented by ``n`` belongs to (frames it closes are popped)."""
        stack = self.stack
        if not stack:
            self._open_root(n, dash, lineno)
        elif self.pending is not None:
            self._settle_pending(n, dash, lineno)
        top = stack[-1]
        while top[0] > n or (top[3] == _INDENTLESS and top[0] == n and not dash):
            stack.pop()
            if not stack:
                raise Unsupported("dedent below the document")
            top = stack[-1]
        return top

    def _line(self, line: str, lineno: int) -> None:
        """Any line but the usual ``key: value`` (blank lines and comments too)."""
        s = line.lstrip(" ")
        if not s or s[0] == "#":
            return
        n = len(line) - len(s)
        if n == 0 and s.startswith(("---", "...")):
            raise Unsupported("document markers")
        dash = _is_dash(s)
        top = self._top(n, dash, lineno)
        if top[0] != n:
            raise Unsupported("a line this reader cannot place")
        if dash:
            if top[3] == _MAP:
                raise Unsupported("a sequence entry in a mapping")
            self._item(top, s, n, lineno)
        else:
            if top[3] != _MAP:
                raise Unsupported("a mapping key in a sequence")
            self._entry(top, s, n, lineno)

    def _open_root(self, n: int, dash: bool, lineno: int) -> None:
        if dash:
            raise Unsupported("a sequence document")
        self.stack.append((n, {}, (), _MAP))
        self.positions[()] = (lineno, n + 1)

    def _push(self, indent: int, container: Any, path: Path_, kind: int) -> _Frame:
        if len(self.stack) >= self.max_depth:
            raise Unsupported("deep nesting")
        frame = (indent, container, path, kind)
        self.stack.append(frame)
        return frame

    def _settle_pending(self, n: int, dash: bool, lineno: int) -> None:
        """The line after a bare key or ``-``: it opens a nested block, or the value is null."""
        pending = self.pending
        assert pending is not None
        self.pending = None
        frame, key, path = pending[0], pending[1], pending[2]
        if n > frame[0]:
            kind = _SEQ if dash else _MAP
        elif n == frame[0] and dash and key is not None:
            kind = _INDENTLESS
        else:
            self._null(pending)
            return
        container: Any = [] if kind != _MAP else {}
        self._attach(frame, key, path, container, (lineno, n + 1))
        self._push(n, container, path, kind)

    def _null(self, pending: _Pending) -> None:
        frame, key, path, line, col = pending
        self._attach(frame, key, path, None, (line, col))

    def _attach(self, frame: _Frame, key: str | None, path: Path_, value: Any, pos: Pos) -> None:
        if key is None:
            frame[1].append(value)
        else:
            frame[1][key] = value
        self.positions[path] = pos

    def _item(self, frame: _Frame, s: str, n: int, lineno: int) -> None:
        """``- ...`` in a block sequence."""
        rest = s[1:].lstrip(" ")
        col = n + len(s) - len(rest)  # 0-based column of what follows the dash
        path = (*frame[2], len(frame[1]))
        if not rest or rest[0] == "#":
            self.pending = (frame, None, path, lineno, n + 2)
            return
        if _is_dash(rest):
            raise Unsupported("a sequence in a sequence item")
        key = self._key(rest)
        if key is None:
            value = self._value(rest, col, lineno, path)
            self._attach(frame, None, path, value, (lineno, col + 1))
            return
        child: dict[str, Any] = {}
        self._attach(frame, None, path, child, (lineno, col + 1))
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
        container = frame[1]
        if key in container:
            raise Unsupported("a duplicate key")  # the loader reports it
        path = (*frame[2], key)
        self.key_positions[path] = (lineno, col + 1)
        rest = s[after:].lstrip(" ")
        if not rest or rest[0] == "#":
            self.pending = (frame, key, path, lineno, col + after + 1)
            return
        vcol = col + len(s) - len(rest)
        container[key] = self._value(rest, vcol, lineno, path)
        self.positions[path] = (lineno, vcol + 1)

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
        self.key_positions[(*path, key)] = (lineno, base + i + 1)
        return key, _skip(s, end + 2)

    def _flow_value(
        self, s: str, i: int, base: int, lineno: int, path: Path_, depth: int
    ) -> tuple[Any, int]:
        self.positions[path] = (lineno, base + i + 1)
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
