#!/bin/sh
# store.sh - integration tests of the issuer-store commands: tsl list create/ls/show,
# alloc, set, get, update, publish, token. Every command's happy path, --help and exit
# codes; --db / $TSL_DB / ./tsl.db; INVALID being final; decoys; token history and
# retention; a 10^7-entry list whose 10^5 allocated indices pass a chi-square check and
# whose published JWT and CWT are verified and decoded by independent Python code
# (jwcrypto, cbor2 + cryptography); concurrent alloc and update processes; kill -9 in
# the middle of a 10^6-line update at several moments (old state or new, never a mix;
# PRAGMA integrity_check ok); and bad update files (each rejected with its line
# number, state untouched), including a 1 GB line read from a pipe.
#
# Usage: sh tests/store.sh [BUILD_DIR] [sqlite|pg]   (default build sqlite; run from the
# project root). Needs /usr/bin/python3 with cbor2, cryptography and jwcrypto, and the
# sqlite3 CLI (scripts/deps.sh installs them). Closing line: "store: N passed, N failed".
#
# pg: the same commands on the PostgreSQL backend, each store a fresh schema of the
# server tests/pg.sh starts (or TSL_TEST_PG names), selected by --db URL; the parts
# about SQLite files (./tsl.db, damaged and read-only files, the v0.1 fixture) are
# SQLite's only. Closing line "store_pg: ...".

BUILD=${1:-build}
BACKEND=${2:-sqlite}
TSL=$BUILD/tsl
SUITE=store
[ "$BACKEND" = pg ] && SUITE=store_pg
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3
URI=https://example.com/statuslists/1

if [ ! -x "$TSL" ]; then
    echo "store: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-store.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT INT TERM
unset TSL_DB
# newdb NAME: a new store's --db: $T/NAME.db, or a URL of a new schema on PostgreSQL.
if [ "$BACKEND" = pg ]; then
    # shellcheck source=tests/pg.sh
    . "$(dirname "$0")/pg.sh"
    pg_ensure || { echo "store_pg: no PostgreSQL server" >&2; exit 2; }
    trap 'rm -rf "$T"; pg_stop' EXIT
    case $TSL_TEST_PG in *\?*) PG_SEP='&' ;; *) PG_SEP='?' ;; esac
fi
newdb() {
    if [ "$BACKEND" = pg ]; then
        _s="tsl_s$$_$1"
        psql -q -d "$TSL_TEST_PG" -c "DROP SCHEMA IF EXISTS $_s CASCADE; CREATE SCHEMA $_s" \
            >/dev/null 2>&1
        echo "$TSL_TEST_PG${PG_SEP}options=-csearch_path%3D$_s"
    else
        echo "$T/$1.db"
    fi
}
DB=$(newdb tsl)

# expect_ok NAME: exit 0, nothing on stderr.
expect_ok() {
    if [ "$rc" -eq 0 ] && [ ! -s "$T/err" ]; then ok; else
        bad "$1: exit $rc, expected 0 and a quiet stderr; stderr: $(errline)"; fi
}
# expect_usage NAME: exit 2 and one message on stderr.
expect_usage() {
    if [ "$rc" -eq 2 ] && [ -s "$T/err" ]; then ok; else
        bad "$1: exit $rc (stderr $(wc -c <"$T/err") bytes), expected 2 with a message"; fi
}
# expect_reject NAME ERE: exit 1, exactly one stderr line matching ERE, empty stdout.
expect_reject() {
    _n=$(wc -l <"$T/err")
    if [ "$rc" -ne 1 ]; then
        bad "$1: exit $rc, expected 1; stderr: $(errline)"
    elif [ "$_n" -ne 1 ]; then
        bad "$1: $_n lines on stderr, expected 1: $(errline)"
    elif ! grep -Eqi -- "$2" "$T/err"; then
        bad "$1: stderr does not say /$2/: $(errline)"
    elif [ -s "$T/out" ]; then
        bad "$1: rejected, but printed $(wc -c <"$T/out") bytes on stdout"
    else
        ok
    fi
}
# expect_str NAME WANT: exit 0 and stdout (without its last newline) equal to WANT.
expect_str() {
    _got=$(cat "$T/out")
    if [ "$rc" -eq 0 ] && [ "$_got" = "$2" ]; then ok; else
        bad "$1: exit $rc, stdout '$(printf %s "$_got" | head -c 200)' != '$2'; stderr: $(errline)"
    fi
}
# same NAME GOT WANT: GOT equals WANT.
# check NAME CONDITION-EXIT-STATUS: a plain assertion on the last command.
check() {
    if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi
}
# jfield FILE KEY: a member of the JSON object in FILE (counts.X for a count).
jfield() {
    "$PY" -c 'import json,sys
o=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    o=o.get(k) if isinstance(o,dict) else None
print("null" if o is None else o)' "$1" "$2"
}
# version ID: the list's version, from `tsl list show --json`.
version() {
    "$TSL" list show "$1" --json --db "$DB" >"$T/show.json" 2>/dev/null &&
        jfield "$T/show.json" version
}
# On PostgreSQL: every chunk row of every list has its list's chunk size.
integrity() {
    if [ "$BACKEND" = pg ]; then
        _n=$(psql -At -d "$DB" -c "SELECT count(*) FROM tsl_chunks c JOIN tsl_lists l
            ON l.id = c.list_id WHERE length(c.data) <>
            least(65536, (l.size * l.bits + 7) / 8 - c.n * 65536)" 2>&1)
        [ "$_n" = 0 ] && echo ok || echo "$_n chunks of a wrong size"
        return
    fi
    sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1 | tr '\n' ' ' | sed 's/ $//'
}

# ---------------------------------------------------------------------------------- #
# --help and usage errors

for c in "list" "alloc" "set" "get" "update" "publish" "token"; do
    t "$c" --help
    if [ "$rc" -eq 0 ] && grep -q "usage: tsl $c" "$T/out" && [ ! -s "$T/err" ]; then ok
    else bad "tsl $c --help: exit $rc or no usage on stdout"; fi
done
for c in "list create" "list ls" "list show"; do
    # shellcheck disable=SC2086
    t $c --help
    if [ "$rc" -eq 0 ] && grep -q "usage: tsl list" "$T/out"; then ok; else
        bad "tsl $c --help: exit $rc"; fi
done
t --help
if grep -q update "$T/out" && grep -q publish "$T/out"; then ok; else
    bad "tsl --help does not list the store commands"; fi
t list
expect_usage "list without a subcommand"
t list frobnicate
expect_usage "list with an unknown subcommand"
t alloc --db "$DB"
expect_usage "alloc without an ID"
t set L1 5 --db "$DB"
expect_usage "set without STATUS"
t get L1 --db "$DB"
expect_usage "get without an index"
t update --db "$DB"
expect_usage "update without an ID"
t alloc L1 -n 0 --db "$DB"
expect_usage "alloc -n 0"
t alloc L1 --bogus --db "$DB"
expect_usage "alloc with an unknown option"
t token L1 --format xml --db "$DB"
expect_usage "token --format xml"
t publish L1 --retention soon --db "$DB"
expect_usage "publish --retention soon"

# ---------------------------------------------------------------------------------- #
# Keys and list creation

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/k.pub.jwk" 2>"$T/err"
check "keygen ES256: $(errline)" $?
"$TSL" keygen --alg EdDSA --out "$T/ed.pem" >"$T/ed.pub.jwk" 2>/dev/null
check "keygen EdDSA" $?

KEYDB="--key $T/k.pem --db $DB"
CREATE="--uri $URI $KEYDB"
# shellcheck disable=SC2086
t list create L1 --bits 2 --size 1000 --ttl 300 --lifetime 3600 $CREATE
expect_ok "list create L1"
if [ "$BACKEND" = pg ]; then
    [ "$(psql -At -d "$DB" -c 'SELECT max(version) FROM tsl_schema')" = 8 ]
else
    [ -f "$DB" ]
fi
check "list create made the database at --db" $?
# shellcheck disable=SC2086
t list create L1 --bits 2 --size 1000 $CREATE
expect_reject "list create of an existing id" 'L1|exist'
# shellcheck disable=SC2086
t list create L2 --bits 3 --size 10 $CREATE
expect_usage "list create --bits 3"
# shellcheck disable=SC2086
t list create L2 --bits 1 --size 0 $CREATE
expect_usage "list create --size 0"
t list create L2 --bits 1 --size 10 --key "$T/k.pem" --db "$DB"
expect_usage "list create without --uri"
# shellcheck disable=SC2086
t list create L2 --bits 1 --size 10 --decoys 10 $CREATE
expect_usage "list create --decoys equal to --size"
# shellcheck disable=SC2086
t list create L2 --bits 1 --size 10 --decoy-value SUSPENDED --decoys 1 $CREATE
expect_usage "list create --decoy-value SUSPENDED with 1 bit"
# shellcheck disable=SC2086
t list create "bad id" --bits 1 --size 10 $CREATE
if [ "$rc" -ne 0 ] && [ -s "$T/err" ]; then ok; else bad "list create 'bad id': exit $rc"; fi
t list create L2 --bits 1 --size 10 --uri "$URI" --key "$T/missing.pem" --db "$DB"
if [ "$rc" -ne 0 ] && grep -q missing "$T/err"; then ok; else
    bad "list create with a missing key: exit $rc, $(errline)"; fi
t list create L2 --bits 1 --size 10 --uri "$URI" --key "$T/k.pem" --alg EdDSA --db "$DB"
expect_reject "list create --alg EdDSA with an ES256 key" 'EdDSA|ES256|key'
t list create L2 --bits 1 --size 10 --uri "$URI" --key "$T/k.pub.jwk" --db "$DB"
expect_reject "list create with a public key" 'private'
t list show L2 --db "$DB"
expect_reject "failed creates left no list L2" 'L2|no such|not found|unknown'

t list ls --db "$DB"
expect_str "list ls" "L1"

t list show L1 --json --db "$DB"
cp "$T/out" "$T/l1.json"
"$PY" -c 'import json,sys
o=json.load(open(sys.argv[1]))
want={"id":"L1","uri":sys.argv[2],"bits":2,"size":1000,"alg":"ES256","ttl":300,
      "lifetime":3600,"formats":["jwt","cwt"],"decoys":0,"final_invalid":True,
      "allocated":0,"free":1000,"last_published":None,"counts":{"VALID":1000,"INVALID":0}}
bad=[k for k in want if o.get(k)!=want[k]]
assert not bad, [(k,o.get(k),want[k]) for k in bad]
assert o["key"].startswith("/") and o["key"].endswith("/k.pem"), o["key"]
assert isinstance(o["version"],int)' "$T/l1.json" "$URI" 2>"$T/err"
check "list show --json L1: $(errline)" $?
t list show L1 --db "$DB"
if [ "$rc" -eq 0 ] && grep -Eq '^bits +2$' "$T/out" && grep -Eq '^VALID +1000$' "$T/out" &&
    grep -Eq '^last_published +never$' "$T/out"; then ok; else
    bad "list show L1 text: $(head -c 300 "$T/out" | tr '\n' '|')"; fi
t list show NOPE --db "$DB"
expect_reject "list show of an unknown id" 'NOPE|no such|not found|unknown'

# --db, then $TSL_DB, then ./tsl.db.
TSL_DB=$DB "$TSL" list ls >"$T/out" 2>"$T/err" </dev/null
rc=$?
expect_str "list ls through \$TSL_DB" "L1"
mkdir "$T/cwd"
if [ "$BACKEND" = sqlite ]; then # ./tsl.db: a file
(cd "$T/cwd" && "$TSL" list create C --bits 1 --size 8 --uri "$URI" --key ../k.pem) \
    >/dev/null 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ] && [ -f "$T/cwd/tsl.db" ]; then ok; else
    bad "list create without --db or \$TSL_DB uses ./tsl.db: exit $rc, $(errline)"; fi
