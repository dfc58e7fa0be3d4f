"""The tables of the PostgreSQL state backend: their layout, creation and version.

One schema (``lmsctl`` by default) holds the tables of every workspace; see
:mod:`lmsctl.state.postgres` for what each table holds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
from psycopg import sql

#: The version of the tables this lmsctl creates and reads.
SCHEMA_VERSION = 1
TABLES = ("meta", "workspaces", "resources", "changes", "versions", "locks")

_CREATE = (
    "CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {workspaces} (name text PRIMARY KEY, "
    "lineage text NOT NULL, serial bigint NOT NULL, format_version int NOT NULL, "
    "api_url text, district_id text, "
    "updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS {resources} (workspace text NOT NULL, "
    "address text NOT NULL, record jsonb NOT NULL, serial bigint NOT NULL, "
    "PRIMARY KEY (workspace, address))",
    "CREATE TABLE IF NOT EXISTS {changes} (workspace text NOT NULL, "
    "serial bigint NOT NULL, address text NOT NULL, before jsonb, "
    "PRIMARY KEY (workspace, serial, address))",
    "CREATE TABLE IF NOT EXISTS {versions} (workspace text NOT NULL, "
    "run_id text NOT NULL, serial bigint NOT NULL, lineage text NOT NULL, "
    "api_url text, district_id text, saved_at timestamptz NOT NULL, "
    "holder jsonb NOT NULL, PRIMARY KEY (workspace, run_id))",
    "CREATE INDEX IF NOT EXISTS versions_by_serial ON {versions} (workspace, serial)",
    "CREATE TABLE IF NOT EXISTS {locks} (workspace text PRIMARY KEY, "
    "info jsonb NOT NULL, backend_pid int NOT NULL, "
    "since timestamptz NOT NULL DEFAULT now())",
)


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    digest = hashlib.sha256("\0".join(("lmsctl", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def table_names(schema: str) -> dict[str, sql.Identifier]:
    """Each table's qualified name in ``schema``, for ``sql.SQL(...).format(**names)``."""
    return {name: sql.Identifier(schema, name) for name in TABLES}


def dumps(data: Any) -> str:
    """JSON as the jsonb columns are written: compact, sorted keys, UTF-8."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def stored_version(
    conn: psycopg.Connection[Any], schema: str, t: dict[str, sql.Identifier]
) -> int | None:
    """The version of the tables in ``schema``, None when they do not exist yet."""
    exists = conn.execute("SELECT to_regclass(%s)", [f'"{schema}".meta']).fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT value FROM {meta} WHERE key = 'schema_version'").format(**t)
    ).fetchone()
    return int(row[0]) if row else None


def create_tables(conn: psycopg.Connection[Any], schema: str, t: dict[str, sql.Identifier]) -> None:
    """Create the tables (idempotent); the caller runs it in a transaction."""
    # one creator at a time per schema, only while the tables are missing
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key("schema", schema)])
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for statement in _CREATE:
        conn.execute(sql.SQL(statement).format(**t))
    conn.execute(
        sql.SQL(
            "INSERT INTO {meta} (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ).format(**t),
        [str(SCHEMA_VERSION)],
    )
