#!/bin/sh
# serve_attack.sh - `tsl serve` under attack (issue 10, items 1 and 5), over loopback
# only, every attack bounded in connections and time and stopping by itself; the
# clients are tests/serve_attack.py.
# - Flood: 127.0.0.1 holds 4,000 idle connections and 1,000 slowloris ones (one header
#   byte every 2 s), opening again once a second those the server closes; meanwhile a
#   client on 127.0.0.2 makes one request every 50 ms for 6 s, each on a new
#   connection, and must get at least 99% of them answered (200, whole body) with p99
#   <= 50 ms (a second window is allowed when the first misses: a loaded machine).
# - Each limit alone: the request deadline (--head-timeout 3) cuts a connection that
#   trickles a byte every 0.5 s, and a keep-alive connection idle after its answer;
#   --max-per-address 4 refuses the 5th connection of an address and not another
#   address's; --max-connections 5 closes the oldest idle connection to admit a new
#   client; /metrics counts each by reason and shows the limits.
# - Request heads answered once (one status line, nothing after the body): HTTP/1.1
#   without Host (400), two Host (400), two Content-Length (400), a malformed or list
#   Content-Length (400, libmicrohttpd's own answer has its header block twice), one
#   over 2^64 or over 64 KiB (413), Content-Length with chunked (400), another transfer
#   coding (501), obsolete line folding and a space before the colon (400), a chunked
#   GET body over 64 KiB (413, libmicrohttpd sent nothing), a 100 KB header (431); the
#   same rules on a keep-alive connection's second request.
# - A second server on the same port fails (no silent SO_REUSEPORT sharing).
#
# Usage: sh tests/serve_attack.sh [BUILD_DIR]   (run from the project root; about 30 s)
# Needs /usr/bin/python3 and curl, and `ulimit -n` of 16384 or a hard limit allowing it.
# Closing line: "serve_attack: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=serve_attack
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
PY=/usr/bin/python3
ATTACK=$(cd "$(dirname "$0")" && pwd)/serve_attack.py
P1=/statuslists/1
FLOOD_IDLE=4000
FLOOD_SLOW=1000
FLOOD_SECONDS=16 # at most: stopped after the measuring window(s)
LEGIT_SECONDS=6

SPIDS=""
FLOOD_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for _p in $SPIDS $FLOOD_PID; do
        kill "$_p" 2>/dev/null
    done
    rm -rf "$T"
}

if [ ! -x "$TSL" ]; then
    echo "serve_attack: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
if [ ! -x "$PY" ]; then
    bad "$PY is missing (apt-get install python3)"
    finish
fi
command -v curl >/dev/null 2>&1 || { bad "curl is missing (apt-get install curl)"; finish; }
# The flood holds 5,000 sockets in the client and up to 2 x 1024 in the server.
# (ulimit -n is not POSIX, but dash, bash and busybox sh all have it.)
# shellcheck disable=SC3045
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
# shellcheck disable=SC3045
_nofile=$(ulimit -n)
if [ "$_nofile" != unlimited ] && [ "$_nofile" -lt 8192 ]; then
    # shellcheck disable=SC3045
    bad "ulimit -n is $_nofile (hard $(ulimit -Hn)); the flood needs 8192"
    finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-attack.XXXXXX") || exit 2
trap cleanup EXIT
trap 'exit 130' INT TERM
DB=$T/tsl.db
unset TSL_DB

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/pub.jwk" 2>"$T/err" || bad "keygen: $(errline)"
"$TSL" list create L1 --uri "https://example.com$P1" --bits 1 --size 1000 \
    --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err" || bad "list create: $(errline)"
