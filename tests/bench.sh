#!/bin/sh
# bench.sh - `make bench`: runs every benchmark case in its own process (so each peak
# RSS is that case's own) and prints one JSON line per case on stdout. See BENCHMARKS.md
# for the cases, the generator and the targets.
#
#   BUILD=build sh tests/bench.sh            all cases
#   BENCH_SIZES="1000000" sh tests/bench.sh  only some list sizes (default 10^6 10^7 10^8)
#   BENCH_ONLY=verify sh tests/bench.sh      only the relying party's cases (verify_warm,
#                                            verify_warm_kb, verify_cold)
#   BENCH_ONLY=db sh tests/bench.sh          only the store on SQLite and PostgreSQL
#                                            (tests/bench_db.sh)
#   BENCH_ONLY=pkcs11 sh tests/bench.sh      only keys in hardware (tests/bench_pkcs11.sh)
#   BENCH_ONLY=encode sh tests/bench.sh      only the encoder comparison: tsl default vs
#                                            libdeflate 12 vs zlib -9 (C and Python) at
#                                            every size and width (tests/bench_encode.sh)
#   BENCH_ONLY=incremental sh tests/bench.sh  only incremental publishing on both
#                                            backends (tests/bench_incr.sh)
#   BENCH_ONLY=idlist sh tests/bench.sh     only the 10^6-identifier list (parse, memory)
#   BENCH_ONLY=sign sh tests/bench.sh        only signing a precompressed JWT, tsl against
#                                            node jose in the same run (sign_cases below)
#   BENCH_ONLY=reads sh tests/bench.sh       only `tsl get` and `tsl list show` at 10^4
#                                            against 10^8 entries (reads_cases below)
#   BENCH_ONLY=admin sh tests/bench.sh       only the issuer API under wrk on both
#                                            backends (tests/bench_admin.sh)
#
# Library cases come from $BUILD/bench (tests/bench.c). The CLI cases measure the peak
# RSS of `$BUILD/tsl encode` and `$BUILD/tsl decode` on the 10^8-entry, 1-bit, 1% list,
# with /usr/bin/time when it is installed (Debian package `time`), otherwise with a
# wait4() wrapper in /usr/bin/python3 (deps.sh installs python3).
set -u

BUILD=${BUILD:-build}
BENCH=$BUILD/bench
TSL=$BUILD/tsl
# shellcheck source=tests/serve_wait.sh
. "$(dirname "$0")/serve_wait.sh"
SIZES=${BENCH_SIZES:-"1000000 10000000 100000000"}
CLI_N=100000000

if [ ! -x "$BENCH" ]; then
    echo "bench: $BENCH not built (make bench builds it)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsl-bench.XXXXXX") || exit 2
VPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$VPID" ] && kill "$VPID" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
run() {
    "$BENCH" "$@" || {
        echo "bench: case '$*' failed" >&2
        status=1
    }
}

