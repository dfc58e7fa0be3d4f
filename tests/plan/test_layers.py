"""The plan package sits below the renderers, the executor and the use cases: it imports none
of them (a saved plan file is read and written by lmsctl.plan alone)."""

from __future__ import annotations

import ast
from pathlib import Path

import lmsctl.plan

FORBIDDEN = ("lmsctl.render", "lmsctl.apply", "lmsctl.workspace", "lmsctl.cli", "lmsctl.policy")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_plan_package_imports_nothing_above_it() -> None:
    package = Path(lmsctl.plan.__file__).parent
    wrong = {
        f"{path.name}: {name}"
        for path in sorted(package.glob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert not wrong, sorted(wrong)


def test_the_plan_document_and_its_words_live_in_the_plan_package() -> None:
    from lmsctl.plan import document, planfile, words

    assert planfile.plan_document is document.plan_document
    assert document.reason_words is words.reason_words
