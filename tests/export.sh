#!/bin/sh
# export.sh - `tsl export` publishes whole or not at all, and never writes through a
# symbolic link. The layout (DIR/current a link to the version directory, DIR/nginx.conf
# a link to current/nginx.conf, nginx's root DIR/current, files 0644 and directories 0755
# whatever the umask); a failed export after a write error, made with RLIMIT_FSIZE (write
# fails with EFBIG, no root needed) and, as root, with a full 2 MiB tmpfs (ENOSPC):
# exit 2 with a message, and nginx.conf and every served file are the previous export's,
# byte for byte, with nothing left behind; symbolic links planted at a list's directory
# (in DIR and in the live version), at DIR/current, at a stale version name and at
# DIR/nginx.conf: nothing is written or removed through them; concurrent exports into
# one DIR; lists whose files would collide; a deep path. No nginx needed: tests/serve.sh
# serves an export with nginx.
#
# Usage: sh tests/export.sh [BUILD_DIR]   (run from the project root; about 15 s)
# Needs /usr/bin/python3 (RLIMIT_FSIZE) and sha256sum. Closing line:
# "export: N passed, N failed".

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE="export"
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3
SRC=$(pwd)

if [ ! -x "$TSL" ]; then
    echo "export: $TSL is missing (run make)" >&2
    fail=1
    finish
fi
case $TSL in /*) ;; *) TSL=$(pwd)/$TSL ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-export.XXXXXX") || exit 2
MNT=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
DB=$T/tsl.db
unset TSL_DB

# check NAME STATUS: passes when STATUS (of the last command) is 0.
check() {
    if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi
}
# served DIR: what nginx would serve from DIR: nginx.conf, then every file under the
# root it names (nginx.conf itself excluded), each with its SHA-256, in name order.
# Independent of the layout, so that it says the same of the code before this test.
served() {
    if [ ! -f "$1/nginx.conf" ]; then
        echo "no nginx.conf"
        return
    fi
    echo "nginx.conf $(sha256sum <"$1/nginx.conf" | cut -c1-64)"
    _root=$(sed -n 's/^    root "\(.*\)";$/\1/p' "$1/nginx.conf")
    (cd "$_root/" && find . -type f ! -name nginx.conf | LC_ALL=C sort | while read -r _f; do
        echo "$_f $(sha256sum <"$_f" | cut -c1-64)"
    done)
}
# versions DIR: how many version directories (or anything named like one) DIR holds.
versions() { find "$1" -maxdepth 1 -name '.tsl-export.*' | wc -l; }
# layout NAME DIR: DIR/current links to the one version directory, DIR/nginx.conf to
# current/nginx.conf, no temporary link is left.
layout() {
    _cur=$(readlink "$2/current")
    case $_cur in
    .tsl-export.??????) if [ -d "$2/$_cur" ] && [ ! -L "$2/$_cur" ]; then ok; else
        bad "$1: current -> $_cur, which is not a directory"; fi ;;
    *) bad "$1: current -> '$_cur', expected .tsl-export.XXXXXX" ;;
    esac
    same "$1: nginx.conf link" "$(readlink "$2/nginx.conf")" current/nginx.conf
    same "$1: version directories" "$(versions "$2")" 1
    if [ -e "$2/.tsl-export-link.tmp" ] || [ -L "$2/.tsl-export-link.tmp" ]; then
        bad "$1: temporary link left"; else ok; fi
}
# fsize_limit BYTES CMD...: runs CMD with RLIMIT_FSIZE at BYTES and SIGXFSZ ignored, so
# that a write past the limit fails with EFBIG, as on a full disk.
fsize_limit() {
    "$PY" -c 'import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
os.execv(sys.argv[2], sys.argv[2:])' "$@"
}
# publish_all: re-signs every list (new iat, so every token file changes).
publish_all() {
    for _l in L1 L2 L3; do
        "$TSL" publish "$_l" --db "$DB" >/dev/null 2>"$T/err" || bad "publish $_l: $(errline)"
    done
}

# ---------------------------------------------------------------------------------- #
# Lists: a JWT+CWT list, a CWT-only list and, last, a big one whose tokens (about
# 200 KB) are the files a small size limit stops.

"$TSL" keygen --alg ES256 --out "$T/k.pem" >"$T/pub.jwk" 2>"$T/err"
check "keygen: $(errline)" $?
"$TSL" list create L1 --uri https://example.com/statuslists/1 --bits 2 --size 1000 \
    --ttl 300 --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err"
check "list create L1: $(errline)" $?
"$TSL" list create L2 --uri https://example.com/statuslists/2 --bits 1 --size 100 \
    --formats cwt --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err"
check "list create L2: $(errline)" $?
"$TSL" list create L3 --uri https://example.com/big/list --bits 1 --size 1000000 \
    --decoys 300000 --key "$T/k.pem" --db "$DB" >/dev/null 2>"$T/err"
check "list create L3: $(errline)" $?
publish_all

W=$T/www
# exp DIR: the export under test, into DIR.
exp() { "$TSL" export "$1" --db "$DB" --aggregation-path /statuslists; }

# ---------------------------------------------------------------------------------- #
# The layout, and what an export writes.

# A tight umask must not make the export unreadable to nginx's user.
(umask 077 && exp "$W" >"$T/out" 2>"$T/err")
rc=$?
expect_rc "first export" 0
layout "first export" "$W"
same "nginx.conf root" "$(sed -n 's/^    root "\(.*\)";$/\1/p' "$W/nginx.conf")" \
    "$(cd "$W" && pwd -P)/current"
for _f in statuslists/1.jwt statuslists/1.jwt.gz statuslists/1.cwt statuslists/2.cwt \
    big/list.jwt big/list.jwt.gz big/list.cwt statuslists.json nginx.conf; do
    same "mode of $_f" "$(stat -c %a "$W/current/$_f" 2>&1)" 644
done
same "mode of the version directory" "$(stat -L -c %a "$W/current")" 755
same "mode of big/" "$(stat -c %a "$W/current/big")" 755
"$TSL" token L1 --db "$DB" >"$T/l1.jwt" 2>/dev/null
if cmp -s "$T/l1.jwt" "$W/current/statuslists/1.jwt" ||
    [ "$(tr -d '\n' <"$T/l1.jwt")" = "$(cat "$W/current/statuslists/1.jwt")" ]; then ok; else
    bad "statuslists/1.jwt is not L1's token"; fi
same "gzip file unzips to the JWT" "$(gzip -dc "$W/current/statuslists/1.jwt.gz" | sha256sum)" \
    "$(sha256sum <"$W/current/statuslists/1.jwt")"
if grep -q "L3: https://example.com/big/list -> .*/current/big/list (jwt,cwt)" "$T/out"; then
    ok; else
    bad "stdout does not name L3's files: $(head -c 300 "$T/out" | tr '\n' '|')"; fi