"$TSL" publish L1 --db "$DB" >/dev/null 2>"$T/err" || bad "publish: $(errline)"

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start_serve LOG ARGS...: tsl serve on a free port (5 tries when taken); sets PORT and
# adds the pid to SPIDS, or returns 1.
start_serve() {
    _log=$1
    shift
    _try=0
    while [ $_try -lt 5 ]; do
        _try=$((_try + 1))
        PORT=$(free_port)
        if serve_bg "$_log" --db "$DB" --listen "127.0.0.1:$PORT" "$@"; then
            SPIDS="$SPIDS $SERVE_PID"
            # --help text (an unknown option) also holds the words "listening on".
            grep -q '^tsl serve: listening on' "$_log" && return 0
            stop_serve "$SERVE_PID"
            break
        fi
        grep -qi 'in use' "$_log" || break
    done
    echo "serve_attack: tsl serve $* did not start: $(head -c 300 "$_log" | tr '\n' '|')" >&2
    return 1
}
stop_serve() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    _rc=$?
    SPIDS=$(echo "$SPIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
    return $_rc
}
# metric NAME_AND_LABELS: its value in $T/metrics (0 when absent).
metric() {
    awk -v m="$1" 'index($0, m " ") == 1 {print $2; f = 1} END {if (!f) print 0}' "$T/metrics"
}
get_metrics() {
    curl -s --max-time 5 --interface 127.0.0.3 -o "$T/metrics" "http://127.0.0.1:$1/metrics" || : >"$T/metrics"
}
# json FIELD: a field of the JSON object in $T/legit.
json() {
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/legit" "$1" 2>/dev/null
}

# ---------------------------------------------------------------------------------- #
# 1. The flood, with the default limits.

if start_serve "$T/flood.log"; then
    FPORT=$PORT
    FSPID=$SERVE_PID
    # The attacker runs niced: its CPU would be another machine's, not the server's.
    nice -n 10 "$PY" "$ATTACK" flood 127.0.0.1 "$FPORT" 127.0.0.1 "$FLOOD_IDLE" \
        "$FLOOD_SLOW" "$FLOOD_SECONDS" 2 >"$T/flood.out" 2>&1 &
    FLOOD_PID=$!
    sleep 3 # the attack in place
    # One measuring window; a second one only when the first misses (the machine may
    # be loaded by other work): the old server misses both by far.
    _try=0
    while [ $_try -lt 2 ]; do
        _try=$((_try + 1))
        "$PY" "$ATTACK" legit 127.0.0.1 "$FPORT" 127.0.0.2 "$LEGIT_SECONDS" 0.05 "$P1" \
            >"$T/legit" 2>&1
        _n=$(json n)
        _ok=$(json ok)
        _p99=$(json p99_ms)
        note "client on 127.0.0.2 during the flood (window $_try): $(cat "$T/legit")"
        if [ -n "$_n" ] && [ "$_n" -gt 0 ] && [ $((_ok * 100)) -ge $((_n * 99)) ] &&
            awk -v p="$_p99" 'BEGIN {exit !(p <= 50)}'; then
            break
        fi
    done
    kill "$FLOOD_PID" 2>/dev/null
    wait "$FLOOD_PID"
    FLOOD_PID=""
    note "flood $(cat "$T/flood.out")"
    if [ -n "$_n" ] && [ "$_n" -gt 0 ] && [ $((_ok * 100)) -ge $((_n * 99)) ]; then ok; else
        bad "flood: the client on 127.0.0.2 got ${_ok:-?} of ${_n:-?} answers (99% needed): $(cat "$T/legit")"
    fi
    if [ -n "$_p99" ] && awk -v p="$_p99" 'BEGIN {exit !(p <= 50)}'; then ok; else
        bad "flood: p99 ${_p99:-?} ms for the client on 127.0.0.2 (50 ms at most)"
    fi
    get_metrics "$FPORT"
    _pa=$(metric 'tsl_connections_dropped_total{reason="per_address"}')
    note "flood: $_pa connections refused (per_address)"
    if [ "$_pa" -gt 0 ]; then ok; else bad "flood: no per_address drop counted in /metrics"; fi
    for _l in max_connections per_address head_timeout_seconds; do
        case $_l in max_connections) _w=1024 ;; per_address) _w=64 ;; *) _w=10 ;; esac
        same "metrics: the default $_l" "$(metric "tsl_connection_limit{limit=\"$_l\"}")" "$_w"
    done
    # A second server on the same port must fail, not share it.
    "$TSL" serve --db "$DB" --listen "127.0.0.1:$FPORT" >/dev/null 2>"$T/second.err" &
    _sp=$!
    _k=0
    while [ $_k -lt 50 ] && kill -0 "$_sp" 2>/dev/null; do sleep 0.1; _k=$((_k + 1)); done
    if kill -0 "$_sp" 2>/dev/null; then
        bad "a second tsl serve on port $FPORT started (the port is shared)"
        kill "$_sp"
        wait "$_sp" 2>/dev/null
    else
        wait "$_sp"
        same "a second tsl serve on the same port: exit status" "$?" 2
        if grep -q 'in use' "$T/second.err"; then ok; else
            bad "a second tsl serve on the same port: '$(head -c 200 "$T/second.err")'"; fi
    fi
    stop_serve "$FSPID"
    same "flood: exit status after SIGTERM" "$?" 0
