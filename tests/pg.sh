# pg.sh - a throwaway PostgreSQL cluster for the tests, sourced by test scripts:
#
#     . tests/pg.sh
#     pg_ensure || exit 2      # sets TSL_TEST_PG (a postgresql:// URL) and PGHOST etc.
#     ...                       # tsl --db "$TSL_TEST_PG" ...
#     pg_stop                   # or leave it to the EXIT trap pg_ensure set
#
# When TSL_TEST_PG is already set (run_all.sh starts one cluster for the whole suite),
# pg_ensure uses it and stops nothing. Otherwise it runs initdb in a new temporary
# directory and starts the server listening only on a Unix socket in that directory
# (no TCP port, so parallel runs never collide), as an unprivileged user when run as
# root (initdb refuses root): the Debian package's `postgres`, else `nobody`. fsync
# stays on, as the issue's figures are taken with stock settings. The cluster is
# stopped and its directory removed on exit, also when the script fails.
#
# pg_restart_stop / pg_restart_start stop and start the same cluster (for the
# restart tests); pg_bin NAME prints the path of a server program.

pg_bin() {
    for _d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/bin /usr/bin; do
        if [ -x "$_d/$1" ]; then
            echo "$_d/$1"
            return 0
        fi
    done
    echo "pg.sh: $1 not found: install Debian's postgresql (scripts/deps.sh)" >&2
    return 1
}

# Runs a command as the cluster's owner.
pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

pg_ensure() {
    if [ -n "${TSL_TEST_PG:-}" ]; then
        return 0
    fi
    PG_CTL=$(pg_bin pg_ctl) || return 1
    _initdb=$(pg_bin initdb) || return 1
    PG_USER=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        if id postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
    fi
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tsl-pg.XXXXXX") || return 1
    chmod 755 "$PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$PG_DIR"
    pg_as "$_initdb" -D "$PG_DIR/data" -U tsl -A trust --no-sync -E UTF8 \
        >"$PG_DIR/initdb.log" 2>&1 || {
        echo "pg.sh: initdb failed:" >&2
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    # Only a Unix socket in our directory; a small shared_buffers suits a shared machine.
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PG_DIR'
max_connections = 200
shared_buffers = 64MB
EOF
    pg_restart_start || return 1
    pg_as "$(pg_bin createdb)" -h "$PG_DIR" -U tsl tsl || return 1
    export PGHOST="$PG_DIR" PGUSER=tsl PGDATABASE=tsl
    TSL_TEST_PG="postgresql:///tsl?host=$PG_DIR&user=tsl"
    export TSL_TEST_PG PG_DIR PG_USER PG_CTL
    PG_OWNED=1
    trap 'pg_stop' EXIT
    trap 'pg_stop; exit 2' INT TERM
}

pg_restart_start() {
    pg_as "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
        >/dev/null 2>&1 || {
        echo "pg.sh: the server did not start:" >&2
        tail -n 20 "$PG_DIR/server.log" >&2
        return 1
    }
}

pg_restart_stop() {
    pg_as "$PG_CTL" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1
}

pg_stop() {
    if [ "${PG_OWNED:-0}" = 1 ] && [ -n "${PG_DIR:-}" ]; then
        pg_as "$PG_CTL" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1
        rm -rf "$PG_DIR"
        PG_OWNED=0
        unset TSL_TEST_PG
    fi
}
