#!/usr/bin/python3
"""admin_client.py - an independent client of the issuer API (`tsl serve --admin-listen`),
driven by tests/admin.sh: Python's http.client, ssl and sockets, jsonschema and jwcrypto,
nothing of libtsl. Against one store (SQLite or PostgreSQL) it runs:

- the issuance flow: an API key from `tsl apikey create`, 10^4 indices allocated in
  batches of 100, 10^3 revoked in one bulk request, published with wait, the token fetched
  from the PUBLIC listener, its signature and typ checked with jwcrypto and the status list
  decoded here (zlib and bit unpacking): every revoked index INVALID, the others VALID;
- retries: an allocation whose connection is dropped after the request is sent, and one
  dropped after half its body, each retried with the same Idempotency-Key, and 4
  concurrent retries of one key: no duplicates, every index counted once in the list's
  `allocated`; 8 clients allocating at once (group commit): every index once;
- refusals with their status and problem type and nothing changed (version, allocated,
  counts): no key, wrong key, another list's key, a key without the scope, an expired and a
  revoked key, an oversized body (declared and chunked), malformed JSON, a wrong
  Content-Type, binary garbage, an un-revoke without force; a slowloris body, slow headers
  and a connection flood, after which a normal request still works; the failed-auth limiter;
- every operation of api/openapi.json exercised with a 2xx answer, and every answer (2xx and
  problems) validated against the schema the document gives for its operation and status
  (python3-jsonschema, Draft 2020-12), with the headers it promises (WWW-Authenticate,
  Retry-After, Location, Idempotent-Replayed);
- TLS with certificates made by the openssl CLI: HTTPS, a key file readable by others
  refused, mTLS (no client certificate and a certificate of another CA refused with 403, a
  CA-signed one served), a non-loopback address without TLS refused unless --admin-insecure,
  the per-key rate limit (429 with Retry-After);
- no API key in the server's stderr, the access log, or either /metrics; the access log
  names the key id that acted.

usage: admin_client.py --tsl BUILD/tsl --db DB --dir TMPDIR --spec api/openapi.json
                       --list-key PEM --list-jwk JWK --suite NAME
Prints "FAIL ..." lines on stderr and closes with "NAME: N passed, N failed".
"""
import argparse
import atexit
import base64
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib

import jsonschema
from jwcrypto import jwk, jws

PASS = 0
FAIL = 0


def check(name, cond, detail=""):
    global PASS, FAIL
    if cond:
        PASS += 1
    else:
        FAIL += 1
        print("FAIL %s%s" % (name, (": " + str(detail)[:600]) if detail != "" else ""),
              file=sys.stderr)
    return cond


# ---------------------------------------------------------------------------------------
# The document: routes, schema validation, coverage

class Spec:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = f.read()
        self.doc = json.loads(self.raw)
        self.routes = []  # (regex, template, path item)
        for tmpl, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[a-z_]+\\\}", "([^/]+)", re.escape(tmpl)) + "$"
            self.routes.append((re.compile(rx), tmpl, item))
        self.ops = {}
        for tmpl, item in self.doc["paths"].items():
            for m in ("get", "put", "post", "patch", "delete", "head", "options"):
                if m in item:
                    self.ops[(m.upper(), tmpl)] = item[m]
        self.exercised = set()
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        jsonschema.Draft202012Validator.check_schema(self.doc["components"]["schemas"]["Problem"])

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            ptr = obj["$ref"]
            assert ptr.startswith("#/")
            obj = self.doc
            for part in ptr[2:].split("/"):
                obj = obj[part]
        return obj

    def find(self, method, path):
        for rx, tmpl, _ in self.routes:
            if rx.match(path):
                return tmpl, self.ops.get((method, tmpl))
        return None, None

    def validate(self, name, method, path, status, headers, body):
        """The answer against the document: its status listed for the operation, its
        content type and schema, its promised headers. Counts 2xx as exercised."""
        tmpl, op = self.find(method, path)
        if op is None:
            # Not an operation (405, 404 of an unknown path): still a problem document.
            if status >= 400:
                self.validate_schema(name, {"$ref": "#/components/schemas/Problem"}, body,
                                     headers, "application/problem+json")
            return
        resp = op["responses"].get(str(status))
        if not check("%s: %s %s answered %d, a status the document lists" %
                     (name, method, tmpl, status), resp is not None,
                     "listed: %s" % sorted(op["responses"])):
            return
        resp = self.deref(resp)
        if 200 <= status < 300:
            self.exercised.add((method, tmpl))
        ctype = (headers.get("content-type") or "").split(";")[0].strip()
        content = resp.get("content", {})
        if not check("%s: content type %r is one the document gives (%s)" %
                     (name, ctype, sorted(content)), ctype in content):
            return
        for h, hdef in resp.get("headers", {}).items():
            if h.lower() in ("retry-after", "www-authenticate", "location", "allow"):
                check("%s: header %s present" % (name, h), h.lower() in headers)
        self.validate_schema(name, content[ctype].get("schema"), body, headers, ctype)

    def validate_schema(self, name, schema, body, headers, ctype):
        if schema is None:
            return
        try:
            inst = json.loads(body)
        except ValueError as e:
            check("%s: a JSON body" % name, False, "%s: %r" % (e, body[:200]))
            return
        try:
            jsonschema.Draft202012Validator(schema, resolver=self.resolver).validate(inst)
            check("%s: answer validates" % name, True)
        except jsonschema.ValidationError as e:
            check("%s: answer validates" % name, False,
                  "%s at %s; body %r" % (e.message, list(e.absolute_path), body[:300]))
        if ctype == "application/problem+json" and isinstance(inst, dict):
            st = int(headers.get(":status", "0"))
            check("%s: problem status member matches" % name, inst.get("status") == st,
                  inst)


# ---------------------------------------------------------------------------------------
# HTTP

class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def ptype(self):
        return self.json.get("type", "") if isinstance(self.json, dict) else ""

    def __repr__(self):
        return "%d %r" % (self.status, self.body[:300])


