#!/bin/sh
# bench_pkcs11.sh - keys in hardware for `make bench` (issue 14): signatures per second
# through softhsm2 against the same key in memory (a key file made by `tsl keygen` and
# imported into the token with softhsm2-util --import), ES256 and EdDSA, one thread and
# four (the publisher's threads share a pool of TSLP_P11_MAX_SESSIONS = 4 sessions);
# then a full publish (JWT and CWT) of a 10^6-entry one-bit list with 1% revoked, with
# the key file and with the same key on the token. JSON lines on stdout.
#
#   sh tests/bench_pkcs11.sh [BUILD]
set -u
BUILD=${1:-build}
TSL=$BUILD/tsl
BENCH=$BUILD/bench
SECONDS_PER_CASE=${BENCH_PKCS11_SECONDS:-3}
N=1000000
MOD=$(sed -n 's/^module: *//p' /usr/share/p11-kit/modules/softhsm2.module 2>/dev/null)
[ -f "$MOD" ] || MOD=/usr/lib/softhsm/libsofthsm2.so
if [ ! -f "$MOD" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
    echo "bench_pkcs11: softhsm2 is missing (scripts/deps.sh installs it)" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-p11.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
PIN="bench-$$-pin"
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$tmp/tokens" >"$tmp/softhsm2.conf"
export SOFTHSM2_CONF="$tmp/softhsm2.conf" TSL_PKCS11_PIN="$PIN" TSL_PKCS11_MODULE="$MOD"
softhsm2-util --init-token --free --label bench --so-pin "so-$PIN" --pin "$PIN" >/dev/null || exit 1
status=0
for alg in ES256 EdDSA; do
    "$TSL" keygen --alg $alg --out "$tmp/$alg.pem" >/dev/null || exit 1
    softhsm2-util --import "$tmp/$alg.pem" --token bench --label "$alg" --id "0$([ $alg = ES256 ] && echo 1 || echo 2)" \
        --pin "$PIN" >/dev/null || { echo "bench_pkcs11: import of the $alg key failed" >&2; exit 1; }
    for th in 1 4; do
        "$BENCH" pkcs11_sign 1 1 "$tmp/$alg.pem" $alg memory "$SECONDS_PER_CASE" $th || status=1
        "$BENCH" pkcs11_sign 1 1 "pkcs11:token=bench;object=$alg" $alg softhsm2 "$SECONDS_PER_CASE" $th || status=1
    done
done

# A full publish, both ways: the same list and statuses, the same ES256 key; the best
# of five (each signs two tokens: the signature is a small part of compressing 10^6
# entries, which is the point).
awk -v n=$N 'BEGIN { srand(42); for (i = 0; i < n / 100; i++) print int(rand() * n), 1 }' \
    >"$tmp/revoked.txt"
for where in memory softhsm2; do
    db=$tmp/$where.db
    key=$tmp/ES256.pem
    [ $where = softhsm2 ] && key="pkcs11:token=bench;object=ES256"
    "$TSL" list create L --uri https://example.com/statuslists/bench --bits 1 --size $N \
        --key "$key" --db "$db" >/dev/null &&
        "$TSL" update L "$tmp/revoked.txt" --db "$db" >/dev/null || { status=1; continue; }
    best=""
    for r in 1 2 3 4 5; do
        t0=$(date +%s.%N)
        "$TSL" publish L --db "$db" >/dev/null || { status=1; break; }
        t1=$(date +%s.%N)
        s=$(echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }')
        if [ -z "$best" ]; then best=$s; else best=$(echo "$best $s" | awk '{ print ($2 < $1) ? $2 : $1 }'); fi
    done
    echo "{\"case\":\"pkcs11_publish\",\"n\":$N,\"bits\":1,\"alg\":\"ES256\",\"key\":\"$where\",\"forms\":\"jwt,cwt\",\"seconds\":$best}"
done
exit $status
