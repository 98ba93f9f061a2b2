"""notify_check.py - runs `tsl serve` as systemd would run a Type=notify unit, with
NOTIFY_SOCKET set to an abstract datagram socket of this process, and checks the
protocol (tests/systemd.sh runs it):
  - READY=1 arrives, with STATUS=listening on ADDR naming the bound port, and when it
    arrives the server already answers HTTP there (readiness means the listener is up);
  - after SIGTERM, STOPPING=1 arrives and the server exits 0 (the drain, as before);
  - no datagram but these two.
Usage: /usr/bin/python3 tests/notify_check.py TSL DB. Closing line
"notify: N passed, N failed"."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

tsl, db = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL " + what, file=sys.stderr)


name = "tsl-test-notify-%d" % os.getpid()
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + name)
sock.settimeout(15)
env = dict(os.environ, NOTIFY_SOCKET="@" + name)
p = subprocess.Popen([tsl, "serve", "--db", db, "--listen", "127.0.0.1:0"], env=env,
                     stderr=subprocess.PIPE, text=True)
try:
    try:
        msg = sock.recv(4096).decode()
    except socket.timeout:
        msg = ""
    check(msg.startswith("READY=1\n"), "first datagram is READY=1: %r" % msg)
    m = re.search(r"^STATUS=listening on 127\.0\.0\.1:(\d+)$", msg, re.M)
    check(m is not None and int(m.group(1)) > 0, "STATUS names the bound port: %r" % msg)
    if m:
        # At once, no retry: the listener must already be up.
        c = socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=5)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.close()
        check(data.startswith(b"HTTP/1.1 "), "an HTTP answer right after READY=1: %r" % data[:40])
    p.send_signal(signal.SIGTERM)
    try:
        msg = sock.recv(4096).decode()
    except socket.timeout:
        msg = ""
    check(msg.startswith("STOPPING=1"), "STOPPING=1 after SIGTERM: %r" % msg)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, "tsl serve exits 0 after SIGTERM (exit %r)" % rc)
    sock.settimeout(0.2)
    try:
        extra = sock.recv(4096)
    except socket.timeout:
        extra = None
    check(extra is None, "no datagram after STOPPING=1: %r" % extra)
    err = p.stderr.read()
    check("cannot notify" not in err, "no notify error on stderr: %r" % err[-300:])
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
print("notify: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
