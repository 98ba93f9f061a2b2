# serve_attack.py - the attack and measuring clients of tests/serve_attack.sh, over
# loopback only, each bounded in connections and time and stopping by itself.
#
#   flood HOST PORT SRC IDLE SLOW SECONDS BYTE_EVERY
#       From SRC (an address, or A.B.C.D+N for N consecutive ones used in turn),
#       holds IDLE connections that send nothing and SLOW connections that send a
#       request line and then one header byte every BYTE_EVERY seconds, never ending
#       the head (slowloris). Connections the server closes are opened again
#       once a second, as an attacker would. Stops after SECONDS or at SIGTERM; prints
#       a JSON summary.
#   legit HOST PORT SRC SECONDS INTERVAL PATH
#       From SRC, one GET of PATH every INTERVAL seconds for SECONDS, each on a new
#       connection (the case a flood hurts most); success is a 200 with the whole body
#       within 2 s. Prints {"n", "ok", "p50_ms", "p99_ms", "max_ms", "fail"}.
#   raw HOST PORT CASE
#       Sends one crafted request and reads until the server closes (5 s at most).
#       Prints "STATUS N EXTRA": the status code of the first status line, the number
#       of status lines in the whole answer, and the bytes after the body that its
#       Content-Length announced; "none" when nothing came back.
#   hold HOST PORT SRC N SECONDS
#       Opens N connections from SRC (0.1 s apart) that send nothing, then for SECONDS
#       reports when each is closed by the server. Prints one line per connection:
#       "IDX open" or "IDX closed AFTER_S" (seconds since the connection was made).
#   trickle HOST PORT SRC EVERY SECONDS
#       One connection sending a never-ending head, one byte every EVERY seconds;
#       prints "closed AFTER_S" when the server closes it or "open" after SECONDS.
#   idle_after HOST PORT SRC SECONDS
#       One request on a keep-alive connection, then nothing; prints "closed AFTER_S"
#       (seconds after the answer) when the server closes it, or "open".
#   keepalive HOST PORT CASE
#       A valid first request, then a crafted second one on the same connection;
#       prints the two answers as raw does ("STATUS N EXTRA / STATUS N EXTRA").
import json
import selectors
import signal
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the source port at connect()


def connect_from(src, host, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def read_all(s, limit):
    """Everything until the server closes, an error, or limit seconds."""
    buf = b""
    end = time.monotonic() + limit
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return buf, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except OSError:
            return buf, "reset"
        if not chunk:
            return buf, "eof"
        buf += chunk


def parse_answer(buf):
    """(status, status lines, extra bytes) of one HTTP/1.1 answer, exactly."""
    if not buf:
        return None
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return ("nohead", buf.count(b"HTTP/1."), len(buf))
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split(b" ")[1])
    except (IndexError, ValueError):
        status = "bad"
    clen = None
    for ln in lines[1:]:
        name, _, value = ln.partition(b":")
        if name.strip().lower() == b"content-length":
            clen = int(value.strip())
    body = rest if clen is None else rest[:clen]
    extra = 0 if clen is None else len(rest) - clen
    nstatus = sum(1 for ln in buf.split(b"\r\n") if ln.startswith(b"HTTP/1."))
    return (status, nstatus, extra, body)


H = b"GET /statuslists/1 HTTP/1.1\r\nHost: x\r\n"
CASES = {
    "ok": H + b"Connection: close\r\n\r\n",
    "nohost": b"GET /statuslists/1 HTTP/1.1\r\nConnection: close\r\n\r\n",
    "nohost10": b"GET /statuslists/1 HTTP/1.0\r\n\r\n",
    "twohost": H + b"Host: y\r\nConnection: close\r\n\r\n",
    "twocl": H + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "badcl": H + b"Content-Length: abc\r\n\r\n",
    "listcl": H + b"Content-Length: 1, 2\r\n\r\nab",
    "hugecl": H + b"Content-Length: 99999999999999999999999\r\n\r\n",
    "bigcl": H + b"Content-Length: 100000\r\n\r\n",
    "clte": H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "tegzip": H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "fold": H + b"X-A: b\r\n continued\r\n\r\n",
    "spacecolon": H + b"Accept : */*\r\n\r\n",
    "chunked_small": H + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    + b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n",
    "chunked_big": H + b"Transfer-Encoding: chunked\r\n\r\n"
    + (b"1000\r\n" + b"a" * 4096 + b"\r\n") * 20 + b"0\r\n\r\n",
    "bighead": H + b"X-Big: " + b"a" * 100000 + b"\r\n\r\n",
}


