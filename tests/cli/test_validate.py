"""lmsctl validate through the real entry point: exit codes, output, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmsctl.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "coursework"
CORPUS = REPO / "tests" / "corpus" / "validate"
SECTION = "5f1a0c0b8e1d2a0001a00001"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_examples_validate_with_exit_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = _run(["validate", "examples/coursework"], capsys)
    assert code == 0, out + err
    assert out.splitlines()[-1].startswith("4 sections, 11 assignments, ")
    assert out.splitlines()[-1].endswith(": 0 errors, 0 warnings")
    assert err == ""


def test_errors_exit_1_with_sorted_positions_relative_to_cwd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "coursework"
    (root / "b").mkdir(parents=True)
    (root / "b" / "s.yaml").write_text(
        f"section: {SECTION}\nassignments:\n  hw-01:\n    titel: x\n", encoding="utf-8"
    )
    (root / "a.yaml").write_text("- not a mapping\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["validate", "coursework"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("coursework/a.yaml:1:1: error: a section file must be a mapping")
    assert lines[1] == (
        "coursework/b/s.yaml:3:3: warning: assignments.hw-01: missing 'description' "
        "(the API needs title, description and due_date to create an assignment; "
        "write it here or in defaults)"
    )
    assert "coursework/b/s.yaml:4:5: error: assignments.hw-01: unknown field 'titel' " in out
    assert lines[-1] == "1 section, 1 assignment, 0 grades: 2 errors, 2 warnings"
    assert "Traceback" not in out + err


def test_json_format(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS / "points")
    code, out, _ = _run(["validate", "--format", "json"], capsys)
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False
    assert doc["summary"] == {
        "sections": 1,
        "assignments": 2,
        "grades": 3,
        "errors": 2,
        "warnings": 2,
    }
    first = doc["diagnostics"][0]
    assert (first["file"], first["line"], first["col"], first["severity"]) == (
        "s.yaml",
        7,
        22,
        "error",
    )
    assert first["hint"] == "points_possible cannot be negative"


@pytest.mark.parametrize(
    "case", ["alias-bomb", "python-tag", "binary-file", "not-utf8", "recursive-alias"]
)
def test_hostile_input_exits_1_without_traceback(
    case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CORPUS / case)
    code, out, err = _run(["validate"], capsys)
    assert code == 1
    assert out.startswith("s.yaml:")
    assert "Traceback" not in out + err


def test_help_has_purpose_and_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["validate", "--help"], capsys)
    assert code == 0
    assert "Check the manifests under ROOT" in out
    assert "Example: lmsctl validate examples/coursework" in out


def test_console_entry_point_on_examples() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LMSCTL_SANDBOX"}
    result = subprocess.run(
        [sys.executable, "-m", "lmsctl", "validate", "examples/coursework"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout
