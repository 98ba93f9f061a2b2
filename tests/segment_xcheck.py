#!/usr/bin/python3
"""segment_xcheck.py - Python's zlib inflates what `tsl encode` writes at the default
level (the status-list encoder, src/codec/sldeflate.c, in 64 KiB segments) back to the
list Python packs itself (spec section 4.1: entry i at bit (i * bits) % 8 of byte
i * bits // 8, least significant first).

Cases: the four widths at densities 0, 0.1%, 1%, 10%, 50% and 100% on a list of one
segment and a bit; adversarial lists (every entry at its maximum, so all-ones bytes;
alternating values; a long repeated block; random values including zero; a single set
entry at the first and at the last index; a 1-byte list). Every case is also encoded at
--level 13 (which must give the same bytes), the 1% cases at --level 12 (libdeflate).

Usage: /usr/bin/python3 tests/segment_xcheck.py [BUILD]
Ends with "segment_xcheck: N passed, N failed"."""
import base64
import json
import random
import subprocess
import sys
import zlib

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
TSL = BUILD + "/tsl"
SEG = 65536

passed = 0
failed = 0


def pack(bits, values):
    out = bytearray((len(values) * bits + 7) // 8)
    for i, v in enumerate(values):
        if v:
            out[i * bits // 8] |= v << (i * bits % 8)
    return bytes(out)


def encode(bits, values, level=None):
    lines = "".join("%d %d\n" % (i, v) for i, v in enumerate(values) if v)
    cmd = [TSL, "encode", "--bits", str(bits), "--size", str(len(values))]
    if level is not None:
        cmd += ["--level", str(level)]
    r = subprocess.run(cmd, input=lines.encode(), capture_output=True, check=False)
    if r.returncode != 0:
        raise RuntimeError("tsl encode exited %d: %s" % (r.returncode, r.stderr[:300]))
    lst = json.loads(r.stdout)["lst"]
    return base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))


def check(name, bits, values, libdeflate=False):
    global passed, failed
    want = pack(bits, values)
    try:
        z = encode(bits, values)
        d = zlib.decompressobj()
        got = d.decompress(z)
        problems = []
        if got != want:
            problems.append("inflated %d bytes, expected %d, differ" % (len(got), len(want)))
        if not d.eof or d.unused_data:
            problems.append("stream not ended exactly (eof %s, %d bytes after)"
                            % (d.eof, len(d.unused_data)))
        if zlib.adler32(want) != int.from_bytes(z[-4:], "big"):
            problems.append("Adler-32 trailer")
        if encode(bits, values, 13) != z:
            problems.append("--level 13 differs from the default")
        if libdeflate and zlib.decompress(encode(bits, values, 12)) != want:
            problems.append("level 12 does not inflate back")
    except Exception as e:  # noqa: BLE001 - any failure is this case's failure
        problems = ["%s: %s" % (type(e).__name__, e)]
    if problems:
        failed += 1
        print("FAIL %s (bits %d, %d entries): %s" % (name, bits, len(values), "; ".join(problems)))
    else:
        passed += 1
        print("ok %s (bits %d, %d entries, %d bytes compressed)" % (name, bits, len(values),
                                                                  len(z)))


def main():
    rnd = random.Random(15)
    nbytes = SEG + 333
    for bits in (1, 2, 4, 8):
        n = nbytes * 8 // bits
        top = (1 << bits) - 1
        for per_mille in (0, 1, 10, 100, 500, 1000):
            vals = [rnd.randint(1, top) if rnd.randrange(1000) < per_mille else 0
                    for _ in range(n)]
            check("density %g%%" % (per_mille / 10), bits, vals, per_mille == 10)
        check("all ones", bits, [top] * n)
        check("alternating", bits, [(i & 1) * top for i in range(n)])
        check("alternating 1/2", bits, [1 + (i & 1) if top > 1 else i & 1 for i in range(n)])
        block = [rnd.randint(0, top) for _ in range(97)]
        check("long repeats", bits, (block * (n // 97 + 1))[:n])
        check("random", bits, [rnd.randint(0, top) for _ in range(n)])
        first = [0] * n
        first[0] = top
        check("first index", bits, first)
        last = [0] * n
        last[-1] = 1
        check("last index", bits, last)
        check("one byte", bits, [top] * (8 // bits))
    print("segment_xcheck: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
