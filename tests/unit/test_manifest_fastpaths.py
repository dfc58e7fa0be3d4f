"""The shortcuts that make a district's manifests load fast change nothing a user sees.

- a grade whose mapping is kept as its fields (plain values in table order) gives the model the
  general path gives it;
- the schema pass's remembered answers about student keys still let every bad key be reported;
- loading leaves Python's cycle collector as it found it;
- GradeSpec, built with its own __init__, behaves as the frozen dataclass it was.
"""

from __future__ import annotations

import dataclasses
import gc
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lmsctl.manifest import load_desired
from lmsctl.manifest.config import read_config
from lmsctl.manifest.grades import _inline_grade
from lmsctl.manifest.loader import load_yaml_file
from lmsctl.manifest.schema import SECTION_SCHEMA, schema_check
from lmsctl.manifest.sectionfile import SectionFile
from lmsctl.model import GradeSource, GradeSpec, RefKind, SourcePos, StudentRef

SECTION = "5f1a0c0b8e1d2a0001a00001"
S1, S2, S3 = (f"5f1a0c0b8e1d2a0001b0000{n}" for n in (1, 2, 3))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "coursework"

GRADES = f"""\
section: {SECTION}
assignments:
  hw-01:
    title: Homework
    description: Read.
    due_date: 2027-01-15
    points_possible: 10
    grades:
      {S1}: {{grade_points: 9, grade_comment: Nice work, state: returned}}
      {S2}:
        state: returned
        grade_points: 7
      {S3}:
        grade_points: 8
        flags: [late]
        grade_comment: null
        override_due_date: 2027-01-20
      sis:603: {{grade: A, extra_attempts: 1}}
      email:a@b.example: {{grade_points: 11}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "s.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "root",
    [pytest.param(None, id="written here"), pytest.param(EXAMPLES, id="examples")],
)
def test_a_grade_kept_as_written_equals_the_general_paths_grade(
    root: Path | None, tmp_path: Path
) -> None:
    root = root or _write(tmp_path, GRADES)
    desired, _ = load_desired(root, cwd=root)
    checked = 0
    for section in desired.sections:
        path = root / section.file
        doc = load_yaml_file(path, section.file, on_diagnostic=lambda d: None)
        assert doc is not None
        config, _ = read_config(root, cwd=root)
        ctx = SectionFile(doc=doc, path=path, config=config, root=root.resolve(), cwd=root)
        for spec in section.assignments:
            inline = doc.data["assignments"][spec.key].get("grades") or {}
            for grade in spec.grades:
                if grade.source is not GradeSource.INLINE:
                    continue
                gpath = ("assignments", spec.key, "grades", grade.student.raw)
                general = _inline_grade(
                    ctx, gpath, grade.student, inline[grade.student.raw], grade.pos
                )
                assert grade == general
                assert list(grade.fields) == list(general.fields)  # the field table's order
                assert list(grade.field_pos) == list(general.field_pos)
                checked += 1
    assert checked >= 5


def test_the_same_bad_student_key_is_reported_in_every_assignment(tmp_path: Path) -> None:
    grades = f"      {S1}: {{grade_points: 1}}\n      Not A Student: {{grade_points: 2}}\n"
    body = "".join(
        f"  hw-0{n}:\n    title: T\n    description: D\n    due_date: 2027-01-15\n"
        f"    grades:\n{grades}"
        for n in (1, 2)
    )
    root = _write(tmp_path, f"section: {SECTION}\nassignments:\n{body}")
    for _ in range(2):  # the second time, every key's answer is remembered
        _, diags = load_desired(root, cwd=root)
        bad = [d.format() for d in diags if d.rule == "student-ref" or "student" in d.message]
        assert bad == [
            "s.yaml:9:7: error: assignments.hw-01.grades: 'Not A Student' is not a student "
            "reference (use a 24-hex Clever user id, or sis:<id>, email:<address>, "
            "student_number:<n>, state_id:<id>)",
            "s.yaml:16:7: error: assignments.hw-02.grades: 'Not A Student' is not a student "
            "reference (use a 24-hex Clever user id, or sis:<id>, email:<address>, "
            "student_number:<n>, state_id:<id>)",
        ]


def test_a_valid_key_remembered_does_not_hide_a_bad_value(tmp_path: Path) -> None:
    root = _write(tmp_path, GRADES)
    doc = load_yaml_file(root / "s.yaml", "s.yaml", on_diagnostic=lambda d: None)
    assert doc is not None
    assert schema_check(doc, SECTION_SCHEMA)[0] == []
    doc.data["assignments"]["hw-01"]["grades"][S1]["grade_points"] = -1
    diags, bad = schema_check(doc, SECTION_SCHEMA)
    assert [d.format() for d in diags] == [
        "s.yaml:9:48: error: assignments.hw-01.grades.5f1a0c0b8e1d2a0001b00001.grade_points: "
        "-1 is out of range: must be at least 0 (grade_points cannot be negative)"
    ]
    assert ("assignments", "hw-01", "grades", S1, "grade_points") in bad


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_cycle_collector_as_it_was(enabled: bool, tmp_path: Path) -> None:
    root = _write(tmp_path, GRADES)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        load_desired(root, cwd=root)
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable() if was else gc.disable()


def test_grade_spec_is_the_frozen_dataclass_it_was() -> None:
    student = StudentRef(S1, RefKind.ID, S1)
    pos = SourcePos("s.yaml", 3, 5)
    grade = GradeSpec(student, {"grade_points": 9}, pos)
    assert grade.field_pos == {}
    assert grade.source is GradeSource.INLINE
    assert GradeSpec(student, {}, pos, source="csv").source is GradeSource.CSV  # type: ignore[arg-type]
    assert grade == GradeSpec(student=student, fields={"grade_points": 9}, pos=pos, field_pos={})
    assert dataclasses.replace(grade, pos=SourcePos("s.yaml", 4, 5)).pos.line == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        grade.pos = pos  # type: ignore[misc]
    with pytest.raises(ValueError):
        GradeSpec(student, {}, pos, source="elsewhere")  # type: ignore[arg-type]


def _imports_jsonschema(root: Path) -> bool:
    code = (
        "import sys; from pathlib import Path; from lmsctl.manifest import load_desired; "
        f"load_desired(Path({str(root)!r})); print('jsonschema' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


def test_valid_manifests_are_checked_without_loading_jsonschema(tmp_path: Path) -> None:
    # (its import is a sixth of lmsctl validate's start; the quick check finds them valid)
    assert not _imports_jsonschema(EXAMPLES)
    broken = _write(tmp_path, GRADES.replace("grade_points: 7", "grade_points: -7"))
    assert _imports_jsonschema(broken)  # loaded to say exactly what is wrong


def test_a_due_date_shared_by_assignments_is_converted_once_and_a_bad_one_reported_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmsctl.manifest import refs

    refs.normalize_date.cache_clear()
    converted: list[str] = []
    real = refs._to_api

    def to_api(value: Any, text: str) -> str:
        converted.append(text)
        return real(value, text)

    monkeypatch.setattr(refs, "_to_api", to_api)
    items = "".join(
        f"  hw-{n:02d}:\n    title: T\n    description: D\n    due_date: 2027-01-15\n"
        f"    display_date: {'2027-02-30' if n < 3 else '2027-01-10'}\n"
        for n in range(1, 6)
    )
    root = _write(tmp_path, f"section: {SECTION}\nassignments:\n{items}")
    desired, diags = load_desired(root, cwd=root)
    assert sorted(converted) == ["2027-01-10", "2027-01-15"]  # (five assignments)
    dues = {spec.fields["due_date"] for spec in desired.sections[0].assignments}
    assert dues == {"2027-01-15T23:59:00.000Z"}
    assert [(d.line, d.message) for d in diags if d.is_error] == [
        (7, "'2027-02-30' is not a real date (day is out of range for month)"),
        (12, "'2027-02-30' is not a real date (day is out of range for month)"),
    ]
