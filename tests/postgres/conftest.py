"""Fixtures for the tests that need a real PostgreSQL server (tests/support/postgres.py says
where it comes from and when a skip fails the run).

Each test gets a schema of its own, dropped afterwards; its name carries the pytest-xdist worker
(``t_gw0_...``), so parallel workers never share a schema, a table or an advisory lock key.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.postgres import required, server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn, why = server()
    if dsn is None:
        if required():
            pytest.fail(f"LMSCTL_REQUIRE_PG=1 but {why}")
        pytest.skip(why)
    return dsn


@pytest.fixture
def pg_schema(pg_dsn: str, worker_id: str) -> Iterator[str]:
    """A fresh schema name for lmsctl's tables; dropped after the test."""
    name = f"t_{worker_id}_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
