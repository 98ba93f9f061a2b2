#!/bin/sh
# admin.sh - the issuer API of `tsl serve --admin-listen` end to end, through an
# independent Python client (tests/admin_client.py: http.client, ssl, jsonschema,
# jwcrypto): the issuance flow (10^4 indices allocated in batches of 100, 10^3 revoked in
# bulk, published with wait, the public token checked with jwcrypto and decoded in
# Python), retries with Idempotency-Key after dropped connections, every refusal with its
# status and nothing changed, slowloris and a connection flood, every operation of
# api/openapi.json exercised and every answer validated against its schema, HTTPS, mTLS,
# the non-loopback refusal, and no API key in stderr, the access log or /metrics.
#
# Usage: sh tests/admin.sh [BUILD_DIR] [sqlite|pg]   (from the project root; about 40 s)
# Needs /usr/bin/python3 with jsonschema and jwcrypto, and the openssl command.
# Closing line: "admin: N passed, N failed" (admin_pg on PostgreSQL).

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE="admin"
BACKEND=${2:-sqlite}
[ "$BACKEND" = pg ] && SUITE=admin_pg
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/backend.sh
. "$(dirname "$0")/backend.sh"
PY=/usr/bin/python3

[ -x "$TSL" ] || { echo "admin: $TSL is missing (run make)" >&2; exit 2; }
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
command -v openssl >/dev/null 2>&1 || { echo "admin: openssl is missing (apt-get install openssl)" >&2; exit 2; }
"$PY" -c 'import jsonschema, jwcrypto' 2>/dev/null ||
    { echo "admin: $PY lacks jsonschema or jwcrypto (scripts/deps.sh)" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-admin.XXXXXX") || exit 2
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    backend_cleanup
    rm -rf "$T"
}
backend_init || { echo "admin: no PostgreSQL cluster" >&2; exit 2; }
trap cleanup EXIT
trap 'exit 130' INT TERM

DB=$(test_db admin) || { echo "admin: cannot make a store" >&2; exit 2; }
# The lists a server-side key signs: L1 (2 bits, for SUSPENDED) and L2 for the key of
# another list. L3 is created through the API.
t keygen --alg ES256 --out "$T/list.pem"
expect_rc "keygen" 0
cp "$T/out" "$T/list.jwk"
t list create L1 --uri https://example.com/statuslists/1 --bits 2 --size 100000 \
    --key "$T/list.pem" --lifetime 86400 --ttl 300 --db "$DB"
expect_rc "list create L1" 0
t list create L2 --uri https://example.com/statuslists/2 --bits 1 --size 10000 \
    --key "$T/list.pem" --db "$DB"
expect_rc "list create L2" 0

"$PY" tests/admin_client.py --tsl "$TSL" --db "$DB" --dir "$T" --spec api/openapi.json \
    --list-key "$T/list.pem" --list-jwk "$T/list.jwk" --suite client >"$T/client.out" 2>&1
crc=$?
cat "$T/client.out"
line=$(grep -E '^client: [0-9]+ passed, [0-9]+ failed$' "$T/client.out" | tail -n 1)
if [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    pass=$((pass + p))
    fail=$((fail + f))
    [ "$crc" -ne 0 ] && [ "$f" -eq 0 ] && bad "admin_client.py exited $crc"
else
    bad "admin_client.py exited $crc without a closing line"
fi
finish
