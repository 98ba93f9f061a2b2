#!/bin/sh
# pg_store.sh - the PostgreSQL store's own scenarios (issue 12), with tsl against a real
# server: 4 processes allocating 25,000 indices each from one list at once (100,000
# distinct, also when their calls interleave); kill -9 of a writer in the middle of a
# 10^6-change update (all of it or none: statuses and version); a batch that would
# un-revoke refused whole while another writer works; a password in the URL refused
# and never echoed, a wrong one (PGPASSFILE) never in the error; migrations from an
# empty database and from the schema-1 fixture (tests/fixtures/store-pg-v1.sql). Prints
# the figures it measures (one set, the 4-process allocation, a 10^6-change update).
#
# Usage: sh tests/pg_store.sh [BUILD_DIR]   (run from the project root)
# Uses the server of $TSL_TEST_PG (run_all.sh starts one), else starts its own
# (tests/pg.sh). Closing line: "pg_store: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=pg_store
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
# shellcheck source=tests/pg.sh
. "$(dirname "$0")/pg.sh"

if [ ! -x "$TSL" ]; then
    echo "pg_store: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
if ! pg_ensure; then
    echo "pg_store: no PostgreSQL server (scripts/deps.sh installs it)" >&2
    fail=1
    finish
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-pgstore.XXXXXX") || exit 2
chmod 755 "$T"
trap 'rm -rf "$T"; pg_stop' EXIT
trap 'rm -rf "$T"; pg_stop; exit 2' INT TERM
unset TSL_DB PGPASSWORD PGPASSFILE
case $TSL_TEST_PG in *\?*) SEP='&' ;; *) SEP='?' ;; esac
PSQL="psql -X -q -v ON_ERROR_STOP=1"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# jfield FILE KEY: a member of the JSON object in FILE (counts.X: 0 when absent).
jfield() { /usr/bin/python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v.get(k, 0) if k != sys.argv[2] else v[k]
print(v)' "$1" "$2" 2>/dev/null; }
# newdb NAME: the --db URL of a new, empty schema.
newdb() {
    _s="tsl_p$$_$1"
    $PSQL -d "$TSL_TEST_PG" -c "DROP SCHEMA IF EXISTS $_s CASCADE; CREATE SCHEMA $_s" \
        >/dev/null 2>&1
    echo "$TSL_TEST_PG${SEP}options=-csearch_path%3D$_s"
}
DB=$(newdb main)
"$TSL" keygen --alg ES256 --out "$T/k.pem" >/dev/null 2>&1
check() { if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi; }

# ---------------------------------------------------------------------------------- #
# 4 processes, 25,000 indices each, from one list at once: 100,000 distinct.

t list create A --uri https://example.com/sl/a --bits 1 --size 1000000 --key "$T/k.pem" \
    --db "$DB"
expect_rc "list create A" 0
t0=$(now_ms)
pids=""
for p in 1 2 3 4; do
    "$TSL" alloc A -n 25000 --db "$DB" >"$T/a$p" 2>"$T/a$p.err" &
    pids="$pids $!"
done
rcs=0
for p in $pids; do wait "$p" || rcs=$((rcs + 1)); done
t1=$(now_ms)
n=$(cat "$T/a1" "$T/a2" "$T/a3" "$T/a4" | sort -u | wc -l)
all=$(cat "$T/a1" "$T/a2" "$T/a3" "$T/a4" | wc -l)
if [ "$rcs" -eq 0 ] && [ "$n" -eq 100000 ] && [ "$all" -eq 100000 ] && [ ! -s "$T/a1.err" ] &&
    [ ! -s "$T/a2.err" ] && [ ! -s "$T/a3.err" ] && [ ! -s "$T/a4.err" ]; then ok; else
    bad "4 x alloc -n 25000: $all indices, $n distinct; $(cat "$T"/a?.err | head -c 300)"; fi
ms=$((t1 - t0))
[ "$ms" -gt 0 ] || ms=1
note "4 processes x alloc -n 25000 at once: ${ms} ms, $((100000 * 1000 / ms)) indices/s"
# The same in 25 calls of 1,000 each per process, so that the transactions interleave.
t list create A2 --uri https://example.com/sl/a2 --bits 1 --size 1000000 --key "$T/k.pem" \
    --db "$DB"
for p in 1 2 3 4; do
    (k=0; while [ $k -lt 25 ]; do "$TSL" alloc A2 -n 1000 --db "$DB" || exit 1; k=$((k + 1)); done) \
        >"$T/b$p" 2>"$T/b$p.err" &
done
wait
n=$(cat "$T/b1" "$T/b2" "$T/b3" "$T/b4" | sort -u | wc -l)
if [ "$n" -eq 100000 ] && [ "$(cat "$T"/b?.err | wc -c)" -eq 0 ]; then ok; else
    bad "4 x 25 x alloc -n 1000: $n distinct of 100000; $(cat "$T"/b?.err | head -c 300)"; fi
t list show A2 --json --db "$DB"
cp "$T/out" "$T/a2.json"
same "A2: allocated counter after the interleaved runs" "$(jfield "$T/a2.json" allocated)" 100000

# One `tsl set`, end to end (best of 5).
best=999999
for k in 1 2 3 4 5; do
    t0=$(now_ms)
    "$TSL" set A $((k * 7919)) INVALID --db "$DB" 2>>"$T/set.err"
    t1=$(now_ms)
    [ $((t1 - t0)) -lt "$best" ] && best=$((t1 - t0))
done
if [ ! -s "$T/set.err" ]; then ok; else bad "tsl set: $(head -c 300 "$T/set.err")"; fi
note "one tsl set end to end: best ${best} ms of 5"

# ---------------------------------------------------------------------------------- #
# kill -9 of a writer in the middle of a 10^6-change update: all of it or none of it,
# in the statuses and in the version.

KN=10000000
t list create K --uri https://example.com/sl/k --bits 2 --size $KN --no-final-invalid \
    --key "$T/k.pem" --db "$DB"
expect_rc "list create K" 0
# 10^6 distinct random indices (a shuffled sample), set to 1, then to 2.
/usr/bin/python3 -c 'import random
random.seed(12)
idx = random.sample(range('$KN'), 1000000)
with open("'"$T"'/k1", "w") as f1, open("'"$T"'/k2", "w") as f2:
    for i in idx:
        f1.write("%d 1\n" % i)
        f2.write("%d 2\n" % i)'
counts() { # VALUE: entries with that value, and the version: "N V"
    "$TSL" list show K --json --db "$DB" >"$T/k.json" 2>/dev/null
    echo "$(jfield "$T/k.json" "counts.$1") $(jfield "$T/k.json" version)"
}
t0=$(now_ms)
"$TSL" update K "$T/k1" --db "$DB" >/dev/null 2>"$T/err"
rc=$?
t1=$(now_ms)
expect_rc "update of 10^6 random changes" 0
run_ms=$((t1 - t0))
[ "$run_ms" -gt 0 ] || run_ms=1
note "tsl update of 10^6 random changes (10^7 entries, 2 bits): ${run_ms} ms, $((1000000 * 1000 / run_ms)) changes/s committed"
same "after the update: 10^6 SUSPENDED-or-1 entries, version 1" "$(counts INVALID)" "1000000 1"
cur=1 v=1 olds=0 news=0
for f in 10 30 50 70 90 110; do
    if [ $cur -eq 1 ]; then nxt=2; else nxt=1; fi
    "$TSL" update K "$T/k$nxt" --db "$DB" >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v ms=$run_ms -v f=$f 'BEGIN { printf "%.3f", ms * f / 100000 }')"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    # The server notices the dead client and rolls back its transaction.
    sleep 0.2
    # "count of value 1, count of value 2, version"
    got="$(counts INVALID | cut -d' ' -f1) $(counts SUSPENDED)"
    if [ $cur -eq 1 ]; then old="1000000 0 $v" new="0 1000000 $((v + 1))"
    else old="0 1000000 $v" new="1000000 0 $((v + 1))"; fi
    if [ "$got" = "$old" ]; then
        olds=$((olds + 1))
        ok
    elif [ "$got" = "$new" ]; then
        news=$((news + 1))
        cur=$nxt
        v=$((v + 1))
        ok
    else
        bad "kill -9 at $f% of a run: value 1, value 2, version: '$got', neither '$old' nor '$new'"
    fi
