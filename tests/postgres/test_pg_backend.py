"""The postgres backend against a real server: rows, compare-and-swap, locks, history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from lmsctl.errors import StateError, StateLockedError, StateSaveError
from lmsctl.state import locked
from lmsctl.state.backend import StateBackend
from lmsctl.state.pg_schema import SCHEMA_VERSION
from lmsctl.state.postgres import PostgresBackend
from lmsctl.state.recovery import load as load_recovery
from tests.support.factories import STUDENT, make_record, make_snapshot

Factory = Callable[..., PostgresBackend]


@pytest.fixture
def backend(pg_dsn: str, pg_schema: str, tmp_path: Path) -> Factory:
    made: list[PostgresBackend] = []

    def make(workspace: str = "north", **kw: object) -> PostgresBackend:
        b = PostgresBackend(
            pg_dsn, workspace=workspace, schema=pg_schema, recovery_dir=tmp_path, **kw
        )  # type: ignore[arg-type]
        made.append(b)
        return b

    yield make  # type: ignore[misc]
    for b in made:
        b.close()


def _rows(dsn: str, schema: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql.replace("S.", f'"{schema}".'), list(args)).fetchall()


def test_it_is_a_state_backend_and_starts_empty(backend: Factory) -> None:
    b = backend()
    assert isinstance(b, StateBackend)
    snap = b.read()
    assert snap.serial == 0 and snap.resources == {}


def test_tables_are_created_once_with_a_schema_version_even_by_many_at_once(
    backend: Factory, pg_dsn: str, pg_schema: str
) -> None:
    errors: list[BaseException] = []

    def first_use(n: int) -> None:
        try:
            backend(f"ws{n}").read()
        except BaseException as exc:  # pragma: no cover - shown on failure
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _rows(pg_dsn, pg_schema, "SELECT key, value FROM S.meta") == [
        ("schema_version", str(SCHEMA_VERSION))
    ]


def test_a_save_writes_only_the_changed_record_and_the_serial(
    backend: Factory, pg_dsn: str, pg_schema: str
) -> None:
    b = backend()
    snap = make_snapshot(make_record("hw-01"), make_record("hw-02"), make_record("hw-03"))
    b.write(snap)
    assert snap.serial == 1
    snap.resources[make_record("hw-02").address].grades[STUDENT]["grade_points"] = 3
    b.save(snap, [make_record("hw-02").address])
    assert snap.serial == 2
    rows = dict(_rows(pg_dsn, pg_schema, "SELECT address, serial FROM S.resources"))
    assert sorted(rows.values()) == [1, 1, 2]  # one row rewritten, the others untouched
    again = backend().read()
    assert again.serial == 2 and again.lineage == snap.lineage
    assert again.resources[make_record("hw-02").address].grades[STUDENT]["grade_points"] == 3
    # an address no longer in the snapshot is removed by its save
    del snap.resources[make_record("hw-03").address]
    b.save(snap, [make_record("hw-03").address])
    assert sorted(backend().read().resources) == sorted(
        [make_record("hw-01").address, make_record("hw-02").address]
    )


def test_two_writers_never_interleave_silently(backend: Factory) -> None:
    a, b = backend(), backend()
    first = make_snapshot(make_record("hw-01"))
    a.write(first)
    mine, theirs = a.read(), b.read()
    mine.resources[make_record("hw-01").address].applied["title"] = "mine"
    a.save(mine, [make_record("hw-01").address])
    theirs.resources[make_record("hw-01").address].applied["title"] = "theirs"
    with pytest.raises(StateError, match="changed by another run"):
        b.save(theirs, [make_record("hw-01").address])
    assert backend().read().resources[make_record("hw-01").address].applied["title"] == "mine"


def test_workspaces_share_a_database_but_not_their_state(backend: Factory) -> None:
    north, south = backend("north"), backend("south")
    north.write(make_snapshot(make_record("hw-01")))
    south.write(make_snapshot(make_record("hw-09"), make_record("hw-10")))
    assert list(backend("north").read().resources) == [make_record("hw-01").address]
    assert len(backend("south").read().resources) == 2
    # one workspace's lock never blocks another's
    with locked(north, "lmsctl apply"), locked(south, "lmsctl apply"):
        pass


def test_the_second_run_is_refused_with_the_real_holder_then_waits(
    backend: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "school/coursework")
    holder = backend()
    info = holder.lock("lmsctl apply coursework")
    with pytest.raises(StateLockedError) as refused:
        backend().lock("lmsctl plan coursework")
    text = str(refused.value)
    assert f"{info.user}@{info.host}" in text and "`lmsctl apply coursework`" in text
    assert "https://github.com/school/coursework/actions/runs/4242" in text
    assert "lmsctl plan" not in text  # the holder's record, not the waiter's own
    seen = backend().current_lock()
    assert seen is not None and seen.id == info.id and seen.ci_run and seen.pid == os.getpid()

    threading.Timer(0.5, holder.unlock, args=(info.id,)).start()
    started = time.monotonic()
    waited = backend().lock("lmsctl apply", timeout=10)
    assert 0.3 < time.monotonic() - started < 5
    assert waited.replaced is None  # released cleanly: nothing taken over


_HOLD = textwrap.dedent(
    """
    import sys, time
    from lmsctl.state.postgres import PostgresBackend
    b = PostgresBackend(sys.argv[1], workspace="north", schema=sys.argv[2])
    info = b.lock("lmsctl apply (child)")
    print(info.id, flush=True)
    time.sleep(120)
    """
)


def _child_holding_the_lock(pg_dsn: str, pg_schema: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, pg_dsn, pg_schema],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout is not None
    lock_id = child.stdout.readline().strip()
    assert lock_id, "the child did not take the lock"
    return child, lock_id


def test_a_killed_holder_frees_the_lock_by_itself(
    backend: Factory, pg_dsn: str, pg_schema: str
) -> None:
    child, lock_id = _child_holding_the_lock(pg_dsn, pg_schema)
    try:
        with pytest.raises(StateLockedError, match="lmsctl apply \\(child\\)"):
            backend().lock("lmsctl apply")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        started = time.monotonic()
        info = backend().lock("lmsctl apply", timeout=10)
        assert time.monotonic() - started < 5
        assert info.replaced is not None and info.replaced.id == lock_id
        assert "no longer running" in (info.describe_takeover() or "")
    finally:
        child.kill()
        child.communicate()  # waits, and closes its stdout


def test_a_holder_that_has_just_taken_the_lock_is_named_not_a_dead_one(
    backend: Factory, pg_dsn: str, pg_schema: str
) -> None:
    """Two runs a moment apart: the second names the first, even before its record is written.

    A dead run's record is still in the table; the new holder has the advisory lock and writes
    its own record a little later. The refusal must wait for it, and never name the dead run.
    """
    from lmsctl.state.backend import LockInfo
    from lmsctl.state.pg_schema import advisory_key, dumps

    dead = backend()
    dead.lock("lmsctl apply (dead run)")
    dead.close()  # its session ends, its record stays
    with psycopg.connect(pg_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [advisory_key(pg_schema, "north")])

        def write_record() -> None:
            time.sleep(0.4)
            holder.execute(
                f'UPDATE "{pg_schema}".locks SET info = %s::jsonb, '
                "backend_pid = pg_backend_pid() WHERE workspace = 'north'",
                [dumps(LockInfo.new("lmsctl apply (new run)").to_dict())],
            )

        writer = threading.Thread(target=write_record)
        writer.start()
        try:
            with pytest.raises(StateLockedError) as err:
                backend().lock("lmsctl apply")
        finally:
            writer.join()
    assert "lmsctl apply (new run)" in str(err.value)
    assert "dead run" not in str(err.value)


def test_force_unlock_frees_a_lock_held_from_another_host(
    backend: Factory, pg_dsn: str, pg_schema: str
) -> None:
    """The holder's database session is ended, whatever machine it runs on."""
    child, lock_id = _child_holding_the_lock(pg_dsn, pg_schema)
    try:
        other = backend()
        with pytest.raises(StateError, match="not"):
            other.force_unlock("0000-not-the-id")
        other.force_unlock(lock_id)
        assert other.current_lock() is None
        info = backend().lock("lmsctl apply", timeout=5)
        assert info.replaced is None
    finally:
        child.kill()
        child.communicate()  # waits, and closes its stdout


