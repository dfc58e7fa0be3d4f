"""SQLite storage of the sandbox: districts, roster, assignments and submissions.

One connection guarded by a lock: every method is a short synchronous transaction, so the
requests of one event loop (and of a server thread) never interleave inside one. File
databases use WAL mode and survive restarts; ``path=None`` keeps everything in memory.
Roster and coursework objects are stored as the JSON the API answers with.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsctl.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS districts(
    id TEXT PRIMARY KEY, lms_type TEXT NOT NULL, lms_state TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(token TEXT PRIMARY KEY, district_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sections(
    id TEXT PRIMARY KEY, district_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
    id TEXT PRIMARY KEY, district_id TEXT NOT NULL, role TEXT NOT NULL,
    launched INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollments(
    section_id TEXT NOT NULL, role TEXT NOT NULL, user_id TEXT NOT NULL,
    PRIMARY KEY(section_id, role, user_id));
CREATE TABLE IF NOT EXISTS assignments(
    id TEXT PRIMARY KEY, section_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assignments_by_section ON assignments(section_id, seq);
CREATE TABLE IF NOT EXISTS submissions(
    assignment_id TEXT NOT NULL, user_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY(assignment_id, user_id));
"""
_TABLES = ("districts", "tokens", "sections", "users", "enrollments", "assignments", "submissions")


@dataclass(frozen=True)
class District:
    id: str
    lms_type: str
    lms_state: str
    data: dict[str, Any]


@dataclass(frozen=True)
class UserRecord:
    id: str
    district_id: str
    role: str
    launched: bool
    data: dict[str, Any]


