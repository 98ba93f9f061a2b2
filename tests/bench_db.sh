#!/bin/sh
# bench_db.sh - the issuer store on both backends in one run (issue 12), JSON lines on
# stdout; run by tests/bench.sh (and alone: BENCH_ONLY=db sh tests/bench.sh, or
# sh tests/bench_db.sh BUILD). Starts its own throwaway PostgreSQL cluster through
# tests/pg.sh (stock settings, fsync on) unless TSL_TEST_PG names one, and prints the
# settings it ran with first:
#   {"case":"pg_settings", fsync, synchronous_commit, shared_buffers, server_version}
#   {"case":"pg_connect", ms_average}: what opening a connection costs (pgbench -C)
# Then, for backend sqlite (a file in a temporary directory) and postgresql:
#   store_bulk_update       10^6 random changes in one tsl_store_update() on a 10^8-entry
#                           1-bit list, committed: changes/s (target >= 500,000/s on
#                           PostgreSQL); phase new_chunks and rewrite (tests/bench_store.c)
#   store_alloc_concurrent  4 processes allocating 25,000 indices each, 1,000 per call
#                           (target >= 20,000 indices/s), and 250 each one per call (the
#                           rate of allocation transactions); all checked distinct
#   store_set_e2e           `tsl set` of one index, the whole process, 11 runs: best,
#                           median, worst ms (target <= 20 ms); beside it the median
#                           of `tsl --version`, the cost of starting the program
#   store_set_lib           the same inside one process: open the store, one
#                           tsl_store_update() of one index, close (tests/bench_store.c)
#   serve_propagation       two `tsl serve` on the store; `tsl set` returns (committed),
#                           then the ms until the second server answers with the new
#                           token, 5 runs: best, median, worst (target <= 1,000 ms).
#                           SQLite: the publishers poll (--publish-interval 1);
#                           PostgreSQL: LISTEN/NOTIFY
# BENCH_DB_BACKENDS="sqlite" (or "postgresql") runs one backend only.
set -u

