#!/usr/bin/python3
"""token_xcheck.py - Status List Tokens cross-checked against independent code.

Run as: /usr/bin/python3 tests/token_xcheck.py BUILD_DIR   (Debian's python3, which has
python3-jwcrypto, python3-cbor2 and python3-cryptography).

For every algorithm, both directions:
- tsl keygen + tsl sign --format jwt  -> verified by jwcrypto with the printed public JWK;
  header typ/alg/kid, claims and every status (inflated with Python's zlib) checked.
- tsl sign --format cwt -> a COSE_Sign1 (or COSE_Mac0) check written here on cbor2 and
  cryptography: tag, protected header, Sig_structure, signature, claim keys, statuses.
- jwcrypto signs a JWT, and this file builds a CWT, with keys Python generated; tsl decode
  --key verifies both and answers --index like Python's own packing.
Ends with "token_xcheck: N passed, N failed".
"""
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import zlib

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)
from jwcrypto import jwk, jws

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
TSL = os.path.join(BUILD, "tsl")
ALGS = ["ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512", "HS256"]
COSE_ID = {"ES256": -7, "ES384": -35, "ES512": -36, "EdDSA": -8, "RS256": -257,
           "RS384": -258, "RS512": -259, "PS256": -37, "PS384": -38, "PS512": -39,
           "HS256": 5}
HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
URI = "https://example.com/statuslists/xcheck"
# An issuer that needs JSON escapes and is not ASCII (the JWT claims are written as text).
ISS = 'https://example.com/"issuer"\\/x\n\u00e9\u20ac'

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what, file=sys.stderr)
    return ok


