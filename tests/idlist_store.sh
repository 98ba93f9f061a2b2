#!/bin/sh
# idlist_store.sh - the issuer side of ISO/IEC 18013-5 identifier lists: a stored list
# of kind identifier (tsl list create --formats idlist), tsl alloc handing out 16-byte
# identifiers (or 8 to 64 bytes with --id-length: published lists of 8- and 32-byte
# identifiers read by idl_issue.py's independent reader, kept by tsl db copy),
# tsl set revoking one by its identifier, tsl serve publishing and serving
# the identifier list (application/identifierlist+cwt, with negotiation, and ?time=
# history), tsl export served by nginx, and tsl verify following mdocs made by
# tests/idl_issue.py (cbor2, cryptography) to it: VALID, then INVALID once revoked.
#
# Usage: sh tests/idlist_store.sh [BUILD_DIR] [sqlite|pg]   (a few seconds)
# Closing line: "idlist_store: N passed, N failed" (idlist_store_pg on PostgreSQL).

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=idlist_store
BACKEND=${2:-sqlite}
[ "$BACKEND" = pg ] && SUITE=idlist_store_pg
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
# shellcheck source=tests/backend.sh
. "$(dirname "$0")/backend.sh"
PY=/usr/bin/python3
ISSUE="$PY tests/idl_issue.py"

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-idlist-store.XXXXXX") || exit 2
SERVE_PID=""
NPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    [ -n "$NPID" ] && kill "$NPID" 2>/dev/null
    backend_cleanup
    rm -rf "$T"
}
backend_init || { rm -rf "$T"; bad "no PostgreSQL cluster (tests/pg.sh)"; finish; }
trap cleanup EXIT
trap 'exit 2' INT TERM
[ -x "$TSL" ] || { bad "$TSL is missing"; finish; }
$PY tests/rt_issue.py keys "$T" || { bad "rt_issue.py keys"; finish; }
DB=$(test_db tsl) || { bad "cannot make a $BACKEND store"; finish; }
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
URI=$BASE/idl/1
E=$(($(date +%s) + 3600))

# --- the list and its identifiers --------------------------------------------------- #
t list create I1 --uri "$URI" --allow-http --bits 1 --size 1000 --formats idlist --ttl 1 \
    --lifetime 3600 --key "$T/ds.key.pem" --x5c "$T/ds.pem" --db "$DB"
expect_rc "list create --formats idlist" 0
t list create I2 --uri "$BASE/idl/2" --allow-http --bits 2 --size 10 --formats idlist \
    --key "$T/ds.key.pem" --db "$DB"
expect_rc "an identifier list of 2 bits" 2
t list create I3 --uri "$BASE/idl/3" --allow-http --bits 1 --size 10 --formats idlist,cwt \
    --key "$T/ds.key.pem" --db "$DB"
expect_rc "idlist with another form" 2
t list show I1 --db "$DB"
grep -q "^formats *idlist$" "$T/out" && ok || bad "list show: $(cat "$T/out")"
t alloc I1 -n 3 --db "$DB"
expect_rc "alloc" 0
cp "$T/out" "$T/ids"
same "three identifiers of 16 bytes" "$(grep -cE '^[0-9a-f]{32}$' "$T/ids")" 3
same "all different" "$(sort -u "$T/ids" | wc -l | tr -d ' ')" 3
ID1=$(sed -n 1p "$T/ids")
ID2=$(sed -n 2p "$T/ids")
ID3=$(sed -n 3p "$T/ids")
t set I1 00112233445566778899aabbccddeeff INVALID --db "$DB"
expect_rc "set: an identifier the list never made" 1
t set I1 "$ID1" SUSPENDED --db "$DB"
expect_rc "set: SUSPENDED does not fit one bit" 1

# --- served --------------------------------------------------------------------------- #
# A status list beside it, for the aggregation document.
t list create S1 --uri "$BASE/sl/1" --allow-http --bits 1 --size 100 --key "$T/ds.key.pem" \
    --db "$DB"
