"""``lmsctl init``: a new coursework repository from the district's roster.

Reads the token's district (``lms_type``, ``lms_state``), the sections it sees (Data API, paged
with ``limit`` up to 10,000) and each chosen section's students, then lays out:

- ``lmsctl.yaml`` (API URL, district id, time zone) with a schema modeline;
- ``schemas/`` with the installed lmsctl's JSON Schemas, where the modelines point;
- ``sections/<name>.yaml``: one file per section with its id, a friendly name, no assignments
  yet, and its students as comments (sis id, name, Clever id), so ``sis:`` references need no
  lookup.

Existing files are never overwritten: every target is checked before anything is written, and
a failure while writing removes what this run wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lmsctl.addresses import OBJECT_ID_RE
from lmsctl.errors import ApiError, ConfigError, UsageError
from lmsctl.manifest.config import CONFIG_FILE, display_path
from lmsctl.roster import display_name
from lmsctl.schema_files import (
    CONFIG_SCHEMA,
    DEFAULT_SCHEMA_DIR,
    EXPORTED_SCHEMAS,
    SECTION_SCHEMA,
    exported_text,
    modeline,
    write_atomically,
)

#: Data API page size for the listings (Clever's maximum)
LISTING_LIMIT = 10000

#: what each ``lms_state`` other than ``success`` means, and what to do (README, "Using it
#: with a real district")
_WAIT = "Clever is still matching LMS users to Clever users: wait, then run plan again"
_SETUP = (
    "LMS Connect was never authorised for this district: the district's Clever admin "
    "completes the LMS Connect setup"
)
_RECONNECT = (
    "the LMS connection broke (an expired LMS admin token, say): the district's Clever "
    "admin reconnects the LMS in the Clever dashboard"
)
LMS_STATE_ADVICE = {
    "matching_in_progress": _WAIT,
    "initial_sync_processing": _WAIT,
    "pending_authorization": _SETUP,
    "": _SETUP,
    "disconnected": _RECONNECT,
    "error": _RECONNECT,
}


def lms_state_advice(state: str) -> str | None:
    """What a district's ``lms_state`` means and what to do; None when it is ``success``."""
    if state == "success":
        return None
    return LMS_STATE_ADVICE.get(
        state,
        "a state lmsctl does not know: ask the district's Clever admin to check LMS Connect "
        "in the Clever dashboard",
    )


SECTIONS_DIR = "sections"
#: sections whose students are read at the same time
ROSTER_CONCURRENCY = 8


