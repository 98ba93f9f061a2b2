# propagate.py MODE ...: the timing side of tests/pg_serve.sh, tests/incr.sh,
# tests/bench_incr.sh and tests/bench_propagate.sh (a change committed, then seen served
# over HTTP).
#   latency TSL DB ID IDX URL...  runs `tsl set ID IDX INVALID`, then GETs each URL every
#       10 ms until its JWT has entry IDX set; prints the seconds from the start of the
#       command to that for each URL, or "timeout" after 10 s, then "set=S", the seconds
#       until the command had exited (its change committed a few ms before: what follows
#       is the server's pickup).
#   latency-api ADMIN_URL ID IDX URL...  the same for a change made through the issuer
#       API of the server that publishes (`tsl serve --admin-listen`, ADMIN_URL its base,
#       http://127.0.0.1:PORT): one PUT ADMIN_URL/v1/lists/ID/statuses/IDX {"status":1}
#       on a kept-alive connection, the API key (scopes update and read) from the
#       environment, TSL_API_KEY or else the file named by TSL_API_KEY_FILE (never argv:
#       a secret). Before the clock starts, the connection is opened and warmed by a
#       GET of entry IDX's status, which must be VALID (an entry already set would
#       change nothing and never be served anew): else it prints "already-set" and
#       exits 3. Then the clock starts just before the PUT is sent, and the URLs are
#       polled as in latency. Prints the seconds for each URL as latency does, then
#       "put=S", the seconds until the PUT was answered (committed: where the rest of
#       the time goes is the server's publishing and serving).
#   poll URL OUT STOPFILE  GETs URL every 50 ms until STOPFILE exists, one line
#       "UNIX_TIME STATUS" per request in OUT (000 when the connection failed).
#
# How latency polls, and why it is a fair measurement: as a CDN or a cache in front of
# the server does. Before the command starts, each URL is fetched once and its ETag
# kept (what a cache holds already). Then each poll is a conditional GET
# (If-None-Match: that ETag) on a kept-alive connection: while the server still serves
# the old token it answers 304 with no body, and the poller neither downloads nor
# parses 2.4 MB (a 10^8-entry list's JWT) every 10 ms on the same 2-core machine as the
# server it measures. When a 200 comes, the time is taken when its whole body has
# arrived, and only then is the token checked: it must carry entry IDX set, else (a
# token of another change, a re-sign) its ETag is kept and polling goes on. So the
# figure is still from the start of `tsl set` until the server has answered the changed
# token in full, and the check that the token served has the bit set stays; what is
# left out is the poller's own decoding after the answer. An older poller GET the whole
# token without validators and parsed each in Python, which competed with the server
# for the CPU (BENCHMARKS.md, "Issue 15").
import base64, http.client, json, os, subprocess, sys, time, urllib.parse, zlib

JWT = "application/statuslist+jwt"


def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Poller:
    """One URL, one kept-alive connection, conditional GETs."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.conn = None
        self.etag = None

    def get(self, conditional=True):
        """(status, body); status 0 when the connection failed (it is reopened)."""
        headers = {"Accept": JWT}
        if conditional and self.etag is not None:
            headers["If-None-Match"] = self.etag
        for attempt in range(2):  # a kept-alive connection the server closed: once more
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
                self.conn.request("GET", self.path, headers=headers)
                r = self.conn.getresponse()
                body = r.read()
                if r.status == 200 and r.getheader("ETag"):
                    self.etag = r.getheader("ETag")
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, body
            except Exception:
                self.close()
        return 0, b""

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def get(url):
    p = Poller(url)
    try:
        return p.get(conditional=False)
    finally:
        p.close()


def bit(token, idx):
    claims = json.loads(b64(token.decode().split(".")[1]))
    # Only as far as the byte of idx: a 10^8-entry list inflates to 12.5 MB.
    lst = zlib.decompressobj().decompress(b64(claims["status_list"]["lst"]), idx // 8 + 1)
    return (lst[idx // 8] >> (idx % 8)) & 1


def wait_for(pollers, idx, t0):
    """Polls every URL every 10 ms until its answer holds entry idx set (at most 10 s
    from t0): {url: seconds from t0 until that answer had arrived whole}. Closes the
    pollers."""
    done = {}
    while len(done) < len(pollers) and time.time() - t0 < 10:
        for u, p in pollers.items():
            if u in done:
                continue
            st, body = p.get()
            t = time.time() - t0  # the answer has arrived whole
            if st == 200 and bit(body, idx) == 1:
                done[u] = t
        time.sleep(0.01)
    for p in pollers.values():
        p.close()
    return done


mode = sys.argv[1]
if mode == "latency":
    tsl, db, lid, idx, urls = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]
    pollers = {u: Poller(u) for u in urls}
    for p in pollers.values():  # what a cache holds before the change (not timed)
        p.get(conditional=False)
    t0 = time.time()
    for attempt in range(100):  # the server may still be starting after a restart
        rc = subprocess.run([tsl, "set", lid, str(idx), "INVALID", "--db", db],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if rc.returncode == 0:
            break
        time.sleep(0.05)
    else:
        print("set-failed", rc.stderr.decode()[:200].replace("\n", "|"))
        sys.exit(1)
    tset = time.time() - t0
    done = wait_for(pollers, idx, t0)
    print(" ".join(["%.3f" % done[u] if u in done else "timeout" for u in urls] +
                   ["set=%.3f" % tset]))
elif mode == "latency-api":
    admin, lid, idx, urls = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    key = os.environ.get("TSL_API_KEY")
    if not key:
        with open(os.environ["TSL_API_KEY_FILE"]) as f:
            key = f.read().strip()
    a = urllib.parse.urlsplit(admin)
    base = "/v1/lists/" + urllib.parse.quote(lid, safe="")
    auth = {"Authorization": "Bearer " + key}
    conn = http.client.HTTPConnection(a.hostname, a.port or 80, timeout=10)
    # Not timed: the connection opened (what a client keeps between changes), and entry
    # idx read, which must be VALID for the change to make a new token.
    conn.request("GET", base + "/statuses?idx=%d" % idx, headers=auth)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        print("read-failed", r.status, body[:200].decode(errors="replace").replace("\n", "|"))
        sys.exit(1)
    if json.loads(body)["statuses"][0]["status"] != 0:
        print("already-set")
        sys.exit(3)
    pollers = {u: Poller(u) for u in urls}
    for p in pollers.values():  # what a cache holds before the change (not timed)
        p.get(conditional=False)
    req = json.dumps({"status": 1}).encode()
    t0 = time.time()
    conn.request("PUT", base + "/statuses/%d" % idx, body=req,
                 headers=dict(auth, **{"Content-Type": "application/json"}))
    r = conn.getresponse()
    body = r.read()
    tput = time.time() - t0
    if r.status != 200:
        print("put-failed", r.status, body[:200].decode(errors="replace").replace("\n", "|"))
        sys.exit(1)
    done = wait_for(pollers, idx, t0)
    conn.close()
    print(" ".join(["%.3f" % done[u] if u in done else "timeout" for u in urls] +
                   ["put=%.3f" % tput]))
elif mode == "poll":
    url, out, stop = sys.argv[2], sys.argv[3], sys.argv[4]
    with open(out, "w") as f:
        while not os.path.exists(stop):
            st, _ = get(url)
            f.write("%.3f %03d\n" % (time.time(), st))
            f.flush()
            time.sleep(0.05)
