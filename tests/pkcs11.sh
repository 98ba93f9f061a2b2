#!/bin/sh
# pkcs11.sh - keys that never leave hardware (issue 14), on Debian's softhsm2 and opensc:
# a token in a temporary directory (SOFTHSM2_CONF, softhsm2-util --init-token) with
# keys made by pkcs11-tool (P-256, P-384, P-521, Ed25519, RSA 3072). For every
# algorithm a JWT and a CWT are signed through `tsl sign --key pkcs11:...` and verified
# by independent code (jwcrypto; cryptography and cbor2: tests/pkcs11_xcheck.py) and by
# `tsl decode --key` with the public key exported from the token by opensc, not by tsl.
# Then: the x5c from a certificate object on the token, `tsl pkcs11 ls|check`, a list
# created with a URI (kept verbatim, a pin-value refused), `tsl serve` publishing with
# the HSM key and a client verifying, the token removed and put back while it serves,
# a wrong PIN tried exactly once (counted through opensc's pkcs11-spy), each error case
# with its message and exit code, and the PIN in no output, log, store or audit row.
#
#   sh tests/pkcs11.sh [BUILD]        closing line "pkcs11: N passed, N failed"
BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=pkcs11
. "$(dirname "$0")/harness.sh"
. "$(dirname "$0")/serve_wait.sh"
PY=/usr/bin/python3
X="$PY $(dirname "$0")/pkcs11_xcheck.py"

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-pkcs11.XXXXXX") || exit 2
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ -d "$T/tokens.away" ] && mv "$T/tokens.away" "$T/tokens"
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

for c in softhsm2-util pkcs11-tool curl; do
    command -v $c >/dev/null 2>&1 || { bad "$c is missing (scripts/deps.sh installs it)"; finish; }
done
# The softhsm2 module: where its p11-kit registration says, else Debian's path.
MOD=$(sed -n 's/^module: *//p' /usr/share/p11-kit/modules/softhsm2.module 2>/dev/null)
[ -f "$MOD" ] || MOD=/usr/lib/softhsm/libsofthsm2.so
[ -f "$MOD" ] || { bad "libsofthsm2.so not found"; finish; }
SPY=$(ls /usr/lib/*/pkcs11-spy.so /usr/lib/pkcs11-spy.so 2>/dev/null | head -n 1)

# A PIN no output could contain by chance.
PIN="Pq7x9-$$-hsm-secret"
SOPIN="so-$$-12345678"
mkdir -p "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$T/tokens" >"$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
unset TSL_PKCS11_PIN TSL_PKCS11_MODULE
softhsm2-util --init-token --free --label issuer --so-pin "$SOPIN" --pin "$PIN" \
    >"$T/init.out" 2>&1 || { bad "softhsm2-util --init-token: $(head -c 200 "$T/init.out")"; finish; }
umask 077
printf '%s\n' "$PIN" >"$T/pin"
printf 'not-the-pin\n' >"$T/badpin"
umask 022
P11="pkcs11-tool --module $MOD --token-label issuer"
for k in "EC:prime256v1 p256 01" "EC:secp384r1 p384 02" "EC:secp521r1 p521 03" \
    "EC:edwards25519 ed 04" "rsa:3072 rsa 05"; do
    set -- $k
    if $P11 --login --pin "$PIN" --keypairgen --key-type "$1" --label "$2" --id "$3" \
        >"$T/keygen.out" 2>&1; then ok; else bad "pkcs11-tool keygen $1: $(head -c 200 "$T/keygen.out")"; fi
done
note "token \"issuer\" with P-256, P-384, P-521, Ed25519 and RSA 3072 keys"

# The public keys, exported by opensc (not by tsl): EC and Ed25519 from the EC_POINT
# pkcs11-tool lists (opensc 0.23 exports no Ed25519 SPKI), RSA as its SPKI.
$P11 -O >"$T/objects.txt" 2>&1
for o in p256 p384 p521 ed; do
    if $X spki "$T/objects.txt" $o "$T/$o.pem"; then ok; else bad "public key of $o"; fi
done
if $P11 --read-object --type pubkey --id 05 -o "$T/rsa.der" >/dev/null 2>&1 &&
    openssl pkey -pubin -inform DER -in "$T/rsa.der" -out "$T/rsa.pem" 2>/dev/null; then
    ok
else
    bad "pkcs11-tool --read-object of the RSA public key"
fi

SUB=https://example.com/statuslists/hsm
printf '0 1\n3 1\n9 1\n' | "$TSL" encode --bits 1 --size 64 >"$T/list.json"
uri() { echo "pkcs11:token=issuer;object=$1"; }
# tp VAR=VALUE... ARGS...: t with environment variables for tsl only.
tp() {
    _env=""
    while [ $# -gt 0 ]; do
        case $1 in
        *=*) _env="$_env $1" && shift ;;
        *) break ;;
        esac
    done
    # shellcheck disable=SC2086
    env $_env "$TSL" "$@" </dev/null >"$T/out" 2>"$T/err"
    rc=$?
}

# 1. Every algorithm, JWT and CWT, verified three ways. The PIN comes from a
# pin-source file for some and from $TSL_PKCS11_PIN for the others.
for a in ES256:p256 ES384:p384 ES512:p521 EdDSA:ed PS256:rsa PS384:rsa PS512:rsa \
    RS256:rsa RS384:rsa RS512:rsa; do
    alg=${a%%:*}
    o=${a#*:}
    case $alg in
    ES384 | EdDSA | PS512 | RS256) key="$(uri $o)?pin-source=file:$T/pin" env="" ;;
    *) key=$(uri $o) env="TSL_PKCS11_PIN=$PIN" ;;
    esac
    for f in jwt cwt; do
        env $env "$TSL" sign --key "$key" --pkcs11-module "$MOD" --alg $alg --sub "$SUB" \
            --format $f "$T/list.json" >"$T/$alg.$f" 2>"$T/err"
        rc=$?
        expect_rc "sign $alg $f with the token" 0
        cat "$T/err" >>"$T/all.err"
        t decode --key "$T/$o.pem" --uri "$SUB" --index 3 --index 4 "$T/$alg.$f"
        expect_rc "tsl decode --key (exported) $alg $f" 0
        same "tsl decode $alg $f" "$(tr '\t\n' ' |' <"$T/out")" "3 1|4 0|"
        cat "$T/err" >>"$T/all.err"
    done
    if $X verify $alg "$T/$o.pem" "$T/$alg.jwt" "$T/$alg.cwt" "$SUB" 2>"$T/py.err"; then
        ok
    else
        bad "independent verification of $alg (jwcrypto, cryptography+cbor2): $(tail -n 3 "$T/py.err" | tr '\n' '|')"
    fi
done
# The default alg and kid come from the token's public key: ES256 and the RFC 7638
# thumbprint, the kid `tsl pkcs11 check` names.
TSL_PKCS11_PIN=$PIN "$TSL" sign --key "$(uri p256)" --pkcs11-module "$MOD" --sub "$SUB" \
    "$T/list.json" >"$T/default.jwt" 2>>"$T/all.err"
hdr=$(cut -d. -f1 "$T/default.jwt" | $PY -c 'import sys,base64,json; s=sys.stdin.read().strip(); print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["alg"])')
same "default alg from the token's key" "$hdr" ES256
TSL_PKCS11_PIN=$PIN "$TSL" pkcs11 check "$(uri p256)" --pkcs11-module "$MOD" >"$T/p256.jwk" 2>"$T/check.err"
rc=$?
expect_rc "tsl pkcs11 check p256" 0
grep -q 'ok: ES256 signature made on the token verifies' "$T/check.err" && ok || bad "check: $(cat "$T/check.err")"
kid=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$T/p256.jwk")
want=$($PY -c 'import sys,json; from jwcrypto import jwk; print(jwk.JWK.from_pem(open(sys.argv[1],"rb").read()).thumbprint())' "$T/p256.pem")
same "kid = RFC 7638 thumbprint of the token's key" "$kid" "$want"
t decode --key "$T/p256.jwk" --uri "$SUB" "$T/default.jwt"
expect_rc "decode with the JWK tsl pkcs11 check printed" 0
t decode --json "$T/default.jwt"
grep -q "\"kid\": *\"$want\"" "$T/out" && ok || bad "default kid not the thumbprint: $(head -c 300 "$T/out")"
for o in p384 p521 ed rsa; do
    TSL_PKCS11_PIN=$PIN "$TSL" pkcs11 check "$(uri $o)" --pkcs11-module "$MOD" >/dev/null 2>"$T/check.err"
    rc=$?
    expect_rc "tsl pkcs11 check $o" 0
done

# The module by p11-kit's name for it (module-name=softhsm2: its .module file).
if [ -f /usr/share/p11-kit/modules/softhsm2.module ]; then
    tp TSL_PKCS11_PIN=$PIN pkcs11 check "$(uri p256)?module-name=softhsm2"
    expect_rc "module-name=softhsm2" 0
fi
tp TSL_PKCS11_PIN=$PIN pkcs11 check "$(uri p256)?module-name=nosuch"
expect_rc "module-name of no registered module" 2

# 2. tsl pkcs11 ls: the keys with their URIs; private keys only after login.
t pkcs11 ls --pkcs11-module "$MOD"
expect_rc "pkcs11 ls without a PIN" 0
grep -q "^token	issuer	.*public keys only" "$T/out" && ok || bad "ls: $(head -c 300 "$T/out")"
TSL_PKCS11_PIN=$PIN "$TSL" pkcs11 ls --pkcs11-module "$MOD" >"$T/ls.out" 2>&1
for k in "object=p256;id=%01	ES256" "object=p384;id=%02	ES384" "object=p521;id=%03	ES512" \
    "object=ed;id=%04	EdDSA" "object=rsa;id=%05	PS256"; do
    grep -qF "pkcs11:token=issuer;$k" "$T/ls.out" && ok || bad "ls lacks $k: $(head -c 400 "$T/ls.out")"
done
# The URI ls prints signs as it is.
TSL_PKCS11_PIN=$PIN "$TSL" sign --key "pkcs11:token=issuer;id=%04" --pkcs11-module "$MOD" \
    --sub "$SUB" "$T/list.json" >"$T/byid.jwt" 2>>"$T/all.err"
t decode --key "$T/ed.pem" --uri "$SUB" "$T/byid.jwt"
expect_rc "sign by id=%04 (Ed25519)" 0

# 3. x5c from a certificate object with the key's CKA_ID: a certificate for the token's
# P-256 key under a test CA, written to the token; the token verifies by --trust.
if $X cert "$T/p256.pem" "$T/ca.key" "$T/ca.pem" "$T/leaf.der" &&
    $P11 --login --pin "$PIN" --write-object "$T/leaf.der" --type cert --id 01 \
        --label p256 >/dev/null 2>&1; then
    TSL_PKCS11_PIN=$PIN "$TSL" sign --key "$(uri p256)" --pkcs11-module "$MOD" \
        --sub "$SUB" --format cwt "$T/list.json" >"$T/x5c.cwt" 2>>"$T/all.err"
    t decode --trust "$T/ca.pem" --uri "$SUB" --index 9 "$T/x5c.cwt"
    expect_rc "x5c from the token's certificate verifies with --trust" 0
    TSL_PKCS11_PIN=$PIN "$TSL" pkcs11 ls --pkcs11-module "$MOD" >"$T/ls.out" 2>&1
    grep -q "object=p256;id=%01	ES256	certificate" "$T/ls.out" && ok || bad "ls does not show the certificate"
else
    bad "could not make and store a certificate for the P-256 key"
fi

# 4. Errors: a clear message and the README's exit code each.
err_case() { # NAME RC PATTERN
    expect_rc "$1" "$2"
    if grep -qE "$3" "$T/err"; then ok; else bad "$1: message '$(errline)' lacks /$3/"; fi
    cat "$T/err" >>"$T/all.err"
}
tp TSL_PKCS11_PIN=$PIN sign --key "$(uri p256)" --pkcs11-module "$T/nonexistent.so" --sub "$SUB" "$T/list.json"
err_case "module missing" 2 'module .*nonexistent.so: No such file'
tp TSL_PKCS11_PIN=$PIN TSL_PKCS11_MODULE="$T/list.json" sign --key "$(uri p256)" --sub "$SUB" "$T/list.json"
err_case "not a module" 2 'cannot load|not a PKCS#11 module'
tp TSL_PKCS11_PIN=wrong-pin-1 sign --key "$(uri p256)" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "wrong PIN" 1 'wrong PIN \(CKR_PIN_INCORRECT\)'
t sign --key "$(uri p256)?pin-source=file:$T/badpin" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "wrong PIN from a pin-source" 1 'wrong PIN'
t sign --key "$(uri p256)" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "no PIN" 1 'needs a PIN: give pin-source=file:PATH in the URI or set TSL_PKCS11_PIN'
chmod 644 "$T/pin"
t sign --key "$(uri p256)?pin-source=file:$T/pin" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "pin-source readable by others" 1 'pin-source'
chmod 600 "$T/pin"
tp TSL_PKCS11_PIN=$PIN sign --key "pkcs11:token=nosuch;object=p256" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "unknown token" 1 'no token "nosuch" in module .*\(tokens present: "issuer"\)'
tp TSL_PKCS11_PIN=$PIN sign --key "$(uri nosuch)" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "unknown object" 1 'object "nosuch": no such private key'
tp TSL_PKCS11_PIN=$PIN sign --key "$(uri p256)" --alg ES384 --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "alg that does not fit the token's key" 1 'P-256 key cannot be used with ES384'
tp TSL_PKCS11_PIN=$PIN sign --key "$(uri p256)?pin-value=$PIN" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "pin-value in the URI" 1 'pin-value is refused'
tp TSL_PKCS11_PIN=$PIN sign --key "pkcs11:token=issuer;object=%zz" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "malformed URI" 1 'object: a % not followed by two hex digits'
# An unsupported mechanism: the same token with CKM_EDDSA switched off.
cp "$T/softhsm2.conf" "$T/nomech.conf"
echo "slots.mechanisms = ALL,-CKM_EDDSA" >>"$T/nomech.conf"
tp SOFTHSM2_CONF=$T/nomech.conf TSL_PKCS11_PIN=$PIN sign --key "$(uri ed)" --pkcs11-module "$MOD" --sub "$SUB" "$T/list.json"
err_case "unsupported mechanism" 1 'CKM_EDDSA'

# 5. The store keeps the URI verbatim, never a PIN; a pin-value is refused there too.
DB=$T/tsl.db
LURI="$(uri p256)?pin-source=file:$T/pin"
t list create hsm --uri "$SUB" --bits 1 --size 1000 --key "$(uri p256)?pin-value=$PIN" \
    --pkcs11-module "$MOD" --db "$DB"
err_case "list create with a pin-value" 1 'pin-value is refused'
[ ! -e "$DB" ] && ok || bad "a refused list create made a store"
t list create hsm --uri http://127.0.0.1:1/statuslists/hsm --allow-http --bits 1 --size 1000 \
    --key "$LURI" --pkcs11-module "$MOD" --ttl 60 --lifetime 600 --db "$DB"
expect_rc "list create with a pkcs11: key" 0
cat "$T/err" >>"$T/all.err"
t list show hsm --json --db "$DB"
key=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["key"], d["alg"])' "$T/out")
same "stored key reference" "$key" "$LURI ES256"
t publish hsm --pkcs11-module "$MOD" --db "$DB"
expect_rc "tsl publish with the HSM key" 0
cat "$T/err" "$T/out" >>"$T/all.err"
t token hsm --format cwt --db "$DB"
cp "$T/out" "$T/pub.cwt"
t decode --key "$T/p256.pem" --uri http://127.0.0.1:1/statuslists/hsm "$T/pub.cwt"
expect_rc "the published CWT verifies with the exported key" 0

# 6. tsl serve publishes with the HSM key; a client verifies what it serves. Then the
# token goes away (its directory moved) and comes back while it serves.
start_serve() {
    _try=0
    while [ $_try -lt 5 ]; do
        _try=$((_try + 1))
        PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        rm -f "$DB2"
        "$TSL" list create srv --uri "http://127.0.0.1:$PORT/statuslists/srv" --allow-http \
            --bits 2 --size 10000 --key "$LURI" --pkcs11-module "$MOD" --lifetime 600 \
            --db "$DB2" 2>>"$T/all.err" || return 1
        if serve_bg "$T/serve.log" --db "$DB2" --listen "127.0.0.1:$PORT" --publish-interval 0.2 \
            --pkcs11-module "$MOD" --access-log "$T/access.log" "$@"; then
            SPID=$SERVE_PID
            return 0
        fi
        grep -qi 'in use' "$T/serve.log" || break
    done
    return 1
}
fetch() { # PATH OUT: the HTTP status
    curl -s -o "$2" -w '%{http_code}' "http://127.0.0.1:$PORT$1"
}
# Waits up to $1 s for the served CWT to show status $2 at index 7.
wait_served() {
    _n=0
    while [ $_n -lt $(($1 * 5)) ]; do
        if [ "$(fetch /statuslists/srv "$T/srv.jwt")" = 200 ] &&
            "$TSL" decode --key "$T/p256.pem" --index 7 "$T/srv.jwt" >"$T/srv.idx" 2>/dev/null &&
            [ "$(cut -f2 "$T/srv.idx")" = "$2" ]; then
            return 0
        fi
        sleep 0.2
        _n=$((_n + 1))
    done
    return 1
}
DB2=$T/serve.db
if start_serve; then
    ok
    note "tsl serve with the HSM key on port $PORT"
    wait_served 10 0 && ok || bad "serve: no verifying token at first: $(tail -n 3 "$T/serve.log" | tr '\n' '|')"
    "$TSL" set srv 7 INVALID --db "$DB2" 2>>"$T/all.err"
    wait_served 10 1 && ok || bad "serve: the change was not published with the HSM key"
    # An independent client: jwcrypto on what is served.
    if $PY -c 'import sys; from jwcrypto import jwk, jws
k = jwk.JWK.from_pem(open(sys.argv[1], "rb").read())
t = jws.JWS(); t.deserialize(open(sys.argv[2]).read().strip()); t.verify(k, alg="ES256")' \
        "$T/p256.pem" "$T/srv.jwt" 2>"$T/py.err"; then ok; else bad "jwcrypto on the served JWT: $(tail -n 2 "$T/py.err")"; fi
    curl -s -H 'Accept: application/statuslist+cwt' -o "$T/srv.cwt" "http://127.0.0.1:$PORT/statuslists/srv"
    t decode --key "$T/p256.pem" --index 7 "$T/srv.cwt"
    same "served CWT verifies" "$(cat "$T/out")" "7	1"
    same "healthz while the token is there" "$(fetch /healthz "$T/hz")" 200

    # The token removed: publishing fails and is retried, the last token is still
    # served, /healthz and /metrics say so, and the server does not crash.
    mv "$T/tokens" "$T/tokens.away"
    "$TSL" set srv 7 SUSPENDED --force --db "$DB2" 2>>"$T/all.err"
    _n=0
    while [ $_n -lt 50 ] && [ "$(fetch /healthz "$T/hz")" != 503 ]; do sleep 0.2; _n=$((_n + 1)); done
    same "healthz with the token gone" "$(fetch /healthz "$T/hz")" 503
    fetch /metrics "$T/metrics" >/dev/null
    grep -q '^tsl_pkcs11_token_lost 1$' "$T/metrics" && ok || bad "metrics: token_lost not 1: $(grep pkcs11 "$T/metrics" | tr '\n' '|')"
    same "the last token is still served" "$(fetch /statuslists/srv "$T/old.jwt")" 200
    kill -0 "$SPID" 2>/dev/null && ok || bad "tsl serve died when the token went away"
    grep -qE 'pkcs11: .*(CKR_[A-Z_]+|no token "issuer")' "$T/serve.log" && ok || bad "the log does not name the token failure: $(tail -n 3 "$T/serve.log" | tr '\n' '|')"
    # Back: the publisher reopens the token and publishes the change.
    mv "$T/tokens.away" "$T/tokens"
    wait_served 40 2 && ok || bad "serve: the token came back but nothing was published: $(tail -n 3 "$T/serve.log" | tr '\n' '|')"
    _n=0
    while [ $_n -lt 50 ] && [ "$(fetch /healthz "$T/hz")" != 200 ]; do sleep 0.2; _n=$((_n + 1)); done
    same "healthz after the token came back" "$(fetch /healthz "$T/hz")" 200
    fetch /metrics "$T/metrics" >/dev/null
    grep -q '^tsl_pkcs11_token_lost 0$' "$T/metrics" && ok || bad "metrics: token_lost not back to 0"
    grep -qE '^tsl_pkcs11_reopens_total [1-9]' "$T/metrics" && ok || bad "metrics: no reopen counted"
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    same "tsl serve exits 0 on SIGTERM" "$?" 0
    SPID=""
    cat "$T/serve.log" "$T/access.log" "$T/metrics" "$T/hz" >>"$T/all.err" 2>/dev/null
else
    bad "tsl serve with an HSM key did not start: $(head -c 300 "$T/serve.log" | tr '\n' '|')"
fi

# 7. A wrong PIN is offered to the token once, never in a retry loop: tsl serve with a
# wrong pin-source runs for 3 s of publishing rounds under opensc's pkcs11-spy, which
# logs every call; exactly one C_Login is made.
if [ -n "$SPY" ]; then
    LURI="$(uri p256)?pin-source=file:$T/badpin"
    DB2=$T/badpin.db
    printf '%s\n' "$PIN" >"$T/pin.tmp"
    # The list is created with the right PIN, then the pin file goes wrong.
    LURI="$(uri p256)?pin-source=file:$T/pin2"
    cp "$T/pin" "$T/pin2"
    chmod 600 "$T/pin2"
    export PKCS11SPY="$MOD" PKCS11SPY_OUTPUT="$T/spy.log"
    MOD_SAVED=$MOD
    MOD=$SPY
    if start_serve; then
        : >"$T/spy.log"
        printf 'wrong-pin-2\n' >"$T/pin2"
        "$TSL" set srv 7 INVALID --db "$DB2" 2>>"$T/all.err"
        # Lose the session: the token goes away and back, so the next publish must log in.
        mv "$T/tokens" "$T/tokens.away"
        sleep 1
        mv "$T/tokens.away" "$T/tokens"
        _n=0
        while [ $_n -lt 100 ] && ! grep -qE 'wrong PIN|PIN was refused' "$T/serve.log"; do sleep 0.2; _n=$((_n + 1)); done
        # Publishing is retried meanwhile (backoff 1, 2, 4 s...): still one C_Login.
        sleep 8
        logins=$(grep -c 'C_Login' "$T/spy.log")
        same "C_Login calls with a wrong PIN over 8 s of retries" "$logins" 1
        grep -qE 'wrong PIN|PIN was refused' "$T/serve.log" && ok || bad "the log does not say wrong PIN: $(tail -n 3 "$T/serve.log" | tr '\n' '|')"
        grep -q 'is not tried again' "$T/serve.log" && ok || bad "the log does not say the PIN is not tried again"
        kill -0 "$SPID" 2>/dev/null && ok || bad "tsl serve died on a wrong PIN"
        kill "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
        SPID=""
        cat "$T/serve.log" >>"$T/all.err"
    else
        bad "tsl serve under pkcs11-spy did not start: $(head -c 300 "$T/serve.log" | tr '\n' '|')"
    fi
    MOD=$MOD_SAVED
    unset PKCS11SPY PKCS11SPY_OUTPUT
else
    bad "opensc's pkcs11-spy.so not found"
fi

# 8. The PIN appears in no output, log, store or audit row (the spy's own log aside).
for f in "$T/all.err" "$T/tsl.db" "$T/serve.db" "$T/badpin.db"; do
    [ -f "$f" ] || continue
    if grep -qaF "$PIN" "$f"; then bad "the PIN appears in $(basename "$f")"; else ok; fi
done
if command -v sqlite3 >/dev/null 2>&1; then
    sqlite3 "$T/serve.db" .dump 2>/dev/null | grep -qF "$PIN" && bad "the PIN is in the store's dump" || ok
fi
finish
