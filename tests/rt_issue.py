#!/usr/bin/python3
"""rt_issue.py - an issuer written without libtsl, for the verifier's tests: Referenced
Tokens (JWT, SD-JWT VC with an optional key-binding JWT, CWT, ISO mdoc DeviceResponse)
and odd Status List Tokens, built from the specs with Debian's python3-jwcrypto,
python3-cryptography and python3-cbor2. What `tsl verify` accepts from here was made by
an independent implementation, so a shared misreading of a spec cannot hide in a
round trip.

  rt_issue.py keys DIR
      issuer.jwk / issuer.pub.jwk (P-256, kid "issuer-1"), other.jwk / other.pub.jwk
      (kid "other-1"), holder.jwk; an mdoc IACA root (iaca.pem), a document signer
      certificate it issued (ds.pem, ds.key.pem: digitalSignature, EKU mdoc DS) and a
      self-signed impostor (rogue.pem, rogue.key.pem); a CA for Status List Token
      signers (statusca.pem) and two signers it issued, status.pem with the
      status-signing EKU 1.3.6.1.5.5.7.3.99 and status-noeku.pem without (.key.pem);
      a TLS CA (tlsca.pem) and a server certificate for 127.0.0.1 (tls.pem, tls.key.pem).
  rt_issue.py jwt KEY.jwk URI IDX EXP                 a JWT with a status claim
  rt_issue.py sdjwt KEY.jwk URI IDX EXP [HOLDER.jwk [NONCE]]
      an SD-JWT VC (typ dc+sd-jwt); with HOLDER a key-binding JWT too, aud
      "https://verifier.example", nonce NONCE (default: random)
  rt_issue.py cwt KEY.jwk URI IDX EXP                 a CWT: COSE_Sign1, tag 18, claim
                                                      65535, kid in the unprotected header
  rt_issue.py jwt-x5c KEY.pem CERT.pem URI IDX EXP    a JWT with the certificate in x5c
  rt_issue.py cwt-x5c KEY.pem CERT.pem URI IDX EXP    a CWT with it in x5chain (label 33)
  rt_issue.py mdoc KEY.pem CERT.pem URI IDX EXP       an mdoc DeviceResponse whose MSO
                                                      carries status (draft -15 6.3.2)
  rt_issue.py listjwt KEY.pem SUB [--typ T] [--zeros N] [--bits B]
      a Status List Token (JWT) whose lst is N zero bytes, zlib level 9: with a large N,
      a zip bomb; with --typ, a wrong typ
  rt_issue.py specjwt KEY.pem                         the spec's section 6.2 decoded JWT
                                                      example, signed (the spec prints no
                                                      signature)
  rt_issue.py cert-pem HEX                            a DER certificate in hex as PEM

Tokens go to stdout (text forms with a newline, CBOR forms as raw bytes).
"""
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import sys
import time
import zlib

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from jwcrypto import jwk, jws


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jws_compact(key, header, claims):
    s = jws.JWS(json.dumps(claims).encode())
    s.add_signature(key, alg=header["alg"], protected=json.dumps(header))
    return s.serialize(compact=True)


def load_jwk(path):
    return jwk.JWK.from_json(open(path).read())


def status(uri, idx):
    return {"status_list": {"idx": idx, "uri": uri}}