def run(args, data=None):
    return subprocess.run([TSL] + args, input=data, capture_output=True)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pack(bits, statuses):
    """LSB-first packing of spec section 4.1, written independently of tsl."""
    per = 8 // bits
    out = bytearray((len(statuses) + per - 1) // per)
    for i, v in enumerate(statuses):
        out[i // per] |= v << ((i % per) * bits)
    return bytes(out)


def statuses_ok(lst_bytes, bits, statuses, what):
    raw = zlib.decompress(lst_bytes)
    return check(raw == pack(bits, statuses), what + ": statuses")


# ------------------------------------------------------------------------------------
# COSE verification with cryptography (independent of tsl)

def py_verify(alg, pub, msg, sig):
    """Verifies a JOSE/COSE-form signature (raw r||s for ECDSA) with cryptography."""
    try:
        if alg.startswith("ES"):
            n = len(sig) // 2
            der = encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                       int.from_bytes(sig[n:], "big"))
            pub.verify(der, msg, ec.ECDSA(HASH[alg[2:]]()))
        elif alg == "EdDSA":
            pub.verify(sig, msg)
        elif alg.startswith("RS"):
            pub.verify(sig, msg, padding.PKCS1v15(), HASH[alg[2:]]())
        elif alg.startswith("PS"):
            h = HASH[alg[2:]]()
            pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        elif alg == "HS256":
            m = hmac.HMAC(pub, hashes.SHA256())
            m.update(msg)
            m.verify(sig)
        return True
    except InvalidSignature:
        return False


def py_sign(alg, priv, msg):
    if alg.startswith("ES"):
        der = priv.sign(msg, ec.ECDSA(HASH[alg[2:]]()))
        r, s = decode_dss_signature(der)
        n = (priv.curve.key_size + 7) // 8
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    if alg == "EdDSA":
        return priv.sign(msg)
    if alg.startswith("RS"):
        return priv.sign(msg, padding.PKCS1v15(), HASH[alg[2:]]())
    if alg.startswith("PS"):
        h = HASH[alg[2:]]()
        return priv.sign(msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    m = hmac.HMAC(priv, hashes.SHA256())
    m.update(msg)
    return m.finalize()


def py_key(alg):
    """A fresh private key and its public JWK (dict) for alg."""
    if alg.startswith("ES"):
        curve = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}[alg]
        priv = ec.generate_private_key(curve())
    elif alg == "EdDSA":
        priv = ed25519.Ed25519PrivateKey.generate()
    elif alg == "HS256":
        secret = os.urandom(32)
        return secret, {"kty": "oct", "k": b64u(secret), "kid": "py-" + alg}
    else:
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    pub = json.loads(jwk.JWK.from_pem(pem).export_public())
    pub["kid"] = "py-" + alg
    return priv, pub


def cose_verify(alg, pubkey, token, bits, statuses, kid, what):
    """Checks one of our CWTs field by field and verifies its signature."""
    outer = cbor2.loads(token)
    mac = alg == "HS256"
    if not check(isinstance(outer, cbor2.CBORTag) and outer.tag == (17 if mac else 18),
                 what + ": tag 18 (17 for MAC), not 61"):
        return
    prot_b, unprot, payload, sig = outer.value
    prot = cbor2.loads(prot_b)
    check(prot == {1: COSE_ID[alg], 16: "application/statuslist+cwt"}, what + ": protected")
    check(unprot.get(4) == kid.encode(), what + ": kid in unprotected")
    tbs = cbor2.dumps(["MAC0" if mac else "Signature1", prot_b, b"", payload])
    check(py_verify(alg, pubkey, tbs, sig), what + ": signature verifies (cryptography)")
    claims = cbor2.loads(payload)
    check(claims[2] == URI and claims[6] == 1700000000 and claims[4] == 1700086400
          and claims[65534] == 600, what + ": claims 2, 6, 4, 65534")
    sl = claims[65533]
    check(sl["bits"] == bits and isinstance(sl["lst"], bytes), what + ": status_list, lst bstr")
    statuses_ok(sl["lst"], bits, statuses, what)


def our_keys(tmp, alg):
    """tsl keygen: private key file and public JWK (or, for HS256, the secret)."""
    path = os.path.join(tmp, "key-" + alg)
    r = run(["keygen", "--alg", alg, "--out", path])
    if not check(r.returncode == 0, "keygen " + alg + ": " + r.stderr.decode()):
        return None, None
    check(os.stat(path).st_mode & 0o077 == 0, "keygen " + alg + ": private file is 0600")
    if alg == "HS256":
        return path, json.load(open(path))
    return path, json.loads(r.stdout)


def main():
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ALGS:
            bits = rnd.choice([1, 2, 4, 8])
            n = rnd.choice([16, 1000, 20000])
            statuses = [rnd.randrange(1 << bits) if rnd.random() < 0.05 else 0
                        for _ in range(n)]
            lines = "".join(f"{i} {v}\n" for i, v in enumerate(statuses) if v)
            lst_json = run(["encode", "--bits", str(bits), "--size", str(n)],
                           lines.encode()).stdout
            keyfile, pubjwk = our_keys(tmp, alg)
            if keyfile is None:
                continue
            kid = pubjwk["kid"]
            common = ["--key", keyfile, "--alg", alg, "--sub", URI, "--iat", "1700000000",
                      "--exp", "86400", "--ttl", "600"]
            if alg in ("ES256", "EdDSA"):
                common += ["--iss", ISS]

            # Ours -> jwcrypto.
            r = run(["sign", "--format", "jwt"] + common, lst_json)
            if check(r.returncode == 0, f"sign jwt {alg}: {r.stderr.decode()}"):
                token = r.stdout.decode().strip()
                obj = jws.JWS()
                obj.deserialize(token)
                try:
                    obj.verify(jwk.JWK(**pubjwk), alg=alg)
                    ok = True
                except Exception as e:  # jwcrypto raises its own InvalidJWSSignature
                    print(e, file=sys.stderr)
                    ok = False
                if not check(ok, f"jwt {alg}: signature verifies (jwcrypto)"):
                    continue
                hdr = json.loads(unb64u(token.split(".")[0]))
                check(hdr.get("typ") == "statuslist+jwt" and hdr.get("alg") == alg
                      and hdr.get("kid") == kid, f"jwt {alg}: header")
                claims = json.loads(obj.payload)
                check(claims["sub"] == URI and claims["iat"] == 1700000000
                      and claims["exp"] == 1700086400 and claims["ttl"] == 600,
                      f"jwt {alg}: claims")
                sl = claims["status_list"]
                check(sl["bits"] == bits and "=" not in sl["lst"], f"jwt {alg}: status_list")
                # The payload tsl writes as text (token/jwt.c) is byte-stable JSON: the
                # compact form Python writes of the same claims, keys in tsl's order.
                keys = ["sub", "iat", "exp", "ttl"] + (["iss"] if "--iss" in common
                                                       else []) + ["status_list"]
                check(list(claims) == keys and list(sl) == ["bits", "lst"]
                      and claims.get("iss", ISS) == ISS
                      and json.dumps(claims, separators=(",", ":"),
                                     ensure_ascii=False).encode() == obj.payload,
                      f"jwt {alg}: payload is the compact JSON of its claims, in order")
                statuses_ok(unb64u(sl["lst"]), bits, statuses, f"jwt {alg}")

            # Ours -> cbor2 + cryptography.
            r = run(["sign", "--format", "cwt"] + common, lst_json)
            if check(r.returncode == 0, f"sign cwt {alg}: {r.stderr.decode()}"):
                if alg == "HS256":
                    pub = unb64u(pubjwk["k"])
                else:
                    pub = jwk.JWK(**pubjwk).get_op_key("verify")
                cose_verify(alg, pub, r.stdout, bits, statuses, kid, f"cwt {alg}")

            # jwcrypto and cbor2 + cryptography -> ours.
            priv, pj = py_key(alg)
            pubfile = os.path.join(tmp, "pub-" + alg + ".jwk")
            with open(pubfile, "w") as f:
                json.dump(pj, f)
            os.chmod(pubfile, 0o600)  # an oct JWK is secret material
            z = zlib.compress(pack(bits, statuses), 9)
            claims = {"sub": URI, "iat": 1700000000, "exp": 1700086400, "ttl": 600,
                      "status_list": {"bits": bits, "lst": b64u(z)}}
            if alg == "HS256":
                signer = jwk.JWK(**pj)
            elif alg == "EdDSA":
                signer = jwk.JWK.from_pem(priv.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
            else:
                signer = jwk.JWK.from_pyca(priv)
            t = jws.JWS(json.dumps(claims).encode())
            t.add_signature(signer, alg=alg, protected=json.dumps(
                {"alg": alg, "typ": "statuslist+jwt", "kid": pj["kid"]}))
            their_jwt = t.serialize(compact=True)
            probe = sorted({0, n - 1} | {rnd.randrange(n) for _ in range(20)})
            idx_args = sum((["--index", str(i)] for i in probe), [])
            expect = "".join(f"{i}\t{statuses[i]}\n" for i in probe)
            r = run(["decode", "--key", pubfile, "--uri", URI, "--now", "1700000100"]
                    + idx_args, their_jwt.encode())
            check(r.returncode == 0 and r.stdout.decode() == expect,
                  f"their jwt {alg} -> tsl decode: {r.returncode} {r.stderr.decode()}")

            prot = cbor2.dumps({1: COSE_ID[alg], 16: "application/statuslist+cwt"})
            payload = cbor2.dumps({2: URI, 6: 1700000000, 4: 1700086400, 65534: 600,
                                   65533: {"bits": bits, "lst": z}})
            mac = alg == "HS256"
            tbs = cbor2.dumps(["MAC0" if mac else "Signature1", prot, b"", payload])
            sig = py_sign(alg, priv, tbs)
            their_cwt = cbor2.dumps(cbor2.CBORTag(17 if mac else 18,
                                                  [prot, {4: pj["kid"].encode()}, payload, sig]))
            r = run(["decode", "--key", pubfile, "--uri", URI, "--now", "1700000100"]
                    + idx_args, their_cwt)
            check(r.returncode == 0 and r.stdout.decode() == expect,
                  f"their cwt {alg} -> tsl decode: {r.returncode} {r.stderr.decode()}")
            # The same CWT with one signature bit flipped is rejected, exit 1.
            bad = cbor2.dumps(cbor2.CBORTag(17 if mac else 18,
                                            [prot, {4: pj["kid"].encode()}, payload,
                                             sig[:-1] + bytes([sig[-1] ^ 1])]))
            r = run(["decode", "--key", pubfile, "--now", "1700000100"], bad)
            check(r.returncode == 1 and b"verify" in r.stderr,
                  f"their tampered cwt {alg} rejected: {r.returncode} {r.stderr.decode()}")

    print(f"token_xcheck: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
