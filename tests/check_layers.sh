#!/bin/sh
# check_layers.sh - the layering rules of the source tree, checked with grep, so that a
# seam cannot leak back in unnoticed (issue 11):
#   1. OpenSSL stays inside src/crypto: no file under src/ outside src/crypto/, and no
#      file under tools/ or examples/, includes <openssl/...> (tests/ may: they use
#      OpenSSL as an independent check);
#   2. the HTTP server library stays at the edge: no file under src/ outside
#      src/publish/ includes microhttpd.h (tools/ may: it is the adapter);
#   3. the library does not reach up: no file under src/ includes a tools/ header;
#   4. libpq stays inside the PostgreSQL backend: libpq-fe.h is included only by
#      src/store/store_pg*.c (no header, no other file under src/, tools/ or examples/);
#   5. the folders of src/ keep their order (README "Layout"): a folder includes the
#      internal headers of its own and lower layers only, never of a higher one. The
#      order, lowest first: core codec crypto envelope token ref verify store publish admin
#      (ref and token are siblings above envelope; verify and store both sit above ref
#      and token; publish above the store; admin, the issuer API, on top).
# Each offending file counts as one failure (named with its rule); each rule with no
# offender counts as one pass. Closing line: "layers: N passed, N failed".
# Run from the top of the tree: sh tests/check_layers.sh

pass=0
fail=0

# rule NAME OFFENDERS: OFFENDERS is the offending files, one per line ("" for none).
rule() {
    _name=$1
    _bad=$2
    if [ -z "$_bad" ]; then
        pass=$((pass + 1))
        echo "ok   $_name"
        return
    fi
    for _f in $_bad; do
        fail=$((fail + 1))
        echo "FAIL $_name: $_f"
    done
}

# The C sources and headers under the given directories (absent ones are skipped).
sources() {
    for _d in "$@"; do
        [ -d "$_d" ] && find "$_d" -type f \( -name '*.c' -o -name '*.h' \)
    done | sort
}

# The files among stdin's that match the extended regex $1 on an #include line.
including() {
    while read -r _f; do
        grep -Eq "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]$1" "$_f" && echo "$_f"
    done
}

rule "no <openssl/...> outside src/crypto" \
    "$(sources src tools examples | grep -v '^src/crypto/' | including 'openssl/')"
rule "no microhttpd.h in src outside src/publish" \
    "$(sources src | grep -v '^src/publish/' | including 'microhttpd\.h')"
# A tools/ header named by path ("tools/io.h", "../tools/x.h") or by a name that only
# exists in tools/.
tool_headers=$(cd tools 2>/dev/null && ls -- *.h 2>/dev/null | sed 's/\./\\./g' | paste -sd '|' -)
tools_re='([.][.]/)*tools/'
[ -n "$tool_headers" ] && tools_re="($tools_re|($tool_headers)\")"
rule "no tools/ header included from src" "$(sources src | including "$tools_re")"
rule "no libpq-fe.h outside src/store/store_pg*.c" \
    "$(sources src tools examples | grep -Ev '^src/store/store_pg[^/]*[.]c$' | including 'libpq-fe\.h')"

# Rule 5: for each folder, the folders it must not include from.
higher() {
    case $1 in
    core) echo "codec crypto envelope token ref verify store publish admin" ;;
    codec) echo "crypto envelope token ref verify store publish admin" ;;
    crypto) echo "envelope token ref verify store publish admin" ;;
    envelope) echo "token ref verify store publish admin" ;;
    token) echo "ref verify store publish admin" ;;
    ref) echo "token verify store publish admin" ;;
    verify) echo "store publish admin" ;;
    store) echo "verify publish admin" ;;
    publish) echo "verify admin" ;;
    admin) echo "verify" ;;
    esac
}
for layer in core codec crypto envelope token ref verify store publish admin; do
    up=$(higher "$layer" | tr ' ' '|')
    rule "src/$layer includes no header of a higher layer" \
        "$(sources "src/$layer" | including "($up)/")"
done

echo "layers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
