"""CSV gradebooks (``grades_file:``): one row per student, one column per grade field.

The header names the ``student`` column (a Clever id or a roster reference) and any grade fields
(``grade_points``, ``grade``, ``grade_comment``, ``flags``, ``state``, ``extra_attempts``,
``override_due_date``, ``grader_id``). An empty cell means "not managed". ``flags`` are written
``late;missing`` (semicolons or spaces). Spreadsheets that export with ``;`` or tabs
between cells are understood too (then write flags separated by spaces). Every problem
names the CSV's own line number.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsctl.addresses import OBJECT_ID_RE
from lmsctl.errors import Diagnostic
from lmsctl.fields import GRADE_RULES, Kind
from lmsctl.manifest.loader import unsafe_character_warning
from lmsctl.manifest.refs import RefError, normalize_date, parse_student_ref, student_identity
from lmsctl.manifest.schema import did_you_mean
from lmsctl.manifest.textfile import LoadFailure, read_text
from lmsctl.model import GRADE_FIELDS, SourcePos, StudentRef
from lmsctl.safetext import UNSAFE_CHARS

STUDENT_COLUMN = "student"
FLAGS = ("excused", "late", "missing")
STATES = ("created", "submitted", "returned", "reclaimed")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLAG_SPLIT = re.compile(r"[;\s]+")
#: The values a set or enum column accepts (the section schema's enums for these fields).
_ALLOWED: dict[str, tuple[str, ...]] = {"flags": FLAGS, "state": STATES}
#: What one value of a set column is called in messages.
_ITEM_NAMES = {"flags": "flag"}


@dataclass(frozen=True)
class CsvGrade:
    """One gradebook row: a student and the grade fields its non-empty cells set."""

    student: StudentRef
    fields: dict[str, Any]
    pos: SourcePos
    field_pos: dict[str, SourcePos] = field(default_factory=dict)


class _CellError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _number(text: str, name: str) -> int | float:
    try:
        value: int | float = int(text) if _INT_RE.match(text) else float(text)
    except ValueError as exc:
        raise _CellError(f"{name} {text!r} is not a number", "write a number such as 8.5") from exc
    if isinstance(value, float) and not math.isfinite(value):
        raise _CellError(f"{name} {text!r} is not a number", "write a number such as 8.5")
    if value < 0:
        raise _CellError(f"{name} {text!r} is negative", f"{name} cannot be negative")
    return value


def _whole(text: str, name: str) -> int:
    if not _INT_RE.match(text):
        raise _CellError(f"{name} {text!r} is not a whole number", "write e.g. 1")
    value = int(text)
    if value < 0:
        raise _CellError(f"{name} is negative", f"{name} cannot be negative")
    return value


def _choices(text: str, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A set cell: values separated by spaces or ';', each one of ``allowed``, repeats dropped."""
    chosen: list[str] = []
    for item in _FLAG_SPLIT.split(text):
        if not item:
            continue
        if item not in allowed:
            hint = did_you_mean(item, allowed) or "use " + ", ".join(allowed)
            raise _CellError(
                f"{_ITEM_NAMES.get(name, name)} {item!r} is not an allowed value", hint
            )
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def _choice(text: str, name: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        hint = did_you_mean(text, allowed) or "use one of: " + ", ".join(allowed)
        raise _CellError(f"{name} {text!r} is not an allowed value", hint)
    return text


def _cell(name: str, text: str, timezone: str) -> Any:
    """One non-empty cell as the field's value; how it reads follows the field's kind."""
    kind = GRADE_RULES[name].kind
    if kind is Kind.NUMBER:
        return _number(text, name)
    if kind is Kind.INTEGER:
        return _whole(text, name)
    if kind is Kind.SET:
        return _choices(text, name, _ALLOWED[name])
    if kind is Kind.ENUM:
        return _choice(text, name, _ALLOWED[name])
    if kind is Kind.DATETIME:
        try:
            return normalize_date(text, timezone)
        except ValueError as exc:
            raise _CellError(
                f"{name} {exc}", "write 2027-01-15 or 2027-01-15T15:00:00-06:00"
            ) from exc
    if name == "grader_id" and not OBJECT_ID_RE.match(text):
        raise _CellError(
            f"grader_id {text!r} is not a 24-hex Clever teacher id",
            "use the teacher's Clever id",
        )
    return text  # grade, grade_comment, grader_id


def _col(raw_line: str, cells: list[str], index: int) -> int:
    if '"' in raw_line:
        return 1
    return sum(len(c) + 1 for c in cells[:index]) + 1


def _delimiter(text: str) -> str:
    """',' normally; ';' or a tab when the header row uses one of those and no comma."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    if "," not in header:
        for candidate in (";", "\t"):
            if candidate in header:
                return candidate
    return ","


def read_gradebook(
    path: Path, display: str, *, timezone: str
) -> tuple[list[CsvGrade], list[Diagnostic]]:
    """Read one CSV gradebook; returns its rows and every problem found (never raises)."""
    diags: list[Diagnostic] = []

    def error(line: int, col: int, message: str, hint: str, rule: str = "grades-file") -> None:
        diags.append(Diagnostic.at(SourcePos(display, line, col), message, hint, rule=rule))

    try:
        text = read_text(path, display)
    except LoadFailure as failure:
        return [], list(failure.diagnostics)
    raw_lines = text.splitlines()
    for number, raw in enumerate(text.split("\n"), 1):  # splitlines() also splits at U+2028
        found = UNSAFE_CHARS.search(raw.removesuffix("\r"))  # CRLF line ends are fine
        if found is not None:
            diags.append(unsafe_character_warning(display, (number, found.start() + 1), found[0]))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    rows: list[CsvGrade] = []
    header: list[str] | None = None
    seen: dict[tuple[str, str], int] = {}
    line_end = 0
    try:
        for cells in reader:
            line = line_end + 1
            line_end = reader.line_num
            raw_line = raw_lines[line - 1] if line - 1 < len(raw_lines) else ""
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                if not _check_header(header, raw_line, cells, line, error):
                    return [], diags
                continue
            row = _row(header, cells, raw_line, line, display, timezone, error)
            if row is None:
                continue
            key = student_identity(row.student)
            if key in seen:
                error(
                    line,
                    1,
                    f"student {row.student.raw!r} is already in this file at line {seen[key]}",
                    "keep one row per student",
                )
                continue
            seen[key] = line
            rows.append(row)
    except csv.Error as exc:
        error(reader.line_num or 1, 1, f"malformed CSV: {exc}", "fix the quoting on this line")
        return [], diags
    if header is None:
        error(1, 1, "gradebook is empty", f"write a header row with a '{STUDENT_COLUMN}' column")
    return rows, diags


def _check_header(
    header: list[str], raw_line: str, cells: list[str], line: int, error: Any
) -> bool:
    ok = STUDENT_COLUMN in header
    near_miss = any(did_you_mean(name, [STUDENT_COLUMN]) for name in header)
    if STUDENT_COLUMN not in header and not near_miss:
        # (a near miss such as 'studnet' is reported below as an unknown column)
        hint = ""
        error(
            line,
            1,
            f"header has no '{STUDENT_COLUMN}' column",
            hint or f"name the column of student ids or references '{STUDENT_COLUMN}'",
        )
        ok = False
    seen: set[str] = set()
    for index, name in enumerate(header):
        col = _col(raw_line, cells, index)
        if not name:
            error(line, col, f"column {index + 1} has no name", "name it or delete the column")
            ok = False
        elif name in seen:
            error(line, col, f"column {name!r} appears twice", "keep one of them")
            ok = False
        elif name != STUDENT_COLUMN and name not in GRADE_FIELDS:
            hint = did_you_mean(name, (STUDENT_COLUMN, *GRADE_FIELDS)) or (
                "columns: student, " + ", ".join(GRADE_FIELDS)
            )
            error(line, col, f"unknown column {name!r}", hint)
            ok = False
        seen.add(name)
    return ok


def _row(
    header: list[str],
    cells: list[str],
    raw_line: str,
    line: int,
    display: str,
    timezone: str,
    error: Any,
) -> CsvGrade | None:
    if len(cells) > len(header):
        error(
            line,
            1,
            f"row has {len(cells)} cells but the header has {len(header)} columns",
            "remove the extra cells or quote cells that contain commas",
        )
        return None
    values = {name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(header)}
    s_index = header.index(STUDENT_COLUMN)
    raw_student = values[STUDENT_COLUMN]
    s_col = _col(raw_line, cells, s_index)
    if not raw_student:
        error(line, s_col, "row has no student", "write a Clever id or e.g. sis:603")
        return None
    try:
        student = parse_student_ref(raw_student)
    except RefError as exc:
        error(line, s_col, str(exc), exc.hint, "student-ref")
        return None
    fields: dict[str, Any] = {}
    field_pos: dict[str, SourcePos] = {}
    ok = True
    for index, name in enumerate(header):
        if name == STUDENT_COLUMN:
            continue
        text = values[name]
        if not text:
            continue
        col = _col(raw_line, cells, index)
        try:
            fields[name] = _cell(name, text, timezone)
        except _CellError as exc:
            error(line, col, str(exc), exc.hint)
            ok = False
            continue
        field_pos[name] = SourcePos(display, line, col)
    if not ok:
        return None
    return CsvGrade(student, fields, SourcePos(display, line, s_col), field_pos)
