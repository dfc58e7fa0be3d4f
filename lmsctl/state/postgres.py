"""The PostgreSQL state backend: state shared by a team and by CI runners.

Many workspaces (districts, roots) share one database; each has its own rows in the tables
lmsctl creates on first use, in a schema of its own (``lmsctl`` by default)::

    meta        key/value: schema_version (so a later lmsctl can migrate the tables)
    workspaces  one row per workspace: lineage, serial, api_url, district_id
    resources   one row per managed assignment (its record as jsonb, with its grades)
    changes     undo log: per serial, each record's value before that save (for history)
    versions    one row per run that wrote: its last serial, who, when (the history)
    locks       the lock record of the run holding a workspace: user, host, pid, command,
                since, CI run, and the database session holding the advisory lock

Saving after an API call writes the changed record(s) and bumps the workspace's serial in one
transaction whose ``UPDATE ... WHERE serial = <expected>`` is a compare-and-swap: a writer that
has fallen behind (another run wrote, or its lock was broken by hand) writes nothing and stops.

Locking: ``pg_try_advisory_lock`` (session level) on a connection of its own, held for the
whole plan/apply. When the holder dies (runner killed, connection lost) PostgreSQL ends its
session and the lock is free at once; the lock record it left is reported as taken over.
``force_unlock`` ends the holder's database session (from any host), then removes the record.
Session advisory locks need a direct connection (or PgBouncer in session mode), not a
transaction-mode pooler.

The connection comes from ``LMSCTL_PG_DSN`` (a libpq URI or key=value string), else libpq's
own ``PG*`` variables (PGHOST, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE, ~/.pgpass...). The
password is never shown: messages name the host and database only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lmsctl.errors import ConfigError, StateError, StateLockedError, StateSaveError
from lmsctl.state import crypto, recovery
from lmsctl.state.backend import LockInfo, check_can_write, wait_for_lock
from lmsctl.state.dsn import DSN_ENV, describe_target, scrub
from lmsctl.state.model import FORMAT_VERSION, ResourceRecord, StateSnapshot

#: The version of the tables this lmsctl creates and reads.
SCHEMA_VERSION = 1
#: How many versions (runs that wrote) of each workspace the history keeps by default.
DEFAULT_KEEP_VERSIONS = 20
CONNECT_TIMEOUT = 10


def _advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    digest = hashlib.sha256("\0".join(("lmsctl", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _scrub(text: str, dsn: str) -> str:
    return scrub(text, dsn)


_SESSION_SETTINGS = (
    "SET idle_session_timeout = 0",
    "SET tcp_keepalives_idle = 30",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
)


class _ConnectError(StateError):
    """The database cannot be reached (at start, or again after the connection was lost)."""


class PostgresBackend:
    """State in PostgreSQL: one row per resource, compare-and-swap saves, advisory locks."""

    def __init__(
        self,
        dsn: str,
        *,
        workspace: str,
        schema: str = "lmsctl",
        keep_versions: int = DEFAULT_KEEP_VERSIONS,
        recovery_dir: Path | None = None,
        connect_timeout: int = CONNECT_TIMEOUT,
        keys: crypto.StateKeys | None = None,
    ) -> None:
        try:
            conninfo_to_dict(dsn)
        except psycopg.Error:
            raise ConfigError(
                f"{DSN_ENV} is not a valid PostgreSQL connection string",
                hint="use a URI such as postgresql://user@host/dbname or key=value pairs "
                "such as 'host=db dbname=lmsctl user=ci'",
            ) from None
        self._dsn = dsn
        self.workspace = workspace
        self.schema = schema
        self.keep_versions = max(1, keep_versions)
        self.recovery_dir = recovery_dir
        self.connect_timeout = connect_timeout
        self.host, self.database = describe_target(dsn)
        self._conn: psycopg.Connection[Any] | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._lock: LockInfo | None = None
        self._run_id = str(uuid.uuid4())
        self._broken: StateSaveError | None = None
        self._connected_once = False
        #: refuse the lock while a recovery file for this state waits (off for state push)
        self.check_recovery = True
        self.identity = f"postgres {self.host}/{self.database} {schema}.{workspace}"
        #: the encryption key(s); None: LMSCTL_STATE_KEY from the environment (unset: in clear)
        self.keys = keys if keys is not None else crypto.StateKeys.from_environment()
        self._keeper = recovery.RecoveryKeeper(recovery_dir, self.identity, self.keys)
        self._key = _advisory_key(schema, workspace)
        self._t = {
            name: sql.Identifier(schema, name)
            for name in ("meta", "workspaces", "resources", "changes", "versions", "locks")
        }

    def __repr__(self) -> str:
        return f"PostgresBackend({self.description!r})"

    @property
    def description(self) -> str:
        return f"postgres {self.host}/{self.database} workspace {self.workspace}"

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                application_name="lmsctl",
                # notice a database that vanished without closing the connection
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            raise _ConnectError(
                f"cannot connect to the state database on {self.host} (database "
                f"{self.database}): {_scrub(str(exc), self._dsn)}",
                hint=f"check {DSN_ENV} (or PGHOST/PGDATABASE/PGUSER) and that the server is up",
            ) from None
        for setting in _SESSION_SETTINGS:
            # a server-wide idle_session_timeout must not end the lock's session mid-run, and a
            # runner that vanishes without closing its connection must lose its session (and
            # the lock) within about a minute; old servers or sockets may not take them
            with contextlib.suppress(psycopg.Error):
                conn.execute(setting)
        return conn

    def _db(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._connected_once = True
            self._ensure_schema(self._conn)
        return self._conn

    def close(self) -> None:
        for conn in (self._conn, self._lock_conn):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._conn = self._lock_conn = None

    def _lost(self, exc: psycopg.Error, doing: str) -> StateError:
        return StateError(
            f"lost the state database on {self.host} (database {self.database}) while "
            f"{doing}: {_scrub(str(exc), self._dsn)}"
        )

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            raise self._lost(exc, doing) from None
        except psycopg.Error as exc:
            raise StateError(
                f"the state database on {self.host} (database {self.database}) refused "
                f"{doing}: {_scrub(str(exc), self._dsn)}"
            ) from None

    # -- tables --------------------------------------------------------------------------------

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Create the tables on first use (idempotent, safe when many runs start at once)."""
        t = self._t
        with self._errors("reading the schema version"):
            version = self._schema_version(conn)
            if version == SCHEMA_VERSION:
                return
            if version is not None and version > SCHEMA_VERSION:
                raise StateError(
                    f"the state tables in schema {self.schema!r} on {self.host} have version "
                    f"{version}, newer than this lmsctl knows ({SCHEMA_VERSION})",
                    hint="upgrade lmsctl; an older one must not write newer tables",
                )
        with self._errors("creating the state tables"), conn.transaction():
            # one creator at a time per schema, only while the tables are missing
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_key("schema", self.schema)])
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            statements = [
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
            ]
            for statement in statements:
                conn.execute(sql.SQL(statement).format(**t))
            conn.execute(
                sql.SQL(
                    "INSERT INTO {meta} (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ).format(**t),
                [str(SCHEMA_VERSION)],
            )

    def _schema_version(self, conn: psycopg.Connection[Any]) -> int | None:
        exists = conn.execute("SELECT to_regclass(%s)", [f'"{self.schema}".meta']).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute(
            sql.SQL("SELECT value FROM {meta} WHERE key = 'schema_version'").format(**self._t)
        ).fetchone()
        return int(row[0]) if row else None

    # -- state ---------------------------------------------------------------------------------

    def read(self) -> StateSnapshot:
        conn = self._db()
        t = self._t
        with self._errors("reading state"), conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = conn.execute(
                sql.SQL(
                    "SELECT lineage, serial, format_version, api_url, district_id "
                    "FROM {workspaces} WHERE name = %s"
                ).format(**t),
                [self.workspace],
            ).fetchone()
            if head is None:
                return StateSnapshot.empty()
            rows = conn.execute(
                sql.SQL("SELECT address, record FROM {resources} WHERE workspace = %s").format(**t),
                [self.workspace],
            ).fetchall()
        lineage, serial, version, api_url, district_id = head
        api_url, district_id = self._open_head(api_url, district_id)
        data = {
            "format_version": version,
            "lineage": lineage,
            "serial": serial,
            "api_url": api_url,
            "district_id": district_id,
            "resources": {a: self._open_record(a, r) for a, r in rows},
        }
        try:
            return StateSnapshot.from_dict(data)
        except StateError as exc:
            raise StateError(f"state in {self.description} is not valid: {exc.message}") from exc

    def _stored_head(self, conn: psycopg.Connection[Any]) -> StateSnapshot | None:
        row = conn.execute(
            sql.SQL("SELECT lineage, serial FROM {workspaces} WHERE name = %s").format(**self._t),
            [self.workspace],
        ).fetchone()
        if row is None:
            return None
        return StateSnapshot(lineage=row[0], serial=row[1], api_url=None, district_id=None)

    def write(self, snapshot: StateSnapshot, *, replace: bool = False) -> None:
        """Store the whole snapshot: only records that differ from the stored ones are written."""
        conn = self._db()
        with self._errors("reading state"):
            rows = conn.execute(
                sql.SQL("SELECT address, record FROM {resources} WHERE workspace = %s").format(
                    **self._t
                ),
                [self.workspace],
            ).fetchall()
        raw = dict(rows)
        stored = {a: self._open_record(a, r) for a, r in raw.items()}
        # a record in clear (or under another key) is written again under the current key
        changed = [
            a
            for a, r in snapshot.resources.items()
            if stored.get(a) != r.to_dict() or not self._is_current(raw[a])
        ]
        removed = [a for a in stored if a not in snapshot.resources]
        self._store(snapshot, [*changed, *removed], whole=replace)

    def replace(self, snapshot: StateSnapshot) -> None:
        """Store ``snapshot`` over whatever the workspace holds (another lineage too).

        For ``state migrate --force``: the caller holds the lock and set ``snapshot.serial``
        to the stored serial it read.
        """
        self.write(snapshot, replace=True)

    def save(self, snapshot: StateSnapshot, addresses: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(addresses))
        try:
            self._store(snapshot, wanted, whole=False)
        except StateSaveError:
            raise
        except StateError as exc:
            # refused (another run wrote, or the lock was freed by hand): what the LMS
            # acknowledged must still not be lost
            self._keep_and_raise(snapshot, wanted, exc.message, refused=exc)

    def _store(self, snapshot: StateSnapshot, addresses: list[str], *, whole: bool) -> None:
        if self._broken is not None:
            self._keep_and_raise(snapshot, addresses, self._broken.message)
        try:
            self._transaction(snapshot, addresses, whole=whole)
        except _ConnectError as exc:
            if not self._connected_once:
                raise
            self._keep_and_raise(snapshot, addresses, exc.message)
        except psycopg.OperationalError as exc:
            self._keep_and_raise(
                snapshot,
                addresses,
                f"lost the state database on {self.host} (database {self.database}): "
                f"{_scrub(str(exc), self._dsn)}",
            )
        except psycopg.Error as exc:
            self._keep_and_raise(
                snapshot,
                addresses,
                f"the state database on {self.host} (database {self.database}) refused a "
                f"save: {_scrub(str(exc), self._dsn)}",
            )

    def _keep_and_raise(
        self,
        snapshot: StateSnapshot,
        addresses: list[str],
        why: str,
        *,
        refused: StateError | None = None,
    ) -> None:
        path = self._keeper.keep(snapshot, addresses)
        if path is not None:
            shown = _display(path)
            root = _display(path.parent.parent)
            where = f" --root {root}" if root not in (".", "") else ""
            error = StateSaveError(
                f"{why}; nothing more is sent to the LMS. What the LMS acknowledged but state "
                f"could not store is kept in {shown}",
                hint=f"when the database is back: lmsctl state push {shown}{where}, then run "
                "again" + self._keeper.privacy_note(),
                recovery_file=str(path),
            )
        else:
            error = StateSaveError(f"{why}; nothing more is sent to the LMS")
        self._broken = StateSaveError(why)
        if refused is not None:
            raise error from refused
        raise error

    def _transaction(self, snapshot: StateSnapshot, addresses: list[str], *, whole: bool) -> None:
        conn = self._conn if self._conn is not None and not self._conn.closed else None
        if conn is None:
            conn = self._db()  # StateError (not OperationalError) if it cannot connect
        t = self._t
        new_serial = snapshot.serial + 1
        if (
            not whole
            and len(addresses) == 1
            and addresses[0] in snapshot.resources
            and self._one_statement_save(conn, snapshot, addresses[0], new_serial)
        ):
            snapshot.serial = new_serial
            return
        with conn.transaction():
            lock_id = self._lock.id if self._lock is not None else None
            updated = conn.execute(
                sql.SQL(
                    "UPDATE {workspaces} SET serial = %(new)s, lineage = %(lineage)s, "
                    "api_url = %(api_url)s, district_id = %(district_id)s, "
                    "format_version = %(fv)s, updated_at = now() "
                    "WHERE name = %(ws)s AND serial = %(expected)s "
                    "AND (lineage = %(lineage)s OR %(whole)s)" + _lock_check(lock_id)
                ).format(**t),
                self._head_params(snapshot, new_serial, whole, lock_id),
            ).rowcount
            if updated != 1:
                self._refuse(conn, snapshot, lock_id, new_serial)
            for address in addresses:
                record = snapshot.resources.get(address)
                if record is None:
                    conn.execute(
                        sql.SQL(
                            "WITH gone AS (DELETE FROM {resources} WHERE workspace = %(ws)s AND "
                            "address = %(a)s RETURNING record) INSERT INTO {changes} "
                            "(workspace, serial, address, before) "
                            "SELECT %(ws)s, %(s)s, %(a)s, record FROM gone "
                            "ON CONFLICT DO NOTHING"
                        ).format(**t),
                        {"ws": self.workspace, "a": address, "s": new_serial},
                    )
                else:
                    conn.execute(
                        sql.SQL(
                            "WITH old AS (SELECT record FROM {resources} WHERE workspace = "
                            "%(ws)s AND address = %(a)s), logged AS (INSERT INTO {changes} "
                            "(workspace, serial, address, before) VALUES (%(ws)s, %(s)s, %(a)s, "
                            "(SELECT record FROM old)) ON CONFLICT DO NOTHING) "
                            "INSERT INTO {resources} (workspace, address, record, serial) "
                            "VALUES (%(ws)s, %(a)s, %(r)s::jsonb, %(s)s) "
                            "ON CONFLICT (workspace, address) DO UPDATE "
                            "SET record = EXCLUDED.record, serial = EXCLUDED.serial"
                        ).format(**t),
                        {
                            "ws": self.workspace,
                            "a": address,
                            "s": new_serial,
                            "r": self._seal_record(address, record.to_dict()),
                        },
                    )
            holder = self._lock or LockInfo.new("lmsctl")
            conn.execute(
                sql.SQL(
                    "INSERT INTO {versions} (workspace, run_id, serial, lineage, api_url, "
                    "district_id, saved_at, holder) VALUES (%(ws)s, %(run)s, %(s)s, %(lineage)s, "
                    "%(api_url)s, %(district_id)s, now(), %(holder)s::jsonb) "
                    "ON CONFLICT (workspace, run_id) DO UPDATE SET serial = EXCLUDED.serial, "
                    "lineage = EXCLUDED.lineage, api_url = EXCLUDED.api_url, "
                    "district_id = EXCLUDED.district_id, saved_at = EXCLUDED.saved_at"
                ).format(**t),
                {
                    "ws": self.workspace,
                    "run": self._lock.id if self._lock is not None else self._run_id,
                    "s": new_serial,
                    "lineage": snapshot.lineage,
                    **self._sealed_head(snapshot),
                    "holder": _dumps(_holder_dict(holder)),
                },
            )
        snapshot.serial = new_serial

    def _one_statement_save(
        self, conn: psycopg.Connection[Any], snapshot: StateSnapshot, address: str, new: int
    ) -> bool:
        """The common save (one record after one API call) as one statement: one round trip.

        Every write hangs off the compare-and-swap ``UPDATE`` (``FROM head``): when it matches
        nothing, nothing is written and False sends the caller down the general path, which
        creates the workspace or says why it cannot write.
        """
        record = snapshot.resources[address]
        lock_id = self._lock.id if self._lock is not None else None
        statement = sql.SQL(
            "WITH head AS (UPDATE {workspaces} SET serial = %(new)s, api_url = %(api_url)s, "
            "district_id = %(district_id)s, updated_at = now() WHERE name = %(ws)s "
            "AND serial = %(expected)s AND lineage = %(lineage)s"
            + _lock_check(lock_id)
            + " RETURNING 1), "
            "old AS (SELECT record FROM {resources} WHERE workspace = %(ws)s AND address = %(a)s), "
            "logged AS (INSERT INTO {changes} (workspace, serial, address, before) "
            "SELECT %(ws)s, %(new)s, %(a)s, (SELECT record FROM old) FROM head "
            "ON CONFLICT DO NOTHING), "
            "up AS (INSERT INTO {resources} (workspace, address, record, serial) "
            "SELECT %(ws)s, %(a)s, %(r)s::jsonb, %(new)s FROM head "
            "ON CONFLICT (workspace, address) DO UPDATE "
            "SET record = EXCLUDED.record, serial = EXCLUDED.serial), "
            "ver AS (INSERT INTO {versions} (workspace, run_id, serial, lineage, api_url, "
            "district_id, saved_at, holder) SELECT %(ws)s, %(run)s, %(new)s, %(lineage)s, "
            "%(api_url)s, %(district_id)s, now(), %(holder)s::jsonb FROM head "
            "ON CONFLICT (workspace, run_id) DO UPDATE SET serial = EXCLUDED.serial, "
            "api_url = EXCLUDED.api_url, district_id = EXCLUDED.district_id, "
            "saved_at = EXCLUDED.saved_at) "
            "SELECT count(*) FROM head"
        ).format(**self._t)
        holder = self._lock or LockInfo.new("lmsctl")
        row = conn.execute(
            statement,
            {
                "ws": self.workspace,
                "new": new,
                "expected": snapshot.serial,
                "lineage": snapshot.lineage,
                **self._sealed_head(snapshot),
                "lock": lock_id,
                "a": address,
                "r": self._seal_record(address, record.to_dict()),
                "run": lock_id or self._run_id,
                "holder": _dumps(_holder_dict(holder)),
            },
        ).fetchone()
        return bool(row and row[0] == 1)

    def _head_params(
        self, snapshot: StateSnapshot, new_serial: int, whole: bool, lock_id: str | None
    ) -> dict[str, Any]:
        return {
            "ws": self.workspace,
            "new": new_serial,
            "expected": snapshot.serial,
            "lineage": snapshot.lineage,
            **self._sealed_head(snapshot),
            "fv": FORMAT_VERSION,
            "whole": whole,
            "lock": lock_id,
        }

    def _refuse(
        self,
        conn: psycopg.Connection[Any],
        snapshot: StateSnapshot,
        lock_id: str | None,
        new_serial: int,
    ) -> None:
        """The compare-and-swap matched nothing: create the workspace, or say why not."""
        stored = self._stored_head(conn)
        if stored is None:
            inserted = conn.execute(
                sql.SQL(
                    "INSERT INTO {workspaces} (name, lineage, serial, format_version, api_url, "
                    "district_id) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING"
                ).format(**self._t),
                [
                    self.workspace,
                    snapshot.lineage,
                    new_serial,
                    FORMAT_VERSION,
                    *self._sealed_head(snapshot).values(),
                ],
            ).rowcount
            if inserted == 1:
                return
            stored = self._stored_head(conn)
        if lock_id is not None:
            row = conn.execute(
                sql.SQL("SELECT info FROM {locks} WHERE workspace = %s").format(**self._t),
                [self.workspace],
            ).fetchone()
            if row is None or row[0].get("id") != lock_id:
                now = f" ({LockInfo.from_dict(row[0]).describe()})" if row else ""
                raise StateLockedError(
                    f"this run no longer holds the lock of {self.description}: it was "
                    f"released by hand{now}; nothing was written"
                )
        check_can_write(stored, snapshot, self.description)
        raise StateError(
            f"{self.description} is at serial {stored.serial if stored else 0}, not "
            f"{snapshot.serial} as this run expected; nothing was written",
            hint="another run wrote meanwhile: run plan again",
        )

    # -- encryption ----------------------------------------------------------------------------

    def _record_aad(self, address: str) -> bytes:
        return crypto.aad("pg-record", self.workspace, address)

    def _head_aad(self) -> bytes:
        return crypto.aad("pg-header", self.workspace)

    def _seal_record(self, address: str, data: dict[str, Any]) -> str:
        """A record as the jsonb column holds it: in clear, or ``{"encrypted": envelope}``."""
        if not self.keys.encrypting:
            return _dumps(data)
        plain = _dumps(data).encode()
        return _dumps({crypto.FIELD: self.keys.seal(plain, self._record_aad(address))})

    def _open_record(self, address: str, value: Any) -> Any:
        if not isinstance(value, dict) or crypto.FIELD not in value:
            return value
        where = f"state record {address!r} in {self.description}"
        plain = self.keys.open(value[crypto.FIELD], self._record_aad(address), where)
        try:
            return json.loads(plain)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{where} holds no JSON once decrypted") from exc

    def _is_current(self, value: Any) -> bool:
        if isinstance(value, dict) and crypto.FIELD in value:
            return self.keys.is_current(value[crypto.FIELD])
        return not self.keys.encrypting

    def _sealed_head(self, snapshot: StateSnapshot) -> dict[str, str | None]:
        """api_url and district_id as the columns hold them: when encrypted, both sealed in
        ``api_url`` (an envelope as JSON text) and ``district_id`` NULL."""
        if not self.keys.encrypting:
            return {"api_url": snapshot.api_url, "district_id": snapshot.district_id}
        plain = _dumps({"api_url": snapshot.api_url, "district_id": snapshot.district_id})
        envelope = self.keys.seal(plain.encode(), self._head_aad())
        return {"api_url": _dumps(envelope), "district_id": None}

    def _open_head(self, api_url: Any, district_id: Any) -> tuple[str | None, str | None]:
        if not (isinstance(api_url, str) and api_url.startswith('{"alg":')):
            return api_url, district_id
        where = f"the state header of {self.description}"
        try:
            envelope = json.loads(api_url)
        except json.JSONDecodeError:
            return api_url, district_id
        plain = self.keys.open(envelope, self._head_aad(), where)
        try:
            data = json.loads(plain)
            return data.get("api_url"), data.get("district_id")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            raise StateError(f"{where} holds no JSON once decrypted") from exc

    def rekey(self, keys: crypto.StateKeys) -> list[str]:
        """Re-encrypt every record, the header, the undo log and the history under ``keys``.

        One transaction: a crash leaves the workspace as it was, or all of it re-encrypted.
        ``self.keys`` must read what is stored now (old key, new key, or in clear); the caller
        holds the lock. The serial is unchanged (the content is). Returns what was rewritten.
        """
        conn = self._db()
        reader = self.keys
        done: list[str] = []
        try:
            with self._errors("re-encrypting state"), conn.transaction():
                self._rekey_rows(conn, keys, done)
        except BaseException:
            self.keys = reader  # nothing was committed: the rows are as they were
            raise
        self.keys = keys
        self._keeper.keys = keys
        if self.recovery_dir is not None:
            done.extend(
                str(p)
                for p in recovery.rekey_recovery_files(
                    self.recovery_dir, self.identity, reader, keys
                )
            )
        return done

    def _rekey_rows(
        self, conn: psycopg.Connection[Any], keys: crypto.StateKeys, done: list[str]
    ) -> None:
        t = self._t
        head = conn.execute(
            sql.SQL("SELECT api_url, district_id FROM {workspaces} WHERE name = %s").format(**t),
            [self.workspace],
        ).fetchone()
        if head is None:
            return
        api_url, district_id = self._open_head(*head)
        rows = conn.execute(
            sql.SQL("SELECT address, record FROM {resources} WHERE workspace = %s").format(**t),
            [self.workspace],
        ).fetchall()
        befores = conn.execute(
            sql.SQL(
                "SELECT serial, address, before FROM {changes} WHERE workspace = %s "
                "AND before IS NOT NULL"
            ).format(**t),
            [self.workspace],
        ).fetchall()
        versions = conn.execute(
            sql.SQL(
                "SELECT run_id, api_url, district_id FROM {versions} WHERE workspace = %s"
            ).format(**t),
            [self.workspace],
        ).fetchall()
        # everything is read (and checked) with the old keys before anything is written
        opened_records = [(a, self._open_record(a, r)) for a, r in rows]
        opened_befores = [(s, a, self._open_record(a, b)) for s, a, b in befores]
        opened_versions = [(run, *self._open_head(u, d)) for run, u, d in versions]
        self.keys = keys
        head_now = StateSnapshot(lineage="", serial=0, api_url=api_url, district_id=district_id)
        conn.execute(
            sql.SQL(
                "UPDATE {workspaces} SET api_url = %(api_url)s, district_id = %(district_id)s "
                "WHERE name = %(ws)s"
            ).format(**t),
            {"ws": self.workspace, **self._sealed_head(head_now)},
        )
        done.append("header")
        for address, data in opened_records:
            conn.execute(
                sql.SQL(
                    "UPDATE {resources} SET record = %s::jsonb "
                    "WHERE workspace = %s AND address = %s"
                ).format(**t),
                [self._seal_record(address, data), self.workspace, address],
            )
            done.append(address)
        for serial, address, data in opened_befores:
            conn.execute(
                sql.SQL(
                    "UPDATE {changes} SET before = %s::jsonb WHERE workspace = %s "
                    "AND serial = %s AND address = %s"
                ).format(**t),
                [self._seal_record(address, data), self.workspace, serial, address],
            )
        for run, v_api_url, v_district in opened_versions:
            kept = StateSnapshot(lineage="", serial=0, api_url=v_api_url, district_id=v_district)
            conn.execute(
                sql.SQL(
                    "UPDATE {versions} SET api_url = %(api_url)s, district_id = %(district_id)s "
                    "WHERE workspace = %(ws)s AND run_id = %(run)s"
                ).format(**t),
                {"ws": self.workspace, "run": run, **self._sealed_head(kept)},
            )

    # -- lock ----------------------------------------------------------------------------------

    def lock(self, command: str, timeout: float = 0.0) -> LockInfo:
        if self.check_recovery and self.recovery_dir is not None:
            recovery.refuse_pending(self.recovery_dir, self.identity)
        self._db()
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = self._connect()
        conn = self._lock_conn

        def try_once() -> LockInfo | None:
            with self._errors("taking the state lock"):
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", [self._key]).fetchone()
                if not got or not got[0]:
                    return None
                with conn.transaction():
                    row = conn.execute(
                        sql.SQL("SELECT info FROM {locks} WHERE workspace = %s").format(**self._t),
                        [self.workspace],
                    ).fetchone()
                    replaced = None
                    if row is not None:
                        with contextlib.suppress(StateError):
                            replaced = LockInfo.from_dict(row[0])
                    info = LockInfo.new(command, replaced=replaced)
                    conn.execute(
                        sql.SQL(
                            "INSERT INTO {locks} (workspace, info, backend_pid, since) "
                            "VALUES (%s, %s::jsonb, pg_backend_pid(), now()) "
                            "ON CONFLICT (workspace) DO UPDATE SET info = EXCLUDED.info, "
                            "backend_pid = EXCLUDED.backend_pid, since = EXCLUDED.since"
                        ).format(**self._t),
                        [self.workspace, _dumps(_lock_record(info))],
                    )
            self._lock = info
            return info

        return wait_for_lock(try_once, self._holder_message, timeout)

    def _holder_message(self) -> str:
        held = self.current_lock()
        if held is not None:
            return held.describe()
        return f"{self.description} is locked by another session that has not said who it is yet"

    def current_lock(self) -> LockInfo | None:
        """The holder's lock record, or None when no session holds the workspace's lock.

        A record whose session is gone (its run was killed) is not a lock any more: the next
        run takes it over, and says so.
        """
        conn = self._db()
        with self._errors("reading the state lock"):
            row = conn.execute(
                sql.SQL(
                    "SELECT l.info, EXISTS (SELECT 1 FROM pg_locks p WHERE "
                    "p.locktype = 'advisory' AND p.granted AND p.objsubid = 1 "
                    "AND p.classid::bigint = %s AND p.objid::bigint = %s) "
                    "FROM {locks} l WHERE l.workspace = %s"
                ).format(**self._t),
                [(self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF, self.workspace],
            ).fetchone()
        if row is None or not row[1]:
            return None
        return LockInfo.from_dict(row[0])

    def unlock(self, lock_id: str) -> None:
        conn = self._lock_conn
        if self._lock is None or self._lock.id != lock_id or conn is None or conn.closed:
            self._lock = None
            return
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("DELETE FROM {locks} WHERE workspace = %s AND info->>'id' = %s").format(
                        **self._t
                    ),
                    [self.workspace, lock_id],
                )
                self._prune(conn)
            conn.execute("SELECT pg_advisory_unlock(%s)", [self._key])
        except psycopg.Error:
            # the session is gone, and PostgreSQL freed its advisory lock with it
            with contextlib.suppress(Exception):
                conn.close()
        finally:
            self._lock = None

    def _prune(self, conn: psycopg.Connection[Any]) -> None:
        """Keep the last ``keep_versions`` versions, and the undo log they need."""
        t = self._t
        row = conn.execute(
            sql.SQL(
                "SELECT serial FROM {versions} WHERE workspace = %s ORDER BY serial DESC "
                "OFFSET %s LIMIT 1"
            ).format(**t),
            [self.workspace, self.keep_versions - 1],
        ).fetchone()
        if row is None:
            return
        oldest = row[0]
        conn.execute(
            sql.SQL("DELETE FROM {versions} WHERE workspace = %s AND serial < %s").format(**t),
            [self.workspace, oldest],
        )
        conn.execute(
            sql.SQL("DELETE FROM {changes} WHERE workspace = %s AND serial <= %s").format(**t),
            [self.workspace, oldest],
        )

    def force_unlock(self, lock_id: str) -> None:
        conn = self._db()
        with self._errors("releasing the state lock"):
            row = conn.execute(
                sql.SQL("SELECT info, backend_pid FROM {locks} WHERE workspace = %s").format(
                    **self._t
                ),
                [self.workspace],
            ).fetchone()
            if row is None:
                raise StateError(f"{self.description} is not locked; nothing to unlock")
            held = LockInfo.from_dict(row[0])
            if held.id != lock_id:
                raise StateError(f"the lock id is {held.id}, not {lock_id}", hint=held.describe())
            pid = int(row[1])
            # end the holder's session wherever it runs: that frees its advisory lock
            alive = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = %s)",
                [pid],
            ).fetchone()
            if alive and alive[0] and pid != self._session_pid(conn):
                try:
                    conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                except psycopg.errors.InsufficientPrivilege:
                    raise StateError(
                        f"cannot end the database session (pid {pid}) holding the lock",
                        hint="connect as the same database user as the holder, or as one "
                        "with pg_signal_backend",
                    ) from None
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    gone = conn.execute(
                        "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", [pid]
                    ).fetchone()
                    if gone and gone[0]:
                        break
                    time.sleep(0.05)
            conn.execute(
                sql.SQL("DELETE FROM {locks} WHERE workspace = %s AND info->>'id' = %s").format(
                    **self._t
                ),
                [self.workspace, lock_id],
            )

    @staticmethod
    def _session_pid(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        return int(row[0]) if row else 0

    # -- history -------------------------------------------------------------------------------

    def history(self) -> list[dict[str, Any]]:
        """The kept versions, newest first: serial, saved_at, holder."""
        conn = self._db()
        with self._errors("reading the history"):
            rows = conn.execute(
                sql.SQL(
                    "SELECT serial, lineage, saved_at, holder FROM {versions} "
                    "WHERE workspace = %s ORDER BY serial DESC LIMIT %s"
                ).format(**self._t),
                [self.workspace, self.keep_versions],
            ).fetchall()
        out = []
        for serial, lineage, saved_at, holder in rows:
            out.append(
                {
                    "serial": int(serial),
                    "lineage": lineage,
                    "saved_at": saved_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    **{k: holder.get(k) for k in ("user", "host", "command", "ci_run")},
                }
            )
        return out

    def version(self, serial: int) -> StateSnapshot:
        """The state as it was at the end of the kept version ``serial``."""
        current = self.read()
        conn = self._db()
        t = self._t
        with self._errors("reading the history"), conn.transaction():
            row = conn.execute(
                sql.SQL(
                    "SELECT lineage, api_url, district_id FROM {versions} WHERE workspace = %s "
                    "AND serial = %s"
                ).format(**t),
                [self.workspace, serial],
            ).fetchone()
            if row is None:
                kept = ", ".join(str(v["serial"]) for v in self.history()) or "none"
                raise StateError(
                    f"{self.description} keeps no version {serial}",
                    hint=f"versions kept: {kept} (lmsctl state history lists them)",
                )
            befores = conn.execute(
                sql.SQL(
                    "SELECT DISTINCT ON (address) address, before FROM {changes} "
                    "WHERE workspace = %s AND serial > %s ORDER BY address, serial ASC"
                ).format(**t),
                [self.workspace, serial],
            ).fetchall()
        old = current.copy()
        old.lineage = row[0]
        old.api_url, old.district_id = self._open_head(row[1], row[2])
        for address, before in befores:
            if before is None:
                old.resources.pop(address, None)
            else:
                old.resources[address] = ResourceRecord.from_dict(
                    self._open_record(address, before)
                )
        return old


def _lock_check(lock_id: str | None) -> str:
    """The compare-and-swap clause that the writer still holds lock ``%(lock)s``, if it locked.

    Appended to a ``WHERE`` on the workspace row; empty for a writer that holds no lock.
    """
    if lock_id is None:
        return ""
    return " AND EXISTS (SELECT 1 FROM {locks} WHERE workspace = %(ws)s AND info->>'id' = %(lock)s)"


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _lock_record(info: LockInfo) -> dict[str, Any]:
    return info.to_dict()


def _holder_dict(info: LockInfo) -> dict[str, Any]:
    data = info.to_dict()
    data.pop("replaced", None)
    return data


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


__all__ = [
    "DEFAULT_KEEP_VERSIONS",
    "DSN_ENV",
    "SCHEMA_VERSION",
    "PostgresBackend",
]
