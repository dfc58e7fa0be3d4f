"""Diagnostic.at: the one way a diagnostic is built from a place in a file."""

from __future__ import annotations

from pathlib import Path

from lmsctl.errors import Diagnostic, Severity
from lmsctl.manifest import load_desired
from lmsctl.model import SourcePos


def test_at_names_the_place_and_keeps_every_part() -> None:
    diag = Diagnostic.at(
        SourcePos("s.yaml", 7, 18),
        "is out of range",
        "change the value",
        severity=Severity.WARNING,
        where="assignments.hw-01.points_possible:",
        rule="schema",
    )
    assert diag.format() == (
        "s.yaml:7:18: warning: assignments.hw-01.points_possible: is out of range "
        "(change the value)"
    )
    assert diag.to_dict() == {
        "file": "s.yaml",
        "line": 7,
        "col": 18,
        "severity": "warning",
        "where": "assignments.hw-01.points_possible:",
        "message": "is out of range",
        "hint": "change the value",
        "rule": "schema",
    }


def test_at_is_an_error_by_default() -> None:
    diag = Diagnostic.at(SourcePos("lmsctl.yaml", 1, 1), "unknown timezone 'Mars/Base'")
    assert diag.is_error
    assert diag.format() == "lmsctl.yaml:1:1: error: unknown timezone 'Mars/Base'"


def test_a_linked_settings_file_and_a_linked_section_file_read_the_same(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "lmsctl.yaml").write_text("timezone: UTC\n")
    (outside / "s.yaml").write_text("section: 5f1a0c0b8e1d2a0001000001\nassignments: {}\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "lmsctl.yaml").symlink_to(outside / "lmsctl.yaml")
    (root / "s.yaml").symlink_to(outside / "s.yaml")
    _, diags = load_desired(root, cwd=root)
    links = [d for d in diags if d.rule == "outside-root"]
    assert [d.file for d in links] == ["lmsctl.yaml", "s.yaml"]
    assert {(d.message, d.hint, d.severity) for d in links} == {
        (
            "is a link to a file outside the root folder",
            "copy the file into the coursework folder instead of linking to it",
            Severity.ERROR,
        )
    }
