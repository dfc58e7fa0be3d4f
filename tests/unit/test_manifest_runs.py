"""Runs: a block of entries written alike (a block of grades), read by the quick reader in one
pass, their positions computed only when asked for. Nothing a user sees may change:

- the document (values, and every position once asked for) is the event loader's;
- each position asked for on its own, before any other, is the loader's;
- the model and every diagnostic of a section file are those of the loader's document;
- a district's usual grades never have their positions placed in the maps at all (the reason
  runs exist).
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsctl.manifest import load_desired, loader
from lmsctl.manifest.loader import MAX_DEPTH, MAX_NODES, load_events
from lmsctl.manifest.quickyaml import read_block_yaml
from lmsctl.manifest.textfile import LoadFailure
from lmsctl.manifest.yamldoc import Path_, YamlDocument
from tests.support.quickread import read_quick, same_value

SECTION = "5f1a0c0b8e1d2a0001a00001"
S = [f"5f1a0c0b8e1d2a0001b000{n:02d}" for n in range(1, 13)]


def _loaders(text: str) -> YamlDocument:
    try:
        full, diags = load_events(text, "f.yaml")
    except LoadFailure as failure:  # pragma: no cover - the failure this test exists for
        raise AssertionError(f"the loader refuses what the reader read: {text!r}") from failure
    assert diags == [], text
    return full


def _assert_same_as_loader(text: str) -> YamlDocument | None:
    quick = read_quick(text)
    if quick is None:
        return None
    full = _loaders(text)
    assert same_value(quick.data, full.data), (text, quick.data, full.data)
    # every position, one at a time, each on a document that has placed none yet
    for path, expected in full.positions.items():
        fresh = read_quick(text)
        assert fresh is not None
        assert fresh.pos(path) == expected, (text, path)
    for path, expected in full.key_positions.items():
        fresh = read_quick(text)
        assert fresh is not None
        assert fresh.key_pos(path) == expected, (text, path)
    assert quick.positions == full.positions, text
    assert quick.key_positions == full.key_positions, text
    return quick


def _grades(*entries: str, indent: int = 2) -> str:
    pad = " " * indent
    return "g:\n" + "".join(f"{pad}{e}\n" for e in entries)


# (text, the path of a mapping the reader must read as a run)
RUNS: list[tuple[str, Path_]] = [
    ("g:\n  s1:\n    a: 1\n  s2:\n    a: 2\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n  s2:\n    a: 2", ("g",)),  # no newline at the end
    ("g:\n  s1:   \n    a: 1   \n  s2:\n    a: 2\n", ("g",)),  # trailing spaces
    ("g:\n  s1:\n    a: 1\n  s2:\n    a: 2\n    b: 3\n  s3:\n    a: 4\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n\n  # c\n  s2:\n    a: 2\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n  s2:\n    a: 2\n     # deep\n  s3:\n    a: 3\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n  s2:\n    a:  2\n  s3:\n    a: 3\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n  s2:\n      a: 2\n", ("g",)),  # another inner indent
    ("a:\n  g:\n    s1:\n      x: 1\n  h: 2\nb: 3\n", ("a", "g")),
    ("a:\n  g:\n    s1:\n      x: 1\n    s2:\n      y: z\nb:\n  - 1\n", ("a", "g")),
    (
        "g:\n  sis:603:\n    grade_points: 9\n  email:A@b.example:\n    grade: A-\n"
        "  01:\n    flags: late\n  yes:\n    n: null\n  k_1:\n    d: 2027-01-15\n"
        "  k_2:\n    t: 12:30\n  k_3:\n    f: 1.5e3\n  k_4:\n    b: no\n  k_5:\n    x: ~\n",
        ("g",),
    ),
    ("g:\n  s1:\n    a: Nice work (really)\n  s2:\n    a: x'y\"z\n", ("g",)),
    ("top:\n  - a: 1\n    g:\n      s1:\n        x: 1\n      s2:\n        x: 2\n", ("top", 0, "g")),
    ("g:\n  s1:\n    a: 1\n  s2:\n    b:\n  s3:\n    a: 3\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n  s2: 5\n  s3:\n    a: 3\n", ("g",)),
    ("g:\n  s1:\n    a: 1\n  s2: {a: 2}\n  s3:\n    a: 3\n", ("g",)),
    ("g:\n  s1:\n    a: 1\nh:\n  s1:\n    a: 1\n", ("h",)),
]


@pytest.mark.parametrize(("text", "path"), RUNS)
def test_a_run_reads_as_the_loader_reads_it(text: str, path: Path_) -> None:
    quick = read_quick(text)
    assert quick is not None, f"the reader gave up on {text!r}"
    assert quick.run_at(path) is not None, f"no run at {path} in {text!r}"
    assert _assert_same_as_loader(text) is not None


NOT_RUNS = [
    "g:\n  s1:\n    a: 1\n    b: 2\n",  # an entry of two fields
    "g:\n  s1:\n    - 1\n",
    "g:\n  s1:\n    a: {b: 1}\n",
    "g:\n  s1: 1\n",
    "g:\n\n  s1:\n    a: 1\n",  # a blank line first
    "g:\n  s1:\n    a: 1\n     # deep\n  s2:\n    a: 2\n",  # the first entry has more
    "g:\ns1:\n  a: 1\n",  # not nested: g is null
]


@pytest.mark.parametrize("text", NOT_RUNS)
def test_these_are_read_the_slower_way_and_the_same(text: str) -> None:
    quick = read_quick(text)
    assert quick is not None
    assert quick.run_at(("g",)) is None
    assert _assert_same_as_loader(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "g:\n  s1:\n    a: 1\n  s1:\n    a: 2\n",  # a duplicate key: the loader reports it
        "g:\n  s1:\n    a: .inf\n",  # not a finite number: the loader warns
        "g:\n  s1:\n    a: x\u202ey\n",
    ],
)
def test_a_run_the_reader_cannot_read_is_left_to_the_loader(text: str) -> None:
    assert read_quick(text) is None


def test_a_run_counts_towards_the_limit_on_values() -> None:
    entries = "".join(f"  s{n}:\n    a: 1\n" for n in range(MAX_NODES // 4 + 1))
    assert read_block_yaml("g:\n" + entries, "f", max_nodes=MAX_NODES, max_depth=MAX_DEPTH) is None
    assert read_block_yaml("g:\n" + entries, "f", max_nodes=10**7, max_depth=MAX_DEPTH)


def test_a_run_is_as_deep_as_its_mapping_allows() -> None:
    text = "g:\n  s1:\n    a: 1\n"
    assert read_block_yaml(text, "f", max_nodes=MAX_NODES, max_depth=4) is not None
    assert read_block_yaml(text, "f", max_nodes=MAX_NODES, max_depth=3) is None


# -- random blocks of grades ----------------------------------------------------------------

_STUDENTS = [*S[:6], "sis:603", "email:a@b.example", "email:A@b.example", "x y", "01", "yes"]
_FIELDS = ["grade_points", "grade", "state", "flags", "grade_comment", "override_due_date", "x"]
_VALUES = ["9", "9.5", "-1", "A", "returned", "submitted", "late", "2027-01-20", "null", "~",
           "Nice work", "'quoted'", "[late]", "{a: 1}", "yes", "0x1F", "", "a#b"]  # fmt: skip


@st.composite
def _grade_blocks(draw: st.DrawFn) -> str:
    """A ``grades:`` block: mostly entries of one field each, with the odd variation."""
    indent = draw(st.sampled_from([2, 4, 6]))
    step = draw(st.sampled_from([2, 2, 4, 1]))
    lines = [" " * (indent - 2) + "grades:"]
    for _ in range(draw(st.integers(1, 10))):
        pad, inner = " " * indent, " " * (indent + draw(st.sampled_from([step, step, step, 3])))
        lines.append(
            pad + draw(st.sampled_from(_STUDENTS)) + ":" + draw(st.sampled_from(["", "", " "]))
        )
        for _ in range(draw(st.sampled_from([1, 1, 1, 1, 2, 0]))):
            space = draw(st.sampled_from([" ", " ", " ", "  "]))
            value = draw(st.sampled_from(_VALUES))
            lines.append(f"{inner}{draw(st.sampled_from(_FIELDS))}:{space}{value}".rstrip(" "))
        extra = draw(st.sampled_from(["", "", "", "", "blank", "comment", "deep comment"]))
        lines += {"": [], "blank": [""], "comment": [pad + "# c"], "deep comment": [inner + "# d"]}[
            extra
        ]
    text = "\n".join(lines) + draw(st.sampled_from(["\n", ""]))
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from([" ", ":", "\n", "#", "-", ""])) + text[at + 1 :]
    return text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_grade_blocks())
def test_random_grade_blocks_read_the_same_or_are_left_to_the_loader(text: str) -> None:
    _assert_same_as_loader(text)


# -- the model and the diagnostics: runs change neither -----------------------------------

ASSIGNMENT = """\
  hw-{n}:
    title: Homework
    description: Read.
    due_date: 2027-01-15
    points_possible: 10
