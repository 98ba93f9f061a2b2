#!/bin/sh
# run_all.sh - the whole test suite, as `make test` runs it: BUILD=dir sh tests/run_all.sh
#
# Parts, in order: the unit tests ($BUILD/tests/run), each fuzz target's replay of its
# seed corpus and crash regressions, the CLI contract tests (tests/cli.sh) and the Python
# cross-checks (tests/xcheck.py under Debian's /usr/bin/python3). Each part ends with a
# closing line "NAME: N passed, N failed"; this script adds them up, keeps going after a
# failing part, and ends with "tests: TOTAL passed, TOTAL failed", exiting 1 if anything
# failed. A part that exits non-zero without a closing line (a crash, a sanitizer abort)
# counts as one failure; so does a part whose closing line reports no failure although
# it exited non-zero. A part that exits 0 without a closing line counts as one pass.
# TSL_SANITIZED=1 (make check) runs the same parts.
# One throwaway PostgreSQL cluster (tests/pg.sh) serves every part that needs a server
# (TSL_TEST_PG): started here, stopped on exit; failing to start it is one failure, and
# the PostgreSQL parts then fail too (they never skip).

BUILD=${BUILD:-build}
PY=/usr/bin/python3

total_pass=0
total_fail=0
summary=""

# part NAME CMD...: runs CMD, shows its output, adds its closing line to the totals.
part() {
    _name=$1
    shift
    _log=$(mktemp "${TMPDIR:-/tmp}/tsl-part.XXXXXX") || exit 2
    _t0=$(date +%s)
    "$@" >"$_log" 2>&1
    _rc=$?
    _t1=$(date +%s)
    cat "$_log"
    # The last line of the form "word: N passed, N failed".
    _line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed$' "$_log" | tail -n 1)
    rm -f "$_log"
    if [ -n "$_line" ]; then
        _p=$(echo "$_line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
        _f=$(echo "$_line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
        if [ "$_rc" -ne 0 ] && [ "$_f" -eq 0 ]; then
            echo "run_all: $_name exited $_rc but reported no failure; counting one" >&2
            _f=1
        fi
    elif [ "$_rc" -ne 0 ]; then
        echo "run_all: $_name exited $_rc without a closing line; counting one failure" >&2
        _p=0
        _f=1
    else
        _p=1
        _f=0
    fi
    total_pass=$((total_pass + _p))
    total_fail=$((total_fail + _f))
    summary="$summary
  $_name: $_p passed, $_f failed ($((_t1 - _t0)) s)"
}

# shellcheck source=tests/pg.sh
. tests/pg.sh
if ! pg_ensure; then
    echo "run_all: the PostgreSQL test cluster did not start (scripts/deps.sh installs it)" >&2
    total_fail=$((total_fail + 1))
fi

if [ "${TSL_SANITIZED:-0}" = 1 ]; then
    # Measured: about 2 minutes for every part under ASan+UBSan on 2 cores, so nothing
    # is skipped; the 10^7-entry cross-checks are the slowest part.
    echo "run_all: sanitized build: running every part, the cross-checks take longest"
fi

# 1. Unit tests, including the spec vectors.
if [ -x "$BUILD/tests/run" ]; then
    part unit "$BUILD/tests/run"
else
    echo "run_all: $BUILD/tests/run is missing" >&2
    total_fail=$((total_fail + 1))
fi

# 2. Fuzz targets replaying their corpus and regressions (the standalone driver takes
# the files as arguments). A target without any input file is skipped.
for bin in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    files=$(for d in "tests/fuzz/corpus/$name" "tests/fuzz/regress/$name"; do
        [ -d "$d" ] && find "$d" -type f ! -name '.*' | sort
    done)
    if [ -z "$files" ]; then
        echo "run_all: $name has no corpus or regression files; skipped"
        continue
    fi
    # File names in the corpora are hashes or plain words, never with spaces.
    # shellcheck disable=SC2086
    part "$name" "$bin" $files
done

# 2b. The layering rules: OpenSSL only in src/crypto, libmicrohttpd only at the edge,
# no src/ file reaching into tools/ (grep, instant).
part layers sh tests/check_layers.sh

# 3. The command-line contract.
part cli sh tests/cli.sh "$BUILD"
# The manual pages (man/): mandoc -T lint, and each subcommand's page lists the
# options of its --help; the bash completion (tests/completion.sh) (a few seconds each).
part man sh tests/man.sh "$BUILD"
part completion sh tests/completion.sh "$BUILD"
# Python's zlib inflates tsl encode's default output (the status-list encoder).
part segment_xcheck "$PY" tests/segment_xcheck.py "$BUILD"
# The encoder's price tables are what it measures now (bench price_tables; 2 s, 6 s
# under the sanitizers).
part prices sh tests/prices.sh "$BUILD"
part store sh tests/store.sh "$BUILD"
# The same on the PostgreSQL backend (about 45 s), then its own scenarios: concurrent
# allocation, kill -9 of a bulk update, un-revoking refused under load, passwords kept
# out of URLs and messages, migrations.
part store_pg sh tests/store.sh "$BUILD" pg
part pg_store sh tests/pg_store.sh "$BUILD"
# tsl apikey (issue 13): the secret once on stdout, only its SHA-256 stored, list,
# revoke, exit codes; on SQLite and PostgreSQL (a few seconds each).
part apikey sh tests/apikey.sh "$BUILD"
part apikey_pg sh tests/apikey.sh "$BUILD" pg
# tsl export: atomic (a write error leaves the previous export), never through a
# symbolic link (about 15 s, mostly fsync; as root it also fills a 1 MiB tmpfs).
part export sh tests/export.sh "$BUILD"
# An embedder's program (examples/publish.c) publishing a store made by tsl, checked
# against tsl token.
part examples sh tests/examples.sh "$BUILD"
# Incremental publishing (issue 15): incremental == from scratch after random changes,
# damaged segment rows rebuilt, SIGKILL mid-publication, tsl serve picking up a change;
# checked by jwcrypto, cbor2 and zlib (about 30 s each).
part incr sh tests/incr.sh "$BUILD"
part incr_pg sh tests/incr.sh "$BUILD" pg
# Concurrent writers: publish races under SIGSTOP, ranged updates against alloc (~15 s).
part store_race sh tests/store_race.sh "$BUILD"
# HTTP: tsl serve and nginx serving `tsl export` (about a minute; includes a 5 s wrk
# run and an idle-client timeout). Not under the sanitizers: the load and timeout
# checks measure the plain build's RSS and timing.
if [ "${TSL_SANITIZED:-}" != 1 ]; then
    part serve sh tests/serve.sh "$BUILD"
    # The publisher inside tsl serve: a key file that blocks, health, path clashes,
    # start-up and history reads with a 10^8-entry list (about a minute; timing).
    part serve_pub sh tests/serve_pub.sh "$BUILD"
    # tsl serve under a 5,000-connection slowloris flood and bad request heads (about
    # 30 s; measures latency, so not under the sanitizers either).
    part serve_attack sh tests/serve_attack.sh "$BUILD"
    # The systemd units (issue 16): systemd-analyze verify and security (the score the
    # README records), sd_notify readiness, and an strace of a server session against
    # the units' system call and address family filters (about 10 s). Not under the
    # sanitizers: the unit runs the plain build, and ASan makes calls of its own.
    part systemd sh tests/systemd.sh "$BUILD"
    # PostgreSQL (issue 12): two tsl serve on one database (each update served by both
    # within 1 s, one signature per version) and a 10 s database outage under them (no
    # 5xx, recovery within 5 s) (about 40 s); then the serve and publisher suites on a
    # PostgreSQL store.
    part pg_serve sh tests/pg_serve.sh "$BUILD"
    part serve_pg sh tests/serve.sh "$BUILD" pg
    part serve_pub_pg sh tests/serve_pub.sh "$BUILD" pg
fi
# The issuer API (tsl serve --admin-listen) through an independent Python client: the
# issuance flow checked on the public token with jwcrypto, retries, refusals, slowloris,
# the OpenAPI document's operations and schemas, TLS and mTLS (about 40 s each).
part admin sh tests/admin.sh "$BUILD"
part admin_pg sh tests/admin.sh "$BUILD" pg
# The relying party: tsl verify offline and against tsl serve over loopback (about 10 s).
part verify sh tests/verify.sh "$BUILD"
part verify_pg sh tests/verify.sh "$BUILD" pg
# Issue 18: tsl probe against tsl serve, nginx serving tsl export and a broken Python
# endpoint; tsl verify and tsl probe through every case of tsl rogue (about 30 s).
part probe sh tests/probe.sh "$BUILD"
# ISO 18013-5 identifier lists: mdocs and lists from tests/idl_issue.py (cbor2,
# cryptography) verified over a python HTTP listener; tsl decode --id (a few seconds).
part idlist sh tests/idlist.sh "$BUILD"
# The issuer's identifier lists: a list of kind identifier allocated, revoked by
# identifier, served by tsl serve and followed by tsl verify (SQLite, PostgreSQL).
part idlist_store sh tests/idlist_store.sh "$BUILD"
part idlist_store_pg sh tests/idlist_store.sh "$BUILD" pg
# Keys in hardware (issue 14): softhsm2 and opensc, every algorithm signed on a token
# and verified independently, tsl serve with an HSM key and the token removed and put
# back, a wrong PIN tried once (about a minute; timing: not under the sanitizers).
if [ "${TSL_SANITIZED:-}" != 1 ]; then
    part pkcs11 sh tests/pkcs11.sh "$BUILD"
fi
# Moving a store: tsl db copy from SQLite to PostgreSQL and back (the suite's cluster, a
# database of its own; about 15 s).
part pg_copy sh tests/pg_copy.sh "$BUILD"

# 3b. make install with PREFIX and DESTDIR, and a program built with pkg-config. Not
# under the sanitizers: the installed library would need their runtime to link.
if [ "${TSL_SANITIZED:-}" != 1 ]; then
    part install sh tests/install.sh "$BUILD"
fi

# 4. Cross-checks against Python's zlib, base64 and cbor2. deps.sh installs them, so a
# missing module is a failure, not a skip.
if [ -x "$PY" ]; then
    part xcheck "$PY" tests/xcheck.py "$BUILD"
    # Tokens: our JWTs and CWTs against jwcrypto and a COSE check on cbor2 and
    # cryptography, and theirs against ours, for every algorithm.
    part token_xcheck "$PY" tests/token_xcheck.py "$BUILD"
    # Raw signatures and JWKs for every algorithm against cryptography and jwcrypto.
    part sigxcheck "$PY" tests/sig_xcheck.py "$BUILD"
else
    echo "run_all: $PY is missing (run scripts/deps.sh)" >&2
    total_fail=$((total_fail + 1))
fi

echo "run_all:$summary"
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
