"""The PostgreSQL state backend's writes: compare-and-swap saves, each in one transaction.

Saving after an API call writes the changed record(s) and bumps the workspace's serial in one
transaction whose ``UPDATE ... WHERE serial = <expected>`` is a compare-and-swap: a writer that
has fallen behind (another run wrote, or its lock was broken by hand) writes nothing and stops.
What the LMS acknowledged but the database could not store is kept in a recovery file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from lmsctl.errors import StateError, StateLockedError, StateSaveError
from lmsctl.state.backend import LockInfo, check_can_write
from lmsctl.state.dsn import scrub
from lmsctl.state.files import display
from lmsctl.state.model import FORMAT_VERSION, StateSnapshot
from lmsctl.state.pg_schema import dumps
from lmsctl.state.pg_session import PgConnectError, PgSession


class PgWrites(PgSession):
    """Saves of a workspace's records: one record per API call, or the whole snapshot."""

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
        except PgConnectError as exc:
            if not self._connected_once:
                raise
            self._keep_and_raise(snapshot, addresses, exc.message)
        except psycopg.OperationalError as exc:
            self._keep_and_raise(
                snapshot,
                addresses,
                f"lost the state database on {self.host} (database {self.database}): "
                f"{scrub(str(exc), self._dsn)}",
            )
        except psycopg.Error as exc:
            self._keep_and_raise(
                snapshot,
                addresses,
                f"the state database on {self.host} (database {self.database}) refused a "
                f"save: {scrub(str(exc), self._dsn)}",
            )

    def _keep_and_raise(
        self,
        snapshot: StateSnapshot,
        addresses: list[str],
        why: str,
        *,
        refused: StateError | None = None,
    ) -> None:
        # if the failed save did reach the database, push tells the version ahead of the file
        # is this run's own by the id its versions are filed under
        path = self._keeper.keep(snapshot, addresses, run_id=self._writer_id)
        if path is not None:
            shown = display(path)
            root = display(path.parent.parent)
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
            self._write_records(conn, snapshot, addresses, new_serial)
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
                    "run": self._writer_id,
                    "s": new_serial,
                    "lineage": snapshot.lineage,
                    **self._sealed_head(snapshot),
                    "holder": dumps(_holder_dict(holder)),
                },
            )
        snapshot.serial = new_serial

    def _write_records(
        self,
        conn: psycopg.Connection[Any],
        snapshot: StateSnapshot,
        addresses: list[str],
        new_serial: int,
    ) -> None:
        """Write (or delete) each record, logging its value before for the history."""
        t = self._t
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
                "run": self._writer_id,
                "holder": dumps(_holder_dict(holder)),
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


def _lock_check(lock_id: str | None) -> str:
    """The compare-and-swap clause that the writer still holds lock ``%(lock)s``, if it locked.

    Appended to a ``WHERE`` on the workspace row; empty for a writer that holds no lock.
    """
    if lock_id is None:
        return ""
    return " AND EXISTS (SELECT 1 FROM {locks} WHERE workspace = %(ws)s AND info->>'id' = %(lock)s)"


def _holder_dict(info: LockInfo) -> dict[str, Any]:
    data = info.to_dict()
    data.pop("replaced", None)
    return data
