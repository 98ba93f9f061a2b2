#!/bin/sh
# pg_serve.sh - `tsl serve` on PostgreSQL, with real servers and real HTTP (issue 12,
# "Change propagation"):
#   push      two `tsl serve` on one database both serve each `tsl set` within 1 s of
#             the command's start (measured per update and per server, the slowest
#             asserted), and the slow full rounds do not stand in for the push: the
#             server's full round is 30 s apart;
#   one       exactly one token per version and form is recorded, and the two servers'
#             signed publishes add up to the versions (the other one skipped);
#   outage    PostgreSQL stopped for 10 s and started again under both servers while a
#             client polls each every 50 ms: no 5xx for the list, /healthz 503 "store
#             unreachable since ..." and tsl_store_connected 0 during the outage, ?time=
#             inside the served token's [iat, exp) answered from memory (200) and an
#             older time 503 with Retry-After; after the restart an update is served by
#             both within 5 s of the server's start and /healthz is ok again;
#   secrets   the password libpq has in its environment (PGPASSWORD) appears in no log,
#             /healthz or /metrics answer.
# Uses the cluster run_all.sh started (TSL_TEST_PG, restarting it for the outage), or
# starts a throwaway one (tests/pg.sh); a database of its own either way. Usage: sh tests/pg_serve.sh [BUILD_DIR]   (about 40 s)
# Needs curl, PostgreSQL (scripts/deps.sh) and /usr/bin/python3.
# Closing line: "pg_serve: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=pg_serve
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
# shellcheck source=tests/pg.sh
. "$(dirname "$0")/pg.sh"
PY=/usr/bin/python3
PROP=$(dirname "$0")/propagate.py
URI=https://example.com/statuslists/pl
P=/statuslists/pl
SECRET=pgserve-S3cret-pw

if [ ! -x "$TSL" ]; then
    echo "pg_serve: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
command -v curl >/dev/null 2>&1 || { bad "curl is missing (apt-get install curl)"; finish; }
command -v psql >/dev/null 2>&1 || { bad "psql is missing (apt-get install postgresql-client)"; finish; }

SPID1="" SPID2="" POLL1="" POLL2=""
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-pgserve.XXXXXX") || exit 2
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for _p in $SPID1 $SPID2 $POLL1 $POLL2; do
        kill "$_p" 2>/dev/null
    done
    [ -n "${DBNAME:-}" ] && [ -n "${TSL_TEST_PG:-}" ] &&
        psql "$TSL_TEST_PG" -qAtc "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1
    # A shared cluster (run_all.sh's) is left running, as it was found.
    [ "${PG_DOWN:-0}" = 1 ] && [ "${PG_OWNED:-0}" != 1 ] && pg_restart_start
    [ "${PG_OWNED:-0}" = 1 ] && pg_stop
    rm -rf "$T"
}
pg_ensure || { bad "no PostgreSQL cluster (tests/pg.sh)"; finish; }
# After pg_ensure, which sets its own traps: cleanup stops the cluster it started.
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -z "${PG_DIR:-}" ] || [ -z "${PG_CTL:-}" ]; then
    bad "TSL_TEST_PG is set but not by tests/pg.sh: the outage case cannot restart it"
    finish
fi

# A database of our own on the cluster, as a URL of the same form as TSL_TEST_PG.
DBNAME=tsl_pgserve_$$
psql "$TSL_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $DBNAME" -c "CREATE DATABASE $DBNAME" \
    >/dev/null 2>"$T/err" || { bad "createdb: $(errline)"; finish; }
DB=$(echo "$TSL_TEST_PG" | sed "s|^\(postgres[a-z]*://[^/?]*/\)[^?]*|\1$DBNAME|")
# libpq reads the password from its environment; it must show nowhere.
PGPASSWORD=$SECRET
export PGPASSWORD