else
    bad "tsl serve (defaults) did not start"
fi

# ---------------------------------------------------------------------------------- #
# 2. Request heads, with the default options.

if start_serve "$T/heads.log"; then
    HPORT=$PORT
    HSPID=$SERVE_PID
    # Request heads: "STATUS STATUS_LINES EXTRA_BYTES".
    raw_case() {
        same "head $1" "$("$PY" "$ATTACK" raw 127.0.0.1 "$HPORT" "$1" 2>&1)" "$2"
    }
    raw_case ok "200 1 0"
    raw_case nohost "400 1 0"
    raw_case nohost10 "200 1 0"
    raw_case twohost "400 1 0"
    raw_case twocl "400 1 0"
    raw_case badcl "400 1 0"
    raw_case listcl "400 1 0"
    raw_case hugecl "413 1 0"
    raw_case bigcl "413 1 0"
    raw_case clte "400 1 0"
    raw_case tegzip "501 1 0"
    raw_case fold "400 1 0"
    raw_case spacecolon "400 1 0"
    raw_case chunked_small "200 1 0"
    raw_case chunked_big "413 1 0"
    raw_case bighead "431 1 0"
    # The same rules for the second request of a keep-alive connection.
    for _c in nohost twocl twohost clte; do
        same "keep-alive, then $_c" "$("$PY" "$ATTACK" keepalive 127.0.0.1 "$HPORT" "$_c" 2>&1)" \
            "200 1 0 / 400 1 0"
    done
    same "keep-alive, then chunked_big" \
        "$("$PY" "$ATTACK" keepalive 127.0.0.1 "$HPORT" chunked_big 2>&1)" "200 1 0 / 413 1 0"
    same "keep-alive, then ok" "$("$PY" "$ATTACK" keepalive 127.0.0.1 "$HPORT" ok 2>&1)" \
        "200 1 0 / 200 1 0"
    get_metrics "$HPORT"
    if [ "$(metric 'tsl_requests_total{code="400",format="none"}')" -ge 8 ]; then ok; else
        bad "the gate's 400 answers are not counted in tsl_requests_total"; fi
    _code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HPORT$P1")
    same "served after the bad heads" "$_code" 200
    stop_serve "$HSPID"
    same "heads: exit status after SIGTERM" "$?" 0
else
    bad "tsl serve (defaults) did not start"
fi

# ---------------------------------------------------------------------------------- #
# 3. Each limit alone.

