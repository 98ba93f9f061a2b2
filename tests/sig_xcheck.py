#!/usr/bin/python3
"""sig_xcheck.py - cross-checks libtsl's signatures and JWKs against Python's
`cryptography` and `jwcrypto`, through the small C helper BUILD_DIR/sigtool.

Run as `/usr/bin/python3 tests/sig_xcheck.py BUILD_DIR` (Debian's interpreter, with
python3-cryptography and python3-jwcrypto).

For every algorithm (ES256 ES384 ES512 EdDSA RS256..RS512 PS256..PS512 HS256):
- ours -> theirs: `sigtool keygen` makes a key; our signatures over several messages
  verify with `cryptography` (ECDSA after raw r||s -> DER; PSS with salt = hash length;
  HMAC recomputed), and a tampered message does not.
- theirs -> ours: `cryptography` signs with the same key (ECDSA DER -> raw r||s);
  `sigtool verify` accepts it and rejects a tampered one and the DER form.
- JWK: our public JWK loads in jwcrypto with the same RFC 7638 thumbprint as ours.
- jwcrypto -> ours: a key jwcrypto generates (private JWK) loads in ours with the same
  thumbprint; a compact JWS jwcrypto signs verifies with ours (public JWK), and a JWS
  we sign verifies in jwcrypto.
Closing line: `sigxcheck: N passed, N failed`; exit 1 on any failure.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature, encode_dss_signature)
    from cryptography.exceptions import InvalidSignature
    from jwcrypto import jwk, jws
except ImportError as e:
    print("sigxcheck: %s (install python3-cryptography python3-jwcrypto)" % e,
          file=sys.stderr)
    print("sigxcheck: 0 passed, 1 failed")
    sys.exit(1)

ALGS = ("ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512", "HS256")
HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
EC_WIDTH = {"ES256": 32, "ES384": 48, "ES512": 66}
MESSAGES = (b"", b"a", b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJodHRwczovL2V4YW1wbGUuY29tIn0",
            os.urandom(1000))

passed = 0
failed = 0


def check(cond, label, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (label, detail), file=sys.stderr)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Tool:
    def __init__(self, build, tmp):
        self.exe = os.path.join(build, "sigtool")
        self.tmp = tmp
        self.n = 0

    def run(self, args, stdin=b""):
        p = subprocess.run([self.exe] + args, input=stdin, capture_output=True)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def write(self, data, name="f", private=True):
        """A file in the temp dir; private files get mode 0600 (our loader checks)."""
        self.n += 1
        path = os.path.join(self.tmp, "%d-%s" % (self.n, name))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def sign(self, keyfile, alg, msg):
        rc, out, err = self.run(["sign", keyfile, alg], msg)
        return out if rc == 0 else None

    def verify(self, keyfile, alg, msg, sig):
        path = self.write(sig, "sig", private=False)
        rc, _, err = self.run(["verify", keyfile, alg, path], msg)
        os.unlink(path)
        return rc == 0

    def text(self, cmd, keyfile):
        rc, out, err = self.run([cmd, keyfile])
        return out.decode().strip() if rc == 0 else None


def py_verify(key, alg, msg, sig):
    """Verifies our signature with cryptography; True or False."""
    try:
        if alg.startswith("ES"):
            w = EC_WIDTH[alg]
            if len(sig) != 2 * w:
                return False
            der = encode_dss_signature(int.from_bytes(sig[:w], "big"),
                                       int.from_bytes(sig[w:], "big"))
            key.public_key().verify(der, msg, ec.ECDSA(HASH[alg[2:]]()))
        elif alg == "EdDSA":
            key.public_key().verify(sig, msg)
        elif alg.startswith("RS"):
            key.public_key().verify(sig, msg, padding.PKCS1v15(), HASH[alg[2:]]())
        elif alg.startswith("PS"):
            h = HASH[alg[2:]]
            key.public_key().verify(sig, msg, padding.PSS(mgf=padding.MGF1(h()),
                                                          salt_length=h.digest_size), h())
        else:
            return hmac.compare_digest(hmac.new(key, msg, hashlib.sha256).digest(), sig)
        return True
    except InvalidSignature:
        return False


def py_sign(key, alg, msg):
    """Signs with cryptography; ECDSA comes back as raw r||s and as DER."""
    if alg.startswith("ES"):
        w = EC_WIDTH[alg]
        der = key.sign(msg, ec.ECDSA(HASH[alg[2:]]()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(w, "big") + s.to_bytes(w, "big"), der
    if alg == "EdDSA":
        return key.sign(msg), None
    if alg.startswith("RS"):
        return key.sign(msg, padding.PKCS1v15(), HASH[alg[2:]]()), None
    if alg.startswith("PS"):
        h = HASH[alg[2:]]
        return key.sign(msg, padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size),
                        h()), None
    return hmac.new(key, msg, hashlib.sha256).digest(), None


def ours_and_theirs(t, alg):
    rc, priv, err = t.run(["keygen", alg])
    check(rc == 0, "%s keygen" % alg, err)
    if rc != 0:
        return
    keyfile = t.write(priv, "key")
    if alg == "HS256":
        key = unb64u(json.loads(priv)["k"])
        check(len(key) == 32, "%s secret is 32 bytes" % alg)
    else:
        key = serialization.load_pem_private_key(priv, None)
    for i, msg in enumerate(MESSAGES):
        sig = t.sign(keyfile, alg, msg)
        check(sig is not None, "%s sign msg %d" % (alg, i))
        if sig is None:
            continue
        check(py_verify(key, alg, msg, sig), "%s ours->cryptography msg %d" % (alg, i))
        check(not py_verify(key, alg, msg + b"x", sig),
              "%s ours->cryptography tampered msg %d" % (alg, i))
        theirs, der = py_sign(key, alg, msg)
        check(t.verify(keyfile, alg, msg, theirs), "%s cryptography->ours msg %d" % (alg, i))
        bad = bytearray(theirs)
        bad[len(bad) // 3] ^= 0x40
        check(not t.verify(keyfile, alg, msg, bytes(bad)),
              "%s cryptography->ours tampered sig %d" % (alg, i))
        if der is not None:
            check(not t.verify(keyfile, alg, msg, der), "%s DER signature rejected" % alg)
    # Thumbprint and public JWK against jwcrypto.
    ours = t.text("thumbprint", keyfile)
    if alg == "HS256":
        theirs = jwk.JWK.from_json(priv).thumbprint()
        check(t.text("pubjwk", keyfile) is None, "HS256 has no public JWK")
    else:
        pub = t.text("pubjwk", keyfile)
        check(pub is not None and '"d"' not in pub, "%s public JWK has no private part" % alg)
        theirs = jwk.JWK.from_json(pub).thumbprint() if pub else None
        check(jwk.JWK.from_pem(priv).thumbprint() == theirs,
              "%s PEM and our JWK agree in jwcrypto" % alg)
    check(ours is not None and ours == theirs, "%s thumbprint" % alg, "%s != %s" % (ours, theirs))


def jwcrypto_key(alg):
    if alg in EC_WIDTH:
        return jwk.JWK.generate(kty="EC", crv={"ES256": "P-256", "ES384": "P-384",
                                               "ES512": "P-521"}[alg])
    if alg == "EdDSA":
        return jwk.JWK.generate(kty="OKP", crv="Ed25519")
    if alg == "HS256":
        return jwk.JWK.generate(kty="oct", size=256)
    return jwk.JWK.generate(kty="RSA", size=2048)


def jwcrypto_to_ours(t, alg, rsa_cache):
    if alg[:2] in ("RS", "PS"):
        if "k" not in rsa_cache:
            rsa_cache["k"] = jwcrypto_key(alg)
        key = rsa_cache["k"]
    else:
        key = jwcrypto_key(alg)
    privfile = t.write(key.export_symmetric() if alg == "HS256" else key.export_private(),
                       "jwk")
    check(t.text("thumbprint", privfile) == key.thumbprint(),
          "%s jwcrypto private JWK thumbprint" % alg)
    verifile = privfile
    if alg != "HS256":
        verifile = t.write(key.export_public(), "pub.jwk", private=False)
        check(t.text("thumbprint", verifile) == key.thumbprint(),
              "%s jwcrypto public JWK thumbprint" % alg)
    payload = b'{"status_list":{"bits":1,"lst":"eNrbuRgAAhcBXQ"}}'
    # theirs -> ours
    s = jws.JWS(payload)
    s.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "typ": "statuslist+jwt"}))
    token = s.serialize(compact=True)
    h, p, sig = token.split(".")
    check(t.verify(verifile, alg, (h + "." + p).encode(), unb64u(sig)),
          "%s jwcrypto JWS -> ours" % alg)
    # ours -> theirs
    h = b64u(json.dumps({"alg": alg}).encode())
    p = b64u(payload)
    ours = t.sign(privfile, alg, (h + "." + p).encode())
    ok = False
    if ours is not None:
        try:
            v = jws.JWS()
            v.deserialize(h + "." + p + "." + b64u(ours))
            v.verify(key.public() if alg != "HS256" else key, alg=alg)
            ok = v.payload == payload
        except Exception as e:  # jwcrypto raises several types
            print("  jwcrypto: %r" % e, file=sys.stderr)
    check(ok, "%s our JWS -> jwcrypto" % alg)


def main():
    if len(sys.argv) != 2:
        print("usage: sig_xcheck.py BUILD_DIR", file=sys.stderr)
        return 2
    build = sys.argv[1]
    if not os.access(os.path.join(build, "sigtool"), os.X_OK):
        print("sigxcheck: %s/sigtool is missing (make %s/sigtool)" % (build, build),
              file=sys.stderr)
        print("sigxcheck: 0 passed, 1 failed")
        return 1
    rsa_cache = {}
    with tempfile.TemporaryDirectory(prefix="tsl-sigx-") as tmp:
        t = Tool(build, tmp)
        for alg in ALGS:
            ours_and_theirs(t, alg)
            jwcrypto_to_ours(t, alg, rsa_cache)
        # A private key file readable by others is refused.
        rc, priv, _ = t.run(["keygen", "ES256"])
        loose = t.write(priv, "loose", private=False)
        rc, _, err = t.run(["thumbprint", loose])
        check(rc == 1 and "mode 0644" in err, "0644 private key refused", err)
    print("sigxcheck: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