class Store:
    """The sandbox's SQLite database."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path) if path is not None else ":memory:",
                check_same_thread=False,
                timeout=30,
                isolation_level=None,
            )
            if path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the sandbox database {path}: {exc}") from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- seeding -------------------------------------------------------------------------------

    def is_seeded(self) -> bool:
        return self.get_meta("seeded") is not None

    def load(
        self,
        districts: list[District],
        tokens: list[tuple[str, str]],
        sections: list[tuple[str, str, dict[str, Any]]],
        users: list[UserRecord],
        enrollments: list[tuple[str, str, str]],
        *,
        source: str,
    ) -> None:
        """Replace every roster and coursework row with the given roster (reset or first start)."""
        with self.transaction() as conn:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.executemany(
                "INSERT INTO districts VALUES (?, ?, ?, ?)",
                [(d.id, d.lms_type, d.lms_state, json.dumps(d.data)) for d in districts],
            )
            conn.executemany("INSERT INTO tokens VALUES (?, ?)", tokens)
            conn.executemany(
                "INSERT INTO sections VALUES (?, ?, ?)",
                [(sid, did, json.dumps(data)) for sid, did, data in sections],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, ?)",
                [(u.id, u.district_id, u.role, int(u.launched), json.dumps(u.data)) for u in users],
            )
            conn.executemany("INSERT OR IGNORE INTO enrollments VALUES (?, ?, ?)", enrollments)
            conn.execute("DELETE FROM meta WHERE key = 'clock_offset'")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (source,))

    # -- roster --------------------------------------------------------------------------------

    def district_tokens(self) -> list[tuple[str, str, list[str]]]:
        """(id, name, tokens) of each district the database holds, by id."""
        rows = self._all(
            "SELECT d.id, d.data, t.token FROM districts d "
            "LEFT JOIN tokens t ON t.district_id = d.id ORDER BY d.id, t.token"
        )
        found: dict[str, tuple[str, list[str]]] = {}
        for district_id, data, token in rows:
            _name, tokens = found.setdefault(district_id, (json.loads(data).get("name", ""), []))
            if token is not None:
                tokens.append(token)
        return [(d, name, tokens) for d, (name, tokens) in found.items()]

    def district_for_token(self, token: str) -> District | None:
        row = self._one(
            "SELECT d.id, d.lms_type, d.lms_state, d.data FROM tokens t "
            "JOIN districts d ON d.id = t.district_id WHERE t.token = ?",
            (token,),
        )
        return None if row is None else District(row[0], row[1], row[2], json.loads(row[3]))

    def get_section(self, section_id: str) -> tuple[str, dict[str, Any]] | None:
        row = self._one("SELECT district_id, data FROM sections WHERE id = ?", (section_id,))
        return None if row is None else (str(row[0]), json.loads(row[1]))

    def section_member_ids(self, section_id: str, role: str) -> list[str]:
        rows = self._all(
            "SELECT user_id FROM enrollments WHERE section_id = ? AND role = ? ORDER BY user_id",
            (section_id, role),
        )
        return [str(r[0]) for r in rows]

    def get_user(self, user_id: str) -> UserRecord | None:
        row = self._one(
            "SELECT id, district_id, role, launched, data FROM users WHERE id = ?", (user_id,)
        )
        if row is None:
            return None
        return UserRecord(row[0], row[1], row[2], bool(row[3]), json.loads(row[4]))

    def section_users(
        self,
        section_id: str,
        role: str | None,
        *,
        starting_after: str | None,
        ending_before: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of a section's users in ascending id order (Data API range paging)."""
        where = ["e.section_id = ?"]
        params: list[Any] = [section_id]
        if role is not None:
            where.append("e.role = ?")
            params.append(role)
        return self._range_page(
            "SELECT DISTINCT u.id, u.data FROM enrollments e JOIN users u ON u.id = e.user_id",
            "u.id",
            where,
            params,
            starting_after=starting_after,
            ending_before=ending_before,
            limit=limit,
        )

    def district_page(
        self,
        table: str,
        district_id: str,
        *,
        role: str | None = None,
        starting_after: str | None,
        ending_before: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of a district's sections or users, ascending ids (Data API range paging)."""
        if table not in ("sections", "users"):
            raise ValueError(f"not a district listing: {table}")
        where = ["district_id = ?"]
        params: list[Any] = [district_id]
        if role is not None and table == "users":
            where.append("role = ?")
            params.append(role)
        return self._range_page(
            f"SELECT data FROM {table}",
            "id",
            where,
            params,
            starting_after=starting_after,
            ending_before=ending_before,
            limit=limit,
        )

    def _range_page(
        self,
        select: str,
        id_column: str,
        where: list[str],
        params: list[Any],
        *,
        starting_after: str | None,
        ending_before: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One Data API range page of ``select`` (its last column the JSON data), ascending ids.

        ``ending_before`` alone pages backwards: the ``limit`` ids just below it, still
        returned in ascending order.
        """
        where = list(where)
        params = list(params)
        if starting_after is not None:
            where.append(f"{id_column} > ?")
            params.append(starting_after)
        if ending_before is not None:
            where.append(f"{id_column} < ?")
            params.append(ending_before)
        order = "DESC" if ending_before is not None and starting_after is None else "ASC"
        rows = self._all(
            f"{select} WHERE {' AND '.join(where)} ORDER BY {id_column} {order} LIMIT ?",
            [*params, limit],
        )
        page = [json.loads(r[-1]) for r in rows]
        return page[::-1] if order == "DESC" else page

    # -- assignments ---------------------------------------------------------------------------

    def insert_assignment(
        self, section_id: str, data: dict[str, Any], submissions: dict[str, dict[str, Any]]
    ) -> None:
        with self.transaction() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM assignments").fetchone()[0]
            conn.execute(
                "INSERT INTO assignments VALUES (?, ?, ?, ?)",
                (data["id"], section_id, seq, json.dumps(data)),
            )
            conn.executemany(
                "INSERT INTO submissions VALUES (?, ?, ?)",
                [(data["id"], uid, json.dumps(sub)) for uid, sub in submissions.items()],
            )

    def get_assignment(self, assignment_id: str) -> tuple[str, dict[str, Any]] | None:
        row = self._one("SELECT section_id, data FROM assignments WHERE id = ?", (assignment_id,))
        return None if row is None else (str(row[0]), json.loads(row[1]))

    def update_assignment(
        self,
        data: dict[str, Any],
        *,
        add: dict[str, dict[str, Any]],
        remove: Iterable[str],
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE assignments SET data = ? WHERE id = ?", (json.dumps(data), data["id"])
            )
            conn.executemany(
                "DELETE FROM submissions WHERE assignment_id = ? AND user_id = ?",
                [(data["id"], uid) for uid in remove],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO submissions VALUES (?, ?, ?)",
                [(data["id"], uid, json.dumps(sub)) for uid, sub in add.items()],
            )

    def delete_assignment(self, assignment_id: str) -> bool:
        with self.transaction() as conn:
            conn.execute("DELETE FROM submissions WHERE assignment_id = ?", (assignment_id,))
            cur = conn.execute("DELETE FROM assignments WHERE id = ?", (assignment_id,))
            return cur.rowcount > 0

    def section_assignments(self, section_id: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT data FROM assignments WHERE section_id = ? ORDER BY seq", (section_id,)
        )
        return [json.loads(r[0]) for r in rows]

    # -- submissions ---------------------------------------------------------------------------

    def submission_page(
        self, assignment_id: str, after_user: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` submissions ordered by user id, and whether more remain."""
        rows = self._all(
            "SELECT data FROM submissions WHERE assignment_id = ? AND user_id > ? "
            "ORDER BY user_id LIMIT ?",
            (assignment_id, after_user or "", limit + 1),
        )
        page = [json.loads(r[0]) for r in rows]
        return page[:limit], len(page) > limit

    def get_submission(self, assignment_id: str, user_id: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT data FROM submissions WHERE assignment_id = ? AND user_id = ?",
            (assignment_id, user_id),
        )
        return None if row is None else dict(json.loads(row[0]))

    def put_submission(self, assignment_id: str, user_id: str, data: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE submissions SET data = ? WHERE assignment_id = ? AND user_id = ?",
                (json.dumps(data), assignment_id, user_id),
            )
