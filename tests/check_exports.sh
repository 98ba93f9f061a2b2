#!/bin/sh
# check_exports.sh - fails if libtsl.so exports any symbol not starting with tsl_ (the
# public prefix; internal symbols are tslp_ and hidden by -fvisibility=hidden).
#
# Usage: sh tests/check_exports.sh build/libtsl.so
# Checks every defined dynamic symbol (`nm -D --defined-only`, symbol versions such as
# @@VERS stripped). Exit 0 with "exports: N passed, 0 failed" on success; exit 1 listing
# the offending names otherwise; exit 2 if the library cannot be read or exports nothing.
set -u

lib=${1:-}
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
    echo "usage: sh tests/check_exports.sh path/to/libtsl.so" >&2
    echo "exports: 0 passed, 1 failed" >&2
    exit 2
fi

tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT INT TERM

# nm prints "VALUE TYPE NAME"; the name is the last field.
if ! nm -D --defined-only "$lib" >"$tmp"; then
    echo "exports: cannot read the dynamic symbols of $lib" >&2
    exit 2
fi
names=$(awk 'NF >= 2 { n = $NF; sub(/@.*/, "", n); print n }' "$tmp" | sort -u)

total=0
bad=""
nbad=0
for n in $names; do
    total=$((total + 1))
    case $n in
    tsl_*) ;;
    *)
        bad="$bad $n"
        nbad=$((nbad + 1))
        ;;
    esac
done

if [ "$total" -eq 0 ]; then
    echo "exports: $lib exports no symbols" >&2
    exit 2
fi
if [ "$nbad" -ne 0 ]; then
    echo "exports: symbols outside the tsl_ prefix in $lib:" >&2
    for n in $bad; do
        echo "  $n" >&2
    done
    echo "exports: $((total - nbad)) passed, $nbad failed"
    exit 1
fi
echo "exports: $total passed, 0 failed"
exit 0
