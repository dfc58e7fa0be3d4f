"""Private plans: under CI the Markdown plan names no student; pseudonyms are stable and keyed;
redact shows aggregates only; show --privacy full with the key gives everything back."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.e2e import EXAMPLES, REPO, CliResult

SEED = REPO / "lmsctl" / "sandbox" / "demo-seed.yaml"
KEY = "a per-repository secret"


def _students() -> list[dict[str, Any]]:
    seed = yaml.safe_load(SEED.read_text())
    out = []
    for district in seed["districts"]:
        for section in district["sections"]:
            out.extend(section.get("students") or [])
    assert out, "the demo seed lists no students"
    return out


def _identifying_values() -> set[str]:
    """Every name, Clever id, sis id, email, student number and state id of a demo student
    (each also as a roster reference), and every roster reference written in the example
    manifests. A number of fewer than 7 digits counts only as a reference (sis:603): alone it
    is as much a count or a line number (a traceback's "line 653"), which output keeps."""
    values: set[str] = set()
    for user in _students():
        name = user.get("name") or {}
        values.add(f"{name['first']} {name['last']}")
        values.add(str(user["id"]))
        for k, prefix in (
            ("sis_id", "sis"),
            ("email", "email"),
            ("student_number", "student_number"),
            ("state_id", "state_id"),
        ):
            value = str(user.get(k) or "")
            if value:
                values.add(f"{prefix}:{value}")
                if not (value.isdigit() and len(value) < 7):
                    values.add(value)
    for path in EXAMPLES.rglob("*"):
        if path.suffix in (".yaml", ".csv"):
            values.update(
                re.findall(r"(?:sis|email|student_number|state_id):[^\s,:{]+", path.read_text())
            )
    return values


def _grade_comments() -> set[str]:
    comments: set[str] = set()
    for path in EXAMPLES.rglob("*.yaml"):
        comments.update(re.findall(r"grade_comment: ([^,}\n]+)", path.read_text()))
    for path in EXAMPLES.rglob("*.csv"):
        with path.open() as fh:
            comments.update(
                r["grade_comment"] for r in csv.DictReader(fh) if r.get("grade_comment")
            )
    return {c.strip() for c in comments if c.strip()}


def _leaks(text: str, values: set[str]) -> list[str]:
    return sorted(
        v for v in values if re.search(rf"(?<![\w.@-]){re.escape(v)}(?![\w@-])", text, re.I)
    )


@pytest.fixture
def invoke(lmsctl: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """The shared in-process runner (tests/support/e2e.py), under this file's name for it."""
    return lmsctl


def test_values_the_scan_looks_for_are_real() -> None:
    """The scan below is only as good as its lists: they hold the seed's students and comments."""
    values = _identifying_values()
    assert "Mateo Chen" in values and "sis:601" in values and "S100001" in values
    assert "1000000001" in values and "state_id:1000000001" in values and "601" not in values
    assert "mateo.chen1@students.maplewood.example" in values and "sis:603" in values
    assert "Excellent work" in _grade_comments() and "Neat, careful work" in _grade_comments()


def test_markdown_plan_in_ci_names_no_student(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    full = invoke("--sandbox", "plan", str(coursework), "--format", "markdown", "--privacy", "full")
    assert full.code == 0, full.err
    # the same plan in full does name them: the scan would see a leak
    assert "Mateo Chen" in full.out and "Excellent work" in full.out

    result = invoke("--sandbox", "plan", str(coursework), "--format", "markdown")
    assert result.code == 0, result.err
    assert _leaks(result.text, _identifying_values()) == []
    assert _leaks(result.text, _grade_comments()) == []
    assert "student-" in result.out and "grade_points: 10" in result.out
    assert "(hidden)" in result.out
    assert "pseudonyms" in result.out  # the level is said


def test_no_key_falls_back_to_redact_and_says_so(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = invoke("--sandbox", "plan", str(coursework), "--format", "markdown")
    assert result.code == 0, result.err
    assert "LMSCTL_PSEUDONYM_KEY is not set" in result.err
    assert "student-" not in result.out
    assert _leaks(result.text, _identifying_values() | _grade_comments()) == []
    # the Markdown (a job summary, a pull-request comment) says why too, as does JSON
    assert r"(no pseudonyms: LMSCTL\_PSEUDONYM\_KEY is not set)_" in result.out
    doc = json.loads(invoke("--sandbox", "plan", str(coursework), "--json").out)
    assert doc["privacy"] == {"level": "redact", "pseudonyms": None, "fallback": True}
    asked = json.loads(
        invoke("--sandbox", "plan", str(coursework), "--json", "--privacy", "redact").out
    )
    assert asked["privacy"] == {"level": "redact", "pseudonyms": None}  # asked for: no fallback


def test_redact_shows_no_grade_value(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    result = invoke(
        "--sandbox", "plan", str(coursework), "--format", "markdown", "--privacy", "redact"
    )
    assert result.code == 0, result.err
    assert _leaks(result.text, _identifying_values() | _grade_comments()) == []
    assert "~ grade " not in result.out and "student-" not in result.out
    for field in ("grade_points:", "grade:", "flags:", "grade_comment"):
        assert field not in result.out
    for letter in ('"A"', '"A-"', '"C"', '"fail"'):
        assert letter not in result.out
    assert "5 grades to set: 0 up, 0 down, 5 new" in result.out

    doc = json.loads(
        invoke("--sandbox", "plan", str(coursework), "--json", "--privacy", "redact").out
    )
    assert doc["privacy"] == {"level": "redact", "pseudonyms": None}
    assert not [c for c in doc["changes"] if c["kind"] == "grade"]
    assert sum(s["grades"] for s in doc["grade_summaries"]) == doc["summary"]["grade"]


def _pseudonyms(doc: dict[str, Any]) -> dict[str, str]:
    return {
        c["address"].rsplit("/", 1)[0] + "#" + c["source"]: c["student"]
        for c in doc["changes"]
        if c["kind"] == "grade"
    }


def test_pseudonyms_are_stable_and_keyed(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    args = ("--sandbox", "plan", str(coursework), "--json", "--privacy", "pseudonymise")
    first, second = json.loads(invoke(*args).out), json.loads(invoke(*args).out)
    assert first["privacy"] == {"level": "pseudonymise", "pseudonyms": "hmac-sha256"}
    assert _pseudonyms(first) == _pseudonyms(second) and _pseudonyms(first)
    # the pseudonym is HMAC-SHA256 of the Clever id under the key, nothing reversible
    expected = (
        "student-"
        + hmac.new(KEY.encode(), b"5f1a0c0b8e1d2a0001b00001", hashlib.sha256).hexdigest()[:12]
    )
    assert expected in _pseudonyms(first).values()
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", "another repository")
    other = json.loads(invoke(*args).out)
    assert set(_pseudonyms(other).values()).isdisjoint(_pseudonyms(first).values())


def test_show_full_needs_the_key_in_ci(
    coursework: Path,
    tmp_path: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planfile = tmp_path / "plan.json"
    made = invoke("--sandbox", "plan", str(coursework), "--out", str(planfile))
    assert made.code == 0, made.err
    # the plan file is the full plan apply needs, and says so
    saved = json.loads(planfile.read_text())
    assert saved["plan"]["privacy"]["level"] == "full"
    assert "Mateo Chen" in planfile.read_text()

    monkeypatch.setenv("CI", "true")
    shown = invoke("show", str(planfile), "--format", "markdown")
    assert shown.code == 0, shown.err
    assert _leaks(shown.text, _identifying_values() | _grade_comments()) == []

    refused = invoke("show", str(planfile), "--privacy", "full")
    assert refused.code != 0 and "Traceback" not in refused.err
    assert "LMSCTL_PSEUDONYM_KEY is not set" in refused.err
    assert "Mateo Chen" not in refused.text

    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    full = invoke("show", str(planfile), "--privacy", "full")
    assert full.code == 0, full.err
    assert "Mateo Chen" in full.out and "Excellent work" in full.out
    assert "5f1a...b00001" in full.out  # the Clever id, shortened as the text plan does


def test_errors_and_debug_obey_the_privacy_level(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest error naming a student's roster reference, in CI, even with --debug."""
    path = coursework / "lincoln-high" / "algebra-1-period-2.yaml"
    path.write_text(
        path.read_text().replace("sis:603: {grade_points: 7", "sis:603: {grade_points: seven")
    )
    monkeypatch.setenv("CI", "true")
    for args in (
        ("--sandbox", "plan", str(coursework)),
        ("--debug", "--sandbox", "plan", str(coursework)),
    ):
        result = invoke(*args)
        assert result.code == 1
        assert "grade_points" in result.err  # the error is still there, and useful
        assert "sis:603" not in result.text and "603" not in result.text
        assert _leaks(result.text, _identifying_values()) == []
    monkeypatch.delenv("CI")
    plain = invoke("--sandbox", "plan", str(coursework))
    assert "sis:603" in plain.err  # outside CI the full error names the reference


def test_a_roster_error_in_ci_does_not_restate_a_students_reference(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grades for students of another section, by email, sis id and student number: the error
    quotes each value it could not match ("no student with email '...'"), and those are
    another section's students."""
    path = coursework / "lincoln-high" / "algebra-1-period-2.yaml"
    path.write_text(
        path.read_text().replace(
            "      sis:603: {grade_points: 7,",
            "      email:zoe.harris40@students.maplewood.example: {grade_points: 3}\n"
            "      sis:640: {grade_points: 3}\n"
            "      student_number:S100045: {grade_points: 3}\n"
            "      sis:603: {grade_points: 7,",
        )
    )
    plain = invoke("--sandbox", "plan", str(coursework))
    assert plain.code == 1 and "no student with sis_id '640'" in plain.err, plain.text
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    for args in (
        ("--sandbox", "plan", str(coursework)),
        ("--debug", "--sandbox", "plan", str(coursework)),
    ):
        result = invoke(*args)
        assert result.code == 1, result.text
        assert "no student with sis_id '" in result.err  # the error is still there
        assert _leaks(result.text, _identifying_values()) == [], args


def test_apply_output_in_ci_names_no_student(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", KEY)
    result = invoke("--sandbox", "apply", str(coursework), "--auto-approve", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    grades = [r for r in doc["results"] if r["action"] == "grade"]
    assert grades and all("/grades/student-" in r["address"] for r in grades)
    assert _leaks(result.text, _identifying_values() | _grade_comments()) == []
    text = invoke("--sandbox", "apply", str(coursework), "--auto-approve")
    assert text.code == 0 and _leaks(text.text, _identifying_values()) == []


def test_validate_in_ci_names_no_student(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = coursework / "lincoln-high" / "algebra-1-period-2.yaml"
    path.write_text(
        path.read_text()
        .replace("sis:603: {grade_points: 7", "sis:603: {grade_points: seven")
        .replace(
            "5f1a0c0b8e1d2a0001b00002: {grade_points: 8.5",
            "5f1a0c0b8e1d2a0001b00002: {grade_points: x",
        )
    )
    plain = invoke("validate", str(coursework))
    assert plain.code == 1 and "sis:603" in plain.out and "5f1a0c0b8e1d2a0001b00002" in plain.out
    monkeypatch.setenv("CI", "true")
    for args in (("validate", str(coursework)), ("validate", str(coursework), "--format", "json")):
        result = invoke(*args)
        assert result.code == 1 and "grade_points" in result.out
        assert "sis:603" not in result.text and "5f1a0c0b8e1d2a0001b00002" not in result.text
    json.loads(invoke("validate", str(coursework), "--format", "json").out)
