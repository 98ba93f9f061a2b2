#!/bin/sh
# serve.sh - HTTP tests of the publishers: `tsl serve` (libmicrohttpd) and nginx serving
# the static files and nginx.conf written by `tsl export`. One set of checks, written
# once as shell functions (http_checks), runs against both servers: Accept negotiation
# (none, */*, exact types, application/*, q-values, q=0 exclusion, 406 with a body naming
# the available types), exact Content-Type, HEAD, ETag/If-None-Match and
# Last-Modified/If-Modified-Since 304s, gzip (Content-Encoding, own ETag, body gunzips to
# the JWT), CORS (Allow-Origin * everywhere, never credentials, OPTIONS preflight 204),
# Vary, Cache-Control, the aggregation document, 405, 404 and path traversal. Every 200
# token body is verified with `tsl decode --key --uri`, and one JWT with jwcrypto.
# Against tsl serve only: ?time= history (200, 404, 400, and 501 from a second server
# without --history), /healthz, /metrics counters, `tsl update` served within 3 s,
# garbage / 100 KB header / 1 MB request line / idle client (each an error or a closed
# connection, and the server still answers), a bounded wrk run (no errors, RSS growth
# under 10 MB) and SIGTERM (exit 0 within 5 s).
#
# Usage: sh tests/serve.sh [BUILD_DIR] [sqlite|pg]   (run from the project root; about 60 s)
# With a second argument pg: the same against a PostgreSQL store (tests/backend.sh).
# Needs curl, wrk, nginx (Debian nginx-light), /usr/bin/python3 with jwcrypto, gzip.
# A missing tool is a failure naming its package, never a silent skip.
# Closing line: "serve: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=serve
BACKEND=${2:-sqlite}
[ "$BACKEND" = pg ] && SUITE=serve_pg
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
# shellcheck source=tests/backend.sh
. "$(dirname "$0")/backend.sh"
PY=/usr/bin/python3
URI1=https://example.com/statuslists/1
URI2=https://example.com/statuslists/2
P1=/statuslists/1
P2=/statuslists/2
AGG=/statuslists
JWT=application/statuslist+jwt
CWT=application/statuslist+cwt
IDLE_LIMIT=30 # seconds an idle connection may stay open

# check NAME STATUS: passes when STATUS (of the last command) is 0.
check() {
    if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi
}

SPID=""
SPID2=""
NPID=""
IDLE_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for _p in $SPID $SPID2 $NPID $IDLE_PID; do
        kill "$_p" 2>/dev/null
    done
    backend_cleanup
    rm -rf "$T"
}

if [ ! -x "$TSL" ]; then
    echo "serve: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac

# Tools: each missing one is a failure that names its Debian package.
have_curl=1 have_wrk=1 have_nginx=1 have_py=1
command -v curl >/dev/null 2>&1 || { bad "curl is missing (apt-get install curl)"; have_curl=0; }
command -v wrk >/dev/null 2>&1 || { bad "wrk is missing (apt-get install wrk)"; have_wrk=0; }
NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
[ -n "$NGINX" ] || { bad "nginx is missing (apt-get install nginx-light)"; have_nginx=0; }
if [ ! -x "$PY" ] || ! "$PY" -c 'import jwcrypto' 2>/dev/null; then
    bad "$PY with jwcrypto is missing (apt-get install python3 python3-jwcrypto)"
    have_py=0
fi
command -v gzip >/dev/null 2>&1 || bad "gzip is missing (apt-get install gzip)"
if [ "$have_curl" != 1 ] || [ "$have_py" != 1 ]; then finish; fi

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-serve.XXXXXX") || exit 2
backend_init || { rm -rf "$T"; bad "no PostgreSQL cluster (tests/pg.sh)"; finish; }
trap cleanup EXIT
trap 'exit 130' INT TERM
DB=$(test_db tsl) || { bad "cannot make a $BACKEND store"; finish; }
note "store backend: $BACKEND"
unset TSL_DB

# ---------------------------------------------------------------------------------- #
# Helpers