class Api:
    def __init__(self, spec, port, tls=None, host="127.0.0.1"):
        self.spec = spec
        self.port = port
        self.tls = tls
        self.host = host

    def conn(self, timeout=60):
        if self.tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def req(self, name, method, target, key=None, body=None, ctype=None, headers=None,
            validate=True):
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            ctype = ctype or "application/json"
        if ctype is not None:
            h["Content-Type"] = ctype
        c = self.conn()
        try:
            c.request(method, target, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hd = {k.lower(): v for k, v in r.getheaders()}
            hd[":status"] = str(r.status)
            a = Answer(r.status, hd, data)
        except (ConnectionError, http.client.HTTPException, socket.timeout) as e:
            # No answer (the connection refused or cut): status 0, which every check
            # that wanted an answer fails by name.
            return Answer(0, {":status": "0", ":error": str(e)}, b"")
        finally:
            c.close()
        if validate:
            self.spec.validate(name, method, target.split("?")[0], a.status, a.headers,
                               a.body)
        return a


def raw_answer(data):
    """Parses an HTTP/1.1 answer read from a socket (Content-Length framed)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hd = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hd[k.strip().lower()] = v.strip()
    hd[":status"] = str(status)
    return Answer(status, hd, body)


def recv_all(s, limit=1 << 20, timeout=10):
    s.settimeout(timeout)
    out = b""
    try:
        while len(out) < limit:
            d = s.recv(65536)
            if not d:
                break
            out += d
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head + b"\r\n")
                if m and len(body) >= int(m.group(1)):
                    break
    except (socket.timeout, ConnectionError):
        pass
    return out


# ---------------------------------------------------------------------------------------
# The server and the keys

class Server:
    started = []  # every server, killed at exit if a check raised before its stop()

    def __init__(self, args, logdir, name, extra, expect_start=True):
        self.log = os.path.join(logdir, "serve-%s.log" % name)
        self.proc = None
        Server.started.append(self)
        self.pub = self.admin = None
        cmd = [args.tsl, "serve", "--db", args.db, "--listen", "127.0.0.1:0"] + extra
        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=lf)
        deadline = time.time() + 20
        while time.time() < deadline:
            txt = self.text()
            m1 = re.search(r"tsl serve: listening on 127\.0\.0\.1:(\d+)", txt)
            m2 = re.search(r"issuer API listening on [^ ]*:(\d+)", txt)
            if m1 and m2:
                self.pub, self.admin = int(m1.group(1)), int(m2.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if expect_start:
            check("server %s starts" % name, False, self.text()[:500])

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9


@atexit.register
def _kill_servers():
    for srv in Server.started:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


def tsl(args, *argv, check_rc=True):
    p = subprocess.run([args.tsl] + list(argv) + ["--db", args.db], capture_output=True,
                       stdin=subprocess.DEVNULL)
    if check_rc and p.returncode != 0:
        raise RuntimeError("tsl %s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                     p.stderr.decode()[:300]))
    return p


def make_key(args, who, scope, expires=None):
    argv = ["apikey", "create", "--scope", scope]
    argv += ["--all"] if who is None else ["--list", who]
    if expires is not None:
        argv += ["--expires", expires]
    p = tsl(args, *argv)
    secret = p.stdout.decode().strip()
    check("apikey create prints one secret line", re.match(
        r"^tsl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$", secret) is not None, secret[:20])
    return secret


def key_id(secret):
    return secret[4:16]


# ---------------------------------------------------------------------------------------
# Status list decoding (spec section 4: LSB first)

def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def status_at(raw, bits, i):
    bit = i * bits
    return (raw[bit // 8] >> (bit % 8)) & ((1 << bits) - 1)


def verify_jwt(name, token, pub_jwk, uri):
    """Signature with the list's public key, typ, sub; returns the decoded list."""
    key = jwk.JWK.from_json(pub_jwk)
    o = jws.JWS()
    o.deserialize(token)
    try:
        o.verify(key)
        check(name + ": JWT signature verifies with jwcrypto", True)
    except Exception as e:  # noqa: BLE001 - jwcrypto raises several kinds
        check(name + ": JWT signature verifies with jwcrypto", False, e)
        return None, None
    hdr = o.jose_header
    check(name + ": typ statuslist+jwt", hdr.get("typ") == "statuslist+jwt", hdr)
    claims = json.loads(o.payload)
    check(name + ": sub is the list's uri", claims.get("sub") == uri, claims.get("sub"))
    sl = claims["status_list"]
    raw = zlib.decompress(b64url_dec(sl["lst"]))
    return sl["bits"], raw


# ---------------------------------------------------------------------------------------
# The scenarios

def alloc(api, key, lid, count, ikey, name="allocate"):
    return api.req(name, "POST", "/v1/lists/%s/allocations" % lid, key=key,
                   body={"count": count}, headers={"Idempotency-Key": ikey})


def info(api, key, lid, name="getList"):
    a = api.req(name, "GET", "/v1/lists/" + lid, key=key)
    return a.json if a.status == 200 else None


def state(api, key, lid):
    j = info(api, key, lid, "state")
    if j is None:
        return None
    return (j["version"], j["allocated"], json.dumps(j["counts"], sort_keys=True))


def t_documents(api, spec):
    a = api.req("openapi", "GET", "/v1/openapi.json")
    check("GET /v1/openapi.json is api/openapi.json", a.status == 200 and a.json == spec.doc)
    a = api.req("healthz", "GET", "/v1/healthz")
    check("GET /v1/healthz without a key: 200", a.status == 200, a)


def t_lists(api, K, args):
    body = {"id": "L3", "uri": "https://example.com/statuslists/3", "bits": 1,
            "size": 10000, "key": args.list_key, "lifetime": 3600, "ttl": 300,
            "formats": "jwt"}
    a = api.req("createList", "POST", "/v1/lists", key=K["all"], body=body)
    check("POST /v1/lists: 201", a.status == 201, a)
    check("POST /v1/lists: Location", a.headers.get("location") == "/v1/lists/L3", a.headers)
    if a.json:
        check("POST /v1/lists: no key path in the answer", args.list_key not in a.body.decode())
    a = api.req("createList twice", "POST", "/v1/lists", key=K["all"], body=body)
    check("POST /v1/lists again: 409 conflict",
          a.status == 409 and a.ptype().endswith(":conflict"), a)
    a = api.req("createList by a list key", "POST", "/v1/lists", key=K["l1"],
                body=dict(body, id="L4", uri="https://example.com/statuslists/4"))
    check("POST /v1/lists with a key of one list: 403",
          a.status == 403 and a.ptype().endswith(":forbidden"), a)
    a = api.req("listLists", "GET", "/v1/lists", key=K["l1"])
    ids = [x["id"] for x in (a.json or {}).get("lists", [])]
    check("GET /v1/lists with L1's key sees L1 only", ids == ["L1"], ids)
    a = api.req("listLists all", "GET", "/v1/lists", key=K["all"])
    ids = sorted(x["id"] for x in (a.json or {}).get("lists", []))
    check("GET /v1/lists with a key for all sees every list", ids == ["L1", "L2", "L3"], ids)


def t_flow(api, K, args, uri, flow):
    """10^4 indices in batches of 100, 10^3 revoked in bulk, a few suspended as text,
    publish with wait, the public token checked."""
    before = info(api, K["l1"], "L1")
    indices = []
    t0 = time.time()
    for b in range(100):
        a = alloc(api, K["l1"], "L1", 100, "flow-%d" % b)
        if not check("allocation %d: 201" % b, a.status == 201, a):
            break
        ents = a.json["entries"]
        check("allocation %d: 100 entries, each {idx, uri} of the list" % b,
              len(ents) == 100 and all(e["uri"] == uri for e in ents))
        indices += [e["idx"] for e in ents]
    flow["alloc_s"] = time.time() - t0
    check("10^4 indices, no duplicates", len(indices) == 10000 and len(set(indices)) == 10000,
          len(set(indices)))
    size = before["size"]
    check("every index inside the list", all(0 <= i < size for i in indices))
    after = info(api, K["l1"], "L1")
    check("allocated grew by exactly 10^4",
          after["allocated"] - before["allocated"] == 10000,
          (before["allocated"], after["allocated"]))
    rnd = random.Random(13)
    revoked = rnd.sample(indices, 1000)
    rest = [i for i in indices if i not in set(revoked)]
    suspended = rnd.sample(rest, 10)
    a = api.req("updateStatuses", "PATCH", "/v1/lists/L1/statuses", key=K["l1"],
                body=[{"index": i, "status": "INVALID"} for i in revoked])
    check("bulk revoke of 10^3: 200, entries 1000, changed 1000",
          a.status == 200 and a.json["entries"] == 1000 and a.json["changed"] == 1000, a)
    text = "# suspended by the flow\n" + "".join("%d SUSPENDED\n" % i for i in suspended)
    a = api.req("updateStatuses text", "PATCH", "/v1/lists/L1/statuses", key=K["l1"],
                body=text.encode(), ctype="text/plain")
    check("text/plain update: 200, changed 10", a.status == 200 and a.json["changed"] == 10, a)
    a = api.req("publish", "POST", "/v1/lists/L1/publish?wait=true&timeout=30", key=K["l1"])
    check("publish with wait: 200, served", a.status == 200 and a.json.get("served") is True, a)
    ver = a.json["version"] if a.status == 200 else None
    # The PUBLIC listener (read-only) serves the new token.
    c = http.client.HTTPConnection("127.0.0.1", args.pub_port, timeout=10)
    c.request("GET", "/statuslists/1", headers={"Accept": "application/statuslist+jwt"})
    r = c.getresponse()
    token = r.read().decode()
    c.close()
    check("public listener: 200 with the token", r.status == 200, r.status)
    with open(args.list_jwk) as f:
        pub = f.read()
    bits, raw = verify_jwt("public token", token, pub, uri)
    if raw is not None:
        rv, sp = set(revoked), set(suspended)
        wrong = [i for i in indices
                 if status_at(raw, bits, i) != (1 if i in rv else 2 if i in sp else 0)]
        check("every revoked index reads INVALID, suspended SUSPENDED, the others VALID",
              not wrong, wrong[:10])
    flow.update(indices=indices, revoked=revoked, suspended=suspended, version=ver)
    # The public listener stays read-only: no issuer API there.
    c = http.client.HTTPConnection("127.0.0.1", args.pub_port, timeout=10)
    c.request("POST", "/v1/lists/L1/allocations", body=b'{"count":1}',
              headers={"Authorization": "Bearer " + K["l1"], "Content-Type": "application/json",
                       "Idempotency-Key": "public"})
    r = c.getresponse()
    r.read()
    c.close()
    check("the public listener does not answer the issuer API", r.status in (404, 405),
          r.status)


def t_idlist(api, K, args):
    """A list of kind identifier (ISO 18013-5): created with formats idlist, allocations
    answer {id, uri} entries (the MSO's identifier_list, id in hex), a status read and
    revoked by its identifier, published, and served on the public listener as
    application/identifierlist+cwt listing exactly the revoked identifier (cbor2)."""
    import cbor2
    uri = "https://example.com/idl/1"
    body = {"id": "I1", "uri": uri, "bits": 1, "size": 1000, "key": args.list_key,
            "lifetime": 3600, "ttl": 300, "formats": "idlist"}
    a = api.req("createList idlist", "POST", "/v1/lists", key=K["all"], body=body)
    check("POST /v1/lists formats idlist: 201, formats idlist",
          a.status == 201 and a.json["formats"] == "idlist", a)
    a = api.req("createList idlist 2 bits", "POST", "/v1/lists", key=K["all"],
                body=dict(body, id="I2", uri="https://example.com/idl/2", bits=2))
    check("an identifier list of 2 bits: 400 invalid-value",
          a.status == 400 and a.ptype().endswith(":invalid-value"), a)
    a = alloc(api, K["all"], "I1", 5, "idl-1", name="allocate idlist")
    ents = (a.json or {}).get("entries", [])
    check("allocation of an identifier list: 201, 5 entries {id, uri}",
          a.status == 201 and len(ents) == 5 and
          all(set(e) == {"id", "uri"} and e["uri"] == uri for e in ents), a)
    ids = [e["id"] for e in ents]
    check("5 different identifiers of 16 bytes",
          len(set(ids)) == 5 and all(len(bytes.fromhex(i)) == 16 for i in ids), ids)
    if len(ids) < 5:
        return
    a = api.req("getStatus by identifier", "GET", "/v1/lists/I1/statuses/" + ids[0],
                key=K["all"])
    check("GET a status by identifier: VALID", a.status == 200 and a.json["label"] == "VALID",
          a)
    a = api.req("setStatus by identifier", "PUT", "/v1/lists/I1/statuses/" + ids[1],
                key=K["all"], body={"status": "INVALID"})
    check("PUT INVALID by identifier: changed 1", a.status == 200 and a.json["changed"] == 1, a)
    a = api.req("getStatus unknown identifier", "GET",
                "/v1/lists/I1/statuses/" + "00" * 16, key=K["all"])
    check("GET an identifier the list never made: 400 invalid-value",
          a.status == 400 and a.ptype().endswith(":invalid-value"), a)
    a = api.req("publish idlist", "POST", "/v1/lists/I1/publish?wait=true&timeout=30",
                key=K["all"])
    check("publish an identifier list with wait: served",
          a.status == 200 and a.json.get("served") is True, a)
    c = http.client.HTTPConnection("127.0.0.1", args.pub_port, timeout=10)
    c.request("GET", "/idl/1", headers={"Accept": "application/identifierlist+cwt"})
    r = c.getresponse()
    raw = r.read()
    c.close()
    check("public listener: 200 application/identifierlist+cwt",
          r.status == 200 and r.getheader("Content-Type") == "application/identifierlist+cwt",
          (r.status, r.getheader("Content-Type")))
    try:
        t = cbor2.loads(raw)
        claims = cbor2.loads(t.value[2])
        listed = sorted(claims[65530]["identifiers"])
        ok_ = (t.tag == 18 and cbor2.loads(t.value[0])[16] == "application/identifierlist+cwt"
               and claims[2] == uri and listed == [bytes.fromhex(ids[1])])
    except Exception as e:  # noqa: BLE001 - a bad token is one failure
        ok_, listed = False, e
    check("the served identifier list lists exactly the revoked identifier", ok_, listed)
    # Identifier lengths: id_length at creation (8 to 64, formats idlist only), the
    # identifiers as long, found by their hex in the path.
    a = api.req("createList idlist id_length 7", "POST", "/v1/lists", key=K["all"],
                body=dict(body, id="I7", uri="https://example.com/idl/7", id_length=7))
    check("id_length 7: 400", a.status == 400, a)
    a = api.req("createList jwt id_length", "POST", "/v1/lists", key=K["all"],
                body=dict(body, id="I7", uri="https://example.com/idl/7", id_length=16,
                          formats="jwt"))
    check("id_length on a status list: 400 invalid-value",
          a.status == 400 and a.ptype().endswith(":invalid-value"), a)
    for n in (8, 32):
        lid = "IL%d" % n
        a = api.req("createList idlist id_length", "POST", "/v1/lists", key=K["all"],
                    body=dict(body, id=lid, uri="https://example.com/idl/l%d" % n,
                              id_length=n))
        check("POST /v1/lists id_length %d: 201, id_length %d" % (n, n),
              a.status == 201 and (a.json or {}).get("id_length") == n, a)
        a = alloc(api, K["all"], lid, 3, "idl-len-%d" % n, name="allocate idlist")
        got = [e.get("id", "") for e in (a.json or {}).get("entries", [])]
        check("3 identifiers of %d bytes" % n,
              a.status == 201 and len(set(got)) == 3 and
              all(len(bytes.fromhex(i)) == n for i in got), a)
        if len(got) < 3:
            continue
        a = api.req("setStatus by identifier", "PUT",
                    "/v1/lists/%s/statuses/%s" % (lid, got[2]), key=K["all"],
                    body={"status": "INVALID"})
        check("PUT INVALID by %d-byte identifier: changed 1" % n,
              a.status == 200 and a.json["changed"] == 1, a)
        a = api.req("getStatus by identifier", "GET",
                    "/v1/lists/%s/statuses/%s" % (lid, got[2]), key=K["all"])
        check("GET it back: INVALID", a.status == 200 and a.json["label"] == "INVALID", a)
        a = api.req("getStatus by identifier", "GET",
                    "/v1/lists/%s/statuses/%s" % (lid, ids[0]), key=K["all"])
        check("a 16-byte identifier of I1 on %s: 400 invalid-value" % lid,
              a.status == 400 and a.ptype().endswith(":invalid-value"), a)
        # Bulk changes by identifier: {"id": HEX, "status": S} beside indices, all or
        # nothing: one identifier the list never made refuses the whole body, naming it.
        upd = "/v1/lists/%s/statuses" % lid
        a = api.req("updateStatuses by id", "PATCH", upd, key=K["all"],
                    body=[{"id": got[0], "status": "INVALID"},
                          {"id": got[1].upper(), "status": "INVALID"}])
        check("PATCH by %d-byte ids: 200, changed 2" % n,
              a.status == 200 and (a.json or {}).get("changed") == 2, a)
        for g in got[:2]:
            a = api.req("getStatus by identifier", "GET", "%s/%s" % (upd, g), key=K["all"])
            check("the id revoked in bulk reads INVALID",
                  a.status == 200 and a.json["label"] == "INVALID", a)
        a = api.req("updateStatuses foreign id", "PATCH", upd, key=K["all"],
                    body=[{"index": 0, "status": "INVALID"},
                          {"id": "ab" * n, "status": "INVALID"}])
        check("PATCH with an id the list never made: 400 invalid-value, field id",
              a.status == 400 and a.ptype().endswith(":invalid-value") and
              "not one of the list's identifiers" in (a.json or {}).get("detail", ""), a)
        a = api.req("updateStatuses short id", "PATCH", upd, key=K["all"],
                    body=[{"id": "ab", "status": "INVALID"}])
        check("PATCH with an id of the wrong length: 400 invalid-value",
              a.status == 400 and "hex digits" in (a.json or {}).get("detail", ""), a)
        a = api.req("getStatus after refused bulk", "GET", "%s/0" % upd, key=K["all"])
        check("nothing applied from a refused body (index 0 still VALID)",
              a.status == 200 and a.json["label"] == "VALID", a)
        i = info(api, K["all"], lid)
        check("GET the list: id_length %d" % n, (i or {}).get("id_length") == n, i)


def t_retries(api, K, flow):
    base = info(api, K["l1"], "L1")["allocated"]
    body = b'{"count": 50}'
    head = ("POST /v1/lists/L1/allocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Idempotency-Key: %%s\r\nContent-Length: %d\r\n\r\n" % (K["l1"], len(body)))
    # 1. The whole request sent, the connection closed before the answer is read.
    s = socket.create_connection(("127.0.0.1", api.port))
    s.sendall((head % "retry-drop").encode() + body)
    s.close()
    time.sleep(1.0)
    a1 = alloc(api, K["l1"], "L1", 50, "retry-drop", "allocate retry")
    check("retry after a dropped connection: 200 replay or 201",
          a1.status in (200, 201), a1)
    a2 = alloc(api, K["l1"], "L1", 50, "retry-drop", "allocate retry")
    check("a second retry: 200, Idempotent-Replayed: true",
          a2.status == 200 and a2.headers.get("idempotent-replayed") == "true", a2)
    check("retries answer the same indices", a1.json == a2.json)
    got = [e["idx"] for e in (a2.json or {}).get("entries", [])]
    # 2. Half the body sent, then the connection closed: nothing happened.
    s = socket.create_connection(("127.0.0.1", api.port))
    s.sendall((head % "retry-half").encode() + body[:len(body) // 2])
    time.sleep(0.3)
    s.close()
    time.sleep(0.5)
    a3 = alloc(api, K["l1"], "L1", 50, "retry-half", "allocate retry")
    check("retry after half a body: 201 (the first never arrived)", a3.status == 201, a3)
    got += [e["idx"] for e in (a3.json or {}).get("entries", [])]
    a4 = alloc(api, K["l1"], "L1", 50, "retry-half", "allocate retry")
    check("and its retry: 200 replay", a4.status == 200 and a4.json == a3.json, a4)
    # 3. Concurrent retries of one key: one allocation.
    res = []

    def worker():
        res.append(alloc(api, K["l1"], "L1", 20, "retry-race", "allocate race"))
    th = [threading.Thread(target=worker) for _ in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    check("4 concurrent retries of one key: one 201, three 200 replays, one answer",
          sorted(a.status for a in res) == [200, 200, 200, 201] and
          all(a.json == res[0].json for a in res), [a.status for a in res])
    got += [e["idx"] for e in (res[0].json or {}).get("entries", [])]
    after = info(api, K["l1"], "L1")["allocated"]
    check("allocated grew by exactly 50 + 50 + 20", after - base == 120, (base, after))
    check("no duplicates, none of the flow's", len(set(got)) == 120 and
          not set(got) & set(flow["indices"]), len(set(got)))
    # The same key with another body, and no key at all.
    a = alloc(api, K["l1"], "L1", 51, "retry-drop", "allocate reused")
    check("same Idempotency-Key, another body: 422 idempotency-key-reused",
          a.status == 422 and a.ptype().endswith(":idempotency-key-reused"), a)
    a = api.req("allocate without key", "POST", "/v1/lists/L1/allocations", key=K["l1"],
                body={"count": 1})
    check("no Idempotency-Key: 400 idempotency-key-missing",
          a.status == 400 and a.ptype().endswith(":idempotency-key-missing"), a)
    check("and nothing allocated", info(api, K["l1"], "L1")["allocated"] == after)


def t_concurrent(api, K, flow):
    """8 clients allocating at once (group commit through the listener): every index
    once, the list's counter exact."""
    base = info(api, K["l1"], "L1")["allocated"]
    got, statuses, lock = [], [], threading.Lock()

    def worker(w):
        for k in range(20):
            a = alloc(api, K["l1"], "L1", 50, "conc-%d-%d" % (w, k), "allocate concurrent")
            with lock:
                statuses.append(a.status)
                got.extend(e["idx"] for e in (a.json or {}).get("entries", []))
    th = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    check("8 concurrent clients, 160 allocations: all 201", statuses == [201] * 160,
          sorted(set(statuses)))
    check("8000 indices, all distinct, none handed out before",
          len(got) == 8000 and len(set(got)) == 8000 and not set(got) & set(flow["indices"]),
          len(set(got)))
    check("allocated grew by exactly 8000", info(api, K["l1"], "L1")["allocated"] - base == 8000)


def t_reads(api, K, flow):
    rv, idx = flow["revoked"], flow["indices"]
    valid = [i for i in idx if i not in set(rv) and i not in set(flow["suspended"])]
    a = api.req("getStatus", "GET", "/v1/lists/L1/statuses/%d" % rv[0], key=K["l1"])
    check("GET one revoked status: 1 INVALID",
          a.status == 200 and a.json["status"] == 1 and a.json["label"] == "INVALID", a)
    q = [rv[1], valid[0], flow["suspended"][0]]
    a = api.req("getStatuses", "GET", "/v1/lists/L1/statuses?idx=%s" % ",".join(map(str, q)),
                key=K["l1"])
    check("GET a few statuses: INVALID, VALID, SUSPENDED in order",
          a.status == 200 and [s["label"] for s in a.json["statuses"]] ==
          ["INVALID", "VALID", "SUSPENDED"], a)
    a = api.req("getStatuses over", "GET", "/v1/lists/L1/statuses?idx=%s" %
                ",".join(str(i) for i in range(1001)), key=K["l1"])
    check("GET 1001 statuses: 413 too-large",
          a.status == 413 and a.ptype().endswith(":too-large"), a)
    a = api.req("getStatus outside", "GET", "/v1/lists/L1/statuses/100000000", key=K["l1"])
    check("GET a status outside the list: 400 invalid-value",
          a.status == 400 and a.ptype().endswith(":invalid-value"), a)
    a = api.req("setStatus", "PUT", "/v1/lists/L1/statuses/%d" % valid[1], key=K["l1"],
                body={"status": "suspended"})
    check("PUT one status (name in lower case): changed 1",
          a.status == 200 and a.json["changed"] == 1, a)
    flow["suspended"].append(valid[1])
    v0 = info(api, K["l1"], "L1")["version"]
    a = api.req("updateStatuses dry", "PATCH", "/v1/lists/L1/statuses?dry_run=true",
                key=K["l1"], body=[{"first": valid[2], "last": valid[2], "status": 2}])
    check("PATCH dry_run: 200, dry_run true, changed 1",
          a.status == 200 and a.json["dry_run"] is True and a.json["changed"] == 1, a)
    check("dry_run changed nothing", info(api, K["l1"], "L1")["version"] == v0)
    a = api.req("publish nowait", "POST", "/v1/lists/L1/publish", key=K["l1"])
    check("publish without wait: 200, served false",
          a.status == 200 and a.json["served"] is False, a)
    a = api.req("getAudit", "GET", "/v1/lists/L1/audit?limit=3", key=K["l1"])
    ok_ = a.status == 200 and len(a.json["entries"]) == 3
    check("audit: 3 rows, newest first", ok_ and a.json["entries"][0]["seq"] >
          a.json["entries"][2]["seq"], a)
    changes = [e for e in (a.json or {}).get("entries", []) if e["kind"] in ("alloc", "update")]
    check("audit: the allocations and changes name the key that acted",
          ok_ and changes and all(e["by"] == "apikey:" + key_id(K["l1"]) for e in changes), a)
    if ok_ and a.json["next"] is not None:
        b = api.req("getAudit page", "GET", "/v1/lists/L1/audit?limit=1000&before=%d" %
                    a.json["next"], key=K["l1"])
        kinds = {e["kind"] for e in (b.json or {}).get("entries", [])}
        check("audit: the next page goes on, with the allocations and the update",
              b.status == 200 and {"alloc", "update"} <= kinds and
              all(e["seq"] < a.json["next"] for e in b.json["entries"]), kinds)


def t_refusals(api, K, args, flow):
    s0 = state(api, K["l1"], "L1")
    rv = flow["revoked"][5]
    target = "/v1/lists/L1/allocations"
    cases = [
        ("no key", None, 401, "unauthorized"),
        ("wrong key", K["l1"][:-4] + ("AAAA" if not K["l1"].endswith("AAAA") else "BBBB"),
         401, "unauthorized"),
        ("a key for another list", K["l2"], 403, "forbidden"),
        ("a key without the scope", K["read"], 403, "forbidden"),
        ("an expired key", K["expired"], 401, "unauthorized"),
        ("a revoked key", K["revoked"], 401, "unauthorized"),
    ]
    for name, key, st, cls in cases:
        a = alloc(api, key, "L1", 1, "refused-" + name)
        check("%s: %d %s" % (name, st, cls), a.status == st and a.ptype().endswith(":" + cls), a)
        if st == 401:
            check("%s: WWW-Authenticate: Bearer" % name,
                  a.headers.get("www-authenticate", "").startswith("Bearer"), a.headers)
        if key is not None and a.body:
            check("%s: the problem does not repeat the key" % name, key.encode() not in a.body)
    a = api.req("expired detail", "GET", "/v1/lists/L1", key=K["expired"])
    check("an expired key is told as expired", "expired" in (a.json or {}).get("detail", ""), a)
    # Bodies.
    upd = "/v1/lists/L1/statuses"
    s = socket.create_connection(("127.0.0.1", api.port))
    s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
               (upd, K["l1"], args.max_body + 1)).encode())
    t0 = time.time()
    a = raw_answer(recv_all(s))
    s.close()
    check("Content-Length over the cap: 413 too-large at once",
          a.status == 413 and a.ptype().endswith(":too-large") and time.time() - t0 < 3, a)
    api.spec.validate("too large", "PATCH", upd, a.status, a.headers, a.body)
    # A chunked body past the cap: the connection is cut, nothing applied.
    s = socket.create_connection(("127.0.0.1", api.port))
    s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" %
               (upd, K["l1"])).encode())
    chunk = b"[" + b'{"index":1,"status":0},' * 4000
    cut = False
    sent = 0
    try:
        while sent < args.max_body * 2:
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            chunk = b'{"index":1,"status":0},' * 4000
        s.sendall(b"0\r\n\r\n")
        got = recv_all(s, timeout=5)
        cut = got == b"" or raw_answer(got).status == 413
    except (ConnectionError, OSError):
        cut = True
    s.close()
    check("a chunked body past the cap is cut (or 413)", cut)
    bad_bodies = [
        ("malformed JSON", b'[{"index": 1, "status": ', "application/json", 400, "malformed"),
        ("wrong Content-Type", b'[{"index":1,"status":1}]', "text/html", 415,
         "unsupported-media-type"),
        ("binary garbage", bytes(random.Random(5).getrandbits(8) for _ in range(3000)),
         "application/json", 400, "malformed"),
        ("binary garbage as text", b"\x00\xff\x13garbage\x00" * 50, "text/plain", 400,
         "malformed"),
        ("an index outside the list", b'[{"index":1,"status":1},{"index":99999999,'
         b'"status":1}]', "application/json", 400, "invalid-value"),
        ("a status too large for the bits", b'[{"index":1,"status":7}]',
         "application/json", 400, "invalid-value"),
        ("an unknown member", b'[{"index":1,"status":1,"x":2}]', "application/json", 400,
         "malformed"),
        ("un-revoke without force", json.dumps([{"index": flow["indices"][0], "status": 1},
                                                {"index": rv, "status": "VALID"}]).encode(),
         "application/json", 409, "final-invalid"),
    ]
    for name, body, ct, st, cls in bad_bodies:
        a = api.req(name, "PATCH", upd, key=K["l1"], body=body, ctype=ct)
        check("%s: %d %s" % (name, st, cls), a.status == st and a.ptype().endswith(":" + cls), a)
        if cls == "final-invalid":
            check("un-revoke: the problem names the index", (a.json or {}).get("index") == rv, a)
        if cls == "invalid-value" and "outside" in name:
            check("outside: the problem names the index",
                  (a.json or {}).get("index") == 99999999, a)
    a = api.req("un-revoke one", "PUT", "%s/%d" % (upd, rv), key=K["l1"],
                body={"status": "VALID"})
    check("PUT un-revoke without force: 409 final-invalid",
          a.status == 409 and a.ptype().endswith(":final-invalid"), a)
    for name, body in [("count 0", {"count": 0}), ("count 100001", {"count": 100001}),
                       ("count as text", {"count": "5"})]:
        a = api.req("allocate " + name, "POST", target, key=K["l1"], body=body,
                    headers={"Idempotency-Key": "bad-" + name})
        check("allocation with %s: 400" % name, a.status == 400, a)
    a = api.req("unknown list", "GET", "/v1/lists/NOPE", key=K["all"])
    check("an unknown list: 404 not-found", a.status == 404 and a.ptype().endswith(":not-found"), a)
    a = api.req("method", "DELETE", "/v1/lists/L1", key=K["l1"])
    check("DELETE: 405 with Allow", a.status == 405 and "allow" in a.headers, a)
    check("nothing changed by the refusals", state(api, K["l1"], "L1") == s0,
          (s0, state(api, K["l1"], "L1")))
    # With force, an un-revoke goes through (then revoked again).
    a = api.req("un-revoke force", "PUT", "%s/%d?force=true" % (upd, rv), key=K["l1"],
                body={"status": 0})
    check("PUT un-revoke with force=true: changed 1", a.status == 200 and a.json["changed"] == 1, a)
    a = api.req("re-revoke", "PUT", "%s/%d" % (upd, rv), key=K["l1"], body={"status": "INVALID"})
    check("and revoked again", a.status == 200, a)


