"""The grades of one assignment: the inline ``grades:`` mapping and the ``grades_file`` CSV
gradebook, merged, with the checks that need the assignment (points, state, assignees)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from itertools import repeat
from operator import itemgetter
from typing import Any

from lmsctl.errors import Diagnostic, Severity
from lmsctl.fields import GRADE_RULES, Kind
from lmsctl.manifest.config import display_path, is_inside
from lmsctl.manifest.csvgrades import CsvGrade, read_gradebook
from lmsctl.manifest.refs import RefError, parse_student_ref, student_identity
from lmsctl.manifest.sectionfile import SectionFile, read_date
from lmsctl.manifest.yamldoc import Path_, Run
from lmsctl.model import (
    GRADE_FIELDS,
    GradeSource,
    GradeSpec,
    SourcePos,
    StudentRef,
)

#: Submission states a student (not a teacher) puts a submission in.
STUDENT_STATES = ("submitted", "reclaimed")

_GRADE_KINDS = {name: rule.kind for name, rule in GRADE_RULES.items()}
_GRADE_ORDER = {name: index for index, name in enumerate(GRADE_FIELDS)}
#: the grade fields whose value is kept as written (not a date, not a list), in table order
_AS_WRITTEN = {
    name: index
    for name, index in _GRADE_ORDER.items()
    if _GRADE_KINDS[name] not in (Kind.DATETIME, Kind.SET)
}
#: (a tuple: isinstance tests one a third faster than with ``int | float``, once per grade)
_NUMBERS = (int, float)
#: SourcePos made without the named tuple's own (Python) __new__: one per grade and field
_new = tuple.__new__


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
    seen: dict[str, SourcePos] = {}  # by _identity_key
    inline = value.get("grades")
    if isinstance(inline, dict):
        _inline_grades(ctx, base, inline, seen, grades)
    grades_file = value.get("grades_file")
    if isinstance(grades_file, str) and grades_file:
        for row in _gradebook(ctx, (*base, "grades_file"), grades_file):
            ident = _identity_key(row.student)
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
    _check_grades(ctx, base, grades, afields)
    return grades, manages


def _identity_key(student: StudentRef) -> str:
    """student_identity as one string: what tells two references to the same student apart
    offline, and a dict key that keeps its hash (a district checks one per grade)."""
    kind, value = student_identity(student)
    return f"{kind.value}\x00{value}"


def _inline_grades(
    ctx: SectionFile,
    base: Path_,
    inline: dict[str, Any],
    seen: dict[str, SourcePos],
    grades: list[GradeSpec],
) -> None:
    """The ``grades:`` mapping: one GradeSpec per student (a district has thousands)."""
    students, bad, new, as_written = ctx.students, ctx.bad, _new, _AS_WRITTEN
    file = ctx.doc.file
    gbase: Path_ = (*base, "grades")
    entries = iter(inline.items())
    run = ctx.doc.run_at(gbase) if not bad else None
    if run is not None and run[0] is inline:
        if not _run_grades_at_once(ctx, run, seen, grades):
            _run_grades(ctx, gbase, run, entries, seen, grades)  # (takes the run's entries)
        elif run[4] != len(inline):
            for _ in itertools.islice(entries, run[4]):
                pass  # (taken)
        if run[4] == len(inline):
            return  # (the usual case: no position of the run was ever placed in a map)
    key_positions, positions = ctx.doc.key_positions, ctx.doc.positions
    for raw_student, gvalue in entries:
        gpath: Path_ = gbase + (raw_student,)  # noqa: RUF005 (faster: once per grade)
        found = key_positions.get(gpath)
        kpos = new(SourcePos, (file, found[0], found[1])) if found else ctx.key_pos(gpath)
        known = students.get(raw_student) or _new_student(ctx, gbase, raw_student, kpos)
        if known is None:
            continue
        student, ident = known
        if ident in seen:
            _graded_twice(ctx, gpath, student, kpos, seen[ident])
            continue
        seen[ident] = kpos
        if not isinstance(gvalue, dict):
            continue  # reported by the schema pass
        if not bad:
            # the usual grade: only fields kept as written (no date, list or null), in the
            # field table's order; its mapping is then its fields, as they are
            field_pos: dict[str, SourcePos] = {}
            last = -1
            for name, raw in gvalue.items():
                order = as_written.get(name)
                found = positions.get(gpath + (name,))  # noqa: RUF005 (once per grade field)
                if order is None or order < last or raw is None or found is None:
                    break
                last = order
                field_pos[name] = new(SourcePos, (file, found[0], found[1]))
            else:
                grades.append(GradeSpec(student, gvalue, kpos, field_pos))
                continue
        grades.append(_inline_grade(ctx, gpath, student, gvalue, kpos))


def _run_grades_at_once(
    ctx: SectionFile, run: Run, seen: dict[str, SourcePos], grades: list[GradeSpec]
) -> bool:
    """The usual run, all its grades made at once: every entry has the same field, kept as
    written and not null (``Run``'s ``same_name``), every student is one already read, once
    each, and none graded before. False (nothing done) when the run is not such a run."""
    mapping, line, key_col, name_col, count, name = run
    students = ctx.students
    if not name or name not in _AS_WRITTEN or seen:
        return False
    keys = list(itertools.islice(mapping, count))
    if not all(map(students.__contains__, keys)):
        return False  # (a student read for the first time: the general path reads it)
    known = list(map(students.__getitem__, keys))
    idents = list(map(itemgetter(1), known))
    if len(set(idents)) != count:
        return False  # a student graded twice: the general path reports it
    file, end = ctx.doc.file, line + 2 * count
    key_pos = list(
        map(_new, repeat(SourcePos), zip(repeat(file), range(line, end, 2), repeat(key_col)))
    )
    # (the value is one space after the name's ':', on the line after the key's)
    value_col = name_col + len(name) + 2
    value_pos = map(
        _new, repeat(SourcePos), zip(repeat(file), range(line + 1, end, 2), repeat(value_col))
    )
    seen.update(zip(idents, key_pos, strict=True))
    grades.extend(
        map(
            GradeSpec,
            map(itemgetter(0), known),
            itertools.islice(mapping.values(), count),
            key_pos,
            [{name: pos} for pos in value_pos],
        )
    )
    return True


def _run_grades(
    ctx: SectionFile,
    gbase: Path_,
    run: Run,
    entries: Iterator[tuple[str, Any]],
    seen: dict[str, SourcePos],
    grades: list[GradeSpec],
) -> None:
    """The grades the reader read as a run (lmsctl.manifest.yamldoc.Run): the first ones of
    ``entries``, each a mapping of one field, their positions computed from the run's."""
    students, new, as_written, file = ctx.students, _new, _AS_WRITTEN, ctx.doc.file
    _, line, key_col, name_col, count, _ = run
    for raw_student, gvalue in itertools.islice(entries, count):
        kpos = new(SourcePos, (file, line, key_col))
        line += 2
        known = students.get(raw_student) or _new_student(ctx, gbase, raw_student, kpos)
        if known is None:
            continue
        student, ident = known
        if ident in seen:
            _graded_twice(ctx, (*gbase, raw_student), student, kpos, seen[ident])
            continue
        seen[ident] = kpos
        ((name, raw),) = gvalue.items()
        if name in as_written and raw is not None:
            # (the value is one space after the name's ':', on the line after the key's)
            vpos = new(SourcePos, (file, line - 1, name_col + len(name) + 2))
            grades.append(GradeSpec(student, gvalue, kpos, {name: vpos}))
        else:
            grades.append(_inline_grade(ctx, (*gbase, raw_student), student, gvalue, kpos))


def _new_student(
    ctx: SectionFile, gbase: Path_, raw_student: str, kpos: SourcePos
) -> tuple[StudentRef, str] | None:
    """A student key read for the first time: its reference and identity, remembered (one
    reference per student, shared by its grades); None after reporting a bad reference."""
    try:
        student = parse_student_ref(str(raw_student))
    except RefError as exc:
        ctx.report(kpos, gbase, str(exc), exc.hint, rule="student-ref")
        return None
    known = ctx.students[raw_student] = (student, _identity_key(student))
    return known


def _graded_twice(
    ctx: SectionFile, gpath: Path_, student: StudentRef, kpos: SourcePos, first: SourcePos
) -> None:
    ctx.report(
        kpos,
        gpath,
        f"student {student.raw!r} is already graded at line {first.line}",
        "keep one entry per student",
        rule="duplicate-student",
    )


def _inline_grade(
    ctx: SectionFile, gpath: Path_, student: StudentRef, gvalue: dict[str, Any], kpos: SourcePos
) -> GradeSpec:
    fields: dict[str, Any] = {}
    field_pos: dict[str, SourcePos] = {}
    bad = ctx.bad
    file, positions = ctx.doc.file, ctx.doc.positions
    names = [name for name in gvalue if name in _GRADE_KINDS]
    if len(names) > 1:
        names.sort(key=_GRADE_ORDER.__getitem__)  # the field table's order, as always
    for name in names:
        raw = gvalue[name]
        path = (*gpath, name)
        if bad and path in bad:
            continue  # the schema pass reported it
        found = positions.get(path)
        pos = _new(SourcePos, (file, found[0], found[1])) if found is not None else ctx.pos(path)
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
    return GradeSpec(student, fields, kpos, field_pos)


def _check_grades(
    ctx: SectionFile, base: Path_, grades: list[GradeSpec], afields: dict[str, Any]
) -> None:
    """Each grade against its assignment: points above the possible, a student's state, a
    student not among the assignees. (Each check finds its grades in one pass over them all:
    a district has thousands, nearly all of them fine.)"""
    possible = afields.get("points_possible")
    if isinstance(possible, int | float):
        above = [
            (grade, points)
            for grade in grades
            if isinstance(points := grade.fields.get("grade_points"), _NUMBERS)
            and points > possible
        ]
        for grade, points in above:
            ctx.report(
                grade.field_pos.get("grade_points", grade.pos),
                (*base, "grades", grade.student.raw),
                f"grade_points {points} is above points_possible {possible}",
                "fine for extra credit; otherwise fix the grade",
                rule="extra-credit",
                severity=Severity.WARNING,
            )
    for grade, state in [
        (grade, state) for grade in grades if (state := grade.fields.get("state")) in STUDENT_STATES
    ]:
        ctx.report(
            grade.field_pos.get("state", grade.pos),
            (*base, "grades", grade.student.raw),
            f"state {state!r} is a student action",
            "a teacher sets state: returned to release a grade",
            rule="grade-state",
            severity=Severity.WARNING,
        )
    assignees: Any = afields.get("assignee_ids")
    if afields.get("assignee_mode") != "individuals" or not assignees:
        return
    for grade in grades:
        student = grade.student
        if student.is_id and student.value not in assignees:
            ctx.report(
                grade.pos,
                (*base, "grades", student.raw),
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
