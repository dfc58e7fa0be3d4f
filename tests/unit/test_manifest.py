"""Loading section files into the DesiredState model: merging, normalisation, positions."""

from __future__ import annotations

import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsctl.errors import ManifestError, Severity
from lmsctl.fields import ASSIGNMENT_RULES, GRADE_RULES, REQUIRED_ON_CREATE
from lmsctl.manifest import load_desired, load_or_raise
from lmsctl.manifest.refs import parse_student_ref
from lmsctl.manifest.resolve import discover_manifests
from lmsctl.manifest.textfile import MAX_FILE_BYTES
from lmsctl.model import (
    ASSIGNMENT_DATE_FIELDS,
    ASSIGNMENT_FIELDS,
    GRADE_DATE_FIELDS,
    GRADE_FIELDS,
    AssignmentSpec,
    GradeSource,
    RefKind,
    StudentRef,
)

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "coursework"
SECTION = "5f1a0c0b8e1d2a0001a00001"
STUDENT = "5f1a0c0b8e1d2a0001b00001"


def _root(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def _one(tmp_path: Path, body: str, config: str = "") -> AssignmentSpec:
    files = {"s.yaml": f"section: {SECTION}\nassignments:\n" + body}
    if config:
        files["lmsctl.yaml"] = config
    desired, diags = load_or_raise(_root(tmp_path, files), cwd=tmp_path)
    assert [d for d in diags if d.is_error] == []
    (assignment,) = desired.assignments()
    return assignment


HW = """\
  hw-01:
    title: Homework
    description: Read.
"""


def test_examples_validate_cleanly() -> None:
    desired, diags = load_desired(EXAMPLES, cwd=EXAMPLES)
    assert [d.format() for d in diags] == []
    assert len(desired.sections) == 4
    assert len(desired.assignments()) >= 8
    assert desired.config.timezone == "America/Chicago"
    assert {s.file.split("/")[0] for s in desired.sections} == {
        "lincoln-high",
        "washington-middle",
    }


def test_examples_merge_a_csv_gradebook_with_csv_positions() -> None:
    desired, _ = load_desired(EXAMPLES, cwd=EXAMPLES)
    section = desired.section(SECTION)
    assert section is not None
    hw2 = next(a for a in section.assignments if a.key == "hw-02")
    assert hw2.manages_grades
    assert [g.source for g in hw2.grades] == [GradeSource.CSV] * len(hw2.grades)
    assert hw2.grades
    first = hw2.grades[0]
    assert first.pos.file == "lincoln-high/grades/algebra-hw-02.csv"
    assert first.pos.line == 2
    assert first.fields == {"grade_points": 10, "state": "returned"}
    # a row whose cells are all empty manages nothing
    assert "sis:604" not in {g.student.raw for g in hw2.grades}


def test_plain_date_is_end_of_day_in_the_config_timezone(tmp_path: Path) -> None:
    a = _one(
        tmp_path,
        HW + "    due_date: 2027-01-22\n    display_date: 2027-01-18\n    end_date: 2027-07-01\n",
        config="timezone: America/Chicago\n",
    )
    assert a.fields["due_date"] == "2027-01-23T05:59:00.000Z"  # CST, UTC-6
    assert a.fields["display_date"] == "2027-01-19T05:59:00.000Z"
    assert a.fields["end_date"] == "2027-07-02T04:59:00.000Z"  # CDT, UTC-5


def test_plain_date_defaults_to_utc(tmp_path: Path) -> None:
    a = _one(tmp_path, HW + "    due_date: 2027-01-22\n")
    assert a.fields["due_date"] == "2027-01-22T23:59:00.000Z"


def test_date_time_with_offset_is_converted_to_utc(tmp_path: Path) -> None:
    a = _one(tmp_path, HW + "    due_date: 2027-02-05T10:00:00-06:00\n")
    assert a.fields["due_date"] == "2027-02-05T16:00:00.000Z"


def test_defaults_are_merged_and_the_assignment_wins(tmp_path: Path) -> None:
    files = {
        "s.yaml": f"""\
section: {SECTION}
defaults:
  points_possible: 10
  submission_types: [text]
assignments:
  hw-01:
    title: Homework
    description: Read.
    due_date: 2027-02-01
    points_possible: 20
""",
    }
    desired, _ = load_or_raise(_root(tmp_path, files), cwd=tmp_path)
    (a,) = desired.assignments()
    assert a.fields["points_possible"] == 20
    assert a.fields["submission_types"] == ("text",)
    assert a.field_pos["submission_types"].line == 4  # where the default was written
    assert a.field_pos["points_possible"].line == 10
    assert "grading_type" not in a.fields  # only fields written are managed
    assert not a.manages_grades


def test_grades_and_references(tmp_path: Path) -> None:
    a = _one(
        tmp_path,
        HW
        + f"""\
    due_date: 2027-02-01
    grades:
      {STUDENT}: {{grade_points: 9, flags: [late], override_due_date: 2027-02-03}}
      sis:603: {{grade: A}}
      email:ann@school.example: {{grade_comment: Good}}
""",
    )
    assert a.manages_grades
    by_raw = {g.student.raw: g for g in a.grades}
    assert by_raw[STUDENT].student == StudentRef(STUDENT, RefKind.ID, STUDENT)
    assert by_raw[STUDENT].source is GradeSource.INLINE
    assert by_raw[STUDENT].fields == {
        "grade_points": 9,
        "flags": ("late",),
        "override_due_date": "2027-02-03T23:59:00.000Z",
    }
    assert by_raw["sis:603"].student == StudentRef("sis:603", RefKind.SIS, "603")
    assert by_raw["email:ann@school.example"].student.kind is RefKind.EMAIL
    assert by_raw["sis:603"].pos.line == 9


def test_empty_grades_mapping_still_manages_grades(tmp_path: Path) -> None:
    a = _one(tmp_path, HW + "    due_date: 2027-02-01\n    grades: {}\n")
    assert a.manages_grades
    assert a.grades == ()


def test_assignee_ids_only_when_all_are_plain_ids(tmp_path: Path) -> None:
    body = HW + "    due_date: 2027-02-01\n    assignee_mode: individuals\n"
    a = _one(tmp_path / "a", body + f"    assignee_ids: [{STUDENT}]\n")
    assert a.fields["assignee_ids"] == (STUDENT,)
    assert a.assignee_refs == (StudentRef(STUDENT, RefKind.ID, STUDENT),)
    b = _one(tmp_path / "b", body + f"    assignee_ids: [{STUDENT}, sis:603]\n")
    assert "assignee_ids" not in b.fields
    assert [r.raw for r in b.assignee_refs] == [STUDENT, "sis:603"]
    assert "assignee_ids" in b.field_pos


def test_attachments_protect_and_moved_from(tmp_path: Path) -> None:
    a = _one(
        tmp_path,
        HW
        + """\
    due_date: 2027-02-01
    protect: true
    moved_from: hw-1
    attachments:
      - {type: file, title: Sheet, url: https://x.example/s.pdf}
""",
    )
    assert a.protect
    assert a.moved_from == "hw-1"
    assert a.fields["attachments"] == (
        {"type": "file", "title": "Sheet", "url": "https://x.example/s.pdf"},
    )
    assert a.address == f"{SECTION}/hw-01"


def test_load_or_raise_raises_with_every_error(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {"s.yaml": f"section: {SECTION}\nassignments:\n  hw-01: {{titel: x}}\n  HW: {{}}\n"},
    )
    with pytest.raises(ManifestError) as info:
        load_or_raise(root, cwd=tmp_path)
    messages = [d.format() for d in info.value.diagnostics]
    assert any("unknown field 'titel' (did you mean 'title'?)" in m for m in messages)
    assert any("'HW' is not a valid assignment key" in m for m in messages)


def test_load_or_raise_returns_warnings(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {
            "s.yaml": f"""\
section: {SECTION}
assignments:
  quiz:
    title: Quiz
    description: Quiz.
    due_date: 2027-02-01
    points_possible: 10
    grades:
      sis:601: {{grade_points: 11}}
""",
        },
    )
    _, diags = load_or_raise(root, cwd=tmp_path)
    assert [d.severity for d in diags] == [Severity.WARNING]
    assert "extra credit" in diags[0].hint


def test_positions_are_relative_to_cwd(tmp_path: Path) -> None:
    root = _root(tmp_path / "repo", {"sub/s.yaml": "section: nope\nassignments: {}\n"})
    _, diags = load_desired(root, cwd=tmp_path)
    assert diags[0].file == "repo/sub/s.yaml"
    assert (diags[0].line, diags[0].col) == (1, 10)


def test_discovery_skips_hidden_folders_config_and_other_files(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {
            "lmsctl.yaml": "timezone: UTC\n",
            "a.yaml": "",
            "deep/er/b.yml": "",
            ".lmsctl/state.yaml": "",
            ".git/x.yaml": "",
            "notes.txt": "",
            "deep/.hidden.yaml": "",
        },
    )
    assert [p.relative_to(root).as_posix() for p in discover_manifests(root)] == [
        "a.yaml",
        "deep/er/b.yml",
    ]


def test_file_over_the_size_limit_is_refused_quickly(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w", encoding="utf-8") as fh:
        fh.write(f"section: {SECTION}\nassignments: {{}}\n# ")
        fh.write("x" * (MAX_FILE_BYTES + 10))
    started = time.monotonic()
    _, diags = load_desired(tmp_path, cwd=tmp_path)
    assert time.monotonic() - started < 2
    assert [d.format() for d in diags] == [
        f"big.yaml:1:1: error: file is too large ({big.stat().st_size} bytes; the limit is "
        f"{MAX_FILE_BYTES}) (split it into smaller files)"
    ]


def test_deep_nesting_is_refused_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("x: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    _, diags = load_desired(tmp_path, cwd=tmp_path)
    assert len(diags) == 1
    assert "too deep" in diags[0].message or "deeper than" in diags[0].message


@pytest.mark.parametrize("depth", [41, 999, 1001, 5000])
@pytest.mark.parametrize("c_loader", [True, False])
def test_deep_nesting_is_the_same_depth_limit_with_either_yaml_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int, c_loader: bool
) -> None:
    # libyaml (the C loader) has a nesting limit of its own that fires while it scans ahead;
    # the pure-Python loader has none. Both must end in lmsctl's one depth-limit diagnostic.
    import yaml

    if not c_loader:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML was built without libyaml")
    (tmp_path / "s.yaml").write_text("x: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    _, diags = load_desired(tmp_path, cwd=tmp_path)
    assert [(d.rule, d.message, d.hint) for d in diags] == [
        ("depth-limit", "nesting deeper than 40 levels", "flatten the structure")
    ]
    assert diags[0].file == "s.yaml" and diags[0].line == 1


def test_missing_root_is_a_diagnostic(tmp_path: Path) -> None:
    _, diags = load_desired(tmp_path / "nope", cwd=tmp_path)
    assert [d.format() for d in diags] == [
        "nope:1:1: error: no such folder "
        "(give the folder that holds lmsctl.yaml and the section files)"
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        st.lists(
            st.sampled_from(
                [
                    f"section: {SECTION}\n",
                    "assignments:\n",
                    "  hw-01:\n",
                    "    title: x\n",
                    "    due_date: 2027-13-45\n",
                    "    grades: {sis:1: {grade_points: -1}}\n",
                    "    grades_file: ../x.csv\n",
                    "  &a x: *a\n",
                    "    - [\n",
                    "    flags: [excluded]\n",
                    "  <<: *nowhere\n",
                    "  ? [a]\n  : b\n",
                ]
            ),
            max_size=12,
        ).map("".join),
    )
)
def test_any_input_gives_diagnostics_never_an_exception(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "s.yaml").write_text(text, encoding="utf-8", errors="surrogateescape")
        desired, diags = load_desired(root, cwd=root)
        assert all(d.file == "s.yaml" for d in diags)
        assert len(desired.sections) <= 1


def test_semicolon_separated_gradebook(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {
            "s.yaml": f"section: {SECTION}\nassignments:\n"
            + HW
            + "    due_date: 2027-02-01\n    grades_file: g.csv\n",
        },
    )
    (root / "g.csv").write_bytes(
        "\ufeffstudent;grade_points;flags;grade_comment\r\n"
        "sis:601;8,5;;\r\n"
        "sis:602;7;late missing;Très bien\r\n".encode()
    )
    desired, diags = load_desired(root, cwd=root)
    assert [d.format() for d in diags] == [
        "g.csv:2:9: error: grade_points '8,5' is not a number (write a number such as 8.5)"
    ]
    (a,) = desired.assignments()
    (g,) = a.grades
    assert g.fields == {
        "grade_points": 7,
        "flags": ("late", "missing"),
        "grade_comment": "Très bien",
    }
    assert g.source is GradeSource.CSV
    assert (g.pos.file, g.pos.line) == ("g.csv", 3)


def test_pure_python_yaml_parser_gives_the_same_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    with_c, diags_c = load_desired(EXAMPLES, cwd=EXAMPLES)
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    without_c, diags = load_desired(EXAMPLES, cwd=EXAMPLES)
    assert diags == diags_c == []
    assert without_c == with_c


def test_second_document_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        f"section: {SECTION}\nassignments: {{}}\n---\nsection: x\n", encoding="utf-8"
    )
    _, diags = load_desired(tmp_path, cwd=tmp_path)
    assert [d.format() for d in diags] == [
        "s.yaml:3:1: error: the file holds more than one YAML document "
        "(keep one document per file: remove the second '---')"
    ]


def test_merge_keys_share_fields_and_explicit_keys_win(tmp_path: Path) -> None:
    files = {
        "s.yaml": f"""\
section: {SECTION}
assignments:
  hw-01: &hw
    title: Homework
    description: Read.
    due_date: 2027-02-01
    points_possible: 10
  hw-02:
    <<: *hw
    title: Homework 2
""",
    }
    desired, _ = load_or_raise(_root(tmp_path, files), cwd=tmp_path)
    hw1, hw2 = desired.assignments()
    assert hw2.fields == {**hw1.fields, "title": "Homework 2"}
    assert hw2.field_pos["title"].line == 10


def test_unreadable_gradebook_is_reported_at_the_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(
        tmp_path,
        {
            "s.yaml": f"section: {SECTION}\nassignments:\n"
            + HW
            + "    due_date: 2027-02-01\n    grades_file: g.csv\n",
            "g.csv": "student,grade\nsis:1,A\n",
        },
    )
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "g.csv":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", deny)
    _, diags = load_desired(root, cwd=root)
    assert [d.format() for d in diags] == [
        "g.csv:1:1: error: cannot read file: Permission denied "
        "(check that it exists and is readable)"
    ]


def test_gradebook_that_is_a_folder(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {
            "s.yaml": f"section: {SECTION}\nassignments:\n"
            + HW
            + "    due_date: 2027-02-01\n    grades_file: grades\n",
            "grades/x.txt": "",
        },
    )
    _, diags = load_desired(root, cwd=root)
    assert [d.format() for d in diags] == [
        "s.yaml:7:18: error: assignments.hw-01.grades_file: 'grades' is not a file "
        "(name a CSV file)"
    ]


def test_links_out_of_the_root_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n", encoding="utf-8")
    (tmp_path / "secret.csv").write_text("student,grade\nsis:1,hunter2\n", encoding="utf-8")
    root = _root(
        tmp_path / "repo",
        {
            "s.yaml": f"section: {SECTION}\nassignments:\n"
            + HW
            + "    due_date: 2027-02-01\n    grades_file: g.csv\n",
        },
    )
    (root / "leak.yaml").symlink_to(secret)
    (root / "g.csv").symlink_to(tmp_path / "secret.csv")
    _, diags = load_desired(root, cwd=root)
    text = "\n".join(d.format() for d in diags)
    assert "hunter2" not in text and "password" not in text
    assert [d.format() for d in diags] == [
        "leak.yaml:1:1: error: is a link to a file outside the root folder "
        "(copy the file into the coursework folder instead of linking to it)",
        "s.yaml:7:18: error: assignments.hw-01.grades_file: 'g.csv' is outside the root folder "
        "(keep gradebooks inside the coursework folder)",
    ]


def test_a_fifo_named_like_a_manifest_does_not_hang(tmp_path: Path) -> None:
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "pipe.yaml")
    _, diags = load_desired(tmp_path, cwd=tmp_path)
    assert [d.format() for d in diags] == [
        "pipe.yaml:1:1: error: is not a regular file (manifests and gradebooks must be plain files)"
    ]


