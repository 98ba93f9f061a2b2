#!/usr/bin/python3
"""idl_issue.py - an issuer of ISO/IEC 18013-5 (second edition) identifier lists and of
mdocs that point at them, written without libtsl on Debian's python3-cbor2 and
python3-cryptography, for the tests of tsl's identifier-list verifier (tests/idlist.sh).
Keys and certificates are those of `rt_issue.py keys DIR`.

  idl_issue.py list KEY.pem SUB EXP [options]      an identifier list to stdout (CBOR)
      --id HEX          list HEX (repeatable)
      --random N        and N random 16-byte identifiers
      --x5c CERT.pem    the signer's certificate in x5chain (label 33, unprotected)
      --typ-claim       typ as a claim (16) instead of the protected header (older form)
      --no-typ          no typ at all
      --ttl S           claim 65534
      --iat T           (default: now)
      --no-exp          leave exp out (EXP is then ignored)
      --status-list     also carry claim 65533 (which a verifier must refuse)
      --info            give each identifier a non-empty IdentifierInfo {"reason": 1}
  idl_issue.py mdoc KEY.pem CERT.pem EXP --idl URI IDHEX [--cert CERT.pem]
                    [--sl URI IDX]
      an mdoc DeviceResponse whose MSO status is identifier_list {id, uri[,
      certificate]}, and with --sl also status_list {idx, uri}
  idl_issue.py read CERT.pem SUB FILE
      reads an identifier list (as tsl publishes it): checks the ES256 signature with
      CERT's key, typ in the protected header, sub, exp in the future and no claim 65533,
      and prints its identifiers in hex, sorted, one a line (exit 1 on any failure)
"""
import os
import sys
import time

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rt_issue  # noqa: E402  (cose_sign1, tdate: the same independent COSE code)

TYP = "application/identifierlist+cwt"


def load_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), None)


def der(path):
    return x509.load_pem_x509_certificate(open(path, "rb").read()).public_bytes(
        serialization.Encoding.DER)


def cmd_list(keyfile, sub, exp, args):
    ids, x5c, typ_claim, no_typ, ttl, iat, no_exp, sl, info = [], None, False, False, None, \
        int(time.time()), False, False, False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--id":
            ids.append(bytes.fromhex(args[i + 1]))
            i += 1
        elif a == "--random":
            ids.extend(os.urandom(16) for _ in range(int(args[i + 1])))
            i += 1
        elif a == "--x5c":
            x5c = der(args[i + 1])
            i += 1
        elif a == "--ttl":
            ttl = int(args[i + 1])
            i += 1
        elif a == "--iat":
            iat = int(args[i + 1])
            i += 1
        elif a == "--typ-claim":
            typ_claim = True
        elif a == "--no-typ":
            no_typ = True
        elif a == "--no-exp":
            no_exp = True
        elif a == "--status-list":
            sl = True
        elif a == "--info":
            info = True
        else:
            sys.exit("idl_issue.py: unknown option " + a)
        i += 1
    claims = {2: sub, 6: iat}
    if not no_exp:
        claims[4] = exp
    if ttl is not None:
        claims[65534] = ttl
    claims[65530] = {"identifiers": {i: ({"reason": 1} if info else {}) for i in ids}}
    if sl:
        claims[65533] = {"bits": 1, "lst": b"\x78\x9c\x03\x00\x00\x00\x00\x01"}
    protected = {1: -7}
    if typ_claim:
        claims[16] = TYP
    elif not no_typ:
        protected[16] = TYP
    unprotected = {33: x5c} if x5c is not None else {}
    arr = rt_issue.cose_sign1(load_key(keyfile), protected, unprotected, cbor2.dumps(claims))
    sys.stdout.buffer.write(cbor2.dumps(cbor2.CBORTag(18, arr)))


def cmd_mdoc(keyfile, certfile, exp, args):
    status = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--idl":
            status["identifier_list"] = {"id": bytes.fromhex(args[i + 2]), "uri": args[i + 1]}
            i += 2
        elif a == "--cert":
            status["identifier_list"]["certificate"] = der(args[i + 1])
            i += 1
        elif a == "--sl":
            status["status_list"] = {"idx": int(args[i + 2]), "uri": args[i + 1]}
            i += 2
        else:
            sys.exit("idl_issue.py: unknown option " + a)
        i += 1
    priv = load_key(keyfile)
    cert = x509.load_pem_x509_certificate(open(certfile, "rb").read())
    now = int(time.time())
    doctype = "org.iso.18013.5.1.mDL"
    mso = {"version": "1.0", "digestAlgorithm": "SHA-256",
           "valueDigests": {"org.iso.18013.5.1": {}}, "docType": doctype,
           "validityInfo": {"signed": rt_issue.tdate(now - 60),
                            "validFrom": rt_issue.tdate(now - 60),
                            "validUntil": rt_issue.tdate(exp)},
           "status": status}
    payload = cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(mso)))
    ia = rt_issue.cose_sign1(priv, {1: -7},
                             {33: cert.public_bytes(serialization.Encoding.DER)}, payload)
    resp = {"version": "1.0",
            "documents": [{"docType": doctype, "issuerSigned": {"issuerAuth": ia}}],
            "status": 0}
    sys.stdout.buffer.write(cbor2.dumps(resp))


def cmd_read(certfile, sub, path):
    pub = x509.load_pem_x509_certificate(open(certfile, "rb").read()).public_key()
    t = cbor2.loads(open(path, "rb").read())
    if not isinstance(t, cbor2.CBORTag) or t.tag != 18 or len(t.value) != 4:
        sys.exit("idl_issue.py read: not a tagged COSE_Sign1")
    prot, _unprot, payload, sig = t.value
    ph = cbor2.loads(prot)
    if ph.get(1) != -7 or ph.get(16) != TYP:
        sys.exit("idl_issue.py read: protected header %r" % (ph,))
    if len(sig) != 64:
        sys.exit("idl_issue.py read: an ES256 signature is 64 bytes")
    der_sig = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                         int.from_bytes(sig[32:], "big"))
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    pub.verify(der_sig, tbs, ec.ECDSA(hashes.SHA256()))  # raises on a bad signature
    c = cbor2.loads(payload)
    if c.get(2) != sub or not c.get(4, 0) > time.time() or 65533 in c:
        sys.exit("idl_issue.py read: claims %r" % ({k: c[k] for k in c if k != 65530},))
    ids = c[65530]["identifiers"]
    for i in sorted(ids):
        if not isinstance(i, bytes) or ids[i] != {}:
            sys.exit("idl_issue.py read: entry %r: %r" % (i, ids[i]))
        print(i.hex())


def main(a):
    if len(a) == 4 and a[0] == "read":
        cmd_read(a[1], a[2], a[3])
    elif len(a) >= 3 and a[0] == "list":
        cmd_list(a[1], a[2], int(a[3]), a[4:])
    elif len(a) >= 4 and a[0] == "mdoc":
        cmd_mdoc(a[1], a[2], int(a[3]), a[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
