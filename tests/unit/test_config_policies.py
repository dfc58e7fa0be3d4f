"""lmsctl.yaml: privacy, policies.freeze and policies.approval."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lmsctl.manifest.config import load_config, read_config
from lmsctl.model import ApprovalPolicy


def _write(root: Path, text: str) -> None:
    (root / "lmsctl.yaml").write_text(text, encoding="utf-8")


def test_freeze_windows_and_approval_rules_are_read(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "timezone: America/Chicago\n"
        "privacy: redact\n"
        "policies:\n"
        "  freeze:\n"
        "    - {name: q1, start: 2026-11-02, end: 2026-11-13}\n"
        "    - name: exams\n"
        "      start: 2027-01-18T08:00\n"
        "      end: 2027-01-20T17:00:00+01:00\n"
        "      timezone: Europe/Berlin\n"
        "      schools: [5f1a0c0b8e1d2a0001c00001]\n"
        "      freeze: [assignments]\n"
        "  approval: {returned_grades: true, grade_drop_points: 2.5, deletes: true}\n",
    )
    config = load_config(tmp_path, cwd=tmp_path)
    assert config.privacy == "redact"
    q1, exams = config.policies.freeze
    # a plain date starts at 00:00 and ends at the end of that day, in lmsctl.yaml's timezone
    assert q1.start == dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)
    assert q1.end == dt.datetime(2026, 11, 14, 6, 0, tzinfo=dt.UTC)
    assert q1.grades and q1.assignments and q1.sections == () and q1.schools == ()
    assert q1.is_open(dt.datetime(2026, 11, 13, 23, 0, tzinfo=dt.UTC))
    assert not q1.is_open(dt.datetime(2026, 11, 14, 6, 0, tzinfo=dt.UTC))
    # a date-time without an offset is read in the window's own timezone
    assert exams.start == dt.datetime(2027, 1, 18, 7, 0, tzinfo=dt.UTC)
    assert exams.end == dt.datetime(2027, 1, 20, 16, 0, tzinfo=dt.UTC)
    assert exams.schools == ("5f1a0c0b8e1d2a0001c00001",)
    assert exams.assignments and not exams.grades
    assert config.policies.approval == ApprovalPolicy(True, 2.5, True)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (
            "{name: q1, start: 2026-11-13, end: 2026-11-02}",
            "lmsctl.yaml:3:42: error: policies.freeze[0].end: freeze window 'q1' ends before it "
            "starts (make end the same day as start or later)",
        ),
        (
            "{name: q1, start: 2026-11-02, end: 2026-11-13, timezone: Mars/Olympus}",
            "lmsctl.yaml:3:64: error: policies.freeze[0].timezone: unknown timezone "
            "'Mars/Olympus' (use an IANA name such as America/Chicago, Europe/Berlin or UTC)",
        ),
        (
            "{name: q1, start: 2026-13-02, end: 2026-11-13}",
            "lmsctl.yaml:3:25: error: policies.freeze[0].start: '2026-13-02' is not a date or "
            "date-time (write a date such as 2027-01-22 or a date-time such as 2027-01-22T08:00)",
        ),
    ],
)
def test_bad_freeze_window_is_one_line_with_position(
    tmp_path: Path, window: str, expected: str
) -> None:
    _write(tmp_path, f"policies:\n  freeze:\n    - {window}\n")
    _, diags = read_config(tmp_path, cwd=tmp_path)
    assert [d.format() for d in diags] == [expected]


def test_a_window_name_used_twice_is_an_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "policies:\n  freeze:\n"
        "    - {name: q1, start: 2026-11-02, end: 2026-11-13}\n"
        "    - {name: q1, start: 2027-01-02, end: 2027-01-13}\n",
    )
    _, diags = read_config(tmp_path, cwd=tmp_path)
    assert [d.message for d in diags] == ["a second freeze window is named 'q1'"]


def test_unknown_privacy_level_is_a_schema_error(tmp_path: Path) -> None:
    _write(tmp_path, "privacy: anonymous\n")
    _, diags = read_config(tmp_path, cwd=tmp_path)
    assert len(diags) == 1 and "privacy" in diags[0].format()
