#!/bin/sh
# cli.sh - tests of the `tsl` command-line contract: exit codes (0 success, 1 input
# rejected with one stderr line naming why, 2 usage or I/O), --help on stdout, encode
# input syntax (comments, blank lines, stdin), size rounding without --size, the
# `I<TAB>VALUE` output of --index, the --json summary, CBOR detection in decode, and the
# reasons given for rejected lists. Expected values come from the spec vectors in
# testvectors/ or from Debian's /usr/bin/python3 (zlib, base64, cbor2), never from tsl.
#
# Usage: sh tests/cli.sh [BUILD_DIR]   (default build; run from the project root)
# Closing line: "cli: N passed, N failed"; exit 1 if anything failed.

BUILD=${1:-build}
TSL=$BUILD/tsl
SUITE=cli
# shellcheck source=tests/harness.sh
. "$(dirname "$0")/harness.sh"
PY=/usr/bin/python3
VEC=testvectors

if [ ! -x "$TSL" ]; then
    echo "cli: $TSL is missing (run make)" >&2
    fail=1
    finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/tsl-cli.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT INT TERM

# expect_usage NAME: exit 2 and something on stderr.
expect_usage() {
    if [ "$rc" -eq 2 ] && [ -s "$T/err" ]; then
        ok
    else
        bad "$1: exit $rc (stderr $(wc -c <"$T/err") bytes), expected 2 with a message"
    fi
}

# expect_reject NAME ERE: exit 1, exactly one line on stderr matching ERE
# (case-insensitive), nothing on stdout.
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

# expect_out NAME FILE: exit 0 and stdout equal to FILE.
expect_out() {
    if [ "$rc" -ne 0 ]; then
        bad "$1: exit $rc; stderr: $(errline)"
    elif cmp -s "$T/out" "$2"; then
        ok
    else
        bad "$1: stdout $(head -c 200 "$T/out" | od -c | head -3 | tr '\n' ' ') differs from $(head -c 200 "$2" | od -c | head -3 | tr '\n' ' ')"
    fi
}

# same NAME GOT WANT: the last run exited 0 and GOT equals WANT.
same() {
    if [ "$rc" -eq 0 ] && [ "$2" = "$3" ]; then ok; else bad "$1: exit $rc, '$2' != '$3'"; fi
}

# py CODE ARGS...: Debian's python with the code; its stdout is the result.
py() {
    _c=$1
    shift
    "$PY" -c "$_c" "$@"
}

# vec_case NAME > FILE: the StatusList JSON of a status_list_object_cases entry.
vec_case() {
    py 'import json,sys
d=json.load(open(sys.argv[1]))
c=[c for c in d["status_list_object_cases"] if c["name"]==sys.argv[2]]
assert c, "no case "+sys.argv[2]
json.dump(c[0]["json"],sys.stdout)' "$VEC/derived_negative_and_edge_cases.json" "$1"
}

# raw_of FILE: hex of the packed bytes of a StatusList JSON or CBOR file, decoded by
# Python (strict: the whole input is one zlib stream).
RAW_OF='import sys,json,zlib,base64,io,cbor2
b=open(sys.argv[1],"rb").read()
if b[:1]==b"{":
    o=json.loads(b); s=o["lst"]; assert "=" not in s
    z=base64.urlsafe_b64decode(s+"="*(-len(s)%4))
else:
    f=io.BytesIO(b); o=cbor2.CBORDecoder(f).decode(); assert f.tell()==len(b)
    z=o["lst"]; assert type(z) is bytes
d=zlib.decompressobj(); r=d.decompress(z); assert d.eof and not d.unused_data
print(o["bits"], r.hex())'

# ---------------------------------------------------------------------------------- #
# --help and usage errors

t --help
if [ "$rc" -eq 0 ] && grep -q encode "$T/out" && grep -q decode "$T/out"; then ok; else
    bad "tsl --help: exit $rc or stdout lacks encode/decode"; fi
t encode --help
if [ "$rc" -eq 0 ] && grep -q -- --bits "$T/out"; then ok; else
    bad "tsl encode --help: exit $rc or stdout lacks --bits"; fi
t decode --help
if [ "$rc" -eq 0 ] && grep -q -- --index "$T/out"; then ok; else
    bad "tsl decode --help: exit $rc or stdout lacks --index"; fi

