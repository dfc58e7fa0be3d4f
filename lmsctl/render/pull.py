"""The view of ``lmsctl pull``: what it wrote back (``PullResult``, built by lmsctl.pull), as
text at the run's privacy level (pure, no I/O).

At full the diff of each file is shown, as git would. In a private run a diff would name
students (grade lines are keyed by Clever id, comments beside them hold names, grade comments
are free text), so each edit is listed instead: students as the plan's pseudonyms, grade
comments hidden; at redact, grade edits only as a count per assignment.
"""

from __future__ import annotations

import difflib
import enum
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsctl.manifest.config import display_path
from lmsctl.privacy import HIDDEN, PrivacyLevel, Scrubber, StudentDirectory, privatise_fields
from lmsctl.render.json import dumps_for_terminal

__all__ = [
    "PULL_FORMAT_VERSION",
    "EditKind",
    "FileChange",
    "PullEdit",
    "PullResult",
    "PullSkip",
    "edits_scrubber",
    "grade_student",
    "pull_document",
    "render_pull_text",
]


class EditKind(enum.StrEnum):
    DRIFT = "drift"  # a managed value changed in the LMS
    NEW_GRADE = "new-grade"  # a grade set in the LMS that the manifests do not hold


@dataclass(frozen=True)
class PullEdit:
    """One value written back into a manifest."""

    kind: EditKind
    address: str  # assignment or grade address
    field: str | None  # None for a whole new grade entry
    before: Any
    after: Any
    file: str


@dataclass(frozen=True)
class PullSkip:
    """An LMS edit pull did not write, and why."""

    address: str
    field: str
    reason: str


@dataclass(frozen=True)
class FileChange:
    path: Path
    before: str
    after: str

    def diff(self) -> str:
        shown = display_path(self.path)
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{shown}",
                tofile=f"b/{shown}",
            )
        )


@dataclass(frozen=True)
class PullResult:
    edits: tuple[PullEdit, ...] = ()
    skipped: tuple[PullSkip, ...] = ()
    files: tuple[FileChange, ...] = ()
    written: bool = False


def grade_student(address: str) -> str | None:
    """The student of a grade's address (``section/key/grades/student``), else None."""
    parts = address.split("/")
    return parts[3] if len(parts) == 4 and parts[2] == "grades" else None


def edits_scrubber(result: PullResult, scrub: Scrubber) -> Scrubber:
    """In a private run, ``scrub`` that also knows the students of the pulled grade edits (so
    each reads as its pseudonym); at level full, ``scrub`` as it is."""
    if not scrub.choice.private:
        return scrub
    directory = StudentDirectory()
    directory.merge(scrub.directory)
    for edit in result.edits:
        student = grade_student(edit.address)
        if student:
            directory.add(student, student)
    return Scrubber(scrub.choice, directory)


def _shown(value: Any) -> str:
    return HIDDEN if value == HIDDEN else dumps_for_terminal(value, sort_keys=True)


def _assignment_of(address: str) -> str:
    return address.rsplit("/grades/", 1)[0]


def _private_edits(
    result: PullResult, scrub: Scrubber
) -> tuple[list[tuple[PullEdit, str, Any, Any]], Counter[str]]:
    """Each edit shown at the scrubber's level, as (edit, address, before, after), and at
    redact the grade edits left out, counted per assignment. ``before`` is None for a whole
    new grade, whose ``after`` is its fields."""
    redact = scrub.choice.level is PrivacyLevel.REDACT
    shown: list[tuple[PullEdit, str, Any, Any]] = []
    hidden: Counter[str] = Counter()
    for edit in result.edits:
        of_student = grade_student(edit.address) is not None
        if of_student and redact:
            hidden[_assignment_of(edit.address)] += 1
            continue
        address = scrub.text(edit.address)
        if edit.field is None:  # a whole new grade
            fields = privatise_fields(edit.after or {}, scrub, of_student=True)
            shown.append((edit, address, None, fields))
            continue
        before = privatise_fields({edit.field: edit.before}, scrub, of_student=of_student)
        after = privatise_fields({edit.field: edit.after}, scrub, of_student=of_student)
        shown.append((edit, address, before[edit.field], after[edit.field]))
    return shown, hidden


def _edit_lines(result: PullResult, scrub: Scrubber) -> list[str]:
    """Each edit, one line, at the scrubber's (private) level."""
    shown, hidden = _private_edits(result, scrub)
    lines: list[str] = []
    for edit, address, before, after in shown:
        if edit.field is None:
            values = ", ".join(f"{k}: {_shown(v)}" for k, v in after.items())
            lines.append(f"+ {address}: {{{values}}}  ({edit.file})")
        else:
            change = f"{_shown(before)} -> {_shown(after)}"
            lines.append(f"~ {address} {edit.field}: {change}  ({edit.file})")
    for assignment, n in sorted(hidden.items()):
        lines.append(f"~ {assignment}: {n} grade(s) (not shown at privacy level redact)")
    return lines


def render_pull_text(result: PullResult, scrub: Scrubber) -> tuple[str, str]:
    """(stdout, stderr) of ``lmsctl pull`` before its summary: the diffs (or, in a private run,
    the edits) and the LMS edits it left alone."""
    if scrub.choice.private:
        scrub = edits_scrubber(result, scrub)
        out = "".join(line + "\n" for line in _edit_lines(result, scrub))
        if result.files:
            out += (
                f"(the diff is not shown at privacy level {scrub.choice.level.value}: it names "
                "students; see it with git diff)\n"
            )
    else:
        out = "".join(change.diff() for change in result.files)
    err = "".join(
        scrub.text(f"Skipped {f'{skip.address} {skip.field}'.strip()}: {skip.reason}") + "\n"
        for skip in result.skipped
    )
    return out, err


#: the version of ``lmsctl pull --format json`` (docs/json-output.md)
PULL_FORMAT_VERSION = "1.0"


def pull_document(result: PullResult, scrub: Scrubber) -> dict[str, Any]:
    """``lmsctl pull --format json`` at the scrubber's level, as its text is: the files and
    their diffs (diffs at level full only: they name students), each edit (students as
    pseudonyms in a private run; at redact, grade edits only as a count per assignment) and
    the LMS edits left alone."""
    scrub = edits_scrubber(result, scrub)
    shown, hidden = _private_edits(result, scrub)
    files = [
        {"path": display_path(c.path)} | ({} if scrub.choice.private else {"diff": c.diff()})
        for c in result.files
    ]
    doc: dict[str, Any] = {
        "format_version": PULL_FORMAT_VERSION,
        "written": result.written,
        "privacy": {"level": scrub.choice.level.value},
        "files": files,
        "edits": [
            {
                "kind": edit.kind.value,
                "address": address,
                "field": edit.field,
                "before": before,
                "after": after,
                "file": edit.file,
            }
            for edit, address, before, after in shown
        ],
        "skipped": [
            {"address": scrub.text(s.address), "field": s.field, "reason": scrub.text(s.reason)}
            for s in result.skipped
        ],
    }
    if hidden:
        doc["hidden_grade_edits"] = dict(sorted(hidden.items()))
    return doc
