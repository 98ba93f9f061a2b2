#!/bin/sh
# bench_incr.sh - incremental publishing (issue 15 part B) on both backends in one run,
# JSON lines on stdout: BENCH_ONLY=incremental sh tests/bench.sh (or sh
# tests/bench_incr.sh BUILD). Starts a throwaway PostgreSQL cluster through tests/pg.sh
# (stock settings, fsync on) unless TSL_TEST_PG names one. For sqlite and postgresql:
#   store_publish   a stored 10^8-entry 1-bit list (1% set, the generator's), then
#                   publications from scratch ("full"), after one status change ("one")
#                   and after 10^4 random changes ("changes"), each timed until the JWT
#                   and CWT are committed, with its phases (tests/bench_incr.c); targets:
#                   one <= 50 ms or <= 0.03 of full, changes <= 500 ms
#   serve_pickup    one `tsl serve --publish-interval 0.05` on that store (and on a
#                   10^6-entry list), 10 times a `tsl set` and the ms until the server
#                   has answered with the change, counted from the start of the command
#                   (target 100 ms); set_ms_median is how long the command took (until
#                   it had exited; its commit is a few ms earlier) and after_set_ms_*
#                   the time from then until served: the server's part, understated by
#                   those few ms. tests/propagate.py polls every 10 ms as a cache
#                   does: conditional GETs (If-None-Match) on a kept-alive connection,
#                   the time taken when a 200's body has arrived, then the token checked
#                   for the entry set (see there)
#   serve_pickup_api  the same for a change made through the issuer API of the server
#                   that publishes: `tsl serve --publish-interval 0.05 --admin-listen
#                   127.0.0.1:0`, an API key of the list (`tsl apikey create`, scopes
#                   update and read, handed to propagate.py in a file, never argv), 10
#                   times one PUT .../statuses/IDX {"status":1} on a kept-alive
#                   connection and the ms from just before it is sent until the public
#                   listener has answered with the change (propagate.py latency-api;
#                   other indices than serve_pickup's, each checked VALID before)
# BENCH_INCR_N (default 100000000) sets the size; BENCH_DB_BACKENDS="sqlite" (or
# "postgresql") runs one backend only.
set -u

