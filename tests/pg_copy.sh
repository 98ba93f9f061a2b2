#!/bin/sh
# pg_copy.sh - `tsl db copy` (tsl_store_copy) from SQLite to PostgreSQL and back, on a
# throwaway cluster (tests/pg.sh) in a database of its own: every list's `list show
# --json` (settings, counts per status, allocated, version, last published), every
# allocated index's status, the newest and an earlier token of each form, and the audit
# trail are the same in the SQLite source, in PostgreSQL and in the SQLite file copied
# back; `tsl alloc` after the copy returns no index handed out before, and the same
# ones as the source would; a destination that has one of the lists is refused whole
# (exit 1) and left as it was; a URL with a password is refused without showing it;
# usage errors are exit 2.
#
# Usage: sh tests/pg_copy.sh [BUILD_DIR]   (run from the project root)
# Needs Debian's postgresql (scripts/deps.sh), /usr/bin/python3 and the sqlite3 CLI.
# Closing line: "pg_copy: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=pg_copy
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/harness.sh
. "$HERE/harness.sh"
# shellcheck source=tests/pg.sh
. "$HERE/pg.sh"
PY=/usr/bin/python3

if [ ! -x "$TSL" ]; then
    echo "pg_copy: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac
unset TSL_DB

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-pg-copy.XXXXXX") || exit 2
pg_ensure || { rm -rf "$T"; echo "pg_copy: no PostgreSQL cluster" >&2; fail=1; finish; }
trap 'pg_stop; rm -rf "$T"' EXIT
trap 'pg_stop; rm -rf "$T"; exit 2' INT TERM

