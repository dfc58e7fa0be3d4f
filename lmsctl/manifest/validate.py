"""The report behind ``lmsctl validate``: every diagnostic plus what was found.

lmsctl.render.validate writes it as the ``--format json`` document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmsctl.errors import Diagnostic, Severity, sort_diagnostics
from lmsctl.manifest.config import CONFIG_FILE, display_path
from lmsctl.manifest.resolve import discover_manifests, load_desired
from lmsctl.model import DesiredState
from lmsctl.schema_files import CONFIG_SCHEMA, SECTION_SCHEMA, modeline_diagnostics


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class ValidationReport:
    """What validating one root found: counts and every diagnostic, sorted."""

    root: str
    sections: int
    assignments: int
    grades: int
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """``4 sections, 11 assignments, 24 grades: 0 errors, 1 warning``."""
        return (
            f"{_plural(self.sections, 'section')}, {_plural(self.assignments, 'assignment')}, "
            f"{_plural(self.grades, 'grade')}: {_plural(len(self.errors), 'error')}, "
            f"{_plural(len(self.warnings), 'warning')}"
        )


def report_for(desired: DesiredState, diagnostics: list[Diagnostic], root: str) -> ValidationReport:
    return ValidationReport(
        root=root,
        sections=len(desired.sections),
        assignments=len(desired.assignments()),
        grades=desired.grade_count,
        diagnostics=tuple(diagnostics),
    )


def validate_root(root: Path, *, cwd: Path | None = None) -> ValidationReport:
    """Check everything under ``root`` that can be checked offline."""
    desired, diagnostics = load_desired(root, cwd=cwd)
    diagnostics = sort_diagnostics([*diagnostics, *_modeline_diagnostics(root, cwd)])
    return report_for(desired, diagnostics, root.as_posix())


def _modeline_diagnostics(root: Path, cwd: Path | None) -> list[Diagnostic]:
    """Warnings for schema modelines that point at a missing or an outdated schema."""
    if not root.is_dir():
        return []
    files = [(root / CONFIG_FILE, CONFIG_SCHEMA)] if (root / CONFIG_FILE).is_file() else []
    files += [(path, SECTION_SCHEMA) for path in discover_manifests(root)]
    return modeline_diagnostics(
        [(path, display_path(path, cwd), name) for path, name in files], cwd=cwd
    )