if start_serve "$T/limits.log" --head-timeout 3 --max-per-address 4; then
    LPORT=$PORT
    LSPID=$SERVE_PID
    # The deadline: a byte every 0.5 s does not keep the connection past 3 s (the idle
    # timeout alone would never cut it).
    _out=$("$PY" "$ATTACK" trickle 127.0.0.1 "$LPORT" 127.0.0.1 0.5 8)
    case $_out in
    closed*)
        _s=${_out#closed }
        if awk -v s="$_s" 'BEGIN {exit !(s >= 2.8 && s <= 4.5)}'; then ok; else
            bad "head timeout 3: the trickling connection was closed after $_s s"; fi
        ;;
    *) bad "head timeout 3: the trickling connection: '$_out'" ;;
    esac
    # ... and a keep-alive connection waiting for its next request.
    _out=$("$PY" "$ATTACK" idle_after 127.0.0.1 "$LPORT" 127.0.0.4 8)
    case $_out in
    closed*)
        _s=${_out#closed }
        if awk -v s="$_s" 'BEGIN {exit !(s >= 2.8 && s <= 4.5)}'; then ok; else
            bad "head timeout 3: the idle keep-alive connection was closed after $_s s"; fi
        ;;
    *) bad "head timeout 3: the idle keep-alive connection: '$_out'" ;;
    esac
    # Per address: 4 from 127.0.0.5 are held, the next two refused at once, while
    # 127.0.0.6 is served.
    "$PY" "$ATTACK" hold 127.0.0.1 "$LPORT" 127.0.0.5 6 1.0 >"$T/hold" 2>&1 &
    _hp=$!
    sleep 0.8
    "$PY" "$ATTACK" legit 127.0.0.1 "$LPORT" 127.0.0.6 0.5 0.1 "$P1" >"$T/legit" 2>&1
    wait "$_hp"
    same "per address: the client on 127.0.0.6 served" "$(json ok)/$(json n)" "$(json n)/$(json n)"
    same "per address: 4 of 6 kept open" "$(grep -c ' open$' "$T/hold")" 4
    _late=$(awk '$2 == "closed" && $3 <= 0.5 {print $1}' "$T/hold" | tr '\n' ' ')
    same "per address: the 5th and 6th refused at once" "$_late" "4 5 "
    get_metrics "$LPORT"
    if [ "$(metric 'tsl_connections_dropped_total{reason="head_timeout"}')" -ge 1 ]; then ok; else
        bad "head timeout: not counted in /metrics"; fi
    if [ "$(metric 'tsl_connections_dropped_total{reason="idle_timeout"}')" -ge 1 ]; then ok; else
        bad "idle keep-alive timeout: not counted in /metrics"; fi
    if [ "$(metric 'tsl_connections_dropped_total{reason="per_address"}')" -ge 2 ]; then ok; else
        bad "per address: not counted in /metrics"; fi
    same "metrics: --head-timeout" "$(metric 'tsl_connection_limit{limit="head_timeout_seconds"}')" 3
    same "metrics: --max-per-address" "$(metric 'tsl_connection_limit{limit="per_address"}')" 4
    stop_serve "$LSPID"
    same "limits: exit status after SIGTERM" "$?" 0
else
    bad "tsl serve --head-timeout 3 --max-per-address 4 did not start"
fi

# The global cap: 5 idle connections from 127.0.0.7, then a client on 127.0.0.8 is
# served and the oldest idle connection is the one closed.
if start_serve "$T/cap.log" --max-connections 5 --max-per-address 0 --head-timeout 30; then
    CPORT=$PORT
    CSPID=$SERVE_PID
    "$PY" "$ATTACK" hold 127.0.0.1 "$CPORT" 127.0.0.7 5 2.5 >"$T/hold" 2>&1 &
    _hp=$!
    sleep 1
    "$PY" "$ATTACK" legit 127.0.0.1 "$CPORT" 127.0.0.8 0.3 0.5 "$P1" >"$T/legit" 2>&1
    wait "$_hp"
    same "cap: the new client served" "$(json ok)/$(json n)" "$(json n)/$(json n)"
    same "cap: the oldest idle connection closed, the rest kept" \
        "$(awk '{print $1, $2}' "$T/hold" | tr '\n' ' ')" "0 closed 1 open 2 open 3 open 4 open "
    get_metrics "$CPORT"
    if [ "$(metric 'tsl_connections_dropped_total{reason="capacity"}')" -ge 1 ]; then ok; else
        bad "cap: not counted in /metrics"; fi
    same "metrics: --max-connections" "$(metric 'tsl_connection_limit{limit="max_connections"}')" 5
    stop_serve "$CSPID"
    same "cap: exit status after SIGTERM" "$?" 0
else
    bad "tsl serve --max-connections 5 did not start"
fi

# Options out of range are usage errors.
for _o in "--max-connections 0" "--max-connections x" "--max-per-address -1" \
    "--head-timeout 0" "--head-timeout 3601"; do
    # shellcheck disable=SC2086 # the option and its value
    t serve --db "$DB" --listen 127.0.0.1:0 $_o
    expect_rc "serve $_o" 2
done
t serve --help
case $(cat "$T/out") in *--max-connections*--max-per-address*--head-timeout*) ok ;;
*) bad "serve --help does not list the connection limits" ;; esac

finish