# The relying party's check (tests/bench_verify.c) of an ES256 SD-JWT VC against the
# 10^6-entry one-bit generator list. Warm: the list token in the verifier's memory
# cache, without and with a key-binding JWT. Cold: a fresh verifier per check fetching
# the list from a real `tsl serve` on 127.0.0.1 (a store holding `bench gen`, so the
# bench knows every entry's value), 200 times.
VERIFY_N=1000000
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
verify_cold() {
    vd=$tmp/verify
    mkdir -p "$vd"
    if [ ! -x "$TSL" ]; then
        echo "bench: $TSL not built; verify_cold skipped" >&2
        return 1
    fi
    if ! "$TSL" keygen --alg ES256 --out "$vd/list.pem" >"$vd/list.jwk" 2>"$vd/err" ||
        ! "$BENCH" gen "$VERIFY_N" 1 >"$vd/revoked.txt"; then
        echo "bench: verify_cold setup: $(head -c 300 "$vd/err")" >&2
        return 1
    fi
    # The list's uri names the port, so a port lost to another process between
    # free_port and tsl serve means a new store: at most 5 tries.
    k=0
    while [ $k -lt 5 ] && [ -z "$VPID" ]; do
        k=$((k + 1))
        port=$(free_port) || return 1
        url=http://127.0.0.1:$port/statuslists/bench
        db=$vd/tsl-$k.db
        { "$TSL" list create V --uri "$url" --allow-http --bits 1 --size "$VERIFY_N" \
            --lifetime 86400 --ttl 300 --key "$vd/list.pem" --db "$db" &&
            "$TSL" update V "$vd/revoked.txt" --db "$db" &&
            "$TSL" publish V --db "$db"; } >/dev/null 2>"$vd/err" || {
            echo "bench: verify_cold store: $(head -c 300 "$vd/err")" >&2
            return 1
        }
        serve_bg "$vd/serve.log" --db "$db" --listen "127.0.0.1:$port"
        VPID=$SERVE_PID
    done
    if [ -z "$VPID" ]; then
        echo "bench: tsl serve did not start: $(head -c 300 "$vd/serve.log" | tr '\n' '|')" >&2
        return 1
    fi
    rc=0
    "$BENCH" verify_cold "$VERIFY_N" 1 "$url" "$vd/list.jwk" 200 || rc=1
    kill -TERM "$VPID"
    wait "$VPID" || {
        echo "bench: tsl serve exited $? after SIGTERM" >&2
        rc=1
    }
    VPID=""
    return $rc
}
verify_cases() {
    run verify_warm "$VERIFY_N" 1
    run verify_warm "$VERIFY_N" 1 kb
    verify_cold || {
        echo "bench: case 'verify_cold' failed" >&2
        status=1
    }
}
# Signing a JWT whose list is already compressed (the publisher's case), tsl against
# node jose (npm, installed once into $BUILD/bench-node) signing the same claims with
# the same key in the same run: one line per size and algorithm with both medians and
# ratio = tsl / jose (target <= 1.0). jose is measured two ways (tests/bench_jose.mjs):
# SignJWT of the claims object, and CompactSign of the payload bytes already
# serialised, the cheaper; the ratio is against the cheaper.
SIGN_SIZES=${BENCH_SIGN_SIZES:-"1000000 10000000"}
sign_cases() {
    nm=$BUILD/bench-node
    if [ ! -d "$nm/node_modules/jose" ]; then
        mkdir -p "$nm" && (cd "$nm" && npm install --no-audit --no-fund --silent jose@6) \
            >"$tmp/npm.log" 2>&1 || {
            echo "bench: npm install jose failed: $(tail -c 300 "$tmp/npm.log")" >&2
            return 1
        }
    fi
    rc=0
    for n in $SIGN_SIZES; do
        for alg in ES256 EdDSA; do
            sd=$tmp/sign-$n-$alg
            mkdir -p "$sd"
            "$BENCH" sign "$n" 1 "$alg" "$sd" >"$sd/tsl.json" &&
                node tests/bench_jose.mjs "$nm/node_modules" "$sd" "$alg" >"$sd/jose.json" &&
                /usr/bin/python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
a.update(b)
a["ratio"] = round(a["tsl_ms_median"] / min(b["jose_jwt_ms"], b["jose_compact_ms"]), 4)
a["ratio_vs_signjwt"] = round(a["tsl_ms_median"] / b["jose_jwt_ms"], 4)
print(json.dumps(a, separators=(",", ":")))' "$sd/tsl.json" "$sd/jose.json" || rc=1
            rm -rf "$sd"
        done
    done
    return $rc
}
# Runs "$@" with stdout to $out_file and sets rss_kb, secs and rc.
measure() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -o "$tmp/time" -f '%M %e' "$@" >"$out_file"
        rc=$?
        read -r rss_kb secs <"$tmp/time" || true
    else
        /usr/bin/python3 -c '
import os, sys, time
t0 = time.monotonic()
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.fork()
if pid == 0:
    os.dup2(out, 1)
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, st, ru = os.wait4(pid, 0)
print(ru.ru_maxrss, "%.2f" % (time.monotonic() - t0))
sys.exit(os.waitstatus_to_exitcode(st) & 255)
' "$out_file" "$@" >"$tmp/time"
        rc=$?
        read -r rss_kb secs <"$tmp/time" || true
    fi
    rss_kb=${rss_kb:-null}
    secs=${secs:-null}
}

if [ "${BENCH_ONLY:-}" = sign ]; then
    sign_cases || status=1
    exit $status
