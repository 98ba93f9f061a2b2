#!/bin/sh
# serve_pub.sh - the publisher inside `tsl serve` against what took it down in v0.1
# (issue 10): one server per case, each on loopback, each stopped by the script.
#
#   fifo      a list's key file replaced by a FIFO while serve runs with --history:
#             ?time= requests, /metrics and /healthz still answer within 3 s, /healthz
#             turns degraded once no round completes, SIGTERM exits 0 within 6 s
#   health    the public /healthz says only "degraded" (no key path, no list id);
#             the log names the list; /metrics counts the problem by kind; a list that
#             never published and cannot is logged as not served, not as "serving the
#             last good token"
#   clash     two lists on one path in the store (made with sqlite3, as an old store
#             could hold them): the older is served, the other lists too, the clash is
#             logged and /healthz is degraded; a list on /healthz is not served
#   startup   a 10^8-entry list whose next publish takes seconds: the server accepts
#             connections at once and serves the recorded token, the first round
#             publishes in the background
#   history   the same list re-published while ?time= requests run: none waits for
#             the publish
#   accesslog --access-log on a FIFO whose reader never reads: once the pipe is full,
#             requests still answer at once; the lost lines are counted in /metrics
#
# Usage: sh tests/serve_pub.sh [BUILD_DIR] [sqlite|pg]   (run from the project root; about a minute)
# With a second argument pg: every case on a PostgreSQL store (tests/backend.sh; the
# clash is made with psql there).
# Needs curl, sqlite3 and /usr/bin/python3. Closing line: "serve_pub: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=serve_pub
BACKEND=${2:-sqlite}
[ "$BACKEND" = pg ] && SUITE=serve_pub_pg
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
# shellcheck source=tests/backend.sh
. "$(dirname "$0")/backend.sh"
PY=/usr/bin/python3

PIDS=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for _p in $PIDS; do
        kill -9 "$_p" 2>/dev/null
    done
    backend_cleanup
    rm -rf "$T"
}

if [ ! -x "$TSL" ]; then
    echo "serve_pub: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
for _tool in curl sqlite3; do
    command -v "$_tool" >/dev/null 2>&1 || { bad "$_tool is missing (apt-get install $_tool)"; finish; }
