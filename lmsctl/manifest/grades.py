"""The grades of one assignment: the inline ``grades:`` mapping and the ``grades_file`` CSV
gradebook, merged, with the checks that need the assignment (points, state, assignees)."""

from __future__ import annotations

from typing import Any

from lmsctl.errors import Diagnostic, Severity
from lmsctl.fields import GRADE_RULES, Kind
from lmsctl.manifest.config import display_path, is_inside
from lmsctl.manifest.csvgrades import CsvGrade, read_gradebook
from lmsctl.manifest.refs import RefError, parse_student_ref, student_identity
from lmsctl.manifest.sectionfile import SectionFile, read_date
from lmsctl.manifest.yamldoc import Path_
from lmsctl.model import (
    GRADE_FIELDS,
    GradeSource,
    GradeSpec,
    RefKind,
    SourcePos,
    StudentRef,
)

#: Submission states a student (not a teacher) puts a submission in.
STUDENT_STATES = ("submitted", "reclaimed")

_GRADE_KINDS = {name: rule.kind for name, rule in GRADE_RULES.items()}


def resolve_grades(
    ctx: SectionFile,
    section_id: str,
    key: str,
    value: dict[str, Any],
    afields: dict[str, Any],
    afield_pos: dict[str, SourcePos],
) -> tuple[list[GradeSpec], bool]:
    base: Path_ = ("assignments", key)
    manages = "grades" in value or "grades_file" in value
    grades: list[GradeSpec] = []
    seen: dict[tuple[RefKind, str], SourcePos] = {}
    inline = value.get("grades")
    refs = ctx.refs
    if isinstance(inline, dict):
        for raw_student, gvalue in inline.items():
            gpath: Path_ = (*base, "grades", raw_student)
            kpos = ctx.key_pos(gpath)
            student = refs.get(raw_student)
            if student is None:
                try:
                    student = parse_student_ref(str(raw_student))
                except RefError as exc:
                    ctx.report(kpos, (*base, "grades"), str(exc), exc.hint, rule="student-ref")
                    continue
                refs[raw_student] = student  # one reference per student, shared by its grades
            ident = student_identity(student)
            if ident in seen:
                ctx.report(
                    kpos,
                    gpath,
                    f"student {student.raw!r} is already graded at line {seen[ident].line}",
                    "keep one entry per student",
                    rule="duplicate-student",
                )
                continue
            seen[ident] = kpos
            if not isinstance(gvalue, dict):
                continue  # reported by the schema pass
            grade = _inline_grade(ctx, gpath, student, gvalue, kpos)
            if grade is not None:
                grades.append(grade)
    grades_file = value.get("grades_file")
    if isinstance(grades_file, str) and grades_file:
        for row in _gradebook(ctx, (*base, "grades_file"), grades_file):
            ident = student_identity(row.student)
            if ident in seen:
                other = seen[ident]
                ctx.diags.append(
                    Diagnostic.at(
                        row.pos,
                        f"student {row.student.raw!r} is graded both here and in grades: "
                        f"at {other.file}:{other.line}",
                        "keep the student in one place only",
                        rule="duplicate-student",
                    )
                )
                continue
            seen[ident] = row.pos
            if not row.fields:
                continue  # every cell empty: nothing of this grade is managed
            grades.append(
                GradeSpec(
                    student=row.student,
                    fields=row.fields,
                    pos=row.pos,
                    field_pos=row.field_pos,
                    source=GradeSource.CSV,
                )
            )
    for grade in grades:
        _check_grade(ctx, base, grade, afields, afield_pos)
    return grades, manages


def _inline_grade(
    ctx: SectionFile, gpath: Path_, student: StudentRef, gvalue: dict[str, Any], kpos: SourcePos
) -> GradeSpec | None:
    fields: dict[str, Any] = {}
    field_pos: dict[str, SourcePos] = {}
    bad = ctx.bad
    for name in GRADE_FIELDS:
        if name not in gvalue:
            continue
        raw = gvalue[name]
        path = (*gpath, name)
        if bad and path in bad:
            continue  # the schema pass reported it
        pos = ctx.pos(path)
        kind = _GRADE_KINDS[name]
        if raw is None:
            fields[name] = None  # cleared in the LMS (the schema allows null where the API does)
        elif kind is Kind.DATETIME:
            date = read_date(ctx, pos, path, raw)
            if date is None:
                continue
            fields[name] = date
        elif kind is Kind.SET:
            fields[name] = tuple(raw)
        else:
            fields[name] = raw
        field_pos[name] = pos
    return GradeSpec(student=student, fields=fields, pos=kpos, field_pos=field_pos)


def _check_grade(
    ctx: SectionFile,
    base: Path_,
    grade: GradeSpec,
    afields: dict[str, Any],
    afield_pos: dict[str, SourcePos],
) -> None:
    where: Path_ = (*base, "grades", grade.student.raw)
    fields = grade.fields
    points = fields.get("grade_points")
    possible = afields.get("points_possible")
    if isinstance(points, int | float) and isinstance(possible, int | float) and points > possible:
        ctx.report(
            grade.field_pos.get("grade_points", grade.pos),
            where,
            f"grade_points {points} is above points_possible {possible}",
            "fine for extra credit; otherwise fix the grade",
            rule="extra-credit",
            severity=Severity.WARNING,
        )
    state = fields.get("state")
    if state in STUDENT_STATES:
        ctx.report(
            grade.field_pos.get("state", grade.pos),
            where,
            f"state {state!r} is a student action",
            "a teacher sets state: returned to release a grade",
            rule="grade-state",
            severity=Severity.WARNING,
        )
    assignees = afields.get("assignee_ids")
    if (
        afields.get("assignee_mode") == "individuals"
        and assignees
        and grade.student.is_id
        and grade.student.value not in assignees
    ):
        ctx.report(
            grade.pos,
            where,
            "student is not in this assignment's assignee_ids",
            "add the student to assignee_ids, or remove the grade",
            rule="grade-assignee",
        )


def _gradebook(ctx: SectionFile, path: Path_, relative: str) -> list[CsvGrade]:
    pos = ctx.pos(path)
    target = (ctx.path.parent / relative).resolve()
    if not is_inside(target, ctx.root):
        ctx.report(
            pos,
            path,
            f"{relative!r} is outside the root folder",
            "keep gradebooks inside the coursework folder",
            rule="grades-file",
        )
        return []
    if not target.exists():
        ctx.report(
            pos,
            path,
            f"{relative!r} does not exist",
            f"the path is relative to this file; looked for {display_path(target, ctx.cwd)}",
            rule="grades-file",
        )
        return []
    if not target.is_file():
        ctx.report(pos, path, f"{relative!r} is not a file", "name a CSV file", rule="grades-file")
        return []
    rows, diags = read_gradebook(
        target, display_path(target, ctx.cwd), timezone=ctx.config.timezone
    )
    ctx.diags.extend(diags)
    return rows
