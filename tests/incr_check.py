#!/usr/bin/python3
"""incr_check.py - the tokens of incremental publishing checked by independent code
(tests/incr.sh). Run with Debian's /usr/bin/python3 (jwcrypto, cbor2).

  incr_check.py gen MODEL N BITS COUNT SEED UPD
      COUNT random changes (index below N, always another value than the model's) as
      "IDX VALUE" lines in UPD; MODEL (JSON {index: value}, made if missing) updated.
  incr_check.py check MODEL N BITS JWT CWT JWK
      The JWT's signature verified with jwcrypto and the public JWK; the lst of the JWT
      and of the CWT (cbor2: COSE_Sign1 payload, claim 65533) inflated with zlib and
      compared byte for byte with the list the model describes (every changed index and
      every other entry 0); both lst equal. Prints "ok" or why not; exit 0 / 1.
"""
import base64
import json
import os
import random
import sys
import zlib

import cbor2
from jwcrypto import jwk, jws


def load(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {int(k): v for k, v in json.load(f).items()}


def packed(model, n, bits):
    b = bytearray((n * bits + 7) // 8)
    for i, v in model.items():
        if v:
            b[i * bits // 8] |= v << (i * bits % 8)
    return bytes(b)


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main(a):
    if a[0] == "gen":
        model_path, n, bits, count, seed, upd = a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]), a[6]
        m = load(model_path)
        rnd = random.Random(seed)
        top = 1 << bits
        with open(upd, "w") as f:
            for _ in range(count):
                i = rnd.randrange(n)
                v = (m.get(i, 0) + rnd.randrange(1, top)) % top
                m[i] = v
                f.write("%d %d\n" % (i, v))
        with open(model_path, "w") as f:
            json.dump({str(k): v for k, v in m.items()}, f)
        return 0
    model_path, n, bits, jwt_path, cwt_path, jwk_path = a[1], int(a[2]), int(a[3]), a[4], a[5], a[6]
    want = packed(load(model_path), n, bits)
    with open(jwk_path) as f:
        key = jwk.JWK.from_json(f.read())
    with open(jwt_path) as f:
        tok = f.read().strip()
    s = jws.JWS()
    s.deserialize(tok)
    s.verify(key)
    claims = json.loads(s.payload)
    sl = claims["status_list"]
    if sl["bits"] != bits:
        print("jwt: bits %d" % sl["bits"])
        return 1
    z_jwt = b64d(sl["lst"])
    with open(cwt_path, "rb") as f:
        raw = f.read()
    c = cbor2.loads(raw)
    if isinstance(c, cbor2.CBORTag):
        c = c.value
    payload = cbor2.loads(c[2])
    csl = payload[65533]
    z_cwt = csl["lst"]
    if z_cwt != z_jwt:
        print("the JWT's and the CWT's lst differ")
        return 1
    got = zlib.decompress(z_jwt)
    if got != want:
        diff = [k for k in range(min(len(got), len(want))) if got[k] != want[k]][:5]
        print("lst: %d bytes, want %d; first differing bytes %s" % (len(got), len(want), diff))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