def t_slow(api, K, args):
    timeout = args.request_timeout
    hdr = ("PATCH /v1/lists/L1/statuses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" % K["l1"]).encode()

    def slow(first, drip):
        s = socket.create_connection(("127.0.0.1", api.port))
        s.sendall(first)
        t0 = time.time()
        closed = None
        try:
            while time.time() - t0 < timeout + 6:
                s.sendall(drip)
                s.settimeout(0.5)
                try:
                    d = s.recv(4096)
                    if d == b"" or d:
                        closed = time.time() - t0
                        break
                except socket.timeout:
                    pass
        except (ConnectionError, OSError):
            closed = time.time() - t0
        s.close()
        return closed
    res = {}
    th = threading.Thread(target=lambda: res.update(body=slow(hdr, b" ")))
    th.start()
    time.sleep(0.5)
    a = api.req("during slowloris", "GET", "/v1/lists/L1", key=K["l1"])
    check("served while a slowloris body drips", a.status == 200, a)
    th.join()
    check("slowloris body cut within the request deadline (%ds)" % timeout,
          res.get("body") is not None and res["body"] < timeout + 2.5, res)
    t = slow(b"GET /v1/lists HTTP/1.1\r\n", b"X")
    check("slow headers cut within the deadline", t is not None and t < timeout + 2.5, t)
    # A flood: more connections than the listener takes, all silent.
    flood = []
    for _ in range(300):
        try:
            s = socket.create_connection(("127.0.0.1", api.port), timeout=2)
            flood.append(s)
        except OSError:
            pass
    time.sleep(timeout + 1.5)
    check("server alive after the flood", args.server.alive())
    a = api.req("after the flood", "GET", "/v1/lists/L1", key=K["l1"])
    check("a normal request works with the flood's sockets still open", a.status == 200, a)
    for s in flood:
        s.close()
    a = api.req("after the flood closed", "GET", "/v1/lists/L1", key=K["l1"])
    check("and after they close", a.status == 200, a)


