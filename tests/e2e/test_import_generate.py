"""lmsctl import --generate: adopt assignments made directly in the LMS, manifests included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lmsctl.usecases.entry import render_entry, splice_entry
from tests.e2e.conftest import CliResult, SandboxPeek

ALGEBRA = "5f1a0c0b8e1d2a0001a00001"
SECOND = "5f1a0c0b8e1d2a0001a00002"
S1, S2 = "5f1a0c0b8e1d2a0001b00001", "5f1a0c0b8e1d2a0001b00002"
SAND = ("--sandbox",)


@pytest.fixture
def project(
    lmsctl: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, SandboxPeek]:
    """A root made by init from the demo district, the sandbox clock pinned to 2030-01-01."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    made = lmsctl(*SAND, "init", "proj", "--timezone", "America/Chicago")
    assert made.code == 0, made.text
    peek = SandboxPeek(Path("proj/.lmsctl/sandbox.db"))
    peek.call("PUT", "/_sandbox/clock", {"now": "2030-01-01T00:00:00Z"})
    return Path("proj"), peek


def _create(peek: SandboxPeek, section: str, **fields: object) -> str:
    body = {"description": "Made in the LMS.", "assignee_mode": "all", **fields}
    created = peek.call("POST", f"/v3.1/sections/{section}/assignments", body)
    return str(created["data"]["id"])


def test_three_assignments_made_in_the_lms_are_adopted_and_plan_says_no_changes(
    lmsctl: Callable[..., CliResult], project: tuple[Path, SandboxPeek]
) -> None:
    root, peek = project
    essay = _create(
        peek,
        ALGEBRA,
        title="Essay 1",
        due_date="2030-03-01T05:59:00.000Z",  # 23:59 on 28 February in Chicago
        points_possible=20,
        submission_types=["text", "file"],
    )
    quiz = _create(peek, ALGEBRA, title="Quiz: fractions", due_date="2030-03-10T15:30:00.000Z")
    lab = _create(peek, SECOND, title="Lab report", due_date="2030-04-02T04:59:00.000Z")
    base = f"/v3.1/sections/{ALGEBRA}/assignments/{essay}/submissions"
    peek.call("PATCH", f"{base}/{S1}", {"grade_points": 18, "grade_comment": "Well argued"})
    peek.call("PATCH", f"{base}/{S2}", {"grade_points": 12.5, "state": "returned"})
    args = ("--root", str(root))

    # Terraform needs configuration for an import: without --generate it is refused
    refused = lmsctl(*SAND, "import", f"{ALGEBRA}/essay-1", essay, *args)
    assert refused.code == 1, refused.text
    assert "is in no manifest" in refused.err and "add --generate" in refused.err
    assert "essay-1" not in (root / "sections").joinpath(_file_of(root, ALGEBRA)).read_text()

    one = lmsctl(*SAND, "import", f"{ALGEBRA}/essay-1", essay, *args, "--generate", "--grades")
    assert one.code == 0, one.text
    assert "with 2 grades" in one.out
    Path("more.csv").write_text(
        f"address,assignment_id\n{ALGEBRA}/quiz-1,{quiz}\n\n{SECOND}/lab-1,{lab}\n"
    )
    bulk = lmsctl(*SAND, "import", "--from-csv", "more.csv", *args, "--generate")
    assert bulk.code == 0, bulk.text
    assert bulk.out.count("Imported ") == 2

    algebra = yaml.safe_load((root / "sections" / _file_of(root, ALGEBRA)).read_text())
    entry = algebra["assignments"]["essay-1"]
    assert str(entry["due_date"]) == "2030-02-28"  # a date alone: 23:59 in the project's zone
    assert entry["title"] == "Essay 1" and entry["points_possible"] == 20
    assert sorted(entry["submission_types"]) == ["file", "text"]
    assert entry["grades"][S1] == {"grade_points": 18, "grade_comment": "Well argued"}
    assert entry["grades"][S2] == {"grade_points": 12.5, "state": "returned"}
    quiz_due = algebra["assignments"]["quiz-1"]["due_date"]
    assert quiz_due == "2030-03-10T10:30:00-05:00"  # Chicago summer time
    second = yaml.safe_load((root / "sections" / _file_of(root, SECOND)).read_text())
    assert str(second["assignments"]["lab-1"]["due_date"]) == "2030-04-01"

    assert lmsctl("validate", str(root)).code == 0
    planned = lmsctl(*SAND, "plan", str(root), "--detailed-exitcode")
    assert planned.code == 0, planned.text
    assert "No changes" in planned.out
    assert len(peek.assignments(ALGEBRA)) == 2 and len(peek.assignments(SECOND)) == 1

    # state holds the live values as applied: a teacher's later edit shows as drift
    peek.call("PATCH", f"/v3.1/sections/{ALGEBRA}/assignments/{quiz}", {"title": "Quiz 1"})
    drift = lmsctl(*SAND, "plan", str(root))
    assert drift.code == 0, drift.text
    assert "Quiz 1" in drift.out and "drift" in drift.out.lower(), drift.out

    # state marks what import adopted (Google Classroom lets only the creating app write it)
    shown = lmsctl(*SAND, "state", "show", f"{ALGEBRA}/quiz-1", *args)
    assert shown.code == 0 and "adopted:       true" in shown.out, shown.text

    # an address already in the manifests is not generated twice
    again = lmsctl(*SAND, "import", f"{ALGEBRA}/quiz-1", quiz, *args, "--generate")
    assert again.code != 0 and "already" in again.err, again.err


