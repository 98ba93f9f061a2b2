#!/bin/sh
# bench_propagate.sh - issue 12's "time from a commit to the new token being served by a
# second tsl serve" (target <= 1 s), on both backends in one run, as JSON lines (`make
# bench` runs it; BENCHMARKS.md): two `tsl serve` on one store, then 10 times a `tsl set`
# and the time until both serve the change (tests/propagate.py polls every 10 ms),
# counted from the start of the command, so the commit is inside it. SQLite: the servers
# poll every --publish-interval (1 s, the default); PostgreSQL: changes are pushed
# (LISTEN/NOTIFY), on the throwaway cluster of tests/pg.sh (or $TSL_TEST_PG).
#
#   BUILD=build sh tests/bench_propagate.sh
set -u

BUILD=${1:-${BUILD:-build}}
TSL=$BUILD/tsl
PY=/usr/bin/python3
PROP=$(dirname "$0")/propagate.py
# shellcheck source=tests/pg.sh
. "$(dirname "$0")/pg.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
if [ ! -x "$TSL" ]; then
    echo "bench_propagate: $TSL is missing" >&2
    exit 2
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
pg_ensure || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-prop.XXXXXX") || exit 2
PIDS=""
DBNAME=tsl_bench_prop_$$
cleanup() {
    for _p in $PIDS; do kill "$_p" 2>/dev/null; done
    psql "$TSL_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$tmp"
    pg_stop
}
trap cleanup EXIT
status=0
"$TSL" keygen --alg ES256 --out "$tmp/k.pem" >/dev/null || exit 2
psql "$TSL_TEST_PG" -qAt -c "CREATE DATABASE $DBNAME" >/dev/null || exit 2
PGDB=$(echo "$TSL_TEST_PG" | sed "s|^\(postgres[a-z]*://[^/?]*/\)[^?]*|\1$DBNAME|")

for backend in sqlite pg; do
    db=$tmp/prop.db
    [ "$backend" = pg ] && db=$PGDB
    "$TSL" list create pb --uri https://example.com/pb --bits 1 --size 100000 \
        --key "$tmp/k.pem" --db "$db" >/dev/null || { status=1; continue; }
    urls=""
    for n in 1 2; do
        if ! serve_bg "$tmp/$backend.$n.log" --db "$db" --listen 127.0.0.1:0; then
            status=1
            continue 2
        fi
        PIDS="$PIDS $SERVE_PID"
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$backend.$n.log" | head -n 1)
        urls="$urls http://127.0.0.1:$port/pb"
    done
    # Both serve the first token before the clock starts.
    # shellcheck disable=SC2086
    "$PY" "$PROP" latency "$TSL" "$db" pb 1 $urls >/dev/null
    : >"$tmp/lat"
    for idx in 2 3 4 5 6 7 8 9 10 11; do
        # shellcheck disable=SC2086
        "$PY" "$PROP" latency "$TSL" "$db" pb "$idx" $urls | sed 's/ set=.*//' >>"$tmp/lat"
    done
    # Each line: one update, one time per server; a "timeout" counts as 10 s.
    tr ' ' '\n' <"$tmp/lat" | sed 's/timeout/10/' | sort -n >"$tmp/all"
    n=$(wc -l <"$tmp/all")
    med=$(awk -v n="$n" 'NR == int((n + 1) / 2) { printf "%d", $1 * 1000 }' "$tmp/all")
    max=$(tail -n 1 "$tmp/all" | awk '{ printf "%d", $1 * 1000 }')
    slow=$(tr ' ' '\n' <"$tmp/lat" | sed 's/timeout/10/' | awk '$1 >= 1 { n++ } END { print n + 0 }')
    printf '{"case":"serve_propagation","backend":"%s","servers":2,"updates":10,"ms_median":%s,"ms_max":%s,"over_1s":%s,"target_ms":1000}\n' \
        "$backend" "${med:-0}" "${max:-0}" "$slow"
    for _p in $PIDS; do kill "$_p" 2>/dev/null; wait "$_p" 2>/dev/null; done
    PIDS=""
done
exit $status
