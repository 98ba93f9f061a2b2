#!/bin/sh
# The main job on embedded defaults: build a 10^6-entry 1-bit status list with about 1%
# of entries revoked (seeded, reproducible), encode it as JSON and CBOR, decode it back,
# look entries up, and print the figures. Called by `make demo` after the build.
set -eu
BUILD=${1:-build}
TSL="$BUILD/tsl"
N=1000000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }

# awk's srand(42)/rand() is the seeded generator: N/100 draws, duplicates allowed.
awk -v n="$N" 'BEGIN { srand(42); for (i = 0; i < n / 100; i++) printf "%d INVALID\n", int(rand() * n) }' \
    > "$tmp/revocations.txt"
first=$(head -n 1 "$tmp/revocations.txt" | cut -d' ' -f1)

t0=$(ms)
"$TSL" encode --bits 1 --size "$N" "$tmp/revocations.txt" > "$tmp/list.json"
t1=$(ms)
"$TSL" encode --bits 1 --size "$N" --cbor "$tmp/revocations.txt" > "$tmp/list.cbor"
t2=$(ms)
"$TSL" decode "$tmp/list.json" > "$tmp/summary.txt"
t3=$(ms)

echo "tsl demo: a status list of $N one-bit entries, about 1% revoked"
echo
echo "encode JSON: $((t1 - t0)) ms, $(wc -c < "$tmp/list.json" | tr -d ' ') bytes"
echo "encode CBOR: $((t2 - t1)) ms, $(wc -c < "$tmp/list.cbor" | tr -d ' ') bytes"
echo "decode JSON: $((t3 - t2)) ms (process start, read, base64url, inflate, count)"
echo
echo "tsl decode list.json:"
sed 's/^/  /' "$tmp/summary.txt"
echo
echo "tsl decode --index $first --index $((first + 1)) list.cbor:"
"$TSL" decode --index "$first" --index "$((first + 1))" "$tmp/list.cbor" | sed 's/^/  /'
echo
echo "The JSON begins: $(cut -c 1-72 "$tmp/list.json")..."
