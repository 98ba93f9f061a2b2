#!/usr/bin/python3
"""xcheck.py - cross-checks the wire formats of `tsl encode` and `tsl decode` against an
independent implementation: Python's own LSB-first packing, zlib, base64 and cbor2.

Run as `/usr/bin/python3 tests/xcheck.py BUILD_DIR` (Debian's interpreter: it has cbor2).

For bits in {1, 2, 4, 8} and sizes {1, 7, 8, 1000, 1e5, 1e6, 1e7}, with seeded random
statuses (about 1% set, plus dense and all-maximum cases):
- tsl -> Python: `tsl encode --size N` JSON is {"bits","lst"} with unpadded base64url;
  base64.urlsafe_b64decode + zlib (complete stream, nothing after it) gives exactly
  Python's packing; `tsl encode --cbor` is one CBOR map whose lst is a byte string that
  inflates to the same bytes; without --size the list covers the highest index, rounded
  up to whole bytes.
- Python -> tsl: Python packs, zlib.compress at levels 9 and 1, base64url -> JSON file,
  and cbor2 -> CBOR on stdin: `tsl decode --json` must report Python's bits, entries,
  byte counts and per-value counts; `tsl decode --index` must print `I<TAB>VALUE` for a
  sample of indices (both ends, set ones, random ones); an index past the end exits 1
  with one line on stderr.
Closing line: `xcheck: N passed, N failed`; exit 1 on any failure.
"""
import base64
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

try:
    import cbor2
except ImportError:  # deps.sh installs python3-cbor2; a missing module is a failure
    print("xcheck: cbor2 is missing from %s (run scripts/deps.sh)" % sys.executable,
          file=sys.stderr)
    print("xcheck: 0 passed, 1 failed")
    sys.exit(1)

