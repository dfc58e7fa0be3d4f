"""The section file being resolved: where its diagnostics go, and position helpers.

Shared by the resolver (``resolve``) and the grade pass (``grades``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsctl.errors import Diagnostic, Severity
from lmsctl.manifest.refs import normalize_date
from lmsctl.manifest.yamldoc import Path_, YamlDocument, where_label
from lmsctl.model import ProjectConfig, SourcePos, StudentRef


@dataclass
class SectionFile:
    """The section file being resolved: where diagnostics go, and position helpers."""

    doc: YamlDocument
    path: Path
    config: ProjectConfig
    root: Path
    cwd: Path
    diags: list[Diagnostic] = field(default_factory=list)
    #: paths that failed the schema (and their ancestors): their values are not used
    bad: set[Path_] = field(default_factory=set)
    #: student references parsed so far (as written -> the reference, one object per student,
    #: and its identity: lmsctl.manifest.refs.student_identity, as one string)
    students: dict[str, tuple[StudentRef, str]] = field(default_factory=dict)

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


def read_date(ctx: SectionFile, pos: SourcePos, path: Path_, raw: Any) -> str | None:
    """A date field in Clever's UTC form, or None after reporting why it cannot be read."""
    try:
        return normalize_date(raw, ctx.config.timezone)
    except ValueError as exc:
        ctx.report(
            pos, path, str(exc), "write 2027-01-15 or 2027-01-15T15:00:00-06:00", rule="date"
        )
        return None
