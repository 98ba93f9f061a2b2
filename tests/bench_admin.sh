#!/bin/sh
# bench_admin.sh - the issuer API of `tsl serve --admin-listen` under load, on SQLite
# (synchronous=FULL) and PostgreSQL (a throwaway cluster with stock settings: fsync on,
# synchronous_commit on): every change is durable before it is answered. wrk on loopback,
# keep-alive, 4 connections (-t4 -c4), ADMIN_SECONDS (default 5) each, Lua scripts in
# tests/wrk/. JSON lines on stdout, per backend:
#   admin_alloc1    POST .../allocations {"count":1}, a unique Idempotency-Key each:
#                   requests/s (target >= 5,000/s)
#   admin_alloc100  the same with {"count":100}: indices/s (target >= 100,000/s)
#   admin_put1      PUT .../statuses/IDX {"status":1} at random indices: changes/s
#                   (target >= 5,000/s)
#   admin_alloc1_c16  admin_alloc1 with 16 connections: what group commit does when more
#                   requests wait (the 4-connection rate is bound by the disk's flush
#                   latency: at most 4 requests can share one)
#   admin_bulk_1e6  one PATCH .../statuses of 10^6 changes as a JSON array (distinct
#                   random indices, about 28 MB), timed with curl: seconds (target <= 2)
# First a disk line: the latency of one 4 KiB write + fdatasync in the temporary
# directory (where the SQLite store is), the floor of a durable commit:
#   {"case":"admin_disk_fsync","ms_average":...}
# Each line carries the committer's grouping (ops per transaction, from the admin
# listener's /metrics) and, for allocations, the list's `allocated` after the run
# checked against the requests answered.
#
#   sh tests/bench_admin.sh [BUILD]      BENCH_ONLY=admin make bench runs only this
#   ADMIN_BACKENDS="sqlite" (or "postgresql") runs one backend only
set -u