# Every command's options come from one table parser (tools/opts.c): --help is on
# stdout with exit 0 and nothing on stderr, an unknown option is exit 2 with nothing on
# stdout, and a missing value is a usage error too.
for c in encode decode sign keygen alloc set get update publish token verify; do
    t "$c" --help
    if [ "$rc" -eq 0 ] && grep -q "^usage: tsl $c" "$T/out" && [ ! -s "$T/err" ]; then ok
    else bad "tsl $c --help: exit $rc, or no usage line on stdout, or stderr"; fi
    t "$c" --no-such-option
    if [ "$rc" -eq 2 ] && [ -s "$T/err" ] && [ ! -s "$T/out" ]; then ok
    else bad "tsl $c --no-such-option: exit $rc, expected 2, a message and no output"; fi
done
for a in "list create" "list ls" "list show"; do
    t $a --help
    if [ "$rc" -eq 0 ] && grep -q "^usage: tsl list" "$T/out"; then ok
    else bad "tsl $a --help: exit $rc or no usage line on stdout"; fi
done
t sign --key
expect_usage "sign --key without a value"
t verify --skew
if [ "$rc" -eq 2 ] && grep -qx 'tsl verify: unknown or incomplete option "--skew"' "$T/err"
then ok; else bad "verify --skew without a value: exit $rc: $(errline)"; fi

t
expect_usage "tsl (no command)"
t frobnicate
expect_usage "tsl frobnicate"
t encode --bits 1 --no-such-option
expect_usage "encode unknown option"
t decode --no-such-option
expect_usage "decode unknown option"
t encode
expect_usage "encode without --bits"
t encode --bits
expect_usage "encode --bits without a value"
t encode --bits 3
expect_usage "encode --bits 3"
if grep -qi bits "$T/err"; then ok; else bad "encode --bits 3: message does not name bits: $(errline)"; fi
t encode --bits 1 --level 99
expect_usage "encode --level 99"
t encode --bits 1 --size x
expect_usage "encode --size x"

py 'import json,sys; json.dump(json.load(open(sys.argv[1]))["json"],sys.stdout)' \
    "$VEC/sec4_1_bits1_16entries.json" >"$T/v1.json"
t decode --index abc "$T/v1.json"
expect_usage "decode --index abc"
t decode "$T/no-such-file.json"
expect_usage "decode missing file"
t encode --bits 1 "$T/no-such-file.txt"
expect_usage "encode missing file"

# ---------------------------------------------------------------------------------- #
# decode: the section 4.1 vectors, --index format, summary, stdin, CBOR detection

# Expected lines "I<TAB>STATUS" for every index, from the vector's statuses.
for v in sec4_1_bits1_16entries sec4_1_bits2_12entries; do
    py 'import json,sys; json.dump(json.load(open(sys.argv[1]))["json"],sys.stdout)' \
        "$VEC/$v.json" >"$T/$v.json"
    py 'import sys,json; sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))["cbor_hex"]))' \
        "$VEC/$v.json" >"$T/$v.cbor"
    py 'import json,sys
v=json.load(open(sys.argv[1]))
sys.stdout.write("".join("%d\t%d\n"%(i,s) for i,s in enumerate(v["statuses"])))' \
        "$VEC/$v.json" >"$T/$v.want"
    args=$(py 'import json,sys; print(" ".join("--index %d"%i for i in range(json.load(open(sys.argv[1]))["num_entries"])))' "$VEC/$v.json")
    # shellcheck disable=SC2086
    t decode $args "$T/$v.json"
    expect_out "decode --index (JSON) $v" "$T/$v.want"
    # shellcheck disable=SC2086
    t decode $args "$T/$v.cbor"
    expect_out "decode --index (CBOR detected) $v" "$T/$v.want"
    # shellcheck disable=SC2086
    ti "$T/$v.json" decode $args -
    expect_out "decode --index (stdin -) $v" "$T/$v.want"
    # shellcheck disable=SC2086
    ti "$T/$v.cbor" decode $args
    expect_out "decode --index (stdin, no file, CBOR) $v" "$T/$v.want"

    # --json summary against Python's own count of the vector.
    py 'import json,sys,collections
