#!/bin/sh
# bench_serve.sh - HTTP serving throughput: wrk against `tsl serve` and against nginx
# serving the same token bytes as static files with the same negotiation (the output of
# `tsl export`), in one run on the same machine with the same wrk settings. Prints one
# JSON line per server and one with the ratios (tsl / nginx):
#   {"case":"serve_tsl",...} {"case":"serve_nginx",...} {"case":"serve_ratio",...}
#
#   sh tests/bench_serve.sh [BUILD_DIR]
#   SERVE_THREADS=2 SERVE_CONNS=64 SERVE_SECONDS=10 SERVE_N=1000000 override the defaults
#
# The list: SERVE_N 1-bit entries with 1% INVALID (awk's srand(42)), one ES256 JWT;
# each server's body is checked to be the store's current JWT. wrk runs with
# -tTHREADS -cCONNS -dSECONDS --latency and Accept: application/statuslist+jwt (no
# Accept-Encoding, so both send the identity body). tsl serve gets --threads THREADS and
# nginx worker_processes THREADS. Each server has a 1 s warm-up run first. Needs wrk,
# nginx (nginx-light), curl and /usr/bin/python3; a missing one fails the run.
set -u

BUILD=${1:-${BUILD:-build}}
TSL=$BUILD/tsl
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
PY=/usr/bin/python3
THREADS=${SERVE_THREADS:-2}
CONNS=${SERVE_CONNS:-64}
SECS=${SERVE_SECONDS:-10}
N=${SERVE_N:-1000000}
URI=https://example.com/statuslists/bench
LPATH=/statuslists/bench
ACCEPT="Accept: application/statuslist+jwt"

status=0
err() {
    echo "bench_serve: $*" >&2
    status=1
}
[ -x "$TSL" ] || { echo "bench_serve: $TSL is missing (run make)" >&2; exit 2; }
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
for tool in wrk curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_serve: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }) || NGINX=""

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-serve.XXXXXX") || exit 2
SPID=""
NPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for p in $SPID $NPID; do kill "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
DB=$T/tsl.db

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# run_wrk URL: the measured run; sets rps, p99_ms, reqs, non2xx, sockerr.
run_wrk() {
    wrk -t"$THREADS" -c"$CONNS" -d1s -H "$ACCEPT" "$1" >/dev/null 2>&1
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -H "$ACCEPT" "$1" >"$T/wrk.out" 2>&1 ||
        err "wrk against $1 failed: $(tail -n 3 "$T/wrk.out" | tr '\n' '|')"
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk.out")
    reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
    p99_ms=$(awk '$1 == "99%" {
        v = $2
        if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) }
        else if (v ~ /m$/) { sub(/m$/, "", v); v = v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
        printf "%.3f", v }' "$T/wrk.out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$T/wrk.out")
    sockerr=$(sed -n 's/.*Socket errors: //p' "$T/wrk.out" |
        awk -F', ' '{s = 0; for (i = 1; i <= NF; i++) {split($i, a, " "); s += a[2]} print s}')
    rps=${rps:-0} reqs=${reqs:-0} p99_ms=${p99_ms:-0} non2xx=${non2xx:-0} sockerr=${sockerr:-0}
    if [ "$non2xx" != 0 ] || [ "$sockerr" != 0 ]; then
        err "$1: $non2xx non-2xx, $sockerr socket errors"
    fi
}

# The list and its token.
"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/pub.jwk" 2>"$T/err" || { cat "$T/err" >&2; exit 2; }
"$TSL" list create B --uri "$URI" --bits 1 --size "$N" --formats jwt,cwt \
    --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 2; }
awk -v n="$N" 'BEGIN { srand(42); for (i = 0; i < n / 100; i++) print int(rand() * n), "INVALID" }' \
    >"$T/upd"
"$TSL" update B "$T/upd" --db "$DB" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 2; }
"$TSL" publish B --db "$DB" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 2; }
"$TSL" token B --db "$DB" | tr -d '\n' >"$T/token.jwt"
body_bytes=$(wc -c <"$T/token.jwt" | tr -d ' ')

# same_token WHO: the body just fetched ($T/got) is the store's current JWT (tsl serve
# may re-sign when it starts, so the current one, not the first).
same_token() {
    "$TSL" token B --db "$DB" | tr -d '\n' >"$T/token.jwt"
    cmp -s "$T/got" "$T/token.jwt" || err "$1 does not serve the store's current token"
}

