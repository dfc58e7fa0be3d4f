"""Read one YAML file safely, keeping the position of every key and value.

PyYAML's own loaders silently keep the last of two duplicate keys, construct arbitrary objects
for ``!!python/...`` tags (unsafe loaders), expand aliases without limit, and compose nodes
recursively (libyaml's composer crashes the interpreter on deeply nested input). This loader
takes only the *event stream* from PyYAML's safe parser (libyaml's when installed; both are
iterative) and builds values itself, without recursion:

- duplicate keys at any depth are reported (with the first one's line);
- only the standard YAML tags are accepted (``!!python/...`` and custom tags are refused);
- aliases are shared, never copied, and counted: :data:`MAX_NODES` values per file with every
  alias expanded, :data:`MAX_DEPTH` levels; a recursive alias is an error;
- the text aliases bring in is measured too: every alias adds the UTF-8 bytes of all the scalars
  (keys and values) it refers to, and a file whose aliases add more than
  :data:`MAX_ALIAS_BYTES` is refused at the alias that crosses the limit. Counting values alone
  let one 1 MiB anchored scalar and 300 aliases through (a 300 MiB plan): the rule is that
  expanding aliases may at most add a fixed amount of text to a file, whatever its shape;
- merge keys (``<<: *base``) work, the mapping's own keys winning;
- files above :data:`lmsctl.manifest.textfile.MAX_FILE_BYTES`, binary files and non-UTF-8 files
  are refused (:mod:`lmsctl.manifest.textfile`);
- one YAML document per file;
- a key or text value holding a control or bidirectional character (the "Trojan Source" trick,
  see :data:`lmsctl.safetext.UNSAFE_CHARS`) is a warning: plans show such characters
  escaped, but the LMS would show students the text as it is;
- timestamps stay strings, exactly as written (date handling is the resolver's job); mapping
  keys stay strings as written (``01`` is not ``1``).

The result is a :class:`YamlDocument`: plain Python values (dict, list, str, int, float, bool,
None) plus a map from each value's path to its 1-based (line, column), and the same for keys.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmsctl.errors import Diagnostic, Severity
from lmsctl.manifest.quickyaml import read_block_yaml
from lmsctl.manifest.textfile import LoadFailure, read_text
from lmsctl.manifest.yamldoc import Path_, Pos, YamlDocument, where_label
from lmsctl.model import SourcePos
from lmsctl.safetext import UNSAFE_CHARS

#: Most values one file may expand to (aliases included): bounds alias bombs.
MAX_NODES = 200_000
#: Most text (UTF-8 bytes of scalars, keys included) that aliases may add to one file when
#: expanded. A shared description or defaults block reused across a section stays far below it;
#: an alias bomb built from one large scalar does not.
MAX_ALIAS_BYTES = 1024 * 1024
#: Deepest nesting accepted (bounds recursive aliases and pathological nesting).
MAX_DEPTH = 40

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
_MISSING = object()


class _Loader(yaml.SafeLoader):
    """A safe loader used only to compose nodes (never to construct objects)."""


def unsafe_character_warning(file: str, pos: Pos, char: str, path: Path_ = ()) -> Diagnostic:
    """The warning for a control or bidirectional character in a manifest or gradebook."""
    name = unicodedata.name(char, "control character")
    return Diagnostic.at(
        SourcePos(file, *pos),
        f"holds U+{ord(char):04X} ({name}), a control or bidirectional "
        "character that can make text read differently from what it is",
        f"remove it; plans show it escaped as \\u{ord(char):04x}, "
        "but the LMS would show it as it is",
        severity=Severity.WARNING,
        where=where_label(path),
        rule="unsafe-character",
    )


def _diag(
    file: str, pos: Pos, message: str, hint: str = "", rule: str = "yaml", where: str = ""
) -> Diagnostic:
    return Diagnostic.at(SourcePos(file, *pos), message, hint, where=where, rule=rule)


def _mark_pos(mark: Any) -> Pos:
    if mark is None:
        return (1, 1)
    return (int(mark.line) + 1, int(mark.column) + 1)


@dataclass(slots=True)
class _Frame:
    """An open mapping or sequence while events stream in."""

    value: dict[Any, Any] | list[Any]
    path: Path_
    anchor: str | None
    size: int = 1
    nbytes: int = 0  # UTF-8 bytes of every scalar inside (keys included), aliases expanded
    key: str | None = None  # mapping: the key waiting for its value
    key_pos: Pos = (1, 1)
    is_merge: bool = False  # mapping: the waiting key is '<<'
    seen: dict[str, Pos] = field(default_factory=dict)
    merged: dict[Any, Any] = field(default_factory=dict)
    merge_only: bool = False  # the value of a '<<' key (or an item of one)


class _Composer:
    """Build values from parser events without recursion (deep input cannot crash it).

    PyYAML's composer (and libyaml's, through Cython) recurse once per nesting level, which
    overflows the stack on hostile input; the event parser itself is iterative.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Path_, Pos] = {}
        self.key_positions: dict[Path_, Pos] = {}
        self.doc = YamlDocument(file, None, self.positions, self.key_positions)
        self.errors: list[Diagnostic] = []
        self.count = 0
        self.alias_bytes = 0
        # anchor name -> (value, values it expands to, scalar bytes it expands to)
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.stack: list[_Frame] = []
        self.documents = 0
        self._resolver = _Loader("")
        self._plain_tags: dict[str, str] = {}  # plain scalar -> its implicit tag
        self._constructed: dict[tuple[str, str], Any] = {}  # (tag, text) -> int/float/bool/None

    def fail(self, pos: Pos, message: str, hint: str, rule: str) -> LoadFailure:
        return LoadFailure([_diag(self.file, pos, message, hint, rule=rule)])

    def _resolve(self, kind: type[yaml.Node], value: str | None, implicit: Any) -> str:
        return str(self._resolver.resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    def bad_tag(self, tag: str, pos: Pos) -> LoadFailure:
        short = tag.replace("tag:yaml.org,2002:", "!!")
        return self.fail(
            pos,
            f"YAML tag {short!r} is not allowed",
            "manifests hold plain data only: remove the tag",
            "yaml-tag",
        )

    def _grow(self, size: int, pos: Pos) -> None:
        self.count += size
        if self.count > MAX_NODES:
            raise self.fail(
                pos,
                f"file expands to more than {MAX_NODES} values (aliases expanded)",
                "remove the nested anchors/aliases; this looks like an alias bomb",
                "alias-limit",
            )

    def _grow_alias_bytes(self, name: str, nbytes: int, pos: Pos) -> None:
        self.alias_bytes += nbytes
        if self.alias_bytes > MAX_ALIAS_BYTES:
            raise self.fail(
                pos,
                f"alias *{name} expands the file by more than {MAX_ALIAS_BYTES} bytes of text"
                f" (aliases add {self.alias_bytes} bytes so far)",
                f"write the text once instead of repeating *{name}; this looks like an alias bomb",
                "alias-limit",
            )

    def _check_text(self, text: str, pos: Pos, path: Path_) -> None:
        found = UNSAFE_CHARS.search(text)
        if found is not None:
            self.errors.append(unsafe_character_warning(self.file, pos, found.group(), path))

    def feed(self, event: yaml.Event) -> None:
        """Any event but a scalar or an end (:func:`_feed_events` calls their handlers)."""
        cls = type(event)
        pos = _mark_pos(event.start_mark)
        if cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
            assert isinstance(event, yaml.CollectionStartEvent)
            self.start(event, pos)
        elif cls is yaml.AliasEvent:
            assert isinstance(event, yaml.AliasEvent)
            self.alias(event, pos)
        elif cls is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise self.fail(
                    pos,
                    "the file holds more than one YAML document",
                    "keep one document per file: remove the second '---'",
                    "yaml-documents",
                )

    # -- values -------------------------------------------------------------------------------

    def _child_path(self) -> Path_:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.is_merge:
            return (*top.path, "<<")
        assert top.key is not None
        return (*top.path, top.key)

    def _expects_key(self) -> bool:
        return (
            bool(self.stack)
            and isinstance(self.stack[-1].value, dict)
            and (self.stack[-1].key is None and not self.stack[-1].is_merge)
        )

    def _scalar_tag(self, event: yaml.ScalarEvent) -> str:
        """The scalar's tag, as PyYAML's resolver reads it (plain scalars' tags cached)."""
        tag = event.tag
        if tag is not None and tag != "!":
            return str(tag)
        if not event.implicit[0]:
            return self._resolve(yaml.ScalarNode, event.value, event.implicit)
        found = self._plain_tags.get(event.value)
        if found is None:
            found = self._plain_tags[event.value] = self._resolve(
                yaml.ScalarNode, event.value, event.implicit
            )
        return found

    def scalar(self, event: yaml.ScalarEvent, pos: Pos) -> None:
        tag = self._scalar_tag(event)
        text = event.value
        stack = self.stack
        top = stack[-1] if stack else None
        expects_key = (
            top is not None and top.key is None and not top.is_merge and type(top.value) is dict
        )
        if tag not in _SCALAR_TAGS and not (tag == _MERGE and expects_key):
            raise self.bad_tag(str(tag), pos)
        self._grow(1, pos)
        nbytes = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if expects_key:
            assert top is not None
            top.nbytes += nbytes
            if UNSAFE_CHARS.search(text) is not None:
                self._check_text(text, pos, (*top.path, text))
            if event.anchor is not None:
                self.anchors[event.anchor] = (str(text), 1, nbytes)
            if tag == _MERGE:
                top.is_merge = True
                top.key_pos = pos
                return
            top.key = str(text)  # keys stay as written: '01' is not 1, 'no' is not False
            top.key_pos = pos
            return
        value: Any
        if tag in (_STR, _TIMESTAMP):
            value = str(text)
            if UNSAFE_CHARS.search(value) is not None:
                self._check_text(value, pos, self._child_path())
        else:
            value = self._construct(tag, text, pos)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1, nbytes)
        self.attach(value, pos, 1, nbytes)

    def _construct(self, tag: str, text: str, pos: Pos) -> Any:
        """An int, float, bool or null scalar's value (cached: they repeat, and never change)."""
        cached = self._constructed.get((tag, text), _MISSING)
        if cached is not _MISSING:
            value = cached
        else:
            node = yaml.ScalarNode(tag, text)
            try:
                value = self._resolver.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError) as exc:
                raise self.fail(pos, f"cannot read the value {text!r}", "quote it", "yaml") from exc
            self._constructed[(tag, text)] = value
        if isinstance(value, float) and not math.isfinite(value):
            # JSON (and so the API) has no NaN or infinity: apply would fail half-way
            self.errors.append(
                _diag(
                    self.file,
                    pos,
                    f"{text!r} is not a finite number",
                    "write an ordinary number such as 10 or 9.5",
                    rule="yaml",
                    where=where_label(self._child_path()),
                )
            )
        return value

    def alias(self, event: yaml.AliasEvent, pos: Pos) -> None:
        name = str(event.anchor)
        if name not in self.anchors:
            if any(frame.anchor == name for frame in self.stack):
                raise self.fail(
                    pos,
                    f"alias *{name} refers to a collection that contains it",
                    "aliases may not refer to themselves",
                    "yaml-alias",
                )
            raise self.fail(
                pos, f"alias *{name} has no anchor &{name} before it", "define it first", "yaml"
            )
        value, size, nbytes = self.anchors[name]
        self._grow(size, pos)
        self._grow_alias_bytes(name, nbytes, pos)
        if self._expects_key():
            if not isinstance(value, str):
                raise self.fail(
                    pos, "mapping keys must be plain scalars", "use a string key", "yaml-key"
                )
            top = self.stack[-1]
            top.key, top.key_pos = value, pos
            top.nbytes += nbytes
            return
        self.attach(value, pos, size, nbytes)

    def start(self, event: yaml.CollectionStartEvent, pos: Pos) -> None:
        is_map = type(event) is yaml.MappingStartEvent
        node_type = yaml.MappingNode if is_map else yaml.SequenceNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolve(node_type, None, event.implicit)
        if tag != (_MAP if is_map else _SEQ):
            raise self.bad_tag(str(tag), pos)
        if self._expects_key():
            raise self.fail(
                pos, "mapping keys must be plain scalars", "use a string key", "yaml-key"
            )
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(pos, *_DEPTH_LIMIT_PARTS)
        self._grow(1, pos)
        merge_only = bool(self.stack) and (self.stack[-1].is_merge or self.stack[-1].merge_only)
        path = self._child_path()
        if not merge_only:
            self.positions[path] = pos
        container: dict[Any, Any] | list[Any] = {} if is_map else []
        self.stack.append(
            _Frame(value=container, path=path, anchor=event.anchor, merge_only=merge_only)
        )

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            for key, val in frame.merged.items():
                frame.value.setdefault(key, val)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.value, frame.size, frame.nbytes)
        pos = self.positions.get(frame.path, (1, 1))
        self.attach(frame.value, pos, frame.size, frame.nbytes, from_frame=True)

    def attach(
        self, value: Any, pos: Pos, size: int, nbytes: int, *, from_frame: bool = False
    ) -> None:
        if not self.stack:
            self.doc.data = value
            if not from_frame:
                self.positions[()] = pos
            return
        top = self.stack[-1]
        top.size += size
        top.nbytes += nbytes
        if isinstance(top.value, list):
            if not from_frame and not top.merge_only:
                self.positions[(*top.path, len(top.value))] = pos
            if top.merge_only:
                self._merge_into_parent(value, pos)
            top.value.append(value)
            return
        if top.is_merge:
            top.is_merge = False
            if not isinstance(value, list):
                self._merge(top, value, pos)
            # a list of mappings was merged item by item as it was read
            return
        key = top.key
        assert key is not None
        top.key = None
        if key in top.seen:
            first = top.seen[key]
            self.errors.append(
                _diag(
                    self.file,
                    top.key_pos,
                    f"duplicate key {key!r}, first written at line {first[0]}",
                    "keep only one of them; YAML would silently use the last",
                    rule="duplicate-key",
                    where=where_label(top.path),
                )
            )
            return
        top.seen[key] = top.key_pos
        child = (*top.path, key)
        if not top.merge_only:
            self.key_positions[child] = top.key_pos
            if not from_frame:
                self.positions[child] = pos
        top.value[key] = value

    def _merge_into_parent(self, value: Any, pos: Pos) -> None:
        # an item of a '<<: [*a, *b]' list: merge it into the mapping holding the '<<'
        holder = self.stack[-2] if len(self.stack) >= 2 else None
        if holder is not None and isinstance(holder.value, dict):
            self._merge(holder, value, pos)

    def _merge(self, frame: _Frame, value: Any, pos: Pos) -> None:
        if not isinstance(value, dict):
            raise self.fail(
                pos,
                "a merge key '<<' needs a mapping (or a list of mappings)",
                "merge an anchored mapping, e.g. '<<: *defaults'",
                "yaml-merge",
            )
        for key, val in value.items():
            frame.merged.setdefault(key, val)