fi
# Reads that do not load the list: `tsl get` of 3 indices and `tsl list show --json`
# on a 10^4-entry and a 10^8-entry one-bit list (1% set, the generator's), in the same
# run, each command end to end (process start included) 21 times: the median ms at
# each size and ratio = large / small (target: about 1), and each one's peak RSS. On
# SQLite, and on PostgreSQL too when TSL_TEST_PG names a cluster (tests/pg.sh).
READS_SMALL=10000
READS_LARGE=${BENCH_READS_LARGE:-100000000}
reads_median_ms() {
    k=0
    : >"$tmp/reads.ms"
    while [ $k -lt 21 ]; do
        t0=$(date +%s%N)
        "$@" >/dev/null 2>"$tmp/reads.err" || {
            echo "bench: $*: $(head -c 300 "$tmp/reads.err")" >&2
            return 1
        }
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >>"$tmp/reads.ms"
        k=$((k + 1))
    done
    sort -n "$tmp/reads.ms" | awk 'NR == 11 { printf "%.3f", $1 / 1000 }'
}
reads_backend() {
    backend=$1
    rd=$tmp/reads-$backend
    mkdir -p "$rd"
    "$TSL" keygen --alg ES256 --out "$rd/k.pem" >/dev/null || return 1
    for n in $READS_SMALL $READS_LARGE; do
        if [ "$backend" = sqlite ]; then
            db=$rd/r$n.db
        else
            name=tsl_bench_reads_$$_$n
            psql "$TSL_TEST_PG" -qAt -c "SET client_min_messages = warning" \
                -c "DROP DATABASE IF EXISTS $name" \
                -c "CREATE DATABASE $name" >/dev/null || return 1
            db=$(echo "$TSL_TEST_PG" | sed "s|^\(postgres[a-z]*://[^/?]*/\)[^?]*|\1$name|")
        fi
        eval "db_$n=\$db"
        { "$TSL" list create R --uri "https://example.com/sl/r$n" --bits 1 --size "$n" \
            --key "$rd/k.pem" --db "$db" &&
            "$BENCH" gen "$n" 1 >"$rd/gen" &&
            "$TSL" update R "$rd/gen" --db "$db"; } >/dev/null 2>"$rd/err" || {
            echo "bench: reads setup ($backend, $n): $(head -c 300 "$rd/err")" >&2
            return 1
        }
    done
    rc=0
    for what in get show; do
        for n in $READS_SMALL $READS_LARGE; do
            eval "db=\$db_$n"
            if [ $what = get ]; then
                set -- "$TSL" get R 0 $((n / 2)) $((n - 1)) --db "$db"
            else
                set -- "$TSL" list show R --json --db "$db"
            fi
            eval "ms_$n=\$(reads_median_ms \"\$@\")" || rc=1
            out_file=$rd/out
            measure "$@"
            eval "rss_$n=\$rss_kb"
        done
        eval "a=\$ms_$READS_SMALL b=\$ms_$READS_LARGE ra=\$rss_$READS_SMALL rb=\$rss_$READS_LARGE"
        printf '{"case":"reads_%s","backend":"%s","bits":1,"n_small":%s,"n_large":%s,"ms_small_median":%s,"ms_large_median":%s,"ratio":%s,"peak_rss_kb_small":%s,"peak_rss_kb_large":%s}\n' \
            "$what" "$backend" $READS_SMALL "$READS_LARGE" "${a:-null}" "${b:-null}" \
            "$(awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { if (a > 0) printf "%.3f", b / a; else printf "null" }')" \
            "$ra" "$rb"
    done
    if [ "$backend" = pg ]; then
        for n in $READS_SMALL $READS_LARGE; do
            psql "$TSL_TEST_PG" -qAt -c "SET client_min_messages = warning" \
                -c "DROP DATABASE IF EXISTS tsl_bench_reads_$$_$n" \
                >/dev/null 2>&1
        done
    fi
    rm -rf "$rd"
    return $rc
}
reads_cases() {
    rrc=0
    reads_backend sqlite || rrc=1
    if [ -n "${TSL_TEST_PG:-}" ]; then
        reads_backend pg || rrc=1
    fi
    return $rrc
}
if [ "${BENCH_ONLY:-}" = reads ]; then
    reads_cases || status=1
    exit $status
fi
if [ "${BENCH_ONLY:-}" = verify ]; then
    verify_cases
    exit $status
