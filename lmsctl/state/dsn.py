"""PostgreSQL connection strings: where they come from, and what may be shown of them.

The connection comes from ``LMSCTL_PG_DSN`` (a libpq URI or key=value string), else from
``state.dsn`` in lmsctl.yaml (which must not hold a password), else from libpq's own ``PG*``
variables. Messages name the host and the database only, never the password.
"""

from __future__ import annotations

import os

DSN_ENV = "LMSCTL_PG_DSN"


def dsn_from_environment(configured: str | None = None) -> str:
    """LMSCTL_PG_DSN, else the DSN from lmsctl.yaml, else '' (libpq reads PG* variables)."""
    return os.environ.get(DSN_ENV, "").strip() or (configured or "").strip()


def parse_dsn(dsn: str) -> dict[str, str]:
    """The DSN's parameters; ValueError when it is not a libpq connection string."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except Error:
        raise ValueError("not a libpq connection string") from None


def dsn_has_password(dsn: str) -> bool:
    """True when a connection string carries a password (URI ``user:pass@`` or password=)."""
    try:
        return bool(parse_dsn(dsn).get("password"))
    except ValueError:
        return "password" in dsn.lower()


def describe_target(dsn: str) -> tuple[str, str]:
    """(host, database) for messages, from the DSN and libpq's variables; never the password."""
    try:
        params = parse_dsn(dsn)
    except ValueError:
        params = {}
    user = params.get("user") or os.environ.get("PGUSER") or ""
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or ""
    port = params.get("port") or os.environ.get("PGPORT") or ""
    db = params.get("dbname") or os.environ.get("PGDATABASE") or user
    shown = host or "localhost"
    if shown.startswith("/"):
        shown = f"socket {shown}"
    if port and port != "5432":
        shown += f":{port}"
    return shown, db or "(default database)"


def scrub(text: str, dsn: str) -> str:
    """The first line of a libpq message, with any password or the DSN itself masked."""
    secrets: list[str] = []
    try:
        pw = parse_dsn(dsn).get("password")
        if pw:
            secrets.append(pw)
    except ValueError:
        pass
    env_pw = os.environ.get("PGPASSWORD")
    if env_pw:
        secrets.append(env_pw)
    if dsn:
        secrets.append(dsn)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no answer"


__all__ = ["DSN_ENV", "describe_target", "dsn_from_environment", "dsn_has_password", "scrub"]
