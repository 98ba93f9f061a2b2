#!/bin/sh
# bench_store_pg.sh - the issuer store's cases of issue 12 on both backends in one run,
# as JSON lines (`make bench` runs it; BENCHMARKS.md): on a 10^8-entry one-bit list, a
# `tsl update` of 10^6 random changes committed (target >= 500,000 changes/s on
# PostgreSQL) and one `tsl set` end to end (best and worst of 5; target <= 20 ms); and 4
# concurrent `tsl alloc -n 25000` processes on one 10^6-entry list (target >= 20,000
# indices/s). SQLite in a temporary file; PostgreSQL on the throwaway cluster of
# tests/pg.sh (or $TSL_TEST_PG), whose settings are printed first (case "pg_settings":
# stock Debian, fsync on; the cluster's own lines are listen_addresses, the socket
# directory, max_connections and shared_buffers = 64MB).
#
#   BUILD=build sh tests/bench_store_pg.sh
set -u

BUILD=${1:-${BUILD:-build}}
TSL=$BUILD/tsl
# shellcheck source=tests/pg.sh
. "$(dirname "$0")/pg.sh"
if [ ! -x "$TSL" ]; then
    echo "bench_store_pg: $TSL is missing" >&2
    exit 2
fi
pg_ensure || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-pg.XXXXXX") || exit 2
trap 'rm -rf "$tmp"; pg_stop' EXIT
N=100000000
now_ms() { echo $(($(date +%s%N) / 1000000)); }
status=0

printf '{"case":"pg_settings","server_version":"%s","fsync":"%s","synchronous_commit":"%s","full_page_writes":"%s","wal_level":"%s","shared_buffers":"%s"}\n' \
    "$(psql -At -d "$TSL_TEST_PG" -c 'SHOW server_version')" \
    "$(psql -At -d "$TSL_TEST_PG" -c 'SHOW fsync')" \
    "$(psql -At -d "$TSL_TEST_PG" -c 'SHOW synchronous_commit')" \
    "$(psql -At -d "$TSL_TEST_PG" -c 'SHOW full_page_writes')" \
    "$(psql -At -d "$TSL_TEST_PG" -c 'SHOW wal_level')" \
    "$(psql -At -d "$TSL_TEST_PG" -c 'SHOW shared_buffers')"

"$TSL" keygen --alg ES256 --out "$tmp/k.pem" >/dev/null || exit 2
awk -v n="$N" 'BEGIN { srand(42); for (i = 0; i < 1000000; i++) printf "%d 1\n", int(rand() * n) }' \
    >"$tmp/upd"
for backend in sqlite pg; do
    if [ $backend = pg ]; then
        psql -q -d "$TSL_TEST_PG" -c 'DROP SCHEMA IF EXISTS tsl_bench CASCADE;
            CREATE SCHEMA tsl_bench' >/dev/null 2>&1
        case $TSL_TEST_PG in *\?*) sep='&' ;; *) sep='?' ;; esac
        db="$TSL_TEST_PG${sep}options=-csearch_path%3Dtsl_bench"
    else
        db=$tmp/bench.db
    fi
    "$TSL" list create B --uri https://example.com/sl/b --bits 1 --size $N \
        --key "$tmp/k.pem" --db "$db" >/dev/null || { status=1; continue; }
    t0=$(now_ms)
    "$TSL" update B "$tmp/upd" --db "$db" >/dev/null
    rc=$?
    ms=$(($(now_ms) - t0))
    [ "$ms" -gt 0 ] || ms=1
    [ $rc -eq 0 ] || status=1
    printf '{"case":"store_update_1e6","backend":"%s","n":%s,"bits":1,"seconds":%s.%03d,"changes_per_s":%s,"exit":%s}\n' \
        $backend $N $((ms / 1000)) $((ms % 1000)) $((1000000 * 1000 / ms)) $rc
    best=999999 worst=0 rc=0
    for k in 1 2 3 4 5; do
        t0=$(now_ms)
        "$TSL" set B $((k * 7919 + 13)) INVALID --db "$db" || rc=1
        ms=$(($(now_ms) - t0))
        [ "$ms" -lt "$best" ] && best=$ms
        [ "$ms" -gt "$worst" ] && worst=$ms
    done
    [ $rc -eq 0 ] || status=1
    printf '{"case":"store_set","backend":"%s","n":%s,"bits":1,"ms_best":%s,"ms_worst":%s,"exit":%s}\n' \
        $backend $N "$best" "$worst" $rc
    "$TSL" list create A --uri https://example.com/sl/a --bits 1 --size 1000000 \
        --key "$tmp/k.pem" --db "$db" >/dev/null || { status=1; continue; }
    t0=$(now_ms)
    pids=""
    for p in 1 2 3 4; do
        "$TSL" alloc A -n 25000 --db "$db" >"$tmp/a$p" &
        pids="$pids $!"
    done
    rc=0
    for p in $pids; do wait "$p" || rc=1; done
    ms=$(($(now_ms) - t0))
    [ "$ms" -gt 0 ] || ms=1
    distinct=$(sort -u "$tmp"/a? | wc -l)
    [ $rc -eq 0 ] && [ "$distinct" -eq 100000 ] || { rc=1; status=1; }
    printf '{"case":"store_alloc_4x25000","backend":"%s","indices":%s,"seconds":%s.%03d,"indices_per_s":%s,"exit":%s}\n' \
        $backend "$distinct" $((ms / 1000)) $((ms % 1000)) $((100000 * 1000 / ms)) $rc
done
exit $status