expect_rc "list create S1 (a status list)" 0
serve_bg "$T/serve.log" --db "$DB" --listen "127.0.0.1:$PORT" --publish-interval 0.5 \
    --history --aggregation-path /lists.json || { bad "tsl serve did not start: $(head -c 300 "$T/serve.log")"; finish; }
n=0
until curl -sf -o "$T/l.cwt" "$URI" 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 100 ] && { bad "no identifier list served: $(cat "$T/serve.log")"; finish; }
    sleep 0.1
done
ct() { curl -s -o /dev/null -w '%{http_code} %{content_type}' "$@" "$URI"; }
same "Accept: identifierlist+cwt" "$(ct -H 'Accept: application/identifierlist+cwt')" \
    "200 application/identifierlist+cwt"
same "no Accept" "$(ct -H 'Accept:')" "200 application/identifierlist+cwt"
same "Accept: */*" "$(ct -H 'Accept: */*')" "200 application/identifierlist+cwt"
same "Accept: application/*" "$(ct -H 'Accept: application/*')" \
    "200 application/identifierlist+cwt"
same "Accept: a status list" "$(ct -H 'Accept: application/statuslist+cwt')" \
    "406 text/plain; charset=utf-8"
same "Accept: */*, the type with q=0" \
    "$(ct -H 'Accept: */*, application/identifierlist+cwt;q=0')" "406 text/plain; charset=utf-8"
same "the aggregation document names the status list only" \
    "$(curl -s "$BASE/lists.json" | tr -d ' \n')" "{\"status_lists\":[\"$BASE/sl/1\"]}"
t decode --trust "$T/iaca.pem" --id "$ID1" "$T/l.cwt"
expect_rc "decode the served list" 0
same "nothing listed yet" "$(cat "$T/out")" "$(printf '%s\tnot-listed' "$ID1")"

# --- tsl verify of mdocs pointing at it ---------------------------------------------- #
for i in 1 2 3; do
    eval "id=\$ID$i"
    # shellcheck disable=SC2154 # id is set by the eval
    $ISSUE mdoc "$T/ds.key.pem" "$T/ds.pem" "$E" --idl "$URI" "$id" >"$T/m$i.mdoc" ||
        bad "idl_issue.py mdoc $i"
done
t verify --allow-http --trust "$T/iaca.pem" "$T/m2.mdoc"
expect_rc "mdoc 2 before revocation" 0
same "VALID" "$(cat "$T/out")" "VALID"
t set I1 "$ID2" INVALID --db "$DB"
expect_rc "set I1 <identifier> INVALID" 0
t get I1 "$ID2" "$ID1" --db "$DB"
expect_rc "get by identifier" 0
same "get by identifier" "$(tr '\t\n' ' |' <"$T/out")" "$ID2 INVALID|$ID1 VALID|"
n=0
while :; do
    curl -s -o "$T/l.cwt" "$URI"
    "$TSL" decode --id "$ID2" "$T/l.cwt" 2>/dev/null | grep -q "	listed$" && break
    n=$((n + 1))
    [ $n -gt 100 ] && { bad "the revocation was not published"; break; }
    sleep 0.1
done
t verify --allow-http --trust "$T/iaca.pem" "$T/m2.mdoc"
expect_rc "mdoc 2 revoked" 1
same "INVALID" "$(cat "$T/out")" "INVALID"
t verify --allow-http --trust "$T/iaca.pem" "$T/m1.mdoc"
expect_rc "mdoc 1 still valid" 0
t verify --allow-http --trust "$T/iaca.pem" "$T/m3.mdoc"
expect_rc "mdoc 3 still valid" 0
t decode --trust "$T/iaca.pem" --json "$T/l.cwt"
$PY -c 'import json,sys; o=json.load(open(sys.argv[1]))
assert o["claims"]["identifier_list"]["identifiers"]==1 and o["verified"], o
assert o["claims"]["sub"]==sys.argv[2] and o["claims"]["ttl"]==1, o' "$T/out" "$URI" &&
    ok || bad "the published list: $(cat "$T/out")"
