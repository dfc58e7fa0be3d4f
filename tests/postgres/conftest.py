"""Fixtures for the tests that need a real PostgreSQL server.

The server comes from ``LMSCTL_TEST_PG_DSN`` (``.ci/run`` starts a throw-away cluster and sets
it). Without a reachable server these tests are skipped, and the summary says so in one line;
with ``LMSCTL_REQUIRE_PG=1`` (set by ``.ci/run``) a skipped postgres test fails the run.
Each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache

import psycopg
import pytest

ENV = "LMSCTL_TEST_PG_DSN"
REQUIRE = os.environ.get("LMSCTL_REQUIRE_PG") == "1"
_skipped: list[str] = []


@cache
def _server() -> tuple[str | None, str]:
    dsn = os.environ.get(ENV, "").strip()
    if not dsn:
        return None, f"{ENV} is not set (.ci/run starts a server and sets it)"
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"no PostgreSQL server at {ENV}: {first}"
    return dsn, ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.postgres)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server (LMSCTL_TEST_PG_DSN)")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "tests/postgres/" in report.nodeid.replace("\\", "/"):
        _skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        _dsn, why = _server()
        terminalreporter.write_line(
            f"postgres tests: {len(_skipped)} skipped ({why or 'see the skip reasons'})",
            yellow=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE and _skipped and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn, why = _server()
    if dsn is None:
        if REQUIRE:
            pytest.fail(f"LMSCTL_REQUIRE_PG=1 but {why}")
        pytest.skip(why)
    return dsn


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh schema name for lmsctl's tables; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