def test_a_run_whose_lock_was_broken_by_hand_writes_nothing(backend: Factory) -> None:
    first = backend()
    first.write(make_snapshot(make_record("hw-01")))
    info = first.lock("lmsctl apply")
    snap = first.read()
    backend().force_unlock(info.id)  # someone frees it by hand; the run goes on writing
    thief = backend()
    thief.lock("lmsctl apply")
    snap.resources[make_record("hw-01").address].applied["title"] = "late write"
    with pytest.raises(StateSaveError, match="no longer holds the lock") as refused:
        first.save(snap, [make_record("hw-01").address])
    assert isinstance(refused.value.__cause__, StateLockedError)
    assert thief.read().resources[make_record("hw-01").address].applied["title"] != "late write"
    # what the LMS acknowledged is not lost: it waits in a recovery file for state push
    assert refused.value.recovery_file is not None
    kept = load_recovery(Path(refused.value.recovery_file))
    assert kept.resources[make_record("hw-01").address]["applied"]["title"] == "late write"


def test_history_keeps_the_last_versions_and_restore_makes_a_new_one(backend: Factory) -> None:
    from lmsctl.state.transfer import restore

    b = backend(keep_versions=3)
    snap = make_snapshot(make_record("hw-01"))
    serials = []
    for n in range(5):  # five runs, each writing a different title
        with locked(b, f"lmsctl apply #{n}"):
            snap = b.read() if n else snap
            snap.resources[make_record("hw-01").address].applied["title"] = f"v{n}"
            if n == 3:
                snap.resources[make_record("hw-02").address] = make_record("hw-02")
            b.save(snap, [make_record("hw-01").address, make_record("hw-02").address])
            b.save(snap, [make_record("hw-01").address])
            serials.append(snap.serial)
    versions = b.history()
    assert [v["serial"] for v in versions] == serials[:1:-1]  # newest first, three kept
    assert versions[0]["command"] == "lmsctl apply #4" and versions[0]["user"]
    with pytest.raises(StateError, match="keeps no version"):
        b.version(serials[0])
    done = restore(b, serials[2])
    assert done.changed == 2  # hw-01's title, and hw-02 which did not exist yet
    now = b.read()
    assert now.serial == serials[-1] + 1
    assert now.resources[make_record("hw-01").address].applied["title"] == "v2"
    assert make_record("hw-02").address not in now.resources
    assert b.history()[0]["serial"] == now.serial  # the restore is itself a version


