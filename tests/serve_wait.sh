# serve_wait.sh - sourced by the scripts that need a running `tsl serve` (serve.sh,
# verify.sh, bench.sh, bench_serve.sh), so that one loop decides when it is up.
#
# serve_bg LOG ARGS...: runs `$TSL serve ARGS...` in the background with its stderr in
# LOG and waits up to 10 s for its "listening on" line. Returns 0 with SERVE_PID set;
# when the server exits first or never listens, it is stopped, SERVE_PID is empty and
# the return is 1 (LOG says why; "in use" there means the port was taken).
serve_bg() {
    _sw_log=$1
    shift
    "$TSL" serve "$@" 2>"$_sw_log" &
    SERVE_PID=$!
    _sw_n=0
    while [ $_sw_n -lt 100 ]; do
        if grep -q 'listening on' "$_sw_log" 2>/dev/null; then return 0; fi
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
        _sw_n=$((_sw_n + 1))
    done
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=""
    return 1
}