(cd "$T/cwd" && TSL_DB= "$TSL" list ls) >"$T/out" 2>"$T/err"
rc=$?
expect_str "an empty \$TSL_DB means ./tsl.db" "C"
# The key path is recorded absolute, so publishing works from elsewhere.
TSL_DB=$T/cwd/tsl.db "$TSL" publish C >/dev/null 2>"$T/err"
rc=$?
expect_ok "publish from another directory than create's (relative --key)"
fi

# ---------------------------------------------------------------------------------- #
# A list's uri (issue 10 item 8): refused at creation with the problem named; two
# lists never share a path (percent-encoded unreserved characters decoded first).
# In a store of its own.

UDB=$(newdb uri)
# expect_bad_uri NAME ERE: exit 2, one stderr line naming --uri and matching ERE.
expect_bad_uri() {
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- '--uri' "$T/err" &&
        grep -Eq -- "$2" "$T/err"; then ok; else
        bad "$1: exit $rc, expected 2 and /$2/; stderr: $(errline)"; fi
}
long_path=$(head -c 5000 /dev/zero | tr '\0' a)
for c in "a space|https://example.com/a b|white space \\(0x20\\)" \
    "a newline|$(printf 'https://example.com/a\nb')|white space \\(0x0a\\)" \
    "a control character|$(printf 'https://example.com/a\033b')|control character" \
    "javascript:|javascript:alert(1)|scheme \"javascript\" is not https" \
    "a relative path|/statuslists/9|not an absolute URI" \
    "/healthz|https://example.com/healthz|reserved" \
    "/metrics|https://example.com/metrics|reserved" \
    "../|https://example.com/lists/../x|\"\\.\\.\" segment" \
    "a 5000-byte path|https://example.com/$long_path|longer than the 1024 bytes" \
    "http:// without --allow-http|http://127.0.0.1:8080/x|--allow-http" \
    "%2F|https://example.com/a%2Fb|encodes '/'" \
    "a query|https://example.com/a?x=1|query"; do
    name=${c%%|*}
    rest=${c#*|}
    u=${rest%%|*}
    want=${rest#*|}
    t list create U --uri "$u" --bits 1 --size 10 --key "$T/k.pem" --db "$UDB"
    expect_bad_uri "list create --uri with $name" "$want"
done
[ ! -e "$UDB" ]
check "refused uris created no store" $?
t list create U1 --uri https://example.com/a/l%41b --bits 1 --size 10 --key "$T/k.pem" \
    --db "$UDB"
expect_ok "list create with a percent-encoded unreserved character"
t list create U2 --uri http://127.0.0.1:8080/u2 --allow-http --bits 1 --size 10 \
    --key "$T/k.pem" --db "$UDB"
expect_ok "list create --allow-http with an http uri"
t list create U3 --uri https://other.example/a/lAb --bits 1 --size 10 --key "$T/k.pem" \
    --db "$UDB"
expect_reject "a uri with the path of another list (other host, decoded)" \
    'path /a/lAb is already the path of list "U1"'
t list create U3 --uri https://example.com/u3 --aggregation-uri https://example.com/u2 \
    --bits 1 --size 10 --key "$T/k.pem" --db "$UDB"
expect_reject "an aggregation_uri on another list's path" 'path of list "U2"'
t list create U3 --uri https://example.com/u3 --aggregation-uri 'https://example.com/a b' \
    --bits 1 --size 10 --key "$T/k.pem" --db "$UDB"
if [ "$rc" -eq 2 ] && grep -q -- '--aggregation-uri' "$T/err"; then ok; else
    bad "a bad --aggregation-uri: exit $rc, $(errline)"; fi
t list ls --db "$UDB"
expect_str "only the accepted lists exist" "$(printf 'U1\nU2')"

# Sizes (item 9): over 16 MiB uncompressed is refused unless --force, naming who
# would refuse it; 2^30 one-bit entries are 128 MiB.
t list create HUGE --uri https://example.com/huge --bits 1 --size 1073741824 \
    --key "$T/k.pem" --db "$UDB"
expect_reject "a 128 MiB list" \
    'tsl verify \(64 MiB.*conformance suite \(32 MiB\).*k2gl/token-status-list \(16 MiB\).*--force'
t list create HUGE --uri https://example.com/huge --bits 8 --size 33554432 \
    --key "$T/k.pem" --db "$UDB"
if [ "$rc" -eq 1 ] && grep -q 'k2gl' "$T/err" && ! grep -q 'conformance' "$T/err"; then ok
else bad "a 32 MiB list names k2gl only: exit $rc, $(errline)"; fi
t list create EDGE --uri https://example.com/edge --bits 1 --size 134217728 \
    --key "$T/k.pem" --db "$UDB"
expect_ok "a list of exactly 16 MiB"
t list create HUGE --uri https://example.com/huge --bits 1 --size 1073741824 --force \
    --key "$T/k.pem" --db "$UDB"
expect_ok "a 128 MiB list with --force"

if [ "$BACKEND" = sqlite ]; then # files: missing, empty, damaged, read-only
# ---------------------------------------------------------------------------------- #
# Only list create makes a store (item 11): every other command fails with exit 2 on a
# missing or empty file, names it, and creates nothing.

TYPO=$T/typo.db
printf '1 1\n' >"$T/typo.upd"
for c in "list ls" "list show L1" "get L1 1" "token L1" "alloc L1" "set L1 1 INVALID" \
    "update L1 $T/typo.upd" "publish L1" "export $T/typo-out"; do
    # shellcheck disable=SC2086
    t $c --db "$TYPO"
    if [ "$rc" -eq 2 ] && grep -qF "$TYPO" "$T/err" && [ ! -e "$TYPO" ]; then ok; else
        bad "tsl $c on a missing store: exit $rc, created: $([ -e "$TYPO" ] && echo yes || echo no), $(errline)"
    fi
    rm -f "$TYPO"
done
timeout 20 "$TSL" serve --db "$TYPO" --listen 127.0.0.1:0 </dev/null >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -qF "$TYPO" "$T/err" && [ ! -e "$TYPO" ]; then ok; else
    bad "tsl serve on a missing store: exit $rc, $(errline)"; fi
: >"$TYPO"
for c in "list ls" "get L1 1" "publish L1"; do
    # shellcheck disable=SC2086
    t $c --db "$TYPO"
    if [ "$rc" -eq 2 ] && grep -qF "$TYPO" "$T/err" && grep -q empty "$T/err" &&
        [ ! -s "$TYPO" ]; then ok; else bad "tsl $c on an empty file: exit $rc, $(errline)"; fi
done
(cd "$T/cwd" && TSL_DB= "$TSL" list ls --db ./nope.db) >/dev/null 2>&1
if [ ! -e "$T/cwd/nope.db" ]; then ok; else bad "list ls created ./nope.db"; fi

# ---------------------------------------------------------------------------------- #
# A damaged store is an I/O error, exit 2 (item 23), not "input rejected" (1).

printf 'this is not a database\n' >"$T/garbage.db"
t list ls --db "$T/garbage.db"
if [ "$rc" -eq 2 ] && grep -q 'not a database' "$T/err"; then ok; else
    bad "a store that is not a database: exit $rc, $(errline)"; fi
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
cp "$DB" "$T/dmg.db"
sqlite3 "$T/dmg.db" "UPDATE lists SET bits = 3 WHERE id = 'L1'"
for c in "list show L1" "get L1 1" "alloc L1"; do
    # shellcheck disable=SC2086
    t $c --db "$T/dmg.db"
    if [ "$rc" -eq 2 ] && grep -q 'inconsistent' "$T/err"; then ok; else
        bad "tsl $c on an inconsistent row: exit $rc, $(errline)"; fi
done
# Pages 3 to 5 overwritten: SQLite reports a malformed image.
cp "$DB" "$T/dmg.db"
head -c 12288 /dev/zero | tr '\0' '\377' |
    dd of="$T/dmg.db" bs=4096 seek=2 count=3 conv=notrunc 2>/dev/null
for c in "list ls" "list show L1" "get L1 1" "token L1"; do
    # shellcheck disable=SC2086
    t $c --db "$T/dmg.db"
    if [ "$rc" -eq 2 ] && grep -q 'malformed' "$T/err"; then ok; else
        bad "tsl $c on corrupt pages: exit $rc, $(errline)"; fi
done

# ---------------------------------------------------------------------------------- #
# A read-only store directory (item 12): the reading commands work, as a user who
# cannot write there (root ignores permissions, so the commands run as nobody when
# this runs as root); writing commands fail with exit 2 and a message.

AS=""
if [ "$(id -u)" = 0 ]; then
    if setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
        AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"
    else
        bad "running as root without setpriv: the read-only directory case cannot run"
    fi
fi
if [ "$(id -u)" != 0 ] || [ -n "$AS" ]; then
    RO=$T/ro
    RDB=$RO/store/tsl.db
    mkdir -p "$RO/store" "$RO/out"
    sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    cp "$DB" "$RDB"
    # What the reading commands answer where they may write, for comparison.
    "$TSL" publish L1 --db "$RDB" >/dev/null 2>&1
    "$TSL" list ls --db "$RDB" >"$T/ls.want"
    "$TSL" get L1 5 7 --db "$RDB" >"$T/get.want"
    "$TSL" token L1 --db "$RDB" >"$T/tok.want"
    rv=$("$TSL" list show L1 --json --db "$RDB" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    # No -wal and no -shm: SQLite cannot create its -shm there, so the store is read as
    # immutable (nothing can write to the directory).
    sqlite3 "$RDB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    rm -f "$RDB-wal" "$RDB-shm"
    chmod 644 "$RDB"
    chmod 755 "$RO"
    chmod 711 "$T"
    [ -n "$AS" ] && chown nobody "$RO/out"
    chmod 555 "$RO/store"
    ro() { # ro NAME ARGS...: runs tsl as the other user; rc, $T/ro.out, $T/ro.err
        _n=$1
        shift
        # shellcheck disable=SC2086
        $AS "$TSL" "$@" --db "$RDB" </dev/null >"$RO/out/o" 2>"$RO/out/e"
        rc=$?
        cp "$RO/out/o" "$T/ro.out"
        cp "$RO/out/e" "$T/ro.err"
        if [ "$rc" -eq 0 ] && [ ! -s "$T/ro.err" ]; then ok; else
            bad "$_n in a read-only directory$RO_CASE: exit $rc, $(head -c 300 "$T/ro.err" | tr '\n' '|')"
        fi
    }
    ro_round() {
        ro "list ls" list ls
        if cmp -s "$T/ro.out" "$T/ls.want"; then ok; else bad "read-only list ls differs$RO_CASE"; fi
        ro "list show" list show L1 --json
        same "read-only list show$RO_CASE: version" "$(jfield "$T/ro.out" version)" "$rv"
        ro "get" get L1 5 7
        if cmp -s "$T/ro.out" "$T/get.want"; then ok; else bad "read-only get differs$RO_CASE"; fi
        ro "token" token L1
        if cmp -s "$T/ro.out" "$T/tok.want"; then ok; else bad "read-only token differs$RO_CASE"; fi
        rm -rf "$RO/out/www"
        ro "export" export "$RO/out/www"
        if [ -s "$RO/out/www/current/statuslists/1.jwt" ]; then ok; else
            bad "read-only export wrote no statuslists/1.jwt$RO_CASE"; fi
        # shellcheck disable=SC2086
        $AS "$TSL" set L1 5 INVALID --db "$RDB" </dev/null >/dev/null 2>"$RO/out/e"
        rc=$?
        if [ "$rc" -eq 2 ] && [ -s "$RO/out/e" ]; then ok; else
            bad "set in a read-only directory$RO_CASE: exit $rc, $(head -c 200 "$RO/out/e")"; fi
    }
    RO_CASE=""
    ro_round
    same "nothing was created beside the read-only store" "$(ls -A "$RO/store")" "tsl.db"
    # With -wal and -shm present and readable (as a writer leaves them): read through
    # them, the normal way.
    chmod 755 "$RO/store"
    "$TSL" list ls --db "$RDB" >/dev/null
    chmod 644 "$RDB-wal" "$RDB-shm"
    chmod 555 "$RO/store"
    RO_CASE=" (with -wal and -shm)"
    ro_round
    chmod 755 "$RO/store"
    chmod 700 "$T"
fi

fi # SQLite files
# ---------------------------------------------------------------------------------- #
# alloc, set, get

t alloc L1 -n 10 --db "$DB"
cp "$T/out" "$T/a10"
n=$(wc -l <"$T/a10")
u=$(sort -u "$T/a10" | wc -l)
big=$(awk '$1 >= 1000 || $1 !~ /^[0-9]+$/' "$T/a10" | wc -l)
if [ "$rc" -eq 0 ] && [ "$n" -eq 10 ] && [ "$u" -eq 10 ] && [ "$big" -eq 0 ]; then ok; else
    bad "alloc -n 10: exit $rc, $n lines, $u distinct, $big out of range"; fi
t alloc L1 --db "$DB"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 1 ] && ! grep -qxFf "$T/out" "$T/a10"; then
    ok; else bad "alloc (one): exit $rc, $(cat "$T/out")"; fi
t alloc L1 -n 990 --db "$DB"
expect_reject "alloc of more than are left" 'left|enough|989'
t alloc L1 -n 989 --db "$DB"
if [ "$rc" -eq 0 ] && [ "$(sort -u "$T/out" "$T/a10" | wc -l)" -eq 999 ]; then ok; else
    bad "alloc of all that is left: exit $rc"; fi
t alloc L1 --db "$DB"
expect_reject "alloc from a full list" 'left|enough|full'
t alloc NOPE --db "$DB"
expect_reject "alloc from an unknown list" 'NOPE|no such|not found|unknown'
t list show L1 --json --db "$DB"
cp "$T/out" "$T/l1.json"
same "list show: allocated 1000, free 0" "$(jfield "$T/l1.json" allocated) $(jfield "$T/l1.json" free)" "1000 0"

v0=$(version L1)
t set L1 5 SUSPENDED --db "$DB"
expect_ok "set L1 5 SUSPENDED"
t get L1 5 --db "$DB"
expect_str "get L1 5" "$(printf '5\tSUSPENDED')"
v1=$(version L1)
if [ "$v1" -gt "$v0" ]; then ok; else bad "set did not increase the version ($v0 -> $v1)"; fi
t set L1 6 3 --db "$DB"
expect_ok "set L1 6 3 (a number)"
t set L1 7 invalid --db "$DB"
expect_ok "set L1 7 invalid (any case)"
t get L1 5 6 7 8 --db "$DB"
expect_str "get L1 5 6 7 8" "$(printf '5\tSUSPENDED\n6\tAPPLICATION_SPECIFIC\n7\tINVALID\n8\tVALID')"
t set L1 7 VALID --db "$DB"
expect_reject "set INVALID -> VALID without --force" 'final|INVALID'
t get L1 7 --db "$DB"
expect_str "the rejected set left 7 INVALID" "$(printf '7\tINVALID')"
t set L1 7 SUSPENDED --force --db "$DB"
expect_ok "set INVALID -> SUSPENDED with --force"
t set L1 7 INVALID --db "$DB"
expect_ok "set back to INVALID"
t set L1 1000 VALID --db "$DB"
expect_reject "set of an index out of range" 'range|1000'
t set L1 5 4 --db "$DB"
expect_reject "set of a value too large for 2 bits" 'fit|bits|4'
t set L1 5 REVOKED --db "$DB"
expect_reject "set of an unknown status" 'REVOKED'
t set L1 -5 VALID --db "$DB"
if [ "$rc" -ne 0 ]; then ok; else bad "set of index -5 accepted"; fi
t set NOPE 5 VALID --db "$DB"
expect_reject "set on an unknown list" 'NOPE|no such|not found|unknown'
t get L1 5 1000 --db "$DB"
expect_reject "get of an index out of range" 'range|1000'
t get L1 5x --db "$DB"
expect_reject "get of a bad index" '5x'
t get NOPE 1 --db "$DB"
expect_reject "get on an unknown list" 'NOPE|no such|not found|unknown'

# --no-final-invalid
# shellcheck disable=SC2086
t list create NF --bits 1 --size 100 --no-final-invalid --uri $URI-NF $KEYDB
expect_ok "list create --no-final-invalid"
"$TSL" set NF 3 INVALID --db "$DB" && "$TSL" set NF 3 VALID --db "$DB" 2>"$T/err"
check "INVALID -> VALID without --force on a --no-final-invalid list: $(errline)" $?
t list show NF --json --db "$DB"
same "show: final_invalid false" "$(jfield "$T/out" final_invalid)" "False"

# Decoys: set at creation, counted, never allocated.
# shellcheck disable=SC2086
t list create D --bits 1 --size 100 --decoys 10 --uri $URI-D $KEYDB
expect_ok "list create --decoys 10"
t list show D --json --db "$DB"
cp "$T/out" "$T/d.json"
same "decoys: 10 INVALID, 90 free" \
    "$(jfield "$T/d.json" counts.INVALID) $(jfield "$T/d.json" free) $(jfield "$T/d.json" capacity)" \
    "10 90 90"
t alloc D -n 90 --db "$DB"
cp "$T/out" "$T/d.idx"
# shellcheck disable=SC2046
"$TSL" get D $(cat "$T/d.idx") --db "$DB" >"$T/out" 2>"$T/err"
if [ "$(grep -c 'VALID$' "$T/out")" -eq 90 ] && ! grep -q INVALID "$T/out" &&
    [ "$(sort -u "$T/d.idx" | wc -l)" -eq 90 ]; then ok; else
    bad "alloc hands out decoys: $(grep INVALID "$T/out" | head -3 | tr '\n' ' ')"; fi
# shellcheck disable=SC2086
t list create D2 --bits 2 --size 100 --decoys 5 --decoy-value SUSPENDED --uri $URI-D2 $KEYDB
t list show D2 --json --db "$DB"
same "decoys with --decoy-value SUSPENDED" "$(jfield "$T/out" counts.SUSPENDED)" "5"

# ---------------------------------------------------------------------------------- #
# update

cat >"$T/u1.txt" <<'EOF'
# a comment line, then a blank one

10-19 INVALID
20 suspended   # a trailing comment
21	2
22 3
25-25 1
EOF
t update L1 "$T/u1.txt" --db "$DB"
if [ "$rc" -eq 0 ] && grep -q 'changed' "$T/out" && [ ! -s "$T/err" ]; then ok; else
    bad "update from a file: exit $rc, $(errline) $(cat "$T/out")"; fi
t get L1 9 10 19 20 21 22 25 26 --db "$DB"
expect_str "update applied" "$(printf '9\tVALID\n10\tINVALID\n19\tINVALID\n20\tSUSPENDED\n21\tSUSPENDED\n22\tAPPLICATION_SPECIFIC\n25\tINVALID\n26\tVALID')"
printf '30 2\n31 2\n' >"$T/u2.txt"
ti "$T/u2.txt" update L1 - --db "$DB"
expect_rc "update from standard input ('-')" 0
ti "$T/u2.txt" update L1 --db "$DB"
expect_rc "update from standard input (no FILE)" 0
t get L1 30 31 --db "$DB"
expect_str "update from stdin applied" "$(printf '30\tSUSPENDED\n31\tSUSPENDED')"
printf '40 1\n41 2\n' >"$T/u3.txt"
va=$(version L1)
t update L1 --dry-run "$T/u3.txt" --db "$DB"
if [ "$rc" -eq 0 ] && grep -q 'dry run' "$T/out"; then ok; else
    bad "update --dry-run: exit $rc, $(cat "$T/out")"; fi
t get L1 40 41 --db "$DB"
expect_str "update --dry-run changed nothing" "$(printf '40\tVALID\n41\tVALID')"
same "update --dry-run kept the version" "$(version L1)" "$va"
printf '10-12 VALID\n' >"$T/u4.txt"
t update L1 "$T/u4.txt" --db "$DB"
expect_reject "update INVALID -> VALID without --force" 'line 1.*(final|INVALID)'
t update L1 --force "$T/u4.txt" --db "$DB"
expect_rc "update INVALID -> VALID with --force" 0
t get L1 10 12 13 --db "$DB"
expect_str "update --force applied" "$(printf '10\tVALID\n12\tVALID\n13\tINVALID')"
t update L1 "$T/nonexistent.txt" --db "$DB"
expect_usage "update of a missing file"
t update NOPE "$T/u2.txt" --db "$DB"
expect_reject "update of an unknown list" 'NOPE|no such|not found|unknown'

# Bad update files: each rejected with its line number; the version and the statuses
# stay as they were.
t list show L1 --json --db "$DB"
cp "$T/out" "$T/before.json"
"$TSL" get L1 0 1 2 5 6 7 20 22 --db "$DB" >"$T/before.get"
vb=$(jfield "$T/before.json" version)
badfile() { # NAME LINE-ERE FILE
    t update L1 "$3" --db "$DB"
    expect_reject "bad update file: $1" "line $2\\b"
}
printf '1 1\n2 SUSPENDED\n3x VALID\n4 1\n' >"$T/b1"
badfile "a bad number" 3 "$T/b1"
printf '1 1\n2 1\n1000 1\n' >"$T/b2"
badfile "an index out of range" 3 "$T/b2"
printf '1 1\n999-1000 1\n' >"$T/b3"
badfile "a range reaching past the end" 2 "$T/b3"
printf '1 1\n2 4\n' >"$T/b4"
badfile "a value too large for 2 bits" 2 "$T/b4"
printf '1 1\n2 256\n' >"$T/b4b"
badfile "a value over 255" 2 "$T/b4b"
printf '1 1\n2 REVOKED\n' >"$T/b5"
badfile "an unknown status name" 2 "$T/b5"
printf '1 SUSPENDED\n\n# c\n7 VALID\n' >"$T/b6"
badfile "INVALID -> VALID without --force" 4 "$T/b6"
printf '1 1\n9-3 1\n' >"$T/b7"
badfile "a reversed range" 2 "$T/b7"
printf '1 1\n-2 1\n' >"$T/b8"
badfile "a negative index" 2 "$T/b8"
printf '1 1\n2 1 1\n' >"$T/b9"
badfile "three fields" 2 "$T/b9"
printf '1 1\n2\n' >"$T/b10"
badfile "a missing status" 2 "$T/b10"
printf '1 1\n18446744073709551616 1\n' >"$T/b11"
badfile "an index over 2^64" 2 "$T/b11"
printf '1 1\n\001\177\376\377\300garbage\033[0m\n' >"$T/b12"
badfile "binary garbage" 2 "$T/b12"
printf '1 1\n2 \000 1\n3 1\n' >"$T/b13"
badfile "a NUL byte" 2 "$T/b13"
{ printf '1 1\n2 1\n'; head -c 5000 /dev/zero | tr '\0' 7; printf ' 1\n4 1\n'; } >"$T/b14"
badfile "a 5000-byte line" 3 "$T/b14"
printf '1 1\n2 1' >"$T/b15"
printf '\n3 1 x' >>"$T/b15"
badfile "a bad last line without a newline" 3 "$T/b15"
t list show L1 --json --db "$DB"
"$TSL" get L1 0 1 2 5 6 7 20 22 --db "$DB" >"$T/after.get"
if [ "$(jfield "$T/out" version)" = "$vb" ] && cmp -s "$T/before.get" "$T/after.get"; then ok
else bad "bad update files changed the list: version $vb -> $(jfield "$T/out" version)"; fi
# fgets() stops at a NUL silently: the last line, without its newline, must still be
# seen whole (a separate case so that a failure here does not hide the others).
printf '1 1\n2 1\000garbage' >"$T/b16"
badfile "a NUL byte in a last line without a newline" 2 "$T/b16"
vb=$(version L1)

# A 1 GB line on a pipe: rejected at line 2 without buffering it (peak RSS measured by
# wait4 on tsl alone) and the state untouched.
"$PY" - "$TSL" "$DB" >"$T/gb" 2>&1 <<'EOF'
import os, subprocess, sys, time
tsl, db = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
gen = subprocess.Popen(["sh", "-c", "printf '1 1\\n'; head -c 1073741824 /dev/zero | tr '\\0' 1; printf '\\n'"],
                       stdout=subprocess.PIPE)
p = subprocess.Popen([tsl, "update", "L1", "--db", db], stdin=gen.stdout,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
gen.stdout.close()
out, err = p.stdout.read(), p.stderr.read()
_, st, ru = os.wait4(p.pid, 0)
gen.wait()
print(os.waitstatus_to_exitcode(st), ru.ru_maxrss, "%.1f" % (time.monotonic() - t0),
      err.decode(errors="replace").strip().replace("\n", "|"), len(out))
EOF
read -r gb_rc gb_rss gb_secs gb_msg <"$T/gb"
# 64 MB, or 256 MB under the sanitizers (their runtime's own memory).
gb_max_rss=65536
[ "${TSL_SANITIZED:-0}" = 1 ] && gb_max_rss=262144
note "1 GB line: exit $gb_rc, peak RSS ${gb_rss} KB, ${gb_secs} s: $gb_msg"
case $gb_msg in
*"line 2"*) [ "$gb_rc" = 1 ] && [ "${gb_rss:-999999}" -lt "$gb_max_rss" ] ;;
*) false ;;
esac
check "a 1 GB line is rejected at line 2 with a small RSS: $(cat "$T/gb")" $?
same "the 1 GB line left the version" "$(version L1)" "$vb"

# ---------------------------------------------------------------------------------- #
# publish and token

t publish L1 --db "$DB"
if [ "$rc" -eq 0 ] && grep -q 'jwt' "$T/out" && grep -q 'cwt' "$T/out"; then ok; else
    bad "publish L1: exit $rc, $(errline) $(cat "$T/out")"; fi
t token L1 --db "$DB"
cp "$T/out" "$T/l1.jwt"
t decode --key "$T/k.pub.jwk" --uri "$URI" --index 5 --index 7 --index 22 --index 40 "$T/l1.jwt"
expect_str "tsl decode verifies the published JWT" "$(printf '5\t2\n7\t1\n22\t3\n40\t0')"
t token L1 --format cwt --db "$DB"
cp "$T/out" "$T/l1.cwt"
t decode --key "$T/k.pub.jwk" --uri "$URI" --index 5 --index 22 "$T/l1.cwt"
expect_str "tsl decode verifies the published CWT" "$(printf '5\t2\n22\t3')"
t list show L1 --json --db "$DB"
if [ "$(jfield "$T/out" last_published)" != null ]; then ok; else
    bad "list show: last_published still null after publish"; fi
t token NOPE --db "$DB"
expect_reject "token of an unknown list" 'NOPE|no such|not found|unknown'
t token D --db "$DB"
expect_reject "token of a list never published" 'token|publish|none|no '

# History: tokens signed as of chosen times; --at finds the one valid then; the
# default retention (30 days after exp) drops old ones, --retention forever keeps them.
T1=1700000000
T2=$((T1 + 1800))
t publish D --format jwt --now $T1 --retention forever --db "$DB"
expect_rc "publish --now T1" 0
t publish D --format jwt --now $T2 --retention forever --db "$DB"
expect_rc "publish --now T2" 0
"$TSL" token D --at $((T1 + 100)) --db "$DB" >"$T/at1" 2>"$T/err"
rc=$?
"$TSL" token D --at $((T2 + 100)) --db "$DB" >"$T/at2" 2>>"$T/err"
rc2=$?
"$PY" -c 'import json,base64,sys
def claims(p):
    s=open(p).read().strip().split(".")[1]
    return json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))
