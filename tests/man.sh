#!/bin/sh
# man.sh - the manual pages (man/) against the command they describe:
#   1. every page passes `mandoc -T lint -W warning` (no warning, error or worse);
#   2. every subcommand `tsl --help` lists has its page man/tsl-COMMAND.1, named in
#      tsl(1), and no page describes a subcommand that is gone;
#   3. each page's OPTIONS list the same options as `tsl COMMAND --help` (and the
#      `tsl COMMAND SUB --help` that help points to, as `tsl db copy --help`), with the
#      same argument names: an option missing from either side is named;
#   4. tsl(1) lists the options `tsl --help` and `tsl --version` that the command takes,
#      and `tsl --version` answers as tsl(1) says: "tsl VERSION", then "NAME VERSION"
#      lines for the libraries.
# A new subcommand needs its page: copy a page such as man/tsl-get.1 and follow its help.
# Usage: sh tests/man.sh BUILD_DIR. Closing line "man: N passed, N failed".
BUILD=${1:-build}
TSL=$BUILD/tsl
pass=0
fail=0
check() {
    if [ "$1" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $2" >&2; fi
}
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-man.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT INT TERM

# The options a help text lists: "--name" and "-x" of its "  -x, --name ARG" lines.
help_opts() {
    sed -n -E 's/^  (-([a-zA-Z]), )?--([a-z0-9-]+).*/\2 --\3/p' | tr ' ' '\n' |
        sed -n -E 's/^([a-zA-Z])$/-\1/p; s/^(--[a-z0-9-]+)$/\1/p' | sort -u
}
# The options a page lists: the "Fl" names on the .It lines of its OPTIONS section.
page_opts() {
    awk '/^\.Sh /{ f = ($0 == ".Sh OPTIONS") } f && /^\.It /' "$1" |
        grep -oE 'Fl [-a-zA-Z0-9]+' | sed -E 's/^Fl /-/' | sort -u
}
# The arguments of the options, "--name ARG": in a help, the word after one space (a
# flag's description is further out, after two or more).
help_args() {
    sed -n -E 's/^  (-[a-zA-Z], )?(--[a-z0-9-]+) ([A-Z][^ ]*)( .*)?$/\2 \3/p' | sort -u
}
page_args() {
    awk '/^\.Sh /{ f = ($0 == ".Sh OPTIONS") } f && /^\.It /' "$1" |
        sed -n -E 's/.*Fl (-[a-z0-9-]+) Ar ([^ ]+).*/-\1 \2/p' | sort -u
}

command -v mandoc >/dev/null 2>&1
check $? "mandoc is not installed (scripts/deps.sh installs it)"
for p in man/*.[0-9]; do
    mandoc -T lint -W warning "$p" >"$T/lint" 2>&1
    [ ! -s "$T/lint" ]
    check $? "mandoc -T lint $p: $(head -3 "$T/lint")"
done

"$TSL" --help >"$T/help"
check $? "tsl --help"
cmds=$(awk '/^Commands:/ { f = 1; next } f && /^  [a-z0-9]/ { print $1 }' "$T/help")
[ -n "$cmds" ]
check $? "tsl --help lists no subcommand"
for c in $cmds; do
    page=man/tsl-$c.1
    if [ ! -f "$page" ]; then
        check 1 "tsl $c has no manual page $page (copy man/tsl-get.1 and follow 'tsl $c --help')"
        continue
    fi
    grep -q "^\.Xr tsl-$c 1" man/tsl.1
    check $? "tsl(1) does not name tsl-$c(1) (in its command list and SEE ALSO)"
    "$TSL" "$c" --help >"$T/h.$c" 2>&1
    check $? "tsl $c --help exits non-zero"
    # Helps of sub-subcommands that the command's help points to.
    for s in $(grep -oE "tsl $c [a-z0-9]+ --help" "$T/h.$c" | awk '{ print $3 }' | sort -u); do
        "$TSL" "$c" "$s" --help >>"$T/h.$c" 2>&1
        check $? "tsl $c $s --help exits non-zero"
    done
    help_opts <"$T/h.$c" >"$T/o.help"
    page_opts "$page" >"$T/o.page"
    missing=$(comm -23 "$T/o.help" "$T/o.page" | tr '\n' ' ')
    extra=$(comm -13 "$T/o.help" "$T/o.page" | tr '\n' ' ')
    [ -z "$missing" ]
    check $? "$page lacks options of 'tsl $c --help': $missing"
    [ -z "$extra" ]
    check $? "$page lists options 'tsl $c --help' does not have: $extra"
    help_args <"$T/h.$c" >"$T/a.help"
    page_args "$page" >"$T/a.page"
    diffs=$(comm -3 "$T/a.help" "$T/a.page" | tr -s '\t\n' '  ')
    [ -z "$diffs" ]
    check $? "$page and 'tsl $c --help' name option arguments differently: $diffs"
done
# A page of a subcommand that is gone.
for p in man/tsl-*.1; do
    c=${p#man/tsl-}
    c=${c%.1}
    echo "$cmds" | grep -qx "$c"
    check $? "$p describes 'tsl $c', which tsl --help does not list"
done

# tsl(1): the top-level options and what --version prints.
[ "$(page_opts man/tsl.1 | tr '\n' ' ')" = "--help --version " ]
check $? "tsl(1) OPTIONS are not --help and --version: $(page_opts man/tsl.1 | tr '\n' ' ')"
"$TSL" --version >"$T/version"
check $? "tsl --version exits non-zero"
ver=$(sed -n 's/^#define TSL_VERSION "\(.*\)"/\1/p' include/tsl.h)
[ "$(head -1 "$T/version")" = "tsl $ver" ]
check $? "tsl --version's first line is not 'tsl $ver': $(head -1 "$T/version")"
for lib in libtsl zlib libdeflate OpenSSL libcbor jansson SQLite libpq libcurl libmicrohttpd GnuTLS; do
    grep -Eq "^$lib [0-9]+\.[0-9]+[^ ]*( \(compiled\))?$" "$T/version"
    check $? "tsl --version has no line '$lib VERSION'"
    grep -q "$lib" man/tsl.1
    check $? "tsl(1) does not name $lib under --version"
done
echo "man: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
