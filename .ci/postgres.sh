# Sourced by .ci/run: start a throw-away PostgreSQL cluster for the postgres tests.
#
#   . .ci/postgres.sh && pg_start     # exports LMSCTL_TEST_PG_DSN, PG_TEST_DIR
#   pg_stop                           # stops it and removes its folder
#
# Installs the server from Debian packages when no server binaries are present. The cluster
# lives in a temporary folder, listens on 127.0.0.1 only (plus a socket in that folder), trusts
# local connections, and runs as an unprivileged user: initdb refuses to run as root, so as
# root it runs as the 'postgres' user (made by the Debian package) or a system user made here.

pg_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

# run a server command as the cluster's unprivileged user (as root), else as ourselves
_pg_as() {
    if [ -n "${PG_TEST_USER:-}" ]; then runuser -u "$PG_TEST_USER" -- "$@"; else "$@"; fi
}

pg_start() {
    local bin user port
    if ! bin=$(pg_bindir); then
        echo "== installing postgresql (Debian packages)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
        bin=$(pg_bindir) || { echo "postgresql server binaries not found after install" >&2; return 1; }
    fi
    PG_TEST_BIN=$bin
    PG_TEST_DIR=$(mktemp -d /tmp/lmsctl-pg.XXXXXX)
    export PG_TEST_BIN PG_TEST_DIR
    if [ "$(id -u)" = 0 ]; then
        if id postgres >/dev/null 2>&1; then
            user=postgres
        else
            id lmsctl-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin lmsctl-pg
            user=lmsctl-pg
        fi
        chown "$user" "$PG_TEST_DIR"
    fi
    PG_TEST_USER=${user:-}
    export PG_TEST_USER
    chmod 700 "$PG_TEST_DIR"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    _pg_as "$bin/initdb" -D "$PG_TEST_DIR/data" -U lmsctl -A trust --no-sync -E UTF8 >"$PG_TEST_DIR/initdb.log" 2>&1 \
        || { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
    _pg_as "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c max_connections=200" start >/dev/null \
        || { cat "$PG_TEST_DIR/server.log" >&2; return 1; }
    export LMSCTL_TEST_PG_DSN="postgresql://lmsctl@127.0.0.1:$port/postgres"
    echo "== postgresql $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

pg_stop() {
    [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR/data" ] || return 0
    _pg_as "${PG_TEST_BIN:-}/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
    echo "== postgresql stopped"
}