fi
if [ "${BENCH_ONLY:-}" = pkcs11 ]; then
    sh tests/bench_pkcs11.sh "$BUILD" || status=1
    exit $status
fi
if [ "${BENCH_ONLY:-}" = db ]; then
    sh tests/bench_db.sh "$BUILD" || status=1
    exit $status
fi
if [ "${BENCH_ONLY:-}" = encode ]; then
    sh tests/bench_encode.sh "$BUILD" || status=1
    exit $status
fi
if [ "${BENCH_ONLY:-}" = incremental ]; then
    sh tests/bench_incr.sh "$BUILD" || status=1
    exit $status
fi
# Identifier lists (ISO 18013-5): 10^6 identifiers signed by one process, parsed and
# queried by another (tests/bench_idlist.c).
idlist_cases() {
    run idlist_gen 1000000 1 "$tmp/idlist.cwt"
    run idlist 1000000 1 "$tmp/idlist.cwt"
}
if [ "${BENCH_ONLY:-}" = idlist ]; then
    idlist_cases
    exit $status
fi
if [ "${BENCH_ONLY:-}" = admin ]; then
    sh tests/bench_admin.sh "$BUILD" || status=1
    exit $status
fi

for n in $SIZES; do
    for bits in 1 8; do
        lst=$tmp/lst-$n-$bits
        run encode "$n" "$bits" 0 "$lst"
        if [ -s "$lst" ]; then
            run decode "$n" "$bits" "$lst" 0
        fi
        rm -f "$lst"
        run lookup "$n" "$bits"
    done
done
# Status List Tokens of a 10^6-entry list: sign, decode, verify vs bare OpenSSL.
for fmt in jwt cwt; do
    for alg in ES256 EdDSA; do
        run token 1000000 1 "$fmt" "$alg"
    done
done
verify_cases
idlist_cases
sign_cases || {
    echo "bench: case 'sign' failed" >&2
    status=1
}
# The fast level at the largest size: the trade-off the header documents.
run encode "$CLI_N" 1 6
# The encoder against libdeflate 12 and zlib -9 (C and Python), every size and width.
sh tests/bench_encode.sh "$BUILD" || status=1


cli_case() {
    name=$1
    shift
    out_file=$1
    shift
    measure "$@"
    bytes=$(wc -c <"$out_file" | tr -d ' ')
    printf '{"case":"%s","n":%s,"bits":1,"peak_rss_kb":%s,"seconds":%s,"exit":%s,"output_bytes":%s}\n' \
        "$name" "$CLI_N" "$rss_kb" "$secs" "$rc" "$bytes"
    if [ "$rc" -ne 0 ]; then
        echo "bench: $name: $* exited $rc" >&2
        status=1
    fi
}

if [ -x "$TSL" ]; then
    if "$BENCH" gen "$CLI_N" 1 >"$tmp/input.txt"; then
        cli_case cli_encode_rss "$tmp/out.json" \
            "$TSL" encode --bits 1 --size "$CLI_N" "$tmp/input.txt"
        cli_case cli_decode_rss "$tmp/decoded.txt" "$TSL" decode "$tmp/out.json"
    else
        echo "bench: generating the CLI input failed" >&2
        status=1
    fi
else
    echo "bench: $TSL not built; CLI cases skipped" >&2
    status=1
