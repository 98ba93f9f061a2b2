#!/bin/sh
# idlist.sh - ISO/IEC 18013-5 (second edition) identifier lists: `tsl verify` of mdocs
# whose MSO status is an identifier_list, and `tsl decode` of the lists. Lists and mdocs
# come from tests/idl_issue.py (cbor2 + cryptography, not libtsl) and are fetched over
# real HTTP from a python listener that records each request's Accept header.
# - VALID (not listed), INVALID (listed), with typ in the protected header and as a
#   claim; undetermined (exit 3) for an expired list, a wrong sub, a bad signature, an
#   untrusted chain, no typ, a status list claim, a wrong Content-Type, 404;
# - the MSO's certificate: the list verified with it (with and without x5chain), and
#   refused when the list's chain does not start with it or another key signed it;
# - an MSO with both mechanisms: agree (VALID, INVALID) and disagree (rejected, exit 1,
#   both ways);
# - --json's identifier_list step; --cache (written once verified, read without a
#   request, verified again when loaded); --list-token with an identifier list (used
#   without a request, verified as a fetched one); tsl decode's figures and --id answers.
#
# Usage: sh tests/idlist.sh [BUILD_DIR]   (run from the project root; a few seconds)
# Closing line: "idlist: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=idlist
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3
ISSUE="$PY tests/idl_issue.py"

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-idlist.XXXXXX") || exit 2
HPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$HPID" ] && kill "$HPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

if [ ! -x "$TSL" ]; then
    bad "$TSL is missing"
    finish
fi
$PY tests/rt_issue.py keys "$T" || { bad "rt_issue.py keys"; finish; }
K=$T/ds.key.pem
C=$T/ds.pem
NOW=$(date +%s)
E=$((NOW + 3600))
HPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
H=http://127.0.0.1:$HPORT
mkdir "$T/www"

# The listener: /NAME answers $T/www/NAME with the identifier list's media type
# (/ctype-NAME with text/plain), 404 otherwise; each Accept header goes to accept.log.
cat >"$T/h.py" <<'EOF'
import http.server, os, sys
root, log = sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        open(log, "a").write("%s %s\n" % (self.path, self.headers.get("Accept", "")))
        name, ct = self.path.lstrip("/"), "application/identifierlist+cwt"
        if name.startswith("ctype-"):
            name, ct = name[6:], "text/plain"
        p = os.path.join(root, name)
        if "/" in name or not os.path.isfile(p):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
            return
        body = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
"$PY" "$T/h.py" "$HPORT" "$T/www" "$T/accept.log" 2>"$T/h.log" &
HPID=$!

REV=aa00aa00aa00aa00aa00aa00aa00aa00   # listed in every list below
GOOD=bb11bb11bb11bb11bb11bb11bb11bb11  # listed in none

# list NAME [OPTIONS]: an identifier list served at $H/NAME (sub $H/NAME), signed by the
# document signer with its certificate in x5chain unless OPTIONS say otherwise.
list() {
    _n=$1
    shift
    $ISSUE list "$K" "$H/$_n" "$E" --id "$REV" --random 40 "$@" >"$T/www/$_n" ||
        bad "idl_issue.py list $_n"
}
list good --x5c "$C"
list typclaim --x5c "$C" --typ-claim
list notyp --x5c "$C" --no-typ
list stlist --x5c "$C" --status-list
list noexp --x5c "$C" --no-exp
list info --x5c "$C" --info --ttl 60
$ISSUE list "$K" "$H/expired" $((NOW - 10)) --iat $((NOW - 100)) --id "$REV" --x5c "$C" \
    >"$T/www/expired"
$ISSUE list "$K" "$H/elsewhere" "$E" --id "$REV" --x5c "$C" >"$T/www/wrongsub"
$ISSUE list "$T/rogue.key.pem" "$H/untrusted" "$E" --id "$REV" --x5c "$T/rogue.pem" \
    >"$T/www/untrusted"
