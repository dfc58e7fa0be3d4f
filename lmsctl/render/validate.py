"""The ``lmsctl validate --format json`` document, from a ValidationReport."""

from __future__ import annotations

from typing import Any

from lmsctl.manifest.validate import ValidationReport
from lmsctl.render.json import dumps_for_terminal

__all__ = ["REPORT_FORMAT_VERSION", "render_validation_json", "validation_document"]

#: Version of the JSON document ``lmsctl validate --format json`` prints ("MAJOR.MINOR", as
#: every lmsctl document: docs/json-output.md; before 1.0 it was the number 1).
REPORT_FORMAT_VERSION = "1.0"


def validation_document(report: ValidationReport) -> dict[str, Any]:
    """The report as the JSON document's value: counts, validity and every diagnostic."""
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "root": report.root,
        "valid": report.ok,
        "summary": {
            "sections": report.sections,
            "assignments": report.assignments,
            "grades": report.grades,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
        },
        "diagnostics": [d.to_dict() for d in report.diagnostics],
    }


def render_validation_json(report: ValidationReport) -> str:
    """The document as indented JSON (control characters escaped), ending in a newline."""
    return dumps_for_terminal(validation_document(report), indent=2) + "\n"
