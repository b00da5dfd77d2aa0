# bench/lib-wrk.sh: the measurements of `make bench` (sourced by
# bench/lib.sh): a wrk run against one instance, with the CPU time its
# worker (and SIDE, the scenario's redis-server or backends) used
# meanwhile, from /proc; the figures made of them.

# shellcheck shell=bash disable=SC2034  # variables shared by bench/*.sh

HZ=$(getconf CLK_TCK)
RPS=""       # of the last run_wrk
REQUESTS=""
CPU=""       # the worker's CPU seconds (user + system) in the last run_wrk
SIDE_PID=""  # the process of SIDE (redis-server, the backends' worker)
SIDE_PCT=""  # SIDE_PID's share of a CPU in the last run_wrk, % (0 if none)
SIDE_SECS="" # its CPU seconds
WORKER_PCT="" # the measured worker's share of a CPU in the last run_wrk, %
BACKEND_CONNS="" # connections the backends accepted in the last run_wrk
WORKER_PLAIN=""   # the baseline's worker
WORKER_ASTRO=""

# utime + stime of a process, in clock ticks
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# $1 clock ticks in seconds
ticks_secs() {
    awk -v t="$1" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }'
}

# $1 clock ticks as a share of a CPU since the time $2 ($EPOCHREALTIME), %
ticks_pct() {
    awk -v t="$1" -v hz="$HZ" -v w0="$2" \
        -v w1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", 100 * t / hz / (w1 - w0) }'
}

# $1 requests in $2 CPU seconds: requests per CPU-second
per_cpu() {
    awk -v n="$1" -v c="$2" 'BEGIN { printf "%.0f", n / c }'
}

# microseconds of CPU per request at $1 requests per CPU-second
us_per() {
    awk -v e="$1" 'BEGIN { printf "%.1f", 1e6 / e }'
}

# $1 CPU seconds for $2 requests: microseconds a request
us_each() {
    awk -v s="$1" -v n="$2" 'BEGIN { printf "%.3f", n ? 1e6 * s / n : 0 }'
}

# Runs wrk for $3 against port $2 (path $4, by default /), its output in
# $DIR_S/wrk-$1.txt; sets RPS, REQUESTS, CPU, WORKER_PCT, SIDE_PCT,
# SIDE_SECS and BACKEND_CONNS; fails on socket
# errors or non-2xx answers.
run_wrk() {
    local label=$1 port=$2 duration=$3 path=${4:-/} out=$DIR_S/wrk-$1.txt
    local worker=$WORKER_PLAIN t0 t1 r0=0 r1=0 w0 errors non2xx c0=0 c1
    local -a script=()

    [ "$port" = "$PORT_ASTRO" ] && worker=$WORKER_ASTRO
    [ -z "$WRK_SCRIPT" ] || script=(-s "$WRK_SCRIPT")
    if has_hook accepts; then
        c0=$(hook accepts)
    fi
    t0=$(cpu_ticks "$worker")
    [ -z "$SIDE_PID" ] || r0=$(cpu_ticks "$SIDE_PID")
    w0=$EPOCHREALTIME

    # in the background, so that a signal's trap runs at once
    "${WRK[@]}" -t"$THREADS" -c"$CONNECTIONS" -d"$duration" "${script[@]}" \
        "http://127.0.0.1:$port$path" -- "$USERS" > "$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=""
        fail_run "$out" "wrk failed ($label)"
    fi
    WRK_PID=""
    t1=$(cpu_ticks "$worker")
    [ -z "$SIDE_PID" ] || r1=$(cpu_ticks "$SIDE_PID")
    CPU=$(ticks_secs $((t1 - t0)))
    WORKER_PCT=$(ticks_pct $((t1 - t0)) "$w0")
    SIDE_PCT=$(ticks_pct $((r1 - r0)) "$w0")
    SIDE_SECS=$(ticks_secs $((r1 - r0)))
    # less the connection of the second reading
    BACKEND_CONNS=0
    if has_hook accepts; then
        c1=$(hook accepts)
        BACKEND_CONNS=$((c1 - c0 - 1))
    fi

    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    REQUESTS=$(awk '/ requests in / { print $1 }' "$out")
    errors=$(sed -n 's/^ *Socket errors: *//p' "$out")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$out")

    if [ -z "$RPS" ] || ! is_uint "$REQUESTS" || [ "$REQUESTS" -eq 0 ]; then
        fail_run "$out" "no figures from wrk ($label)"
    fi
    [ -z "$errors" ] || fail_run "$out" "socket errors ($label): $errors"
    [ -z "$non2xx" ] || fail_run "$out" "$non2xx non-2xx responses ($label)"
}