v=json.load(open(sys.argv[1]))
c=collections.Counter(v["statuses"])
print(json.dumps({"bits":v["bits"],"entries":v["num_entries"],
 "compressed_bytes":len(bytes.fromhex(v["compressed_zlib_hex"])),
 "raw_bytes":len(bytes.fromhex(v["uncompressed_hex"])),
 "counts":{str(k):n for k,n in sorted(c.items()) if n}},sort_keys=True))' \
        "$VEC/$v.json" >"$T/$v.sum"
    for f in "$T/$v.json" "$T/$v.cbor"; do
        t decode --json "$f"
        expect_rc "decode --json $(basename "$f")" 0
        # One JSON object on one line; the contract's keys, compared as Python reads them.
        if py 'import json,sys
b=open(sys.argv[1]).read(); assert b.endswith("\n") and b.count("\n")==1
s=json.loads(b)
print(json.dumps({k:s.get(k) for k in ("bits","entries","compressed_bytes","raw_bytes","counts")},sort_keys=True))' \
            "$T/out" >"$T/sum.got" 2>"$T/sum.err" && cmp -s "$T/sum.got" "$T/$v.sum"; then
            ok
        else
            bad "decode --json $(basename "$f"): $(cat "$T/sum.got" "$T/sum.err" | head -c 300) != $(cat "$T/$v.sum")"
        fi
    done
done

# The plain summary says what the list is.
t decode "$T/sec4_1_bits1_16entries.json"
if [ "$rc" -eq 0 ] && grep -qi bits "$T/out" && grep -qi entries "$T/out"; then ok; else
    bad "decode summary: exit $rc or no bits/entries in: $(head -c 200 "$T/out")"; fi

# Repeated --index keeps the order given.
t decode --index 15 --index 0 --index 15 "$T/sec4_1_bits1_16entries.json"
py 'import json,sys
s=json.load(open(sys.argv[1]))["statuses"]
sys.stdout.write("15\t%d\n0\t%d\n15\t%d\n"%(s[15],s[0],s[15]))' \
    "$VEC/sec4_1_bits1_16entries.json" >"$T/want"
expect_out "decode --index order" "$T/want"

# ---------------------------------------------------------------------------------- #
# decode rejections: exit 1, one line on stderr naming the reason

n16=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["num_entries"])' \
    "$VEC/sec4_1_bits1_16entries.json")
t decode --index "$n16" "$T/sec4_1_bits1_16entries.json"
expect_reject "decode --index $n16 of $n16 entries" 'range|bounds'
t decode --index 18446744073709551615 "$T/sec4_1_bits1_16entries.json"
expect_reject "decode --index 2^64-1" 'range|bounds'

# name ERE: cases from derived_negative_and_edge_cases.json, by name.
while read -r name ere; do
    vec_case "$name" >"$T/case.json"
    t decode "$T/case.json"
    expect_reject "decode $name" "$ere"
    t decode --index 0 "$T/case.json"
    expect_reject "decode --index 0 $name" "$ere"
done <<'EOF'
lst-gzip-wrapper gzip
lst-with-padding padding|=
bits-3 bits
bits-0 bits
bits-16 bits
bits-as-string bits
missing-lst lst
missing-bits bits
lst-standard-base64-alphabet base64|alphabet|character
lst-raw-deflate-no-zlib-header zlib|header|raw
lst-bad-adler32 adler|checksum
EOF

printf 'hello\n' >"$T/junk"
t decode "$T/junk"
expect_reject "decode of text that is neither JSON nor CBOR" '.'
: >"$T/empty"
t decode "$T/empty"
expect_reject "decode of empty input" '.'
head -c 12 "$T/sec4_1_bits1_16entries.cbor" >"$T/trunc.cbor"
t decode "$T/trunc.cbor"
expect_reject "decode of truncated CBOR" '.'
py 'import cbor2,sys; sys.stdout.buffer.write(cbor2.dumps({"bits":1,"lst":"eNrbuRgAAhcBXQ"}))' \
    >"$T/lsttext.cbor"
t decode "$T/lsttext.cbor"
expect_reject "decode CBOR with lst as text" 'lst'

# Strict parsing: duplicate members, bytes after the JSON object or the CBOR map.
py 'import json,sys; o=json.load(open(sys.argv[1])); print("{\"bits\":%d,\"bits\":%d,\"lst\":\"%s\"}"%(o["bits"],o["bits"],o["lst"]))' \
    "$T/sec4_1_bits1_16entries.json" >"$T/dup.json"