cat >"$T/raw.py" <<'EOF'
# raw.py HOST PORT MODE [TIMEOUT]: sends one malformed or oversized request (or nothing)
# and prints the response's status line, or how the connection ended.
import socket, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
limit = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
data = {
    "garbage": b"\x00\x01\x02GARBAGE \xff\xfe\xfd\r\n\x7f\r\n\r\n",
    "nohttp": b"HELLO THERE\r\n\r\n",
    "bigheader": b"GET /statuslists/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
    "bigline": b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "idle": b"",
    "head": b"HEAD /statuslists/1 HTTP/1.1\r\nHost: x\r\nAccept: application/statuslist+jwt\r\n"
            b"Connection: close\r\n\r\n",
}[mode]
t0 = time.time()
s = socket.create_connection((host, port), timeout=limit)
try:
    s.sendall(data)
except OSError:
    print("closed while sending")
    sys.exit(0)
buf = b""
if mode == "head":
    # Everything until the server closes: the bytes after the header block.
    while True:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    head, sep, rest = buf.partition(b"\r\n\r\n")
    print(len(rest) if sep else "no header end")
    sys.exit(0)
while b"\r\n" not in buf:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        print("still open after %.1f s" % (time.time() - t0))
        sys.exit(0)
    except OSError:
        print("reset after %.1f s" % (time.time() - t0))
        sys.exit(0)
    if not chunk:
        break
    buf += chunk
if buf:
    print(buf.split(b"\r\n", 1)[0].decode("latin1"))
else:
    print("closed after %.1f s" % (time.time() - t0))
EOF

# A free TCP port on 127.0.0.1 (the kernel's choice; a start that still loses the race
# is retried by the callers).
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# req PATH [CURL-ARGS...]: a request to $BASE$PATH; sets code, headers in $T/h, body in
# $T/b. --path-as-is keeps "/../" for the traversal checks.
req() {
    _p=$1
    shift
    rm -f "$T/h" "$T/b"
    code=$(curl -sS --max-time 5 --path-as-is -D "$T/h" -o "$T/b" -w '%{http_code}' \
        "$@" "$BASE$_p" 2>"$T/curl.err") || code=000
    [ -f "$T/b" ] || : >"$T/b"
    [ -f "$T/h" ] || : >"$T/h"
}
# hdr NAME: the value of response header NAME in $T/h (last one), without CR.
hdr() { tr -d '\r' <"$T/h" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//'; }
# nhdr NAME: how many NAME headers $T/h has.
nhdr() { tr -d '\r' <"$T/h" | grep -ci "^$1:"; }
# accept_arg ACCEPT: curl's -H for ACCEPT; "-" sends no Accept header at all.
accept_h() {
    if [ "$1" = "-" ]; then echo "Accept:"; else echo "Accept: $1"; fi
}
# verify_body NAME URI: $T/b is a token for URI, signed by our key, not expired.
verify_body() {
    if "$TSL" decode --key "$T/pub.jwk" --uri "$2" "$T/b" >"$T/dec.out" 2>"$T/dec.err"; then
        ok
    else
        bad "$1: body does not verify: $(head -c 200 "$T/dec.err")"
    fi
}

# accept_case PATH URI ACCEPT WANT: GET with that Accept; WANT is jwt, cwt or 406.
accept_case() {
    _name="$S: GET $1 Accept [$3]"
    req "$1" -H "$(accept_h "$3")"
    case $4 in
    406)
        if [ "$code" = 406 ]; then ok; else bad "$_name: $code, expected 406"; fi
        # The body names the available types, the same text from both servers.
        _wb="acceptable: $JWT, $CWT"
        [ "$1" = "$P2" ] && _wb="acceptable: $CWT"
        same "$_name: 406 body" "$(cat "$T/b")" "$_wb"
        ;;
    *)
        _want=$JWT
        [ "$4" = cwt ] && _want=$CWT
        if [ "$code" = 200 ]; then ok; else bad "$_name: $code, expected 200"; fi
        same "$_name: Content-Type" "$(hdr Content-Type)" "$_want"
        verify_body "$_name" "$2"
        ;;
    esac
    # Access-Control-Allow-Origin: * on every response, never credentials.
    same "$_name: Access-Control-Allow-Origin" "$(hdr Access-Control-Allow-Origin)" "*"
}

# ---------------------------------------------------------------------------------- #
# The checks both servers must pass ($BASE, $S label, $PORT).

