"""Grading-period freezes and approval rules (policies: in lmsctl.yaml), end to end.

Freeze windows are judged by the API's clock, as due dates are: each run moves the sandbox's
clock (``PUT /_sandbox/clock``) before or into a window, while lmsctl's own clock is pinned
years away, so nothing depends on today's date or on the runner's clock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.e2e import ALGEBRA, ALGEBRA_FILE, CliResult, SandboxPeek, edit, run_lmsctl

BEFORE = dt.datetime(2026, 12, 10, 12, 0, tzinfo=dt.UTC)
INSIDE = dt.datetime(2026, 12, 15, 12, 0, tzinfo=dt.UTC)
#: lmsctl's own clock in these runs: far from every window, so only the API's clock can decide
RUNNER_CLOCK = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)

FREEZE = """
  freeze:
    - name: q2-report-cards
      start: 2026-12-14
      end: 2026-12-18
      timezone: America/Chicago
      sections: [5f1a0c0b8e1d2a0001a00001]
      freeze: [grades]
"""


@pytest.fixture
def at(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxPeek
) -> Callable[..., CliResult]:
    """``at(moment, *args)``: set the sandbox's clock to ``moment`` (None: leave it), then run
    lmsctl ARGS with its own clock pinned at RUNNER_CLOCK."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("LMSCTL_SANDBOX", raising=False)

    def go(moment: dt.datetime | None, *args: str) -> CliResult:
        if moment is not None:
            sandbox.call("PUT", "/_sandbox/clock", {"now": moment.isoformat()})
        return run_lmsctl(capsys, args, clock=lambda: RUNNER_CLOCK)

    return go


def _policies(coursework: Path, text: str) -> None:
    config = coursework / "lmsctl.yaml"
    config.write_text(config.read_text() + text)


def test_a_freeze_blocks_grade_changes_at_plan_and_allow_frozen_lets_them_through(
    coursework: Path, at: Callable[..., CliResult]
) -> None:
    _policies(coursework, FREEZE)
    blocked = at(INSIDE, "--sandbox", "plan", str(coursework), "--detailed-exitcode")
    assert blocked.code == 1, blocked.text
    assert "q2-report-cards" in blocked.out
    assert f"{ALGEBRA}/hw-01/grades/5f1a0c0b8e1d2a0001b00001: frozen by window" in blocked.out
    assert "--allow-frozen q2-report-cards" in blocked.out
    doc = json.loads(at(INSIDE, "--sandbox", "plan", str(coursework), "--json").out)
    frozen = doc["frozen"]
    # grades of the frozen section only: not its assignments, not other sections
    assert frozen and {f["window"] for f in frozen} == {"q2-report-cards"}
    assert all(
        f["address"].startswith(f"{ALGEBRA}/") and "/grades/" in f["address"] for f in frozen
    )
    assert not any(f["allowed"] for f in frozen)

    before = at(BEFORE, "--sandbox", "plan", str(coursework), "--detailed-exitcode")
    assert before.code == 2 and "frozen" not in before.out.lower()

    allowed = at(
        INSIDE,
        "--sandbox",
        "plan",
        str(coursework),
        "--detailed-exitcode",
        "--allow-frozen",
        "q2-report-cards",
    )
    assert allowed.code == 2, allowed.text
    assert "allowed by --allow-frozen" in allowed.out

    wrong = at(INSIDE, "--sandbox", "plan", str(coursework), "--allow-frozen", "q3")
    assert wrong.code != 0 and "no policies.freeze window has that name" in wrong.err
    assert "Traceback" not in wrong.err


def test_apply_refuses_a_plan_made_before_the_freeze_once_it_has_begun(
    coursework: Path, tmp_path: Path, at: Callable[..., CliResult], sandbox: SandboxPeek
) -> None:
    _policies(coursework, FREEZE)
    planfile = tmp_path / "plan.json"
    made = at(BEFORE, "--sandbox", "plan", str(coursework), "--out", str(planfile))
    assert made.code == 0, made.text
    assert json.loads(planfile.read_text())["plan"]["frozen"] == []

    refused = at(INSIDE, "--sandbox", "apply", str(planfile), "--auto-approve")
    assert refused.code == 1, refused.text
    assert "freeze window 'q2-report-cards'" in refused.err
    assert "Traceback" not in refused.err
    assert sandbox.assignments() == []  # nothing was written

    # a plan made inside the window with --allow-frozen is applied inside it
    allowed = tmp_path / "allowed.json"
    at(
        INSIDE,
        "--sandbox",
        "plan",
        str(coursework),
        "--out",
        str(allowed),
        "--allow-frozen",
        "q2-report-cards",
    )
    applied = at(INSIDE, "--sandbox", "apply", str(allowed), "--auto-approve")
    assert applied.code == 0, applied.text
    assert len(sandbox.assignments()) == 4


