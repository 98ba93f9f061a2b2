#!/bin/sh
# store_race.sh - the issuer store's write paths under concurrency (issue 10):
#
#  - publish races (item 7): a `tsl publish` is stopped (SIGSTOP) once it has read its
#    snapshot of a 4 x 10^7-entry list, a `tsl set ... INVALID` commits, a second publish
#    records, and the first is resumed (SIGCONT): the newest token must still carry
#    the revocation, the stale token must not be recorded (one token row, counted
#    with sqlite3), and the first publish says it was not recorded. Also: a token of
#    newer statuses with an earlier iat is still made the newest; three concurrent
#    publishes of one version in one second record one row per form.
#  - ranged updates (item 10): 1,000 full-range lines on a 10^7-entry list cost about
#    what one full-range line costs (the ratio of the two times is bounded), and a
#    `tsl alloc` started during such an update is not held up for longer than a
#    single-line update takes (a ratio again, so a loaded machine does not fail it).
#  - update input (item 23): a UTF-8 byte order mark at the start of an update file
#    is ignored; one on a later line is refused and named.
#
# Usage: sh tests/store_race.sh [BUILD_DIR]   (default build; run from the project root)
# Needs the sqlite3 CLI and /usr/bin/python3. Every background process is waited for;
# the whole part takes about 30 s. Closing line: "store_race: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=store_race
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3

if [ ! -x "$TSL" ]; then
    echo "store_race: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-race.XXXXXX") || exit 2
