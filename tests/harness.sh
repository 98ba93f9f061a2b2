# harness.sh - sourced by the shell suites (cli.sh, store.sh, serve.sh, verify.sh): the
# counters and the checks they share. Set SUITE (the name on the closing line) before
# sourcing; t, ti, errline and expect_rc use the suite's scratch directory $T.
#
# ok / bad MESSAGE    count a pass / a failure (the message goes to stderr)
# note MESSAGE        a line of information on stdout
# same NAME GOT WANT  passes when the two strings are equal
# finish              prints "SUITE: N passed, N failed" and exits 0 only if none failed
# t ARGS...           runs tsl with stdin from /dev/null; sets rc, leaves $T/out, $T/err
# ti FILE ARGS...     the same with stdin from FILE
# expect_rc NAME CODE the last t / ti exited with CODE

pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL $*" >&2
}
note() { echo "$SUITE: $*"; }
same() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: '$2' != '$3'"; fi
}
finish() {
    echo "$SUITE: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

t() {
    "$TSL" "$@" </dev/null >"$T/out" 2>"$T/err"
    rc=$?
}
ti() {
    _in=$1
    shift
    "$TSL" "$@" <"$_in" >"$T/out" 2>"$T/err"
    rc=$?
}
errline() { head -c 300 "$T/err" | tr '\n' '|'; }
expect_rc() {
    if [ "$rc" -eq "$2" ]; then ok; else bad "$1: exit $rc, expected $2; stderr: $(errline)"; fi
}
