#!/bin/sh
# systemd.sh - the systemd units (systemd/tsl.service, systemd/tsl@.service) and the
# readiness protocol of tsl serve, without a running systemd (CI machines and
# containers have none as PID 1):
#   1. `systemd-analyze verify` accepts both units (ExecStart pointed at the built tsl);
#   2. the hardening block is the same in both, and holds what the README promises (own
#      user, read-only system, writable only the state directory, no new privileges,
#      system call and address family filters, Type=notify);
#   3. `systemd-analyze security --offline` rates tsl.service at most 2.0 (the README
#      records the score);
#   4. tsl serve speaks sd_notify: READY=1 once its listener answers, STOPPING=1 on
#      SIGTERM, exit 0 (tests/notify_check.py);
#   5. a server session traced with strace (start, publishing, token, /healthz,
#      /metrics, SIGTERM; run as an unprivileged user, as the unit runs it) makes no
#      system call the unit's SystemCallFilter refuses and opens no socket family its
#      RestrictAddressFamilies refuses (tests/syscall_check.py).
# Usage: sh tests/systemd.sh BUILD_DIR. Closing line "systemd: N passed, N failed".
BUILD=${1:-build}
SUITE=systemd
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3
TSL=$(cd "$BUILD" && pwd)/tsl
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-systemd.XXXXXX") || exit 2
SPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
check() {
    if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi
}
for tool in systemd-analyze strace curl; do
    command -v $tool >/dev/null 2>&1
    check "$tool is not installed (scripts/deps.sh installs it)" $?
done

# 1. verify, with the units' ExecStart on the built binary.
for u in tsl.service tsl@.service; do
    sed "s|^ExecStart=/usr/bin/tsl |ExecStart=$TSL |" "systemd/$u" >"$T/$u"
done
(cd "$T" && systemd-analyze verify --man=no tsl.service tsl@.service) >"$T/verify" 2>&1
check "systemd-analyze verify: $(head -5 "$T/verify")" $?
[ ! -s "$T/verify" ]
check "systemd-analyze verify says: $(head -5 "$T/verify")" $?

# 2. the hardening block, and what it must hold.
hardening() { sed -n '/^# --- hardening/,/^# --- end of hardening/p' "$1" | sed 1d; }
hardening systemd/tsl.service >"$T/h1"
hardening systemd/tsl@.service >"$T/h2"
cmp -s "$T/h1" "$T/h2"
check "the hardening of tsl.service and tsl@.service differs: $(diff "$T/h1" "$T/h2" | head -5)" $?
for u in systemd/tsl.service systemd/tsl@.service; do
    for d in Type=notify NotifyAccess=main User=tsl ProtectSystem=strict ProtectHome=yes \
        NoNewPrivileges=yes CapabilityBoundingSet= PrivateDevices=yes PrivateTmp=yes \
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service \
        SystemCallArchitectures=native MemoryDenyWriteExecute=yes 'StateDirectory=tsl'; do
        grep -q "^$d" "$u"
        check "$u lacks $d" $?
    done
    # Writable: the state directory only.
    ! grep -Eq '^(ReadWritePaths|LogsDirectory|CacheDirectory|RuntimeDirectory)=' "$u"
    check "$u makes a directory other than its state directory writable" $?
done

# 3. the exposure score.
systemd-analyze security --offline=true --no-pager "$T/tsl.service" >"$T/security" 2>&1
score=$(sed -n 's/.*Overall exposure level for tsl.service: \([0-9.]*\).*/\1/p' "$T/security")
note "systemd-analyze security tsl.service: ${score:-?} (0 is best, 10 worst)"
[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
check "exposure level of tsl.service over 2.0: '$score' $(tail -3 "$T/security")" $?

# The store the servers below serve, owned by the user they run as: as root, an
# unprivileged one (nobody), as the unit runs tsl serve as the user tsl.
AS=""
if [ "$(id -u)" -eq 0 ]; then
    chown 65534:65534 "$T"
    AS="setpriv --reuid=65534 --regid=65534 --clear-groups --"
fi
$AS "$TSL" keygen --alg ES256 --out "$T/k.pem" >/dev/null 2>"$T/err" &&
    $AS "$TSL" list create L --uri https://example.com/statuslists/1 --bits 1 --size 1000 \
        --key "$T/k.pem" --db "$T/tsl.db" >/dev/null 2>>"$T/err"
check "a store: $(head -3 "$T/err")" $?

# 4. sd_notify.
$AS "$PY" tests/notify_check.py "$TSL" "$T/tsl.db" >"$T/notify" 2>&1
check "notify_check.py: $(grep FAIL "$T/notify" | head -5)" $?
cat "$T/notify"

# 5. the system calls of a session.
start_traced() {
    $AS strace -f -qq -o "$T/trace" "$TSL" serve --db "$T/tsl.db" --listen 127.0.0.1:0 \
        --listen '[::1]:0' 2>"$T/serve.err" &
    SPID=$!
    n=0
    while [ $n -lt 100 ] && ! grep -q 'listening on \[' "$T/serve.err"; do
        sleep 0.1
        n=$((n + 1))
    done
}
start_traced
# Once, in a full make test on a loaded machine, libmicrohttpd aborted at start under
# strace ("Failed to remove listen FD from epoll set"); it never did without strace,
# nor in this script alone. This part is about the calls made, so it starts again once,
# and says so.
if grep -q 'Fatal error in GNU libmicrohttpd' "$T/serve.err"; then
    echo "systemd: libmicrohttpd aborted under strace ($(head -1 "$T/serve.err")): once more"
    wait "$SPID" 2>/dev/null
    start_traced
fi
port=$(sed -n 's/^tsl serve: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/serve.err")
[ -n "$port" ]
check "tsl serve under strace listens: $(head -3 "$T/serve.err")" $?
# The first publishing round signs the list in the background: wait for its token.
code=""
n=0
while [ $n -lt 50 ] && [ "$code" != 200 ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/statuslists/1")
    [ "$code" = 200 ] || sleep 0.1
    n=$((n + 1))
done
same "GET the token under strace" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
same "GET /healthz under strace" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
same "GET /metrics under strace" "$code" 200
$AS "$TSL" set L 7 INVALID --db "$T/tsl.db" >/dev/null 2>&1
check "tsl set while serving" $?
sleep 1.5 # a publishing round re-signs the changed list
# SIGTERM to the server (strace's child), not to strace.
tpid=$(pgrep -P "$SPID" -x tsl | head -n 1)
[ -n "$tpid" ] && kill -TERM "$tpid"
wait "$SPID"
SPID=""
grep -q 'SIGTERM, finishing requests in flight' "$T/serve.err"
check "tsl serve under strace drained on SIGTERM: $(tail -2 "$T/serve.err")" $?
"$PY" tests/syscall_check.py systemd/tsl.service "$T/trace" >"$T/sys" 2>&1
check "syscall_check.py: $(grep FAIL "$T/sys" | head -5)" $?
cat "$T/sys"
finish
