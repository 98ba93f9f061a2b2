#!/usr/bin/python3
"""pkcs11_xcheck.py - independent checks for tests/pkcs11.sh (Debian's /usr/bin/python3).

  pkcs11_xcheck.py spki LISTING LABEL OUT.pem
      builds the public key of the token object LABEL from `pkcs11-tool -O` output
      (EC_PARAMS and EC_POINT, as opensc prints them; Ed25519's EC_PARAMS is the
      printable string "edwards25519", which opensc 0.23 cannot export as SPKI) and
      writes it as PEM.
  pkcs11_xcheck.py verify ALG PUB.pem TOKEN.jwt TOKEN.cwt SUB
      verifies the JWT with jwcrypto and the CWT (COSE_Sign1, tag 18) with
      cryptography and cbor2, and checks sub in both. Exit 0 when both verify.
  pkcs11_xcheck.py cert PUB.pem CA_KEY.pem CA_CERT.pem OUT.der
      issues a certificate for PUB.pem (the token's key) under a new test CA.
"""
import re
import sys

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from jwcrypto import jwk, jws


def spki(listing, label, out):
    text = open(listing).read()
    # Objects are blocks starting at a line without indentation.
    blocks = re.split(r"\n(?=\S)", text)
    for b in blocks:
        if not b.startswith("Public Key Object"):
            continue
        m = re.search(r"^\s*label:\s*(.*)$", b, re.M)
        if not m or m.group(1).strip() != label:
            continue
        point = bytes.fromhex(re.search(r"EC_POINT:\s*([0-9a-f]+)", b).group(1))
        params = bytes.fromhex(re.search(r"EC_PARAMS:\s*([0-9a-f]+)", b).group(1))
        # EC_POINT is a DER OCTET STRING around the point.
        assert point[0] == 0x04
        if point[1] < 0x80:
            raw = point[2:]
        else:
            n = point[1] & 0x7F
            raw = point[2 + n:]
        if params == b"\x13\x0cedwards25519" or params == bytes.fromhex("06032b6570"):
            key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        else:
            curves = {
                "06082a8648ce3d030107": ec.SECP256R1(),
                "06052b81040022": ec.SECP384R1(),
                "06052b81040023": ec.SECP521R1(),
            }
            key = ec.EllipticCurvePublicKey.from_encoded_point(curves[params.hex()], raw)
        with open(out, "wb") as f:
            f.write(key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo))
        return 0
    print("no public key object labelled %s" % label, file=sys.stderr)
    return 1


HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def verify_raw(alg, key, msg, sig):
    if alg == "EdDSA":
        key.verify(sig, msg)
    elif alg.startswith("ES"):
        n = len(sig) // 2
        der = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                         int.from_bytes(sig[n:], "big"))
        key.verify(der, msg, ec.ECDSA(HASHES[alg[2:]]))
    elif alg.startswith("PS"):
        h = HASHES[alg[2:]]
        key.verify(sig, msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    elif alg.startswith("RS"):
        key.verify(sig, msg, padding.PKCS1v15(), HASHES[alg[2:]])
    else:
        raise ValueError(alg)


def verify(alg, pem, jwt_path, cwt_path, sub):
    data = open(pem, "rb").read()
    # JWT: jwcrypto, with the algorithm pinned.
    k = jwk.JWK.from_pem(data)
    tok = jws.JWS()
    tok.deserialize(open(jwt_path).read().strip())
    tok.verify(k, alg=alg)
    import json
    claims = json.loads(tok.payload)
    assert claims["sub"] == sub, claims
    assert tok.jose_header["typ"] == "statuslist+jwt"
    # CWT: COSE_Sign1 (tag 18), Sig_structure per RFC 9052 section 4.4.
    key = serialization.load_pem_public_key(data)
    t = cbor2.loads(open(cwt_path, "rb").read())
    assert isinstance(t, cbor2.CBORTag) and t.tag == 18, t
    prot, unprot, payload, sig = t.value
    cose_alg = {"ES256": -7, "ES384": -35, "ES512": -36, "EdDSA": -8, "PS256": -37,
                "PS384": -38, "PS512": -39, "RS256": -257, "RS384": -258, "RS512": -259}
    assert cbor2.loads(prot)[1] == cose_alg[alg]
    verify_raw(alg, key, cbor2.dumps(["Signature1", prot, b"", payload]), sig)
    assert cbor2.loads(payload)[2] == sub
    return 0


def cert(pub_pem, ca_key_out, ca_cert_out, out_der):
    import datetime
    pub = serialization.load_pem_public_key(open(pub_pem, "rb").read())
    ca = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "tsl test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(ca.public_key()).serial_number(1)
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
               .sign(ca, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME,
                                                        "status list signer")]))
            .issuer_name(name).public_key(pub).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(ca, hashes.SHA256()))
    open(ca_key_out, "wb").write(ca.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    open(ca_cert_out, "wb").write(ca_cert.public_bytes(serialization.Encoding.PEM))
    open(out_der, "wb").write(leaf.public_bytes(serialization.Encoding.DER))
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "spki":
        sys.exit(spki(*sys.argv[2:5]))
    if cmd == "verify":
        sys.exit(verify(*sys.argv[2:7]))
    if cmd == "cert":
        sys.exit(cert(*sys.argv[2:6]))
    sys.exit(2)
