#!/bin/sh
# incr.sh - incremental publishing (issue 15 part B) through the command line, checked
# by independent code (tests/incr_check.py: jwcrypto verifies the JWT, cbor2 reads the
# CWT, zlib inflates both lst, compared with a model of every change):
#
#   eq        a 1-bit and a 4-bit list, random change sequences (1 to 3,000 changes):
#             after each `tsl publish` (which reuses the stored segments) the tokens hold
#             every change, and a publication after every segment row is deleted (from
#             scratch) gives the same lst, byte for byte
#   corrupt   segment rows damaged with sqlite3 / psql (bytes overwritten, a torn row,
#             the Adler-32 changed): `tsl publish` says so on stderr, rebuilds them from
#             the chunks, and the tokens are still right; the next publication finds
#             nothing wrong
#   kill      `tsl publish` of a 4*10^6-entry list killed with SIGKILL at several points
#             of its publication (no segments stored: it encodes every one): the next
#             publication is correct and complete
#   crash     (PostgreSQL) the server stopped with -m immediate and started again: crash
#             recovery empties the unlogged segment table; the token committed before is
#             there, and the next publication encodes every segment, right and the same
#             bytes as from scratch
#   serve     `tsl serve --publish-interval 0.05`: a `tsl set` is served (tests/
#             propagate.py polls every 10 ms) within 1 s (the target, 100 ms, is
#             measured by tests/bench_propagate.sh); not under the sanitizers
#
# Usage: sh tests/incr.sh [BUILD_DIR] [sqlite|pg]   (from the project root)
# Closing line: "incr: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=incr
BACKEND=${2:-sqlite}
[ "$BACKEND" = pg ] && SUITE=incr_pg
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK=$HERE/incr_check.py
# shellcheck source=tests/harness.sh
. "$HERE/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$HERE/serve_wait.sh"
# shellcheck source=tests/backend.sh
. "$HERE/backend.sh"

PIDS=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for _p in $PIDS; do kill -9 "$_p" 2>/dev/null; done
    backend_cleanup
    rm -rf "$T"
}
if [ ! -x "$TSL" ]; then
    echo "incr: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
[ -x "$PY" ] || { bad "$PY is missing"; finish; }
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-incr.XXXXXX") || exit 2
backend_init || { rm -rf "$T"; bad "no PostgreSQL cluster (tests/pg.sh)"; finish; }
trap cleanup EXIT
trap 'exit 130' INT TERM
unset TSL_DB
note "store backend: $BACKEND"

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/k.jwk" 2>/dev/null || { bad keygen; finish; }

# sql DB STATEMENT: raw SQL on the store (sqlite3 or psql).
sql() {
    if [ "$BACKEND" = pg ]; then
        psql "$1" -qAt -v ON_ERROR_STOP=1 -c "$2"
    else
        sqlite3 "$1" "$2"
    fi
}
SEG=segments
[ "$BACKEND" = pg ] && SEG=tsl_segments

NOW=1800000000
START=$(date +%s)
# pub DB ID: tsl publish at a time 100 s after the last (never "fresh" on PostgreSQL).
pub() {
    NOW=$((NOW + 100))
    t publish "$2" --now "$NOW" --db "$1"
}
# fetch DB ID: the newest JWT and CWT in $T/jwt, $T/cwt.
fetch() {
    "$TSL" token "$2" --db "$1" >"$T/jwt" 2>/dev/null &&
        "$TSL" token "$2" --format cwt --db "$1" >"$T/cwt" 2>/dev/null
}
lst_of() {
    "$PY" -c 'import sys, json, base64
t = open(sys.argv[1]).read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))["status_list"]["lst"])' "$T/jwt"
}
# verify NAME DB ID N BITS MODEL: the tokens against the model.
verify() {
    if fetch "$2" "$3" && _v=$("$PY" "$CHECK" check "$6" "$4" "$5" "$T/jwt" "$T/cwt" "$T/k.jwk" 2>&1) &&
        [ "$_v" = ok ]; then
        ok
    else
        bad "$1: $_v"
    fi
}