http_checks() {
    # Negotiation on the JWT+CWT list (default format jwt).
    accept_case "$P1" "$URI1" - jwt
    accept_case "$P1" "$URI1" '*/*' jwt
    accept_case "$P1" "$URI1" "$JWT" jwt
    accept_case "$P1" "$URI1" "$CWT" cwt
    accept_case "$P1" "$URI1" 'application/*' jwt
    accept_case "$P1" "$URI1" "APPLICATION/STATUSLIST+CWT" cwt
    accept_case "$P1" "$URI1" "$JWT;q=0.5, $CWT;q=0.9" cwt
    accept_case "$P1" "$URI1" "text/html, $CWT;q=0.8, $JWT;q=0.3, */*;q=0.1" cwt
    accept_case "$P1" "$URI1" "$CWT, */*;q=0.1" cwt
    accept_case "$P1" "$URI1" "$JWT;q=0, */*" cwt
    accept_case "$P1" "$URI1" "$CWT;q=0, application/*" jwt
    accept_case "$P1" "$URI1" "$JWT, $CWT" jwt
    accept_case "$P1" "$URI1" 'text/html' 406
    accept_case "$P1" "$URI1" "$JWT;q=0, $CWT;q=0, */*" 406
    accept_case "$P1" "$URI1" "*/*;q=0" 406
    # The CWT-only list.
    accept_case "$P2" "$URI2" - cwt
    accept_case "$P2" "$URI2" '*/*' cwt
    accept_case "$P2" "$URI2" "$CWT" cwt
    accept_case "$P2" "$URI2" "$JWT;q=1, */*;q=0.5" cwt
    accept_case "$P2" "$URI2" "$JWT" 406

    # Headers of a 200: exact Content-Type (checked above), Vary, Cache-Control within
    # the ttl (300 s), a strong ETag, Last-Modified, no credentials.
    req "$P1" -H "Accept: $JWT"
    _vary=$(hdr Vary)
    case $_vary in *Accept,*Accept-Encoding* | *Accept-Encoding,*Accept*) ok ;;
    *) bad "$S: Vary is '$_vary', expected Accept, Accept-Encoding" ;; esac
    _cc=$(hdr Cache-Control)
    _age=$(echo "$_cc" | sed -n 's/.*max-age=\([0-9]*\).*/\1/p')
    case $_cc in public*) ok ;; *) bad "$S: Cache-Control '$_cc' is not public" ;; esac
    if [ -n "$_age" ] && [ "$_age" -gt 0 ] && [ "$_age" -le 300 ]; then ok; else
        bad "$S: Cache-Control '$_cc': max-age not in 1..300 (ttl 300)"; fi
    _etag=$(hdr ETag)
    _lm=$(hdr Last-Modified)
    _len=$(hdr Content-Length)
    case $_etag in \"*\") ok ;; *) bad "$S: ETag '$_etag' is not a strong quoted tag" ;; esac
    if [ -n "$_lm" ]; then ok; else bad "$S: no Last-Modified"; fi
    same "$S: no Access-Control-Allow-Credentials on 200" "$(nhdr Access-Control-Allow-Credentials)" 0
    cp "$T/b" "$T/jwt.identity"
    # jwcrypto verifies this JWT independently of tsl.
    if "$PY" - "$T/pub.jwk" "$T/jwt.identity" "$URI1" >"$T/py.out" 2>&1 <<'EOF'
