"""The PostgreSQL state backend's session: its connections, error translation and the
encoding of its rows (in clear, or sealed under the state key).

:class:`PgSession` is the base the backend's writes (:mod:`lmsctl.state.pg_writes`) and locks
(:mod:`lmsctl.state.pg_locks`) build on; :mod:`lmsctl.state.postgres` puts them together.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lmsctl.errors import ConfigError, StateError, StateSaveError
from lmsctl.state import crypto, recovery
from lmsctl.state.backend import LockInfo
from lmsctl.state.dsn import DSN_ENV, describe_target, scrub
from lmsctl.state.model import StateSnapshot
from lmsctl.state.pg_schema import (
    SCHEMA_VERSION,
    advisory_key,
    create_tables,
    dumps,
    stored_version,
    table_names,
)

#: How many versions (runs that wrote) of each workspace the history keeps by default.
DEFAULT_KEEP_VERSIONS = 20
CONNECT_TIMEOUT = 10

_SESSION_SETTINGS = (
    "SET idle_session_timeout = 0",
    "SET tcp_keepalives_idle = 30",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
)


class PgConnectError(StateError):
    """The database cannot be reached (at start, or again after the connection was lost)."""


class PgSession:
    """One workspace's connection to the state database, and how its rows are encoded."""

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
        privacy: str | None = None,
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
        self._keeper = recovery.RecoveryKeeper(
            recovery_dir, self.identity, self.keys, privacy=privacy
        )
        self._key = advisory_key(schema, workspace)
        self._t = table_names(schema)

    @property
    def _writer_id(self) -> str:
        """The id this run's versions are filed under (its lock's, or its own without one):
        a recovery file names it, so state push can tell this run's landed save from
        another's."""
        return self._lock.id if self._lock is not None else self._run_id

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
            raise PgConnectError(
                f"cannot connect to the state database on {self.host} (database "
                f"{self.database}): {scrub(str(exc), self._dsn)}",
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
            f"{doing}: {scrub(str(exc), self._dsn)}"
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
                f"{doing}: {scrub(str(exc), self._dsn)}"
            ) from None

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Create the tables on first use (idempotent, safe when many runs start at once)."""
        with self._errors("reading the schema version"):
            version = stored_version(conn, self.schema, self._t)
            if version == SCHEMA_VERSION:
                return
            if version is not None and version > SCHEMA_VERSION:
                raise StateError(
                    f"the state tables in schema {self.schema!r} on {self.host} have version "
                    f"{version}, newer than this lmsctl knows ({SCHEMA_VERSION})",
                    hint="upgrade lmsctl; an older one must not write newer tables",
                )
        with self._errors("creating the state tables"), conn.transaction():
            create_tables(conn, self.schema, self._t)

    def _stored_head(self, conn: psycopg.Connection[Any]) -> StateSnapshot | None:
        row = conn.execute(
            sql.SQL("SELECT lineage, serial FROM {workspaces} WHERE name = %s").format(**self._t),
            [self.workspace],
        ).fetchone()
        if row is None:
            return None
        return StateSnapshot(lineage=row[0], serial=row[1], api_url=None, district_id=None)

    # -- encryption ----------------------------------------------------------------------------

    def _record_aad(self, address: str) -> bytes:
        return crypto.aad("pg-record", self.workspace, address)

    def _head_aad(self) -> bytes:
        return crypto.aad("pg-header", self.workspace)

    def _seal_record(self, address: str, data: dict[str, Any]) -> str:
        """A record as the jsonb column holds it: in clear, or ``{"encrypted": envelope}``."""
        if not self.keys.encrypting:
            return dumps(data)
        plain = dumps(data).encode()
        return dumps({crypto.FIELD: self.keys.seal(plain, self._record_aad(address))})

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
        plain = dumps({"api_url": snapshot.api_url, "district_id": snapshot.district_id})
        envelope = self.keys.seal(plain.encode(), self._head_aad())
        return {"api_url": dumps(envelope), "district_id": None}

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
