#!/bin/sh
# examples.sh - the embedder's example programs (examples/*.c, built by `make` into
# BUILD/examples/) against a store made by the tsl command: examples/publish opens the
# library's publisher on it, runs a round and answers one GET per list; its ETags must
# be those of the tokens `tsl token` prints afterwards (the first 16 bytes of their
# SHA-256), for JWT and CWT. examples/export writes the store with tsl_export(): its
# files must be those same tokens, with an nginx.conf beside them.
#
# Usage: sh tests/examples.sh [BUILD]
set -u
BUILD=${1:-build}
SUITE=examples
TSL=$BUILD/tsl
EX=$BUILD/examples/publish
EXPORT=$BUILD/examples/export
. tests/harness.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-examples.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT INT TERM
DB=$T/tsl.db

# The ETag of a file: a quote, 32 hex digits of its SHA-256, a quote.
etag() { printf '"%s"' "$(sha256sum "$1" | cut -c1-32)"; }

t keygen --alg ES256 --out "$T/key.pem"
expect_rc "keygen" 0
for l in L1 L2; do
    t list create $l --bits 1 --size 1000 --key "$T/key.pem" \
        --uri "https://example.com/lists/$l" --db "$DB"
    expect_rc "list create $l" 0
done
t publish L1 --db "$DB"
expect_rc "publish L1" 0 # L2 is first signed by the example's round

# Each run of the example runs a publishing round, which may re-sign a list; so each
# form's ETags are compared with what tsl token prints right after that run, not after
# a later one.
for f in jwt cwt; do
    if "$EX" "$DB" $f >"$T/$f.out" 2>"$T/$f.err"; then ok; else
        bad "publish example ($f) failed: $(head -c 300 "$T/$f.err")"
    fi
    for l in L1 L2; do
        if [ $f = jwt ]; then
            "$TSL" token $l --db "$DB" >"$T/$l.jwt.tok" 2>/dev/null
            # tsl token prints the JWT with a newline; the served body has none.
            tr -d '\n' <"$T/$l.jwt.tok" >"$T/$l.jwt"
        else
            "$TSL" token $l --format cwt --db "$DB" >"$T/$l.cwt" 2>/dev/null
        fi
        same "$l $f" "$(grep "^$l " "$T/$f.out")" \
            "$l 200 application/statuslist+$f $(etag "$T/$l.$f")"
    done
done
# The export below compares with the tokens recorded now.
for l in L1 L2; do
    "$TSL" token $l --db "$DB" 2>/dev/null | tr -d '\n' >"$T/$l.jwt"
    "$TSL" token $l --format cwt --db "$DB" >"$T/$l.cwt" 2>/dev/null
done

# The export example: every list exported, each file the token tsl token prints.
if "$EXPORT" "$DB" "$T/www" >"$T/export.out" 2>"$T/export.err"; then ok; else
    bad "export example failed: $(head -c 300 "$T/export.err")"
fi
for l in L1 L2; do
    same "export $l line" "$(grep "^$l " "$T/export.out" | cut -d' ' -f1-3)" \
        "$l /lists/$l jwt,cwt"
    if cmp -s "$T/www/current/lists/$l.jwt" "$T/$l.jwt" &&
        cmp -s "$T/www/current/lists/$l.cwt" "$T/$l.cwt"; then ok; else
        bad "export $l: the files are not the recorded tokens"
    fi
done
if [ -f "$T/www/nginx.conf" ] && grep -q "location = /lists/L1 " "$T/www/nginx.conf"; then
    ok
else
    bad "export: no nginx.conf serving /lists/L1"
fi
finish