# A bad signature: the last byte of the file is the signature's last byte.
$PY -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-1]^=1; open(sys.argv[2],"wb").write(b)' \
    "$T/www/good" "$T/www/badsig.tmp"
$ISSUE list "$K" "$H/badsig" "$E" --id "$REV" --x5c "$C" >"$T/www/badsig"
$PY -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-1]^=1; open(sys.argv[1],"wb").write(b)' \
    "$T/www/badsig"
rm -f "$T/www/badsig.tmp"
# Lists for the MSO's certificate: signed by the status signer (under statusca.pem),
# with and without its certificate in x5chain; and one by the document signer.
$ISSUE list "$T/status.key.pem" "$H/bycert" "$E" --id "$REV" --x5c "$T/status.pem" \
    >"$T/www/bycert"
$ISSUE list "$T/status.key.pem" "$H/bycert-nox5c" "$E" --id "$REV" >"$T/www/bycert-nox5c"
$ISSUE list "$K" "$H/othercert" "$E" --id "$REV" --x5c "$C" >"$T/www/othercert"
$ISSUE list "$K" "$H/othercert-nox5c" "$E" --id "$REV" >"$T/www/othercert-nox5c"

# Wait for the listener.
n=0
until curl -s -o /dev/null "$H/good" 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 100 ] && { bad "the listener did not start: $(cat "$T/h.log")"; finish; }
    sleep 0.1
done

# mdoc NAME ARGS...: an mdoc signed by the document signer, into $T/NAME.mdoc.
mdoc() {
    _n=$1
    shift
    $ISSUE mdoc "$K" "$C" "$E" "$@" >"$T/$_n.mdoc" || bad "idl_issue.py mdoc $_n"
}
# v NAME WANT MDOC [OPTIONS]: tsl verify --allow-http --trust iaca.pem exits WANT.
v() {
    _name=$1
    _want=$2
    _m=$3
    shift 3
    t verify --allow-http --trust "$T/iaca.pem" "$@" "$T/$_m.mdoc"
    expect_rc "$_name" "$_want"
}

# --- VALID and INVALID, both typ placements ---------------------------------------- #
mdoc valid --idl "$H/good" "$GOOD"
v "not listed" 0 valid
same "not listed: VALID" "$(cat "$T/out")" "VALID"
mdoc revoked --idl "$H/good" "$REV"
v "listed" 1 revoked
same "listed: INVALID" "$(cat "$T/out")" "INVALID"
grep -q "^/good application/identifierlist+cwt$" "$T/accept.log" && ok ||
    bad "Accept: application/identifierlist+cwt not sent: $(cat "$T/accept.log")"
mdoc tc-valid --idl "$H/typclaim" "$GOOD"
v "typ claim, not listed" 0 tc-valid
mdoc tc-rev --idl "$H/typclaim" "$REV"
v "typ claim, listed" 1 tc-rev
mdoc info-rev --idl "$H/info" "$REV"
v "non-empty IdentifierInfo, ttl: listed" 1 info-rev
t verify --allow-http --trust "$T/iaca.pem" --json "$T/revoked.mdoc"
grep -q '"identifier_list":{"listed":true}' "$T/out" && grep -q '"status":"INVALID"' "$T/out" &&
    ok || bad "--json: $(cat "$T/out")"

