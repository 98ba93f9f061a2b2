# backend.sh - sourced by the suites that run on either store backend (serve.sh,
# serve_pub.sh, verify.sh), which set BACKEND from their second argument first: pg runs
# them against PostgreSQL (the cluster TSL_TEST_PG names, as run_all.sh starts one, else
# a throwaway one from tests/pg.sh), sqlite (the default) against SQLite files, as
# before. (tests/store.sh does the same with schemas of its own.)
#
# backend_init       once, after $T exists and before the suite sets its traps (pg.sh
#                    sets its own); returns 1 when no cluster can be had
# test_db NAME       prints the --db value of a new, empty store: $T/NAME.db, or the URL
#                    of a new database tsl_SUITE_PID_NAME on the cluster
# backend_cleanup    from the suite's cleanup: drops the databases made, and stops the
#                    cluster when backend_init started it

[ "${BACKEND:-}" = pg ] || BACKEND=sqlite

backend_init() {
    [ "$BACKEND" = pg ] || return 0
    # shellcheck source=tests/pg.sh
    . "$(dirname "$0")/pg.sh"
    pg_ensure || return 1
    command -v psql >/dev/null 2>&1 || {
        echo "backend.sh: psql is missing (apt-get install postgresql-client)" >&2
        return 1
    }
}

test_db() {
    if [ "$BACKEND" != pg ]; then
        echo "$T/$1.db"
        return 0
    fi
    _bd=tsl_${SUITE}_$$_$1
    psql "$TSL_TEST_PG" -qAt -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $_bd" -c "CREATE DATABASE $_bd" \
        >/dev/null || return 1
    # The same URL with the database name replaced.
    echo "$TSL_TEST_PG" | sed "s|^\(postgres[a-z]*://[^/?]*/\)[^?]*|\1$_bd|"
}

backend_cleanup() {
    [ "$BACKEND" = pg ] && [ -n "${TSL_TEST_PG:-}" ] || return 0
    for _bd in $(psql "$TSL_TEST_PG" -qAt -c "SELECT datname FROM pg_database
                 WHERE datname LIKE 'tsl\_${SUITE}\_$$\_%'" 2>/dev/null); do
        psql "$TSL_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $_bd WITH (FORCE)" \
            >/dev/null 2>&1
    done
    [ "${PG_OWNED:-0}" = 1 ] && pg_stop
    return 0
}