def test_root_reached_through_a_link_keeps_the_written_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _root(tmp_path / "real", {"s.yaml": "section: nope\nassignments: {}\n"})
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    _, diags = load_desired(Path("link"))
    assert [d.file for d in diags] == ["link/s.yaml"]


def _diags(tmp_path: Path, body: str) -> list[str]:
    files = {"s.yaml": f"section: {SECTION}\nassignments:\n" + body}
    _, diags = load_desired(_root(tmp_path, files), cwd=tmp_path)
    return [d.format() for d in diags if d.is_error]


def test_clearable_grade_fields_may_be_null(tmp_path: Path) -> None:
    spec = _one(
        tmp_path,
        HW
        + "    due_date: 2027-01-15\n    assignee_mode: all\n    grades:\n"
        + f"      {STUDENT}: {{grade: null, grade_comment: null, flags: null,"
        + " override_due_date: null, grader_id: null}\n",
    )
    (grade,) = spec.grades
    assert dict(grade.fields) == {
        "grade": None,
        "grade_comment": None,
        "flags": None,
        "override_due_date": None,
        "grader_id": None,
    }


@pytest.mark.parametrize(
    ("field", "reason", "hint"),
    [
        ("grade_points", "its decoder ignores a null", "remove grade_points"),
        ("extra_attempts", "its decoder ignores a null", "write extra_attempts: 0"),
        ("state", "its decoder ignores a null", "remove state"),
    ],
)
def test_a_null_the_api_cannot_clear_is_refused_with_the_reason(
    tmp_path: Path, field: str, reason: str, hint: str
) -> None:
    body = HW + f"    grades:\n      {STUDENT}: {{{field}: null}}\n"
    (line,) = _diags(tmp_path, body)
    assert line.startswith("s.yaml:7:")
    assert f"grades.{STUDENT}.{field}: cannot be cleared:" in line
    assert reason in line and hint in line


