#!/bin/sh
# probe.sh - issue 18: `tsl probe` audits publishers, `tsl rogue` tests verifiers.
# - tsl probe against tsl serve (JWT and CWT, aggregation): no MUST failure, every
#   signature verified; with a wrong key the signatures fail (exit 1); without a key
#   they are skipped; --json parses, ids are unique, counts add up; usage errors
#   (no URL, http without --allow-http, nothing listening) exit 2.
# - tsl probe against nginx serving `tsl export` of the same store on the same port:
#   no MUST failure, and what static hosting cannot do is reported: ?time= ignored
#   (history.time), and a max-age fixed at export time that outlives the token near
#   its exp (cache.max-age, judged with --now).
# - tsl probe against tests/probe_broken.py (Python's http.server, cryptography and
#   cbor2, no libtsl) finds each planted fault: gzip lst, '=' padding, no exp, a wrong
#   sub, status_list under CWT claim 65534, 404 for an Accept naming both types.
# - tsl rogue: every case's Referenced Token through `tsl verify` gives the exit status
#   the index page says (tsl passes its own gauntlet); and tsl probe on every rogue
#   Status List Token reports a MUST failure unless the token itself is good.
#
# Usage: sh tests/probe.sh [BUILD_DIR]   (run from the project root; about 30 s)
# Needs curl, nginx (Debian nginx-light), /usr/bin/python3 with cryptography and cbor2.
# Closing line: "probe: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=probe
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
PY=/usr/bin/python3

if [ ! -x "$TSL" ]; then
    bad "$TSL is missing (run make)"
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
[ -n "$NGINX" ] || bad "nginx is missing (apt-get install nginx-light)"
command -v curl >/dev/null 2>&1 || { bad "curl is missing (apt-get install curl)"; finish; }
if ! "$PY" -c 'import cryptography, cbor2' 2>/dev/null; then
    bad "$PY with cryptography and cbor2 is missing (python3-cryptography python3-cbor2)"
    finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-probe.XXXXXX") || exit 2
SERVE_PID=""
RPID=""
PYPID=""
NPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for _p in $SERVE_PID $RPID $PYPID $NPID; do
        kill "$_p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# finding ID JSONFILE: prints "RESULT SEVERITY" of finding ID in a probe --json report.
finding() {
    "$PY" -c '
import json, sys
d = json.load(open(sys.argv[2]))
for f in d["findings"]:
    if f["id"] == sys.argv[1]:
        print(f["result"], f["severity"]); break
else:
    print("absent")' "$1" "$2"
}
# expect_finding NAME ID RESULT SEVERITY JSONFILE
expect_finding() {
    _got=$(finding "$2" "$5")
    if [ "$_got" = "$3 $4" ]; then ok; else
        bad "$1: finding $2 is '$_got', expected '$3 $4' ($(grep -o "\"id\":\"$2\"[^}]*" "$5" | head -c 300))"
    fi
}

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/k.jwk" 2>"$T/err"
rc=$?
expect_rc "keygen" 0
"$TSL" keygen --alg ES256 --out "$T/other.pem" >"$T/other.jwk" 2>"$T/err"

# ---------------------------------------------------------------------------------- #
# tsl probe against tsl serve

P=$(free_port)
URL=http://127.0.0.1:$P/statuslists/1
DB=$T/s.db
t list create L1 --db "$DB" --uri "$URL" --allow-http --bits 2 --size 200000 \
    --key "$T/k.pem" --ttl 300 --lifetime 3600 \
    --aggregation-uri "http://127.0.0.1:$P/statuslists"
expect_rc "list create" 0
printf '5 INVALID\n77 SUSPENDED\n' >"$T/upd"
ti "$T/upd" update L1 --db "$DB"
expect_rc "update" 0
t publish L1 --db "$DB"
expect_rc "publish" 0