import json, sys
from jwcrypto import jwk, jws
key = jwk.JWK(**json.load(open(sys.argv[1])))
s = jws.JWS()
s.deserialize(open(sys.argv[2]).read().strip())
s.verify(key)
assert s.jose_header["typ"] == "statuslist+jwt", s.jose_header
claims = json.loads(s.payload)
assert claims["sub"] == sys.argv[3], claims
assert claims["status_list"]["bits"] == 2, claims
EOF
    then ok; else bad "$S: jwcrypto does not verify the served JWT: $(tail -n 2 "$T/py.out")"; fi

    # HEAD: the same status and headers, no body.
    req "$P1" -I -H "Accept: $JWT"
    same "$S: HEAD status" "$code" 200
    same "$S: HEAD Content-Type" "$(hdr Content-Type)" "$JWT"
    same "$S: HEAD ETag" "$(hdr ETag)" "$_etag"
    same "$S: HEAD Content-Length" "$(hdr Content-Length)" "$_len"
    same "$S: HEAD sends no body" "$("$PY" "$T/raw.py" 127.0.0.1 "$PORT" head 5 2>&1)" 0

    # Conditional requests.
    req "$P1" -H "Accept: $JWT" -H "If-None-Match: $_etag"
    same "$S: If-None-Match with the ETag" "$code" 304
    same "$S: 304 has no body" "$(wc -c <"$T/b" | tr -d ' ')" 0
    same "$S: 304 keeps CORS" "$(hdr Access-Control-Allow-Origin)" "*"
    req "$P1" -H "Accept: $JWT" -H 'If-None-Match: "not-the-etag"'
    same "$S: If-None-Match with another tag" "$code" 200
    req "$P1" -H "Accept: $JWT" -H "If-Modified-Since: $_lm"
    same "$S: If-Modified-Since Last-Modified" "$code" 304
    req "$P1" -H "Accept: $JWT" -H "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"
    same "$S: If-Modified-Since 2000" "$code" 200
    # The CWT's tag is not the JWT's.
    req "$P1" -H "Accept: $CWT" -H "If-None-Match: $_etag"
    same "$S: the JWT's ETag does not match the CWT" "$code" 200

    # gzip for the JWT: Content-Encoding, its own ETag, the body gunzips to the JWT.
    req "$P1" -H "Accept: $JWT" -H 'Accept-Encoding: gzip'
    same "$S: gzip status" "$code" 200
    same "$S: gzip Content-Encoding" "$(hdr Content-Encoding)" gzip
    same "$S: gzip Content-Type" "$(hdr Content-Type)" "$JWT"
    _getag=$(hdr ETag)
    if [ -n "$_getag" ] && [ "$_getag" != "$_etag" ]; then ok; else
        bad "$S: gzip ETag '$_getag' is empty or the identity ETag"; fi
    if gzip -dc <"$T/b" >"$T/gunzip" 2>/dev/null && cmp -s "$T/gunzip" "$T/jwt.identity"; then
        ok; else bad "$S: the gzip body does not gunzip to the identity JWT"; fi
    req "$P1" -H "Accept: $JWT" -H 'Accept-Encoding: gzip' -H "If-None-Match: $_getag"
    same "$S: If-None-Match with the gzip ETag" "$code" 304
    req "$P1" -H "Accept: $JWT" -H 'Accept-Encoding: gzip;q=0, identity'
    same "$S: gzip;q=0 gets no Content-Encoding" "$(hdr Content-Encoding)" ""
    req "$P1" -H "Accept: $CWT" -H 'Accept-Encoding: gzip'
    same "$S: no gzip for the CWT" "$(hdr Content-Encoding)" ""
    verify_body "$S: CWT with Accept-Encoding gzip" "$URI1"

    # CORS preflight.
    req "$P1" -X OPTIONS -H 'Origin: https://rp.example' \
        -H 'Access-Control-Request-Method: GET' -H 'Access-Control-Request-Headers: accept'
    same "$S: OPTIONS preflight" "$code" 204
    same "$S: preflight Allow-Origin" "$(hdr Access-Control-Allow-Origin)" "*"
    case $(hdr Access-Control-Allow-Methods) in *GET*) ok ;;
    *) bad "$S: preflight Access-Control-Allow-Methods lacks GET" ;; esac
    same "$S: preflight without credentials" "$(nhdr Access-Control-Allow-Credentials)" 0

    # Other methods.
    for _m in POST PUT DELETE PATCH; do
        req "$P1" -X "$_m" --data x
        same "$S: $_m" "$code" 405
        case $(hdr Allow) in *GET*) ok ;; *) bad "$S: $_m 405 without Allow: GET" ;; esac
        same "$S: $_m 405 CORS" "$(hdr Access-Control-Allow-Origin)" "*"
    done

    # Unknown paths, the files themselves, traversal.
    for _u in /nope /statuslists/3 /statuslists/1.jwt /statuslists/1.jwt.gz /nginx.conf /; do
        req "$_u"
        same "$S: GET $_u" "$code" 404
    done
    same "$S: 404 CORS" "$(hdr Access-Control-Allow-Origin)" "*"
    for _u in '/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' \
        '/statuslists/..%2f..%2f..%2fetc%2fpasswd' '/statuslists/%2e%2e/nginx.conf'; do
        req "$_u"
        case $code in 400 | 404) ok ;; *) bad "$S: GET $_u: $code, expected 400 or 404" ;; esac
        if grep -q 'root:' "$T/b" || grep -q 'server {' "$T/b"; then
            bad "$S: GET $_u leaked a file"; else ok; fi
    done

    # The aggregation document.
    req "$AGG"
    same "$S: GET $AGG" "$code" 200
    case $(hdr Content-Type) in application/json*) ok ;;
    *) bad "$S: aggregation Content-Type '$(hdr Content-Type)'" ;; esac
    if "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
