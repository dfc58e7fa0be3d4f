"""Manifests: YAML section files and lmsctl.yaml -> a validated DesiredState.

- :func:`load_desired` loads and validates everything under a root and returns the model with
  every diagnostic (errors and warnings);
- :func:`load_or_raise` does the same but raises ManifestError when there is any error.

Submodules: ``config`` (lmsctl.yaml -> ProjectConfig), ``textfile`` (checked UTF-8 text),
``loader`` (safe YAML with positions), ``schema`` (JSON Schema pass), ``refs`` (student
references, dates), ``csvgrades`` (CSV gradebooks), ``resolve`` (the model and the semantic
checks) with ``sectionfile`` (its per-file context) and ``grades`` (an assignment's grades),
``validate`` (the report behind ``lmsctl validate``).
"""

from __future__ import annotations

from pathlib import Path

from lmsctl.errors import Diagnostic, ManifestError
from lmsctl.manifest.resolve import load_desired
from lmsctl.model import DesiredState


def load_or_raise(root: Path, *, cwd: Path | None = None) -> tuple[DesiredState, list[Diagnostic]]:
    """Load and validate ``root``; ManifestError (all diagnostics) on any error, else warnings."""
    desired, diags = load_desired(root, cwd=cwd)
    if any(d.is_error for d in diags):
        raise ManifestError(diags)
    return desired, diags


__all__ = ["load_desired", "load_or_raise"]
