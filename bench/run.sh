#!/bin/bash
# The request-path cost of the astro modules (`make bench`).
#
# Named scenarios (BENCH_SCENARIOS, by default "health ratelimit"), run one
# after the other. Each is a pair of nginx instances from one template,
# bench/SCENARIO.conf.in, each with one worker, on loopback: a baseline on
# 127.0.0.1:18801 and astro on 127.0.0.1:18802. Lines of the template
# starting with "#astro# " are only in the astro instance, lines starting
# with "#base# " only in the baseline.
#
# health: ngx_astro_health_module against nothing
#   plain      `location / { return 200 "ok\n"; }`, no module
#   astro      the same, with build/ngx_astro_module.so (a copy), a health
#              zone (log-phase accounting of every request), `astro_shed
#              priority=$prio` on the server (the shedding check in the
#              rewrite phase) and an astro_status location (not requested
#              while measuring)
#   All health limits of the astro instance are off
#   (`astro_health_threshold ... cpu=off memory=off error_rate=off
#   latency=off`): the zone reads the real /proc, and while wrk keeps the
#   CPU busy it would go degraded or critical and shed, and 503s would
#   spoil the comparison. So the status stays healthy, and every request
#   is checked by astro_shed and let through.
#
# ratelimit: ngx_astro_ratelimit_module, backend=local, against limit_req
#   limit_req  stock nginx, `limit_req_zone $binary_remote_addr zone=b:10m
#              rate=100000000r/s` and `limit_req zone=b burst=1000 nodelay`
#              on a location serving a small static index.html
#   astro      the same location with `astro_ratelimit_zone zone=a:10m
#              key=$binary_remote_addr rate=100000000r/s burst=1000
#              backend=local`, `astro_ratelimit zone=a` and
#              `astro_ratelimit_headers off` (the same bytes as limit_req),
#              and an astro_status location (not requested while measuring)
#   The limit is never reached: any answer but 200 fails the run.
#
# After a warmup of each, wrk measures baseline, astro, baseline, astro,
# ... (so drift hits both), with wrk pinned to one CPU and nginx's worker
# to another when there are two. It prints req/s and requests per worker
# CPU-second per round, the medians, their ratios, the median of the
# per-round ratios (the headline) and whether they reach the scenario's
# goal (0.98 health, 0.97 ratelimit). It reports and does not assert: it
# exits 0 whatever the ratios, and 1 when a server does not start, on
# errors or non-2xx answers, or when an instance's own counters disagree
# with wrk.
#
# Settings (environment):
#   BENCH_SCENARIOS    the scenarios, in order ("health ratelimit")
#   BENCH_DURATION     each measurement, wrk's -d (5s)
#   BENCH_WARMUP       warmup of each server before the rounds (2s)
#   BENCH_CONNECTIONS  wrk's -c (32)
#   BENCH_THREADS      wrk's -t (1)
#   BENCH_ROUNDS       rounds of baseline + astro (5)
#   BENCH_MIN_RATIO    the goal for astro/baseline in every scenario
#                      (unset: each scenario's own, 0.98 or 0.97)
#   BENCH_PIN          1: pin wrk and the workers if there are 2 CPUs; 0: not (1)
#   BENCH_WRK_CPU, BENCH_NGINX_CPU   the CPUs to pin them to (0, 1)
#   BENCH_PORT_PLAIN, BENCH_PORT_ASTRO   baseline and astro (18801, 18802)
#   BENCH_NGINX        nginx binary (/usr/sbin/nginx)
#   BENCH_MODULE       the module (build/ngx_astro_module.so; built with
#                      `make` if missing)
#   BENCH_DIR          the instances' prefixes and wrk's output (build/bench)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_astro_module.so}
DIR=${BENCH_DIR:-$ROOT/build/bench}
SCENARIOS=${BENCH_SCENARIOS:-health ratelimit}
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-5}
MIN_RATIO_ALL=${BENCH_MIN_RATIO:-}
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
[ -z "$MIN_RATIO_ALL" ] || [[ $MIN_RATIO_ALL =~ ^[0-9]+(\.[0-9]+)?$ ]] \
    || die "BENCH_MIN_RATIO must be a number, not \"$MIN_RATIO_ALL\""

