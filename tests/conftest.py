"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "coursework"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _no_ci_privacy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see lmsctl outside CI with no pseudonym key, wherever they run (a CI runner sets
    CI, which makes plans private by default); privacy tests set both themselves."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("LMSCTL_PSEUDONYM_KEY", raising=False)
    # state in clear unless a test sets the key (encryption tests do)
    monkeypatch.delenv("LMSCTL_STATE_KEY", raising=False)
    monkeypatch.delenv("LMSCTL_STATE_NEW_KEY", raising=False)