"""


def _section(grades: str, assignments: int = 2) -> str:
    body = "".join(ASSIGNMENT.format(n=n) + grades for n in range(assignments))
    return f"section: {SECTION}\nassignments:\n{body}"


def _block(*entries: tuple[str, str]) -> str:
    return "    grades:\n" + "".join(f"      {who}:\n        {what}\n" for who, what in entries)


SECTIONS = {
    "usual": _block(*((s, f"grade_points: {n % 10}") for n, s in enumerate(S))),
    "extra credit and states": _block(
        (S[0], "grade_points: 11"), (S[1], "state: submitted"), (S[2], "state: returned")
    ),
    "bad and repeated students": _block(
        (S[0], "grade_points: 1"),
        ("Not A Student", "grade_points: 2"),
        ("email:a@b.example", "grade: A"),
        ("email:A@b.example", "grade: B"),
        ("5F1A0C0B8E1D2A0001B00001", "grade_points: 3"),
        (S[1], "grade_points: 4"),
    ),
    "null, dates and lists": _block(
        (S[0], "grade: null"),
        (S[1], "override_due_date: 2027-01-20"),
        (S[2], "override_due_date: not a date"),
        (S[3], "flags: late"),
        (S[4], "grade_points: null"),
    ),
    "schema errors": _block(
        (S[0], "grade_points: 3"), (S[1], "grade_pionts: 2"), (S[2], "grade_points: -1")
    ),
    "a run cut short": _block((S[0], "grade_points: 1"), (S[1], "grade_points: 2"))
    + f"        state: returned\n      {S[2]}:\n        grade_points: 3\n"
    + f"      {S[3]}: {{grade_points: 4}}\n",
    "a student graded twice": _block((S[0], "grade_points: 1"), (S[1], "grade_points: 2"))
    + f"      id:{S[0]}:\n        grade_points: 3\n",
    "assignees": _block((S[0], "grade_points: 1"), (S[5], "grade_points: 2")).replace(
        "    grades:", f"    assignee_mode: individuals\n    assignee_ids: [{S[0]}]\n    grades:"
    ),
}


def _load_both(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[Any, list[str]], tuple[Any, list[str]]]:
    desired, diags = load_desired(root, cwd=root)
    with monkeypatch.context() as m:
        m.setattr(loader, "read_block_yaml", lambda *a, **k: None)  # the loader reads all
        full, full_diags = load_desired(root, cwd=root)
    return (desired.sections, [d.format() for d in diags]), (
        full.sections,
        [d.format() for d in full_diags],
    )


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_a_section_read_with_runs_resolves_as_the_loaders_document(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.yaml").write_text(_section(SECTIONS[name]), encoding="utf-8")
    doc = read_quick((tmp_path / "s.yaml").read_text(encoding="utf-8"))
    assert doc is not None and doc.run_at(("assignments", "hw-0", "grades")) is not None
    quick, full = _load_both(tmp_path, monkeypatch)
    assert quick == full
    sections, _ = quick
    if name == "usual":
        grades = sections[0].assignments[0].grades
        assert [(g.pos.line, g.pos.col) for g in grades[:2]] == [(9, 7), (11, 7)]
        assert grades[1].field_pos["grade_points"][1:] == (12, 23)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_grade_blocks())
def test_random_grade_blocks_resolve_as_the_loaders_document(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as monkeypatch:
        root = Path(tmp)
        block = textwrap.indent(textwrap.dedent(text), "    ")
        (root / "s.yaml").write_text(_section(block, 1), encoding="utf-8")
        quick, full = _load_both(root, monkeypatch)
        assert quick == full, text


def test_a_districts_grades_never_place_their_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the reason runs exist: the usual grades are resolved from the run's own figures
    (tmp_path / "s.yaml").write_text(_section(SECTIONS["usual"], 3), encoding="utf-8")

    def placed(self: YamlDocument) -> None:
        raise AssertionError("a run's positions were placed in the maps")

    monkeypatch.setattr(YamlDocument, "_place_runs", placed)
    desired, diags = load_desired(tmp_path, cwd=tmp_path)
    assert diags == []
    assert desired.grade_count == 36