read -r -a SCENARIO_LIST <<< "$SCENARIOS"
[ "${#SCENARIO_LIST[@]}" -ge 1 ] || die "BENCH_SCENARIOS is empty"
for s in "${SCENARIO_LIST[@]}"; do
    case $s in
        health|ratelimit) ;;
        *) die "unknown scenario \"$s\" in BENCH_SCENARIOS (health, ratelimit)" ;;
    esac
    [ -f "$ROOT/bench/$s.conf.in" ] || die "no $ROOT/bench/$s.conf.in"
done

command -v wrk >/dev/null 2>&1 || die "no wrk: apt-get install wrk"
[ -x "$NGINX" ] || die "no $NGINX: run util/install-deps.sh"
if [ ! -f "$MODULE" ]; then
    [ -z "${BENCH_MODULE:-}" ] || die "no $MODULE"
    say "no $MODULE: building it"
    make -C "$ROOT" all
fi
case $MODULE in /*) ;; *) MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE") ;; esac


# --- the scenarios -------------------------------------------------------------

# Sets the current scenario's settings from its name $1:
#   SCENARIO, CONF_IN   the name and the template
#   BASE                the baseline's name, in the table and the verdicts
#   MIN_RATIO           the goal for astro/BASE
#   TITLE, ABOUT        what is measured, printed before the rounds
#   HTML                the document root of the instances ("" if none)
#   BODY                what GET / answers, checked before the rounds
#   DIR_S               the instances' prefixes and wrk's output
set_scenario() {
    SCENARIO=$1
    CONF_IN=$ROOT/bench/$1.conf.in
    DIR_S=$DIR/$1
    HTML=""

    case $1 in
    health)
        BASE=plain
        MIN_RATIO=0.98
        TITLE="ngx_astro_health_module, request-path cost: return 200, one worker"
        ABOUT="astro: health zone + log-phase accounting + astro_shed check; all"
        ABOUT+=" health limits off, so the status stays healthy and nothing is shed"
        BODY=$'ok\n'
        ;;
    ratelimit)
        BASE=limit_req
        MIN_RATIO=0.97
        TITLE="ngx_astro_ratelimit_module, backend=local, against limit_req:"
        TITLE+=" static index.html, one worker"
        ABOUT="key \$binary_remote_addr (one key), rate=100000000r/s burst=1000"
        ABOUT+=" in both (never reached); astro_ratelimit_headers off"
        HTML=$DIR_S/html
        BODY=$'<!DOCTYPE html>\n<title>bench</title>\n<p>ok</p>\n'
        ;;
    esac

    [ -z "$MIN_RATIO_ALL" ] || MIN_RATIO=$MIN_RATIO_ALL
}


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

# Stops the nginx master whose pid is in the pid file of the instance
# whose prefix is $1, and its workers.
stop_instance() {
    local pidfile=$1/logs/nginx.pid pid workers w
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

# Writes $DIR_S/$2/conf/nginx.conf from the scenario's template for the
# role $1 (base or astro), named $2, on port $3, and starts it.
start_instance() {
    local role=$1 name=$2 port=$3 prefix=$DIR_S/$2 pid="" worker="" i
    local keep drop var=PLAIN

    [ "$role" = astro ] && var=ASTRO
    stop_instance "$prefix"   # left by an earlier run killed with SIGKILL
    port_busy "$port" \
        && die "127.0.0.1:$port is in use (set BENCH_PORT_$var)"

    mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
    rm -f "$prefix/logs/error.log"

    # Load a copy: `make` rewrites build/ngx_astro_module.so in place, and
    # a worker that has the file mapped meanwhile dies of SIGBUS.
    if [ "$role" = astro ]; then
        cp "$MODULE" "$prefix/ngx_astro_module.so"
        keep='s/^\([[:space:]]*\)#astro# /\1/'
        drop='/^[[:space:]]*#base# /d'
    else
        keep='s/^\([[:space:]]*\)#base# /\1/'
        drop='/^[[:space:]]*#astro# /d'
    fi
    sed -e "$drop" -e "$keep" \
        -e "s|@MODULE@|$prefix/ngx_astro_module.so|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@AFFINITY@|$AFFINITY|g" \
        -e "s|@HTML@|$HTML|g" \
        "$CONF_IN" > "$prefix/conf/nginx.conf"

    if ! "$NGINX" -q -t -p "$prefix/" -c conf/nginx.conf \
             -e "$prefix/logs/error.log" 2>/dev/null; then
        tail -n 5 "$prefix/logs/error.log" >&2 || true
        die "nginx rejects $prefix/conf/nginx.conf"
    fi
    rm -f "$prefix/logs/error.log"

    RUNNING+=("$prefix")
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

    printf -v "WORKER_${var}" '%s' "$worker"

    if command -v taskset >/dev/null 2>&1; then
        say "nginx $name: 127.0.0.1:$port, master $pid, worker $worker" \
            "(CPUs $(taskset -pc "$worker" | sed 's/.*: //'))"
    else
        say "nginx $name: 127.0.0.1:$port, master $pid, worker $worker"
    fi
}

# Stops the instances started since the last call.
stop_running() {
    local prefix
    for prefix in "${RUNNING[@]}"; do
        stop_instance "$prefix"
    done
    RUNNING=()
}

RUNNING=()   # the prefixes of the instances started
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
    stop_running
}

trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'exit 143' TERM


# --- wrk -----------------------------------------------------------------------

RPS=""       # of the last run_wrk
REQUESTS=""
CPU=""       # the worker's CPU seconds (user + system) in the last run_wrk
WORKER_PLAIN=""   # the baseline's worker
WORKER_ASTRO=""

# utime + stime of a process, in clock ticks
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# Runs wrk for $3 against port $2, its output in $DIR_S/wrk-$1.txt; sets
# RPS and REQUESTS; fails on socket errors or non-2xx answers.
run_wrk() {
    local label=$1 port=$2 duration=$3 out=$DIR_S/wrk-$1.txt errors non2xx
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
    local prefix
    for prefix in "${RUNNING[@]}"; do
        if [ -s "$prefix/logs/error.log" ]; then
            echo "--- $prefix/logs/error.log (end)" >&2
            tail -n 5 "$prefix/logs/error.log" >&2
        fi
    done
}

median() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The astro instance's status in Prometheus form.
astro_metrics() {
    curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=prometheus" || true
}


# --- the checks ----------------------------------------------------------------

# Before the rounds: GET / of both instances answers 200 and $BODY; in the
# ratelimit scenario, the two responses are the same bytes but for Date.
check_answers() {
    local port body hb ha
    command -v curl >/dev/null 2>&1 || return 0
    for port in "$PORT_PLAIN" "$PORT_ASTRO"; do
        body=$(curl -s -w '%{http_code}' "http://127.0.0.1:$port/"; echo x) || true
        body=${body%x}
        [ "$body" = "${BODY}200" ] \
            || die "127.0.0.1:$port/ answers \"$body\", not 200 \"$BODY\""
    done
    if [ "$SCENARIO" = ratelimit ]; then
        hb=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT_PLAIN/" \
                 | tr -d '\r' | grep -v '^Date: ')
        ha=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT_ASTRO/" \
                 | tr -d '\r' | grep -v '^Date: ')
        if [ "$hb" != "$ha" ]; then
            printf '%s\n---\n%s\n' "$hb" "$ha" >&2
            die "$BASE and astro answer different headers"
        fi
        say "$BASE and astro answer the same status line, headers (but for" \
            "Date) and body"
    fi
}

# After the rounds: the astro instance's own counters agree with wrk
# ($1 requests completed against it).
check_astro() {
    local completed=$1 metrics level counted shed passed other
    command -v curl >/dev/null 2>&1 || return 0
    metrics=$(astro_metrics)

    case $SCENARIO in
    health)
        # still healthy, nothing shed, and every request wrk completed
        # was counted in the log phase
        level=$(awk '$1 == "astro_health_level" { print $2 }' <<< "$metrics")
        counted=$(awk '$1 == "astro_requests_total" { print $2 }' <<< "$metrics")
        shed=$(awk '$1 ~ /^astro_shed_total/ { n += $2 } END { print n + 0 }' <<< "$metrics")
        [ "$level" = 0 ] || die "the astro instance is not healthy (level \"$level\")"
        [ "$shed" = 0 ] || die "the astro instance shed $shed requests"
        if ! is_uint "$counted" || [ "$counted" -lt "$completed" ]; then
            die "the health zone counted \"$counted\" requests," \
                "wrk completed $completed"
        fi
        say "astro: status healthy, 0 shed, $counted requests counted by the zone" \
            "(wrk completed $completed)"
        ;;
    ratelimit)
        # every request wrk completed was decided and passed by the zone,
        # none delayed or rejected
        passed=$(awk '$1 ~ /^astro_ratelimit_requests_total\{.*result="passed"/ { print $2 }' <<< "$metrics")
        other=$(awk '$1 ~ /^astro_ratelimit_requests_total\{/ && $1 !~ /result="passed"/ { n += $2 } END { print n + 0 }' <<< "$metrics")
        [ "$other" = 0 ] \
            || die "the ratelimit zone delayed, rejected or dry-ran $other requests"
        if ! is_uint "$passed" || [ "$passed" -lt "$completed" ]; then
            die "the ratelimit zone passed \"$passed\" requests," \
                "wrk completed $completed"
        fi
        say "astro: $passed requests passed by the zone, 0 delayed or" \
            "rejected (wrk completed $completed)"
        ;;
    esac
}


# --- one scenario --------------------------------------------------------------

SUMMARY=()

# Runs the scenario $1: starts both instances, measures, checks, prints
# the table and the verdicts, stops both.
run_scenario() {
    local round p a pe ae r re ratio eff_ratio paired rmin rmax name verdict
    local astro_requests=0 w=12 we=14
    local -a base=() astro=() ratios=() base_eff=() astro_eff=()

    set_scenario "$1"
    mkdir -p "$DIR_S"

    echo
    say "== $SCENARIO: $TITLE"
    say "$ABOUT"

    if [ -n "$HTML" ]; then
        mkdir -p "$HTML"
        printf '%s' "$BODY" > "$HTML/index.html"
    fi

    start_instance base "$BASE" "$PORT_PLAIN"
    start_instance astro astro "$PORT_ASTRO"
    check_answers

    say "warmup"
    run_wrk "warmup-$BASE" "$PORT_PLAIN" "$WARMUP"
    run_wrk warmup-astro "$PORT_ASTRO" "$WARMUP"
    astro_requests=$((astro_requests + REQUESTS))

    # the columns are as wide as the baseline's name needs
    [ $((${#BASE} + 6)) -le "$w" ] || w=$((${#BASE} + 6))
    [ $((${#BASE} + 8)) -le "$we" ] || we=$((${#BASE} + 8))

    # req/s is wrk's throughput; req/cpu-s is requests per second of the
    # worker's own CPU time (user + system, from /proc), which a 2-CPU VM's
    # scheduling noise moves much less than the throughput.
    echo
    printf "%-6s %${w}s %${w}s %8s %${we}s %${we}s %8s\n" round \
        "$BASE req/s" "astro req/s" ratio "$BASE req/cpu" "astro req/cpu" ratio
    for ((round = 1; round <= ROUNDS; round++)); do
        run_wrk "$BASE-$round" "$PORT_PLAIN" "$DURATION"
        p=$RPS
        pe=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
        run_wrk "astro-$round" "$PORT_ASTRO" "$DURATION"
        a=$RPS
        ae=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
        astro_requests=$((astro_requests + REQUESTS))
        r=$(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", a / p }')
        re=$(awk -v a="$ae" -v p="$pe" 'BEGIN { printf "%.3f", a / p }')
        base+=("$p")
        astro+=("$a")
        ratios+=("$r")
        base_eff+=("$pe")
        astro_eff+=("$ae")
        printf "%-6s %${w}.0f %${w}.0f %8s %${we}s %${we}s %8s\n" "$round" \
            "$p" "$a" "$r" "$pe" "$ae" "$re"
    done

    pe=$(median "${base_eff[@]}")
    ae=$(median "${astro_eff[@]}")
    eff_ratio=$(awk -v a="$ae" -v p="$pe" 'BEGIN { printf "%.3f", a / p }')

    # The headline: the median of the per-round ratios.  A round's two
    # measurements are adjacent in time, so the drift of a noisy VM moves
    # both; the ratio of the medians pairs figures from different rounds.
    paired=$(median "${ratios[@]}")
    paired=$(awk -v r="$paired" 'BEGIN { printf "%.3f", r }')

    p=$(median "${base[@]}")
    a=$(median "${astro[@]}")
    ratio=$(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", a / p }')
    rmin=$(printf '%s\n' "${ratios[@]}" | sort -g | head -n 1)
    rmax=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -n 1)
    printf "%-6s %${w}.0f %${w}.0f %8s %${we}.0f %${we}.0f %8s\n" median \
        "$p" "$a" "$ratio" "$pe" "$ae" "$eff_ratio"
    echo

    check_astro "$astro_requests"

    for name in "$BASE" astro; do
        if grep -q '\[\(error\|crit\|alert\|emerg\)\]' "$DIR_S/$name/logs/error.log" 2>/dev/null; then
            tail -n 5 "$DIR_S/$name/logs/error.log" >&2
            die "errors in $DIR_S/$name/logs/error.log"
        fi
    done

    stop_running

    say "median req/s: $BASE $p, astro $a"
    say "astro/$BASE: $ratio (of the medians; per round min $rmin, max $rmax)"
    say "astro/$BASE, requests per worker CPU-second: $eff_ratio" \
        "(of the medians: $BASE $pe, astro $ae)"
    if awk -v r="$eff_ratio" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }'; then
        say "CPU ratio >= $MIN_RATIO: yes"
    else
        say "CPU ratio >= $MIN_RATIO: no"
    fi
    say "astro/$BASE, median of the per-round throughput ratios: $paired"
    if awk -v r="$paired" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }'; then
        say "throughput ratio >= $MIN_RATIO: yes"
        verdict=yes
    else
        say "throughput ratio >= $MIN_RATIO: no"
        verdict=no
    fi

    SUMMARY+=("$(printf '%-10s astro/%-9s %s (>= %s: %s; rounds %s..%s), per CPU-second %s' \
        "$SCENARIO" "$BASE" "$paired" "$MIN_RATIO" "$verdict" "$rmin" "$rmax" "$eff_ratio")")
}


# --- the run -------------------------------------------------------------------

mkdir -p "$DIR"

say "scenarios: ${SCENARIO_LIST[*]}"
say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs" \
    "($(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "Linux $(uname -r)), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
say "module: $MODULE ($(date -u -r "$MODULE" '+built %Y-%m-%d %H:%M UTC'))"
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds baseline/astro," \
    "$WARMUP warmup each; pinning: $PINNING"

load=$(cut -d ' ' -f 1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    say "note: load average $load: other jobs may skew the figures"
fi

for s in "${SCENARIO_LIST[@]}"; do
    run_scenario "$s"
done

if [ "${#SUMMARY[@]}" -gt 1 ]; then
    echo
    say "summary: the median of the per-round throughput ratios"
    for s in "${SUMMARY[@]}"; do
        say "$s"
    done
fi
