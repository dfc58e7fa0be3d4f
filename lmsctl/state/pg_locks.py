"""The PostgreSQL state backend's lock: a session advisory lock and the record of its holder.

``pg_try_advisory_lock`` (session level) on a connection of its own, held for the whole
plan/apply. When the holder dies (runner killed, connection lost) PostgreSQL ends its session
and the lock is free at once; the lock record it left is reported as taken over.
``force_unlock`` ends the holder's database session (from any host), then removes the record.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg
from psycopg import sql

from lmsctl.errors import StateError
from lmsctl.state import recovery
from lmsctl.state.backend import LockInfo, wait_for_lock
from lmsctl.state.pg_schema import dumps
from lmsctl.state.pg_session import PgSession

HOLDER_RECORD_WAIT = 2.0
"""Seconds to wait for a lock's new holder to write who it is, before saying it has not."""


class PgLocking(PgSession):
    """Taking, reading and releasing a workspace's lock, and pruning its history on release."""

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
                        [self.workspace, dumps(info.to_dict())],
                    )
            self._lock = info
            return info

        return wait_for_lock(try_once, self._holder_message, timeout)

    def _holder_message(self) -> str:
        # the holder writes its record just after it takes the lock: give it a moment to
        held = self.current_lock()
        deadline = time.monotonic() + HOLDER_RECORD_WAIT
        while held is None and time.monotonic() < deadline:
            time.sleep(0.05)
            held = self.current_lock()
        if held is not None:
            return held.describe()
        return f"{self.description} is locked by another session that has not said who it is yet"

    def current_lock(self) -> LockInfo | None:
        """The holder's lock record, or None when no session holds the workspace's lock.

        A record whose session is gone (its run was killed) is not a lock any more: the next
        run takes it over, and says so. Nor is it the holder's record when another session
        holds the lock and has not yet written its own.
        """
        conn = self._db()
        with self._errors("reading the state lock"):
            row = conn.execute(
                sql.SQL(
                    "SELECT l.info, EXISTS (SELECT 1 FROM pg_locks p WHERE "
                    "p.locktype = 'advisory' AND p.granted AND p.objsubid = 1 "
                    "AND p.classid::bigint = %s AND p.objid::bigint = %s "
                    "AND p.pid = l.backend_pid) "
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