def test_the_password_never_reaches_errors_state_or_lock_records(
    pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    secret = "Pw-9f8e7d-never-shown"
    params = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    params["password"] = secret  # the test server trusts local connections: ignored
    dsn = psycopg.conninfo.make_conninfo(**params)
    b = PostgresBackend(dsn, workspace="north", schema=pg_schema)
    with locked(b, "lmsctl apply"):
        b.write(make_snapshot(make_record("hw-01")))
        assert secret not in repr(b) and secret not in b.description
        with psycopg.connect(pg_dsn) as conn:
            dump = json.dumps(
                [
                    conn.execute(f'SELECT * FROM "{pg_schema}".{t}').fetchall()
                    for t in ("workspaces", "resources", "versions", "locks")
                ],
                default=str,
            )
        assert secret not in dump
    b.close()
    dead = dsn.replace(f"port={params.get('port', '5432')}", "port=1")
    if "port=1" not in dead:
        dead += " port=1"
    with pytest.raises(StateError) as err:
        PostgresBackend(dead, workspace="north", schema=pg_schema).read()
    text = str(err.value)
    assert secret not in text
    assert f"database {params.get('dbname')}" in text and "cannot connect" in text
    assert "\n" not in err.value.message


def test_status_shows_no_lock_once_its_holder_is_gone(
    backend: Factory, pg_dsn: str, pg_schema: str
) -> None:
    child, lock_id = _child_holding_the_lock(pg_dsn, pg_schema)
    try:
        held = backend().current_lock()
        assert held is not None and held.id == lock_id
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 10
        while backend().current_lock() is not None:
            assert time.monotonic() < deadline, "the dead holder's lock is still shown"
            time.sleep(0.05)
    finally:
        child.kill()
        child.communicate()  # waits, and closes its stdout