# --- undetermined (exit 3) --------------------------------------------------------- #
for case in expired:expired wrongsub:sub untrusted:certificate badsig:signature notyp:typ \
    stlist:65533 noexp:exp; do
    name=${case%%:*}
    word=${case#*:}
    mdoc "u-$name" --idl "$H/$name" "$GOOD"
    v "$name list" 3 "u-$name"
    grep -qi "$word" "$T/err" || bad "$name: stderr does not name $word: $(errline)"
done
mdoc u-ctype --idl "$H/ctype-good" "$GOOD"
v "wrong Content-Type" 3 u-ctype
mdoc u-404 --idl "$H/missing" "$GOOD"
v "404" 3 u-404
# The verifier must trust the list's signer: with only a key that is not it, no.
mdoc u-key --idl "$H/good" "$GOOD"
t verify --allow-http --trust "$T/iaca.pem" --key "$T/other.pub.jwk" "$T/u-key.mdoc"
expect_rc "list signed under iaca, x5chain and trust: still VALID with a key added" 0

# --- the MSO's certificate --------------------------------------------------------- #
mdoc cert-ok --idl "$H/bycert" "$REV" --cert "$T/status.pem"
v "certificate named, chain under statusca: listed" 1 cert-ok --trust "$T/statusca.pem"
mdoc cert-ok2 --idl "$H/bycert-nox5c" "$GOOD" --cert "$T/status.pem"
v "certificate named, list without x5chain: not listed" 0 cert-ok2 --trust "$T/statusca.pem"
v "certificate named but not under a trusted anchor" 3 cert-ok
mdoc cert-leaf --idl "$H/othercert" "$GOOD" --cert "$T/status.pem"
v "certificate named, the list's chain starts elsewhere" 3 cert-leaf --trust "$T/statusca.pem"
grep -q "not the certificate the MSO names" "$T/err" || bad "cert-leaf: $(errline)"
mdoc cert-sig --idl "$H/othercert-nox5c" "$GOOD" --cert "$T/status.pem"
v "certificate named, the list signed by another key" 3 cert-sig --trust "$T/statusca.pem"

# --- both mechanisms --------------------------------------------------------------- #
"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/k.jwk" 2>"$T/err" || bad "keygen"
printf '1 INVALID\n' | "$TSL" encode --bits 1 --size 16 >"$T/sl.json" 2>"$T/err" || bad "encode"
"$TSL" sign --key "$T/k.pem" --format cwt --sub "$H/sl" --ttl 60 --exp 3600 "$T/sl.json" \
    >"$T/sl.cwt" 2>"$T/err" || bad "sign: $(errline)"
both() {
    mdoc "both-$1" --idl "$H/good" "$2" --sl "$H/sl" "$3"
    v "both mechanisms: $1" "$4" "both-$1" --key "$T/k.jwk" --list-token "$T/sl.cwt"
}
both agree-valid "$GOOD" 0 0
same "both agree: VALID" "$(cat "$T/out")" "VALID"
both agree-invalid "$REV" 1 1
same "both agree: INVALID" "$(cat "$T/out")" "INVALID"
both disagree-listed "$REV" 0 1
grep -q "disagree" "$T/err" || bad "disagree (listed): $(errline)"
same "disagree: nothing on stdout" "$(cat "$T/out")" ""
both disagree-status "$GOOD" 1 1
grep -q "disagree" "$T/err" || bad "disagree (status): $(errline)"

# --- the disk cache (--cache) ------------------------------------------------------ #
# A verified list is written to the cache directory and the next run answers from it,
# without a request; the entry is verified again when loaded (a damaged one is fetched
# anew, and one verified for an MSO without certificate does not pass for an MSO naming
# another); a list that failed a check is never written.
list cached --x5c "$C" --ttl 3600
mdoc cache-rev --idl "$H/cached" "$REV"
reqs() { grep -c "^/$1 " "$T/accept.log"; }
v "disk cache: first check fetches" 1 cache-rev --cache "$T/cache" --json
grep -q '"source":"fetch"' "$T/out" || bad "disk cache: first source: $(cat "$T/out")"
same "disk cache: one request" "$(reqs cached)" 1
same "disk cache: one entry" "$(find "$T/cache" -type f | wc -l)" 1
v "disk cache: second check" 1 cache-rev --cache "$T/cache" --json
grep -q '"source":"cache"' "$T/out" && grep -q '"status":"INVALID"' "$T/out" && ok ||
    bad "disk cache: second check not from the cache: $(cat "$T/out")"
same "disk cache: no request for the second check" "$(reqs cached)" 1
mdoc cache-valid --idl "$H/cached" "$GOOD"
v "disk cache: another id on the cached list" 0 cache-valid --cache "$T/cache"
same "disk cache: still one request" "$(reqs cached)" 1
# The entry's last byte (the signature's) flipped: not used, fetched again.
f=$(find "$T/cache" -type f)
$PY -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-1]^=1; open(sys.argv[1],"wb").write(b)' "$f"
v "disk cache: damaged entry" 1 cache-rev --cache "$T/cache" --json
grep -q '"source":"fetch"' "$T/out" || bad "disk cache: damaged entry used: $(cat "$T/out")"
same "disk cache: the damaged entry made a request" "$(reqs cached)" 2
# Cached through an MSO without certificate; an MSO naming another one still fails.
mdoc cache-nocert --idl "$H/othercert" "$GOOD"
v "disk cache: othercert cached" 0 cache-nocert --cache "$T/cache2"
v "disk cache: cached list, MSO names another certificate" 3 cert-leaf --cache "$T/cache2" \
    --trust "$T/statusca.pem"