def test_a_changed_returned_grade_needs_approval_and_exits_3(
    coursework: Path, at: Callable[..., CliResult]
) -> None:
    first = at(None, "--sandbox", "apply", str(coursework), "--auto-approve")
    assert first.code == 0, first.text
    # sis:603's hw-01 grade was returned to the student; the teacher lowers it by 2 points
    edit(coursework / ALGEBRA_FILE, "sis:603: {grade_points: 7,", "sis:603: {grade_points: 5,")
    plain = at(None, "--sandbox", "plan", str(coursework), "--detailed-exitcode")
    assert plain.code == 2, plain.text  # no approval policy: an ordinary change

    _policies(
        coursework,
        "\n  approval:\n    returned_grades: true\n    grade_drop_points: 1\n    deletes: true\n",
    )
    marked = at(None, "--sandbox", "plan", str(coursework), "--detailed-exitcode")
    assert marked.code == 3, marked.text
    assert "Needs approval" in marked.out
    assert "changes a grade already returned to the student" in marked.out
    assert "lowers the grade by 2 points" in marked.out
    doc = json.loads(at(None, "--sandbox", "plan", str(coursework), "--json").out)
    rules = {(a["rule"], a["address"].split("/")[1]) for a in doc["approvals"]}
    assert rules == {("returned_grade", "hw-01"), ("grade_drop", "hw-01")}
    assert "need approval" in doc["summary"]["text"]
    # without --detailed-exitcode, a plan that needs approval is still a success
    assert at(None, "--sandbox", "plan", str(coursework)).code == 0


def test_redacted_approvals_count_and_list_each_student_apart(
    coursework: Path, at: Callable[..., CliResult]
) -> None:
    """Two returned grades of two students changed: at redact neither student is named, yet
    the block counts two changes, as the summary does, and tells the students apart."""
    assert at(None, "--sandbox", "apply", str(coursework), "--auto-approve").code == 0
    edit(coursework / ALGEBRA_FILE, "sis:603: {grade_points: 7,", "sis:603: {grade_points: 5,")
    edit(coursework / ALGEBRA_FILE, "{grade_points: 8.5, state: returned}", "{grade_points: 9}")
    _policies(coursework, "\n  approval:\n    returned_grades: true\n")
    redacted = at(None, "--sandbox", "plan", str(coursework), "--privacy", "redact")
    assert redacted.code == 0, redacted.text
    assert "Needs approval: 2 changes" in redacted.out and "(2 need approval)" in redacted.out
    lines = [line for line in redacted.out.splitlines() if "changes a grade already" in line]
    assert len(lines) == 2 and len(set(lines)) == 2
    assert "5f1a0c0b8e1d2a0001b0000" not in redacted.out and "sis:603" not in redacted.out


def test_a_freeze_by_school_covers_only_that_schools_sections(
    coursework: Path, at: Callable[..., CliResult]
) -> None:
    _policies(
        coursework,
        "\n  freeze:\n    - name: washington-exams\n      start: 2026-12-14\n"
        "      end: 2026-12-18\n      schools: [5f1a0c0b8e1d2a0001c00002]\n",
    )
    doc = json.loads(at(INSIDE, "--sandbox", "plan", str(coursework), "--json").out)
    sections = {f["address"].split("/")[0] for f in doc["frozen"]}
    # Washington Middle School's two sections, assignments and grades alike
    assert sections == {"5f1a0c0b8e1d2a0001a00003", "5f1a0c0b8e1d2a0001a00004"}
    assert any("/grades/" in f["address"] for f in doc["frozen"])
    assert any("/grades/" not in f["address"] for f in doc["frozen"])


def test_apply_of_a_root_refuses_frozen_changes_before_writing(
    coursework: Path, at: Callable[..., CliResult], sandbox: SandboxPeek
) -> None:
    _policies(coursework, FREEZE)
    refused = at(INSIDE, "--sandbox", "apply", str(coursework), "--auto-approve")
    assert refused.code == 1, refused.text
    assert "q2-report-cards" in refused.err and "nothing was changed" in refused.err
    assert sandbox.assignments() == []
