"""Every broken manifest in tests/corpus/validate/ gives exactly the diagnostics it expects."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from lmsctl.manifest import load_desired

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "validate"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.txt").is_file())


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: str) -> None:
    root = CORPUS / case
    expected = (root / "expected.txt").read_text(encoding="utf-8").splitlines()
    started = time.monotonic()
    _, diags = load_desired(root, cwd=root)
    elapsed = time.monotonic() - started
    lines = [d.format() for d in diags]
    if not yaml.__with_libyaml__:
        # the expected syntax-error wording is libyaml's (PyYAML wheels ship it); without it
        # only the positions of syntax errors can be compared
        lines, expected = _positions_of_syntax_errors(lines), _positions_of_syntax_errors(expected)
    assert lines == expected
    assert elapsed < 3, f"{case} took {elapsed:.1f}s"


def _positions_of_syntax_errors(lines: list[str]) -> list[str]:
    return [line.split(" YAML syntax error: ")[0] for line in lines]