def es256_raw(priv, msg):
    """ECDSA P-256 over SHA-256, as COSE wants it: r || s, 32 bytes each."""
    r, s = decode_dss_signature(priv.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def cose_sign1(priv, protected, unprotected, payload):
    """A COSE_Sign1 array (RFC 9052 section 4.4), untagged."""
    prot = cbor2.dumps(protected)
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    return [prot, unprotected, payload, es256_raw(priv, tbs)]


# ---- keys and certificates -------------------------------------------------------- #

def cmd_keys(d):
    for name in ("issuer", "other", "holder"):
        k = jwk.JWK.generate(kty="EC", crv="P-256", kid=name + "-1")
        path = os.path.join(d, name + ".jwk")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, k.export_private().encode())
        os.close(fd)
        open(os.path.join(d, name + ".pub.jwk"), "w").write(k.export_public())
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def save(stem, key, cert):
        open(os.path.join(d, stem + ".pem"), "wb").write(
            cert.public_bytes(serialization.Encoding.PEM))
        path = os.path.join(d, stem + ".key.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        os.close(fd)

    def cert(subject, issuer, pub, signer, ca, serial, eku="1.0.18013.5.1.2"):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(pub).serial_number(serial)
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=400)))
        if ca:
            b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                              False, False), critical=True)
        else:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                              False, False), critical=True)
            # by default the ISO 18013-5 mdoc document signer, 1.0.18013.5.1.2
            b = b.add_extension(x509.ExtendedKeyUsage(
                [x509.ObjectIdentifier(eku)]), critical=True)
        return b.sign(signer, hashes.SHA256())

    iaca_key = ec.generate_private_key(ec.SECP256R1())
    iaca = cert(name("test IACA"), name("test IACA"), iaca_key.public_key(), iaca_key,
                True, 1)
    save("iaca", iaca_key, iaca)
    ds_key = ec.generate_private_key(ec.SECP256R1())
    save("ds", ds_key, cert(name("test DS"), iaca.subject, ds_key.public_key(), iaca_key,
                            False, 2))
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    save("rogue", rogue_key, cert(name("test DS"), name("test DS"), rogue_key.public_key(),
                                  rogue_key, False, 3))
    # A TLS server certificate for 127.0.0.1 under a CA of its own (tlsca.pem), for
    # the HTTPS tests: tls.pem, tls.key.pem.
    tca_key = ec.generate_private_key(ec.SECP256R1())
    tca = cert(name("TLS CA"), name("TLS CA"), tca_key.public_key(), tca_key, True, 7)
    save("tlsca", tca_key, tca)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(tca.subject)
           .public_key(tls_key.public_key()).serial_number(8)
           .not_valid_before(now - datetime.timedelta(days=1))
           .not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.SubjectAlternativeName(
               [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
           .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                          critical=False)
           .sign(tca_key, hashes.SHA256()))
    save("tls", tls_key, tls)
    # Status List Token signers under a CA of their own: one with the status-signing
    # EKU (the placeholder 1.3.6.1.5.5.7.3.99 the library defaults to), one without.
    sca_key = ec.generate_private_key(ec.SECP256R1())
    sca = cert(name("status CA"), name("status CA"), sca_key.public_key(), sca_key, True, 4)
    save("statusca", sca_key, sca)
    for stem, eku, serial in (("status", "1.3.6.1.5.5.7.3.99", 5),
                              ("status-noeku", "1.3.6.1.5.5.7.3.2", 6)):
        k = ec.generate_private_key(ec.SECP256R1())
        save(stem, k, cert(name(stem), sca.subject, k.public_key(), sca_key, False, serial,
                           eku))


# ---- Referenced Tokens ------------------------------------------------------------ #

def cmd_jwt(keyfile, uri, idx, exp):
    key = load_jwk(keyfile)
    claims = {"iss": "https://issuer.example", "iat": int(time.time()) - 60, "exp": exp,
              "status": status(uri, idx)}
    print(jws_compact(key, {"alg": "ES256", "kid": key.get("kid"), "typ": "JWT"}, claims))


def cert_der(certfile):
    return x509.load_pem_x509_certificate(open(certfile, "rb").read()).public_bytes(
        serialization.Encoding.DER)


def cmd_jwt_x5c(keyfile, certfile, uri, idx, exp):
    """A JWT signed by a certificate's key, the certificate in x5c (RFC 7515 4.1.6)."""
    key = jwk.JWK.from_pem(open(keyfile, "rb").read())
    claims = {"iss": "https://issuer.example", "iat": int(time.time()) - 60, "exp": exp,
              "status": status(uri, idx)}
    print(jws_compact(key, {"alg": "ES256", "typ": "JWT",
                            "x5c": [base64.b64encode(cert_der(certfile)).decode()]}, claims))