BUILD=${1:-${BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
BENCH=$BUILD/bench
TSL=$BUILD/tsl
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
# shellcheck source=tests/serve_wait.sh
. "$HERE/serve_wait.sh"
# shellcheck source=tests/pg.sh
. "$HERE/pg.sh"
BACKENDS=${BENCH_DB_BACKENDS:-"sqlite postgresql"}

for f in "$BENCH" "$TSL"; do
    [ -x "$f" ] || { echo "bench_db: $f is not built (make bench)" >&2; exit 2; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench-db.XXXXXX") || exit 2
chmod 755 "$T"
S1=""
S2=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for p in $S1 $S2; do kill "$p" 2>/dev/null; done
    pg_stop
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
err() {
    echo "bench_db: $*" >&2
    status=1
}

"$TSL" keygen --alg ES256 --out "$T/key.pem" >/dev/null || { echo "bench_db: keygen failed" >&2; exit 2; }

case " $BACKENDS " in
*" postgresql "*)
    # pg_ensure sets its own EXIT trap: ours (which also stops the cluster) is set again.
    pg_ensure || { echo "bench_db: no PostgreSQL cluster" >&2; exit 2; }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    psql -X -A -t -F ' ' -d "$TSL_TEST_PG" -c \
        "SELECT current_setting('fsync'), current_setting('synchronous_commit'),
                current_setting('shared_buffers'), current_setting('server_version')" \
        >"$T/settings" 2>"$T/psql.err" || err "psql: $(head -c 300 "$T/psql.err")"
    read -r fsync sync shared ver <"$T/settings" || true
    printf '{"case":"pg_settings","fsync":"%s","synchronous_commit":"%s","shared_buffers":"%s","server_version":"%s"}\n' \
        "${fsync:-?}" "${sync:-?}" "${shared:-?}" "${ver:-?}"
    # What a new connection costs on this machine (each tsl command opens one):
    # pgbench -C, 50 connections each running SELECT 1.
    if pgb=$(pg_bin pgbench 2>/dev/null); then
        echo "SELECT 1;" >"$T/select1.sql"
        conn=$("$pgb" -n -C -c 1 -t 50 -f "$T/select1.sql" "$TSL_TEST_PG" 2>/dev/null |
            sed -n 's/^average connection time = \([0-9.]*\) ms$/\1/p')
        printf '{"case":"pg_connect","connections":50,"ms_average":%s}\n' "${conn:-null}"
    fi
    ;;
esac

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ms of `tsl set` end to end, RUNS times: best, median, worst.
set_e2e() {
    backend=$1
    db=$2
    "$TSL" list create e2e --uri https://bench.example/sl/e2e --bits 1 --size 100000000 \
        --key "$T/key.pem" --db "$db" >/dev/null 2>"$T/err" ||
        { err "set_e2e ($backend): $(head -c 300 "$T/err")"; return; }
    "$PY" - "$TSL" "$db" "$backend" <<'EOF' || status=1
import subprocess, sys, time
tsl, db, backend = sys.argv[1:4]
ms = []
for k in range(11):
    t0 = time.monotonic()
    r = subprocess.run([tsl, "set", "e2e", str(k * 7919 + 13), "INVALID", "--db", db])
    ms.append((time.monotonic() - t0) * 1000)
    if r.returncode != 0:
        sys.exit("tsl set exited %d" % r.returncode)
# The same process doing nothing (`tsl --version`): what loading the program and its
# shared libraries costs on this machine, apart from the store.
base = []
for k in range(11):
    t0 = time.monotonic()
    subprocess.run([tsl, "--version"], stdout=subprocess.DEVNULL)
    base.append((time.monotonic() - t0) * 1000)
ms.sort()
base.sort()
print('{"case":"store_set_e2e","backend":"%s","n":100000000,"bits":1,"runs":11,'
      '"ms_best":%.1f,"ms_median":%.1f,"ms_worst":%.1f,"ms_version_median":%.1f}'
      % (backend, ms[0], ms[5], ms[-1], base[5]))
EOF
}

# Two tsl serve on db; after each `tsl set` returns, the ms until the second one
# serves a token of the new statuses.
propagation() {
    backend=$1
    db=$2
    p1=$(free_port) && p2=$(free_port) || { err "propagation: no free port"; return; }
    url=http://127.0.0.1:$p2/sl/prop
    { "$TSL" list create prop --uri "https://bench.example/sl/prop" --bits 1 --size 1000000 \
        --lifetime 86400 --key "$T/key.pem" --db "$db" &&
        "$TSL" publish prop --db "$db"; } >/dev/null 2>"$T/err" ||
        { err "propagation ($backend): $(head -c 300 "$T/err")"; return; }
    serve_bg "$T/s1.log" --db "$db" --listen "127.0.0.1:$p1" --publish-interval 1 &&
        S1=$SERVE_PID
    serve_bg "$T/s2.log" --db "$db" --listen "127.0.0.1:$p2" --publish-interval 1 &&
        S2=$SERVE_PID
    if [ -z "$S1" ] || [ -z "$S2" ]; then
        err "propagation ($backend): tsl serve did not start: $(cat "$T/s1.log" "$T/s2.log" | head -c 400)"
    else
        "$PY" - "$TSL" "$db" "$backend" "$url" <<'EOF' || status=1
import subprocess, sys, time, urllib.request
tsl, db, backend, url = sys.argv[1:5]
errors = []
def body():
    req = urllib.request.Request(url, headers={"Accept": "application/statuslist+jwt"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()
    except Exception as e:
        errors.append(str(e)[:80])
        return None
# Wait until the second server serves the list at all.
t = time.monotonic()
while body() is None:
    if time.monotonic() - t > 10:
        sys.exit("the second tsl serve never served the list")
    time.sleep(0.05)
ms = []
for k in range(5):
    before = body()
    r = subprocess.run([tsl, "set", "prop", str(1000 + k), "INVALID", "--db", db])
    t0 = time.monotonic()
    if r.returncode != 0:
        sys.exit("tsl set exited %d" % r.returncode)
    while True:
        now = body()
        if now is not None and now != before:
            break
        if time.monotonic() - t0 > 30:
            sys.exit("no new token within 30 s")
        time.sleep(0.005)
    ms.append((time.monotonic() - t0) * 1000)
    time.sleep(1.2)  # the next change starts from a quiet state
runs = ",".join("%.0f" % m for m in ms)
ms.sort()
print('{"case":"serve_propagation","backend":"%s","servers":2,"runs":5,'
      '"ms_best":%.0f,"ms_median":%.0f,"ms_worst":%.0f,"ms_each":[%s],"poll_errors":%d}'
      % (backend, ms[0], ms[2], ms[-1], runs, len(errors)))
if errors:
    sys.stderr.write("bench_db: propagation: %d failed polls, first: %s\n" % (len(errors), errors[0]))
EOF
    fi
    for p in $S1 $S2; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    S1=""
    S2=""
}

for backend in $BACKENDS; do
    case $backend in
    sqlite) db=$T/bench.db ;;
    postgresql) db=$TSL_TEST_PG ;;
    *) err "unknown backend $backend"; continue ;;
    esac
    # First, while the store holds no large list: a publisher signs every list of its
    # store, and its first round would sign the 10^8-entry lists of the other cases.
    propagation "$backend" "$db"
    "$BENCH" store_bulk 100000000 1 "$db" "$T/key.pem" 1000000 || err "store_bulk ($backend) failed"
    "$BENCH" store_alloc 1000000 1 "$db" "$T/key.pem" 4 25000 1000 || err "store_alloc ($backend) failed"
    "$BENCH" store_alloc 1000000 1 "$db" "$T/key.pem" 4 250 1 || err "store_alloc 1 ($backend) failed"
    set_e2e "$backend" "$db"
    "$BENCH" store_set 100000000 1 "$db" "$T/key.pem" || err "store_set ($backend) failed"
done
exit $status