def t_secrets(api, K, args, srv):
    texts = {"stderr": srv.text()}
    with open(args.access_log, "rb") as f:
        texts["access log"] = f.read().decode("utf-8", "replace")
    for port, what in ((args.pub_port, "public /metrics"), (api.port, "admin /metrics")):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        texts[what] = r.read().decode()
        c.close()
        check("%s: 200" % what, r.status == 200, r.status)
    check("admin /metrics counts the grouped commits",
          "tsl_admin_commits_total" in texts["admin /metrics"])
    for where, txt in texts.items():
        leaked = [n for n, s in K.items() if s in txt or s[17:] in txt]
        check("no API key in the %s" % where, not leaked, leaked)
        check("no Authorization header in the %s" % where, "Bearer " not in txt)
    kid = key_id(K["l1"])
    # L1's allocations (t_idlist allocates on I1 with another key).
    lines = [ln for ln in texts["access log"].splitlines() if "/L1/allocations" in ln]
    check("the access log names the key that acted",
          lines and all(ln.endswith(" apikey:" + kid) for ln in lines
                        if " 201 " in ln), lines[:3])
    check("the access log has a line for a refused request (no key: -)",
          any(ln.endswith(" 401 " + ln.split()[-3] + " json -") or
              (" 401 " in ln and ln.endswith(" -")) for ln in texts["access log"].splitlines()))


