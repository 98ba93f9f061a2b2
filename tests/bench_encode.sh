#!/bin/sh
# bench_encode.sh - the encoder comparison of issue 15 (`BENCH_ONLY=encode make bench`,
# also part of the full `make bench`): for each list size N and width, the generator's
# list (1% set, tests/bench.c) compressed by tsl at its default level, by libdeflate
# level 12 (tsl --level 12), by stock zlib -9 (compress2, C) and by Python's
# zlib.compress(data, 9), all in the same run. One JSON line per N and width:
# bytes and seconds (wall, compression only) of each, and tsl's ratios to each.
# Python's figure is taken on the bytes tsl's stream inflates to, so it also checks
# that stream with Python's zlib. Then, for each width, lists of other shapes at 10^7
# entries (`bench encode_shape`: a tiled 13- and 28-byte pattern, every 97th entry set),
# each timed against the generator's list in the same process: cpu_vs_generator is
# how much more CPU a shape costs (the search once spent 6 to 16 times as much on them).
#
#   sh tests/bench_encode.sh [BUILD]
#   BENCH_SIZES="1000000" BENCH_WIDTHS="1 8" sh tests/bench_encode.sh   a subset
set -u
BUILD=${1:-build}
BENCH=$BUILD/bench
SIZES=${BENCH_SIZES:-"1000000 10000000 100000000"}
WIDTHS=${BENCH_WIDTHS:-"1 2 4 8"}
if [ ! -x "$BENCH" ]; then
    echo "bench_encode: $BENCH not built (make bench builds it)" >&2
    exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-encode.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
status=0
for n in $SIZES; do
    for bits in $WIDTHS; do
        if ! "$BENCH" encode "$n" "$bits" 0 "$tmp/lst" >"$tmp/tsl.json" ||
            ! "$BENCH" encode "$n" "$bits" 12 >"$tmp/ld12.json" ||
            ! "$BENCH" zlib "$n" "$bits" 9 >"$tmp/zlib9.json"; then
            echo "bench_encode: case $n x $bits failed" >&2
            status=1
            continue
        fi
        /usr/bin/python3 - "$tmp" <<'PYEOF' || status=1
import base64, json, sys, time, zlib
d = sys.argv[1]
def load(name):
    with open("%s/%s.json" % (d, name)) as f:
        return json.load(f)
t, ld, zc = load("tsl"), load("ld12"), load("zlib9")
with open(d + "/lst") as f:
    lst = f.read().strip()
raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
if len(raw) != (t["n"] * t["bits"] + 7) // 8:
    sys.exit("bench_encode: tsl's stream inflates to %d bytes" % len(raw))
t0 = time.perf_counter()
py = zlib.compress(raw, 9)
py_s = time.perf_counter() - t0
r = lambda a, b: round(a / b, 4) if b else None
print(json.dumps({
    "case": "encode_compare", "n": t["n"], "bits": t["bits"], "level": t["level"],
    "tsl_bytes": t["compressed_bytes"], "tsl_seconds": t["compress_seconds"],
    "libdeflate12_bytes": ld["compressed_bytes"], "libdeflate12_seconds": ld["compress_seconds"],
    "zlib9_bytes": zc["compressed_bytes"], "zlib9_seconds": zc["compress_seconds"],
    "py_zlib9_bytes": len(py), "py_zlib9_seconds": round(py_s, 6),
    "bytes_vs_zlib9": r(t["compressed_bytes"], zc["compressed_bytes"]),
    "seconds_vs_zlib9": r(t["compress_seconds"], zc["compress_seconds"]),
    "bytes_vs_py_zlib9": r(t["compressed_bytes"], len(py)),
    "seconds_vs_py_zlib9": r(t["compress_seconds"], py_s),
    "bytes_vs_libdeflate12": r(t["compressed_bytes"], ld["compressed_bytes"]),
    "seconds_vs_libdeflate12": r(t["compress_seconds"], ld["compress_seconds"])}))
PYEOF
    done
done
for bits in $WIDTHS; do
    for shape in period13 period28 stride; do
        "$BENCH" encode_shape 10000000 "$bits" "$shape" || status=1
    done
done
exit $status