t decode "$T/dup.json"
expect_reject "decode JSON with a duplicate member" 'duplicate'
{ cat "$T/sec4_1_bits1_16entries.json"; printf ' x\n'; } >"$T/trail.json"
t decode "$T/trail.json"
expect_reject "decode JSON with bytes after the object" '.'
{ cat "$T/sec4_1_bits1_16entries.cbor"; printf '\000'; } >"$T/trail.cbor"
t decode "$T/trail.cbor"
expect_reject "decode CBOR with a byte after the map" '.'
t decode "$T/sec4_1_bits1_16entries.json" "$T/sec4_1_bits1_16entries.json"
expect_usage "decode with two input files"

# Unknown members are ignored, aggregation_uri is allowed (spec section 4.2).
py 'import json,sys; o=json.load(open(sys.argv[1])); o["x-extra"]=[1,{"a":2}]; o["aggregation_uri"]="https://example.com/agg"; json.dump(o,sys.stdout)' \
    "$T/sec4_1_bits1_16entries.json" >"$T/extra.json"
t decode --index 0 --index 15 "$T/extra.json"
py 'import json,sys
s=json.load(open(sys.argv[1]))["statuses"]
sys.stdout.write("0\t%d\n15\t%d\n"%(s[0],s[15]))' "$VEC/sec4_1_bits1_16entries.json" >"$T/want"
expect_out "decode with unknown members and aggregation_uri" "$T/want"

# A zip bomb: 100 MiB of zeros is over the default 64 MiB inflate limit.
py 'import zlib,json,base64,sys
z=zlib.compress(bytes(100<<20),9)
print(json.dumps({"bits":1,"lst":base64.urlsafe_b64encode(z).rstrip(b"=").decode()}))' \
    >"$T/bomb.json"
t decode "$T/bomb.json"
expect_reject "decode of a list that inflates past the limit" 'limit|exceed|too (large|big)'

# ---------------------------------------------------------------------------------- #
# encode: syntax, stdin, rounding, --size, CBOR, rejections