BUILD=${1:-${BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
BENCH=$BUILD/bench
TSL=$BUILD/tsl
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
N=${BENCH_INCR_N:-100000000}
# shellcheck source=tests/serve_wait.sh
. "$HERE/serve_wait.sh"
# shellcheck source=tests/pg.sh
. "$HERE/pg.sh"
BACKENDS=${BENCH_DB_BACKENDS:-"sqlite postgresql"}
for f in "$BENCH" "$TSL"; do
    [ -x "$f" ] || { echo "bench_incr: $f is not built (make bench)" >&2; exit 2; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-incr.XXXXXX") || exit 2
chmod 755 "$T"
SP=""
DBNAME=tsl_bench_incr_$$
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$SP" ] && kill "$SP" 2>/dev/null
    if [ -n "${TSL_TEST_PG:-}" ]; then
        psql "$TSL_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1
    fi
    pg_stop
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
status=0
"$TSL" keygen --alg ES256 --out "$T/key.pem" >/dev/null || exit 2

# ms_stats: seconds on stdin (the first field of each line) -> "BEST MEDIAN MAX" in
# whole ms, the median being the 5th of the 10 measured (0 when there are fewer).
ms_stats() {
    sort -n | awk '{ v[NR] = int($1 * 1000) } END { if (NR) print v[1], (NR >= 5 ? v[5] : 0), v[NR] }'
}

# pickup BACKEND DB ID PATH N: 10 changes of list ID served by one tsl serve.
pickup() {
    SP=""
    if ! serve_bg "$T/serve.log" --db "$2" --listen 127.0.0.1:0 --publish-interval 0.05; then
        echo "bench_incr: tsl serve did not start: $(head -c 300 "$T/serve.log")" >&2
        status=1
        return
    fi
    SP=$SERVE_PID
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log" | head -n 1)
    url=http://127.0.0.1:$port$4
    "$PY" "$HERE/propagate.py" latency "$TSL" "$2" "$3" 7 "$url" >/dev/null
    : >"$T/lat"
    for k in 1 2 3 4 5 6 7 8 9 10; do
        # An entry already set (the generator's 1%) would not change: the next one.
        i=$((k * 9999991 % $5))
        n=0
        while [ $n -lt 100 ] && [ "$("$TSL" get "$3" "$i" --db "$2" | cut -f2)" != VALID ]; do
            i=$(((i + 1) % $5))
            n=$((n + 1))
        done
        "$PY" "$HERE/propagate.py" latency "$TSL" "$2" "$3" "$i" "$url" >>"$T/lat"
    done
    kill "$SP" 2>/dev/null
    wait "$SP" 2>/dev/null
    SP=""
    read -r best med max <<EOF
$(sed 's/timeout/10/' "$T/lat" | ms_stats)
EOF
    # The same from when tsl set had exited (its change committed): the server's part.
    read -r abest amed amax <<EOF
$(sed 's/timeout/10/' "$T/lat" | awk '{ sub(/^set=/, "", $2); print $1 - $2 }' | ms_stats)
EOF
    read -r _ aset _ <<EOF
$(sed -n 's/.* set=//p' "$T/lat" | ms_stats)
EOF
    printf '{"case":"serve_pickup","backend":"%s","n":%s,"bits":1,"publish_interval":0.05,"updates":10,"ms_best":%s,"ms_median":%s,"ms_max":%s,"set_ms_median":%s,"after_set_ms_best":%s,"after_set_ms_median":%s,"after_set_ms_max":%s,"target_ms":100}\n' \
        "$1" "$5" "${best:-0}" "${med:-0}" "${max:-0}" "${aset:-0}" "${abest:-0}" \
        "${amed:-0}" "${amax:-0}"
}

# pickup_api BACKEND DB ID PATH N: 10 changes of list ID made through the issuer API of
# the one tsl serve that publishes it.
pickup_api() {
    SP=""
    rm -f "$T/api.key"
    # The secret goes from stdout to a file only the owner reads, never into argv.
    if ! (umask 077 && "$TSL" apikey create --list "$3" --scope update,read --db "$2" \
        >"$T/api.key" 2>"$T/err"); then
        echo "bench_incr: apikey create: $(head -c 300 "$T/err")" >&2
        status=1
        return
    fi
    if ! serve_bg "$T/serve.log" --db "$2" --listen 127.0.0.1:0 --publish-interval 0.05 \
        --admin-listen 127.0.0.1:0; then
        echo "bench_incr: tsl serve did not start: $(head -c 300 "$T/serve.log")" >&2
        status=1
        return
    fi
    SP=$SERVE_PID
    # serve_bg returns at the public listener's line; the issuer API's comes after it.
    aport=""
    k=0
    while [ $k -lt 100 ] && [ -z "$aport" ]; do
        aport=$(sed -n 's/.*issuer API listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log")
        [ -n "$aport" ] || sleep 0.1
        k=$((k + 1))
    done
    port=$(sed -n 's/^tsl serve: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log" | head -n 1)
    if [ -z "$aport" ] || [ -z "$port" ]; then
        echo "bench_incr: no listener address in: $(head -c 300 "$T/serve.log")" >&2
        kill "$SP" 2>/dev/null
        wait "$SP" 2>/dev/null
        SP=""
        status=1
        return
    fi
    url=http://127.0.0.1:$port$4
    admin=http://127.0.0.1:$aport
    : >"$T/lat"
    # Indices other than serve_pickup's (those are INVALID by now); one the generator
    # or an earlier case set already ("already-set") is skipped for the next.
    k=0
    n=0
    while [ $n -lt 11 ] && [ $k -lt 40 ]; do
        k=$((k + 1))
        TSL_API_KEY_FILE=$T/api.key "$PY" "$HERE/propagate.py" latency-api "$admin" "$3" \
            $(((k * 7654321 + 12345) % $5)) "$url" >"$T/one" 2>"$T/err"
        rc=$?
        [ $rc -eq 3 ] && continue
        if [ $rc -ne 0 ]; then
            echo "bench_incr: propagate.py latency-api: $(head -c 300 "$T/one") $(head -c 300 "$T/err")" >&2
            status=1
            break
        fi
        n=$((n + 1))
        [ $n -eq 1 ] && continue # the first one warms the server, as serve_pickup's
        cat "$T/one" >>"$T/lat"
    done
    kill "$SP" 2>/dev/null
    wait "$SP" 2>/dev/null
    SP=""
    rm -f "$T/api.key"
    [ $n -eq 11 ] || { echo "bench_incr: serve_pickup_api: $((n - 1)) of 10 changes measured" >&2; status=1; }
    read -r best med max <<EOF
$(sed 's/timeout/10/' "$T/lat" | ms_stats)
EOF
    # Not in the JSON line (its shape is serve_pickup's): how long the PUT took to be
    # answered (committed), the part of the pickup the issuer API itself costs.
    put=$(sed -n 's/.*put=\([0-9.]*\).*/\1/p' "$T/lat" | sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%d..%d ms, median %d ms", a[1] * 1000, a[NR] * 1000, a[int((NR + 1) / 2)] * 1000 }')
    echo "bench_incr: serve_pickup_api $1 n=$5: PUT answered in ${put:-?}" >&2
    printf '{"case":"serve_pickup_api","backend":"%s","n":%s,"bits":1,"publish_interval":0.05,"updates":10,"ms_best":%s,"ms_median":%s,"ms_max":%s,"target_ms":100}\n' \
        "$1" "$5" "${best:-0}" "${med:-0}" "${max:-0}"
}

for backend in $BACKENDS; do
    if [ "$backend" = postgresql ]; then
        pg_ensure || { echo "bench_incr: no PostgreSQL cluster" >&2; exit 2; }
        trap cleanup EXIT
        trap 'exit 130' INT TERM
        psql "$TSL_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $DBNAME" \
            -c "CREATE DATABASE $DBNAME" >/dev/null || exit 2
        db=$(echo "$TSL_TEST_PG" | sed "s|^\(postgres[a-z]*://[^/?]*/\)[^?]*|\1$DBNAME|")
    else
        db=$T/incr.db
    fi
    "$BENCH" store_publish "$N" 1 "$db" "$T/key.pem" 3 || status=1
    id=$("$TSL" list ls --db "$db" | head -n 1)
    [ -n "$id" ] && pickup "$backend" "$db" "$id" "/sl/$id" "$N"
    [ -n "$id" ] && pickup_api "$backend" "$db" "$id" "/sl/$id" "$N"
    if "$TSL" list create small --uri https://bench.example/sl/small --bits 1 --size 1000000 \
        --key "$T/key.pem" --db "$db" >/dev/null; then
        pickup "$backend" "$db" small /sl/small 1000000
        pickup_api "$backend" "$db" small /sl/small 1000000
    fi
done
exit $status