port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start N: the Nth server on the database (history on), its port in PORTN.
start() {
    for _try in 1 2 3; do
        _port=$(port)
        if serve_bg "$T/s$1.log" --db "$DB" --listen "127.0.0.1:$_port" --history; then
            eval "PORT$1=$_port SPID$1=$SERVE_PID"
            return 0
        fi
        grep -q 'in use' "$T/s$1.log" || break
    done
    bad "tsl serve $1 did not start: $(head -c 300 "$T/s$1.log")"
    finish
}
# fetch N PATH: GET on server N; sets code, body in $T/b, headers in $T/h.
fetch() {
    eval "_port=\$PORT$1"
    code=$(curl -sS --max-time 5 -D "$T/h" -o "$T/b" -w '%{http_code}' \
        -H "Accept: application/statuslist+jwt" "http://127.0.0.1:$_port$2" 2>/dev/null) ||
        code=000
}
hdr() { tr -d '\r' <"$T/h" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//'; }
metric() { fetch "$1" /metrics; sed -n "s/^$2 //p" "$T/b"; }

"$TSL" keygen --alg ES256 --out "$T/k.pem" >/dev/null 2>"$T/err" || { bad "keygen: $(errline)"; finish; }
t list create pl --uri "$URI" --bits 1 --size 1000 --key "$T/k.pem" --db "$DB"
expect_rc "list create on PostgreSQL" 0
[ "$rc" -eq 0 ] || finish

# ---------------------------------------------------------------------------------- #
# push and one: two servers, five updates.
start 1
start 2
# Their first rounds sign the list (one of them) and both serve it.
_n=0
while [ $_n -lt 100 ]; do
    fetch 1 "$P"
    _c1=$code
    fetch 2 "$P"
    [ "$_c1" = 200 ] && [ "$code" = 200 ] && break
    sleep 0.1
    _n=$((_n + 1))
done
same "push: both servers serve the list" "$_c1 $code" "200 200"
worst=0
for idx in 11 12 13 14 15; do
    lat=$("$PY" "$PROP" latency "$TSL" "$DB" pl "$idx" \
        "http://127.0.0.1:$PORT1$P" "http://127.0.0.1:$PORT2$P")
    note "push: tsl set pl $idx INVALID served by the two servers after $lat s"
    for v in $lat; do
        case $v in
        [0-9]*.[0-9]*)
            if awk "BEGIN { exit !($v < 1.0) }"; then ok; else bad "push: served after $v s (> 1 s)"; fi
            worst=$(awk "BEGIN { print ($v > $worst) ? $v : $worst }")
            ;;
        set=*) ;; # when tsl set had exited
        *) bad "push: update of entry $idx not served: $lat" ;;
        esac
    done
done
note "push: slowest commit-to-served over 5 updates x 2 servers: $worst s"
# one: a token per version and form, and the servers' signatures add up to the versions.
dups=$(psql "$DB" -qAt -c "SELECT count(*) FROM (SELECT version, format FROM tsl_tokens
    WHERE list_id = 'pl' GROUP BY version, format HAVING count(*) > 1) d" 2>"$T/err")
same "one: versions signed twice" "$dups" 0
versions=$(psql "$DB" -qAt -c "SELECT count(DISTINCT version) FROM tsl_tokens WHERE list_id = 'pl'")
if [ "${versions:-0}" -ge 6 ]; then ok; else bad "one: $versions versions recorded, expected 6"; fi
ok1=$(metric 1 'tsl_publishes_total{result="ok"}')
ok2=$(metric 2 'tsl_publishes_total{result="ok"}')
sk1=$(metric 1 'tsl_publishes_total{result="skipped"}')
sk2=$(metric 2 'tsl_publishes_total{result="skipped"}')
note "one: $versions versions; signed by server 1: $ok1, by server 2: $ok2; skipped $sk1 + $sk2"
same "one: signatures of the two servers = versions" "$((ok1 + ok2))" "$versions"
audit=$(psql "$DB" -qAt -c "SELECT count(*) FROM tsl_batches WHERE list_id = 'pl' AND kind = 'publish'")
same "one: audit rows 'publish' = versions" "$audit" "$versions"

