"""Section files -> the DesiredState model, with every check that can be made offline.

For each section file: load (``loader``), schema pass (``schema``), then the semantic pass here:
defaults merged, dates normalised, student references parsed, CSV gradebooks merged, date
order, assignees, points, ``moved_from`` and cross-file section ids checked. Problems are
collected as Diagnostics, never raised, so one run reports all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsctl.addresses import ASSIGNMENT_KEY_RE, SECTION_ID_RE
from lmsctl.errors import Diagnostic, Severity
from lmsctl.manifest.config import (
    CONFIG_FILE,
    display_path,
    is_inside,
    outside_root_link,
    read_config,
)
from lmsctl.manifest.csvgrades import CsvGrade, read_gradebook
from lmsctl.manifest.loader import Path_, YamlDocument, load_yaml_file, where_label
from lmsctl.manifest.refs import RefError, normalize_date, parse_student_ref, student_identity
from lmsctl.manifest.schema import (
    SECTION_SCHEMA,
    did_you_mean,
    schema_check,
)
from lmsctl.model import (
    ASSIGNMENT_DATE_FIELDS,
    ASSIGNMENT_FIELDS,
    ASSIGNMENT_OWN_FIELDS,
    GRADE_DATE_FIELDS,
    GRADE_FIELDS,
    AssignmentSpec,
    DesiredState,
    GradeSpec,
    ProjectConfig,
    SectionSpec,
    SourcePos,
    StudentRef,
)

MANIFEST_SUFFIXES = (".yaml", ".yml")
#: Fields an assignment needs before the API will create it.
CREATE_REQUIRED = ("title", "description", "due_date")
#: Submission states a student (not a teacher) puts a submission in.
STUDENT_STATES = ("submitted", "reclaimed")


def discover_manifests(root: Path) -> list[Path]:
    """Section files under ``root``: ``*.yaml``/``*.yml`` at any depth, sorted.

    Skips ``lmsctl.yaml`` at the root, hidden files and folders (``.lmsctl/``, ``.git/``, ...).
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(MANIFEST_SUFFIXES):
                continue
            if here == root and name == CONFIG_FILE:
                continue
            found.append(here / name)
    return sorted(found)


