#!/bin/sh
# prices.sh - the status-list encoder's price tables (src/codec/sldeflate_prices.h) are
# what `bench price_tables` measures with the encoder in the tree (tests/bench_prices.c):
# a change to the two searches that moves their symbol counts must come with the tables
# measured again. Also: the tables name each width below 8 bits for each effort of the
# search, and the measurement is deterministic (run twice, the same bytes).
#
# Usage: sh tests/prices.sh [BUILD_DIR]   (from the project root)
# Closing line: "prices: N passed, N failed".

BUILD=${1:-build}
SUITE=prices
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/harness.sh
. "$HERE/harness.sh"
FILE=src/codec/sldeflate_prices.h

if [ ! -x "$BUILD/bench" ]; then
    bad "$BUILD/bench is missing (make $BUILD/bench)"
    finish
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-prices.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT

"$BUILD/bench" price_tables 1 1 >"$T/a.h" 2>"$T/err"
same "bench price_tables exits 0 ($(head -c 200 "$T/err"))" "$?" 0
"$BUILD/bench" price_tables 1 1 >"$T/b.h" 2>/dev/null
if cmp -s "$T/a.h" "$T/b.h"; then ok; else bad "two measurements differ"; fi
if cmp -s "$T/a.h" "$FILE"; then
    ok
else
    bad "$FILE is not what the encoder measures now: run" \
        "'$BUILD/bench price_tables 1 1 > $FILE' (first differences below)"
    diff "$FILE" "$T/a.h" | head -n 8 >&2
fi
# The quick search has tables only for blocks of TSLP_SL_QUICK_RUNS runs or more (sparser
# ones take the full search at either effort): one or more per width.
for effort in QUICK:1 FULL:4; do
    for bits in 1 2 4; do
        n=$(grep -c "^    {TSLP_SL_${effort%:*}, $bits, [0-9]*,\$" "$T/a.h")
        if [ "$n" -ge "${effort#*:}" ]; then ok; else
            bad "$n tables for $bits-bit lists, ${effort%:*} search (${effort#*:} or more" \
                "expected)"; fi
    done
done
finish