def cmd_raw(host, port, case):
    s = connect_from("127.0.0.1", host, port, 5)
    try:
        s.sendall(CASES[case])
    except OSError:
        pass  # the server may answer and close before reading everything
    buf, _ = read_all(s, 5)
    s.close()
    a = parse_answer(buf)
    print("none" if a is None else "%s %d %d" % a[:3])


def read_one(s):
    """Exactly one answer on a kept-alive connection: its head and body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    clen = 0
    for ln in head.split(b"\r\n")[1:]:
        name, _, value = ln.partition(b":")
        if name.strip().lower() == b"content-length":
            clen = int(value.strip())
    while len(rest) < clen:
        rest += s.recv(65536)
    return parse_answer(head + b"\r\n\r\n" + rest[:clen])


def cmd_keepalive(host, port, case):
    s = connect_from("127.0.0.1", host, port, 5)
    s.sendall(H + b"\r\n")
    first = read_one(s)
    try:
        s.sendall(CASES[case])
    except OSError:
        pass
    buf, _ = read_all(s, 5)
    s.close()
    second = parse_answer(buf)
    print("%s %d %d / %s" % (first[:3] + (("none",) if second is None else
                                          ("%s %d %d" % second[:3],))))


def cmd_idle_after(host, port, src, seconds):
    s = connect_from(src, host, port, 5)
    s.sendall(H + b"\r\n")
    read_one(s)
    t0 = time.monotonic()
    _, how = read_all(s, seconds)
    print("open" if how == "timeout" else "closed %.2f" % (time.monotonic() - t0))


def cmd_legit(host, port, src, seconds, interval, path):
    req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Accept: application/statuslist+jwt\r\nConnection: close\r\n\r\n")
    lat, fail = [], {}
    t_end = time.monotonic() + seconds
    nxt = time.monotonic()
    n = 0
    while time.monotonic() < t_end:
        now = time.monotonic()
        if now < nxt:
            time.sleep(nxt - now)
        nxt += interval
        n += 1
        t0 = time.monotonic()
        why = None
        try:
            s = connect_from(src, host, port, 2)
            s.sendall(req)
            buf, how = read_all(s, 2 - (time.monotonic() - t0))
            s.close()
            a = parse_answer(buf)
            if a is None:
                why = "no answer (%s)" % how
            elif a[0] != 200:
                why = "status %s" % a[0]
            elif a[2] != 0 or len(a[3]) == 0:
                why = "short body"
        except OSError as e:
            why = type(e).__name__
        dt = time.monotonic() - t0
        if why is None:
            lat.append(dt)
        else:
            fail[why] = fail.get(why, 0) + 1
    ok = len(lat)
    # Failed requests count as slow as the timeout for the percentiles.
    allv = sorted(lat + [2.0] * (n - ok))

    def pct(p):
        return round(1000 * allv[min(len(allv) - 1, int(p * len(allv)))], 1) if allv else 0

    print(json.dumps({"n": n, "ok": ok, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                      "max_ms": pct(1.0), "fail": fail}))


def cmd_flood(host, port, src, n_idle, n_slow, seconds, byte_every):
    sel = selectors.DefaultSelector()
    slots = [None] * (n_idle + n_slow)  # socket or None
    stats = {"opened": 0, "closed_by_server": 0, "open_failed": 0, "max_held": 0}
    t_end = time.monotonic() + seconds
    next_top = 0.0
    next_byte = time.monotonic() + byte_every
    start = b"GET /statuslists/1 HTTP/1.1\r\nHost: x\r\nX-Slow: "
    base, _, count = src.partition("+")
    first = int.from_bytes(socket.inet_aton(base), "big")
    srcs = [socket.inet_ntoa((first + k).to_bytes(4, "big")) for k in range(int(count or 1))]

    def open_slot(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((srcs[i % len(srcs)], 0))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            stats["open_failed"] += 1
            return
        slots[i] = s
        stats["opened"] += 1
        sel.register(s, selectors.EVENT_READ, i)
        if i >= n_idle:
            try:
                s.send(start)  # may fail while connecting; sent again below
            except OSError:
                pass

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))  # ends early, with a summary
    while not stop:
        now = time.monotonic()
        if now >= t_end:
            break
        if now >= next_top:
            for i in range(len(slots)):
                if slots[i] is None:
                    open_slot(i)
            next_top = now + 1.0
        if now >= next_byte:
            for i in range(n_idle, len(slots)):
                if slots[i] is not None:
                    try:
                        slots[i].send(b"b")
                    except OSError:
                        pass
            next_byte = now + byte_every
        for key, _ in sel.select(timeout=0.1):
            i = key.data
            s = slots[i]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                slots[i] = None
                stats["closed_by_server"] += 1
        stats["max_held"] = max(stats["max_held"], sum(1 for x in slots if x is not None))
    for s in slots:
        if s is not None:
            s.close()
    print(json.dumps(stats))


def cmd_hold(host, port, src, n, seconds):
    socks, t_made, closed = [], [], {}
    for _ in range(n):
        try:
            s = connect_from(src, host, port, 2)
        except OSError:
            s = None
        socks.append(s)
        t_made.append(time.monotonic())
        time.sleep(0.1)
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        if s is None:
            closed[i] = 0.0
        else:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end and len(closed) < n:
        for key, _ in sel.select(timeout=0.05):
            i = key.data
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed[i] = time.monotonic() - t_made[i]
                sel.unregister(key.fileobj)
    for i in range(n):
        print("%d closed %.2f" % (i, closed[i]) if i in closed else "%d open" % i)
    for s in socks:
        if s is not None:
            s.close()


def cmd_trickle(host, port, src, every, seconds):
    s = connect_from(src, host, port, 2)
    t0 = time.monotonic()
    s.sendall(b"GET /statuslists/1 HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(every)
    while time.monotonic() - t0 < seconds:
        try:
            data = s.recv(4096)
            if not data:
                print("closed %.2f" % (time.monotonic() - t0))
                return
            print("answered %.2f %r" % (time.monotonic() - t0, data[:40]))
            return
        except socket.timeout:
            pass
        except OSError:
            print("closed %.2f" % (time.monotonic() - t0))
            return
        try:
            s.send(b"x")
        except OSError:
            print("closed %.2f" % (time.monotonic() - t0))
            return
    print("open")


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit("usage: serve_attack.py flood|legit|raw|hold|trickle|idle_after|keepalive ...")
    cmd, host, port = a[0], a[1], int(a[2])
    if cmd == "raw":
        cmd_raw(host, port, a[3])
    elif cmd == "idle_after":
        cmd_idle_after(host, port, a[3], float(a[4]))
    elif cmd == "keepalive":
        cmd_keepalive(host, port, a[3])
    elif cmd == "legit":
        cmd_legit(host, port, a[3], float(a[4]), float(a[5]), a[6])
    elif cmd == "flood":
        cmd_flood(host, port, a[3], int(a[4]), int(a[5]), float(a[6]), float(a[7]))
    elif cmd == "hold":
        cmd_hold(host, port, a[3], int(a[4]), float(a[5]))
    elif cmd == "trickle":
        cmd_trickle(host, port, a[3], float(a[4]), float(a[5]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