@dataclass
class _File:
    """The section file being resolved: where diagnostics go, and position helpers."""

    doc: YamlDocument
    path: Path
    config: ProjectConfig
    root: Path
    cwd: Path
    diags: list[Diagnostic] = field(default_factory=list)
    #: paths that failed the schema (and their ancestors): their values are not used
    bad: set[Path_] = field(default_factory=set)

    def pos(self, path: Path_) -> SourcePos:
        return self.doc.source_pos(path)

    def key_pos(self, path: Path_) -> SourcePos:
        return self.doc.key_source_pos(path)

    def report(
        self,
        pos: SourcePos,
        where: Path_,
        message: str,
        hint: str = "",
        *,
        rule: str,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.diags.append(
            Diagnostic.at(
                pos, message, hint, severity=severity, where=where_label(where), rule=rule
            )
        )


def load_desired(root: Path, *, cwd: Path | None = None) -> tuple[DesiredState, list[Diagnostic]]:
    """Load ``root``'s lmsctl.yaml and every section file; validate everything.

    Returns the model (sections whose id is usable, even when they have errors) and every
    diagnostic found, errors and warnings, sorted by file, line and column.
    """
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    root_abs = Path(os.path.abspath(root))  # links kept, so paths read as the user wrote them
    root_real = root_abs.resolve()  # links followed, for the 'inside the root' checks
    config, diags = read_config(root_abs, cwd=cwd)
    if not root_abs.is_dir():
        diags.append(
            Diagnostic.at(
                SourcePos(display_path(root_abs, cwd), 1, 1),
                "is a file, not a folder" if root_abs.exists() else "no such folder",
                "give the folder that holds lmsctl.yaml and the section files",
                rule="root",
            )
        )
        return DesiredState(root=root_abs, config=config), _sorted(diags)
    files = discover_manifests(root_abs)
    sections: list[SectionSpec] = []
    for path in files:
        display = display_path(path, cwd)
        if not is_inside(path.resolve(), root_real):
            diags.append(outside_root_link(display))
            continue
        if path.name in (CONFIG_FILE, "lmsctl.yml"):
            # not a section file: a misnamed settings file, or another project's inside this one
            nested = path.parent != root_abs
            diags.append(
                Diagnostic.at(
                    SourcePos(display, 1, 1),
                    "is project settings inside another project's folder"
                    if nested
                    else "is not read as project settings: the file must be named lmsctl.yaml",
                    f"give {display_path(path.parent, cwd)} as the root folder"
                    if nested
                    else "rename it to lmsctl.yaml",
                    rule="config-name",
                )
            )
            continue
        doc = load_yaml_file(path, display, on_diagnostic=diags.append)
        if doc is None:
            continue
        ctx = _File(doc=doc, path=path, config=config, root=root_real, cwd=cwd)
        section = _section(ctx)
        diags.extend(ctx.diags)
        if section is not None:
            sections.append(section)
    diags.extend(_duplicate_sections(sections))
    if not files:
        diags.append(
            Diagnostic.at(
                SourcePos(display_path(root_abs, cwd), 1, 1),
                "no section files (*.yaml, *.yml) found",
                "add one file per class section with 'section:' and 'assignments:'",
                severity=Severity.WARNING,
                rule="empty-root",
            )
        )
    return DesiredState(root=root_abs, config=config, sections=tuple(sections)), _sorted(diags)


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    unique: dict[tuple[str, int, int, str, str], Diagnostic] = {}
    for d in diags:
        unique.setdefault((d.file, d.line, d.col, d.where, d.message), d)
    return sorted(unique.values(), key=lambda d: (d.file, d.line, d.col, d.where, d.message))


def _duplicate_sections(sections: list[SectionSpec]) -> Iterator[Diagnostic]:
    by_id: dict[str, list[SectionSpec]] = {}
    for s in sections:
        by_id.setdefault(s.section_id, []).append(s)
    for section_id, group in by_id.items():
        if len(group) < 2:
            continue
        for s in group:
            others = ", ".join(f"{o.pos.file}:{o.pos.line}" for o in group if o is not s)
            yield Diagnostic.at(
                s.pos,
                f"section {section_id} is also declared in {others}",
                "keep one file per section: merge them, or fix the id",
                where="section:",
                rule="duplicate-section",
            )


def _section(ctx: _File) -> SectionSpec | None:
    data = ctx.doc.data
    if data is None:
        ctx.report(
            ctx.pos(()),
            (),
            "file is empty",
            "write 'section: <id>' and 'assignments:', or delete the file",
            rule="section-shape",
        )
        return None
    if not isinstance(data, dict):
        ctx.report(
            ctx.pos(()),
            (),
            "a section file must be a mapping with 'section:' and 'assignments:'",
            "start the file with 'section: <24-hex id>'",
            rule="section-shape",
        )
        return None
    schema_diags, ctx.bad = schema_check(ctx.doc, SECTION_SCHEMA)
    ctx.diags.extend(schema_diags)
    raw_id = data.get("section")
    section_id = raw_id if isinstance(raw_id, str) and SECTION_ID_RE.match(raw_id) else None
    name = data.get("name") if isinstance(data.get("name"), str) else None
    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    assignments = data.get("assignments") if isinstance(data.get("assignments"), dict) else {}
    assert isinstance(defaults, dict) and isinstance(assignments, dict)
    specs: list[AssignmentSpec] = []
    for key, value in assignments.items():
        if not isinstance(value, dict) or not ASSIGNMENT_KEY_RE.match(str(key)):
            continue  # the schema pass reported it
        spec = _assignment(ctx, section_id or "", str(key), value, defaults)
        specs.append(spec)
    _check_moves(ctx, assignments)
    if section_id is None:
        return None
    return SectionSpec(
        section_id=section_id,
        name=name,
        file=ctx.doc.file,
        pos=ctx.pos(("section",)),
        assignments=tuple(specs),
    )


def _check_moves(ctx: _File, assignments: dict[str, Any]) -> None:
    first_claim: dict[str, str] = {}
    for key, value in assignments.items():
        if not isinstance(value, dict):
            continue
        old = value.get("moved_from")
        if not isinstance(old, str) or not ASSIGNMENT_KEY_RE.match(old):
            continue
        path: Path_ = ("assignments", key, "moved_from")
        pos = ctx.pos(path)
        if old == key:
            ctx.report(
                pos,
                path,
                f"moved_from {old!r} is this assignment's own key",
                "remove moved_from",
                rule="moved-from",
            )
        elif old in assignments:
            line = ctx.key_pos(("assignments", old)).line
            ctx.report(
                pos,
                path,
                f"moved_from {old!r} collides with the assignment {old!r} at line {line}",
                "the old key must no longer exist: remove that assignment or this moved_from",
                rule="moved-from",
            )
        elif old in first_claim:
            ctx.report(
                pos,
                path,
                f"moved_from {old!r} is also claimed by {first_claim[old]!r}",
                "only one assignment can take over an old key",
                rule="moved-from",
            )
        else:
            first_claim[old] = key


def _assignment(
    ctx: _File, section_id: str, key: str, value: dict[str, Any], defaults: dict[str, Any]
) -> AssignmentSpec:
    base: Path_ = ("assignments", key)
    fields: dict[str, Any] = {}
    field_pos: dict[str, SourcePos] = {}
    written: set[str] = set()
    dates_written: dict[str, str] = {}
    for name in ASSIGNMENT_FIELDS:
        if name in value:
            raw, path = value[name], (*base, name)
        elif name in defaults:
            raw, path = defaults[name], ("defaults", name)
        else:
            continue
        written.add(name)
        if path in ctx.bad:
            continue  # the schema pass reported it
        pos = ctx.pos(path)
        if name in ASSIGNMENT_DATE_FIELDS:
            date = _date(ctx, pos, path, raw)
            if date is None:
                continue
            fields[name] = date
            dates_written[name] = str(raw).strip()
        elif name in ("submission_types",):
            fields[name] = tuple(raw)
        elif name == "attachments":
            fields[name] = tuple(dict(item) for item in raw)
        elif name == "assignee_ids":
            continue  # below
        else:
            fields[name] = raw
        field_pos[name] = pos
    refs = _assignees(ctx, base, value, defaults, fields, field_pos)
    unknown = [
        str(k) for k in value if k not in ASSIGNMENT_FIELDS and k not in ASSIGNMENT_OWN_FIELDS
    ]
    for name in CREATE_REQUIRED:
        if name not in written and not did_you_mean(name, unknown):
            # (a near-miss field name such as 'titel' is reported by the schema pass instead)
            # a warning, not an error: only fields written are managed, and an assignment
            # that already exists (imported, or created before) may leave one out; plan makes
            # it an error when the assignment has to be created
            ctx.report(
                ctx.key_pos(base),
                base,
                f"missing {name!r}",
                "the API needs title, description and due_date to create an assignment; "
                "write it here or in defaults",
                rule="create-required",
                severity=Severity.WARNING,
            )
    _check_dates(ctx, base, fields, field_pos, dates_written)
    _check_assignee_mode(ctx, base, fields, field_pos, written, refs)
    grades, manages = _grades(ctx, section_id, key, value, fields, field_pos)
    protect = value.get("protect", defaults.get("protect", False))
    moved_from = value.get("moved_from")
    return AssignmentSpec(
        section_id=section_id,
        key=key,
        fields=fields,
        pos=ctx.key_pos(base),
        field_pos=field_pos,
        grades=tuple(grades),
        assignee_refs=tuple(refs),
        moved_from=moved_from if isinstance(moved_from, str) else None,
        protect=protect is True,
        manages_grades=manages,
    )


def _assignees(
    ctx: _File,
    base: Path_,
    value: dict[str, Any],
    defaults: dict[str, Any],
    fields: dict[str, Any],
    field_pos: dict[str, SourcePos],
) -> list[StudentRef]:
    if "assignee_ids" in value:
        raw, path = value["assignee_ids"], (*base, "assignee_ids")
    elif "assignee_ids" in defaults:
        raw, path = defaults["assignee_ids"], ("defaults", "assignee_ids")
    else:
        return []
    if not isinstance(raw, list):
        return []
    refs: list[StudentRef] = []
    seen: set[tuple[str, str]] = set()
    ok = True
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            ok = False
            continue
        try:
            ref = parse_student_ref(item)
        except RefError as exc:
            ctx.report(
                ctx.pos((*path, index)), (*path, index), str(exc), exc.hint, rule="student-ref"
            )
            ok = False
            continue
        if student_identity(ref) in seen:
            continue  # uniqueItems reported exact repeats
        seen.add(student_identity(ref))
        refs.append(ref)
    field_pos["assignee_ids"] = ctx.pos(path)
    if ok and refs and all(r.is_id for r in refs):
        fields["assignee_ids"] = tuple(r.value for r in refs)
    return refs


def _date(ctx: _File, pos: SourcePos, path: Path_, raw: Any) -> str | None:
    """A date field in Clever's UTC form, or None after reporting why it cannot be read."""
    try:
        return normalize_date(raw, ctx.config.timezone)
    except ValueError as exc:
        ctx.report(
            pos, path, str(exc), "write 2027-01-15 or 2027-01-15T15:00:00-06:00", rule="date"
        )
        return None


def _check_dates(
    ctx: _File,
    base: Path_,
    fields: dict[str, Any],
    field_pos: dict[str, SourcePos],
    written: dict[str, str],
) -> None:
    """display_date/start_date not after due_date; due_date not after end_date."""
    due = fields.get("due_date")
    if due is None:
        return
    for name in ("display_date", "start_date"):
        other = fields.get(name)
        if other is not None and other > due:
            ctx.report(
                field_pos[name],
                (*base, name),
                f"{written[name]} is after due_date {written['due_date']}",
                f"set {name} on or before the due date",
                rule="date-order",
            )
    end = fields.get("end_date")
    if end is not None and due > end:
        ctx.report(
            field_pos["due_date"],
            (*base, "due_date"),
            f"{written['due_date']} is after end_date {written['end_date']}",
            "set end_date on or after the due date",
            rule="date-order",
        )


def _check_assignee_mode(
    ctx: _File,
    base: Path_,
    fields: dict[str, Any],
    field_pos: dict[str, SourcePos],
    written: set[str],
    refs: list[StudentRef],
) -> None:
    mode = fields.get("assignee_mode")
    if mode == "individuals" and "assignee_ids" not in written:
        ctx.report(
            field_pos["assignee_mode"],
            (*base, "assignee_mode"),
            "is individuals but assignee_ids is missing",
            "list the students in assignee_ids, or use assignee_mode: all",
            rule="assignees",
        )
    elif mode == "individuals" and "assignee_ids" in field_pos and not refs:
        ctx.report(
            field_pos["assignee_ids"],
            (*base, "assignee_ids"),
            "is empty but assignee_mode is individuals",
            "list at least one student, or use assignee_mode: all",
            rule="assignees",
        )
    if "assignee_ids" in written and mode != "individuals" and "assignee_ids" in field_pos:
        ctx.report(
            field_pos["assignee_ids"],
            (*base, "assignee_ids"),
            "is ignored unless assignee_mode is individuals",
            "add assignee_mode: individuals, or remove assignee_ids",
            rule="assignees",
            severity=Severity.WARNING,
        )


def _grades(
    ctx: _File,
    section_id: str,
    key: str,
    value: dict[str, Any],
    afields: dict[str, Any],
    afield_pos: dict[str, SourcePos],
) -> tuple[list[GradeSpec], bool]:
    base: Path_ = ("assignments", key)
    manages = "grades" in value or "grades_file" in value
    grades: list[GradeSpec] = []
    seen: dict[tuple[str, str], SourcePos] = {}
    inline = value.get("grades")
    if isinstance(inline, dict):
        for raw_student, gvalue in inline.items():
            gpath: Path_ = (*base, "grades", raw_student)
            kpos = ctx.key_pos(gpath)
            try:
                student = parse_student_ref(str(raw_student))
            except RefError as exc:
                ctx.report(kpos, (*base, "grades"), str(exc), exc.hint, rule="student-ref")
                continue
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
                    source="csv",
                )
            )
    for grade in grades:
        _check_grade(ctx, base, grade, afields, afield_pos)
    return grades, manages


