#!/bin/sh
# The main job on embedded defaults: a demo store (demo/tsl.db) with one 10^6-entry
# one-bit list, a development key, about 1% of the list revoked, published as JWT and
# CWT and served by `tsl serve` on 127.0.0.1:8080 until interrupted (or for
# DEMO_SECONDS seconds). Called by `make demo` after the build.
set -eu
BUILD=${1:-build}
TSL="$BUILD/tsl"
DIR=demo
N=1000000
LISTEN=${DEMO_LISTEN:-127.0.0.1:8080}
URI="http://$LISTEN/statuslists/demo"

ms() { echo $(($(date +%s%N) / 1000000)); }

rm -rf "$DIR"
mkdir -p "$DIR"
chmod 700 "$DIR"
export TSL_DB="$DIR/tsl.db"

# A development key: fine for a demo, never for production (it lives next to the store).
"$TSL" keygen --alg ES256 --out "$DIR/dev-key.pem" > "$DIR/dev-key.jwk"
"$TSL" list create demo --uri "$URI" --allow-http --bits 1 --size "$N" \
    --key "$DIR/dev-key.pem" --ttl 300 --lifetime 3600 --decoys 100

# Issue 10,000 credentials (1% of the list) and revoke them all.
t0=$(ms)
"$TSL" alloc demo -n 10000 | awk '{ print $1, "INVALID" }' > "$DIR/revocations.txt"
t1=$(ms)
"$TSL" update demo "$DIR/revocations.txt" > /dev/null
t2=$(ms)
"$TSL" publish demo > "$DIR/published.txt"
t3=$(ms)
first=$(head -n 1 "$DIR/revocations.txt" | cut -d' ' -f1)
extra=$("$TSL" alloc demo -n 1)   # a valid credential to revoke by hand

echo "tsl demo: list \"demo\", $N one-bit entries, served at $URI"
echo
echo "allocate 10,000 indices: $((t1 - t0)) ms"
echo "revoke them (one durable update): $((t2 - t1)) ms"
echo "sign and record JWT and CWT: $((t3 - t2)) ms"
sed 's/^/  /' "$DIR/published.txt"
echo
"$TSL" list show demo | sed 's/^/  /'
echo
echo "Fetch it:"
echo "  curl -s $URI -H 'Accept: application/statuslist+jwt' | $TSL decode --key $DIR/dev-key.jwk --uri $URI --index $first"
echo "  curl -s $URI -H 'Accept: application/statuslist+cwt' | $TSL decode --key $DIR/dev-key.jwk --uri $URI --index $first"
echo "  curl -si $URI --compressed           # JWT, gzip-encoded on the wire"
echo "  curl -s http://$LISTEN/healthz; curl -s http://$LISTEN/metrics"
echo "Revoke more while it runs (served within a second or two):"
echo "  TSL_DB=$DIR/tsl.db $TSL set demo $extra INVALID"
echo
if [ -n "${DEMO_SECONDS:-}" ]; then
    "$TSL" serve --listen "$LISTEN" &
    pid=$!
    sleep "$DEMO_SECONDS"
    kill -TERM "$pid"
    wait "$pid"
else
    echo "Serving; Ctrl-C stops."
    exec "$TSL" serve --listen "$LISTEN"
fi
