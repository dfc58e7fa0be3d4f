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

The work is split by concern: :mod:`lmsctl.state.pg_schema` (the tables),
:mod:`lmsctl.state.pg_session` (connections, errors, row encryption),
:mod:`lmsctl.state.pg_writes` (saves) and :mod:`lmsctl.state.pg_locks` (the lock); this module
puts them together with reads, the history and rekeying.

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

from datetime import UTC
from typing import Any

import psycopg
from psycopg import sql

from lmsctl.errors import StateError
from lmsctl.state import crypto, recovery
from lmsctl.state.model import ResourceRecord, StateSnapshot
from lmsctl.state.pg_locks import PgLocking
from lmsctl.state.pg_writes import PgWrites


class PostgresBackend(PgWrites, PgLocking):
    """State in PostgreSQL: one row per resource, compare-and-swap saves, advisory locks."""

    def __repr__(self) -> str:
        return f"PostgresBackend({self.description!r})"

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

    def writes_since(self, serial: int) -> recovery.LaterWrites:
        """Who wrote the versions after ``serial`` (run id -> its last serial), and which
        records they wrote or removed (for ``state push`` of a recovery file from ``serial``).

        A run's saves are one unbroken series (it holds the lock, and each save is a
        compare-and-swap that checks it), and a run's versions row keeps its last serial, so a
        run that wrote after ``serial`` has a row above it; pruning keeps the newest rows.
        """
        conn = self._db()
        t = self._t
        with self._errors("reading the history"), conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            runs = conn.execute(
                sql.SQL(
                    "SELECT run_id, serial FROM {versions} WHERE workspace = %s AND serial > %s"
                ).format(**t),
                [self.workspace, serial],
            ).fetchall()
            # a record written above the serial carries it; a removed one is in the undo log
            addresses = conn.execute(
                sql.SQL(
                    "SELECT address FROM {resources} WHERE workspace = %(ws)s AND serial > %(s)s "
                    "UNION SELECT address FROM {changes} WHERE workspace = %(ws)s "
                    "AND serial > %(s)s"
                ).format(**t),
                {"ws": self.workspace, "s": serial},
            ).fetchall()
        return recovery.LaterWrites(
            runs={str(run): int(last) for run, last in runs},
            addresses=frozenset(str(a) for (a,) in addresses),
        )

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


__all__ = ["PostgresBackend"]
