"""Section files -> the DesiredState model, with every check that can be made offline.

For each section file: load (``loader``), schema pass (``schema``), then the semantic pass here:
defaults merged, dates normalised, student references parsed, date order, assignees,
``moved_from`` and cross-file section ids checked; each assignment's grades (inline and CSV
gradebooks, points, states) are resolved by ``grades``. Problems are collected as Diagnostics
(in a ``sectionfile.SectionFile``), never raised, so one run reports all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lmsctl.addresses import ASSIGNMENT_KEY_RE, SECTION_ID_RE
from lmsctl.errors import Diagnostic, Severity
from lmsctl.fields import ASSIGNMENT_RULES, REQUIRED_ON_CREATE, Kind
from lmsctl.heap import collector_paused
from lmsctl.manifest.config import (
    CONFIG_FILE,
    display_path,
    is_inside,
    outside_root_link,
    read_config,
)
from lmsctl.manifest.grades import resolve_grades
from lmsctl.manifest.loader import load_yaml_file
from lmsctl.manifest.refs import RefError, parse_student_ref, student_identity
from lmsctl.manifest.schema import (
    SECTION_SCHEMA,
    did_you_mean,
    schema_check,
)
from lmsctl.manifest.sectionfile import SectionFile, read_date
from lmsctl.manifest.yamldoc import Path_
from lmsctl.model import (
    ASSIGNMENT_FIELDS,
    ASSIGNMENT_OWN_FIELDS,
    AssignmentSpec,
    DesiredState,
    RefKind,
    SectionSpec,
    SourcePos,
    StudentRef,
)

MANIFEST_SUFFIXES = (".yaml", ".yml")


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


def load_desired(root: Path, *, cwd: Path | None = None) -> tuple[DesiredState, list[Diagnostic]]:
    """Load ``root``'s lmsctl.yaml and every section file; validate everything.

    Returns the model (sections whose id is usable, even when they have errors) and every
    diagnostic found, errors and warnings, sorted by file, line and column.
    """
    with collector_paused():
        return _load_desired(root, cwd)


def _load_desired(root: Path, cwd: Path | None) -> tuple[DesiredState, list[Diagnostic]]:
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
        ctx = SectionFile(doc=doc, path=path, config=config, root=root_real, cwd=cwd)
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


def _section(ctx: SectionFile) -> SectionSpec | None:
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


def _check_moves(ctx: SectionFile, assignments: dict[str, Any]) -> None:
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
    ctx: SectionFile, section_id: str, key: str, value: dict[str, Any], defaults: dict[str, Any]
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
        if name == "assignee_ids":
            continue  # student references: read by _assignees
        pos = ctx.pos(path)
        kind = ASSIGNMENT_RULES[name].kind
        if kind is Kind.DATETIME:
            date = read_date(ctx, pos, path, raw)
            if date is None:
                continue
            fields[name] = date
            dates_written[name] = str(raw).strip()
        elif kind is Kind.SET:
            fields[name] = tuple(raw)
        elif kind is Kind.ATTACHMENTS:
            fields[name] = tuple(dict(item) for item in raw)
        else:
            fields[name] = raw
        field_pos[name] = pos
    refs = _assignees(ctx, base, value, defaults, fields, field_pos)
    unknown = [
        str(k) for k in value if k not in ASSIGNMENT_FIELDS and k not in ASSIGNMENT_OWN_FIELDS
    ]
    for name in REQUIRED_ON_CREATE:
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
    grades, manages = resolve_grades(ctx, section_id, key, value, fields, field_pos)
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
    ctx: SectionFile,
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
    seen: set[tuple[RefKind, str]] = set()
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


def _check_dates(
    ctx: SectionFile,
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
    ctx: SectionFile,
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