# ---- eq: incremental == from scratch, after random change sequences ---------------
DB=$(test_db eq) || { bad "cannot make a $BACKEND store"; finish; }
for spec in "e1 1 2200000" "e4 4 400000"; do
    # shellcheck disable=SC2086
    set -- $spec
    id=$1 bits=$2 n=$3
    t list create "$id" --uri "https://example.com/$id" --bits "$bits" --size "$n" \
        --key "$T/k.pem" --db "$DB"
    expect_rc "eq: create $id" 0
    rm -f "$T/$id.model"
    seed=1
    for count in 0 1 300 3000; do
        if [ "$count" -gt 0 ]; then
            "$PY" "$CHECK" gen "$T/$id.model" "$n" "$bits" "$count" "$seed" "$T/upd"
            ti "$T/upd" update "$id" --force --db "$DB"
            expect_rc "eq: $id: $count changes" 0
        fi
        seed=$((seed + 1))
        pub "$DB" "$id"
        expect_rc "eq: $id: publish after $count changes" 0
        verify "eq: $id after $count changes" "$DB" "$id" "$n" "$bits" "$T/$id.model"
        inc=$(lst_of)
        stored=$(sql "$DB" "SELECT count(*) FROM $SEG WHERE list_id = '$id'")
        # An all-zero list has no chunk rows, hence no segment rows.
        if [ "$count" -eq 0 ] || [ "$stored" -gt 0 ]; then ok; else
            bad "eq: $id: no segment stored after $count changes"; fi
        sql "$DB" "DELETE FROM $SEG WHERE list_id = '$id'"
        pub "$DB" "$id"
        expect_rc "eq: $id: publish from scratch" 0
        fetch "$DB" "$id"
        same "eq: $id: after $count changes, the lst from scratch is the incremental one" \
            "$(lst_of)" "$inc"
    done
done

note "eq: $(($(date +%s) - START)) s"
# ---- corrupt: damaged rows found, rebuilt, never served ---------------------------
id=e1
n=2200000
if [ "$BACKEND" = pg ]; then
    damage1="UPDATE tsl_segments SET data = overlay(data placing '\\xdeadbeef'::bytea from 30 for 4) WHERE list_id = 'e1' AND n = 1"
    damage2="UPDATE tsl_segments SET data = substring(data from 1 for 20) WHERE list_id = 'e1' AND n = 2"
else
    damage1="UPDATE segments SET data = CAST(substr(data, 1, 29) || x'deadbeef' || substr(data, 34) AS BLOB) WHERE list_id = 'e1' AND n = 1"
    damage2="UPDATE segments SET data = substr(data, 1, 20) WHERE list_id = 'e1' AND n = 2"
fi
damage3="UPDATE $SEG SET adler = adler + 1 WHERE list_id = 'e1' AND n = 3"
fetch "$DB" "$id"
good=$(lst_of)
k=0
for d in "$damage1" "$damage2" "$damage3"; do
    k=$((k + 1))
    sql "$DB" "$d" || bad "corrupt $k: the damage did not apply"
    pub "$DB" "$id"
    expect_rc "corrupt $k: publish" 0
    if grep -q "1 stored segment(s) failed their check" "$T/err"; then ok; else
        bad "corrupt $k: not reported: $(errline)"; fi
    verify "corrupt $k: tokens" "$DB" "$id" "$n" 1 "$T/$id.model"
    same "corrupt $k: the same lst" "$(lst_of)" "$good"
    pub "$DB" "$id"
    if [ "$rc" -eq 0 ] && ! grep -q "failed their check" "$T/err"; then ok; else
        bad "corrupt $k: the row was not rebuilt: $(errline)"; fi
done
# A damaged row and changes in one publication.
sql "$DB" "$damage1"
"$PY" "$CHECK" gen "$T/$id.model" "$n" 1 50 99 "$T/upd"
ti "$T/upd" update "$id" --force --db "$DB"
pub "$DB" "$id"
expect_rc "corrupt + changes: publish" 0
verify "corrupt + changes: tokens" "$DB" "$id" "$n" 1 "$T/$id.model"

note "corrupt: $(($(date +%s) - START)) s"
# ---- kill: SIGKILL mid-publication -------------------------------------------------
KDB=$(test_db kill) || { bad "cannot make a $BACKEND store"; finish; }
n=4000000
t list create big --uri https://example.com/big --bits 1 --size $n --key "$T/k.pem" --db "$KDB"
expect_rc "kill: create" 0
"$PY" "$CHECK" gen "$T/big.model" "$n" 1 40000 7 "$T/upd"
ti "$T/upd" update big --force --db "$KDB"
expect_rc "kill: fill" 0
for at in 0.03 0.1 0.25; do
    sql "$KDB" "DELETE FROM $SEG WHERE list_id = 'big'"
    "$PY" "$CHECK" gen "$T/big.model" "$n" 1 20 "$(echo "$at" | tr -d .)" "$T/upd"
    ti "$T/upd" update big --force --db "$KDB"
    NOW=$((NOW + 100))
    "$TSL" publish big --now "$NOW" --db "$KDB" >/dev/null 2>&1 &
    kp=$!
    sleep "$at"
    kill -9 "$kp" 2>/dev/null
    wait "$kp" 2>/dev/null
    pub "$KDB" big
    expect_rc "kill at $at s: the next publish" 0
    verify "kill at $at s: tokens" "$KDB" big "$n" 1 "$T/big.model"
    pub "$KDB" big
    if [ "$rc" -eq 0 ] && ! grep -q "failed their check" "$T/err"; then ok; else
        bad "kill at $at s: $(errline)"; fi
    verify "kill at $at s: tokens again" "$KDB" big "$n" 1 "$T/big.model"