# The published list, checked by cbor2: exactly the revoked identifier, {} as its info.
$PY -c 'import cbor2,sys
t=cbor2.loads(open(sys.argv[1],"rb").read()); assert t.tag==18
prot=cbor2.loads(t.value[0]); assert prot[16]=="application/identifierlist+cwt", prot
c=cbor2.loads(t.value[2]); ids=c[65530]["identifiers"]
assert list(ids)==[bytes.fromhex(sys.argv[2])] and ids[bytes.fromhex(sys.argv[2])]=={}, ids
assert 65533 not in c and c[4]>c[6], c' "$T/l.cwt" "$ID2" && ok || bad "cbor2 reading"

# --- history -------------------------------------------------------------------------- #
NOW=$(date +%s)
same "?time=now" "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$URI?time=$NOW")" \
    "200 application/identifierlist+cwt"
t token I1 --format cwt --db "$DB"
expect_rc "tsl token" 0
cmp -s "$T/out" "$T/l.cwt" && ok || bad "tsl token is not the served list"

# --- identifier lengths (--id-length) -------------------------------------------------- #
t list create IX --uri "$BASE/idl/x" --allow-http --bits 1 --size 10 --formats idlist \
    --id-length 7 --key "$T/ds.key.pem" --db "$DB"
expect_rc "--id-length 7" 2
grep -q "8 to 64" "$T/err" && ok || bad "--id-length 7: $(cat "$T/err")"
t list create IX --uri "$BASE/idl/x" --allow-http --bits 1 --size 10 --formats idlist \
    --id-length 65 --key "$T/ds.key.pem" --db "$DB"
expect_rc "--id-length 65" 2
t list create IX --uri "$BASE/idl/x" --allow-http --bits 1 --size 10 --id-length 16 \
    --key "$T/ds.key.pem" --db "$DB"
expect_rc "--id-length on a status list" 2
grep -q "only an identifier list" "$T/err" && ok || bad "--id-length, status list: $(cat "$T/err")"
t list create IX --uri "$BASE/idl/x" --allow-http --bits 1 --size 4294967297 --force \
    --formats idlist --id-length 9 --key "$T/ds.key.pem" --db "$DB"