assert sorted(d["status_lists"])==sorted(sys.argv[2:]), d' "$T/b" "$URI1" "$URI2" 2>"$T/py.out"
    then ok; else bad "$S: aggregation body: $(head -c 200 "$T/b")"; fi
    same "$S: aggregation CORS" "$(hdr Access-Control-Allow-Origin)" "*"
}

# ---------------------------------------------------------------------------------- #
# Store: list 1 JWT+CWT with ttl, list 2 CWT only; list 1 has an older token for ?time.

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/pub.jwk" 2>"$T/err"
check "keygen" $?
"$TSL" list create L1 --uri "$URI1" --bits 2 --size 1000 --ttl 300 --lifetime 3600 \
    --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err"
check "list create L1: $(head -c 200 "$T/err")" $?
"$TSL" list create L2 --uri "$URI2" --bits 1 --size 100 --formats cwt \
    --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err"
check "list create L2: $(head -c 200 "$T/err")" $?
NOW=$(date +%s)
OLD=$((NOW - 1000))
"$TSL" publish L1 --now "$OLD" --db "$DB" >/dev/null 2>"$T/err"
check "publish L1 in the past: $(head -c 200 "$T/err")" $?
"$TSL" publish L1 --db "$DB" >/dev/null 2>"$T/err"
check "publish L1: $(head -c 200 "$T/err")" $?
"$TSL" publish L2 --db "$DB" >/dev/null 2>"$T/err"
check "publish L2: $(head -c 200 "$T/err")" $?

# ---------------------------------------------------------------------------------- #
# tsl serve

# start_serve LOG ARGS...: starts tsl serve on a free port (up to 5 tries when the port
# is taken); sets SPORT and LAST_PID, or returns 1 with the log shown.
start_serve() {
    _log=$1
    shift
    _try=0
    while [ $_try -lt 5 ]; do
        _try=$((_try + 1))
        SPORT=$(free_port)
        if serve_bg "$_log" --db "$DB" --listen "127.0.0.1:$SPORT" "$@"; then
            LAST_PID=$SERVE_PID
            return 0
        fi
        grep -qi 'in use' "$_log" || break
    done
    echo "serve: tsl serve did not start: $(head -c 300 "$_log" | tr '\n' '|')" >&2
    LAST_PID=""
    return 1
}

if "$TSL" serve --help >/dev/null 2>&1; then
    SERVE=1
else
    SERVE=0
    bad "tsl serve: the command is missing or fails on --help (not built yet?)"
fi

