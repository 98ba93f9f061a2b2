#!/bin/sh
# deb.sh - the Debian packages (debian/), as CI builds them: copies the source tree
# (the files git knows, plus new ones not ignored) to a scratch directory, runs
# `dpkg-buildpackage -us -uc -b` there (DEB_BUILD_OPTIONS=nocheck: the suite runs in
# make test), runs lintian on the result (no error and no warning: the warnings left
# are overridden, with the reason, in debian/*.lintian-overrides), then installs the
# three packages in a throwaway root (dpkg-deb -x; their dependencies checked against
# this machine with dpkg --dry-run) and checks there that:
#   - each package holds what it should (library, -dev files, command, units, man pages);
#   - `tsl --version` answers with TSL_VERSION, which is also the packages' version;
#   - a C program compiles with `pkg-config --cflags --libs tsl` against the installed
#     header and runs against the installed libtsl.so.0;
#   - `man tsl`, `man tsl-serve` and `man 3 libtsl` render.
# Nothing is installed on the machine itself. About 2 minutes on 2 cores.
# Usage: sh tests/deb.sh (from the top of the tree). Closing line "deb: N passed, N failed".
SUITE=deb
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
check() {
    if [ "$2" -eq 0 ]; then ok; else bad "$1"; fi
}
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-deb.XXXXXX") || exit 2
# TSL_DEB_OUT=DIR keeps the packages, the build log and lintian's output there.
keep() {
    if [ -n "${TSL_DEB_OUT:-}" ]; then
        mkdir -p "$TSL_DEB_OUT" && cp "$T"/*.deb "$T"/*.changes "$T"/*.buildinfo \
            "$T/build.log" "$T/lintian" "$TSL_DEB_OUT"/ 2>/dev/null
    fi
    rm -rf "$T"
}
trap keep EXIT INT TERM
for tool in dpkg-buildpackage dh lintian man pkg-config cc; do
    command -v $tool >/dev/null 2>&1
    check "$tool is not installed (scripts/deps.sh installs it)" $?
done
VERSION=$(sed -n 's/^#define TSL_VERSION "\(.*\)"/\1/p' include/tsl.h)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)

# The changelog's version is the library's (debian/rules stops the build otherwise).
same "debian/changelog version" "$(dpkg-parsechangelog -S Version)" "$VERSION"

# A copy of the tree: the build must not touch the working tree's build/ (debian/rules
# clean runs make clean), and its results land beside the source, in $T.
SRC=$T/tsl-$VERSION
mkdir "$SRC"
if git rev-parse --git-dir >/dev/null 2>&1; then
    # Files deleted but not yet committed are left out.
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -xf - -C "$SRC"
else
    tar --exclude=./build --exclude=./build-asan --exclude=./build-fuzz -cf - . |
        tar -xf - -C "$SRC"
fi
[ -f "$SRC/debian/rules" ]
check "the source copy has debian/rules" $?

t0=$(date +%s)
# No -dbgsym packages: nobody installs them here, and they cost a minute.
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
    dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1
check "dpkg-buildpackage -us -uc -b: $(tail -15 "$T/build.log")" $?
note "dpkg-buildpackage took $(($(date +%s) - t0)) s"
for p in libtsl0 libtsl-dev tsl; do
    [ -f "$T/${p}_${VERSION}_$ARCH.deb" ]
    check "${p}_${VERSION}_$ARCH.deb was built" $?
done
# Without the packages nothing below can pass: one failure each is enough.
[ -f "$T/tsl_${VERSION}_$ARCH.changes" ] || finish

# lintian: nothing left but overridden (explained) tags and informational ones.
lintian --tag-display-limit 0 "$T/tsl_${VERSION}_$ARCH.changes" >"$T/lintian" 2>&1
lrc=$?
sed 's/^/lintian: /' "$T/lintian"
[ $lrc -eq 0 ]
check "lintian exited $lrc" $?
! grep -Eq '^[EW]: ' "$T/lintian"
check "lintian errors or warnings: $(grep -E '^[EW]: ' "$T/lintian" | head -5)" $?

# The packages' contents.
contents() { dpkg-deb -c "$T/${1}_${VERSION}_$ARCH.deb" | awk '{ print $6 }' | sed 's|^\./|/|'; }
for f in /usr/lib/$MA/libtsl.so.0 /usr/lib/$MA/libtsl.so.$VERSION; do
    contents libtsl0 | grep -qx "$f"
    check "libtsl0 has $f" $?
done
for f in /usr/include/tsl.h /usr/lib/$MA/libtsl.so /usr/lib/$MA/libtsl.a \
    /usr/lib/$MA/pkgconfig/tsl.pc /usr/share/man/man3/libtsl.3.gz; do
    contents libtsl-dev | grep -qx "$f"
    check "libtsl-dev has $f" $?
done
for f in /usr/bin/tsl /usr/share/man/man1/tsl.1.gz /usr/share/man/man1/tsl-serve.1.gz \
    /usr/share/bash-completion/completions/tsl /lib/systemd/system/tsl.service \
    /lib/systemd/system/tsl@.service /usr/lib/sysusers.d/tsl.conf \
    /usr/lib/tmpfiles.d/tsl.conf /etc/default/tsl; do
    contents tsl | grep -qx "$f"
    check "tsl has $f" $?
done
dpkg-deb -e "$T/tsl_${VERSION}_$ARCH.deb" "$T/tsl.ctl"
grep -qx /etc/default/tsl "$T/tsl.ctl/conffiles"
check "/etc/default/tsl is a conffile" $?
grep -q systemd-sysusers "$T/tsl.ctl/postinst" 2>/dev/null
check "tsl's postinst creates the user tsl (systemd-sysusers)" $?
for p in libtsl0 libtsl-dev tsl; do
    same "version of $p" "$(dpkg-deb -f "$T/${p}_${VERSION}_$ARCH.deb" Version)" "$VERSION"
done

# Their dependencies are met on this machine (dpkg checks them without installing).
if [ "$(id -u)" -eq 0 ]; then
    dpkg --dry-run -i "$T/libtsl0_${VERSION}_$ARCH.deb" "$T/libtsl-dev_${VERSION}_$ARCH.deb" \
        "$T/tsl_${VERSION}_$ARCH.deb" >"$T/dry" 2>&1
    check "dpkg --dry-run -i: $(grep -i 'depend\|error' "$T/dry" | head -5)" $?
else
    note "not root: dpkg --dry-run skipped (CI runs this as root)"
fi

# Installed in a throwaway root.
R=$T/root
for p in libtsl0 libtsl-dev tsl; do
    dpkg-deb -x "$T/${p}_${VERSION}_$ARCH.deb" "$R"
    check "dpkg-deb -x $p" $?
done
"$R/usr/bin/tsl" --version >"$T/version" 2>&1
check "tsl --version exits 0: $(head -3 "$T/version")" $?
same "tsl --version's first line" "$(head -1 "$T/version")" "tsl $VERSION"
grep -q '^OpenSSL [0-9]' "$T/version" && grep -q '^libcurl [0-9]' "$T/version"
check "tsl --version names the libraries: $(tr '\n' ' ' <"$T/version")" $?
ldd "$R/usr/bin/tsl" >"$T/ldd" 2>&1 && ! grep -q 'not found' "$T/ldd"
check "the installed tsl finds its libraries: $(grep 'not found' "$T/ldd" | head -3)" $?

cat >"$T/use.c" <<'C'
#include <tsl.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    const char *j = "{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}";
    tsl_list *l = NULL;
    unsigned v = 9;
    if (tsl_list_from_json(j, strlen(j), NULL, &l, NULL) != TSL_OK || tsl_list_get(l, 15, &v, NULL))
        return 1;
    printf("%u %s\n", v, tsl_version());
    tsl_list_free(l);
    return 0;
}
C
flags=$(PKG_CONFIG_SYSROOT_DIR="$R" PKG_CONFIG_LIBDIR="$R/usr/lib/$MA/pkgconfig:/usr/lib/$MA/pkgconfig:/usr/share/pkgconfig" \
    pkg-config --cflags --libs tsl 2>"$T/pc.err")
check "pkg-config --cflags --libs tsl: $(head -3 "$T/pc.err")" $?
note "pkg-config --cflags --libs tsl: $flags"
echo "$flags" | grep -q -- "-I$R/usr/include" && echo "$flags" | grep -q -- "-L$R/usr/lib/$MA"
check "the flags point into the installed root: $flags" $?
# shellcheck disable=SC2086
cc "$T/use.c" $flags -o "$T/use" 2>"$T/cc.log"
check "compile against the installed packages: $(head -5 "$T/cc.log")" $?
out=$(LD_LIBRARY_PATH="$R/usr/lib/$MA" "$T/use")
same "the program's output (entry 15, tsl_version())" "$out" "1 $VERSION"
LD_LIBRARY_PATH="$R/usr/lib/$MA" ldd "$T/use" | grep -q "libtsl.so.0 => $R/usr/lib/$MA/libtsl.so.0"
check "the program runs with the installed libtsl.so.0" $?

# man, on the installed pages (MANPATH: the root's only).
for pg in "tsl" "tsl-serve" "3 libtsl"; do
    # shellcheck disable=SC2086
    MANPAGER=cat MANWIDTH=80 man -M "$R/usr/share/man" $pg >"$T/man.out" 2>"$T/man.err"
    check "man $pg: $(head -3 "$T/man.err")" $?
    grep -q '^NAME' "$T/man.out" && grep -q 'SEE ALSO' "$T/man.out"
    check "man $pg renders NAME and SEE ALSO: $(head -3 "$T/man.out")" $?
done
MANPAGER=cat MANWIDTH=80 man -M "$R/usr/share/man" tsl 2>/dev/null | grep -q 'tsl-serve(1)'
check "man tsl names tsl-serve(1)" $?
finish