# A database of our own, so that lists of other suites sharing the cluster are not
# copied back (and ours do not clash with theirs).
DBNAME=tsl_copy_$$
psql -X -q -d "$TSL_TEST_PG" -c "CREATE DATABASE $DBNAME" >/dev/null 2>"$T/err" || {
    bad "CREATE DATABASE: $(errline)"
    finish
}
PGURL=$("$PY" -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(p.scheme + "://" + p.netloc + "/" + sys.argv[2] + ("?" + p.query if p.query else ""))' \
    "$TSL_TEST_PG" "$DBNAME")
SRC=$T/src.db
BACK=$T/back.db

# ---- the source: two lists with some history ----
"$TSL" keygen --alg ES256 --out "$T/key.pem" >/dev/null 2>"$T/err" || bad "keygen: $(errline)"
t list create a --uri https://example.com/sl/a --bits 2 --size 200000 --key "$T/key.pem" \
    --kid kid-a --ttl 300 --lifetime 3600 --decoys 40 --decoy-value SUSPENDED \
    --aggregation-uri https://example.com/sl/all --no-final-invalid --db "$SRC"
expect_rc "create a" 0
t list create b --uri https://example.com/sl/b --bits 1 --size 1048576 --key "$T/key.pem" \
    --formats jwt --db "$SRC"
expect_rc "create b" 0
t alloc a -n 60 --db "$SRC"
expect_rc "alloc" 0
cp "$T/out" "$T/handed"
# Statuses on 30 of them, through a file and through set.
head -n 30 "$T/handed" | awk '{ print $1, (NR % 3) + 1 }' >"$T/upd"
t update a "$T/upd" --db "$SRC"
expect_rc "update a" 0
t set b 1048575 INVALID --db "$SRC"
expect_rc "set b" 0
for now in 1700000000 1700000100 1700000200; do
    t publish a --now "$now" --retention forever --db "$SRC"
    expect_rc "publish a $now" 0
done
t publish b --now 1700000000 --retention forever --db "$SRC"
expect_rc "publish b" 0

# ---- SQLite -> PostgreSQL -> SQLite ----
t db copy --from "$SRC" --to "$PGURL"
expect_rc "copy to PostgreSQL" 0
same "copy to PostgreSQL: the counts" "$(cat "$T/out")" "copied 2 lists (7 tokens, 9 audit rows)"
t db copy --from "$PGURL" --to "$BACK"
expect_rc "copy back to SQLite" 0
same "copy back: the counts" "$(cat "$T/out")" "copied 2 lists (7 tokens, 9 audit rows)"

# Everything a command shows is the same in the three stores.
for id in a b; do
    for db in "$SRC" "$PGURL" "$BACK"; do
        "$TSL" list show "$id" --json --db "$db" >"$T/show.$id.$(echo "$db" | cksum | cut -d' ' -f1)" 2>"$T/err" ||
            bad "list show $id on a copy: $(errline)"
    done
done
for id in a b; do
    set -- "$T"/show."$id".*
    if [ $# -eq 3 ] && cmp -s "$1" "$2" && cmp -s "$1" "$3" && [ -s "$1" ]; then ok; else
        bad "list show $id differs between the source and its copies"; fi
done
# The status of every handed-out index, the decoys' and b's last.
idx=$(tr '\n' ' ' <"$T/handed")
for db in "$SRC" "$PGURL" "$BACK"; do
    # shellcheck disable=SC2086
    "$TSL" get a $idx --db "$db" >>"$T/get.$(echo "$db" | cksum | cut -d' ' -f1)" 2>"$T/err" &&
        "$TSL" get b 0 1048575 --db "$db" >>"$T/get.$(echo "$db" | cksum | cut -d' ' -f1)" 2>>"$T/err" ||
        bad "get on a copy: $(errline)"
done
set -- "$T"/get.*
if [ $# -eq 3 ] && cmp -s "$1" "$2" && cmp -s "$1" "$3" && grep -q SUSPENDED "$1"; then ok; else
    bad "tsl get differs between the source and its copies"; fi
# The newest and an earlier token of each form: the same bytes.
for spec in "a jwt" "a cwt" "b jwt"; do
    set -- $spec
    for at in "" 1700000150; do
        want=$("$TSL" token "$1" --format "$2" ${at:+--at "$at"} --db "$SRC" | cksum)
        for db in "$PGURL" "$BACK"; do
            got=$("$TSL" token "$1" --format "$2" ${at:+--at "$at"} --db "$db" | cksum)
            same "token $1 $2 ${at:-newest}" "$got" "$want"
        done
    done
done
# The audit trail: every row, in order, with its time and source.
audit_sqlite() {
    sqlite3 "$1" "SELECT list_id, time, entries, changed, coalesce(source, '-'), kind
                  FROM batches ORDER BY list_id, id"
}
audit_sqlite "$SRC" >"$T/audit.src"
audit_sqlite "$BACK" >"$T/audit.back"
psql -X -A -t -F '|' -d "$PGURL" -c "SELECT list_id, time, entries, changed,
    coalesce(source, '-'), kind FROM tsl_batches ORDER BY list_id COLLATE \"C\", id" \
    >"$T/audit.pg" 2>"$T/err" || bad "psql audit: $(errline)"
if [ "$(wc -l <"$T/audit.src")" -eq 9 ] && cmp -s "$T/audit.src" "$T/audit.pg" &&
    cmp -s "$T/audit.src" "$T/audit.back"; then ok; else
    bad "the audit trails differ: $(diff "$T/audit.src" "$T/audit.pg" | head -5 | tr '\n' '|')"; fi

# ---- allocation goes on, never re-allocating ----
t alloc a -n 200 --db "$PGURL"
expect_rc "alloc on PostgreSQL" 0
cp "$T/out" "$T/next.pg"
t alloc a -n 200 --db "$SRC"
cp "$T/out" "$T/next.src"
t alloc a -n 200 --db "$BACK"
cp "$T/out" "$T/next.back"
if [ "$(sort -u "$T/handed" "$T/next.pg" | wc -l)" -eq 260 ]; then ok; else
    bad "an index handed out before the copy was allocated again on PostgreSQL"; fi
if cmp -s "$T/next.pg" "$T/next.src" && cmp -s "$T/next.pg" "$T/next.back"; then ok; else
    bad "the copies do not go on where the source does"; fi

# ---- refusals ----
t db copy --from "$SRC" --to "$PGURL"
expect_rc "copy onto a store that has the lists" 1
if grep -q '"a"' "$T/err"; then ok; else bad "the refusal does not name the list: $(errline)"; fi
t list show a --json --db "$PGURL"
if grep -q '"allocated": *260' "$T/out" || grep -q '"allocated":260' "$T/out"; then ok; else
    bad "the refused copy changed the destination: $(head -c 200 "$T/out")"; fi
t db copy --from "$SRC" --to "postgresql://tsl:s3cr3t-pw@localhost/tsl"
expect_rc "a URL with a password" 2
if grep -q s3cr3t "$T/err" "$T/out"; then bad "the password shows: $(errline)"; else ok; fi
t db copy --from "$SRC"
expect_rc "no --to" 2
t db copy --from "$SRC" --to "$SRC"
expect_rc "the same store" 2
t db copy --from "$T/missing.db" --to "$T/x.db"
expect_rc "a missing source" 2
if [ -e "$T/x.db" ]; then bad "a failed copy created its destination"; else ok; fi
# A source that cannot be read whole (an audit row made inconsistent): nothing is
# copied, and the new file the copy made is removed.
cp "$SRC" "$T/damaged.db"
sqlite3 "$T/damaged.db" "UPDATE batches SET entries = -1 WHERE id = (SELECT max(id) FROM batches)"
t db copy --from "$T/damaged.db" --to "$T/fresh.db"
expect_rc "a damaged source" 2
if grep -q "inconsistent audit row" "$T/err"; then ok; else bad "the damage is not named: $(errline)"; fi
if [ -e "$T/fresh.db" ]; then bad "a failed copy left its new destination file"; else ok; fi
t db copy --help
expect_rc "--help" 0
t db frobnicate
expect_rc "an unknown db subcommand" 2

psql -X -q -d "$TSL_TEST_PG" -c "DROP DATABASE $DBNAME" >/dev/null 2>&1
finish