def cmd_cwt_x5c(keyfile, certfile, uri, idx, exp):
    """A CWT signed by a certificate's key, the certificate in x5chain (label 33)."""
    priv = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)
    claims = {1: "https://issuer.example", 6: int(time.time()) - 60, 4: exp,
              65535: status(uri, idx)}
    arr = cose_sign1(priv, {1: -7}, {33: cert_der(certfile)}, cbor2.dumps(claims))
    sys.stdout.buffer.write(cbor2.dumps(cbor2.CBORTag(18, arr)))


def disclosure(name, value):
    d = b64u(json.dumps([b64u(os.urandom(16)), name, value]).encode())
    return d, b64u(hashlib.sha256(d.encode()).digest())


def cmd_sdjwt(keyfile, uri, idx, exp, holder_file=None, nonce=None):
    """An SD-JWT VC (RFC 9901, SD-JWT VC draft): selectively disclosable given_name,
    family_name and birthdate, an address object whose members are disclosable
    themselves, a nationalities array with one disclosable element, and a decoy digest;
    status and cnf always disclosed."""
    key = load_jwk(keyfile)
    discs = []
    top = []
    for n, v in (("given_name", "Erika"), ("family_name", "Mustermann"),
                 ("birthdate", "1963-08-12")):
        d, h = disclosure(n, v)
        discs.append(d)
        top.append(h)
    inner = []
    for n, v in (("street_address", "Heidestr. 17"), ("locality", "Koeln"),
                 ("country", "DE")):
        d, h = disclosure(n, v)
        discs.append(d)
        inner.append(h)
    d, h = disclosure("address", {"_sd": sorted(inner)})
    discs.append(d)
    top.append(h)
    el = b64u(json.dumps([b64u(os.urandom(16)), "DE"]).encode())
    discs.append(el)
    el_digest = b64u(hashlib.sha256(el.encode()).digest())
    top.append(b64u(hashlib.sha256(os.urandom(32)).digest()))  # a decoy
    claims = {"iss": "https://issuer.example", "iat": int(time.time()) - 60, "exp": exp,
              "vct": "https://credentials.example/identity_credential",
              "_sd": sorted(top), "_sd_alg": "sha-256",
              "nationalities": [{"...": el_digest}, "FR"],
              "status": status(uri, idx)}
    holder = load_jwk(holder_file) if holder_file else None
    if holder is not None:
        claims["cnf"] = {"jwk": json.loads(holder.export_public())}
    issuer_jwt = jws_compact(key, {"alg": "ES256", "kid": key.get("kid"),
                                   "typ": "dc+sd-jwt"}, claims)
    presented = issuer_jwt + "~" + "~".join(discs) + "~"
    if holder is None:
        print(presented)
        return
    kb = {"iat": int(time.time()) - 5, "aud": "https://verifier.example",
          "nonce": nonce or b64u(os.urandom(12)),
          "sd_hash": b64u(hashlib.sha256(presented.encode()).digest())}
    print(presented + jws_compact(holder, {"alg": "ES256", "typ": "kb+jwt"}, kb))


def jwk_private_ec(keyfile):
    return serialization.load_pem_private_key(load_jwk(keyfile).export_to_pem(
        private_key=True, password=None), None)


def cmd_cwt(keyfile, uri, idx, exp):
    key = load_jwk(keyfile)
    now = int(time.time())
    claims = {1: "https://issuer.example", 2: "holder-42", 6: now - 60, 4: exp,
              65535: status(uri, idx)}
    arr = cose_sign1(jwk_private_ec(keyfile), {1: -7}, {4: key.get("kid").encode()},
                     cbor2.dumps(claims))
    sys.stdout.buffer.write(cbor2.dumps(cbor2.CBORTag(18, arr)))


