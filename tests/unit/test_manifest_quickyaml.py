"""The fast block-YAML reader gives the event-based loader's document exactly, or gives up.

Whenever :func:`read_block_yaml` returns a document, :func:`load_events` (which reads any
YAML) must read the same text without a diagnostic and give equal values (of the same types,
in the same order) and equal positions. Where the reader gives up, the loader reads the file:
so every diagnostic a user sees is the loader's, checked here for each kind of problem.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsctl.errors import Diagnostic
from lmsctl.manifest import quickyaml
from lmsctl.manifest.loader import MAX_DEPTH, load_events, load_yaml_file
from lmsctl.manifest.textfile import LoadFailure
from lmsctl.manifest.yamldoc import YamlDocument
from lmsctl.safetext import UNSAFE_CHARS
from tests.support.quickread import read_quick, same_value

REPO = Path(__file__).resolve().parents[2]


def _assert_same_as_loader(text: str) -> YamlDocument | None:
    """The reader's document, after checking it against the loader's (None: it gave up)."""
    quick = read_quick(text)
    if quick is None:
        return None
    try:
        full, diags = load_events(text, "f.yaml")
    except LoadFailure as failure:  # pragma: no cover - the failure this test exists for
        raise AssertionError(f"the loader refuses what the reader read: {text!r}") from failure
    assert diags == [], text
    assert same_value(quick.data, full.data), (text, quick.data, full.data)
    assert quick.positions == full.positions, text
    assert quick.key_positions == full.key_positions, text
    return quick


# -- documents the reader must read (and read exactly as the loader does) ------------------

READ = [
    "a: 1\n",
    "a: 1",
    "a:\nb: 1\n",
    "a:   # comment\nb: 1\n",
    "# yaml-language-server: $schema=x.json\n# two\n\nsection: x\n",
    "  a: 1\n  b:\n    c: 2\n",
    "a:\n  - x\n  -\n  - y\n",
    "a:\n- x\n- y\nb: 2\n",
    "a:\n  b:\n  - 1\n  - 2\n  c: 3\n",
    "a: [x, y]\nb: {c: 1, d: [e]}\n",
    "a: {}\nb: []\nc: [ ]\nd: { }\n",
    "a: {x: 1, y: 2,}\nb: [1, 2, ]\n",
    "s:\n  - type: f\n    t: x\n  - type: g\n",
    "s:\n  -   type: f\n      t: x\n",
    "s:\n  - a:\n      b: 1\n  - a:\n    - 1\n",
    "s:\n  -\n    a: 1\n  - 2\n",
    "x: é\ny: {a: é, b: 1}\nz: '😀 x'\n😀: 1\n",
    "a: 'it''s'\nb: \"dq\"\nc: ''\nd: \"\"\ne: '  spaced  '\n",
    "'quoted key': 1\n\"dq key\": 2\n'a: b': 3\n",
    "t: Homework 1 - linear equations, part (a) [review]\n",
    "t: a#b\nu: a  # comment\nv: x'y\"z\n",
    "n: [1, 1.5, -2, 0x1F, 0o17, 1_000, 1e3, 1.0e+3, .5, +3]\n",
    "b: [yes, no, on, off, true, False, ~, null, Null]\n",
    "d: 2027-01-15\ne: 2027-01-15T10:00:00-06:00\nf: 12:30\n",
    "k:\n  01: a\n  1: b\n  yes: c\n  null: d\n  1.5: e\n",
    "url: https://files.example/a.pdf?x=1&y=2\n",
    "sis:603: {grade_points: 7, flags: [late], state: returned}\n",
    "g:\n  s1: {grade_points: 9, flags: [late, missing], state: returned}\n  s2: {grade: A}\n"
    "  s3: {flags: []}\n  s4: {}\n  s5: {grade_comment: Nice work, extra_attempts: 1}\n",
    "g:\n  s1: {a:  1}\n  s2: { a: 1 }\n  s3: {a: 1 ,b: 2}\n  s4: {a: [x,y]}\n  s5: {a: 1,}\n",
    "g:\n  s1: {a: x }\n  s2: {a: [ x ]}\n  s3:   {a: 1}  \n  s4: {a: é}\n  s5: {a: -1}\n",
    "grades:\n  email:a@b.example:\n    grade_points: 9\n    grade_comment: Check 14 again.\n",
    "a: {k: 'v', w: \"x y\", 'q': [a, 'b', \"c\"]}\n",
    "a: [[1, 2], [3, [4]], {x: [y]}]\n",
    "a: 1   \nb:    2\nc:   \n",
    "a:\n\n\n  b: 1\n\n  # c\n  c: 2\n",
    "a: b\n  # an indented comment after a value\nc: d\n",
    "x: -5\ny: -abc\nz: ~\n",
    "a: (x)\nb: ./c\nc: $d\nd: ^e\ne: =f\nf: <g\ng: ;h\n",
]


@pytest.mark.parametrize("text", READ)
def test_the_reader_reads_these_as_the_loader_does(text: str) -> None:
    assert _assert_same_as_loader(text) is not None, f"the reader gave up on {text!r}"


EXAMPLES = sorted(p for p in (REPO / "examples").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_shipped_examples_are_read_by_the_reader(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _assert_same_as_loader(text) is not None, f"the reader gave up on {path}"


def _repo_yaml() -> list[Path]:
    return sorted(p for p in (REPO / "tests").rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", _repo_yaml(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_in_the_tests_reads_the_same_or_is_left_to_the_loader(
    path: Path,
) -> None:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return  # refused before YAML is read: no reader involved
    _assert_same_as_loader(text)


def test_every_printable_character_is_one_the_reader_may_read() -> None:
    # the reader's quick character check is str.isprintable: it must never let through a
    # character libyaml refuses or the loader warns about (the slower check, or the loader)
    refused = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    printable = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isprintable())
    assert refused.search(printable) is None
    assert UNSAFE_CHARS.search(printable) is None
    # and the reader's own slower check (what isprintable stands in for) agrees
    assert quickyaml._not_modelled().search(printable) is None


# -- documents the reader must leave to the loader -----------------------------------------

LEFT = [
    "",
    "# only a comment\n",
    "just a scalar\n",
    "- a\n- b\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nm: {<<: *b, y: 2}\n",
    "a: !!str 1\n",
    "a: !custom 3\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "a: multi\n  line\n",
    "a: 'multi\n  line'\n",
    'a: "esc\\n"\n',
    "a: {x: 1,\n  y: 2}\n",
    "a: [x, y]]\n",
    "a: b: c\n",
    "a: b:\n",
    "a:\tb\n",
    "a: b\r\nc: d\r\n",
    "a: x\u202ey\n",
    "a: x\x07y\n",
    "a: 1\na: 2\n",
    "a: {x: 1, x: 2}\n",
    "a: .inf\n",
    "a: [.nan]\n",
    "? a\n: b\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n    b: 1\n  c: 2\n",
    "a: 1\n  b: 2\n",
    "- - a\n",
    "a:\n  - - x\n",
    "a: - x\n",
    "a: {b}\n",
    "a: {b:1}\n",
    "a: [b: c]\n",
    "a: {t: 10:30}\n",
    "a: <<\n",
    "<<: {x: 1}\n",
    "a: =\n",
    "a: @x\n",
    "a: `x\n",
    "a: %x\n",
    "a #b: c\n",
    "a : 1\n",
    "a: 'x' y\n",
    "a: [x] y\n",
    "k" * 1100 + ": 1\n",
    "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n",
]


@pytest.mark.parametrize("text", LEFT)
def test_the_reader_leaves_these_to_the_loader(text: str) -> None:
    assert read_quick(text) is None


# -- what a user sees for a broken file is the loader's diagnostic, unchanged ---------------

BROKEN = {
    "duplicate key": "a:\n  b: 1\n  b: 2\n",
    "duplicate key in a flow mapping": "g: {grade_points: 1, grade_points: 2}\n",
    "syntax error": "section: x\nassignments:\n  hw: a: b\n",
    "unclosed flow mapping": "section: x\nassignments: {hw: 1\n",
    "tab indent": "section: x\nassignments:\n\thw: 1\n",
    "bidirectional character": "section: x\nname: a\u202eb\n",
    "control character": "section: x\nname: a\x07b\n",
    "custom tag": "section: !x y\n",
    "undefined alias": "section: *nowhere\n",
    "not a finite number": "grades: {g: {grade_points: .inf}}\n",
    "second document": "a: 1\n---\nb: 2\n",
}


def _diagnostics(path: Path) -> tuple[YamlDocument | None, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    doc = load_yaml_file(path, path.name, on_diagnostic=diags.append)
    return doc, diags


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_file_gets_the_loaders_diagnostics(kind: str, tmp_path: Path) -> None:
    text = BROKEN[kind]
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    doc, diags = _diagnostics(path)
    assert diags, f"{kind}: no diagnostic"
    try:
        full, expected = load_events(text, "s.yaml")
    except LoadFailure as failure:
        assert doc is None
        assert [d.format() for d in diags] == [d.format() for d in failure.diagnostics]
    else:
        assert doc is not None
        assert [d.format() for d in diags] == [d.format() for d in expected]
        assert same_value(doc.data, full.data)


# -- random documents -------------------------------------------------------------------

_TOKENS = [
    "a", "b", "c", "sis:603", "x y", "01", "1", "yes", "~", "null", "1.5", "-5", "2027-01-15",
    "12:30", "é", "😀", "'q'", "'it''s'", '"dq"', "''", "{a: 1, b: [x, y]}", "[1, 2]", "{}",
    "[]", "{a: 1,}", "[a,]", "{a:1}", "{a : 1}", "[a, {b: c}]", "{'k': v}", '{"k": v}',
    "a: b", "a #c", "a#b", "&x a", "*x", "!!str 1", "|", ">", "<<", "=", "- x", "-", ":",
    "?", "{a: 1", "[a", "a:b", "http://x", ".inf", "0x1F", "'a", '"a', "a ", " a", "#",
    "\t", "%", "@", "`", ",", "]", "}", "{x: {y: [z]}}", "Nice work", "a, b", "(x)",
]  # fmt: skip


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = " " * draw(st.sampled_from([0, 0, 2, 2, 4, 4, 6, 1, 3]))
        key = draw(st.sampled_from(_TOKENS))
        value = draw(st.sampled_from(_TOKENS))
        shape = draw(st.sampled_from(["kv", "kv", "k", "item", "item-kv", "dash", "#", ""]))
        line = {
            "kv": f"{key}: {value}",
            "k": f"{key}:",
            "item": f"- {value}",
            "item-kv": f"- {key}: {value}",
            "dash": "-",
            "#": f"# {value}",
            "": "",
        }[shape]
        lines.append(indent + line + draw(st.sampled_from(["", "", " ", "  # c", " #c"])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


_KEYS = ["a", "b", "title", "sis:603", "01", "x y", "'q k'", '"d k"', "é", "yes", "k_1"]
_SCALARS = [
    "1", "1.5", "-2", "x", "Nice work", "'it''s'", '"dq"', "''", "2027-01-15", "~", "true",
    "a#b", "(x)", "http://x/y?z=1", "é ü", "😀", "0x1F", "1_000", "'a: b'", "no", "",
]  # fmt: skip
_values = st.recursive(
    st.sampled_from(_SCALARS),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def _block(draw: st.DrawFn, value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    step = draw(st.sampled_from([2, 2, 4, 1]))
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for key, item in items:
        head = f"{pad}{key}:" if key is not None else f"{pad}-"
        nested = isinstance(item, dict | list) and item and not draw(st.booleans())
        if not nested:
            text = _flow(item) if isinstance(item, dict | list) else str(item)
            lines.append(f"{head} {text}" + draw(st.sampled_from(["", "", " # c"])))
            continue
        if key is None and isinstance(item, dict) and draw(st.booleans()):
            # the compact form: the item's first key on the dash's line
            inner: list[str] = []
            _block(draw, item, indent + 2, inner)
            lines.append(f"{pad}- {inner[0].lstrip(' ')}")
            lines.extend(inner[1:])
            continue
        lines.append(head + draw(st.sampled_from(["", "", "  # c"])))
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# between", " " * (indent + 9) + "# deep"])))
        same = key is not None and isinstance(item, list) and draw(st.booleans())
        _block(draw, item, indent if same else indent + step, lines)


@st.composite
def _rendered(draw: st.DrawFn) -> str:
    """A random document written in block style, sometimes with one character changed."""
    value = draw(st.dictionaries(st.sampled_from(_KEYS), _values, min_size=1, max_size=5))
    lines: list[str] = []
    _block(draw, value, draw(st.sampled_from([0, 0, 2])), lines)
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(text) - 1))
        change = draw(st.sampled_from([*" :#-'\"{}[],\n\t&*!|>?", ""]))
        text = text[:at] + change + text[at + draw(st.integers(0, 1)) :]
    return text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_random_lines_read_the_same_or_are_left_to_the_loader(text: str) -> None:
    _assert_same_as_loader(text)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rendered())
def test_random_documents_read_the_same_or_are_left_to_the_loader(text: str) -> None:
    _assert_same_as_loader(text)