# tsl serve.
tsl_rps="" tsl_p99=""
if "$TSL" serve --help >/dev/null 2>&1; then
    k=0
    while [ $k -lt 5 ] && [ -z "$SPID" ]; do
        k=$((k + 1))
        port=$(free_port)
        serve_bg "$T/serve.log" --db "$DB" --listen "127.0.0.1:$port" --threads "$THREADS"
        SPID=$SERVE_PID
    done
    if [ -n "$SPID" ]; then
        url=http://127.0.0.1:$port$LPATH
        curl -s -H "$ACCEPT" -o "$T/got" "$url"
        same_token "tsl serve"
        rss0=$(rss_kb "$SPID")
        run_wrk "$url"
        rss1=$(rss_kb "$SPID")
        tsl_rps=$rps tsl_p99=$p99_ms
        printf '{"case":"serve_tsl","threads":%s,"connections":%s,"seconds":%s,"n":%s,"body_bytes":%s,"requests":%s,"rps":%s,"p99_ms":%s,"non2xx":%s,"socket_errors":%s,"rss_kb_before":%s,"rss_kb_after":%s}\n' \
            "$THREADS" "$CONNS" "$SECS" "$N" "$body_bytes" "$reqs" "$rps" "$p99_ms" \
            "$non2xx" "$sockerr" "${rss0:-0}" "${rss1:-0}"
        kill -TERM "$SPID"
        wait "$SPID" || err "tsl serve exited $? after SIGTERM"
        SPID=""
    else
        err "tsl serve did not start: $(head -c 300 "$T/serve.log" | tr '\n' '|')"
    fi
else
    err "tsl serve is not available in $TSL"
fi

# nginx serving the export.
ngx_rps="" ngx_p99=""
if [ -n "$NGINX" ]; then
    mkdir -p "$T/ng"
    user=""
    [ "$(id -u)" = 0 ] && user="user $(id -un);"
    k=0
    while [ $k -lt 5 ] && [ -z "$NPID" ]; do
        k=$((k + 1))
        port=$(free_port)
        "$TSL" export "$T/www" --db "$DB" --listen "127.0.0.1:$port" >/dev/null 2>"$T/err" ||
            { err "tsl export failed: $(head -c 300 "$T/err")"; break; }
        cat >"$T/ng/top.conf" <<EOF
$user
daemon off;
worker_processes $THREADS;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $T/ng/body;
    proxy_temp_path $T/ng/proxy;
    fastcgi_temp_path $T/ng/fastcgi;
    uwsgi_temp_path $T/ng/uwsgi;
    scgi_temp_path $T/ng/scgi;
    include $T/www/nginx.conf;
}
EOF
        "$NGINX" -p "$T/ng/" -e "$T/ng/error.log" -c "$T/ng/top.conf" 2>"$T/ng/stderr.log" &
        NPID=$!
        n=0
        while [ $n -lt 50 ] && ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; do
            kill -0 "$NPID" 2>/dev/null || break
            sleep 0.1
            n=$((n + 1))
        done
        if ! kill -0 "$NPID" 2>/dev/null; then
            wait "$NPID" 2>/dev/null
            NPID=""
        fi
    done
    if [ -n "$NPID" ]; then
        url=http://127.0.0.1:$port$LPATH
        curl -s -H "$ACCEPT" -o "$T/got" "$url"
        same_token nginx
        run_wrk "$url"
        ngx_rps=$rps ngx_p99=$p99_ms
        printf '{"case":"serve_nginx","workers":%s,"connections":%s,"seconds":%s,"n":%s,"body_bytes":%s,"requests":%s,"rps":%s,"p99_ms":%s,"non2xx":%s,"socket_errors":%s}\n' \
            "$THREADS" "$CONNS" "$SECS" "$N" "$body_bytes" "$reqs" "$rps" "$p99_ms" \
            "$non2xx" "$sockerr"
        kill -QUIT "$NPID"
        wait "$NPID"
        NPID=""
    else
        err "nginx did not start: $(cat "$T/ng/stderr.log" "$T/ng/error.log" | tail -c 300 | tr '\n' '|')"
    fi
else
    err "nginx is missing (apt-get install nginx-light)"
fi

if [ -n "$tsl_rps" ] && [ -n "$ngx_rps" ]; then
    awk -v tr="$tsl_rps" -v nr="$ngx_rps" -v tp="$tsl_p99" -v np="$ngx_p99" 'BEGIN {
        printf "{\"case\":\"serve_ratio\",\"rps_ratio\":%.3f,\"p99_ratio\":%.3f}\n",
            (nr > 0 ? tr / nr : 0), (np > 0 ? tp / np : 0) }'
fi
exit $status