if [ "$SERVE" = 1 ] && start_serve "$T/serve.log" --history --aggregation-path "$AGG" \
    --publish-interval 1; then
    SPID=$LAST_PID
    ok
    BASE=http://127.0.0.1:$SPORT
    PORT=$SPORT
    S="tsl serve"
    note "tsl serve on port $SPORT (pid $SPID)"

    # An idle client from the start: it must be timed out, while others are served.
    "$PY" "$T/raw.py" 127.0.0.1 "$SPORT" idle "$IDLE_LIMIT" >"$T/idle.out" 2>&1 &
    IDLE_PID=$!

    http_checks

    # History.
    req "$P1?time=$((OLD + 500))" -H "Accept: $JWT"
    same "$S: ?time inside the older token" "$code" 200
    if "$TSL" decode --json --key "$T/pub.jwk" --uri "$URI1" --now "$((OLD + 500))" "$T/b" \
        >"$T/dec.json" 2>"$T/dec.err"; then
        _iat=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["claims"]["iat"])' "$T/dec.json")
        same "$S: ?time served the token with iat <= time < exp" "$_iat" "$OLD"
    else
        bad "$S: ?time body does not verify: $(head -c 200 "$T/dec.err")"
    fi
    req "$P1?time=$NOW" -H "Accept: $JWT"
    same "$S: ?time=now" "$code" 200
    verify_body "$S: ?time=now" "$URI1"
    req "$P1?time=1000" -H "Accept: $JWT"
    same "$S: ?time before any token" "$code" 404
    req "$P1?time=abc"
    same "$S: ?time=abc" "$code" 400
    req "$P1?time=-5"
    same "$S: ?time=-5" "$code" 400
    if start_serve "$T/serve2.log" --aggregation-path "$AGG"; then
        SPID2=$LAST_PID
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            "http://127.0.0.1:$SPORT$P1?time=$NOW") || code=000
        same "$S: ?time without --history" "$code" 501
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            "http://127.0.0.1:$SPORT$P1") || code=000
        same "$S: plain GET without --history" "$code" 200
        kill -TERM "$SPID2"
        wait "$SPID2"
        same "$S: second server exit status after SIGTERM" "$?" 0
        SPID2=""
    else
        bad "$S: second server (without --history) did not start"
    fi

    # /healthz and /metrics.
    req /healthz
    same "$S: /healthz" "$code" 200
    case $(cat "$T/b") in ok*) ok ;; *) bad "$S: /healthz body '$(head -c 100 "$T/b")'" ;; esac
    metric_sum() { awk -v m="$1" 'index($0, m) == 1 && substr($0, length(m) + 1, 1) ~ /[{ ]/ {s += $NF} END {print s + 0}' "$T/b"; }
    req /metrics
    same "$S: /metrics" "$code" 200
    for _m in tsl_requests_total tsl_response_bytes_total tsl_publishes_total \
        tsl_seconds_to_earliest_expiry; do
        if grep -q "^$_m" "$T/b"; then ok; else bad "$S: /metrics lacks $_m"; fi
    done
    if grep -q '^tsl_requests_total{.*code=' "$T/b" && grep -q '^tsl_requests_total{.*format=' "$T/b"
    then ok; else bad "$S: tsl_requests_total lacks code/format labels"; fi
    _r0=$(metric_sum tsl_requests_total)
    _b0=$(metric_sum tsl_response_bytes_total)
    for _k in 1 2 3; do req "$P1" -H "Accept: $JWT"; done
    req /metrics
    _r1=$(metric_sum tsl_requests_total)
    _b1=$(metric_sum tsl_response_bytes_total)
    if awk -v a="$_r0" -v b="$_r1" 'BEGIN {exit !(b >= a + 3)}'; then ok; else
        bad "$S: tsl_requests_total went from $_r0 to $_r1 after 3 requests"; fi
    if awk -v a="$_b0" -v b="$_b1" 'BEGIN {exit !(b > a)}'; then ok; else
        bad "$S: tsl_response_bytes_total did not grow ($_b0 -> $_b1)"; fi

    # tsl update while serving: the new status is served within 3 s.
    _p0=$(metric_sum tsl_publishes_total)
    echo "7 SUSPENDED" >"$T/upd"
    "$TSL" update L1 "$T/upd" --db "$DB" >/dev/null 2>"$T/err"
    check "$S: tsl update while serving: $(head -c 200 "$T/err")" $?
    _t0=$(date +%s)
    _seen=""
    _k=0
    while [ $_k -lt 30 ]; do
        req "$P1" -H "Accept: $JWT"
        if [ "$code" = 200 ] && "$TSL" decode --key "$T/pub.jwk" --uri "$URI1" --index 7 \
            "$T/b" 2>/dev/null | grep -q '^7[[:space:]]*2$'; then
            _seen=$(($(date +%s) - _t0))
            break
        fi
        sleep 0.1
        _k=$((_k + 1))
    done
    if [ -n "$_seen" ]; then ok; note "update served after about $_seen s"; else
        bad "$S: index 7 = SUSPENDED not served within 3 s of tsl update"; fi
    req "$P1" -H "Accept: $CWT"
    if "$TSL" decode --key "$T/pub.jwk" --uri "$URI1" --index 7 "$T/b" 2>/dev/null |
        grep -q '^7[[:space:]]*2$'; then ok; else bad "$S: the CWT does not carry the update"; fi
    req /metrics
    _p1=$(metric_sum tsl_publishes_total)
    if awk -v a="$_p0" -v b="$_p1" 'BEGIN {exit !(b > a)}'; then ok; else
        bad "$S: tsl_publishes_total did not grow with the update ($_p0 -> $_p1)"; fi

    # Bad requests: each gets an error or a closed connection; the server still serves.
    for _mode in garbage nohttp bigheader bigline; do
        _out=$("$PY" "$T/raw.py" 127.0.0.1 "$PORT" "$_mode" 10 2>&1)
        case $_out in
        "HTTP/1."?" "[45]* | closed* | reset*) ok ;;
        *) bad "$S: $_mode: '$_out', expected a 4xx/5xx or a closed connection" ;;
        esac
        req "$P1" -H "Accept: $JWT"
        same "$S: a normal request after $_mode" "$code" 200
    done
    # 100 KB header and 1 MB request line through curl as well.
    _big=$(head -c 100000 /dev/zero | tr '\0' a)
    req "$P1" -H "X-Big: $_big"
    case $code in 4* | 5* | 000) ok ;; *) bad "$S: 100 KB header got $code" ;; esac
    _line=$(head -c 1048576 /dev/zero | tr '\0' a)
    req "/$_line"
    case $code in 4* | 5* | 000) ok ;; *) bad "$S: 1 MB request line got $code" ;; esac
    req "$P1" -H "Accept: $JWT"
    same "$S: a normal request after the oversized ones" "$code" 200

    # A bounded load run.
    if [ "$have_wrk" = 1 ]; then
        wrk -t2 -c32 -d1s -H "Accept: $JWT" "$BASE$P1" >/dev/null 2>&1 # warm-up
        _rss0=$(rss_kb "$SPID")
        wrk -t2 -c32 -d5s -H "Accept: $JWT" "$BASE$P1" >"$T/wrk.out" 2>&1
        _wrc=$?
        _rss1=$(rss_kb "$SPID")
        same "$S: wrk exit status" "$_wrc" 0
        if grep -q 'Non-2xx or 3xx' "$T/wrk.out"; then
            bad "$S: wrk: $(grep 'Non-2xx' "$T/wrk.out")"; else ok; fi
        _se=$(sed -n 's/.*Socket errors: //p' "$T/wrk.out")
        if [ -z "$_se" ] || ! echo "$_se" | grep -q '[1-9]'; then ok; else
            bad "$S: wrk socket errors: $_se"; fi
        _rps=$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk.out")
        note "wrk -t2 -c32 -d5s: ${_rps:-?} requests/s; RSS ${_rss0:-?} kB -> ${_rss1:-?} kB"
        if [ -n "$_rss0" ] && [ -n "$_rss1" ] && [ $((_rss1 - _rss0)) -lt 10240 ]; then ok; else
            bad "$S: RSS grew from ${_rss0:-?} kB to ${_rss1:-?} kB under load (limit 10 MB)"; fi
        req "$P1" -H "Accept: $JWT"
        same "$S: a normal request after the load" "$code" 200
    fi

    # The idle client must have been cut off (it started before all of the above).
    if [ -n "$IDLE_PID" ]; then
        wait "$IDLE_PID"
        IDLE_PID=""
        _out=$(cat "$T/idle.out")
        case $_out in
        "HTTP/1."?" "[45]* | closed* | reset*) ok ;;
        *) bad "$S: idle connection: '$_out' (limit $IDLE_LIMIT s)" ;;
        esac
        note "idle connection: $_out"
    fi

    # SIGTERM: drains and exits 0 within 5 s.
    kill -TERM "$SPID"
    _k=0
    while [ $_k -lt 50 ] && kill -0 "$SPID" 2>/dev/null; do
        sleep 0.1
        _k=$((_k + 1))
    done
    if kill -0 "$SPID" 2>/dev/null; then
        bad "$S: still running 5 s after SIGTERM"
        kill -KILL "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
    else
        wait "$SPID"
        same "$S: exit status after SIGTERM" "$?" 0
    fi
    SPID=""