expect_rc "2^32 + 1 entries in 9-byte identifiers" 2
grep -q "do not fit identifiers of 9 bytes" "$T/err" && ok || bad "size: $(cat "$T/err")"
t list show IX --db "$DB"
expect_rc "nothing was created" 1
t list show I1 --db "$DB"
grep -q "^id_length *16$" "$T/out" && ok || bad "list show I1: $(cat "$T/out")"
for L in 8 32; do
    LU=$BASE/idl/len$L
    t list create "IL$L" --uri "$LU" --allow-http --bits 1 --size 1000 --formats idlist \
        --id-length "$L" --key "$T/ds.key.pem" --x5c "$T/ds.pem" --db "$DB"
    expect_rc "list create --id-length $L" 0
    t list show "IL$L" --json --db "$DB"
    same "list show --json: id_length $L" \
        "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["id_length"])' "$T/out")" "$L"
    t alloc "IL$L" -n 5 --db "$DB"
    expect_rc "alloc from IL$L" 0
    cp "$T/out" "$T/ids$L"
    same "five identifiers of $L bytes" "$(grep -cE "^[0-9a-f]{$((2 * L))}\$" "$T/ids$L")" 5
    same "all different" "$(sort -u "$T/ids$L" | wc -l | tr -d ' ')" 5
    A=$(sed -n 2p "$T/ids$L")
    B=$(sed -n 4p "$T/ids$L")
    C=$(sed -n 1p "$T/ids$L")
    t set "IL$L" "$A" INVALID --db "$DB"
    expect_rc "revoke an identifier of IL$L" 0
    t set "IL$L" "$B" INVALID --db "$DB"
    expect_rc "revoke another" 0
    t get "IL$L" "$A" "$C" --db "$DB"
    same "get by $L-byte identifier" "$(tr '\t\n' ' |' <"$T/out")" "$A INVALID|$C VALID|"
    t set "IL$L" "$ID1" INVALID --db "$DB"
    expect_rc "IL$L: a 16-byte identifier (of I1) is not its own" 1
    t publish "IL$L" --db "$DB"
    expect_rc "publish IL$L" 0
    t token "IL$L" --format cwt --db "$DB"
    expect_rc "token IL$L" 0
    cp "$T/out" "$T/il$L.cwt"
    # The independent reader: signature, typ, sub, exp, and exactly the two revoked.
    $PY tests/idl_issue.py read "$T/ds.pem" "$LU" "$T/il$L.cwt" >"$T/read$L" 2>"$T/err" ||
        bad "idl_issue.py read IL$L: $(cat "$T/err")"
    same "IL$L published: the revoked identifiers" "$(cat "$T/read$L")" \
        "$(printf '%s\n%s\n' "$A" "$B" | sort)"
    t decode --trust "$T/iaca.pem" --id "$C" "$T/il$L.cwt"
    same "decode --id: not listed" "$(cat "$T/out")" "$(printf '%s\tnot-listed' "$C")"
    # An mdoc pointing at the exported list would be checked as for I1; here the
    # verifier's own reading of the published list.
    t decode --trust "$T/iaca.pem" --id "$B" "$T/il$L.cwt"
    same "decode --id: listed" "$(cat "$T/out")" "$(printf '%s\tlisted' "$B")"
done
# tsl update takes identifiers of the list's length (and indices), one batch.
D=$(sed -n 5p "$T/ids32")
E5=$(sed -n 3p "$T/ids32")
printf '# revocations\n%s INVALID # lost\n%s\tINVALID\n' "$D" "$(echo "$E5" | tr a-f A-F)" \
    >"$T/upd"
t update IL32 "$T/upd" --dry-run --db "$DB"
expect_rc "update --dry-run by identifier" 0
t get IL32 "$D" --db "$DB"
same "dry run: nothing written" "$(cut -f2 "$T/out")" "VALID"
t update IL32 "$T/upd" --db "$DB"
expect_rc "update by identifier" 0
grep -q "3 lines, 2 changes covering 2 entries; 2 changed" "$T/out" && ok ||
    bad "update summary: $(cat "$T/out")"
t get IL32 "$D" "$E5" --db "$DB"
same "update: both revoked" "$(cut -f2 "$T/out" | tr '\n' ' ')" "INVALID INVALID "
printf '%s INVALID\n%s INVALID\n' "$(sed -n 1p "$T/ids32")" "$ID1" >"$T/upd2"
t update IL32 "$T/upd2" --db "$DB"
expect_rc "update: a 16-byte identifier in a 32-byte list" 1
grep -q "line 2:" "$T/err" && ok || bad "update names the line: $(cat "$T/err")"
t get IL32 "$(sed -n 1p "$T/ids32")" --db "$DB"
same "update: all or nothing" "$(cut -f2 "$T/out")" "VALID"
# Its first identifier with the first digit changed (0 -> 1, anything else -> 0).
printf '%s INVALID\n' "$(sed -n 1p "$T/ids32" | sed 's/^0/x/;s/^[1-9a-f]/0/;s/^x/1/')" \
    >"$T/upd3"
t update IL32 "$T/upd3" --db "$DB"
expect_rc "update: an identifier the list never made" 1
grep -q "line 1: .* is not one of the list's identifiers" "$T/err" && ok ||
    bad "update: foreign: $(cat "$T/err")"