a,b=claims(sys.argv[1]),claims(sys.argv[2])
t1=int(sys.argv[3]); t2=t1+1800
assert a["iat"]==t1 and b["iat"]==t2, (a["iat"],b["iat"])' "$T/at1" "$T/at2" $T1 2>>"$T/err"
rc3=$?
if [ "$rc" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$rc3" -eq 0 ]; then ok; else
    bad "token --at picks the token valid then: $(errline)"; fi
t token D --at $((T1 - 1)) --db "$DB"
expect_reject "token --at before any token" 'token|no |none'
t publish D --format jwt --retention forever --db "$DB"
"$TSL" token D --at $((T1 + 100)) --db "$DB" >/dev/null 2>&1
check "--retention forever kept the old tokens" $?
t publish D --format cwt --db "$DB"
expect_rc "publish --format cwt with the default retention" 0
t token D --format cwt --db "$DB"
if [ "$rc" -eq 0 ] && [ "$(head -c 1 "$T/out" | od -An -tx1 | tr -d ' ')" = d2 ]; then ok; else
    bad "token --format cwt is raw COSE_Sign1 bytes (tag 18): exit $rc"; fi
t publish D --format jwt --db "$DB"
t token D --at $((T1 + 100)) --db "$DB"
expect_reject "the default retention dropped tokens expired long ago" 'token|no |none'
# --x5c: the chain goes into the token header (a self-signed certificate from openssl).
if openssl req -x509 -key "$T/k.pem" -subj /CN=tsl-store-test -days 2 \
    -out "$T/cert.pem" >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    t list create X --bits 1 --size 16 --x5c "$T/cert.pem" --uri $URI-X $KEYDB
    expect_ok "list create --x5c"
    "$TSL" publish X --db "$DB" >/dev/null 2>&1 && "$TSL" token X --db "$DB" >"$T/x.jwt"
    "$PY" -c 'import base64,json,sys
s=open(sys.argv[1]).read().split(".")[0]
h=json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))
assert len(h.get("x5c",[]))==1, h' "$T/x.jwt" 2>"$T/err"
    check "the published JWT carries x5c: $(errline)" $?