elif [ "$SERVE" = 1 ]; then
    bad "tsl serve did not start"
fi

# ---------------------------------------------------------------------------------- #
# nginx serving `tsl export`

# start_nginx: exports into $T/www for a free port and starts nginx in the foreground
# (master + 1 worker, as the current user, everything under $T/ng); sets NPORT, NPID.
start_nginx() {
    mkdir -p "$T/ng" || return 1
    _user=""
    [ "$(id -u)" = 0 ] && _user="user $(id -un);"
    _try=0
    while [ $_try -lt 5 ]; do
        _try=$((_try + 1))
        NPORT=$(free_port)
        "$TSL" export "$T/www" --db "$DB" --aggregation-path "$AGG" \
            --listen "127.0.0.1:$NPORT" >"$T/export.out" 2>"$T/export.err" || {
            echo "serve: tsl export failed: $(head -c 300 "$T/export.err")" >&2
            return 1
        }
        cat >"$T/ng/top.conf" <<EOF
$_user
daemon off;
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 512; }
http {
    access_log $T/ng/access.log;
    client_body_temp_path $T/ng/body;
    proxy_temp_path $T/ng/proxy;
    fastcgi_temp_path $T/ng/fastcgi;
    uwsgi_temp_path $T/ng/uwsgi;
    scgi_temp_path $T/ng/scgi;
    include $T/www/nginx.conf;
}
EOF
        : >"$T/ng/error.log"
        "$NGINX" -p "$T/ng/" -e "$T/ng/error.log" -c "$T/ng/top.conf" 2>"$T/ng/stderr.log" &
        NPID=$!
        _n=0
        while [ $_n -lt 50 ]; do
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NPORT/healthcheck-none"; then
                return 0
            fi
            kill -0 "$NPID" 2>/dev/null || break
            sleep 0.1
            _n=$((_n + 1))
        done
        kill "$NPID" 2>/dev/null
        wait "$NPID" 2>/dev/null
        NPID=""
        cat "$T/ng/stderr.log" "$T/ng/error.log" | grep -qi 'in use' || break
    done
    echo "serve: nginx did not start: $(cat "$T/ng/stderr.log" "$T/ng/error.log" | tail -c 400 | tr '\n' '|')" >&2
    return 1
}

