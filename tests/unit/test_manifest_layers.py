"""The manifest layer and the modules below it import only what sits below them.

The target layers (top to bottom) put lmsctl.manifest under the planner, the renderers and the
use cases, and lmsctl.yaml's reader inside lmsctl.manifest: a module there that imports one
above it (directly, or from inside a function to dodge a cycle) breaks the layering.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lmsctl

PACKAGE = Path(lmsctl.__file__).parent

#: Modules above lmsctl.manifest (and so never imported by it or the layers below it).
ABOVE_MANIFEST = (
    "lmsctl.cli",
    "lmsctl.sandbox",
    "lmsctl.ci",
    "lmsctl.pull",
    "lmsctl.adopt",
    "lmsctl.init",
    "lmsctl.workspace",
    "lmsctl.render",
    "lmsctl.apply",
    "lmsctl.policy",
    "lmsctl.plan",
    "lmsctl.refresh",
    "lmsctl.client",
)

OWN_MODULES = sorted(
    [*(PACKAGE / "manifest").glob("*.py")]
    + [PACKAGE / name for name in ("model.py", "errors.py", "roster.py", "schema_files.py")]
)


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


@pytest.mark.parametrize("path", OWN_MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_import_points_up(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    up = [
        f"line {line}: {name}"
        for name, line in _imports(tree)
        if any(name == top or name.startswith(top + ".") for top in ABOVE_MANIFEST)
    ]
    assert up == []


@pytest.mark.parametrize("path", OWN_MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_import_inside_a_function(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = [
        f"line {inner.lineno} in {node.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]
    assert inside == []


def test_project_settings_live_in_the_manifest_package() -> None:
    assert not (PACKAGE / "config.py").exists()
    assert (PACKAGE / "manifest" / "config.py").is_file()


@pytest.mark.parametrize(
    "path",
    [*OWN_MODULES, PACKAGE / "init.py"],
    ids=lambda p: p.relative_to(PACKAGE).as_posix(),
)
def test_modules_and_functions_stay_small_enough_to_read(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 600
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []
