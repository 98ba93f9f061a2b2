#!/bin/sh
# apikey.sh - `tsl apikey create|list|revoke`, the issuer API's keys, on SQLite or
# PostgreSQL (tests/backend.sh): create prints the secret once, alone on stdout (one
# line, the documented shape), and what it made on stderr, which never holds it; list
# (text and JSON) never shows a secret or a hash; the store holds neither the secret
# (SQLite: the file's bytes; PostgreSQL: a dump of its tables) but its SHA-256, checked
# with /usr/bin/python3's hashlib; revoke marks the key and keeps it; refusals with
# their exit codes: 2 for usage (no --list/--all, both, a bad scope, create with
# --list, a bad or past --expires, a missing store), 1 for an unknown list or key.
#
# Usage: sh tests/apikey.sh [BUILD_DIR] [sqlite|pg]   (run from the project root; ~2 s)
# Closing line: "apikey: N passed, N failed" (apikey_pg with pg).

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=apikey
BACKEND=${2:-sqlite}
[ "$BACKEND" = pg ] && SUITE=apikey_pg
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/backend.sh
. "$(dirname "$0")/backend.sh"
PY=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-apikey.XXXXXX") || exit 2
backend_init || { echo "apikey: no PostgreSQL cluster" >&2; rm -rf "$T"; exit 2; }
cleanup() {
    backend_cleanup
    rm -rf "$T"
}
trap cleanup EXIT

DB=$(test_db keys) || { bad "a store for the suite"; finish; }
t keygen --alg ES256 --out "$T/k.pem"
expect_rc "keygen" 0
t list create a --uri https://example.com/statuslists/a --bits 1 --size 1000 \
    --key "$T/k.pem" --db "$DB"
expect_rc "list create a" 0

# The whole store as bytes, to look for a secret in it.
dump() {
    if [ "$BACKEND" = pg ]; then
        psql "$DB" -qAt -c "SELECT id, coalesce(list_id, ''), scopes, encode(hash, 'hex'),
            created, expires, revoked FROM tsl_apikeys" -c "SELECT * FROM tsl_batches"
    else
        cat "$DB" "$DB-wal" 2>/dev/null
    fi
}

# --- create --------------------------------------------------------------------------
t apikey create --list a --scope alloc,read --db "$DB"
expect_rc "create for list a" 0
same "stdout is one line" "$(wc -l <"$T/out" | tr -d ' ')" 1
SECRET=$(cat "$T/out")
ID=$(printf '%s' "$SECRET" | sed -n 's/^tsl_\([0-9a-f]\{12\}\)_[A-Za-z0-9_-]\{43\}$/\1/p')
if [ -n "$ID" ]; then ok; else bad "the secret's shape: $SECRET"; fi
same "stderr says what was made" "$(cat "$T/err")" \
    "tsl apikey: key $ID created for list a, scopes alloc,read, expires never"
RAND=${SECRET#tsl_"$ID"_}
if grep -qF -- "$RAND" "$T/err"; then bad "the secret on stderr"; else ok; fi
if dump | grep -qaF -- "$RAND"; then bad "the secret is in the store"; else ok; fi
# Its SHA-256 is what is stored.
HASH=$(printf '%s' "$SECRET" | $PY -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ "$BACKEND" = pg ]; then
    STORED=$(psql "$DB" -qAt -c "SELECT encode(hash, 'hex') FROM tsl_apikeys WHERE id = '$ID'")
else
    STORED=$(sqlite3 "$DB" "SELECT lower(hex(hash)) FROM apikeys WHERE id = '$ID'")
fi
same "the stored hash is SHA-256 of the secret" "$STORED" "$HASH"

t apikey create --all --scope all --expires 2d --db "$DB"
expect_rc "create for all lists, expiring in 2 days" 0
ALL=$(sed -n 's/^tsl_\([0-9a-f]\{12\}\)_.*/\1/p' "$T/out")
SECRET2=$(cat "$T/out")
if grep -q "created for all lists, scopes alloc,update,publish,read,create, expires 20[0-9][0-9]-" "$T/err"; then ok; else
    bad "stderr of create --all: $(errline)"; fi
t apikey create --list a --scope update --expires 2099-12-31T23:59:59Z --db "$DB"
expect_rc "create with an RFC 3339 expiry" 0
EXP=$(sed -n 's/^tsl_\([0-9a-f]\{12\}\)_.*/\1/p' "$T/out")

# --- list ----------------------------------------------------------------------------
t apikey list --db "$DB"
expect_rc "list" 0
same "list: a header and three keys" "$(wc -l <"$T/out" | tr -d ' ')" 4
same "list: the header" "$(head -1 "$T/out")" "id	list	scopes	created	expires	revoked"
same "list: the key for a" "$(grep "^$ID" "$T/out" | cut -f1-3,5,6)" "$ID	a	alloc,read	never	-"
same "list: the key for all lists" "$(grep "^$ALL" "$T/out" | cut -f2,3)" \
    "*	alloc,update,publish,read,create"
same "list: the RFC 3339 expiry" "$(grep "^$EXP" "$T/out" | cut -f5)" "2099-12-31T23:59:59Z"
if grep -qF -- "$RAND" "$T/out" || grep -q "$HASH" "$T/out" || grep -q "tsl_" "$T/out"; then
    bad "list shows a secret or hash"; else ok; fi
t apikey list --json --db "$DB"
expect_rc "list --json" 0
same "list --json parses, three keys, fields" "$($PY -c '
import json,sys
a = json.load(open(sys.argv[1]))
k = {x["id"]: x for x in a}
print(len(a), k[sys.argv[2]]["list"], k[sys.argv[2]]["scopes"], k[sys.argv[2]]["expires"],
      k[sys.argv[3]]["list"], sorted(a[0].keys()))' "$T/out" "$ID" "$ALL")" \
    "3 a alloc,read None None ['created', 'expires', 'id', 'list', 'revoked', 'scopes']"
if grep -qF -- "$RAND" "$T/out" || grep -q "$HASH" "$T/out"; then bad "list --json shows a secret"; else ok; fi

# --- revoke --------------------------------------------------------------------------
t apikey revoke "$ID" --db "$DB"
expect_rc "revoke" 0
t apikey list --json --db "$DB"
same "revoked: time set, row kept" "$($PY -c '
import json,sys,time
k = {x["id"]: x for x in json.load(open(sys.argv[1]))}
r = k[sys.argv[2]]["revoked"]
print(len(k), r is not None and abs(r - time.time()) < 60, k[sys.argv[3]]["revoked"])' "$T/out" "$ID" "$ALL")" \
    "3 True None"
t apikey revoke "$ID" --db "$DB"
expect_rc "revoke again" 0
t apikey revoke 0123456789ab --db "$DB"
expect_rc "revoke an unknown key" 1
if grep -q "no such key" "$T/err"; then ok; else bad "unknown key message: $(errline)"; fi
# The audit trail of list a records the keys made and the one revoked.
if [ "$BACKEND" = pg ]; then
    AUD=$(psql "$DB" -qAt -c "SELECT source FROM tsl_batches WHERE kind = 'apikey' ORDER BY id")
else
    AUD=$(sqlite3 "$DB" "SELECT source FROM batches WHERE kind = 'apikey' ORDER BY id")
fi
same "the audit rows of list a" "$(echo "$AUD" | tr '\n' ' ')" "create $ID create $EXP revoke $ID "

# --- refusals ------------------------------------------------------------------------
t apikey create --scope read --db "$DB"
expect_rc "neither --list nor --all" 2
t apikey create --list a --all --scope read --db "$DB"
expect_rc "both --list and --all" 2
t apikey create --list a --db "$DB"
expect_rc "no --scope" 2
t apikey create --list a --scope read,wrte --db "$DB"
expect_rc "a bad scope" 2
if grep -q '"wrte" is not a scope' "$T/err"; then ok; else bad "bad scope message: $(errline)"; fi
t apikey create --list a --scope read,read --db "$DB"
expect_rc "a repeated scope" 2
t apikey create --list a --scope create --db "$DB"
expect_rc "the create scope for one list" 2
t apikey create --list a --scope read --expires 2000-01-01T00:00:00Z --db "$DB"
expect_rc "an expiry in the past" 2
t apikey create --list a --scope read --expires 5x --db "$DB"
expect_rc "a bad --expires" 2
t apikey create --list a --scope read --expires 2027-02-31T00:00:00Z --db "$DB"
expect_rc "an impossible date" 2
t apikey create --list nosuch --scope read --db "$DB"
expect_rc "an unknown list" 1
if [ -s "$T/out" ]; then bad "a refused create printed on stdout"; else ok; fi
t apikey create --list a --scope read --db "$T/missing.db"
expect_rc "a missing store" 2
t apikey list extra --db "$DB"
expect_rc "list with an argument" 2
t apikey revoke --db "$DB"
expect_rc "revoke without an id" 2
t apikey frob --db "$DB"
expect_rc "an unknown subcommand" 2
t apikey --help
expect_rc "--help" 0
if grep -q "usage: tsl apikey create" "$T/out" && grep -q -- "--expires T" "$T/out"; then ok; else
    bad "--help: $(head -c 200 "$T/out")"; fi
t apikey list --help
expect_rc "list --help" 0
# Nothing refused was made: still three keys.
t apikey list --json --db "$DB"
same "still three keys" "$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/out")" 3
# The secrets never went anywhere but the stdout of create.
if dump | grep -qaF -- "${SECRET2#tsl_"$ALL"_}"; then bad "the second secret is in the store"; else ok; fi

finish