BITS = (1, 2, 4, 8)
SIZES = (1, 7, 8, 1000, 10**5, 10**6, 10**7)
B64URL = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Tally:
    """Counts checks; shared by the worker threads."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def check(self, cond, label, detail=""):
        with self.lock:
            if cond:
                self.passed += 1
            else:
                self.failed += 1
                msg = "FAIL %s" % label
                if detail:
                    msg += ": " + detail
                print(msg[:600], file=sys.stderr)
        return cond


T = Tally()


def run(tsl, args, stdin=None):
    p = subprocess.run([tsl] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout, p.stderr


def pack(n, bits, entries):
    """Python's own section 4.1 packing: entry i at bit i*bits, LSB-first in each byte."""
    arr = bytearray((n * bits + 7) // 8)
    for i, v in entries.items():
        pos = i * bits
        arr[pos >> 3] |= v << (pos & 7)
    return bytes(arr)


def inflate_strict(z):
    """The whole input must be exactly one complete zlib stream."""
    d = zlib.decompressobj()  # wbits 15: the zlib container only
    out = d.decompress(z) + d.flush()
    if not d.eof:
        raise ValueError("truncated zlib stream")
    if d.unused_data:
        raise ValueError("%d bytes after the zlib stream" % len(d.unused_data))
    return out


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def cbor_load_one(b):
    """One CBOR item that uses every byte."""
    fp = io.BytesIO(b)
    obj = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(b):
        raise ValueError("%d bytes after the CBOR item" % (len(b) - fp.tell()))
    return obj


def make_entries(rng, n, bits, kind):
    """{index: non-zero value}. kind: sparse (~1%), dense (~50%) or max (all 2^bits-1)."""
    maxv = (1 << bits) - 1
    if kind == "max":
        return {i: maxv for i in range(n)}
    if kind == "dense" or n < 100:
        return {i: rng.randint(1, maxv) for i in range(n) if rng.random() < 0.5}
    k = max(1, n // 100)
    ent = {i: rng.randint(1, maxv) for i in rng.sample(range(n), k)}
    if rng.random() < 0.5:
        ent[n - 1] = maxv  # the last entry, next to the end of the list
    return ent


def write_input(path, rng, entries):
    """The `IDX VALUE` file, with a comment and a blank line; sometimes unsorted."""
    keys = list(entries)
    if rng.random() < 0.3:
        rng.shuffle(keys)
    else:
        keys.sort()
    with open(path, "w") as f:
        f.write("# xcheck input\n\n")
        f.write("".join("%d %d\n" % (i, entries[i]) for i in keys))


def check_json_output(label, out, bits, want):
    if not T.check(out.endswith(b"\n") and out.count(b"\n") == 1, label + " one line",
                   repr(out[:80])):
        return
    try:
        obj = json.loads(out)
    except ValueError as e:
        T.check(False, label + " JSON", str(e))
        return
    if not T.check(isinstance(obj, dict) and set(obj) == {"bits", "lst"},
                   label + " members", repr(out[:120])):
        return
    T.check(obj["bits"] == bits and type(obj["bits"]) is int, label + " bits",
            repr(obj["bits"]))
    lst = obj["lst"]
    if not T.check(isinstance(lst, str) and lst != "", label + " lst is a string"):
        return
    T.check("=" not in lst, label + " no '=' padding", lst[-8:])
    T.check(set(lst.encode()) <= B64URL, label + " base64url alphabet",
            "".join(sorted(set(lst) - set(map(chr, B64URL))))[:20])
    try:
        raw = inflate_strict(b64url_decode(lst))
    except (ValueError, zlib.error) as e:
        T.check(False, label + " base64url+zlib", str(e))
        return
    T.check(raw == want, label + " bytes == Python packing",
            "got %d bytes, want %d%s" % (len(raw), len(want), first_diff(raw, want)))


def check_cbor_output(label, out, bits, want):
    try:
        obj = cbor_load_one(out)
    except Exception as e:  # cbor2 raises several types on bad input
        T.check(False, label + " CBOR", "%s: %s" % (type(e).__name__, e))
        return
    if not T.check(isinstance(obj, dict) and set(obj) == {"bits", "lst"},
                   label + " members", repr(obj)[:120]):
        return
    T.check(obj["bits"] == bits and type(obj["bits"]) is int, label + " bits",
            repr(obj["bits"]))
    if not T.check(type(obj["lst"]) is bytes, label + " lst is a byte string",
                   type(obj["lst"]).__name__):
        return
    try:
        raw = inflate_strict(obj["lst"])
    except (ValueError, zlib.error) as e:
        T.check(False, label + " zlib", str(e))
        return
    T.check(raw == want, label + " bytes == Python packing",
            "got %d bytes, want %d%s" % (len(raw), len(want), first_diff(raw, want)))


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return "; first difference at byte %d: %02x vs %02x" % (i, a[i], b[i])
    return ""


def check_summary(label, rc, out, err, bits, raw, zlen, counts):
    if not T.check(rc == 0, label + " exit 0", "rc %d: %s" % (rc, err.decode()[:200])):
        return
    try:
        s = json.loads(out)
    except ValueError as e:
        T.check(False, label + " JSON summary", "%s: %r" % (e, out[:120]))
        return
    want = {
        "bits": bits,
        "entries": len(raw) * 8 // bits,  # a reader's size: whole bytes (section 8.3)
        "compressed_bytes": zlen,
        "raw_bytes": len(raw),
        "counts": {str(v): c for v, c in counts.items() if c},
    }
    got = {k: s.get(k) for k in want} if isinstance(s, dict) else s
    T.check(got == want, label + " summary", "got %r, want %r" % (got, want))


def check_case(tsl, tmp, rng, bits, n, kind):
    label = "bits=%d n=%d %s" % (bits, n, kind)
    entries = make_entries(rng, n, bits, kind)
    raw = pack(n, bits, entries)
    path = os.path.join(tmp, "in.txt")
    write_input(path, rng, entries)

    # tsl -> Python
    rc, out, err = run(tsl, ["encode", "--bits", str(bits), "--size", str(n), path])
    if T.check(rc == 0, label + " encode exit 0", "rc %d: %s" % (rc, err.decode()[:200])):
        check_json_output(label + " encode", out, bits, raw)
    # Level 12 (the default) on millions of entries takes seconds; the CBOR run of the
    # big lists uses the fast level, which also puts --level through the cross-check.
    level = ["--level", "6"] if n >= 10**6 else []
    rc, out, err = run(tsl, ["encode", "--cbor", "--bits", str(bits), "--size", str(n)] +
                       level + [path])
    if T.check(rc == 0, label + " encode --cbor exit 0", "rc %d: %s" % (rc, err.decode()[:200])):
        check_cbor_output(label + " encode --cbor", out, bits, raw)
    if n <= 10**5 and entries:
        # Without --size: up to the highest index, rounded up to whole bytes.
        top = max(entries) + 1
        rc, out, err = run(tsl, ["encode", "--bits", str(bits), path])
        if T.check(rc == 0, label + " encode (no --size) exit 0",
                   "rc %d: %s" % (rc, err.decode()[:200])):
            check_json_output(label + " encode (no --size)", out, bits, pack(top, bits, entries))

    # Python -> tsl
    entries_r = len(raw) * 8 // bits
    counts = {}
    for v in entries.values():
        counts[v] = counts.get(v, 0) + 1
    counts[0] = entries_r - len(entries)
    jpath = os.path.join(tmp, "list.json")
    for level in (1, 9):  # level 9 last: its file serves the --index runs below
        z = zlib.compress(raw, level)
        with open(jpath, "w") as f:
            json.dump({"bits": bits, "lst": b64url_encode(z)}, f)
        rc, out, err = run(tsl, ["decode", "--json", jpath])
        check_summary("%s decode --json (zlib %d)" % (label, level), rc, out, err, bits, raw,
                      len(z), counts)
    cb = cbor2.dumps({"bits": bits, "lst": z})
    rc, out, err = run(tsl, ["decode", "--json", "-"], stdin=cb)
    check_summary(label + " decode --json CBOR stdin", rc, out, err, bits, raw, len(z), counts)

    # --index on a sample: both ends, set entries, random ones.
    idx = [0, 1, n - 1, n - 2, entries_r - 1, entries_r - 2]
    setk = sorted(entries)
    idx += rng.sample(setk, min(5, len(setk)))
    idx += [rng.randrange(entries_r) for _ in range(5)]
    seen = set()
    idx = [i for i in idx if 0 <= i < entries_r and not (i in seen or seen.add(i))]
    args = ["decode"]
    for i in idx:
        args += ["--index", str(i)]
    rc, out, err = run(tsl, args + [jpath])
    want = "".join("%d\t%d\n" % (i, entries.get(i, 0)) for i in idx)
    if T.check(rc == 0, label + " decode --index exit 0", "rc %d: %s" % (rc, err.decode()[:200])):
        T.check(out.decode(errors="replace") == want, label + " decode --index output",
                "got %r, want %r" % (out[:200], want[:200]))
    rc, out, err = run(tsl, ["decode", "--index", str(entries_r), jpath])
    T.check(rc == 1 and err.count(b"\n") == 1 and len(err) > 1,
            label + " decode --index %d (past the end) exits 1 with one line" % entries_r,
            "rc %d, stderr %r" % (rc, err[:200]))


def main():
    if len(sys.argv) != 2:
        print("usage: /usr/bin/python3 tests/xcheck.py BUILD_DIR", file=sys.stderr)
        print("xcheck: 0 passed, 1 failed")
        return 2
    tsl = os.path.join(sys.argv[1], "tsl")
    if not os.access(tsl, os.X_OK):
        print("xcheck: %s is missing (run make)" % tsl, file=sys.stderr)
        print("xcheck: 0 passed, 1 failed")
        return 1
    cases = [(b, n, "sparse") for n in SIZES for b in BITS]
    cases += [(b, n, "dense") for n in (1000, 10**5) for b in BITS]
    cases += [(b, 1000, "max") for b in BITS]
    # Largest first, so the two workers (2 cores) finish together.
    cases.sort(key=lambda c: -c[1] * c[0])
    t0 = time.monotonic()

    def one(k, case):
        bits, n, kind = case
        rng = random.Random("xcheck-%d-%d-%s" % case)  # reproducible per case
        sub = os.path.join(tmp, "case%d" % k)
        os.mkdir(sub)
        t = time.monotonic()
        try:
            check_case(tsl, sub, rng, bits, n, kind)
        except Exception as e:  # a crash in the harness is a failure, not a stop
            T.check(False, "bits=%d n=%d %s" % case, "%s: %s" % (type(e).__name__, e))
        dt = time.monotonic() - t
        if dt > 5:
            print("xcheck: bits=%d n=%d %s took %.1f s" % (bits, n, kind, dt),
                  file=sys.stderr)

    workers = int(os.environ.get("XCHECK_JOBS", "2"))
    with tempfile.TemporaryDirectory(prefix="tsl-xcheck-") as tmp:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for f in [pool.submit(one, k, c) for k, c in enumerate(cases)]:
                f.result()
    print("xcheck: %d cases in %.1f s" % (len(cases), time.monotonic() - t0), file=sys.stderr)
    print("xcheck: %d passed, %d failed" % (T.passed, T.failed))
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