else
    note "openssl cannot make a certificate; --x5c case skipped"
fi
# A CWT-only list: token defaults to CWT.
# shellcheck disable=SC2086
t list create CW --bits 1 --size 16 --formats cwt --uri $URI-CW $KEYDB
t publish CW --db "$DB"
if [ "$rc" -eq 0 ] && ! grep -q jwt "$T/out"; then ok; else
    bad "publish of a cwt-only list: exit $rc, $(cat "$T/out")"; fi
t token CW --db "$DB"
if [ "$rc" -eq 0 ] && [ "$(head -c 1 "$T/out" | od -An -tx1 | tr -d ' ')" = d2 ]; then ok; else
    bad "token of a cwt-only list defaults to cwt: exit $rc"; fi

# ---------------------------------------------------------------------------------- #
# A 10^7-entry list: allocation uniformity, a bulk update, and the published tokens
# checked by independent Python code.

BIGN=10000000
cat >"$T/big.py" <<'EOF'
import base64, json, random, sys, zlib
import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto import jwk, jws

N, BITS, DECOYS = 10000000, 2, 1000

def fail(msg):
    print(msg)
    sys.exit(1)

def prep(alloc_path, upd_path, expect_path):
    idx = [int(x) for x in open(alloc_path)]
    if len(idx) != 100000: fail(f"{len(idx)} indices, expected 100000")
    if len(set(idx)) != len(idx): fail(f"{len(idx) - len(set(idx))} indices handed out twice")
    if min(idx) < 0 or max(idx) >= N: fail(f"index out of range: {min(idx)} {max(idx)}")
    buckets = [0] * 100
    for i in idx:
        buckets[i * 100 // N] += 1
    e = len(idx) / 100
    chi2 = sum((o - e) ** 2 / e for o in buckets)
    # 99 degrees of freedom: P(chi2 > 160) is about 1e-4.
    print(f"chi-square over 100 buckets: {chi2:.1f} (99 df, limit 160)")
    if chi2 > 160: fail(f"allocation not uniform: chi-square {chi2:.1f}, buckets {buckets}")
    rnd = random.Random(11)
    want = {i: rnd.choice([1, 2, 3]) for i in idx}
    with open(upd_path, "w") as f:
        f.write("# 10^5 allocated indices, random statuses\n")
        for i, v in want.items():
            f.write(f"{i} {v}\n")
    json.dump(want, open(expect_path, "w"))

def check_list(bits, lst, want, what):
    if bits != BITS: fail(f"{what}: bits {bits}")
    raw = zlib.decompress(lst)
    if len(raw) != N * BITS // 8: fail(f"{what}: {len(raw)} bytes")
    # Every entry: ours as set, the rest VALID except exactly DECOYS INVALID decoys.
    per = 8 // BITS
    mask = (1 << BITS) - 1
    expect = bytearray(len(raw))
    for i, v in want.items():
        expect[i // per] |= v << ((i % per) * BITS)
    mism = 0
    decoys = 0
    # Fast path: compare whole bytes, then look into the differing ones.
    for k in (k for k in range(len(raw)) if raw[k] != expect[k]):
        for j in range(per):
            got = (raw[k] >> (j * BITS)) & mask
            exp = (expect[k] >> (j * BITS)) & mask
            if got == exp:
                continue
            i = k * per + j
            if exp == 0 and got == 1 and i not in want:
                decoys += 1
            else:
                mism += 1
                if mism < 5: print(f"{what}: index {i} is {got}, expected {exp}")
    if mism: fail(f"{what}: {mism} statuses differ")
    if decoys != DECOYS: fail(f"{what}: {decoys} decoys, expected {DECOYS}")

def verify(jwt_path, cwt_path, pub_path, expect_path, uri, lifetime, ttl):
    want = {int(k): v for k, v in json.load(open(expect_path)).items()}
    pub = jwk.JWK(**json.load(open(pub_path)))
    tok = open(jwt_path).read().strip()
    o = jws.JWS()
    o.deserialize(tok)
    o.verify(pub, alg="ES256")
    hdr = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
    if hdr.get("typ") != "statuslist+jwt": fail(f"jwt typ {hdr}")
    c = json.loads(o.payload)
    if c["sub"] != uri or c["exp"] - c["iat"] != lifetime or c.get("ttl") != ttl:
        fail(f"jwt claims {dict((k, c[k]) for k in c if k != 'status_list')}")
    s = c["status_list"]["lst"]
    check_list(c["status_list"]["bits"], base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)),
               want, "jwt")
    outer = cbor2.loads(open(cwt_path, "rb").read())
    if not (isinstance(outer, cbor2.CBORTag) and outer.tag == 18): fail("cwt: not tag 18")
    prot_b, unprot, payload, sig = outer.value
    if cbor2.loads(prot_b) != {1: -7, 16: "application/statuslist+cwt"}: fail("cwt protected")
    tbs = cbor2.dumps(["Signature1", prot_b, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.get_op_key("verify").verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    cl = cbor2.loads(payload)
    if cl[2] != uri or cl[4] - cl[6] != lifetime or cl.get(65534) != ttl:
        fail("cwt claims")
    check_list(cl[65533]["bits"], cl[65533]["lst"], want, "cwt")
    print(f"jwt and cwt verified; {len(want)} statuses and {DECOYS} decoys match")

if sys.argv[1] == "prep":
    prep(*sys.argv[2:5])
else:
    verify(*sys.argv[2:6], sys.argv[6], int(sys.argv[7]), int(sys.argv[8]))
EOF
# shellcheck disable=SC2086
t list create BIG --bits 2 --size $BIGN --decoys 1000 --ttl 600 --lifetime 7200 \
    --uri $URI-BIG $KEYDB
expect_ok "list create BIG (10^7 entries, 1000 decoys)"
t alloc BIG -n 100000 --db "$DB"
cp "$T/out" "$T/big.idx"
expect_rc "alloc BIG -n 100000" 0
"$PY" "$T/big.py" prep "$T/big.idx" "$T/big.upd" "$T/big.want" >"$T/err" 2>&1
check "10^5 indices distinct, in range, uniform: $(errline)" $?
note "$(head -n 1 "$T/err")"
t update BIG "$T/big.upd" --db "$DB"
expect_rc "update BIG with 10^5 lines" 0
t publish BIG --db "$DB"
expect_rc "publish BIG" 0
"$TSL" token BIG --format jwt --db "$DB" >"$T/big.jwt" &&
    "$TSL" token BIG --format cwt --db "$DB" >"$T/big.cwt"
check "token BIG jwt and cwt" $?
"$PY" "$T/big.py" verify "$T/big.jwt" "$T/big.cwt" "$T/k.pub.jwk" "$T/big.want" "$URI-BIG" \
    7200 600 >"$T/err" 2>&1
check "Python verifies and decodes BIG's JWT and CWT: $(errline)" $?
t list show BIG --json --db "$DB"
cp "$T/out" "$T/big.json"
"$PY" -c 'import json,sys
o=json.load(open(sys.argv[1])); w=json.load(open(sys.argv[2]))
c={1:0,2:0,3:0}
for v in w.values(): c[v]+=1
want={"VALID":10000000-100000-1000,"INVALID":c[1]+1000,"SUSPENDED":c[2],
      "APPLICATION_SPECIFIC":c[3]}
assert o["counts"]==want, (o["counts"],want)
assert o["allocated"]==100000 and o["free"]==10000000-1000-100000, o' \
    "$T/big.json" "$T/big.want" 2>"$T/err"
check "list show BIG: counts per status, allocated, free: $(errline)" $?

# ---------------------------------------------------------------------------------- #
# Concurrency: two alloc and two update processes at once on one list.

# shellcheck disable=SC2086
t list create CC --bits 1 --size 1000000 --no-final-invalid --uri $URI-CC $KEYDB
"$TSL" alloc CC -n 5000 --db "$DB" >"$T/cc1" 2>"$T/cc1.err" &
p1=$!
"$TSL" alloc CC -n 5000 --db "$DB" >"$T/cc2" 2>"$T/cc2.err" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
n=$(cat "$T/cc1" "$T/cc2" | sort -u | wc -l)
if [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ] && [ "$n" -eq 10000 ]; then ok; else
    bad "two concurrent alloc -n 5000: exits $r1 $r2, $n distinct; $(cat "$T/cc1.err" "$T/cc2.err")"; fi
awk 'NR % 2 == 1 { print $1, 1 }' "$T/cc1" "$T/cc2" | sort -n >"$T/ccA"
awk 'NR % 2 == 0 { print $1, 1 }' "$T/cc1" "$T/cc2" | sort -n >"$T/ccB"
vc=$(version CC)
"$TSL" update CC "$T/ccA" --db "$DB" >/dev/null 2>"$T/cc1.err" &
p1=$!
"$TSL" update CC "$T/ccB" --db "$DB" >/dev/null 2>"$T/cc2.err" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
t list show CC --json --db "$DB"
cp "$T/out" "$T/cc.json"
if [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ] && [ "$(jfield "$T/cc.json" counts.INVALID)" -eq 10000 ] &&
    [ "$(jfield "$T/cc.json" version)" -ge $((vc + 2)) ]; then ok; else
    bad "two concurrent updates: exits $r1 $r2, INVALID $(jfield "$T/cc.json" counts.INVALID), version $vc -> $(jfield "$T/cc.json" version); $(cat "$T/cc1.err" "$T/cc2.err")"
fi
same "integrity_check after the concurrent runs" "$(integrity)" "ok"

# ---------------------------------------------------------------------------------- #
# kill -9 in the middle of a 10^6-line update, at several moments: afterwards the list
# is wholly the old state or wholly the new one, and the database is intact.

KN=1000000
# shellcheck disable=SC2086
t list create K --bits 2 --size $KN --no-final-invalid --uri $URI-K $KEYDB
awk -v n=$KN 'BEGIN { for (i = 0; i < n; i++) print i, 1 }' >"$T/k1"
awk -v n=$KN 'BEGIN { for (i = n - 1; i >= 0; i--) print i, 2 }' >"$T/k2"
# One uninterrupted run first: the state to start from, and how long a run takes, so
# the kills can land at fractions of that time, through reading and through the commit.
t0=$(date +%s%N)
"$TSL" update K "$T/k1" --db "$DB" >/dev/null 2>"$T/err"
rc=$?
t1=$(date +%s%N)
expect_rc "a full 10^6-line update" 0
run_ms=$(((t1 - t0) / 1000000))
note "a 10^6-line update takes $run_ms ms here; killing at fractions of that"
cur=1
olds=0
news=0
for f in 0.05 0.2 0.35 0.5 0.6 0.7 0.8 0.9 0.95 1.0 1.1 1.3 1.6; do
    d=$(awk -v f=$f -v ms=$run_ms 'BEGIN { printf "%.3f", f * ms / 1000 }')
    if [ "$cur" -eq 1 ]; then next=2; else next=1; fi
    "$TSL" update K "$T/k$next" --db "$DB" >/dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    t list show K --json --db "$DB"
    cp "$T/out" "$T/k.json"
    # The counts the store keeps (list show reads them, not the list) are a full
    # recount's: the list published and its token's statuses counted by tsl decode.
    "$TSL" publish K --format jwt --db "$DB" >/dev/null 2>&1 &&
        "$TSL" token K --db "$DB" | "$TSL" decode --json - >"$T/k.dec" 2>/dev/null &&
        "$PY" - "$T/k.json" "$T/k.dec" <<'PYEOF'
import json, sys
show = json.load(open(sys.argv[1]))["counts"]
dec = json.load(open(sys.argv[2]))["counts"]
names = {"VALID": "0", "INVALID": "1", "SUSPENDED": "2", "APPLICATION_SPECIFIC": "3"}
a = {names.get(k, k): v for k, v in show.items() if v}
b = {k: v for k, v in dec.items() if v}
sys.exit(0 if a == b else 1)
PYEOF
    check "kill -9 after ${d}s: the kept counts equal a recount of the list" $?
    names="VALID INVALID SUSPENDED"
    c_old=$(jfield "$T/k.json" "counts.$(echo $names | cut -d' ' -f$((cur + 1)))")
    c_new=$(jfield "$T/k.json" "counts.$(echo $names | cut -d' ' -f$((next + 1)))")
    "$TSL" get K 0 1 499999 500000 999998 999999 --db "$DB" >"$T/k.get" 2>&1
    ng=$(cut -f2 "$T/k.get" | sort -u | wc -l)
    if [ "$c_old" = "$KN" ]; then
        olds=$((olds + 1))
    elif [ "$c_new" = "$KN" ]; then
        news=$((news + 1))
        cur=$next
    else
        c_old=bad
    fi
    if [ "$c_old" != bad ] && [ "$ng" -eq 1 ]; then ok; else
        bad "kill -9 after ${d}s: neither all old nor all new: $(jfield "$T/k.json" counts)"; fi
    same "integrity_check after kill -9 at ${d}s" "$(integrity)" "ok"
done
note "kill -9 rounds: $olds left the old state, $news the new one"
# After all that, the list still takes an update.
if [ "$cur" -eq 1 ]; then next=2; else next=1; fi
t update K "$T/k$next" --db "$DB"
expect_rc "a full 10^6-line update after the kills" 0
t get K 0 999999 --db "$DB"
if [ "$next" -eq 1 ]; then w=INVALID; else w=SUSPENDED; fi
expect_str "the full update applied" "$(printf '0\t%s\n999999\t%s' $w $w)"
same "integrity_check at the end" "$(integrity)" "ok"

if [ "$BACKEND" = sqlite ]; then # SQLite's fixture and sources (PostgreSQL's: pg_store.sh)
# ---- a store written by the first release (tests/fixtures/make_store_v01.sh) ----
# A copy of it is read as it is (read-only commands do not migrate), then migrated by
# the first command that writes, and answers every question as the old code did
# (tests/fixtures/store-v0.1.expect), including the next allocations.
FX=$(dirname "$0")/fixtures
FDB=$T/fixture.db
cp "$FX/store-v0.1.db" "$FDB"
chmod 600 "$FDB"
# fx_expect SECTION: the old code's answer to one question.
fx_expect() { awk -v s="== $1" '/^== /{on=($0==s);next} on' "$FX/store-v0.1.expect"; }
fx_hex() { od -An -tx1 | tr -d ' \n'; }
fxv() { sqlite3 "$FDB" "SELECT value FROM meta WHERE key = 'schema_version'"; }
t token F1 --db "$FDB"
expect_str "fixture: token F1 read before migrating" "$(fx_expect 'token F1 jwt')"
same "fixture: a read-only command leaves schema_version 1" "$(fxv)" "1"
t alloc F1 -n 3 --db "$FDB"
expect_str "fixture: the first write migrates, and allocates as the old code" \
    "$(fx_expect 'alloc F1 3')"
same "fixture: schema_version 7 after migrating" "$(fxv)" "7"
same "fixture: the migrations are recorded" \
    "$(sqlite3 "$FDB" "SELECT group_concat(version) FROM migrations")" "2,3,4,5,6,7"
same "fixture: the audit trail's index exists" \
    "$(sqlite3 "$FDB" "SELECT count(*) FROM sqlite_master WHERE name = 'batches_by_list'")" "1"
same "fixture: integrity_check after migrating" \
    "$(sqlite3 "$FDB" 'PRAGMA integrity_check')" "ok"
t alloc F2 -n 3 --db "$FDB"
expect_str "fixture: alloc F2 after migrating" "$(fx_expect 'alloc F2 3')"
t list ls --db "$FDB"
expect_str "fixture: list ls" "$(fx_expect ls)"
# show: the same settings and counts, but 3 more allocated and a later "updated".
for L in F1 F2; do
    t list show $L --json --db "$FDB"
    "$PY" - "$T/out" "$(fx_expect "show $L")" <<'PYEOF'
import json, sys
got, want = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
want["allocated"] += 3
want["free"] -= 3
for d in (got, want):
    d.pop("updated")
sys.exit(0 if got == want else 1)
PYEOF
    check "fixture: list show $L as before, 3 more allocated" $?
done
# shellcheck disable=SC2046
t get F1 $(seq 0 63) --db "$FDB"
expect_str "fixture: every status of F1" "$(fx_expect 'get F1')"
# shellcheck disable=SC2046
t get F2 $(seq 0 299) --db "$FDB"
expect_str "fixture: every status of F2" "$(fx_expect 'get F2')"
t token F1 --at 1700000100 --db "$FDB"
expect_str "fixture: F1's older token from the history" "$(fx_expect 'token F1 jwt at 1700000100')"
same "fixture: F1's CWT" "$("$TSL" token F1 --format cwt --db "$FDB" | fx_hex)" \
    "$(fx_expect 'token F1 cwt')"
same "fixture: F2's CWT" "$("$TSL" token F2 --db "$FDB" | fx_hex)" \
    "$(fx_expect 'token F2 cwt')"
# INVALID stays final in F1 after the migration; F2 was made without the rule.
I3=$(fx_expect 'get F1' | awk -F'\t' '$2 == "INVALID" {print $1}' | head -n 1)
t set F1 "$I3" VALID --db "$FDB"
expect_reject "fixture: INVALID is still final in F1" 'INVALID|final'

# ---- the seams, in the sources: the store reaches OpenSSL only through src/crypto
# (crypto/rand.c), and SQLite only in its backend (store_sqlite.c, store_sqlite.h).
SRC=$(dirname "$0")/../src/store
if [ -d "$SRC" ]; then
    _o=$(grep -l '#include <openssl/' "$SRC"/*.c "$SRC"/*.h)
    same "no file in src/store includes an OpenSSL header" "$_o" ""
    _s=$(grep -l '#include <sqlite3.h>' "$SRC"/*.c "$SRC"/*.h | sed 's|.*/||' | tr '\n' ' ')
    same "only the SQLite backend includes sqlite3.h" "$_s" "store_sqlite.h "
fi
fi # SQLite's fixture

finish