if serve_bg "$T/serve.log" --db "$DB" --listen "127.0.0.1:$P" --aggregation-path /statuslists; then
    ok
    t probe --allow-http --key "$T/k.jwk" "$URL"
    expect_rc "probe tsl serve" 0
    if grep -q '^summary: [0-9]* checks, 0 MUST failed, 0 SHOULD failed' "$T/out"; then ok; else
        bad "probe tsl serve: $(grep -v '^pass' "$T/out" | head -c 600)"
    fi
    "$TSL" probe --json --allow-http --key "$T/k.jwk" "$URL" >"$T/serve.json" 2>"$T/err"
    rc=$?
    expect_rc "probe --json tsl serve" 0
    for _id in http.get http.content-type neg.multi neg.q-cwt neg.q-jwt neg.406 jwt.typ \
        jwt.signature cwt.signature cwt.tag cwt.claim-keys jwt.lst-zlib tokens.same-list \
        cache.304-etag cache.max-age cache.vary http.cors http.head http.gzip-body \
        aggregation.document history.time; do
        _r=$(finding "$_id" "$T/serve.json")
        case $_r in pass*) ok ;; *) bad "tsl serve: $_id is '$_r'" ;; esac
    done
    # the report's own consistency: unique ids, counts that add up, every section set
    "$PY" - "$T/serve.json" <<'EOF' && ok || bad "probe --json: inconsistent report"
import json, sys
d = json.load(open(sys.argv[1]))
ids = [f["id"] for f in d["findings"]]
assert len(ids) == len(set(ids)), "duplicate ids"
assert d["checks"] == len(ids) >= 50, d["checks"]
assert all(f["section"] and f["severity"] in ("MUST", "SHOULD", "advice") and
           f["result"] in ("pass", "fail", "skip") and f["evidence"] for f in d["findings"])
fails = sum(1 for f in d["findings"] if f["result"] == "fail" and f["severity"] == "MUST")
assert fails == d["must_failed"] == 0
EOF
    # the herd finding counts the two entries set
    if grep -q '"id":"jwt.herd"[^}]*0.00%\|"id":"jwt.herd"[^}]*200000 entries' "$T/serve.json"; then ok; else
        bad "jwt.herd: $(grep -o '"id":"jwt.herd"[^}]*' "$T/serve.json")"
    fi
    # a wrong key: the signatures fail, a MUST, exit 1
    "$TSL" probe --json --allow-http --key "$T/other.jwk" "$URL" >"$T/wrong.json" 2>"$T/err"
    rc=$?
    expect_rc "probe with another key" 1
    expect_finding "another key" jwt.signature fail MUST "$T/wrong.json"
    expect_finding "another key" cwt.signature fail MUST "$T/wrong.json"
    # no key: the signatures are skipped, nothing fails
    "$TSL" probe --json --allow-http "$URL" >"$T/nokey.json" 2>"$T/err"
    rc=$?
    expect_rc "probe without a key" 0
    expect_finding "no key" jwt.signature skip MUST "$T/nokey.json"
    # the time judged: later than exp, the token is expired (a MUST)
    "$TSL" probe --json --allow-http --key "$T/k.jwk" --now $(($(date +%s) + 7200)) "$URL" \
        >"$T/late.json" 2>"$T/err"
    rc=$?
    expect_rc "probe after exp" 1
    expect_finding "after exp" jwt.exp fail MUST "$T/late.json"
    # the sub is compared with the URL given, byte for byte
    t probe --allow-http --key "$T/k.jwk" "http://127.0.0.1:$P/statuslists/1?x=1"
    expect_rc "probe another URL spelling" 1
    grep -q 'FAIL  MUST    jwt.sub' "$T/out" && ok || bad "sub vs URL: $(grep jwt.sub "$T/out")"
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=""
else
    bad "tsl serve did not start: $(head -c 300 "$T/serve.log")"
fi