# A second export replaces the version and removes the old one.
_v1=$(readlink "$W/current")
exp "$W" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "second export" 0
layout "second export" "$W"
if [ "$(readlink "$W/current")" != "$_v1" ] && [ ! -e "$W/$_v1" ]; then ok; else
    bad "second export: the version $_v1 is still there or still current"; fi

# ---------------------------------------------------------------------------------- #
# Item 13: a write error (EFBIG under RLIMIT_FSIZE) in the middle of an export. L1 and
# L2's files fit under 64 KiB, L3's do not; with new tokens recorded, the failed export
# must leave the previous one served, byte for byte.

before=$(served "$W")
"$TSL" set L1 5 INVALID --db "$DB" >/dev/null 2>&1
publish_all
fsize_limit 65536 "$TSL" export "$W" --db "$DB" --aggregation-path /statuslists \
    >"$T/out" 2>"$T/err"
rc=$?
expect_rc "export after a write error (EFBIG)" 2
if grep -q "File too large" "$T/err" && grep -q "previous export is still in place" "$T/err"; then
    ok; else bad "EFBIG export: stderr does not name the error: $(errline)"; fi
same "EFBIG export: nginx.conf and every served file unchanged" "$(served "$W")" "$before"
layout "EFBIG export" "$W"
# The same export without the limit succeeds and does change the files (the check
# above compared something that would have changed).
exp "$W" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "export after the EFBIG one" 0
if [ "$(served "$W")" != "$before" ]; then ok; else bad "the new tokens were not exported"; fi
layout "export after the EFBIG one" "$W"