done
note "kill -9 rounds: $olds left all of the old state, $news all of the new one"
# Readers during a committing update see all of it or none of it, never half a batch.
if [ $cur -eq 1 ]; then nxt=2; else nxt=1; fi
"$TSL" update K "$T/k$nxt" --db "$DB" >/dev/null 2>&1 &
pid=$!
reads=0 halves=0
while kill -0 $pid 2>/dev/null; do
    # One read: both counts from the same `list show` (two commands could straddle
    # the commit and look like half a batch).
    "$TSL" list show K --json --db "$DB" >"$T/k.json" 2>/dev/null
    got="$(jfield "$T/k.json" counts.INVALID) $(jfield "$T/k.json" counts.SUSPENDED)"
    case $got in "1000000 0" | "0 1000000") ;; *) halves=$((halves + 1)) ;; esac
    reads=$((reads + 1))
done
wait $pid
check "the update beside the readers" $?
same "readers during an update ($reads reads) saw only whole states" "$halves" 0
cur=$nxt
"$TSL" update K "$T/k1" --db "$DB" >/dev/null 2>"$T/err"
check "an update after the kills: $(head -c 200 "$T/err")" $?
n_bad=$($PSQL -At -d "$DB" -c "SELECT count(*) FROM tsl_chunks c JOIN tsl_lists l
    ON l.id = c.list_id WHERE length(c.data) <>
    least(65536, (l.size * l.bits + 7) / 8 - c.n * 65536)" 2>&1)
same "every chunk row of its list's size after the kills" "$n_bad" 0

# ---------------------------------------------------------------------------------- #
# A batch that would un-revoke (INVALID -> VALID) is refused whole while another
# writer works on the same list.

t list create R --uri https://example.com/sl/r --bits 2 --size 100000 --key "$T/k.pem" \
    --db "$DB"
"$TSL" set R 500 INVALID --db "$DB" 2>/dev/null
# The other writer: 60 single updates of entries 1000.. to SUSPENDED, one after another.
(k=0; while [ $k -lt 60 ]; do "$TSL" set R $((1000 + k)) SUSPENDED --db "$DB" || exit 1
    k=$((k + 1)); done) >/dev/null 2>"$T/w.err" &
wpid=$!
# Our batches: 20,000 entries made INVALID, and entry 500 back to VALID at the end.
awk 'BEGIN { for (i = 2000; i < 22000; i++) print i, "INVALID"; print 500, "VALID" }' \
    >"$T/unrevoke"
refused=0 r_n=0
while kill -0 $wpid 2>/dev/null && [ $r_n -lt 20 ]; do
    ti "$T/unrevoke" update R - --db "$DB"
    [ "$rc" -eq 1 ] && grep -q 'line 20001: index 500 is INVALID, which is final' "$T/err" &&
        refused=$((refused + 1))
    r_n=$((r_n + 1))
done
wait $wpid
wr=$?
same "every un-revoking batch refused, naming its line ($r_n tries)" "$refused" "$r_n"
if [ "$r_n" -gt 0 ]; then ok; else bad "the other writer was done before the first batch"; fi
t list show R --json --db "$DB"
cp "$T/out" "$T/r.json"
same "the other writer's 60 changes all committed (exit $wr)" \
    "$(jfield "$T/r.json" counts.SUSPENDED) $(jfield "$T/r.json" counts.INVALID)" "60 1"
t get R 500 2000 21999 --db "$DB"
expect_rc "get R" 0
same "none of the refused batches' lines applied" "$(cut -f2 "$T/out" | tr '\n' ' ')" \
    "INVALID VALID VALID "

# ---------------------------------------------------------------------------------- #
# Credentials: a password in the URL is refused (exit 2) and never echoed, wherever the
# URL comes from; a wrong password from PGPASSFILE fails without showing it.

SECRET=Sup3rSecretPw
for u in "postgresql://tsl:$SECRET@localhost/tsl" "postgres://tsl:$SECRET@localhost/tsl" \
    "postgresql:///tsl?host=/tmp&password=$SECRET"; do
    t list ls --db "$u"
    if [ "$rc" -eq 2 ] && grep -q 'holds a password' "$T/err" && grep -q PGPASSFILE "$T/err" &&
        ! grep -q "$SECRET" "$T/err" "$T/out"; then ok; else
        bad "a password in --db: exit $rc, $(errline)"; fi
    TSL_DB=$u "$TSL" alloc A >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" -eq 2 ] && ! grep -q "$SECRET" "$T/err" "$T/out"; then ok; else
        bad "a password in \$TSL_DB: exit $rc, $(errline)"; fi
done
# A role with a password; the cluster asks it for that role only (scram), PGPASSFILE
# gives it.
if [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/pg_hba.conf" ]; then
    $PSQL -d "$TSL_TEST_PG" -c "DROP ROLE IF EXISTS tsl_pw; CREATE ROLE tsl_pw LOGIN
        PASSWORD 'RightPw-42'; CREATE SCHEMA IF NOT EXISTS tsl_pw AUTHORIZATION tsl_pw" \
        >/dev/null 2>&1
    if ! grep -q tsl_pw "$PG_DIR/data/pg_hba.conf"; then
        { echo "local all tsl_pw scram-sha-256"; cat "$PG_DIR/data/pg_hba.conf"; } \
            >"$T/hba" && cat "$T/hba" >"$PG_DIR/data/pg_hba.conf"
        pg_as "$PG_CTL" -D "$PG_DIR/data" reload >/dev/null 2>&1
        sleep 0.5
    fi
    PWURL="postgresql:///tsl?host=$PG_DIR&user=tsl_pw&options=-csearch_path%3Dtsl_pw"
    WRONG=Wr0ngPassword-77
    printf '*:*:*:tsl_pw:%s\n' "$WRONG" >"$T/pgpass"
    chmod 600 "$T/pgpass"
    PGPASSFILE=$T/pgpass "$TSL" list create W --uri https://example.com/sl/w --bits 1 \
        --size 10 --key "$T/k.pem" --db "$PWURL" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q 'password authentication failed' "$T/err" &&
        ! grep -q "$WRONG" "$T/err" "$T/out" && ! grep -q 'postgresql://' "$T/err"; then ok
    else bad "a wrong password from PGPASSFILE: exit $rc, $(errline)"; fi
    printf '*:*:*:tsl_pw:RightPw-42\n' >"$T/pgpass"
    PGPASSFILE=$T/pgpass "$TSL" list create W --uri https://example.com/sl/w --bits 1 \
        --size 10 --key "$T/k.pem" --db "$PWURL" >"$T/out" 2>"$T/err" </dev/null
    check "the right password from PGPASSFILE: $(errline)" $?
    PGPASSWORD=RightPw-42 "$TSL" list ls --db "$PWURL" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    expect_str() { _got=$(cat "$T/out"); if [ "$rc" -eq 0 ] && [ "$_got" = "$2" ]; then ok
        else bad "$1: exit $rc, '$_got' != '$2'; $(errline)"; fi; }
    expect_str "the password from PGPASSWORD" "W"
    # The audit trail records sources, never the connection.
    n=$($PSQL -At -d "$TSL_TEST_PG" -c "SELECT count(*) FROM tsl_pw.tsl_batches WHERE
        source LIKE '%postgres%' OR source LIKE '%RightPw%'")
    same "no audit row names the connection or the password" "$n" 0
else
    bad "PG_DIR is unknown: cannot give a role a password"
fi

# ---------------------------------------------------------------------------------- #
# Migrations: from an empty database, and from schema version 1 (the fixture).

for d in tsl_mig_empty tsl_mig_v1; do
    $PSQL -d "$TSL_TEST_PG" -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" \
        >/dev/null 2>&1
done
base=${TSL_TEST_PG%%\?*}
query=${TSL_TEST_PG#"$base"}
EMPTY="${base%/*}/tsl_mig_empty$query"
V1="${base%/*}/tsl_mig_v1$query"
t list ls --db "$EMPTY"
if [ "$rc" -eq 2 ] && grep -q 'no tsl schema: create it with tsl db migrate' "$T/err"; then ok
else bad "an empty database is not a store: exit $rc, $(errline)"; fi
t db migrate --db "$EMPTY"
expect_rc "tsl db migrate on an empty database" 0
same "its schema versions" \
    "$($PSQL -At -d "$EMPTY" -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM tsl_schema")" \
    "1,2,3,4,5,6,7,8"
same "its segments unlogged (a cache that crash recovery empties)" \
    "$($PSQL -At -d "$EMPTY" -c "SELECT relpersistence FROM pg_class WHERE relname = 'tsl_segments'")" u
t db migrate --db "$EMPTY"
expect_rc "tsl db migrate again (nothing to do)" 0
t list ls --db "$EMPTY"
expect_rc "list ls on the migrated empty database" 0

$PSQL -d "$V1" -f tests/fixtures/store-pg-v1.sql >/dev/null 2>"$T/err"
check "the v1 fixture loads: $(errline)" $?
same "the fixture is at version 1" "$($PSQL -At -d "$V1" -c 'SELECT max(version) FROM tsl_schema')" 1
# A read-only command reads it as it is.
t token L1 --db "$V1"
if [ "$rc" -eq 0 ] && grep -q '^ey' "$T/out"; then ok; else
    bad "token from the v1 store: exit $rc, $(errline)"; fi
same "a read-only command does not migrate" \
    "$($PSQL -At -d "$V1" -c 'SELECT max(version) FROM tsl_schema')" 1
t db migrate --db "$V1"
expect_rc "tsl db migrate of the v1 store" 0
same "migrated to version 8, indexes, key, segment, count and token-list tables made" \
    "$($PSQL -At -d "$V1" -c "SELECT max(version), (SELECT count(*) FROM pg_indexes WHERE
        indexname IN ('tsl_batches_by_list', 'tsl_tokens_by_exp', 'tsl_tokens_by_lst')),
        (SELECT count(*) FROM pg_tables WHERE tablename IN ('tsl_apikeys',
        'tsl_idempotency', 'tsl_segments', 'tsl_status_counts', 'tsl_token_lists',
        'tsl_token_pieces', 'tsl_token_list_pieces')) FROM tsl_schema")" "8|3|7"
t get L1 10 20 30 39 40 --db "$V1"
same "the statuses as they were" "$(cut -f2 "$T/out" | tr '\n' ' ')" \
    "INVALID SUSPENDED INVALID INVALID VALID "
t list show L1 --json --db "$V1"
cp "$T/out" "$T/v1.json"
same "its counters as they were" \
    "$(jfield "$T/v1.json" allocated) $(jfield "$T/v1.json" version) $(jfield "$T/v1.json" counts.INVALID)" \
    "3 1 16"
t token L1 --at 1700000100 --format cwt --db "$V1"
expect_rc "its history" 0
t alloc L1 -n 2 --db "$V1"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 2 ]; then ok; else
    bad "alloc on the migrated store: exit $rc, $(errline)"; fi
t set L1 10 VALID --db "$V1"
if [ "$rc" -eq 1 ] && grep -q 'final' "$T/err"; then ok; else
    bad "INVALID stays final after the migration: exit $rc, $(errline)"; fi

for d in tsl_mig_empty tsl_mig_v1; do
    $PSQL -d "$TSL_TEST_PG" -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1
done
finish
