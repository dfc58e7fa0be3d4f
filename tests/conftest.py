"""Shared test fixtures, and the hooks that make a skipped postgres test fail CI.

The hooks live here, not in tests/postgres/conftest.py: with pytest-xdist the controller
process that prints the summary and sets the exit status loads only this conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.postgres import is_postgres_test, required, server

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "coursework"
_postgres_skipped: list[str] = []


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quick loop: tests marked ``slow`` are left out unless ``LMSCTL_TESTS=all`` (what
    .ci/run sets) or a ``-m`` expression picks tests itself."""
    if os.environ.get("LMSCTL_TESTS") == "all" or config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and is_postgres_test(report.nodeid):
        _postgres_skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_skipped and not _is_worker(terminalreporter.config):
        _dsn, why = server()
        terminalreporter.write_line(
            f"postgres tests: {len(_postgres_skipped)} skipped ({why or 'see the skip reasons'})",
            yellow=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session.config):
        return
    if required() and _postgres_skipped and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
