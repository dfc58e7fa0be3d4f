"""Encryption at rest in the postgres backend: with LMSCTL_STATE_KEY set, the tables' raw
content holds no grade, student id or title (records, undo log, header and history are sealed;
the columns for compare-and-swap and locking stay in clear); a wrong key is one clean error;
rekey re-encrypts everything in one transaction; state in clear keeps working."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lmsctl.state.crypto import StateKey, StateKeys
from lmsctl.state.model import StateSnapshot
from lmsctl.state.postgres import PostgresBackend
from tests.e2e.test_encryption import _key, _leaks, _sensitive
from tests.support.coursework import copy_with_postgres_state
from tests.support.e2e import CliResult, run_lmsctl

KEY = StateKey.generate().export()
OTHER = StateKey.generate().export()
WORKSPACE = "district.sandbox"


@pytest.fixture
def root(tmp_path: Path, pg_dsn: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy_with_postgres_state(tmp_path / "coursework", pg_schema)
    monkeypatch.setenv("LMSCTL_PG_DSN", pg_dsn)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("LMSCTL_SANDBOX", raising=False)
    monkeypatch.chdir(tmp_path)
    return Path("coursework")


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    def go(*args: str) -> CliResult:
        return run_lmsctl(capsys, args)

    return go


def _raw_tables(dsn: str, schema: str) -> bytes:
    """Every row of every lmsctl table, as PostgreSQL's COPY writes them out."""
    out = bytearray()
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        ).fetchall()
        assert {t for (t,) in tables} >= {"workspaces", "resources", "changes", "versions"}
        for (table,) in tables:
            with conn.cursor().copy(
                sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(schema, table))
            ) as copy:
                for chunk in copy:
                    out += bytes(chunk)
    return bytes(out)


def _backend(dsn: str, schema: str, key: str | None) -> PostgresBackend:
    return PostgresBackend(
        dsn,
        workspace=WORKSPACE,
        schema=schema,
        keys=StateKeys(write=_key(key) if key else None),
    )


def _read(dsn: str, schema: str, key: str | None) -> StateSnapshot:
    """The state as a backend with ``key`` reads it (its connection closed afterwards)."""
    backend = _backend(dsn, schema, key)
    try:
        return backend.read()
    finally:
        backend.close()


def test_with_the_key_set_the_tables_hold_no_grade_student_or_title(
    root: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    pg_dsn: str,
    pg_schema: str,
) -> None:
    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    applied = invoke("--sandbox", "apply", str(root), "--auto-approve")
    assert applied.code == 0, applied.text
    # a second run changes a grade: the undo log (changes.before) and history get rows too
    manifest = root / "lincoln-high" / "algebra-1-period-2.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "{grade_points: 8.5, state: returned}", "{grade_points: 9.25, state: returned}"
        )
    )
    again = invoke("--sandbox", "apply", str(root), "--auto-approve")
    assert again.code == 0 and "1 grades set" in again.out, again.text

    backend = _backend(pg_dsn, pg_schema, KEY)
    snapshot = backend.read()
    assert len(snapshot.resources) == 11 and snapshot.grade_count == 23
    assert snapshot.api_url and snapshot.district_id  # the sealed header reads back
    values = _sensitive(snapshot) | {"9.25", "8.5", snapshot.district_id}
    raw = _raw_tables(pg_dsn, pg_schema)
    assert _leaks(raw, values) == []
    # the history still works on sealed rows: the first version has the old grade
    versions = backend.history()
    first = backend.version(versions[-1]["serial"])
    algebra = first.resources["5f1a0c0b8e1d2a0001a00001/hw-01"]
    assert algebra.grades["5f1a0c0b8e1d2a0001b00002"]["grade_points"] == 8.5
    backend.close()

    monkeypatch.setenv("LMSCTL_STATE_KEY", OTHER)
    wrong = invoke("--sandbox", "plan", str(root))
    assert wrong.code == 1 and "Traceback" not in wrong.err
    line = wrong.err.strip()
    assert len(line.splitlines()) == 1 and "another key" in line, line
    assert "workspace district.sandbox" in line and "LMSCTL_STATE_KEY" in line
    monkeypatch.delenv("LMSCTL_STATE_KEY")
    missing = invoke("--sandbox", "state", "list", "--root", str(root))
    assert missing.code == 1 and "is not set" in missing.err, missing.text
    assert "No assignments" not in missing.out


def test_rekey_re_encrypts_every_row_atomically(
    root: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    pg_dsn: str,
    pg_schema: str,
) -> None:
    # state in clear works as before, and the raw scan does find what it looks for
    assert invoke("--sandbox", "apply", str(root), "--auto-approve").code == 0
    assert b"grade_points" in _raw_tables(pg_dsn, pg_schema)
    assert invoke("--sandbox", "plan", str(root), "--detailed-exitcode").code == 0

    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    encrypted = invoke("--sandbox", "state", "rekey", "--root", str(root))
    assert encrypted.code == 0, encrypted.text
    snapshot = _read(pg_dsn, pg_schema, KEY)
    values = _sensitive(snapshot)
    assert _leaks(_raw_tables(pg_dsn, pg_schema), values) == []

    # a rekey that dies half-way changes nothing: the old key still reads all of it
    monkeypatch.setenv("LMSCTL_STATE_NEW_KEY", OTHER)
    real = PostgresBackend._seal_record
    calls = {"n": 0}

    def dies_after_five(self: PostgresBackend, address: str, data: dict[str, object]) -> str:
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(self, address, data)

    monkeypatch.setattr(PostgresBackend, "_seal_record", dies_after_five)
    died = invoke("--sandbox", "state", "rekey", "--root", str(root))
    assert died.code != 0, died.text
    monkeypatch.setattr(PostgresBackend, "_seal_record", real)
    assert calls["n"] == 6
    still = _read(pg_dsn, pg_schema, KEY)
    assert still.to_dict() == snapshot.to_dict()

    rotated = invoke("--sandbox", "state", "rekey", "--root", str(root))
    assert rotated.code == 0, rotated.text
    assert "Set LMSCTL_STATE_KEY to the new key" in rotated.out
    monkeypatch.delenv("LMSCTL_STATE_NEW_KEY")
    old = invoke("--sandbox", "state", "list", "--root", str(root))
    assert old.code == 1 and "another key" in old.err, old.text
    monkeypatch.setenv("LMSCTL_STATE_KEY", OTHER)
    assert _read(pg_dsn, pg_schema, OTHER).to_dict() == snapshot.to_dict()
    assert invoke("--sandbox", "plan", str(root), "--detailed-exitcode").code == 0
    assert _leaks(_raw_tables(pg_dsn, pg_schema), values) == []

    back = invoke("--sandbox", "state", "rekey", "--decrypt", "--root", str(root))
    assert back.code == 0, back.text
    monkeypatch.delenv("LMSCTL_STATE_KEY")
    assert b"grade_points" in _raw_tables(pg_dsn, pg_schema)
    assert invoke("--sandbox", "plan", str(root), "--detailed-exitcode").code == 0