def _offset_pos(text: str, offset: int) -> Pos:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return (line, col)


def load_yaml_text(text: str, display: str) -> YamlDocument:
    """Parse YAML text into a :class:`YamlDocument`; LoadFailure on any problem (duplicate
    keys included). :func:`load_yaml_file` is the lenient variant used for manifests."""
    doc, errors = _load(text, display)
    if any(d.severity is Severity.ERROR for d in errors):
        raise LoadFailure(errors)
    return doc


#: The depth-limit diagnostic's message, hint and rule (lmsctl's limit and libyaml's alike).
_DEPTH_LIMIT_PARTS = (
    f"nesting deeper than {MAX_DEPTH} levels",
    "flatten the structure",
    "depth-limit",
)


def _is_libyaml_depth_limit(exc: yaml.MarkedYAMLError) -> bool:
    """libyaml's own nesting limit: a ScannerError whose problem names the nesting depth.

    libyaml gives no error code, so its problem text is the only thing to read; it is read here,
    at the loader's seam, and nowhere else.
    """
    return isinstance(exc, yaml.scanner.ScannerError) and "nesting depth" in (exc.problem or "")


def _feed_events(text: str, composer: _Composer) -> None:
    """Parse ``text`` and hand every event to ``composer`` (libyaml's parser when installed).

    Scalars and ends of collections (most events) go straight to their handlers."""
    loader_cls: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    loader = loader_cls(text)
    check, get = loader.check_event, loader.get_event
    feed, scalar, end = composer.feed, composer.scalar, composer.end
    scalar_event, map_end, seq_end = yaml.ScalarEvent, yaml.MappingEndEvent, yaml.SequenceEndEvent
    try:
        while check():
            event = get()
            cls = type(event)
            if cls is scalar_event:
                mark = event.start_mark
                scalar(event, (mark.line + 1, mark.column + 1) if mark is not None else (1, 1))
            elif cls is map_end or cls is seq_end:
                end()
            else:
                feed(event)
    finally:
        loader.dispose()


def _load(text: str, display: str) -> tuple[YamlDocument, list[Diagnostic]]:
    quick = read_block_yaml(text, display, max_nodes=MAX_NODES, max_depth=MAX_DEPTH)
    if quick is not None:  # plain block YAML: the same document, read faster
        return quick, []
    return load_events(text, display)


def load_events(text: str, display: str) -> tuple[YamlDocument, list[Diagnostic]]:
    """Any YAML text, read from PyYAML's event stream: the document and its diagnostics.

    LoadFailure when nothing usable can be read. :func:`load_yaml_text` and
    :func:`load_yaml_file` use it for any file :mod:`lmsctl.manifest.quickyaml` gives up on.
    """
    composer = _Composer(display)
    try:
        _feed_events(text, composer)
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
        if _is_libyaml_depth_limit(exc):
            # libyaml (PyYAML >= 6.0.2's C loader) stops at its own nesting limit while it
            # scans ahead, before our composer sees the events: the same rule, one diagnostic.
            raise composer.fail(_mark_pos(mark), *_DEPTH_LIMIT_PARTS) from exc
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
    return composer.doc, composer.errors


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
