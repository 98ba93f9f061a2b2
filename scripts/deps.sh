#!/bin/sh
# Install the Debian 12 packages tsl needs to build, test and benchmark.
# Run as root (CI and `make demo` do); as another user it only reports what is missing.
set -eu

PKGS="build-essential pkg-config zlib1g-dev libdeflate-dev libssl-dev libcbor-dev
libjansson-dev libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libsqlite3-dev sqlite3
clang libclang-rt-14-dev python3 python3-cryptography python3-jwcrypto python3-cbor2 python3-jsonschema openssl
curl nginx-light wrk netcat-openbsd postgresql libpq-dev"
# PKCS#11 (issue 14): p11-kit's pkcs11.h; softhsm2 and opensc (pkcs11-tool, pkcs11-spy)
# for tests/pkcs11.sh.
PKGS="$PKGS softhsm2 opensc libp11-kit-dev"
# Packaging (issue 16): mandoc (tests/man.sh lints the manual pages), man-db (man renders
# them), debhelper, dpkg-dev and lintian (tests/deb.sh builds and checks the Debian
# packages), systemd (systemd-analyze verify/security on the units) and strace
# (tests/systemd.sh checks the units' system call filter against a traced server).
PKGS="$PKGS mandoc man-db debhelper dpkg-dev lintian systemd strace"

missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run as root, or: sudo apt-get install$missing" >&2
    exit 2
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