# The same with a real full disk: a 2 MiB tmpfs (root only, skipped otherwise). One
# export (about 500 KB) fits; a filler leaves 128 KiB free, which a new one overruns.
# 2 MiB, not 1: with room again, the new export is staged beside the old one, and both
# must fit with room to spare (at 1 MiB they did only just, and not always).
if [ "$(id -u)" = 0 ] && mkdir "$T/mnt" &&
    mount -t tmpfs -o size=2m,mode=0755 tsltest "$T/mnt" 2>"$T/err"; then
    MNT=$T/mnt
    exp "$MNT/www" >"$T/out" 2>"$T/err"
    rc=$?
    expect_rc "tmpfs: first export" 0
    note "tmpfs: one export takes $(du -sk "$MNT/www" | cut -f1) KiB of the 2048"
    dd if=/dev/zero of="$MNT/filler" bs=4096 2>/dev/null
    truncate -s -131072 "$MNT/filler"
    before=$(served "$MNT/www")
    publish_all
    exp "$MNT/www" >"$T/out" 2>"$T/err"
    rc=$?
    expect_rc "tmpfs: export on a full disk (ENOSPC)" 2
    if grep -q "No space left on device" "$T/err" &&
        grep -q "previous export is still in place" "$T/err"; then
        ok; else bad "ENOSPC export: stderr does not name the error: $(errline)"; fi
    same "ENOSPC export: nginx.conf and every served file unchanged" "$(served "$MNT/www")" \
        "$before"
    layout "ENOSPC export" "$MNT/www"
    rm -f "$MNT/filler"
    exp "$MNT/www" >"$T/out" 2>"$T/err"
    rc=$?
    expect_rc "tmpfs: export with room again" 0
    layout "tmpfs: export with room again" "$MNT/www"
    umount "$MNT" && MNT=""
else
    note "not root or no tmpfs mount ($(errline)): the ENOSPC case is skipped;" \
        "EFBIG covers the write error"
fi

# ---------------------------------------------------------------------------------- #
# Item 14: symbolic links in the export tree are never followed.

mkdir -p "$T/victim"
echo canary >"$T/victim/canary"
victim_is_intact() {
    same "$1: the other directory is untouched" \
        "$(cd "$T/victim" && find . | LC_ALL=C sort | tr '\n' ' ')" ". ./canary "
    same "$1: canary" "$(cat "$T/victim/canary" 2>&1)" canary
}

# A link at a list's directory, directly in DIR (where the files of the former layout
# went): the export does not use that name at all, so nothing goes through it.
W2=$T/www2
mkdir "$W2"
ln -s "$T/victim" "$W2/statuslists"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "link at DIR/statuslists: export" 0
victim_is_intact "link at DIR/statuslists"
if [ -f "$W2/current/statuslists/1.jwt" ] && [ ! -L "$W2/current/statuslists" ]; then ok; else
    bad "link at DIR/statuslists: the files are not in the new version"; fi

# A link at a list's directory inside the live version: the next export writes a
# fresh version and removes the old one by unlinking the link, not what it points to.
_v=$(readlink "$W2/current")
rm -rf "${W2:?}/$_v/statuslists"
ln -s "$T/victim" "$W2/$_v/statuslists"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "link inside the live version: export" 0
victim_is_intact "link inside the live version"
layout "link inside the live version" "$W2"

# A stale version name that is a link (as a killed export would never leave): removed
# as a link.
ln -s "$T/victim" "$W2/.tsl-export.AAAAAA"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "link at a version name: export" 0
victim_is_intact "link at a version name"
layout "link at a version name" "$W2"

# DIR/nginx.conf a link to another file (or a file of the former layout): replaced
# by the link to current/nginx.conf, never written through.
ln -sf "$T/victim/canary" "$W2/nginx.conf"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "link at nginx.conf: export" 0
victim_is_intact "link at nginx.conf"
layout "link at nginx.conf" "$W2"
rm -f "$W2/nginx.conf"
echo "old layout" >"$W2/nginx.conf"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "a file at nginx.conf: export" 0
layout "a file at nginx.conf" "$W2"

# DIR/current a link to another directory: refused, nothing written there, the link
# left as it is.
before=$(served "$W2")
_v=$(readlink "$W2/current")
ln -sfn "$T/victim" "$W2/current"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "current linked elsewhere: export" 2
if grep -q "did not make" "$T/err"; then ok; else
    bad "current linked elsewhere: stderr: $(errline)"; fi