BUILD=${1:-${BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
TSL=$BUILD/tsl
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
# shellcheck source=tests/pg.sh
. "$HERE/pg.sh"
BACKENDS=${ADMIN_BACKENDS:-"sqlite postgresql"}
SECS=${ADMIN_SECONDS:-5}
SIZE=16777216 # 2^24 one-bit entries: room for every allocation of the runs

[ -x "$TSL" ] || { echo "bench_admin: $TSL is not built (make)" >&2; exit 2; }
for tool in wrk curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_admin: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-admin.XXXXXX") || exit 2
chmod 755 "$T"
SPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    pg_stop
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
err() {
    echo "bench_admin: $*" >&2
    status=1
}

"$TSL" keygen --alg ES256 --out "$T/key.pem" >/dev/null || { echo "bench_admin: keygen failed" >&2; exit 2; }
# The bulk body: 10^6 distinct random indices set INVALID.
"$PY" - "$SIZE" "$T/bulk.json" <<'EOF' || exit 2
import random, sys
size, path = int(sys.argv[1]), sys.argv[2]
idx = random.Random(42).sample(range(size), 1000000)
with open(path, "w") as f:
    f.write("[" + ",".join('{"index":%d,"status":1}' % i for i in idx) + "]")
EOF
bulk_bytes=$(wc -c <"$T/bulk.json" | tr -d ' ')
"$PY" - "$T/fsync.tmp" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
n = 200
t0 = time.monotonic()
for k in range(n):
    os.pwrite(fd, b"x" * 4096, k * 4096)
    os.fdatasync(fd)
print('{"case":"admin_disk_fsync","writes":%d,"ms_average":%.3f}' %
      (n, (time.monotonic() - t0) * 1000 / n))
EOF

# metric NAME: the value of a counter in the admin listener's /metrics.
metric() {
    curl -s "http://127.0.0.1:$APORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
# grouping: ops per committed transaction since the last call.
c0=0
o0=0
grouping() {
    _c=$(metric tsl_admin_commits_total)
    _o=$(metric tsl_admin_commit_ops_total)
    _c=${_c:-0}
    _o=${_o:-0}
    awk -v c="$_c" -v o="$_o" -v c0="$c0" -v o0="$o0" \
        'BEGIN { if (c > c0) printf "%.2f", (o - o0) / (c - c0); else printf "null" }'
    c0=$_c
    o0=$_o
}
allocated() {
    curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$APORT/v1/lists/B" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["allocated"])'
}

# run_wrk NAME SCRIPT [CONNS]: wrk -t4 -cCONNS (default 4) for SECS; sets rps, reqs,
# p99_ms, non2xx, sockerr.
run_wrk() {
    wrk -t4 -c"${3:-4}" -d"${SECS}s" --latency -s "$HERE/wrk/$2" "http://127.0.0.1:$APORT" \
        >"$T/wrk.out" 2>&1 || err "wrk $1 failed: $(tail -n 3 "$T/wrk.out" | tr '\n' '|')"
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk.out")
    reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
    p99_ms=$(awk '$1 == "99%" {
        v = $2
        if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) }
        else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
        printf "%.3f", v }' "$T/wrk.out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$T/wrk.out")
    sockerr=$(sed -n 's/.*Socket errors: //p' "$T/wrk.out" |
        awk -F', ' '{s = 0; for (i = 1; i <= NF; i++) {split($i, a, " "); s += a[2]} print s}')
    rps=${rps:-0} reqs=${reqs:-0} p99_ms=${p99_ms:-null} non2xx=${non2xx:-0} sockerr=${sockerr:-0}
    if [ "$non2xx" != 0 ] || [ "$sockerr" != 0 ]; then
        err "$1: $non2xx non-2xx, $sockerr socket errors: $(grep -i 'answers other' "$T/wrk.out")"
    fi
}

for backend in $BACKENDS; do
    case $backend in
    sqlite) db=$T/admin.db ;;
    postgresql)
        pg_ensure || { err "no PostgreSQL cluster"; continue; }
        trap cleanup EXIT
        trap 'exit 130' INT TERM
        psql "$TSL_TEST_PG" -qAt -c "SET client_min_messages = warning" \
            -c "DROP DATABASE IF EXISTS tsl_bench_admin" -c "CREATE DATABASE tsl_bench_admin" \
            >/dev/null || { err "createdb failed"; continue; }
        db=$(echo "$TSL_TEST_PG" | sed "s|^\(postgres[a-z]*://[^/?]*/\)[^?]*|\1tsl_bench_admin|")
        ;;
    *) err "unknown backend $backend"; continue ;;
    esac
    "$TSL" list create B --uri https://bench.example/sl/b --bits 1 --size "$SIZE" \
        --key "$T/key.pem" --db "$db" >/dev/null 2>"$T/err" ||
        { err "$backend: list create: $(head -c 300 "$T/err")"; continue; }
    KEY=$("$TSL" apikey create --list B --scope alloc,update,publish,read --db "$db" 2>"$T/err") ||
        { err "$backend: apikey create: $(head -c 300 "$T/err")"; continue; }
    "$TSL" serve --db "$db" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --admin-rate 100000000 2>"$T/serve.log" &
    SPID=$!
    APORT=""
    k=0
    while [ $k -lt 100 ] && [ -z "$APORT" ]; do
        APORT=$(sed -n 's/.*issuer API listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log")
        [ -n "$APORT" ] || sleep 0.1
        k=$((k + 1))
    done
    if [ -z "$APORT" ]; then
        err "$backend: tsl serve did not start: $(head -c 300 "$T/serve.log")"
        kill "$SPID" 2>/dev/null
        SPID=""
        continue
    fi
    export TSL_KEY="$KEY" TSL_LIST=B TSL_SIZE=$SIZE
    grouping >/dev/null

    for count in 1 100; do
        a0=$(allocated)
        TSL_COUNT=$count TSL_RUN="$backend-$count-$$" run_wrk "alloc$count" admin_alloc.lua
        sleep 0.5
        a1=$(allocated)
        g=$(grouping)
        ips=$(awk -v r="$rps" -v c="$count" 'BEGIN { printf "%.0f", r * c }')
        printf '{"case":"admin_alloc%s","backend":"%s","count":%s,"connections":4,"seconds":%s,"requests":%s,"rps":%s,"indices_per_s":%s,"p99_ms":%s,"non2xx":%s,"socket_errors":%s,"allocated":%s,"ops_per_commit":%s,"target":"%s"}\n' \
            "$count" "$backend" "$count" "$SECS" "$reqs" "$rps" "$ips" "$p99_ms" "$non2xx" \
            "$sockerr" "$((a1 - a0))" "$g" "$([ "$count" = 1 ] && echo ">= 5000 rps" || echo ">= 100000 indices/s")"
        # Every answered request allocated count indices (a request cut at the end of the
        # run may have allocated too, so at least).
        [ "$((a1 - a0))" -ge "$((reqs * count))" ] ||
            err "$backend alloc$count: allocated grew by $((a1 - a0)), $reqs requests answered"
    done

    a0=$(allocated)
    TSL_COUNT=1 TSL_RUN="$backend-c16-$$" run_wrk alloc1_c16 admin_alloc.lua 16
    sleep 0.5
    a1=$(allocated)
    g=$(grouping)
    printf '{"case":"admin_alloc1_c16","backend":"%s","count":1,"connections":16,"seconds":%s,"requests":%s,"rps":%s,"p99_ms":%s,"non2xx":%s,"socket_errors":%s,"allocated":%s,"ops_per_commit":%s}\n' \
        "$backend" "$SECS" "$reqs" "$rps" "$p99_ms" "$non2xx" "$sockerr" "$((a1 - a0))" "$g"

    run_wrk put1 admin_put.lua
    g=$(grouping)
    printf '{"case":"admin_put1","backend":"%s","connections":4,"seconds":%s,"requests":%s,"rps":%s,"p99_ms":%s,"non2xx":%s,"socket_errors":%s,"ops_per_commit":%s,"target":">= 5000 rps"}\n' \
        "$backend" "$SECS" "$reqs" "$rps" "$p99_ms" "$non2xx" "$sockerr" "$g"

    out=$(curl -s -o "$T/bulk.out" -w '%{http_code} %{time_total}' -X PATCH \
        -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
        --data-binary @"$T/bulk.json" "http://127.0.0.1:$APORT/v1/lists/B/statuses")
    code=${out% *}
    secs=${out#* }
    changed=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("entries", "null"))' \
        "$T/bulk.out" 2>/dev/null)
    [ "$code" = 200 ] || err "$backend bulk: HTTP $code: $(head -c 300 "$T/bulk.out")"
    printf '{"case":"admin_bulk_1e6","backend":"%s","changes":1000000,"body_bytes":%s,"http":%s,"entries":%s,"seconds":%s,"target":"<= 2 s"}\n' \
        "$backend" "$bulk_bytes" "$code" "${changed:-null}" "$secs"

    kill -TERM "$SPID"
    wait "$SPID" || err "$backend: tsl serve exited $? after SIGTERM"
    SPID=""
    if [ "$backend" = postgresql ]; then
        psql "$TSL_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS tsl_bench_admin WITH (FORCE)" \
            >/dev/null 2>&1
    fi
done
exit $status
