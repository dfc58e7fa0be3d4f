"""Control and bidirectional characters from manifests, the LMS or the roster are never printed
as they are ("Trojan Source"): every renderer shows them escaped, as it shows ESC, CR and BEL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lmsctl.cli import run
from lmsctl.errors import Diagnostic, Severity
from lmsctl.manifest.loader import load_yaml_text
from lmsctl.plan.document import plan_to_document
from lmsctl.render.json import render_plan_json
from lmsctl.render.markdown import render_plan_markdown
from lmsctl.render.text import render_plan_text
from lmsctl.safetext import UNSAFE_CHARS, escape_controls
from tests.render.plans import conflict_plan, drift_only_plan, full_plan

#: RLO, the isolates, LRM/RLM, ALM, C1 CSI and NEL, ESC, CR, BEL, DEL, line separator
HOSTILE = "\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u009b\u0085\x1b[8m\r\x07\x7f\u2028"
#: lmsctl's own colour codes (the only escape sequences a coloured plan may hold)
OWN_SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_each_hostile_character_is_escaped_and_newlines_and_tabs_stay() -> None:
    text = f"a{HOSTILE}b\n\tc"
    out = escape_controls(text)
    assert UNSAFE_CHARS.search(out) is None
    assert out == (
        "a\\u202e\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c\\u009b\\u0085\\u001b[8m"
        "\\u000d\\u0007\\u007f\\u2028b\n\tc"
    )
    assert escape_controls(out) == out  # escaping twice changes nothing
    assert escape_controls("Ünïcödé – العربية") == "Ünïcödé – العربية"  # ordinary text kept


#: typed codes of the plan document (enums the renderers map to words, never print as they are)
CODE_KEYS = frozenset({"consent", "why", "reasons"})


def _poison(value: Any) -> Any:
    """Every string of a plan document (keys and typed codes excepted) with the hostile
    characters in it."""
    if isinstance(value, str):
        return value[:1] + HOSTILE + value[1:] if value else value
    if isinstance(value, dict):
        return {k: v if k in CODE_KEYS else _poison(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v) for v in value]
    return value


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": lambda doc: render_plan_text(doc),
    "text-color": lambda doc: OWN_SGR.sub("", render_plan_text(doc, color=True)),
    "markdown": lambda doc: render_plan_markdown(doc),
    "markdown-small": lambda doc: render_plan_markdown(doc, max_chars=3000),
    "json": render_plan_json,
}


@pytest.mark.parametrize("make", [full_plan, drift_only_plan, conflict_plan])
@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_no_renderer_prints_a_control_or_bidi_character_from_the_data(
    make: Callable[[], Any], renderer: str
) -> None:
    doc = _poison(plan_to_document(make()))
    out = RENDERERS[renderer](doc)
    found = UNSAFE_CHARS.search(out)
    assert found is None, f"{found.group()!r} printed raw: {out[found.start() - 60 :][:80]!r}"
    assert "\\u202e" in out  # shown, escaped, where it was
    if renderer == "markdown-small":
        assert len(out) <= 3000


def test_json_escapes_them_and_still_reads_back_the_same_values() -> None:
    doc = _poison(plan_to_document(full_plan()))
    out = render_plan_json(doc)
    assert UNSAFE_CHARS.search(out) is None
    assert json.loads(out) == doc


def test_diagnostics_and_errors_print_them_escaped() -> None:
    diag = Diagnostic("s.yaml", 3, 5, Severity.ERROR, "assignments.hw\u202e-01:", "bad \x9b", "x")
    assert UNSAFE_CHARS.search(diag.format()) is None
    assert diag.format() == "s.yaml:3:5: error: assignments.hw\\u202e-01: bad \\u009b (x)"


def test_a_hostile_title_is_a_warning_not_an_error() -> None:
    doc_text = (
        "section: 5f1a0c0b8e1d2a0001a00001\n"
        "assignments:\n"
        "  hw-01:\n"
        '    title: "Homework 1 \\u202eFDP.exe"\n'
    )
    doc = load_yaml_text(doc_text, "s.yaml")  # the file still loads: the value is kept as is
    assert doc.data["assignments"]["hw-01"]["title"] == "Homework 1 \u202eFDP.exe"


def test_validate_prints_the_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.yaml").write_text(
        "section: 5f1a0c0b8e1d2a0001a00001\n"
        "assignments:\n"
        "  hw-01:\n"
        '    title: "Homework 1 \\u202eFDP.exe"\n'
        '    description: "C1 \\x9b here"\n'
        "    due_date: 2027-01-15\n"
    )
    assert run(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert UNSAFE_CHARS.search(out) is None
    lines = [line for line in out.splitlines() if "warning:" in line]
    assert len(lines) == 2
    assert lines[0].endswith(
        "s.yaml:4:12: warning: assignments.hw-01.title: holds U+202E (RIGHT-TO-LEFT OVERRIDE), "
        "a control or bidirectional character that can make text read differently from what "
        "it is (remove it; plans show it escaped as \\u202e, but the LMS would show it as it is)"
    )
    assert "s.yaml:5:18: warning: assignments.hw-01.description: holds U+009B" in lines[1]


def test_a_gradebook_comment_with_a_bidi_character_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.yaml").write_text(
        "section: 5f1a0c0b8e1d2a0001a00001\n"
        "assignments:\n"
        "  hw-01:\n"
        "    title: Homework 1\n"
        "    description: ok\n"
        "    due_date: 2027-01-15\n"
        "    grades_file: g.csv\n"
    )
    (tmp_path / "g.csv").write_text(
        "student,grade_points,grade_comment\n5f1a0c0b8e1d2a0001b00001,9,Good \u2067work\n",
        encoding="utf-8",
    )
    assert run(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert UNSAFE_CHARS.search(out) is None
    (line,) = [line for line in out.splitlines() if "warning:" in line]
    assert "g.csv:2:33: warning: holds U+2067 (RIGHT-TO-LEFT ISOLATE)" in line