done
[ -x "$PY" ] || { bad "$PY is missing (apt-get install python3)"; finish; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-servepub.XXXXXX") || exit 2
backend_init || { rm -rf "$T"; bad "no PostgreSQL cluster (tests/pg.sh)"; finish; }
note "store backend: $BACKEND"
trap cleanup EXIT
trap 'exit 130' INT TERM
unset TSL_DB

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start NAME ARGS...: tsl serve on a free loopback port, log in $T/NAME.log; sets PORT
# and SERVE_PID (empty when it did not start).
start() {
    _n=$1
    shift
    PORT=""
    if serve_bg "$T/$_n.log" --listen 127.0.0.1:0 "$@"; then
        PIDS="$PIDS $SERVE_PID"
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/$_n.log" | head -n 1)
    else
        bad "$_n: tsl serve did not start: $(head -c 300 "$T/$_n.log" | tr '\n' '|')"
    fi
}

# get PATH [CURL ARGS...]: GET on the current server with a 3 s limit; sets code (000
# when no answer in time) and secs, body in $T/b.
get() {
    _path=$1
    shift
    _r=$(curl -s -m 3 -o "$T/b" -w '%{http_code} %{time_total}' "$@" \
        "http://127.0.0.1:$PORT$_path" 2>/dev/null)
    code=${_r% *}
    secs=${_r#* }
    [ -n "$code" ] || code=000
}

# stop NAME PID LIMIT: SIGTERM, and the server must exit 0 within LIMIT seconds (it is
# killed after that).
stop() {
    kill -TERM "$2" 2>/dev/null
    _i=0
    while kill -0 "$2" 2>/dev/null && [ $_i -lt $(($3 * 10)) ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    if kill -0 "$2" 2>/dev/null; then
        bad "$1: still running $3 s after SIGTERM"
        kill -9 "$2" 2>/dev/null
        wait "$2" 2>/dev/null
        return
    fi
    wait "$2"
    _rc=$?
    same "$1: exit status after SIGTERM" "$_rc" 0
}

metric() { grep "^$1 " "$T/b" | awk '{print $2}'; }

"$TSL" keygen --alg ES256 --out "$T/k.pem" >/dev/null 2>&1 || { bad "keygen"; finish; }

# mklist DB ID URI KEY: creates a small list and publishes it.
mklist() {
    _db=$1 _id=$2 _uri=$3
    t list create "$_id" --uri "$_uri" --bits 1 --size 1000 --key "$4" --db "$_db"
    expect_rc "list create $_id" 0
    t publish "$_id" --db "$_db"
    expect_rc "publish $_id" 0
}

# ---- fifo: a key file that blocks -------------------------------------------------
DB=$(test_db fifo) || { bad "cannot make a $BACKEND store"; finish; }
cp "$T/k.pem" "$T/kf.pem"
chmod 600 "$T/kf.pem"
mklist "$DB" f1 https://example.com/f1 "$T/kf.pem"
mklist "$DB" f2 https://example.com/f2 "$T/k.pem"
start fifo --db "$DB" --history --publish-interval 1
if [ -n "$SERVE_PID" ]; then
    FPID=$SERVE_PID
    TNOW=$(date +%s)
    rm -f "$T/kf.pem"
    mkfifo -m 600 "$T/kf.pem"
    t set f1 5 INVALID --db "$DB" # the next round publishes f1: opens the FIFO
    expect_rc "fifo: set f1" 0
    # Until the publisher is stuck (no round for 2.5 s) or has failed on the FIFO (a
    # library that refuses one), at most 10 s.
    _i=0
    while [ $_i -lt 20 ]; do
        get /metrics
        _age=$(metric tsl_publisher_round_age_seconds)
        _perr=$(grep '^tsl_problems{kind="publish"}' "$T/b" | awk '{print $2}')
        [ "${_perr:-0}" -ge 1 ] && break
        [ -n "$_age" ] && awk -v a="$_age" 'BEGIN { exit !(a >= 2.5) }' && break
        sleep 0.5
        _i=$((_i + 1))
    done
    note "fifo: publisher round age ${_age:-?} s, publish problems ${_perr:-?}"
    # Four history requests at once (as many as the worker threads and more), then the
    # rest: every one answered within the 3 s limit.
    for _k in 1 2 3 4; do
        curl -s -m 3 -o /dev/null -w '%{http_code}\n' \
            "http://127.0.0.1:$PORT/f2?time=$TNOW" >"$T/par.$_k" 2>/dev/null &
    done
    get "/f1?time=$TNOW"
    same "fifo: ?time= on the list whose key blocks answers" "$code" 200
    get "/f2?time=$TNOW"
    same "fifo: ?time= on another list answers" "$code" 200
    get /metrics
    same "fifo: /metrics answers" "$code" 200
    get /f1
    same "fifo: the current token is still served" "$code" 200
    # Wait for the background requests (curl -m 3 bounds them).
    _i=0
    while [ $_i -lt 40 ] && [ "$(cat "$T"/par.* 2>/dev/null | wc -l)" -lt 4 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    same "fifo: 4 parallel ?time= requests all 200" "$(cat "$T"/par.* | sort | uniq -c | tr -s ' ')" " 4 200"
    # /healthz turns degraded once the round is overdue (10 s floor), and answers fast
    # meanwhile.
    _deg=0 _slow=0 _i=0
    while [ $_i -lt 25 ]; do
        get /healthz
        case $code in 000) _slow=$((_slow + 1)) ;; esac
        if [ "$code" = 503 ]; then _deg=1; break; fi
        sleep 1
        _i=$((_i + 1))
    done
    same "fifo: /healthz never hangs" "$_slow" 0
    same "fifo: /healthz degraded while the publisher is stuck" "$_deg" 1
    same "fifo: /healthz body" "$(cat "$T/b")" degraded
    get /metrics
    _stalled=$(metric tsl_publisher_stalled)
    _perr=$(grep '^tsl_problems{kind="publish"}' "$T/b" | awk '{print $2}')
    # A library that refuses a FIFO makes it a publish error instead of a stall.
    if [ "$_stalled" = 1 ] || [ "${_perr:-0}" -ge 1 ]; then ok; else
        bad "fifo: /metrics shows neither a stall nor a publish error"; fi
    get "/f2?time=$TNOW"
    same "fifo: ?time= still answers after the stall" "$code" 200
    if grep -q 'STALLED\|publishing list "f1" failed' "$T/fifo.log"; then ok; else
        bad "fifo: the log does not say what is wrong: $(tail -c 300 "$T/fifo.log" | tr '\n' '|')"; fi
    stop fifo "$FPID" 6
fi

# ---- health: nothing but ok or degraded in public ---------------------------------
DB=$(test_db health) || { bad "cannot make a $BACKEND store"; finish; }
cp "$T/k.pem" "$T/kh.pem"
chmod 600 "$T/kh.pem"
mklist "$DB" h1 https://example.com/h1 "$T/kh.pem"
t list create h2 --uri https://example.com/h2 --bits 1 --size 100 --key "$T/kh.pem" --db "$DB"
expect_rc "list create h2" 0
rm -f "$T/kh.pem" # h1 keeps its token, h2 never had one
start health --db "$DB" --publish-interval 1
if [ -n "$SERVE_PID" ]; then
    HPID=$SERVE_PID
    _i=0
    while [ $_i -lt 30 ]; do
        get /healthz
        [ "$code" = 503 ] && break
        sleep 0.1
        _i=$((_i + 1))
    done
    same "health: /healthz status" "$code" 503
    same "health: /healthz says only degraded" "$(cat "$T/b")" degraded
    if grep -q 'h1\|h2\|kh\.pem\|/' "$T/b"; then bad "health: /healthz discloses details"; else ok; fi
    get /h1
    same "health: h1 still served" "$code" 200
    get /metrics
    same "health: tsl_problems{kind=\"key\"}" "$(grep '^tsl_problems{kind="key"}' "$T/b" | awk '{print $2}')" 2
    if grep -q 'kh\.pem' "$T/b"; then bad "health: /metrics discloses the key path"; else ok; fi
    sleep 0.5
    if grep -q 'key of list "h1"' "$T/health.log"; then ok; else
        bad "health: the log does not name h1's key problem"; fi
    if grep -q 'publishing list "h2" failed.*not served until it publishes' "$T/health.log"; then
        ok; else bad "health: h2's failure is not logged as not served: $(grep h2 "$T/health.log" | head -c 300)"; fi
    # Lines about list h2 only: h1's line names its key file, whose directory (mktemp's
    # random name) may contain "h2" too.
    if grep 'list "h2"' "$T/health.log" | grep -q 'last good token'; then
        bad "health: the log claims a last good token for h2, which has none"; else ok; fi
    get /h2
    same "health: h2 (no token) is not served" "$code" 404
    stop health "$HPID" 6
fi

# ---- clash: two lists on one path in an old store ---------------------------------
DB=$(test_db clash) || { bad "cannot make a $BACKEND store"; finish; }
mklist "$DB" zeta https://example.com/x "$T/k.pem"
mklist "$DB" alpha https://example.com/y "$T/k.pem"
mklist "$DB" other https://example.com/other "$T/k.pem"
mklist "$DB" hz https://example.com/h "$T/k.pem"
# As a store written before uri checks could hold them: alpha (newer, smaller id) on
# zeta's path, hz on /healthz.
CLASH_SQL="UPDATE lists SET uri = 'https://example.com/x', created = 1700000100 WHERE id = 'alpha';
UPDATE lists SET created = 1700000000 WHERE id = 'zeta';
UPDATE lists SET uri = 'https://example.com/healthz' WHERE id = 'hz';"
if [ "$BACKEND" = pg ]; then
    echo "$CLASH_SQL" | sed 's/UPDATE lists/UPDATE tsl_lists/' | psql -q "$DB" 2>"$T/err"
else
    sqlite3 "$DB" "$CLASH_SQL" 2>"$T/err"
fi
same "clash: sqlite3 update" "$?" 0
start clash --db "$DB" --publish-interval 1
if [ -n "$SERVE_PID" ]; then
    CPID=$SERVE_PID
    get /x
    same "clash: the shared path is served" "$code" 200
    "$TSL" decode "$T/b" >"$T/dec" 2>/dev/null
    if grep -q 'example.com/x' "$T/dec"; then ok; else
        bad "clash: /x does not serve zeta, the older list: $(head -c 300 "$T/dec" | tr '\n' '|')"; fi
    get /other
    same "clash: another list is served" "$code" 200
    get /healthz
    same "clash: /healthz degraded" "$code" 503
    same "clash: /healthz body" "$(cat "$T/b")" degraded
    get /metrics
    same "clash: tsl_problems{kind=\"path\"}" "$(grep '^tsl_problems{kind="path"}' "$T/b" | awk '{print $2}')" 2
    same "clash: tsl_lists" "$(metric tsl_lists)" 2
    if grep -q 'CLASH.*"zeta".*"alpha".*NOT serving "alpha"' "$T/clash.log"; then ok; else
        bad "clash: no loud log line for zeta and alpha: $(head -c 400 "$T/clash.log" | tr '\n' '|')"; fi
    if grep -q 'CLASH.*"hz".*NOT serving' "$T/clash.log"; then ok; else
        bad "clash: no log line for hz on /healthz"; fi
    stop clash "$CPID" 6
fi

# ---- startup and history: a 10^8-entry list ---------------------------------------
DB=$(test_db big) || { bad "cannot make a $BACKEND store"; finish; }
t list create big --uri https://example.com/big --bits 1 --size 100000000 --key "$T/k.pem" --db "$DB"
expect_rc "big: list create" 0
"$PY" -c '
import random
random.seed(10)
for i in random.sample(range(100000000), 1000000):
    print(i, 1)' >"$T/upd.txt"
t update big "$T/upd.txt" --db "$DB"
expect_rc "big: update 10^6 entries" 0
_t0=$(now_ms)
t publish big --db "$DB"
expect_rc "big: publish" 0
P_MS=$(($(now_ms) - _t0))
note "a publish of the 10^8-entry list takes $P_MS ms"
t token big --db "$DB"
tr -d '\n' <"$T/out" >"$T/recorded.jwt" # the token without the newline tsl token adds
# Statuses changed in every 64 KiB chunk (524,288 entries each), so that the first
# round re-encodes every segment: a whole encode, not the few milliseconds of an
# incremental one, during which the server must already answer.
"$PY" -c '
for k in range(191):
    print(k * 524288 + 7, 1)' >"$T/every_chunk.txt"
t update big "$T/every_chunk.txt" --db "$DB" # the first round re-signs
expect_rc "big: a change in every chunk" 0

# startup: a fixed free port, so that connections can be tried from the first moment.
BPORT=$("$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
_t0=$(now_ms)
"$TSL" serve --db "$DB" --listen "127.0.0.1:$BPORT" --history --publish-interval 1 \
    2>"$T/big.log" &
BPID=$!
PIDS="$PIDS $BPID"
PORT=$BPORT
refused=0 first_ms="" first_ok=0
while [ $(($(now_ms) - _t0)) -lt $((P_MS * 3 + 10000)) ]; do
    get /big
    if [ "$code" = 200 ]; then
        first_ms=$(($(now_ms) - _t0))
        cmp -s "$T/b" "$T/recorded.jwt" && first_ok=1
        break
    fi
    refused=$((refused + 1))
    kill -0 "$BPID" 2>/dev/null || break
    sleep 0.02
done
note "startup: first answer after ${first_ms:-never} ms ($refused refused tries); the publish takes $P_MS ms"
# Answering before the first round has ended shows as the recorded token answered
# first, then the round's new one: a server that waited for the round would answer the
# new token first.
if [ -n "$first_ms" ]; then ok; else bad "startup: no answer within $((P_MS * 3 + 10000)) ms"; fi
same "startup: the first answer is the recorded token" "$first_ok" 1
# The first round publishes in the background: a new token follows.
_new=0 _i=0
while [ $_i -lt $((P_MS * 3 / 100 + 100)) ]; do
    get /big
    if [ "$code" = 200 ] && ! cmp -s "$T/b" "$T/recorded.jwt"; then _new=1; break; fi
    sleep 0.1
    _i=$((_i + 1))
done
same "startup: the first round publishes a new token" "$_new" 1

# history: re-publish (a status changes) while ?time= requests run.
get /metrics
ok0=$(grep '^tsl_publishes_total{result="ok"}' "$T/b" | awk '{print $2}')
"$PY" -c '
for k in range(191):
    print(k * 524288 + 8, 1)' >"$T/every_chunk8.txt"
t update big "$T/every_chunk8.txt" --db "$DB" # a whole encode again
expect_rc "history: a change in every chunk" 0
TNOW=$(date +%s)
max_ms=0 n=0 bad_code=0 done_pub=0
_t0=$(now_ms)
while [ $(($(now_ms) - _t0)) -lt $((P_MS * 3 + 10000)) ]; do
    get "/big?time=$TNOW"
    [ "$code" = 200 ] || bad_code=$((bad_code + 1))
    _ms=$(awk -v s="$secs" 'BEGIN { print int(s * 1000) }')
    [ "$_ms" -gt "$max_ms" ] && max_ms=$_ms
    n=$((n + 1))
    curl -s -m 3 "http://127.0.0.1:$PORT/metrics" >"$T/m" 2>/dev/null
    _ok=$(grep '^tsl_publishes_total{result="ok"}' "$T/m" | awk '{print $2}')
    if [ -n "$_ok" ] && [ -n "$ok0" ] && [ "$_ok" -gt "$ok0" ]; then done_pub=1; break; fi
done
note "history: $n ?time= requests during a publish, the slowest took $max_ms ms"
same "history: the publish completed" "$done_pub" 1
same "history: every ?time= answered 200" "$bad_code" 0
LIMIT=$((P_MS / 3))
[ "$LIMIT" -gt 1500 ] && LIMIT=1500
if [ "$max_ms" -lt "$LIMIT" ]; then ok; else
    bad "history: a ?time= request took $max_ms ms during a $P_MS ms publish (limit $LIMIT)"; fi
stop big "$BPID" 6

# ---- accesslog: a log that takes nothing ------------------------------------------
DB=$(test_db alog) || { bad "cannot make a $BACKEND store"; finish; }
mklist "$DB" a1 https://example.com/a1 "$T/k.pem"
mkfifo -m 600 "$T/al.fifo"
# A reader that holds the FIFO open and never reads, for at most 60 s.
"$PY" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2], "w").close()
time.sleep(60)' "$T/al.fifo" "$T/al.ready" &
ALR=$!
PIDS="$PIDS $ALR"
_i=0
while [ ! -e "$T/al.ready" ] && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
start alog --db "$DB" --access-log "$T/al.fifo"
if [ -n "$SERVE_PID" ]; then
    APID=$SERVE_PID
    # 3,000 requests on keep-alive connections write ~250 KB of log lines, past the
    # 64 KiB a pipe holds; each must still answer within 2 s.
    out=$("$PY" - "$PORT" <<'PYEOF'
import http.client, sys, time
port = int(sys.argv[1])
worst, bad, c = 0.0, 0, None
for i in range(3000):
    if c is None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    t0 = time.monotonic()
    try:
        c.request("GET", "/a1")
        r = c.getresponse()
        r.read()
        if r.status != 200:
            bad += 1
    except Exception:
        bad += 1
        c.close()
        c = None
        if bad > 3:
            break
    worst = max(worst, time.monotonic() - t0)
print(bad, int(worst * 1000))
PYEOF
)
    bad_n=${out% *}
    worst_ms=${out#* }
    note "accesslog: 3000 requests with a full log pipe, $bad_n failed, slowest $worst_ms ms"
    same "accesslog: every request answered" "$bad_n" 0
    get /metrics
    dropped=$(metric tsl_access_log_dropped_total)
    if [ "${dropped:-0}" -gt 0 ]; then ok; else
        bad "accesslog: tsl_access_log_dropped_total is '${dropped}', expected lost lines counted"; fi
    stop alog "$APID" 6
fi
kill "$ALR" 2>/dev/null

# A FIFO nobody has open is refused at start, not waited on.
rm -f "$T/al2.fifo"
mkfifo -m 600 "$T/al2.fifo"
timeout 10 "$TSL" serve --db "$DB" --listen 127.0.0.1:0 --access-log "$T/al2.fifo" \
    >"$T/al2.out" 2>&1
same "accesslog: a FIFO without a reader exits 2" "$?" 2

finish