printf '0 1\n3 1\n9 1\n' >"$T/plain.txt"
printf '# a comment\n\n0 1\n\n# another\n3 1\n9 1\n\n' >"$T/commented.txt"
t encode --bits 1 "$T/plain.txt"
expect_rc "encode plain" 0
cp "$T/out" "$T/plain.out"
t encode --bits 1 "$T/commented.txt"
expect_out "encode with comments and blank lines" "$T/plain.out"
ti "$T/plain.txt" encode --bits 1 -
expect_out "encode from stdin -" "$T/plain.out"
ti "$T/plain.txt" encode --bits 1
expect_out "encode from stdin (no file)" "$T/plain.out"
# Exactly one line of JSON, and Python decodes it to its own packing.
if [ "$(wc -l <"$T/plain.out")" -eq 1 ]; then ok; else bad "encode output is not one line"; fi
got=$(py "$RAW_OF" "$T/plain.out" 2>&1)
want=$(py 'import sys
a=bytearray(2)
for l in open(sys.argv[1]):
    i,v=map(int,l.split()); a[i//8]|=v<<(i%8)
print(1, a.hex())' "$T/plain.txt")
same "encode plain read by Python" "$got" "$want"

# Without --size the list covers the highest index, rounded up to a multiple of 8 bits.
for bits in 1 2 4 8; do
    for top in 0 1 4 7 8 9 100; do
        printf '%s 1\n' "$top" >"$T/top.txt"
        t encode --bits "$bits" "$T/top.txt"
        if [ "$rc" -ne 0 ]; then
            bad "encode --bits $bits top $top: exit $rc; $(errline)"
            continue
        fi
        got=$(py "$RAW_OF" "$T/out" 2>&1)
        want=$(py 'import sys
b,top=int(sys.argv[1]),int(sys.argv[2])
a=bytearray(((top+1)*b+7)//8); a[top*b//8]|=1<<(top*b%8)
print(b, a.hex())' "$bits" "$top")
        same "encode --bits $bits top $top" "$got" "$want"
    done
done

# --size pads with zeros; the reader sees whole bytes.
printf '3 1\n' >"$T/one.txt"
t encode --bits 2 --size 21 "$T/one.txt"
got=$(py "$RAW_OF" "$T/out" 2>&1)
want=$(py 'n,b,i=21,2,3; a=bytearray((n*b+7)//8); a[i*b//8]|=1<<(i*b%8); print(b, a.hex())')
same "encode --size 21" "$got" "$want"
t encode --bits 1 --size 4 "$T/one.txt"
expect_rc "encode --size 4 with index 3" 0
t encode --bits 1 --size 3 "$T/one.txt"
expect_reject "encode index 3 with --size 3" 'line 1|range|bounds'

# tsl's own JSON output (with its newline) decodes, through a pipe.
"$TSL" encode --bits 1 "$T/plain.txt" 2>"$T/err" | "$TSL" decode --index 9 --index 2 - >"$T/out" 2>>"$T/err"
rc=$?
py 'import sys
d=dict(map(int,l.split()) for l in open(sys.argv[1]))
sys.stdout.write("".join("%d\t%d\n"%(i,d.get(i,0)) for i in (9,2)))' "$T/plain.txt" >"$T/want"
expect_out "encode | decode --index -" "$T/want"

# --size 0: an empty list, which Python reads as zero bytes and decode reports as such.
t encode --bits 4 --size 0 "$T/empty"
got=$(py "$RAW_OF" "$T/out" 2>&1)
same "encode --size 0" "$got" "4 "
cp "$T/out" "$T/zero.json"
t decode --json "$T/zero.json"
got=$(py 'import json,sys; s=json.load(open(sys.argv[1])); print(s["entries"], s["raw_bytes"], s["counts"])' "$T/out" 2>&1)
same "decode --json of an empty list" "$got" "0 0 {}"
t decode --index 0 "$T/zero.json"
expect_reject "decode --index 0 of an empty list" 'range|bounds'

# --level 1 is still a complete zlib stream of the same bytes.
t encode --bits 1 --level 1 "$T/plain.txt"
got=$(py "$RAW_OF" "$T/out" 2>&1)
want=$(py "$RAW_OF" "$T/plain.out" 2>&1)
same "encode --level 1" "$got" "$want"

# --cbor: one CBOR map with lst a byte string; decode detects it.
t encode --bits 1 --cbor "$T/plain.txt"
cp "$T/out" "$T/plain.cbor"
got=$(py "$RAW_OF" "$T/plain.cbor" 2>&1)
same "encode --cbor" "$got" "$want"
t decode --index 0 --index 1 --index 3 --index 9 "$T/plain.cbor"
py 'import sys
d=dict(map(int,l.split()) for l in open(sys.argv[1]))
sys.stdout.write("".join("%d\t%d\n"%(i,d.get(i,0)) for i in (0,1,3,9)))' "$T/plain.txt" >"$T/want"
expect_out "decode --index of encode --cbor output" "$T/want"

# Status names are accepted where the value is expected (the help text promises it).
printf '0 INVALID\n1 suspended\n' >"$T/names.txt"
t encode --bits 2 "$T/names.txt"
got=$(py "$RAW_OF" "$T/out" 2>&1)
# Registered values (spec section 7): INVALID 1, SUSPENDED 2; Python packs them.
want=$(py 'a=bytearray(1); a[0]|=1<<0; a[0]|=2<<2; print(2, a.hex())')
same "encode status names" "$got" "$want"

# Rejected input lines name their line number.
printf '0 1\n\n5 2\n' >"$T/toolarge.txt"
t encode --bits 1 "$T/toolarge.txt"
expect_reject "encode value 2 with --bits 1" 'line 3'
printf '# x\n1 4\n' >"$T/toolarge2.txt"
t encode --bits 2 "$T/toolarge2.txt"
expect_reject "encode value 4 with --bits 2" 'line 2'
printf '1 256\n' >"$T/toolarge8.txt"
t encode --bits 8 "$T/toolarge8.txt"
expect_reject "encode value 256 with --bits 8" 'line 1'
for bad_line in 'abc' '1' '1 x' '-1 1' '1 1 1' '0x10 1' '18446744073709551616 1'; do
    printf '0 1\n%s\n' "$bad_line" >"$T/badline.txt"
    t encode --bits 1 --size 8 "$T/badline.txt"
    expect_reject "encode line '$bad_line'" 'line 2'
done

# ---------------------------------------------------------------------------------------
# Signed Status List Tokens: keygen, sign, decode --key.
URI=https://example.com/statuslists/cli
# expect_str NAME TEXT: exit 0 and stdout is TEXT plus a newline.
expect_str() {
    printf '%s\n' "$2" >"$T/want"
    expect_out "$1" "$T/want"
}
t keygen --alg ES256 --out "$T/k.pem"
expect_rc "keygen ES256" 0
cp "$T/out" "$T/k.pub.jwk"
if [ "$(stat -c %a "$T/k.pem")" = 600 ]; then ok; else bad "keygen: private key mode $(stat -c %a "$T/k.pem")"; fi
kid=$(py "import json; print(json.load(open('$T/k.pub.jwk'))['kid'])")
if [ -n "$kid" ] && ! grep -q '"d"' "$T/k.pub.jwk"; then ok; else bad "keygen: public JWK has no kid or has d"; fi
t keygen --alg ES256 --out "$T/k.pem"
expect_usage "keygen refuses to overwrite"
t keygen --alg none
expect_usage "keygen --alg none"
t keygen --alg EdDSA --out "$T/other.pem"
cp "$T/out" "$T/other.pub.jwk"

printf '0 1\n5 1\n9 1\n' >"$T/rev.txt"
t encode --bits 1 --size 16 "$T/rev.txt"
cp "$T/out" "$T/list.json"
ti "$T/list.json" sign --key "$T/k.pem" --sub "$URI" --ttl 60 --exp 3600
expect_rc "sign jwt" 0
cp "$T/out" "$T/tok.jwt"
hdr=$(py "import base64,json; h=open('$T/tok.jwt').read().split('.')[0]; print(json.loads(base64.urlsafe_b64decode(h+'=='))['kid'])")
same "sign: kid defaults to the keygen thumbprint" "$hdr" "$kid"
ti "$T/tok.jwt" decode --key "$T/k.pub.jwk" --uri "$URI" --index 0 --index 1
expect_str "decode --key jwt --index" "$(printf '0\t1\n1\t0')"
ti "$T/tok.jwt" decode --key "$T/k.pub.jwk" --uri "$URI.x"
expect_reject "decode jwt with another uri" 'sub'
ti "$T/tok.jwt" decode --key "$T/other.pub.jwk"
expect_reject "decode jwt with an unrelated key" 'key|verify'
ti "$T/tok.jwt" decode --index 9
if [ "$rc" -eq 0 ] && grep -q 'NOT verified' "$T/err" && [ "$(cat "$T/out")" = "$(printf '9\t1')" ]; then
    ok
else
    bad "decode jwt without a key: exit $rc, stderr $(errline)"
fi
ti "$T/tok.jwt" decode --json
if py "import json,sys; d=json.load(open('$T/out')); sys.exit(0 if d['verified'] is False and d['format']=='jwt' and d['claims']['sub']=='$URI' and d['counts']=={'0':13,'1':3} else 1)"; then
    ok
else
    bad "decode jwt --json summary: $(head -c 300 "$T/out")"
fi

ti "$T/list.json" sign --key "$T/k.pem" --sub "$URI" --format cwt
expect_rc "sign cwt" 0
cp "$T/out" "$T/tok.cwt"
first=$(od -An -tx1 -N1 "$T/tok.cwt" | tr -d ' ')
same "sign cwt: COSE_Sign1 tag 18" "$first" "d2"
ti "$T/tok.cwt" decode --key "$T/k.pub.jwk" --uri "$URI" --index 5
expect_str "decode --key cwt --index" "$(printf '5\t1')"
py "print(open('$T/tok.cwt','rb').read().hex())" >"$T/tok.hex"
ti "$T/tok.hex" decode --key "$T/k.pub.jwk" --index 5
expect_str "decode --key cwt as hex text" "$(printf '5\t1')"

ti "$T/list.json" sign --key "$T/k.pem" --sub "$URI" --iat 1000 --exp 10
cp "$T/out" "$T/expired.jwt"
ti "$T/expired.jwt" decode --key "$T/k.pub.jwk"
expect_reject "decode an expired token" 'expired'
ti "$T/tok.jwt" decode --key "$T/k.pub.jwk" --now 100
expect_reject "decode a token issued in the future" 'future'

# The spec's token verifies with the spec's key (a PEM without kid).
py "import json; print(json.load(open('$VEC/sec8_2_status_list_token_jwt.json'))['compact_jws'])" >"$T/spec.jwt"
ti "$T/spec.jwt" decode --key "$VEC/keys/example_es256_kid12.public.pem" --uri https://example.com/statuslists/1 --index 0 --index 15
expect_str "decode the spec's 8.2 token" "$(printf '0\t1\n15\t1')"

# Issue 10 item 20: a CWT made by the npm package @owf/token-status-list 0.3
# (testvectors/owf/make_cwt.cjs), which writes its absent aggregation_uri, exp and ttl as
# CBOR undefined. It verifies with the key that signed it; the statuses expected are
# Python's reading of its lst.
OWF=$VEC/owf/owf_0.3.0_es256.cwt
want=$(py 'import sys,cbor2,zlib
d=cbor2.loads(open(sys.argv[1],"rb").read()); c=cbor2.loads(d.value[2])
assert d.tag==18 and c[65533]["aggregation_uri"] is cbor2.undefined
r=zlib.decompress(c[65533]["lst"])
print("\n".join("%d\t%d" % (i, r[i >> 3] >> (i & 7) & 1) for i in range(16)))' "$OWF")
# shellcheck disable=SC2046
ti "$OWF" decode --key "$VEC/keys/example_es256_kid12.public.pem" \
    --uri https://example.com/statuslists/owf $(for i in $(seq 0 15); do echo --index "$i"; done)
expect_str "decode the @owf/token-status-list CWT" "$want"

# Key files with private material must not be readable by others.
chmod 644 "$T/k.pem"
ti "$T/list.json" sign --key "$T/k.pem" --sub "$URI"
expect_reject "sign with a world-readable private key" 'mode|permission'
chmod 600 "$T/k.pem"
t sign --key "$T/k.pem"
expect_usage "sign without --sub"
ti "$T/list.json" sign --key "$T/missing.pem" --sub "$URI"
if [ "$rc" -ne 0 ] && [ -s "$T/err" ]; then ok; else bad "sign with a missing key file: exit $rc"; fi
ti "$T/rev.txt" sign --key "$T/k.pem" --sub "$URI"
expect_reject "sign input that is not a StatusList" 'StatusList'

# Issue 10 item 2: a key, certificate or trust file that is a FIFO made each of these
# block forever in open(). Each must now refuse it at once (exit 2), naming the FIFO.
# `timeout` turns a regression into a failure (exit 124) instead of a hang.
mkfifo "$T/fifo"
# fifo_case NAME ARGS...: tsl ARGS with the list on stdin, within 10 s.
fifo_case() {
    _name=$1
    shift
    _t0=$(date +%s)
    timeout 10 "$TSL" "$@" <"$T/list.json" >"$T/out" 2>"$T/err"
    rc=$?
    _dt=$(($(date +%s) - _t0))
    if [ "$rc" -eq 2 ] && [ "$_dt" -le 3 ] && grep -qF "$T/fifo" "$T/err" &&
        grep -qi 'FIFO' "$T/err"; then
        ok
    else
        bad "$_name: exit $rc after ${_dt} s, expected 2 at once naming the FIFO: $(errline)"
    fi
}
fifo_case "sign --key FIFO" sign --key "$T/fifo" --sub "$URI"
fifo_case "sign --x5c FIFO" sign --key "$T/k.pem" --x5c "$T/fifo" --sub "$URI"
fifo_case "decode --key FIFO" decode --key "$T/fifo"
fifo_case "decode --trust FIFO" decode --trust "$T/fifo"
fifo_case "verify --key FIFO" verify --key "$T/fifo"
fifo_case "verify --trust FIFO" verify --trust "$T/fifo"
fifo_case "verify --cacert FIFO" verify --cacert "$T/fifo"
fifo_case "list create --key FIFO" list create --db "$T/fifo.db" --uri "$URI/f1" \
    --bits 1 --size 16 --key "$T/fifo" f1
fifo_case "list create --x5c FIFO" list create --db "$T/fifo.db" --uri "$URI/f2" \
    --bits 1 --size 16 --key "$T/k.pem" --x5c "$T/fifo" f2
# A directory is refused the same way, and says so.
ti "$T/list.json" sign --key "$T" --sub "$URI"
if [ "$rc" -eq 2 ] && grep -q 'is a directory' "$T/err"; then ok; else
    bad "sign --key DIR: exit $rc: $(errline)"; fi

finish