def _inline_grade(
    ctx: _File, gpath: Path_, student: StudentRef, gvalue: dict[str, Any], kpos: SourcePos
) -> GradeSpec | None:
    fields: dict[str, Any] = {}
    field_pos: dict[str, SourcePos] = {}
    for name in GRADE_FIELDS:
        if name not in gvalue:
            continue
        raw = gvalue[name]
        path = (*gpath, name)
        if path in ctx.bad:
            continue  # the schema pass reported it
        pos = ctx.pos(path)
        if raw is None:
            fields[name] = None  # cleared in the LMS (the schema allows null where the API does)
        elif name in GRADE_DATE_FIELDS:
            date = _date(ctx, pos, path, raw)
            if date is None:
                continue
            fields[name] = date
        elif name == "flags":
            fields[name] = tuple(raw)
        else:
            fields[name] = raw
        field_pos[name] = pos
    return GradeSpec(student=student, fields=fields, pos=kpos, field_pos=field_pos)


def _check_grade(
    ctx: _File,
    base: Path_,
    grade: GradeSpec,
    afields: dict[str, Any],
    afield_pos: dict[str, SourcePos],
) -> None:
    where: Path_ = (*base, "grades", grade.student.raw)
    points = grade.fields.get("grade_points")
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
    state = grade.fields.get("state")
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


def _gradebook(ctx: _File, path: Path_, relative: str) -> list[CsvGrade]:
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
