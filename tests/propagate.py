# propagate.py MODE ...: the timing side of tests/pg_serve.sh and
# tests/bench_propagate.sh (a change committed, then seen served over HTTP).
#   latency TSL DB ID IDX URL...  runs `tsl set ID IDX INVALID`, then GETs each URL every
#       10 ms until its JWT has entry IDX set; prints the seconds from the start of the
#       command to that for each URL, or "timeout" after 10 s.
#   poll URL OUT STOPFILE  GETs URL every 50 ms until STOPFILE exists, one line
#       "UNIX_TIME STATUS" per request in OUT (000 when the connection failed).
import base64, json, os, subprocess, sys, time, urllib.request, urllib.error, zlib

def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def get(url, accept="application/statuslist+jwt"):
    rq = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(rq, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception:
        return 0, b""

def bit(token, idx):
    claims = json.loads(b64(token.decode().split(".")[1]))
    # Only as far as the byte of idx: a 10^8-entry list inflates to 12.5 MB, which the
    # poller would otherwise do every 10 ms beside the server it measures.
    lst = zlib.decompressobj().decompress(b64(claims["status_list"]["lst"]), idx // 8 + 1)
    return (lst[idx // 8] >> (idx % 8)) & 1

mode = sys.argv[1]
if mode == "latency":
    tsl, db, lid, idx, urls = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]
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
    done = {}
    while len(done) < len(urls) and time.time() - t0 < 10:
        for u in urls:
            if u in done:
                continue
            st, body = get(u)
            if st == 200 and bit(body, idx) == 1:
                done[u] = time.time() - t0
        time.sleep(0.01)
    print(" ".join("%.3f" % done[u] if u in done else "timeout" for u in urls))
elif mode == "poll":
    url, out, stop = sys.argv[2], sys.argv[3], sys.argv[4]
    with open(out, "w") as f:
        while not os.path.exists(stop):
            st, _ = get(url)
            f.write("%.3f %03d\n" % (time.time(), st))
            f.flush()
            time.sleep(0.05)