def test_an_empty_description_is_refused_at_validate(tmp_path: Path) -> None:
    (line,) = _diags(tmp_path, '  hw-01:\n    title: Homework\n    description: ""\n')
    assert line.startswith("s.yaml:5:18: error: assignments.hw-01.description: is empty")
    assert "missing required field(s): description" in line
    files = {"s.yaml": f'section: {SECTION}\ndefaults: {{description: ""}}\nassignments: {{}}\n'}
    _, diags = load_desired(_root(tmp_path / "d", files), cwd=tmp_path / "d")
    (line,) = [d.format() for d in diags if d.is_error]
    assert line.startswith("s.yaml:2:25: error: defaults.description: is empty")


@pytest.mark.parametrize(
    ("written", "kind", "value"),
    [
        (STUDENT, RefKind.ID, STUDENT),
        ("sis:603", RefKind.SIS, "603"),
        ("email:Ann@School.example", RefKind.EMAIL, "Ann@School.example"),
        ("student_number:42", RefKind.STUDENT_NUMBER, "42"),
        ("state_id:TX-9", RefKind.STATE_ID, "TX-9"),
    ],
)
def test_student_references_carry_their_kind_as_an_enum(
    written: str, kind: RefKind, value: str
) -> None:
    ref = parse_student_ref(written)
    assert ref.kind is kind
    assert ref.value == value
    assert ref.is_id is (kind is RefKind.ID)
    # a kind given by name (as older callers do) is read as the same enum member
    assert StudentRef(ref.raw, kind.value, value).kind is kind  # type: ignore[arg-type]


def test_the_field_table_says_which_fields_create_needs_and_which_hold_dates() -> None:
    required = [name for name, rule in ASSIGNMENT_RULES.items() if rule.required_on_create]
    assert required == ["title", "description", "due_date"]
    assert REQUIRED_ON_CREATE == ("title", "description", "due_date")
    assert tuple(ASSIGNMENT_RULES) == ASSIGNMENT_FIELDS
    assert tuple(GRADE_RULES) == GRADE_FIELDS
    assert {"due_date", "display_date", "start_date", "end_date"} == ASSIGNMENT_DATE_FIELDS
    assert {"override_due_date"} == GRADE_DATE_FIELDS