def t_auth_limiter(api, K):
    seen = None
    for k in range(15):
        a = api.req("auth limiter", "GET", "/v1/lists", key="tsl_%012x_%s" % (k, "A" * 43))
        if a.status == 429:
            seen = a
            break
    check("failed authentications are limited: 429 with Retry-After",
          seen is not None and "retry-after" in seen.headers and
          seen.ptype().endswith(":rate-limited"), seen)
    a = api.req("auth limiter good key", "GET", "/v1/lists", key=K["l1"])
    check("while limited, even a good key from that address: 429", a.status == 429, a)


def openssl(*argv, cwd):
    p = subprocess.run(["openssl"] + list(argv), cwd=cwd, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (argv[0], p.stderr.decode()[:300]))


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=tsl test CA", cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem", "-days",
            "2", "-subj", "/CN=another CA", cwd=d)
    for name, ext, ca in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
                           "ca"),
                          ("client", "extendedKeyUsage=clientAuth", "ca"),
                          ("rogue", "extendedKeyUsage=clientAuth", "rogue-ca")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj",
                "/CN=" + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
                ca + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                "-extfile", name + ".ext", cwd=d)
    for f in os.listdir(d):
        if f.endswith(".key"):
            os.chmod(os.path.join(d, f), 0o600)


def t_tls(args, spec, K):
    d = os.path.join(args.dir, "pki")
    make_pki(d)
    p = lambda f: os.path.join(d, f)  # noqa: E731
    ctx = ssl.create_default_context(cafile=p("ca.pem"))
    # HTTPS, and the per-key rate limit on the same server.
    srv = Server(args, args.dir, "tls", ["--admin-listen", "127.0.0.1:0", "--admin-tls-cert",
                                         p("server.pem"), "--admin-tls-key", p("server.key"),
                                         "--admin-rate", "2"])
    if srv.admin:
        api = Api(spec, srv.admin, tls=ctx)
        a = api.req("https listLists", "GET", "/v1/lists", key=K["l1"])
        check("HTTPS with --admin-tls-*: 200", a.status == 200, a)
        try:
            c = http.client.HTTPConnection("127.0.0.1", srv.admin, timeout=5)
            c.request("GET", "/v1/healthz")
            r = c.getresponse()
            plain = r.status
        except (ConnectionError, OSError, http.client.HTTPException):
            plain = None
        check("plain HTTP to the HTTPS listener is not served", plain is None or plain >= 400,
              plain)
        statuses = []
        for _ in range(12):
            a = api.req("rate limited", "GET", "/v1/lists/L1", key=K["l1"])
            statuses.append(a.status)
            if a.status == 429:
                check("per-key rate: 429 with Retry-After", "retry-after" in a.headers and
                      a.ptype().endswith(":rate-limited"), a)
                break
        check("per-key rate limit (--admin-rate 2) reached", 429 in statuses, statuses)
        check("tls server stops with 0", srv.stop() == 0)
    else:
        srv.stop()
    # A key file others may read: refused at start.
    os.chmod(p("server.key"), 0o644)
    srv = Server(args, args.dir, "keymode", ["--admin-listen", "127.0.0.1:0",
                                             "--admin-tls-cert", p("server.pem"),
                                             "--admin-tls-key", p("server.key")],
                 expect_start=False)
    rc = srv.proc.wait(20) if srv.admin is None else srv.stop()
    check("a TLS key readable by others: exit 2 naming the mode",
          rc == 2 and "chmod 600" in srv.text(), (rc, srv.text()[:300]))
    os.chmod(p("server.key"), 0o600)
    # mTLS.
    srv = Server(args, args.dir, "mtls", ["--admin-listen", "127.0.0.1:0", "--admin-tls-cert",
                                          p("server.pem"), "--admin-tls-key", p("server.key"),
                                          "--admin-client-ca", p("ca.pem")])
    if srv.admin:
        a = Api(spec, srv.admin, tls=ctx).req("mtls none", "GET", "/v1/lists", key=K["l1"])
        check("mTLS: no client certificate: 403", a.status == 403, a)
        c2 = ssl.create_default_context(cafile=p("ca.pem"))
        c2.load_cert_chain(p("rogue.pem"), p("rogue.key"))
        try:
            a = Api(spec, srv.admin, tls=c2).req("mtls rogue", "GET", "/v1/lists", key=K["l1"])
            st = a.status
        except (ssl.SSLError, ConnectionError, OSError):
            st = "handshake refused"
        check("mTLS: a certificate of another CA: refused", st in (403, "handshake refused"), st)
        c3 = ssl.create_default_context(cafile=p("ca.pem"))
        c3.load_cert_chain(p("client.pem"), p("client.key"))
        a = Api(spec, srv.admin, tls=c3).req("mtls good", "GET", "/v1/lists", key=K["l1"])
        check("mTLS: a CA-signed client certificate: 200", a.status == 200, a)
        check("mtls server stops with 0", srv.stop() == 0)
    else:
        srv.stop()
    # Options that go together.
    for name, extra in (("cert without key", ["--admin-listen", "127.0.0.1:0",
                                              "--admin-tls-cert", p("server.pem")]),
                        ("client CA without TLS", ["--admin-listen", "127.0.0.1:0",
                                                   "--admin-client-ca", p("ca.pem")]),
                        ("admin options without --admin-listen",
                         ["--admin-tls-cert", p("server.pem"), "--admin-tls-key",
                          p("server.key")]),
                        ("a certificate that is not PEM", ["--admin-listen", "127.0.0.1:0",
                                                           "--admin-tls-cert", p("ca.key.none"),
                                                           "--admin-tls-key", p("server.key")])):
        if "not PEM" in name:
            with open(p("ca.key.none"), "w") as f:
                f.write("not a certificate\n")
        srv = Server(args, args.dir, "opts", extra, expect_start=False)
        rc = srv.proc.wait(20) if srv.admin is None else srv.stop()
        check("%s: exit 2 with a message" % name, rc == 2 and "tsl serve:" in srv.text(),
              (rc, srv.text()[:200]))
    # Not loopback, no TLS.
    srv = Server(args, args.dir, "open", ["--admin-listen", "0.0.0.0:0"], expect_start=False)
    rc = srv.proc.wait(20) if srv.admin is None else srv.stop()
    check("a non-loopback --admin-listen without TLS: exit 2", rc == 2 and
          "loopback" in srv.text(), (rc, srv.text()[:300]))
    srv = Server(args, args.dir, "insecure", ["--admin-listen", "0.0.0.0:0",
                                              "--admin-insecure"])
    check("with --admin-insecure it starts", srv.admin is not None)
    srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tsl", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--list-key", required=True)
    ap.add_argument("--list-jwk", required=True)
    ap.add_argument("--suite", default="admin")
    args = ap.parse_args()
    args.max_body = 1 << 20
    args.request_timeout = 3
    args.access_log = os.path.join(args.dir, "access.log")
    spec = Spec(args.spec)
    try:
        run(args, spec)
    except Exception as e:  # noqa: BLE001 - a crash of the client is one failure
        import traceback
        traceback.print_exc()
        check("the client ran to its end", False, e)
    print("%s: %d passed, %d failed" % (args.suite, PASS, FAIL))
    sys.exit(1 if FAIL else 0)


