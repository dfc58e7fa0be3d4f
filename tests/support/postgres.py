"""The PostgreSQL server the postgres state backend's tests use, and the rule that CI runs them.

The server comes from ``LMSCTL_TEST_PG_DSN`` (``.ci/run`` starts a throw-away cluster and sets
it). Without a reachable server the postgres tests are skipped, and the summary says so in one
line; with ``LMSCTL_REQUIRE_PG=1`` (set by ``.ci/run``) a skipped postgres test fails the run.
The hooks that count the skips live in the top conftest.py: with pytest-xdist only the top
conftest runs in the controller process, which makes the summary and the exit status.
"""

from __future__ import annotations

import os
from functools import cache

import psycopg

ENV = "LMSCTL_TEST_PG_DSN"
REQUIRE_ENV = "LMSCTL_REQUIRE_PG"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def is_postgres_test(nodeid: str) -> bool:
    return nodeid.replace("\\", "/").startswith("tests/postgres/")


@cache
def server() -> tuple[str | None, str]:
    """(the server's connection string, "") or (None, why there is none)."""
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