victim_is_intact "current linked elsewhere"
same "current linked elsewhere: the link stays" "$(readlink "$W2/current")" "$T/victim"
same "current linked elsewhere: the version stays" "$(versions "$W2")" 1
# DIR/current a directory, and DIR/nginx.conf a directory: refused.
rm "$W2/current"
mkdir "$W2/current"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "current a directory: export" 2
if grep -q "not a symbolic link" "$T/err"; then ok; else
    bad "current a directory: stderr: $(errline)"; fi
rmdir "$W2/current"
ln -s "$_v" "$W2/current"
same "restored" "$(served "$W2")" "$before"
rm "$W2/nginx.conf"
mkdir "$W2/nginx.conf"
"$TSL" export "$W2" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
expect_rc "nginx.conf a directory: export" 2
same "nginx.conf a directory: the version stays" "$(readlink "$W2/current")" "$_v"
rmdir "$W2/nginx.conf"

# ---------------------------------------------------------------------------------- #
# Concurrent exports into one DIR are serialised: all succeed, one version remains.

_pids=""
for _k in 1 2 3; do
    "$TSL" export "$W" --db "$DB" >"$T/out$_k" 2>"$T/err$_k" &
    _pids="$_pids $!"
done
_n=0
for _p in $_pids; do
    wait "$_p" || _n=$((_n + 1))
done
same "three concurrent exports: failures" "$_n" 0
layout "three concurrent exports" "$W"

# ---------------------------------------------------------------------------------- #
# Paths: lists whose files would collide are skipped (exit 1), the others exported;
# a path 30 directories deep is written.

DB2=$T/paths.db
_deep=$(i=0; while [ $i -lt 30 ]; do printf '/d%02d' $i; i=$((i + 1)); done)
# mk ID PATH: creates and publishes a small list at https://example.com/PATH; sets
# made=1, or made=0 when the store's uri rules refuse it (exit 1), which is noted.
mk() {
    "$TSL" list create "$1" --uri "https://example.com$2" --bits 1 --size 16 \
        --key "$T/k.pem" --db "$DB2" >/dev/null 2>"$T/err"
    rc=$?
    made=0
    if [ "$rc" = 0 ]; then
        made=1
        "$TSL" publish "$1" --db "$DB2" >/dev/null 2>"$T/err" || bad "publish $1: $(errline)"
    elif [ "$rc" = 1 ]; then
        note "list create refuses $2 ($(errline)); its export case is skipped"
    else
        bad "list create $1: exit $rc: $(errline)"
    fi
}
mk A /s/1
mk D "$_deep/l"
mk B /s/1.jwt/x
made_b=$made
mk C /nginx.conf/y
made_c=$made
"$TSL" export "$T/www3" --db "$DB2" >"$T/out" 2>"$T/err"
rc=$?
_want=0
[ "$made_b$made_c" != 00 ] && _want=1
expect_rc "colliding paths: export" "$_want"
if [ "$made_b" = 1 ]; then
    if grep -q "B: its file s/1.jwt/x.jwt would collide with s/1.jwt of list A" "$T/err"; then
        ok; else bad "colliding paths (B): stderr: $(errline)"; fi
fi
if [ "$made_c" = 1 ]; then
    if grep -q "C: its file nginx.conf/y.jwt would collide with nginx.conf" "$T/err"; then
        ok; else bad "colliding paths (C): stderr: $(errline)"; fi
fi
same "colliding paths: locations" "$(grep -c '^    location = ' "$T/www3/nginx.conf")" 2
if [ -f "$T/www3/current$_deep/l.jwt.gz" ]; then ok; else bad "deep path not written"; fi
if [ -e "$T/www3/current/s/1.jwt/x.jwt" ] || [ -e "$T/www3/current/nginx.conf/y.jwt" ]; then
    bad "a skipped list's file was written"; else ok; fi

# Item 24: path names are built with bounded, checked formatting only.
if grep -nE '\<(strcat|strcpy|sprintf|vsprintf)\(' "$SRC/tools/cmd_export.c" >"$T/grep"; then
    bad "tools/cmd_export.c uses unbounded string functions: $(tr '\n' '|' <"$T/grep")"
else
    ok
fi

finish