# A stopped publish must never outlive the test.
stopped=""
cleanup() {
    for _p in $stopped; do
        kill -CONT "$_p" 2>/dev/null
        kill "$_p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 2' INT TERM
DB=$T/tsl.db
unset TSL_DB

check() {
    if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi
}
# Milliseconds since the epoch (GNU date).
now_ms() { date +%s%3N; }
# decode_at TOKENFILE URI IDX: the status at IDX of a verified token, "IDX<TAB>VALUE".
decode_at() {
    "$TSL" decode --key "$T/k.pub.jwk" --uri "$2" --index "$3" "$1" 2>>"$T/err"
}

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/k.pub.jwk" 2>"$T/err"
check "keygen: $(errline)" $?

# ---------------------------------------------------------------------------------- #
# Item 7: a publish that read its snapshot before a revocation records last.

N=40000000
NBYTES=$((N / 8))
URI_R=https://example.com/race/r
t list create R --uri "$URI_R" --bits 1 --size $N --key "$T/k.pem" --db "$DB"
expect_rc "list create R (4 x 10^7 entries)" 0
# 1% of the entries INVALID at random (seeded) so that compressing takes a while;
# index X stays VALID.
"$PY" - "$T/r.upd" "$T/r.x" $N <<'EOF'
import random, sys
n = int(sys.argv[3])
r = random.Random(10)
s = set()
while len(s) < n // 100:
    s.add(r.randrange(n))
x = next(i for i in range(n // 2, n) if i not in s)
with open(sys.argv[1], "w") as f:
    f.write("".join("%d INVALID\n" % i for i in sorted(s)))
open(sys.argv[2], "w").write("%d\n" % x)
EOF
check "python writes the update" $?
X=$(cat "$T/r.x")
t update R "$T/r.upd" --db "$DB"
expect_rc "update R with 1% INVALID" 0
NOW=$(date +%s)

# rchar PID: bytes the process has read so far (0 when unknown).
rchar() { awk '/^rchar:/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }

achieved=no
attempt=0
while [ $attempt -lt 3 ] && [ $achieved = no ]; do
    attempt=$((attempt + 1))
    v1=$("$TSL" list show R --json --db "$DB" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    "$TSL" publish R --format jwt --now "$NOW" --db "$DB" >"$T/p1.out" 2>"$T/p1.err" &
    p1=$!
    # Stop it once it has read the list's chunks (its snapshot is then fixed): the
    # store reads them with pread, counted in /proc/PID/io; compressing 5 MB takes
    # a second or more after that. Without /proc/PID/io, a fixed pause.
    if [ -r "/proc/$p1/io" ]; then
        i=0
        while [ $i -lt 2000 ] && [ "$(rchar $p1)" -lt $NBYTES ] && kill -0 $p1 2>/dev/null; do
            sleep 0.01
            i=$((i + 1))
        done
    else
        sleep 0.3
    fi
    kill -STOP $p1 2>/dev/null
    stopped=$p1
    # The revocation commits while the first publish is stopped, and a second publish
    # of the same second records the new statuses.
    "$TSL" set R "$X" INVALID --db "$DB" >/dev/null 2>"$T/err"
    check "tsl set R $X INVALID while a publish is stopped: $(errline)" $?
    "$TSL" publish R --format jwt --now "$NOW" --db "$DB" >"$T/p2.out" 2>"$T/p2.err"
    check "the second publish: $(cat "$T/p2.err")" $?
    kill -CONT $p1 2>/dev/null
    wait $p1
    r1=$?
    stopped=""
    # Achieved when the first publish had signed the statuses before the set: it
    # says so (version v1 signed), or (unfixed) it recorded a token of version v1.
    if grep -q "version $v1 signed" "$T/p1.out" ||
        [ "$(sqlite3 "$DB" "SELECT count(*) FROM tokens WHERE list_id = 'R' AND version = $v1")" -gt 0 ]; then
        achieved=yes
    else
        note "attempt $attempt: the first publish read its snapshot after the set; again"
        X=$((X + 1))
        while grep -qx "$X INVALID" "$T/r.upd"; do X=$((X + 1)); done
        NOW=$((NOW + 10))
    fi
done
same "the publish was stopped after its snapshot and before recording" $achieved yes
if [ "$r1" -eq 0 ] && grep -q "not recorded" "$T/p1.out"; then ok; else
    bad "the stale publish: exit $r1, expected 0 and 'not recorded': $(cat "$T/p1.out" "$T/p1.err")"
fi
"$TSL" token R --db "$DB" >"$T/r.jwt" 2>"$T/err"
check "tsl token R: $(errline)" $?
same "the newest token carries the revocation at $X" "$(decode_at "$T/r.jwt" "$URI_R" "$X")" \
    "$(printf '%s\t1' "$X")"
"$TSL" token R --at "$NOW" --db "$DB" >"$T/r.at.jwt" 2>"$T/err"
same "the token valid at that second carries it too" \
    "$(decode_at "$T/r.at.jwt" "$URI_R" "$X")" "$(printf '%s\t1' "$X")"
same "one token row for that second: the stale one was not recorded" \
    "$(sqlite3 "$DB" "SELECT count(*) FROM tokens WHERE list_id = 'R' AND iat = $NOW")" 1
"$TSL" get R "$X" --db "$DB" >"$T/out" 2>"$T/err"
same "tsl get agrees" "$(cat "$T/out")" "$(printf '%s\tINVALID' "$X")"

# A token of newer statuses but an earlier iat (a publisher whose clock was read before
# the change) is signed again as of the newest token's iat, so that it is the newest.
# (Times in the past: the tokens verify.)
URI_S=https://example.com/race/s
TA=$((NOW - 1000))
t list create S --uri "$URI_S" --bits 2 --size 1000 --key "$T/k.pem" --db "$DB"
expect_rc "list create S" 0
t publish S --now $((TA + 100)) --db "$DB"
expect_rc "publish S at TA+100" 0
t set S 7 INVALID --db "$DB"
t publish S --now "$TA" --db "$DB"
if [ "$rc" -eq 0 ] && [ "$(grep -c "iat $((TA + 100)), .*iat raised" "$T/out")" -eq 2 ]; then ok
else bad "publish S's newer statuses at TA: exit $rc, $(cat "$T/out")"; fi
for form in jwt cwt; do
    "$TSL" token S --format $form --db "$DB" >"$T/s.tok" 2>"$T/err"
    same "S: the newest $form is of the newest statuses" "$(decode_at "$T/s.tok" "$URI_S" 7)" \
        "$(printf '7\t1')"
    "$TSL" token S --format $form --at $((TA + 150)) --db "$DB" >"$T/s.tok" 2>"$T/err"
    same "S: at TA+150 (both valid) the $form of the newest statuses" \
        "$(decode_at "$T/s.tok" "$URI_S" 7)" "$(printf '7\t1')"
done

# Three publishes of one version in one second record one row per form.
pids=""
for k in 1 2 3; do
    "$TSL" publish S --now $((TA + 200)) --db "$DB" >"$T/c$k.out" 2>"$T/c$k.err" &
    pids="$pids $!"
done
codes=""
for p in $pids; do
    wait "$p"
    codes="$codes$?"
done
same "three concurrent publishes exit 0" "$codes" "000"
same "one jwt row for version and iat" \
    "$(sqlite3 "$DB" "SELECT count(*) FROM tokens WHERE list_id = 'S' AND format = 'jwt' AND iat = $((TA + 200))")" 1
same "one cwt row for version and iat" \
    "$(sqlite3 "$DB" "SELECT count(*) FROM tokens WHERE list_id = 'S' AND format = 'cwt' AND iat = $((TA + 200))")" 1
n=$(cat "$T/c1.out" "$T/c2.out" "$T/c3.out" | grep -c "not recorded")
same "the two twins say they were not recorded" "$n" 4
# A later re-signing of the same statuses (a token near expiry) is recorded.
t publish S --now $((TA + 300)) --db "$DB"
if [ "$rc" -eq 0 ] && ! grep -q "not recorded" "$T/out"; then ok; else
    bad "re-signing the same version later: exit $rc, $(cat "$T/out")"; fi

# ---------------------------------------------------------------------------------- #
# Item 10: 1,000 full-range lines cost about one; a concurrent alloc is not held up.

M=10000000
URI_U=https://example.com/race/u
t list create U --uri "$URI_U" --bits 2 --size $M --key "$T/k.pem" --db "$DB"
expect_rc "list create U (10^7 entries)" 0
last=$((M - 1))
# Values 2 and 3 in turn: every line changes every entry, and none is INVALID, so
# the INVALID-final check reads every entry too.
awk -v last=$last 'BEGIN { for (i = 1; i <= 1000; i++) print "0-" last, 2 + i % 2 }' \
    >"$T/u1000a.upd"
awk -v last=$last 'BEGIN { for (i = 1; i <= 1000; i++) print "0-" last, 3 - i % 2 }' \
    >"$T/u1000b.upd"
# one_run FILE: the wall time of `tsl update U FILE` in ms (the update must succeed).
one_run() {
    _t0=$(now_ms)
    "$TSL" update U "$1" --db "$DB" >/dev/null 2>>"$T/upd.err" || echo "update $1 failed" >>"$T/upd.err"
    _t1=$(now_ms)
    echo $((_t1 - _t0))
}
# median3 A B C
median3() { printf '%s\n%s\n%s\n' "$1" "$2" "$3" | sort -n | sed -n 2p; }
echo "0-$last 2" >"$T/u1a.upd"
echo "0-$last 3" >"$T/u1b.upd"
one_run "$T/u1a.upd" >/dev/null # the chunks now exist: every run below rewrites them
s1=$(one_run "$T/u1b.upd")
s2=$(one_run "$T/u1a.upd")
s3=$(one_run "$T/u1b.upd")
single=$(median3 "$s1" "$s2" "$s3")
m1=$(one_run "$T/u1000a.upd")
m2=$(one_run "$T/u1000b.upd")
m3=$(one_run "$T/u1000a.upd")
many=$(median3 "$m1" "$m2" "$m3")
[ "$single" -gt 0 ] || single=1
note "one full-range line: ${single} ms; 1,000 full-range lines: ${many} ms (medians of 3)"
if [ ! -s "$T/upd.err" ]; then ok; else bad "updates of U: $(head -c 300 "$T/upd.err")"; fi
if [ "$many" -le $((10 * single)) ]; then ok; else
    bad "1,000 full-range lines took ${many} ms, more than 10 x one line (${single} ms)"; fi
"$TSL" get U 0 $last --db "$DB" >"$T/out" 2>"$T/err"
same "U ends at the last line's value" "$(cat "$T/out")" \
    "$(printf '0\tSUSPENDED\n%s\tSUSPENDED' $last)"

# An alloc started while a 1,000-line update runs waits at most for that update's
# short write transaction.
"$TSL" update U "$T/u1000b.upd" --db "$DB" >/dev/null 2>"$T/bg.err" &
pu=$!
sleep 0.05
a0=$(now_ms)
"$TSL" alloc U -n 1 --db "$DB" >/dev/null 2>"$T/err"
ra=$?
a1=$(now_ms)
wait $pu
ru=$?
held=$((a1 - a0))
note "tsl alloc during a 1,000-line update: ${held} ms"
if [ $ra -eq 0 ] && [ $ru -eq 0 ]; then ok; else
    bad "alloc during an update: exits $ra $ru; $(errline) $(cat "$T/bg.err")"; fi
if [ "$held" -le $((10 * single)) ]; then ok; else
    bad "tsl alloc was held ${held} ms by the update, more than 10 x one line (${single} ms)"; fi

# ---------------------------------------------------------------------------------- #
# Item 23: a byte order mark.

printf '\357\273\2775 INVALID\n6 SUSPENDED\n' >"$T/bom.upd"
t update U "$T/bom.upd" --db "$DB"
expect_rc "an update file starting with a UTF-8 BOM is accepted" 0
"$TSL" get U 5 6 --db "$DB" >"$T/out" 2>"$T/err"
same "its first line applied" "$(cat "$T/out")" "$(printf '5\tINVALID\n6\tSUSPENDED')"
printf '7 INVALID\n\357\273\2778 INVALID\n' >"$T/bom2.upd"
t update U "$T/bom2.upd" --db "$DB"
if [ "$rc" -eq 1 ] && grep -q "line 2: starts with a UTF-8 byte order mark" "$T/err"; then ok; else
    bad "a BOM on line 2: exit $rc, $(errline)"; fi

same "integrity_check" "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok
finish
