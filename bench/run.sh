#!/bin/bash
# The request-path cost of ngx_astro_health_module (`make bench`).
#
# Two nginx instances from one template, bench/health.conf.in, each with
# one worker, on loopback:
#
#   plain  127.0.0.1:18801  `location / { return 200 "ok\n"; }`, no module
#   astro  127.0.0.1:18802  the same, with build/ngx_astro_module.so (a copy),
#                           a health zone (log-phase accounting of every
#                           request), `astro_shed priority=$prio` on the
#                           server (the shedding check in the rewrite phase)
#                           and an astro_status location (not requested
#                           while measuring)
#
# All health limits of the astro instance are off
# (`astro_health_threshold ... cpu=off memory=off error_rate=off
# latency=off`): the zone reads the real /proc, and while wrk keeps the CPU
# busy it would go degraded or critical and shed, and 503s would spoil the
# comparison. So the status stays healthy, and every request is checked by
# astro_shed and let through. Any non-2xx answer or socket error fails the
# run.
#
# After a warmup of each, wrk measures plain, astro, plain, astro, ... (so
# drift hits both), with wrk pinned to one CPU and nginx's worker to
# another when there are two. It prints req/s per round, the medians, the
# ratio astro/plain of the medians and whether it reaches 0.98. It reports
# and does not assert: it exits 0 whatever the ratio, and 1 when a server
# does not start, or on errors or non-2xx answers.
#
# Settings (environment):
#   BENCH_DURATION     each measurement, wrk's -d (5s)
#   BENCH_WARMUP       warmup of each server before the rounds (2s)
#   BENCH_CONNECTIONS  wrk's -c (32)
#   BENCH_THREADS      wrk's -t (1)
#   BENCH_ROUNDS       rounds of plain + astro (5)
#   BENCH_MIN_RATIO    the goal for astro/plain (0.98)
#   BENCH_PIN          1: pin wrk and the workers if there are 2 CPUs; 0: not (1)
#   BENCH_WRK_CPU, BENCH_NGINX_CPU   the CPUs to pin them to (0, 1)
#   BENCH_PORT_PLAIN, BENCH_PORT_ASTRO   (18801, 18802)
#   BENCH_NGINX        nginx binary (/usr/sbin/nginx)
#   BENCH_MODULE       the module (build/ngx_astro_module.so; built with
#                      `make` if missing)
#   BENCH_DIR          the instances' prefixes and wrk's output (build/bench)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_astro_module.so}
DIR=${BENCH_DIR:-$ROOT/build/bench}
CONF_IN=$ROOT/bench/health.conf.in
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-5}
MIN_RATIO=${BENCH_MIN_RATIO:-0.98}
PIN=${BENCH_PIN:-1}
WRK_CPU=${BENCH_WRK_CPU:-0}
NGINX_CPU=${BENCH_NGINX_CPU:-1}
PORT_PLAIN=${BENCH_PORT_PLAIN:-18801}
PORT_ASTRO=${BENCH_PORT_ASTRO:-18802}

