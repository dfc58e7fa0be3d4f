"""End-to-end fixtures: the real CLI and client against the sandbox, in-process or on a socket
(the helpers they use live in tests/support/e2e.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.e2e import EXAMPLES, CliResult, SandboxPeek, run_lmsctl


@pytest.fixture
def lmsctl(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run ``lmsctl ARGS`` in-process through the real entry point."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("LMSCTL_SANDBOX", raising=False)
    monkeypatch.delenv("LMSCTL_API_URL", raising=False)

    def invoke(*args: str) -> CliResult:
        return run_lmsctl(capsys, args)

    return invoke


@pytest.fixture
def coursework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/coursework; the current folder is its parent."""
    target = tmp_path / "coursework"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".lmsctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    return Path("coursework")


@pytest.fixture
def sandbox(coursework: Path) -> Iterator[SandboxPeek]:
    yield SandboxPeek(coursework / ".lmsctl" / "sandbox.db")