def tdate(t):
    return cbor2.CBORTag(0, datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def cmd_mdoc(keyfile, certfile, uri, idx, exp):
    """A DeviceResponse holding one mDL Document (ISO/IEC 18013-5 section 8.3.2.1.2.2):
    issuerSigned with two data elements (IssuerSignedItemBytes, tag 24) and an
    IssuerAuth (untagged COSE_Sign1, x5chain label 33) over tag 24 around the MSO."""
    priv = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(certfile, "rb").read())
    ns = "org.iso.18013.5.1"
    doctype = "org.iso.18013.5.1.mDL"
    items, digests = [], {}
    for i, (n, v) in enumerate((("family_name", "Mustermann"), ("given_name", "Erika"))):
        item = cbor2.CBORTag(24, cbor2.dumps({"digestID": i, "random": os.urandom(16),
                                              "elementIdentifier": n, "elementValue": v}))
        items.append(item)
        digests[i] = hashlib.sha256(cbor2.dumps(item)).digest()
    dev = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    now = int(time.time())
    mso = {"version": "1.0", "digestAlgorithm": "SHA-256", "valueDigests": {ns: digests},
           "deviceKeyInfo": {"deviceKey": {1: 2, -1: 1, -2: dev.x.to_bytes(32, "big"),
                                           -3: dev.y.to_bytes(32, "big")}},
           "docType": doctype,
           "validityInfo": {"signed": tdate(now - 60), "validFrom": tdate(now - 60),
                            "validUntil": tdate(exp)},
           "status": status(uri, idx)}
    payload = cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(mso)))
    ia = cose_sign1(priv, {1: -7}, {33: cert.public_bytes(serialization.Encoding.DER)},
                    payload)
    resp = {"version": "1.0",
            "documents": [{"docType": doctype,
                           "issuerSigned": {"nameSpaces": {ns: items}, "issuerAuth": ia}}],
            "status": 0}
    sys.stdout.buffer.write(cbor2.dumps(resp))


# ---- Status List Tokens with something wrong --------------------------------------- #

def cmd_listjwt(keyfile, sub, args):
    typ, zeros, bits = "statuslist+jwt", 16, 1
    while args:
        opt, val = args[0], args[1]
        args = args[2:]
        if opt == "--typ":
            typ = val
        elif opt == "--zeros":
            zeros = int(val)
        elif opt == "--bits":
            bits = int(val)
        else:
            sys.exit("listjwt: unknown option " + opt)
    key = jwk.JWK.from_pem(open(keyfile, "rb").read())
    now = int(time.time())
    claims = {"sub": sub, "iat": now - 60, "exp": now + 3600, "ttl": 60,
              "status_list": {"bits": bits,
                              "lst": b64u(zlib.compress(bytes(zeros), 9))}}
    print(jws_compact(key, {"alg": "ES256", "typ": typ}, claims))


def cmd_specjwt(keyfile):
    v = json.load(open("testvectors/sec6_2_referenced_token_jose.json"))
    ex = v["jwt_decoded_example"]
    key = jwk.JWK.from_pem(open(keyfile, "rb").read())
    print(jws_compact(key, ex["header"], ex["payload"]))


def cmd_cert_pem(hexder):
    cert = x509.load_der_x509_certificate(bytes.fromhex(hexder))
    sys.stdout.buffer.write(cert.public_bytes(serialization.Encoding.PEM))


def main(a):
    if not a:
        sys.exit(__doc__)
    cmd, rest = a[0], a[1:]
    if cmd == "keys":
        cmd_keys(rest[0])
    elif cmd == "jwt":
        cmd_jwt(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif cmd == "sdjwt":
        cmd_sdjwt(rest[0], rest[1], int(rest[2]), int(rest[3]),
                  rest[4] if len(rest) > 4 else None, rest[5] if len(rest) > 5 else None)
    elif cmd == "jwt-x5c":
        cmd_jwt_x5c(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]))
    elif cmd == "cwt-x5c":
        cmd_cwt_x5c(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]))
    elif cmd == "cwt":
        cmd_cwt(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif cmd == "mdoc":
        cmd_mdoc(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]))
    elif cmd == "listjwt":
        cmd_listjwt(rest[0], rest[1], rest[2:])
    elif cmd == "specjwt":
        cmd_specjwt(rest[0])
    elif cmd == "cert-pem":
        cmd_cert_pem(rest[0])
    else:
        sys.exit("rt_issue.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