t update S1 "$T/upd" --db "$DB"
expect_rc "update of a status list with identifiers: refused" 1
# 16 digits is an 8-byte identifier, never an index (at most 11 digits).
t get IL8 1234567812345678 --db "$DB"
expect_rc "IL8: a digits-only identifier" 1
grep -q "not one of its identifiers" "$T/err" && ok || bad "digits-only: $(cat "$T/err")"
t get S1 12345678123456789 --db "$DB"
expect_rc "S1: a long number is an index out of range" 1
# tsl db copy keeps the length and so the identifiers (to SQLite, from either backend).
t db copy --from "$DB" --to "$T/copy.db"
expect_rc "db copy" 0
t list show IL32 --db "$T/copy.db"
grep -q "^id_length *32$" "$T/out" && ok || bad "copy: list show IL32: $(cat "$T/out")"
t get IL32 "$(sed -n 2p "$T/ids32")" "$(sed -n 1p "$T/ids32")" --db "$T/copy.db"
same "copy: the 32-byte identifiers" "$(cut -f2 "$T/out" | tr '\n' ' ')" "INVALID VALID "
t get IL8 "$(sed -n 4p "$T/ids8")" --db "$T/copy.db"
same "copy: an 8-byte identifier" "$(cut -f2 "$T/out")" "INVALID"

# --- tsl export, served by nginx ------------------------------------------------------ #
NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
if [ -z "$NGINX" ]; then
    bad "nginx is missing (apt-get install nginx-light)"
else
    NPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    t export "$T/www" --db "$DB" --listen "127.0.0.1:$NPORT" --aggregation-path /lists
    expect_rc "tsl export" 0
    same "export: the aggregation document names the status list only" \
        "$(tr -d ' \n' <"$T/www/current/lists.json")" "{\"status_lists\":[\"$BASE/sl/1\"]}"
    cmp -s "$T/www/current/idl/1.cwt" "$T/l.cwt" && ok || bad "the exported file"
    # The 32-byte list, exported: read by the independent reader, its revoked entries.
    $PY tests/idl_issue.py read "$T/ds.pem" "$BASE/idl/len32" "$T/www/current/idl/len32.cwt" \
        >"$T/exp32" 2>"$T/err" || bad "export: idl_issue.py read len32: $(cat "$T/err")"
    same "export: 32-byte identifiers only" "$(grep -cvE '^[0-9a-f]{64}$' "$T/exp32")" 0
    grep -qx "$(sed -n 2p "$T/ids32")" "$T/exp32" && ok || bad "export: a revoked identifier"
    mkdir -p "$T/ng"
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
    n=0
    until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NPORT/none"; do
        n=$((n + 1))
        [ $n -gt 50 ] && break
        sleep 0.1
    done
    NU=http://127.0.0.1:$NPORT/idl/1
    nct() { curl -s -o "$T/n.body" -w '%{http_code} %{content_type}' "$@" "$NU"; }
    same "nginx: Accept the type" "$(nct -H 'Accept: application/identifierlist+cwt')" \
        "200 application/identifierlist+cwt"
    cmp -s "$T/n.body" "$T/l.cwt" && ok || bad "nginx: the body"
    same "nginx: no Accept" "$(nct -H 'Accept:')" "200 application/identifierlist+cwt"
    same "nginx: */*" "$(nct -H 'Accept: */*')" "200 application/identifierlist+cwt"
    same "nginx: a status list type" \
        "$(nct -H 'Accept: application/statuslist+cwt' | cut -c1-3)" "406"
    same "nginx: the type with q=0" \
        "$(nct -H 'Accept: application/identifierlist+cwt;q=0' | cut -c1-3)" "406"
    kill "$NPID" 2>/dev/null
    wait "$NPID" 2>/dev/null
    NPID=""
fi

finish
