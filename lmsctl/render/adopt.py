"""The view of ``lmsctl import``: what each import did (``ImportOutcome``, built by
lmsctl.adopt), as text (pure, no I/O). It names assignments and files, never a student."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lmsctl.safetext import escape_controls

__all__ = ["IMPORT_FORMAT_VERSION", "ImportOutcome", "import_document", "render_import_text"]


@dataclass(frozen=True)
class ImportOutcome:
    """What one import did."""

    address: str
    assignment_id: str
    title: str
    file: str | None = None  # the manifest file an entry was written to (generate)
    grades: int = 0  # grades written to the manifest
    fields: tuple[str, ...] = ()  # fields written to the manifest


def render_import_text(
    outcomes: Sequence[ImportOutcome], *, generated: bool, plan_command: str
) -> str:
    """One line per import, then the next step (``plan_command``: how to run plan here)."""
    lines = []
    for outcome in outcomes:
        where = f" into {outcome.file}" if outcome.file else ""
        plural = "grade" if outcome.grades == 1 else "grades"
        extra = f", with {outcome.grades} {plural}" if outcome.grades else ""
        what = f"{outcome.title!r} ({outcome.assignment_id})"
        lines.append(escape_controls(f"Imported {outcome.address}: {what}{where}{extra}."))
    if generated:
        lines.append(f"Review the new entries, then: {plan_command} (expect No changes)")
    else:
        lines.append(f"Run {plan_command} to see how it differs from the manifests.")
    return "\n".join(lines) + "\n"


#: the version of ``lmsctl import --format json`` (docs/json-output.md)
IMPORT_FORMAT_VERSION = "1.0"


def import_document(outcomes: Sequence[ImportOutcome], *, generated: bool) -> dict[str, Any]:
    """``lmsctl import --format json``: what each import did (addresses, ids, titles, the file
    an entry went to and how many grades: no student)."""
    return {
        "format_version": IMPORT_FORMAT_VERSION,
        "generated": generated,
        "imported": [
            {
                "address": o.address,
                "assignment_id": o.assignment_id,
                "title": o.title,
                "file": o.file,
                "fields": list(o.fields),
                "grades": o.grades,
            }
            for o in outcomes
        ],
    }