def test_import_refusals_name_the_problem(
    lmsctl: Callable[..., CliResult], project: tuple[Path, SandboxPeek]
) -> None:
    root, peek = project
    args = ("--root", str(root))
    quiz = _create(peek, ALGEBRA, title="Quiz", due_date="2030-03-10T15:30:00.000Z")
    res = lmsctl(*SAND, "import", f"{ALGEBRA}/quiz-1", quiz, *args, "--grades")
    assert res.code == 1 and "needs --generate" in res.err
    Path("bad.csv").write_text(f"{ALGEBRA}/quiz-1,{quiz}\n{ALGEBRA}/quiz-2\n")
    res = lmsctl(*SAND, "import", "--from-csv", "bad.csv", *args, "--generate")
    assert res.code == 1 and "bad.csv:2: expected 2 columns" in res.err, res.err
    before = (root / "sections" / _file_of(root, ALGEBRA)).read_text()
    Path("twice.csv").write_text(f"{ALGEBRA}/quiz-1,{quiz}\n{ALGEBRA}/quiz-2,{quiz}\n")
    res = lmsctl(*SAND, "import", "--from-csv", "twice.csv", *args, "--generate")
    assert res.code == 1 and "imported twice" in res.err, res.err
    assert (root / "sections" / _file_of(root, ALGEBRA)).read_text() == before
    broken = root / "sections" / _file_of(root, SECOND)
    broken.write_text(broken.read_text().replace("assignments: {}", "assignments: [oops"))
    res = lmsctl(*SAND, "import", f"{SECOND}/lab-1", quiz, *args, "--generate")
    assert res.code == 1 and "fix them before --generate" in res.err, res.err
    assert len(list((root / "sections").glob("*.yaml"))) == 4  # no second file for it
    assert "No assignments in state" in lmsctl(*SAND, "state", "list", *args).out


def _file_of(root: Path, section: str) -> str:
    return next(p.name for p in (root / "sections").glob("*.yaml") if section in p.read_text())


ENTRY = {"title": "T", "description": "D", "due_date": "2030-03-01T05:59:00.000Z"}


@pytest.mark.parametrize(
    "before",
    [
        "section: x\nassignments: {}\n# trailing comment\n",
        "section: x\nassignments:\n",
        "section: x\nassignments: ~   # none yet\nname: n\n",
        "section: x   # the id\n",
        "section: x\nassignments:\n    hw-01:\n        title: A   # keep\n\n# students\nname: n\n",
        "section: x\nassignments:\n  hw-01:\n    description: |\n      two\n      lines\n",
        "section: x\nassignments:\n  hw-01: {title: A}\nname: 'n'  # q\n",
    ],
)
def test_splice_adds_the_entry_and_keeps_every_other_byte(before: str) -> None:
    def entry(indent: int) -> str:
        return render_entry("new-1", ENTRY, {}, "America/Chicago", indent=indent)

    after = splice_entry(before, "new-1", entry)
    data = yaml.safe_load(after)
    assert data["assignments"]["new-1"]["title"] == "T"
    assert str(data["assignments"]["new-1"]["due_date"]) == "2030-02-28"
    old = yaml.safe_load(before)
    for key, value in (old.get("assignments") or {}).items():
        assert data["assignments"][key] == value
    assert {k: v for k, v in data.items() if k != "assignments"} == {
        k: v for k, v in old.items() if k != "assignments"
    }
    # only lines were added (and an empty {} / ~ placeholder removed)
    kept = [ln for ln in before.splitlines() if "{}" not in ln and "~" not in ln]
    assert all(ln in after.splitlines() for ln in kept), after


def test_a_section_no_file_holds_gets_a_new_file_with_a_working_modeline(
    lmsctl: Callable[..., CliResult], project: tuple[Path, SandboxPeek]
) -> None:
    root, peek = project
    (root / "sections" / _file_of(root, SECOND)).unlink()
    for schema in (root / "schemas").iterdir():
        schema.unlink()
    lab = _create(peek, SECOND, title="Lab report", due_date="2030-04-02T04:59:00.000Z")
    res = lmsctl(*SAND, "import", f"{SECOND}/lab-1", lab, "--root", str(root), "--generate")
    assert res.code == 0, res.text
    path = root / "sections" / _file_of(root, SECOND)
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/section.schema.json\n")
    assert (root / "schemas" / "section.schema.json").is_file()  # exported for the modeline
    assert "#   sis:" in text  # the students as comments, as init writes them
    assert yaml.safe_load(text)["assignments"]["lab-1"]["title"] == "Lab report"
    validated = lmsctl("validate", str(root))
    assert validated.code == 0 and "0 warnings" in validated.out, validated.out
    planned = lmsctl(*SAND, "plan", str(root), "--detailed-exitcode")
    assert planned.code == 0 and "No changes" in planned.out, planned.text