# usage and I/O
t probe
expect_rc "probe without URL" 2
t probe "$URL"
expect_rc "probe http without --allow-http" 2
grep -q 'allow-http' "$T/err" && ok || bad "http refused: $(errline)"
t probe --allow-http "http://127.0.0.1:$(free_port)/nothing"
expect_rc "probe with nothing listening" 2
t probe --help
expect_rc "probe --help" 0
grep -q -- '--strict' "$T/out" && grep -q -- '--json' "$T/out" && ok || bad "probe --help: $(head -c 200 "$T/out")"

# ---------------------------------------------------------------------------------- #
# tsl probe against nginx serving `tsl export` (same store, same port, so sub matches)

if [ -n "$NGINX" ]; then
    mkdir -p "$T/ng"
    "$TSL" export "$T/www" --db "$DB" --aggregation-path /statuslists \
        --listen "127.0.0.1:$P" >"$T/export.out" 2>"$T/export.err"
    rc=$?
    expect_rc "export" 0
    _user=""
    [ "$(id -u)" = 0 ] && _user="user $(id -un);"
    cat >"$T/ng/top.conf" <<EOF
$_user
daemon off;
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 64; }
http {
    access_log off;
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
    _n=0
    while [ $_n -lt 50 ] && ! curl -s -o /dev/null --max-time 1 "$URL"; do
        sleep 0.1
        _n=$((_n + 1))
    done
    "$TSL" probe --json --allow-http --key "$T/k.jwk" "$URL" >"$T/nginx.json" 2>"$T/err"
    rc=$?
    expect_rc "probe nginx" 0
    expect_finding "nginx" http.get pass MUST "$T/nginx.json"
    expect_finding "nginx" jwt.signature pass MUST "$T/nginx.json"
    expect_finding "nginx" http.gzip pass SHOULD "$T/nginx.json"
    expect_finding "nginx" cache.304-etag pass SHOULD "$T/nginx.json"
    # what static files cannot do: answer ?time= (the current token comes back)
    expect_finding "nginx" history.time fail SHOULD "$T/nginx.json"
    # ... nor shorten max-age as exp nears: judged 100 s before exp, max-age 300 is too long
    _exp=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for f in d["findings"]:
    if f["id"] == "jwt.exp": print(f["evidence"].split()[2])' "$T/nginx.json")
    "$TSL" probe --json --allow-http --key "$T/k.jwk" --now $(($(date +%s) + _exp - 100)) "$URL" \
        >"$T/nginx-late.json" 2>"$T/err"
    rc=$?
    expect_rc "probe nginx near exp" 0
    expect_finding "nginx near exp" cache.max-age fail SHOULD "$T/nginx-late.json"
    kill "$NPID" 2>/dev/null
    wait "$NPID" 2>/dev/null
    NPID=""
fi

# ---------------------------------------------------------------------------------- #
# tsl probe against a deliberately broken endpoint (Python, no libtsl)

"$PY" tests/probe_broken.py "$T/k.pem" "$T/pyport" 2>"$T/py.err" &
PYPID=$!
_n=0
while [ $_n -lt 50 ] && [ ! -s "$T/pyport" ]; do
    sleep 0.1
    _n=$((_n + 1))
done
BP=$(cat "$T/pyport" 2>/dev/null)
if [ -n "$BP" ]; then
    ok
    "$TSL" probe --json --allow-http --key "$T/k.jwk" "http://127.0.0.1:$BP/statuslists/1" \
        >"$T/broken.json" 2>"$T/err"
    rc=$?
    expect_rc "probe broken endpoint" 1
    expect_finding "planted gzip" jwt.lst-zlib fail MUST "$T/broken.json"
    expect_finding "planted padding" jwt.lst-base64url fail MUST "$T/broken.json"
    expect_finding "planted missing exp" jwt.exp fail SHOULD "$T/broken.json"
    expect_finding "planted wrong sub" jwt.sub fail MUST "$T/broken.json"
    expect_finding "planted claim key" cwt.claim-keys fail MUST "$T/broken.json"
    expect_finding "planted 404 on two types" neg.multi fail SHOULD "$T/broken.json"
    # and what it does right is not blamed
    expect_finding "broken: typ" jwt.typ pass MUST "$T/broken.json"
    expect_finding "broken: CWT tag" cwt.tag pass MUST "$T/broken.json"
    expect_finding "broken: CWT sub" cwt.sub pass MUST "$T/broken.json"
    expect_finding "broken: Content-Type" http.content-type pass MUST "$T/broken.json"
    grep -q 'status_list is under claim key 65534' "$T/broken.json" && ok ||
        bad "claim key evidence: $(grep -o '"id":"cwt.claim-keys"[^}]*' "$T/broken.json")"
    kill "$PYPID" 2>/dev/null
    wait "$PYPID" 2>/dev/null
    PYPID=""
else
    bad "probe_broken.py did not start: $(head -c 300 "$T/py.err")"
fi

# ---------------------------------------------------------------------------------- #
# tsl rogue: tsl verify through every case; tsl probe on every Status List Token

"$TSL" rogue --key "$T/k.pem" --listen 127.0.0.1:0 2>"$T/rogue.log" &
RPID=$!
_n=0
while [ $_n -lt 100 ] && ! grep -q 'listening on' "$T/rogue.log"; do
    sleep 0.1
    _n=$((_n + 1))
done
B=$(sed -n 's/.*index at \(.*\)\/)$/\1/p' "$T/rogue.log")
if [ -n "$B" ] && curl -s -o "$T/index.json" "$B/"; then
    ok
    "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    print(c["name"], c["expect_exit"], c["path"], c["ref_path"])' "$T/index.json" >"$T/cases"
    ncases=$(wc -l <"$T/cases")
    if [ "$ncases" -ge 46 ]; then ok; else bad "rogue: $ncases cases, expected at least 46"; fi
    while read -r name want path ref; do
        curl -s -o "$T/rt" "$B$ref"
        # a short timeout so the slow body costs 2 s, not 10
        "$TSL" verify --allow-http --key "$T/k.jwk" --timeout 2000 "$T/rt" >/dev/null 2>"$T/err"
        _rc=$?
        if [ "$_rc" -eq "$want" ]; then ok; else
            bad "rogue $name: tsl verify exit $_rc, the index says $want: $(errline)"
        fi
        case $name in
        ok-*|idx-out-of-range) pwant=0 ;;
        redirect-loop|slow-body) pwant=2 ;;
        *) pwant=1 ;;
        esac
        "$TSL" probe --allow-http --key "$T/k.jwk" --timeout 1000 "$B$path" >"$T/out" 2>"$T/err"
        _rc=$?
        if [ "$_rc" -eq "$pwant" ]; then ok; else
            bad "rogue $name: tsl probe exit $_rc, expected $pwant: $(grep -v '^pass' "$T/out" | head -c 300)"
        fi
    done <"$T/cases"
    # the planted fault is the one the probe names
    for _c in "lst-gzip jwt.lst-zlib" "lst-padded jwt.lst-base64url" "typ-wrong jwt.typ" \
        "cwt-untagged cwt.tag" "cwt-key-65535 cwt.claim-keys" "bits-3 jwt.bits" \
        "lst-trailing jwt.lst-stream" "alg-none jwt.alg" "cwt-typ-short cwt.typ" \
        "cwt-lst-text cwt.lst-bytes" "zip-bomb jwt.lst-stream" "iat-future jwt.iat"; do
        set -- $_c
        "$TSL" probe --json --allow-http --key "$T/k.jwk" "$B/rogue/$1" >"$T/r.json" 2>"$T/err"
        expect_finding "rogue $1" "$2" fail MUST "$T/r.json"
    done
    t rogue --help
    expect_rc "rogue --help" 0
    t rogue --listen 127.0.0.1:0
    expect_rc "rogue without --key" 2
else
    bad "tsl rogue did not start: $(head -c 300 "$T/rogue.log")"
fi

finish