say() { echo "bench: $*"; }
die() { echo "bench: $*" >&2; exit 1; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

for v in CONNECTIONS THREADS ROUNDS WRK_CPU NGINX_CPU PORT_PLAIN PORT_ASTRO; do
    is_uint "${!v}" || die "BENCH_$v must be a number, not \"${!v}\""
done
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
[[ $MIN_RATIO =~ ^[0-9]+(\.[0-9]+)?$ ]] \
    || die "BENCH_MIN_RATIO must be a number, not \"$MIN_RATIO\""

command -v wrk >/dev/null 2>&1 || die "no wrk: apt-get install wrk"
[ -x "$NGINX" ] || die "no $NGINX: run util/install-deps.sh"
[ -f "$CONF_IN" ] || die "no $CONF_IN"
if [ ! -f "$MODULE" ]; then
    [ -z "${BENCH_MODULE:-}" ] || die "no $MODULE"
    say "no $MODULE: building it"
    make -C "$ROOT" all
fi
case $MODULE in /*) ;; *) MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE") ;; esac


# --- pinning -------------------------------------------------------------------

WRK=(wrk)
AFFINITY="# worker_cpu_affinity: not pinned"
PINNING="none"
ncpu=$(nproc 2>/dev/null || echo 1)

if [ "$PIN" = 1 ] && [ "$ncpu" -ge 2 ]; then
    [ "$WRK_CPU" != "$NGINX_CPU" ] \
        || die "BENCH_WRK_CPU and BENCH_NGINX_CPU are the same CPU"
    mask=1
    for ((i = 0; i < NGINX_CPU; i++)); do mask+=0; done
    AFFINITY="worker_cpu_affinity $mask;"
    PINNING="nginx worker on CPU $NGINX_CPU"
    if command -v taskset >/dev/null 2>&1; then
        WRK=(taskset -c "$WRK_CPU" wrk)
        PINNING+=", wrk on CPU $WRK_CPU"
    else
        PINNING+=", wrk not pinned (no taskset)"
    fi
fi


# --- the nginx instances -------------------------------------------------------

# Whether pid $1 runs: a zombie does not (a daemonized nginx master is
# reaped by pid 1, which may take its time).
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# Waits up to $2 tenths of a second for pid $1 to end.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    ! alive "$1"
}

# Stops the nginx master whose pid is in $1's pid file, and its workers.
stop_instance() {
    local pidfile=$DIR/$1/logs/nginx.pid pid workers w
    [ -f "$pidfile" ] || return 0
    pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
    if is_uint "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ]; then
        workers=$(pgrep -P "$pid" 2>/dev/null || true)
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 50; then
            say "nginx $1 (pid $pid) did not stop, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 20 || true
        fi
        for w in $workers; do
            if [ "$(cat "/proc/$w/comm" 2>/dev/null)" = nginx ]; then
                kill -KILL "$w" 2>/dev/null || true
            fi
        done
    fi
    rm -f "$pidfile"
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Writes $DIR/$1/conf/nginx.conf (astro or plain) for port $2 and starts it.
start_instance() {
    local name=$1 port=$2 prefix=$DIR/$1 pid="" worker="" i keep

    stop_instance "$name"     # left by an earlier run killed with SIGKILL
    port_busy "$port" \
        && die "127.0.0.1:$port is in use (set BENCH_PORT_${name^^})"

    mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
    rm -f "$prefix/logs/error.log"

    # Load a copy: `make` rewrites build/ngx_astro_module.so in place, and
    # a worker that has the file mapped meanwhile dies of SIGBUS.
    if [ "$name" = astro ]; then
        cp "$MODULE" "$prefix/ngx_astro_module.so"
        keep='s/^\([[:space:]]*\)#astro# /\1/'
    else
        keep='/^[[:space:]]*#astro# /d'
    fi
    sed -e "$keep" \
        -e "s|@MODULE@|$prefix/ngx_astro_module.so|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@AFFINITY@|$AFFINITY|g" \
        "$CONF_IN" > "$prefix/conf/nginx.conf"

    if ! "$NGINX" -q -t -p "$prefix/" -c conf/nginx.conf \
             -e "$prefix/logs/error.log" 2>/dev/null; then
        tail -n 5 "$prefix/logs/error.log" >&2 || true
        die "nginx rejects $prefix/conf/nginx.conf"
    fi
    rm -f "$prefix/logs/error.log"

    "$NGINX" -p "$prefix/" -c conf/nginx.conf -e "$prefix/logs/error.log" \
        || { tail -n 5 "$prefix/logs/error.log" >&2 || true;
             die "nginx $name did not start"; }

    for ((i = 0; i < 50; i++)); do
        pid=$(head -n 1 "$prefix/logs/nginx.pid" 2>/dev/null || true)
        if is_uint "$pid"; then
            worker=$(pgrep -P "$pid" 2>/dev/null | head -n 1 || true)
            if [ -n "$worker" ] && port_busy "$port"; then
                break
            fi
        fi
        worker=""
        sleep 0.1
    done
    if [ -z "$worker" ]; then
        tail -n 5 "$prefix/logs/error.log" >&2 || true
        die "nginx $name did not come up on 127.0.0.1:$port"
    fi

    printf -v "WORKER_${name^^}" '%s' "$worker"

    if command -v taskset >/dev/null 2>&1; then
        say "nginx $name: 127.0.0.1:$port, master $pid, worker $worker" \
            "(CPUs $(taskset -pc "$worker" | sed 's/.*: //'))"
    else
        say "nginx $name: 127.0.0.1:$port, master $pid, worker $worker"
    fi
}

WRK_PID=""   # a wrk running in the background
stopping=no
# shellcheck disable=SC2317  # called from the traps
cleanup() {
    [ "$stopping" = no ] || return 0
    stopping=yes
    trap '' INT TERM
    if [ -n "$WRK_PID" ]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    stop_instance plain
    stop_instance astro
}

trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'exit 143' TERM


# --- wrk -----------------------------------------------------------------------

RPS=""       # of the last run_wrk
REQUESTS=""
CPU=""       # the worker's CPU seconds (user + system) in the last run_wrk
WORKER_PLAIN=""
WORKER_ASTRO=""

# utime + stime of a process, in clock ticks
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# Runs wrk for $3 against port $2, its output in $DIR/wrk-$1.txt; sets RPS
# and REQUESTS; fails on socket errors or non-2xx answers.
run_wrk() {
    local label=$1 port=$2 duration=$3 out=$DIR/wrk-$1.txt errors non2xx
    local worker=$WORKER_PLAIN t0 t1

    [ "$port" = "$PORT_ASTRO" ] && worker=$WORKER_ASTRO
    t0=$(cpu_ticks "$worker")

    # in the background, so that a signal's trap runs at once
    "${WRK[@]}" -t"$THREADS" -c"$CONNECTIONS" -d"$duration" \
        "http://127.0.0.1:$port/" > "$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=""
        cat "$out" >&2
        show_logs
        die "wrk failed ($label)"
    fi
    WRK_PID=""
    t1=$(cpu_ticks "$worker")
    CPU=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
              'BEGIN { printf "%.2f", t / hz }')

    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    REQUESTS=$(awk '/ requests in / { print $1 }' "$out")
    errors=$(sed -n 's/^ *Socket errors: *//p' "$out")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$out")

    if [ -z "$RPS" ] || ! is_uint "$REQUESTS" || [ "$REQUESTS" -eq 0 ]; then
        cat "$out" >&2
        show_logs
        die "no figures from wrk ($label)"
    fi
    if [ -n "$errors" ]; then
        cat "$out" >&2
        show_logs
        die "socket errors ($label): $errors"
    fi
    if [ -n "$non2xx" ]; then
        cat "$out" >&2
        show_logs
        die "$non2xx non-2xx responses ($label)"
    fi
}

