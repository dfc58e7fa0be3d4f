"""Runtime dependencies that lmsctl's speed relies on are declared and installed."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest


@pytest.mark.parametrize("name", ["httptools", "msgspec"])
def test_the_http_parser_and_the_json_decoder_are_declared_and_importable(name: str) -> None:
    # lmsctl's own HTTP/1.1 client parses answers with httptools, and decodes them with msgspec
    requires = importlib.metadata.requires("lmsctl") or []
    assert any(r.replace(" ", "").startswith(name) for r in requires)
    assert importlib.util.find_spec(name) is not None


#: a distribution's import name, where the two differ
_IMPORTED_AS = {"pyyaml": "yaml"}


def _imported_top_names() -> set[str]:
    """The top-level packages lmsctl's own modules import (at the top or in a function)."""
    names: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / "lmsctl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
            elif (  # importlib.import_module("name") with a literal
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value.split(".")[0])
    return names


def test_every_declared_dependency_is_imported_by_lmsctl() -> None:
    # a declared dependency that no code uses is a defect (httpcore and sniffio served the
    # transport that lmsctl's own client replaced, and are no longer declared)
    requires = [r for r in importlib.metadata.requires("lmsctl") or [] if "extra ==" not in r]
    declared = {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requires}
    imported = _imported_top_names()
    unused = {name for name in declared if _IMPORTED_AS.get(name, name) not in imported}
    assert not unused, f"declared but never imported: {sorted(unused)}"
    assert not declared & {"httpcore", "sniffio", "h11"}