def run(args, spec):
    uri = "https://example.com/statuslists/1"
    K = {
        "all": make_key(args, None, "all"),
        "l1": make_key(args, "L1", "alloc,update,publish,read"),
        "l2": make_key(args, "L2", "alloc,update,publish,read"),
        "read": make_key(args, "L1", "read"),
        "expired": make_key(args, "L1", "alloc,read", expires="1"),
        "revoked": make_key(args, "L1", "alloc,update,publish,read"),
    }
    tsl(args, "apikey", "revoke", key_id(K["revoked"]))
    p = tsl(args, "apikey", "list", "--json")
    check("apikey list shows no secret", all(s[17:] not in p.stdout.decode()
                                             for s in K.values()))
    srv = Server(args, args.dir, "main", [
        "--admin-listen", "127.0.0.1:0", "--access-log", args.access_log,
        "--admin-max-body", str(args.max_body),
        "--admin-request-timeout", str(args.request_timeout)])
    if not srv.admin:
        srv.stop()
        return
    args.server = srv
    args.pub_port = srv.pub
    api = Api(spec, srv.admin)
    time.sleep(1.2)  # the expired key's second passes
    flow = {}
    t_documents(api, spec)
    t_lists(api, K, args)
    t_flow(api, K, args, uri, flow)
    if flow.get("indices"):
        t_retries(api, K, flow)
        t_concurrent(api, K, flow)
        t_reads(api, K, flow)
        t_refusals(api, K, args, flow)
    t_idlist(api, K, args)
    t_slow(api, K, args)
    t_secrets(api, K, args, srv)
    t_auth_limiter(api, K)
    check("server alive at the end", srv.alive())
    check("SIGTERM: exit 0", srv.stop() == 0, srv.text()[-300:])
    t_tls(args, spec, K)
    for f in sorted(os.listdir(args.dir)):
        if f.startswith("serve-") and f.endswith(".log"):
            with open(os.path.join(args.dir, f), "rb") as fh:
                txt = fh.read().decode("utf-8", "replace")
            check("no API key in %s" % f, not [n for n, s in K.items() if s[17:] in txt])
    missing = sorted("%s %s" % k for k in spec.ops if k not in spec.exercised)
    check("every operation of api/openapi.json answered 2xx at least once", not missing,
          missing)
    print("admin_client: allocation of 10^4 in batches of 100 took %.2f s" %
          flow.get("alloc_s", -1))


if __name__ == "__main__":
    main()