# ---------------------------------------------------------------------------------- #
# outage: the database stopped 10 s under both servers.
fetch 1 "$P"
IAT=$("$PY" -c 'import base64,json,sys
t=open(sys.argv[1]).read().split(".")[1]; print(json.loads(base64.urlsafe_b64decode(t+"="*(-len(t)%4)))["iat"])' "$T/b")
"$PY" "$PROP" poll "http://127.0.0.1:$PORT1$P" "$T/poll1" "$T/stop" &
POLL1=$!
"$PY" "$PROP" poll "http://127.0.0.1:$PORT2$P" "$T/poll2" "$T/stop" &
POLL2=$!
sleep 1
T_STOP=$(date +%s)
PG_DOWN=1
pg_restart_stop || bad "outage: pg_ctl stop failed"
sleep 3
fetch 1 /healthz
same "outage: /healthz status" "$code" 503
case $(cat "$T/b") in
"degraded: store unreachable since "20*Z) ok ;;
*) bad "outage: /healthz body '$(head -c 100 "$T/b")'" ;;
esac
cp "$T/b" "$T/healthz.down"
same "outage: tsl_store_connected" "$(metric 2 tsl_store_connected)" 0
lag=$(metric 1 tsl_store_last_sync_seconds)
if [ "${lag:-0}" -ge 2 ]; then ok; else bad "outage: tsl_store_last_sync_seconds '$lag' (>= 2 expected)"; fi
cp "$T/b" "$T/metrics.down"
fetch 1 "$P?time=$((IAT + 1))"
same "outage: ?time= inside the served token" "$code" 200
fetch 1 "$P?time=1000"
same "outage: ?time= before it" "$code" 503
same "outage: ?time= Retry-After" "$(hdr Retry-After)" 5
sleep $((T_STOP + 10 - $(date +%s)))
T_START=$(date +%s.%N)
pg_restart_start || { bad "outage: pg_ctl start failed"; finish; }
PG_DOWN=0
lat=$("$PY" "$PROP" latency "$TSL" "$DB" pl 21 "http://127.0.0.1:$PORT1$P" \
    "http://127.0.0.1:$PORT2$P")
T_SET=$(date +%s.%N) # both served it (or 10 s passed)
note "outage: after the restart, tsl set served by the two servers after $lat s"
for v in $lat; do
    case $v in
    [0-9]*.[0-9]*) ok ;;
    set=*) ;;
    *) bad "outage: update after the restart not served: $lat" ;;
    esac
done
: >"$T/stop"
wait "$POLL1" "$POLL2" 2>/dev/null
POLL1="" POLL2=""
# Recovery: pg_ctl start returned, tsl set ran (retried while the server was not yet
# accepting) and both servers served its change, all within 5 s of the server's start.
rec=$(awk "BEGIN { printf \"%.3f\", $T_SET - $T_START }")
note "outage: from pg_ctl start to the update served by both servers: $rec s"
if awk "BEGIN { exit !($rec < 5.0) }"; then ok; else bad "outage: recovery took $rec s (> 5 s)"; fi
for n in 1 2; do
    total=$(wc -l <"$T/poll$n")
    errs=$(awk '$2 >= 500 || $2 == 0' "$T/poll$n" | wc -l)
    oks=$(awk '$2 == 200' "$T/poll$n" | wc -l)
    note "outage: server $n answered $total polls: $oks 200, $errs 5xx or failed"
    same "outage: server $n 5xx or failed polls" "$errs" 0
    if [ "$total" -ge 150 ]; then ok; else bad "outage: only $total polls of server $n"; fi
done
_n=0
while [ $_n -lt 50 ]; do
    fetch 1 /healthz
    [ "$code" = 200 ] && break
    sleep 0.1
    _n=$((_n + 1))
done
same "outage: /healthz after the restart" "$code $(cat "$T/b")" "200 ok"
same "outage: tsl_store_connected after" "$(metric 1 tsl_store_connected)" 1
if grep -q 'store unreadable' "$T/s1.log" && grep -q 'readable again' "$T/s1.log"; then ok; else
    bad "outage: the log does not say the store went and came back: $(head -c 300 "$T/s1.log")"; fi

# ---------------------------------------------------------------------------------- #
# secrets: no password anywhere the servers wrote or answered.
# (And both stop on SIGTERM, with exit status 0.)
kill "$SPID1" "$SPID2" 2>/dev/null
wait "$SPID1"
same "secrets: server 1 exit status after SIGTERM" "$?" 0
wait "$SPID2"
same "secrets: server 2 exit status after SIGTERM" "$?" 0
SPID1="" SPID2=""
for f in "$T/s1.log" "$T/s2.log" "$T/healthz.down" "$T/metrics.down"; do
    if grep -q "$SECRET" "$f"; then bad "secrets: the password is in $(basename "$f")"; else ok; fi
done
finish
