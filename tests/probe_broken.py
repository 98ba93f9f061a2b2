# probe_broken.py KEY.pem PORTFILE: a deliberately broken Status List endpoint for
# tests/probe.sh, independent of libtsl (cryptography, cbor2, zlib from Debian's
# /usr/bin/python3). It serves /statuslists/1 on 127.0.0.1 (a free port, written to
# PORTFILE) with the faults peers ship (../shared/PEERS.md part c), each of which
# `tsl probe` must find:
#   - gzip in lst instead of zlib                      -> jwt.lst-zlib
#   - lst base64url with '=' padding                   -> jwt.lst-base64url
#   - no exp in the JWT                                -> jwt.exp
#   - a sub that is not the URL                        -> jwt.sub
#   - the CWT's status_list under claim 65534 (ttl's)  -> cwt.claim-keys
#   - 404 for an Accept naming several types           -> neg.multi
# Everything else is done right (typ, signatures, Content-Type), so the findings are
# the planted ones. Runs until killed.
import base64, gzip, http.server, json, socket, sys, time, zlib

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
URL = "http://127.0.0.1:%d/statuslists/1" % port


def b64u(b, pad=False):
    t = base64.urlsafe_b64encode(b).decode()
    return t if pad else t.rstrip("=")


def sign(msg):
    r, s_ = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s_.to_bytes(32, "big")


raw = bytearray(16384)  # 131072 one-bit entries
raw[0] = 0x02
# gzip of the list; a few more revoked entries until its base64 needs padding (the
# planted fault must be visible)
for i in range(64):
    gz = gzip.compress(bytes(raw), mtime=0)
    if len(gz) % 3 != 0:
        break
    raw[100 + 7 * i] = 0x10


def jwt():
    now = int(time.time())
    h = {"alg": "ES256", "typ": "statuslist+jwt"}
    p = {"sub": "https://wrong.example/statuslists/1", "iat": now, "ttl": 300,
         "status_list": {"bits": 1, "lst": b64u(gz, pad=True)}}
    si = (b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(p).encode())).encode()
    return si + b"." + b64u(sign(si)).encode()


def cwt():
    now = int(time.time())
    prot = cbor2.dumps({1: -7, 16: "application/statuslist+cwt"})
    payload = cbor2.dumps({2: URL, 6: now, 4: now + 3600,
                           65534: {"bits": 1, "lst": zlib.compress(bytes(raw), 9)}})
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    return cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, sign(tbs)]))


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, body):
        path = self.path.split("?")[0]
        acc = self.headers.get("Accept", "")
        if path != "/statuslists/1":
            code, ct, data = 404, "text/plain", b"no\n"
        elif "," in acc:
            code, ct, data = 404, "text/plain", b"unknown media type\n"  # planted
        elif "statuslist+cwt" in acc:
            code, ct, data = 200, "application/statuslist+cwt", cwt()
        else:
            code, ct, data = 200, "application/statuslist+jwt", jwt()
        self.send_response(code)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
with open(sys.argv[2], "w") as f:
    f.write("%d\n" % port)
srv.serve_forever()