class RosterReader(Protocol):
    """The Data API calls init makes (LmsClient has them)."""

    async def get_my_district(self) -> dict[str, Any]: ...
    async def list_sections(self, limit: int = ...) -> list[dict[str, Any]]: ...
    async def list_users(self, role: str, limit: int = ...) -> list[dict[str, Any]]: ...
    async def list_section_users(
        self, section_id: str, role: str = ..., limit: int = ...
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class InitFilters:
    """Which sections to write (each kind: any of; kinds together: all of). Empty = all."""

    teachers: tuple[str, ...] = ()  # teacher emails or Clever ids
    schools: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionRoster:
    """One section as init writes it."""

    section: Mapping[str, Any]
    teachers: tuple[Mapping[str, Any], ...]
    students: tuple[Mapping[str, Any], ...]

    @property
    def id(self) -> str:
        return str(self.section["id"])


@dataclass(frozen=True)
class DistrictRoster:
    """What init read: the district and the chosen sections with their students."""

    district: Mapping[str, Any]
    sections: tuple[SectionRoster, ...]

    @property
    def lms_state(self) -> str:
        return str(self.district.get("lms_state") or "")

    @property
    def lms_type(self) -> str:
        return str(self.district.get("lms_type") or "")


@dataclass(frozen=True)
class InitFile:
    path: Path
    text: str
    section: str | None = None  # the Clever section id of a section file


@dataclass(frozen=True)
class InitResult:
    """What init wrote."""

    root: Path
    roster: DistrictRoster
    files: tuple[InitFile, ...] = field(default_factory=tuple)

    @property
    def student_count(self) -> int:
        return sum(len(s.students) for s in self.roster.sections)


async def read_district(reader: RosterReader, filters: InitFilters) -> DistrictRoster:
    """The token's district and the sections ``filters`` choose, with their students."""
    district = await reader.get_my_district()
    sections = await reader.list_sections(limit=LISTING_LIMIT)
    try:
        teachers = await reader.list_users("teacher", limit=LISTING_LIMIT)
    except ApiError:
        # teachers' names and emails only decorate the files; an email filter needs them
        if any(not OBJECT_ID_RE.match(t) for t in filters.teachers):
            raise
        teachers = []
    by_id = {str(t["id"]): t for t in teachers if t.get("id")}
    chosen = _choose(sections, by_id, filters)
    gate = asyncio.Semaphore(ROSTER_CONCURRENCY)

    async def students(section_id: str) -> list[dict[str, Any]]:
        async with gate:
            return await reader.list_section_users(section_id, "student", limit=LISTING_LIMIT)

    rosters = await asyncio.gather(*(students(str(s["id"])) for s in chosen))
    return DistrictRoster(
        district=district,
        sections=tuple(
            SectionRoster(
                section=s,
                teachers=tuple(by_id[t] for t in _teacher_ids(s) if t in by_id),
                students=tuple(sorted(users, key=_student_sort_key)),
            )
            for s, users in zip(chosen, rosters, strict=True)
        ),
    )


def _teacher_ids(section: Mapping[str, Any]) -> list[str]:
    ids = [str(t) for t in section.get("teachers") or [] if t]
    if section.get("teacher") and str(section["teacher"]) not in ids:
        ids.insert(0, str(section["teacher"]))
    return ids


def _choose(
    sections: Sequence[dict[str, Any]],
    teachers: Mapping[str, Mapping[str, Any]],
    filters: InitFilters,
) -> list[dict[str, Any]]:
    visible = {str(s.get("id")): s for s in sections if s.get("id")}
    for sid in filters.sections:
        if sid not in visible:
            raise UsageError(
                f"section {sid} is not one of the {len(visible)} sections this token sees",
                hint="check the id (24 hex characters), or leave out --section to list them all",
            )
    teacher_ids: set[str] = set()
    for wanted in filters.teachers:
        if OBJECT_ID_RE.match(wanted):
            teacher_ids.add(wanted)
            continue
        email = wanted.strip().lower()
        found = [tid for tid, t in teachers.items() if str(t.get("email") or "").lower() == email]
        if not found:
            raise UsageError(
                f"no teacher with email {wanted!r} in this district",
                hint="give the teacher's Clever email or 24-hex Clever id",
            )
        teacher_ids.update(found)
    chosen = []
    for section in sorted(visible.values(), key=lambda s: str(s["id"])):
        if filters.sections and str(section["id"]) not in filters.sections:
            continue
        if filters.schools and str(section.get("school") or "") not in filters.schools:
            continue
        if filters.teachers and not teacher_ids & set(_teacher_ids(section)):
            continue
        chosen.append(section)
    if not chosen:
        raise UsageError(
            f"no section matches the filters (the token sees {len(visible)} sections)",
            hint="check --teacher, --school and --section, or leave them out",
        )
    return chosen


def _student_sort_key(user: Mapping[str, Any]) -> tuple[str, str, str]:
    name = user.get("name") or {}
    return (str(name.get("last") or ""), str(name.get("first") or ""), str(user.get("id")))


def _sis_id(user: Mapping[str, Any]) -> str:
    student = (user.get("roles") or {}).get("student") or {}
    value = student.get("sis_id", user.get("sis_id"))
    return "" if value in (None, "") else str(value)


def slug(text: str) -> str:
    """A file and friendly name: lowercase letters, digits and '-'."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:60].strip("-") or "section"


def _comment(text: str) -> str:
    """One line of free text, safe inside a YAML comment."""
    return " ".join(str(text).split())


def _friendly_names(sections: Sequence[SectionRoster]) -> dict[str, str]:
    names: dict[str, str] = {}
    used: set[str] = set()
    for s in sections:
        base = slug(str(s.section.get("name") or s.id))
        name = base if base not in used else f"{base}-{s.id[-6:]}"
        used.add(name)
        names[s.id] = name
    return names


def render_section_file(
    section: SectionRoster, name: str, path: Path, schema_dir: Path, timezone: str
) -> str:
    """A section file: modeline, id, friendly name, no assignments, students as comments."""
    s = section.section
    lines = [modeline(path, schema_dir, SECTION_SCHEMA)]
    title = _comment(s.get("name") or section.id)
    details = [
        _comment(s[k]) for k in ("subject", "course") if isinstance(s.get(k), str) and s.get(k)
    ]
    if s.get("period"):
        details.append(f"period {_comment(s['period'])}")
    lines.append(f"# {title}" + (f" ({', '.join(details)})" if details else ""))
    for teacher in section.teachers:
        email = f" <{_comment(teacher['email'])}>" if teacher.get("email") else ""
        lines.append(f"# teacher: {_comment(display_name(teacher))}{email}")
    if s.get("school"):
        lines.append(f"# school: {_comment(s['school'])}")
    lines += [
        f"section: {section.id}",
        f"name: {name}",
        "assignments: {}",
        "# Add assignments under assignments: (in place of {}), like this one:",
        "#   hw-01:                       # a key of your choice, stable in this section",
        '#     title: "Homework 1"',
        "#     description: Problems 1-20 on page 42.",
        f"#     due_date: 2027-01-15       # a date alone means 23:59 that day, {timezone}",
        "#     points_possible: 10",
        "#     assignee_mode: all",
    ]
    students = section.students
    example = next((u for u in students if _sis_id(u)), None)
    if example is not None:
        lines += [
            "#     grades:",
            f"#       sis:{_sis_id(example)}: {{grade_points: 9}}",
        ]
    lines += ["#", f"# Students ({len(students)}): sis id, name, Clever id."]
    if students:
        lines.append("# In grades, write a student as sis:<sis id> or as the Clever id.")
    width = max((len(_sis_id(u)) for u in students), default=0) + 4
    name_width = max((len(_comment(display_name(u))) for u in students), default=1)
    for user in students:
        sis = _sis_id(user)
        ref = f"sis:{sis}" if sis else "-"
        shown = _comment(display_name(user)) or "-"
        lines.append(f"#   {ref:<{width}}  {shown:<{name_width}}  {user['id']}")
    return "\n".join(lines) + "\n"


def render_config_file(
    path: Path, schema_dir: Path, district: Mapping[str, Any], api_url: str, timezone: str
) -> str:
    name = _comment(district.get("name") or district.get("id") or "")
    lms = _comment(district.get("lms_type") or "unknown")
    return "\n".join(
        [
            modeline(path, schema_dir, CONFIG_SCHEMA),
            f"# Project settings for {name} (LMS: {lms}), written by lmsctl init.",
            f"api_url: {api_url}",
            f"district: {district['id']}",
            f"timezone: {timezone}     # a plain date in a manifest means 23:59 that day here",
            "",
        ]
    )


def plan_files(
    root: Path,
    roster: DistrictRoster,
    *,
    api_url: str,
    timezone: str,
    schema_dir: str = DEFAULT_SCHEMA_DIR,
) -> list[InitFile]:
    """Every file init writes, with its text (nothing touched yet)."""
    schemas = root / schema_dir
    files = [InitFile(schemas / name, exported_text(name)) for name in EXPORTED_SCHEMAS]
    names = _friendly_names(roster.sections)
    for section in roster.sections:
        name = names[section.id]
        path = root / SECTIONS_DIR / f"{name}.yaml"
        text = render_section_file(section, name, path, schemas, timezone)
        files.append(InitFile(path, text, section.id))
    config = root / CONFIG_FILE
    files.append(
        InitFile(config, render_config_file(config, schemas, roster.district, api_url, timezone))
    )
    return files


def refuse_existing(root: Path, files: Sequence[InitFile]) -> list[InitFile]:
    """The files still to write; ConfigError naming the first that exists (and differs)."""
    root_abs = Path(os.path.abspath(root))
    for parent in root_abs.parents:
        if (parent / CONFIG_FILE).is_file():
            raise ConfigError(
                f"{display_path(root_abs)} is inside the lmsctl root {display_path(parent)}",
                hint=f"add sections to {display_path(parent)} instead, or init another folder",
            )
    if root_abs.exists() and not root_abs.is_dir():
        raise ConfigError(f"{display_path(root_abs)} is a file, not a folder")
    todo = []
    for item in files:
        if item.path.exists() or item.path.is_symlink():
            try:
                same = item.path.read_text(encoding="utf-8") == item.text
            except (OSError, UnicodeDecodeError):
                same = False
            if same and item.path.name in EXPORTED_SCHEMAS:
                continue  # the installed lmsctl's schemas, already there
            raise ConfigError(
                f"{display_path(item.path)} already exists; lmsctl init never overwrites a file",
                hint="run init in a new folder, or move that file away first",
            )
        todo.append(item)
    return todo


def write_files(files: Sequence[InitFile]) -> None:
    """Write every file (each one new); on any failure, remove those written and raise."""
    written: list[Path] = []
    try:
        for item in files:
            write_atomically(item.path, item.text, exclusive=True)
            written.append(item.path)
    except OSError as exc:
        for path in reversed(written):
            with contextlib.suppress(OSError):
                path.unlink()
        what = "it already exists" if isinstance(exc, FileExistsError) else exc.strerror
        raise ConfigError(
            f"cannot write {display_path(item.path)}: {what or type(exc).__name__}; "
            "nothing was written",
            hint="run init in a folder you can write to",
        ) from exc


def init_root(
    root: Path,
    roster: DistrictRoster,
    *,
    api_url: str,
    timezone: str,
    schema_dir: str = DEFAULT_SCHEMA_DIR,
) -> InitResult:
    """Lay out a new root from what ``read_district`` read; never overwrites a file."""
    files = plan_files(root, roster, api_url=api_url, timezone=timezone, schema_dir=schema_dir)
    todo = refuse_existing(root, files)
    write_files(todo)
    return InitResult(root=root, roster=roster, files=tuple(todo))


#: the version of ``lmsctl init --format json`` (docs/json-output.md)
INIT_FORMAT_VERSION = "1.0"


def init_document(result: InitResult) -> dict[str, Any]:
    """``lmsctl init --format json``: the district and its lms_state, and what was written
    (each section's id, name, file and number of students: no student)."""
    district = result.roster.district
    sections = {s.id: s for s in result.roster.sections}
    return {
        "format_version": INIT_FORMAT_VERSION,
        "root": display_path(result.root),
        "district": {
            "id": district.get("id"),
            "name": district.get("name"),
            "lms_type": result.roster.lms_type or None,
            "lms_state": result.roster.lms_state,
        },
        "lms_state_advice": lms_state_advice(result.roster.lms_state),
        "files": [display_path(f.path) for f in result.files],
        "sections": [
            {
                "id": f.section,
                "name": sections[f.section].section.get("name"),
                "file": display_path(f.path),
                "students": len(sections[f.section].students),
            }
            for f in result.files
            if f.section is not None
        ],
    }


__all__ = [
    "INIT_FORMAT_VERSION",
    "DistrictRoster",
    "InitFile",
    "InitFilters",
    "InitResult",
    "SectionRoster",
    "init_document",
    "init_root",
    "lms_state_advice",
    "plan_files",
    "read_district",
    "render_section_file",
    "slug",
]