# The end of the error logs, when something went wrong.
show_logs() {
    local name
    for name in plain astro; do
        if [ -s "$DIR/$name/logs/error.log" ]; then
            echo "--- $DIR/$name/logs/error.log (end)" >&2
            tail -n 5 "$DIR/$name/logs/error.log" >&2
        fi
    done
}

median() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}


# --- the run -------------------------------------------------------------------

mkdir -p "$DIR"

say "ngx_astro_health_module, request-path cost: return 200, one worker"
say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs" \
    "($(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "Linux $(uname -r)), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
say "module: $MODULE ($(date -u -r "$MODULE" '+built %Y-%m-%d %H:%M UTC'))"
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds plain/astro," \
    "$WARMUP warmup each; pinning: $PINNING"
say "astro: health zone + log-phase accounting + astro_shed check; all" \
    "health limits off, so the status stays healthy and nothing is shed"

load=$(cut -d ' ' -f 1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    say "note: load average $load: other jobs may skew the figures"
fi

start_instance plain "$PORT_PLAIN"
start_instance astro "$PORT_ASTRO"

if command -v curl >/dev/null 2>&1; then
    for port in "$PORT_PLAIN" "$PORT_ASTRO"; do
        body=$(curl -s -w '%{http_code}' "http://127.0.0.1:$port/" || true)
        [ "$body" = $'ok\n200' ] \
            || die "127.0.0.1:$port/ answers \"$body\", not 200 \"ok\""
    done
fi

astro_requests=0

say "warmup"
run_wrk warmup-plain "$PORT_PLAIN" "$WARMUP"
run_wrk warmup-astro "$PORT_ASTRO" "$WARMUP"
astro_requests=$((astro_requests + REQUESTS))

plain=()
astro=()
ratios=()
plain_eff=()
astro_eff=()

# req/s is wrk's throughput; req/cpu-s is requests per second of the
# worker's own CPU time (user + system, from /proc), which a 2-CPU VM's
# scheduling noise moves much less than the throughput.
echo
printf '%-6s %12s %12s %8s %14s %14s %8s\n' round "plain req/s" \
    "astro req/s" ratio "plain req/cpu" "astro req/cpu" ratio
for ((round = 1; round <= ROUNDS; round++)); do
    run_wrk "plain-$round" "$PORT_PLAIN" "$DURATION"
    p=$RPS
    pe=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
    run_wrk "astro-$round" "$PORT_ASTRO" "$DURATION"
    a=$RPS
    ae=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
    astro_requests=$((astro_requests + REQUESTS))
    r=$(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", a / p }')
    re=$(awk -v a="$ae" -v p="$pe" 'BEGIN { printf "%.3f", a / p }')
    plain+=("$p")
    astro+=("$a")
    ratios+=("$r")
    plain_eff+=("$pe")
    astro_eff+=("$ae")
    printf '%-6s %12.0f %12.0f %8s %14s %14s %8s\n' "$round" "$p" "$a" "$r" \
        "$pe" "$ae" "$re"
done

pe=$(median "${plain_eff[@]}")
ae=$(median "${astro_eff[@]}")
eff_ratio=$(awk -v a="$ae" -v p="$pe" 'BEGIN { printf "%.3f", a / p }')

# The headline: the median of the per-round ratios.  A round's two
# measurements are adjacent in time, so the drift of a noisy VM moves
# both; the ratio of the medians pairs figures from different rounds.
paired=$(median "${ratios[@]}")
paired=$(awk -v r="$paired" 'BEGIN { printf "%.3f", r }')

p=$(median "${plain[@]}")
a=$(median "${astro[@]}")
ratio=$(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", a / p }')
rmin=$(printf '%s\n' "${ratios[@]}" | sort -g | head -n 1)
rmax=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -n 1)
printf '%-6s %12.0f %12.0f %8s %14.0f %14.0f %8s\n' median "$p" "$a" \
    "$ratio" "$pe" "$ae" "$eff_ratio"
echo

# The astro instance's own view: still healthy, nothing shed, and every
# request wrk completed was counted in the log phase.
if command -v curl >/dev/null 2>&1; then
    metrics=$(curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=prometheus" || true)
    level=$(awk '$1 == "astro_health_level" { print $2 }' <<< "$metrics")
    counted=$(awk '$1 == "astro_requests_total" { print $2 }' <<< "$metrics")
    shed=$(awk '$1 ~ /^astro_shed_total/ { n += $2 } END { print n + 0 }' <<< "$metrics")
    [ "$level" = 0 ] || die "the astro instance is not healthy (level \"$level\")"
    [ "$shed" = 0 ] || die "the astro instance shed $shed requests"
    if ! is_uint "$counted" || [ "$counted" -lt "$astro_requests" ]; then
        die "the health zone counted \"$counted\" requests," \
            "wrk completed $astro_requests"
    fi
    say "astro: status healthy, 0 shed, $counted requests counted by the zone" \
        "(wrk completed $astro_requests)"
fi

for name in plain astro; do
    if grep -q '\[\(error\|crit\|alert\|emerg\)\]' "$DIR/$name/logs/error.log" 2>/dev/null; then
        tail -n 5 "$DIR/$name/logs/error.log" >&2
        die "errors in $DIR/$name/logs/error.log"
    fi
done

say "median req/s: plain $p, astro $a"
say "astro/plain: $ratio (of the medians; per round min $rmin, max $rmax)"
say "astro/plain, requests per worker CPU-second: $eff_ratio" \
    "(of the medians: plain $pe, astro $ae)"
if awk -v r="$eff_ratio" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }'; then
    say "CPU ratio >= $MIN_RATIO: yes"
else
    say "CPU ratio >= $MIN_RATIO: no"
fi
say "astro/plain, median of the per-round throughput ratios: $paired"
if awk -v r="$paired" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }'; then
    say "throughput ratio >= $MIN_RATIO: yes"
else
    say "throughput ratio >= $MIN_RATIO: no"
fi