grep -q "not the certificate the MSO names" "$T/err" || bad "disk cache cert-leaf: $(errline)"
# A list that failed is not written.
v "disk cache: untrusted list" 3 u-untrusted --cache "$T/cache3"
same "disk cache: nothing written for a failed list" "$(find "$T/cache3" -type f | wc -l)" 0

# --- --list-token: a list supplied offline ---------------------------------------- #
# An identifier list given with --list-token answers for the mdocs whose uri is its sub,
# with no request; it is verified as a fetched one (an expired or foreign-signed list
# given offline leaves the status undetermined, and nothing is fetched instead); a file
# that is neither kind of token is refused naming both.
cp "$T/accept.log" "$T/accept.log.before" # the offline checks must add no request
cp "$T/www/good" "$T/offline.cwt"
mv "$T/www/good" "$T/www/good.away"   # a request for it would now get a 404
v "offline list: listed" 1 revoked --list-token "$T/offline.cwt"
v "offline list: not listed" 0 valid --list-token "$T/offline.cwt" --json
grep -q '"source":"offline"' "$T/out" || bad "offline list: source: $(cat "$T/out")"
mv "$T/www/good.away" "$T/www/good"
mdoc off-exp --idl "$H/expired" "$REV"
v "offline list: expired" 3 off-exp --list-token "$T/www/expired"
grep -qi "exp" "$T/err" || bad "offline expired: $(errline)"
v "offline list: untrusted signer" 3 u-untrusted --list-token "$T/www/untrusted"
same "offline lists: no request for them" "$(wc -l <"$T/accept.log")" \
    "$(wc -l <"$T/accept.log.before")"
printf 'not a token' >"$T/junk.bin"
v "offline list: neither kind of token (undetermined, as for a bad Status List Token)" 3 \
    valid --list-token "$T/junk.bin"
grep -q "nor an identifier list" "$T/err" || bad "junk list token: $(errline)"

# --- tsl decode -------------------------------------------------------------------- #
t decode --trust "$T/iaca.pem" --id "$REV" --id "$GOOD" "$T/www/good"
expect_rc "decode --id" 0
same "decode --id answers" "$(tr '\t\n' ' |' <"$T/out")" "$REV listed|$GOOD not-listed|"
t decode --json "$T/www/typclaim"
expect_rc "decode --json" 0
$PY -c 'import json,sys; o=json.load(open(sys.argv[1])); c=o["claims"]["identifier_list"]
assert o["kind"]=="identifier_list" and c["identifiers"]==41, o
assert o["header"]["typ_placement"]=="claim" and o["verified"] is False, o' "$T/out" &&
    ok || bad "decode --json: $(cat "$T/out")"
t decode --trust "$T/iaca.pem" "$T/www/badsig"
expect_rc "decode of a list with a bad signature" 1
t decode --id zz "$T/www/good"
expect_rc "decode --id not hex" 2
t decode --index 3 "$T/www/good"
expect_rc "decode --index on an identifier list" 2

finish