done

note "kill: $(($(date +%s) - START)) s"
# ---- crash (PostgreSQL): the server killed, its unlogged segments gone -------------
# tsl_segments is UNLOGGED (schema 8): crash recovery empties it, and the publication
# after must encode every segment again, with the tokens right and the same bytes as
# from scratch; the chunks and tokens (logged) are all there.
if [ "$BACKEND" = pg ]; then
    if [ -z "${PG_DIR:-}" ] || [ -z "${PG_CTL:-}" ]; then
        bad "crash: TSL_TEST_PG is set but not by tests/pg.sh: cannot crash it"
    else
        fetch "$DB" e1
        good=$(lst_of)
        before=$(sql "$DB" "SELECT count(*) FROM tsl_segments WHERE list_id = 'e1'")
        if [ "${before:-0}" -gt 0 ]; then ok; else bad "crash: no segment stored before"; fi
        pg_as "$PG_CTL" -D "$PG_DIR/data" -m immediate -w -t 60 stop >/dev/null 2>&1 ||
            bad "crash: pg_ctl stop -m immediate failed"
        pg_restart_start || bad "crash: the server did not start again"
        same "crash: crash recovery emptied the segments" \
            "$(sql "$DB" "SELECT count(*) FROM tsl_segments WHERE list_id = 'e1'")" 0
        # The tokens survived: the newest is the one served before the crash.
        fetch "$DB" e1
        same "crash: the token committed before is there" "$(lst_of)" "$good"
        "$PY" "$CHECK" gen "$T/e1.model" 2200000 1 1 4242 "$T/upd"
        ti "$T/upd" update e1 --force --db "$DB"
        expect_rc "crash: a change after the restart" 0
        pub "$DB" e1
        expect_rc "crash: the publication after" 0
        verify "crash: tokens after" "$DB" e1 2200000 1 "$T/e1.model"
        inc=$(lst_of)
        same "crash: every segment stored again" \
            "$(sql "$DB" "SELECT count(*) FROM tsl_segments WHERE list_id = 'e1'")" "$before"
        sql "$DB" "DELETE FROM tsl_segments WHERE list_id = 'e1'"
        pub "$DB" e1
        fetch "$DB" e1
        same "crash: the lst from scratch is the one after the crash" "$(lst_of)" "$inc"
    fi
    note "crash: $(($(date +%s) - START)) s"
fi
# ---- serve: a change picked up at --publish-interval 0.05 --------------------------
# (timing: not under the sanitizers)
[ "${TSL_SANITIZED:-}" = 1 ] && finish
SDB=$(test_db serve) || { bad "cannot make a $BACKEND store"; finish; }
t list create sv --uri https://example.com/sv --bits 1 --size 1000000 --key "$T/k.pem" --db "$SDB"
expect_rc "serve: create" 0
if serve_bg "$T/serve.log" --db "$SDB" --listen 127.0.0.1:0 --publish-interval 0.05; then
    PIDS="$PIDS $SERVE_PID"
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log" | head -n 1)
    "$PY" "$HERE/propagate.py" latency "$TSL" "$SDB" sv 1 "http://127.0.0.1:$port/sv" >/dev/null
    : >"$T/lat"
    for idx in 11 222 3333 44444 555555; do
        "$PY" "$HERE/propagate.py" latency "$TSL" "$SDB" sv "$idx" "http://127.0.0.1:$port/sv" >>"$T/lat"
    done
    note "serve: seconds from tsl set to served: $(tr '\n' ' ' <"$T/lat")"
    slow=$(awk '$1 == "timeout" || $1 >= 1 { n++ } END { print n + 0 }' "$T/lat")
    same "serve: every change served within 1 s" "$slow" 0
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null
else
    bad "serve: tsl serve did not start: $(head -c 300 "$T/serve.log")"
fi

finish