if [ "$have_nginx" = 1 ]; then
    if start_nginx; then
        ok
        BASE=http://127.0.0.1:$NPORT
        PORT=$NPORT
        S=nginx
        note "nginx on port $NPORT (pid $NPID) serving tsl export"
        # Export wrote what it should: the files (under the link current, see
        # tests/export.sh), with the .gz's mtime equal to the JWT's.
        _w=$T/www/current
        for _f in statuslists/1.jwt statuslists/1.jwt.gz statuslists/1.cwt statuslists/2.cwt \
            statuslists.json nginx.conf; do
            if [ -s "$_w/$_f" ]; then ok; else bad "export: $_w/$_f missing"; fi
        done
        if [ -e "$_w/statuslists/2.jwt" ]; then bad "export: a JWT for the CWT-only list"; else ok; fi
        same "export: .jwt.gz mtime" "$(stat -c %Y "$_w/statuslists/1.jwt.gz")" \
            "$(stat -c %Y "$_w/statuslists/1.jwt")"
        _tmps=$(find "$T/www" -name '*.tmp.*' | wc -l)
        same "export left no temporary files" "$_tmps" 0
        http_checks
        kill -QUIT "$NPID"
        wait "$NPID"
        NPID=""
    else
        bad "nginx (serving tsl export) did not start"
    fi
fi


# ---------------------------------------------------------------------------------- #
# A percent-encoded path (issue 10 item 22): one rule for tsl serve and tsl export
# (tsl_uri_path: unreserved characters decoded). The list at https://example.com/l%41b
# is reached at /l%41b and at /lAb from both servers, and its token's sub stays the uri
# as written.

PURI=https://example.com/l%41b
DB=$(test_db pct)
"$TSL" list create P --uri "$PURI" --bits 1 --size 16 --key "$T/k.pem" --db "$DB" \
    >/dev/null 2>"$T/err" && "$TSL" publish P --db "$DB" >/dev/null 2>>"$T/err"
check "list create and publish with a percent-encoded path: $(head -c 200 "$T/err")" $?
# pct_checks: both spellings of the path answer 200 with a token for $PURI.
pct_checks() {
    for _p in /l%41b /lAb; do
        req "$_p" -H "Accept: $JWT"
        same "$S: GET $_p" "$code" 200
        verify_body "$S: GET $_p" "$PURI"
    done
    req /l%2541b -H "Accept: $JWT"
    same "$S: GET /l%2541b (another path)" "$code" 404
}
if [ "$SERVE" = 1 ] && start_serve "$T/serve3.log"; then
    SPID=$LAST_PID
    BASE=http://127.0.0.1:$SPORT
    S="tsl serve"
    pct_checks
    kill -TERM "$SPID"
    wait "$SPID"
    SPID=""
else
    bad "tsl serve did not start on a store with a percent-encoded path"
fi
if [ "$have_nginx" = 1 ]; then
    rm -rf "$T/www"
    if start_nginx; then
        if [ -s "$T/www/current/lAb.jwt" ]; then ok; else bad "export: lAb.jwt missing"; fi
        BASE=http://127.0.0.1:$NPORT
        S=nginx
        pct_checks
        kill -QUIT "$NPID"
        wait "$NPID"
        NPID=""
    else
        bad "nginx (serving tsl export of a percent-encoded path) did not start"
    fi
fi

finish