fi
# The issuer store on a 10^8-entry 1-bit list in a temporary database: `tsl update` of
# 10^6 random changes from a file (committed durably), one `tsl set` (end to end, in
# ms: best and worst of 5), `tsl alloc -n 100000`, `tsl publish` of both forms and of
# each alone, `tsl get` / `tsl token` / `tsl list show`, and updates of one and of
# 1,000 full-range lines; each with its peak RSS.
# Targets (BENCHMARKS.md): update <= 5 s, set <= 50 ms, alloc <= 2 s, publish <= twice
# the core encode, every peak RSS <= 3 x 12.5 MB + 32 MB = 71,200 KiB.
store_case() {
    name=$1
    shift
    out_file=$tmp/store.out
    measure "$@"
    printf '{"case":"%s","n":%s,"bits":1,"peak_rss_kb":%s,"seconds":%s,"exit":%s}\n' \
        "$name" "$CLI_N" "$rss_kb" "$secs" "$rc"
    if [ "$rc" -ne 0 ]; then
        echo "bench: $name: $* exited $rc: $(head -c 300 "$out_file")" >&2
        status=1
    fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

if [ -x "$TSL" ]; then
    sdb=$tmp/store.db
    if "$TSL" keygen --alg ES256 --out "$tmp/store.pem" >/dev/null; then
        store_case store_create "$TSL" list create B --uri https://example.com/sl/b \
            --bits 1 --size "$CLI_N" --key "$tmp/store.pem" --db "$sdb"
        # 10^6 random indices set INVALID (a 1-bit list has no other change).
        awk -v n="$CLI_N" 'BEGIN { srand(42)
            for (i = 0; i < 1000000; i++) printf "%d 1\n", int(rand() * n) }' \
            >"$tmp/store.upd"
        store_case store_update_1e6 "$TSL" update B "$tmp/store.upd" --db "$sdb"
        best=999999
        worst=0
        k=0
        while [ $k -lt 5 ]; do
            t0=$(now_ms)
            "$TSL" set B $((k * 7919 + 13)) INVALID --db "$sdb" || status=1
            t1=$(now_ms)
            ms=$((t1 - t0))
            [ "$ms" -lt "$best" ] && best=$ms
            [ "$ms" -gt "$worst" ] && worst=$ms
            k=$((k + 1))
        done
        out_file=$tmp/store.out
        measure "$TSL" set B 99999999 INVALID --db "$sdb"
        printf '{"case":"store_set","n":%s,"bits":1,"ms_best":%s,"ms_worst":%s,"peak_rss_kb":%s,"exit":%s}\n' \
            "$CLI_N" "$best" "$worst" "$rss_kb" "$rc"
        store_case store_alloc_1e5 "$TSL" alloc B -n 100000 --db "$sdb"
        store_case store_publish_both "$TSL" publish B --db "$sdb"
        store_case store_publish_jwt "$TSL" publish B --format jwt --db "$sdb"
        store_case store_publish_cwt "$TSL" publish B --format cwt --db "$sdb"
        store_case store_get "$TSL" get B 0 99999999 --db "$sdb"
        store_case store_token_jwt "$TSL" token B --db "$sdb"
        store_case store_list_show "$TSL" list show B --json --db "$sdb"
        # Last, since they rewrite the whole list: one full-range line, then 1,000 (each
        # changing every entry; --force, as VALID follows INVALID), whose cost should
        # stay near the one line's (issue 10).
        echo "0-$((CLI_N - 1)) 1" >"$tmp/store.r1"
        awk -v last=$((CLI_N - 1)) 'BEGIN { for (i = 1; i <= 1000; i++) print "0-" last, i % 2 }' \
            >"$tmp/store.r1000"
        store_case store_update_range_1 "$TSL" update B "$tmp/store.r1" --db "$sdb"
        store_case store_update_ranges_1e3 "$TSL" update B "$tmp/store.r1000" --force \
            --db "$sdb"
    else
        echo "bench: keygen failed; store cases skipped" >&2
        status=1
    fi
fi

# `tsl get` and `tsl list show` at 10^4 against 10^8 entries (reads_cases above).
reads_cases || status=1

# From a commit (tsl set) to the new token served by two tsl serve on one store, on both
# backends (tests/bench_propagate.sh: SQLite polls every second, PostgreSQL pushes).
sh tests/bench_propagate.sh "$BUILD" || status=1

# HTTP serving: wrk against tsl serve and against nginx serving `tsl export` of the same
# token (tests/bench_serve.sh prints serve_tsl, serve_nginx and serve_ratio).
sh tests/bench_serve.sh "$BUILD" || status=1
# The store on both backends, a throwaway PostgreSQL cluster (tests/bench_db.sh).
sh tests/bench_db.sh "$BUILD" || status=1
# Incremental publishing on both backends (tests/bench_incr.sh).
sh tests/bench_incr.sh "$BUILD" || status=1
# Keys in hardware: signatures per second and a 10^6-entry publish through softhsm2
# against the same key in memory (tests/bench_pkcs11.sh, about 30 s).
sh tests/bench_pkcs11.sh "$BUILD" || status=1
# The issuer API (tsl serve --admin-listen) under wrk on both backends
# (tests/bench_admin.sh: allocations of 1 and 100, single changes, one bulk of 10^6).
sh tests/bench_admin.sh "$BUILD" || status=1
exit $status
