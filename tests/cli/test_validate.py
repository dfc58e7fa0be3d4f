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
    assert "Examples:\n    lmsctl validate examples/coursework\n" in out


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


def test_description_alias_bomb_is_refused_fast_in_little_memory(tmp_path: Path) -> None:
    """One 1 MiB anchored description and 299 aliases: 300 MiB of text once expanded.

    Refused by validate at the alias that crosses the limit, in well under a second of the
    child's CPU and under 100 MB of its peak memory (measured on the child alone).
    """
    lines = [f"section: {SECTION}", "assignments:", "  a0:", "    title: A"]
    lines += ["    due_date: 2027-01-15", f"    description: &d {'x' * 1024 * 1024}"]
    for n in range(1, 300):
        lines += [f"  a{n}:", "    title: A", "    due_date: 2027-01-15", "    description: *d"]
    (tmp_path / "s.yaml").write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "LMSCTL_SANDBOX"}
    # Measured by a small Python in between: a child forked straight from this (large) test
    # process would count the test process's memory as its own peak (Linux carries the
    # pre-exec peak over into the child's ru_maxrss).
    measure = (
        "import json, os, subprocess, sys\n"
        "with open(sys.argv[1], 'w') as out:\n"
        "    proc = subprocess.Popen([sys.executable, '-m', 'lmsctl', *sys.argv[2:]],"
        " stdout=out, stderr=subprocess.STDOUT)\n"
        "    _, status, usage = os.wait4(proc.pid, 0)\n"
        "print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss,"
        " usage.ru_utime + usage.ru_stime]))\n"
    )
    report = subprocess.run(
        [sys.executable, "-c", measure, str(tmp_path / "out"), "validate", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    code, maxrss_kib, cpu = json.loads(report.stdout)
    out = (tmp_path / "out").read_text()
    assert code == 1, out
    assert out.splitlines()[0] == (
        "s.yaml:14:18: error: alias *d expands the file by more than 1048576 bytes of text"
        " (aliases add 2097152 bytes so far) (write the text once instead of repeating *d;"
        " this looks like an alias bomb)"
    )
    assert "Traceback" not in out
    peak_mb = maxrss_kib / 1024  # KiB on Linux
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB"
    # CPU time of the whole command, interpreter start and imports included
    assert cpu < 1.0, f"{cpu:.2f} s of CPU"


def test_every_field_the_api_bounds_is_bounded_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.yaml").write_text(
        f"section: {SECTION}\n"
        "assignments:\n"
        "  hw-01:\n"
        f"    title: {'T' * 1001}\n"
        f"    description: {'d' * 100_001}\n"
        "    due_date: 2027-01-15\n"
        "    points_possible: 1.0e+39\n"
        "    max_attempts: 9223372036854775808\n"
        "    grades:\n"
        f"      {SECTION[:-1]}7: {{grade_points: 3.5e+38, extra_attempts: 9223372036854775808}}\n"
        "  hw-02:\n"
        f"    title: {'t' * 1000}\n"
        f"    description: {'d' * 100_000}\n"
        "    due_date: 2027-01-15\n"
        "    points_possible: 3.4e+38\n"
        "    max_attempts: 9223372036854775807\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["validate"], capsys)
    assert code == 1
    errors = [line.split(": error: ")[1] for line in out.splitlines() if ": error: " in line]
    assert [e.split(":")[0] for e in errors] == [
        "assignments.hw-01.title",
        "assignments.hw-01.description",
        "assignments.hw-01.points_possible",
        "assignments.hw-01.max_attempts",
        f"assignments.hw-01.grades.{SECTION[:-1]}7.grade_points",
        f"assignments.hw-01.grades.{SECTION[:-1]}7.extra_attempts",
    ]
    assert "is too long (1001 characters; at most 1000 characters)" in errors[0]
    assert "the API stores points_possible as a 32-bit float" in errors[2]
    assert "hw-02" not in out
