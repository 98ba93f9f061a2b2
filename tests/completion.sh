#!/bin/sh
# completion.sh - the bash completion (completion/tsl.bash) against the built command:
# subcommands, a command's own subcommands, options read from --help (a new option
# completes without a change), option values (formats, bit widths, files), and
# completion after a sub-subcommand (tsl db copy --f). Runs bash with the file
# sourced and COMP_WORDS set as readline would.
# Usage: sh tests/completion.sh BUILD_DIR. Closing line "completion: N passed, N failed".
BUILD=${1:-build}
export LC_ALL=C
pass=0
fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-comp.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT INT TERM
TSL=$(cd "$BUILD" && pwd)/tsl
: >"$T/key.pem"
: >"$T/keys.jwk"
mkdir "$T/cachedir"

# expect WANT WORDS...: completing the last of WORDS (the command first) gives WANT,
# the candidates sorted and joined by spaces.
expect() {
    want=$1
    shift
    got=$(cd "$T" && TSL="$TSL" bash -c '
        . "$0"
        COMP_WORDS=("$TSL" "${@}")
        COMP_CWORD=$#
        _tsl
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ \$//"' \
        "$OLDPWD/completion/tsl.bash" "$@")
    if [ "$got" = "$want" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL tsl $*<TAB>: got '$got', want '$want'" >&2
    fi
}

expect "encode export" "e"
expect "db decode" "d"
expect "--help --version" "--"
expect "--cbor" "encode" "--cb"
expect "--count --db --help" "alloc" "pid-1" "-"
expect "create" "list" "c"
expect "check ls" "pkcs11" ""
expect "copy migrate" "db" ""
expect "--from" "db" "copy" "--fr"
expect "cwt jwt" "sign" "--format" ""
expect "1 2 4 8" "encode" "--bits" ""
expect "ES256 ES384 ES512" "keygen" "--alg" "ES"
expect "key.pem keys.jwk" "decode" "--key" "k"
expect "cachedir" "verify" "--cache" "c"
expect "" "list" "create" "x" "--size" ""
expect "--admin-listen" "serve" "--admin-l"
# Every option of every subcommand's help completes (a sample per command: the first).
for c in $("$TSL" --help | awk '/^Commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }'); do
    first=$("$TSL" "$c" --help | sed -n -E 's/^  (-[a-zA-Z], )?(--[a-z0-9-]+).*/\2/p' | head -n 1)
    expect "$first" "$c" "$first"
done
echo "completion: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
