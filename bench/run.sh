#!/bin/bash
# The request-path cost of the astro modules (`make bench`).
#
# Named scenarios (BENCH_SCENARIOS, by default "health ratelimit redis tier"),
# run one after the other. Each is a pair of nginx instances from one template,
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
# redis: ngx_astro_ratelimit_module, backend=redis (GCRA), against a bare
#   `return 200`; run.sh starts its own redis-server on 127.0.0.1:18803
#   (no persistence) and stops it at the end, also on failure
#   plain      `location / { return 200 "ok\n"; }`, no module
#   astro      `location / { astro_ratelimit zone=r; empty_gif; }`, the zone
#              `key=$arg_u rate=100r/s burst=100 backend=redis`, headers
#              off: one EVALSHA per request on the worker's pool (2)
#   gif        the astro instance's `location = /gif { empty_gif; }`: the
#              same content handler without the limiter, for honesty
#   wrk runs bench/users.lua against all three: every request is for
#   "?u=N", N one of BENCH_USERS (10,000) at random, so the zone's key is
#   spread over that many users. Each round also reports the CPU time
#   redis-server used during astro's measurement. After the rounds the
#   zone must have passed every request wrk completed (and no more than
#   wrk can have had in flight), with no fail-open decision and no Redis
#   command failed or skipped, or the run fails: a run where Redis was
#   not asked would be a fake result.
#   Then the latency part (BENCH_LATENCY=1): build/loadgen
#   (bench/loadgen.c, built here), an open-loop generator, measures the
#   peak of each backend (none: /gif, local: /local, the same zone with
#   backend=local, redis: /) in a closed loop (the median of 3 runs of
#   2 s, the backends taking turns), then, at half of each
#   backend's own peak, the p50 and p99 latency of that backend and of
#   none at the same rate, from the time each request was due. The
#   difference is the latency the backend adds.
#
# tier: ngx_astro_tier_upstream_module's balancer against nginx's own round
#   robin, proxying with keepalive to four backends: a separate plain
#   nginx (bench/tier-backends.conf.in, one worker, in build/bench/tier/
#   backends) that run.sh starts on 127.0.0.1:18811..18814 and stops at
#   the end, also on failure. Its worker is pinned to wrk's CPU, so that
#   the measured worker keeps its own CPU (unpinned, it often landed on
#   the measured worker's CPU: 4 of 6 runs of a trial at about half the
#   throughput).
#   nginx_rr   `upstream app { server ...:18811; ... :18814; keepalive 128; }`
#              and `proxy_pass http://app`, no module
#   astro      the same with `astro_tier_balance strategy=round_robin;`
#              before `keepalive` (and an astro_status location)
#   rt         the astro instance's `location = /rt`: the same four
#              servers in `upstream app_rt` with `astro_tier_balance
#              strategy=response_time;` (the baseline has the same block
#              with nginx's round robin, unused)
#   Each round measures rt too; rt is compared with the same
#   round's nginx_rr (goal 0.95), astro with it too (goal 0.97). Each
#   round also reports the CPU share of the backends' worker. After the
#   rounds, from astro's status: each balancer placed every request wrk
#   completed on it (and at most what wrk had in flight more), all four
#   servers got requests, no failure, fallback or refusal; from the
#   backends' stub_status: they answered at least every request wrk
#   completed through either instance, on keepalive connections (fewer
#   than one connection per 10 requests). Otherwise the run fails. It
#   also prints how many new connections the backends accepted during
#   each column's rounds (BENCH_KEEPALIVE).
#
# After a warmup of each, wrk measures baseline, astro in odd rounds and
# astro, baseline in even ones (so that drift hits both and favours
# neither; with a third column, each column is first, second and third
# in turn), with wrk pinned to one CPU and nginx's worker to another when
# there are two. It prints req/s and requests per worker
# CPU-second per round, the medians, their ratios, the median of the
# per-round ratios (the headline) and whether they reach the scenario's
# goal (0.98 health, 0.97 ratelimit, 0.55 redis, 0.97 and 0.95 tier). In
# the redis scenario each round also measures gif, in the tier scenario
# rt. It reports and does not assert: it
# exits 0 whatever the ratios, and 1 when a server does not start, on
# errors or non-2xx answers, or when an instance's own counters disagree
# with wrk (or loadgen).
#
# Settings (environment):
#   BENCH_SCENARIOS    the scenarios, in order ("health ratelimit redis tier")
#   BENCH_DURATION     each measurement, wrk's -d (2s)
#   BENCH_WARMUP       warmup of each server before the rounds (2s)
#   BENCH_CONNECTIONS  wrk's -c (32)
#   BENCH_THREADS      wrk's -t (1)
#   BENCH_ROUNDS       rounds of baseline + astro (15)
#   BENCH_MIN_RATIO    the goal for astro/baseline (and rt/baseline) in
#                      every scenario (unset: each scenario's own, 0.98,
#                      0.97, 0.55, or 0.97 and 0.95)
#   BENCH_PIN          1: pin wrk and the workers if there are 2 CPUs; 0: not (1)
#   BENCH_RESTART      1: start both measured instances again before each
#                      round but the first; 0: one pair for all rounds (1)
#   BENCH_ROUND_WARMUP the warmup of each column of the instances started
#                      again, before the round (1s; 0: none)
#   BENCH_WRK_CPU, BENCH_NGINX_CPU   the CPUs to pin them to (0, 1)
#   BENCH_PORT_PLAIN, BENCH_PORT_ASTRO   baseline and astro (18801, 18802)
#   BENCH_NGINX        nginx binary (/usr/sbin/nginx)
#   BENCH_MODULE       the module (build/ngx_astro_module.so; built with
#                      `make` if missing)
#   BENCH_DIR          the instances' prefixes and wrk's output (build/bench)
# The redis scenario:
#   BENCH_REDIS_SERVER redis-server binary (redis-server)
#   BENCH_REDIS_PORT   its port (18803)
#   BENCH_REDIS_CPU    the CPUs to pin redis-server to, a taskset list
#                      ("": not pinned, the kernel places it)
#   BENCH_REDIS_OPTIONS  more parameters of astro_ratelimit_redis, e.g.
#                      "pool=4" ("": the defaults, pool=2 timeout=50ms)
#   BENCH_USERS        the user ids the requests are spread over (10000)
#   BENCH_LATENCY      1: the latency part after the rounds; 0: not (1)
#   BENCH_LAT_CONNECTIONS  loadgen's connections (32)
#   BENCH_LAT_DURATION each latency measurement, seconds (4)
#   BENCH_LAT_ROUNDS   rounds of the latency measurements (3)
# The tier scenario:
#   BENCH_BACKEND_PORT the first of the four backends' ports (18811)
#   BENCH_BACKEND_CPU  the CPU of the backends' worker (wrk's CPU when
#                      pinning; "none": not pinned)
#   BENCH_KEEPALIVE    `keepalive` of the measured instances' upstreams (128:
#                      enough idle connections for wrk's 32 in flight on any
#                      of the 4 servers; see bench/README.md)

set -euo pipefail
export LC_ALL=C   # a decimal point in $EPOCHREALTIME and awk

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_astro_module.so}
DIR=${BENCH_DIR:-$ROOT/build/bench}
SCENARIOS=${BENCH_SCENARIOS:-health ratelimit redis tier}
DURATION=${BENCH_DURATION:-2s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-15}
MIN_RATIO_ALL=${BENCH_MIN_RATIO:-}
PIN=${BENCH_PIN:-1}
RESTART=${BENCH_RESTART:-1}
ROUND_WARMUP=${BENCH_ROUND_WARMUP:-1s}
WRK_CPU=${BENCH_WRK_CPU:-0}
NGINX_CPU=${BENCH_NGINX_CPU:-1}
PORT_PLAIN=${BENCH_PORT_PLAIN:-18801}
PORT_ASTRO=${BENCH_PORT_ASTRO:-18802}
REDIS_SERVER=${BENCH_REDIS_SERVER:-redis-server}
REDIS_PORT=${BENCH_REDIS_PORT:-18803}
REDIS_CPU=${BENCH_REDIS_CPU:-}
REDIS_OPTIONS=${BENCH_REDIS_OPTIONS:-}
USERS=${BENCH_USERS:-10000}
LATENCY=${BENCH_LATENCY:-1}
LAT_CONNECTIONS=${BENCH_LAT_CONNECTIONS:-32}
LAT_DURATION=${BENCH_LAT_DURATION:-4}
LAT_ROUNDS=${BENCH_LAT_ROUNDS:-3}
BACKEND_PORT=${BENCH_BACKEND_PORT:-18811}
BACKEND_CPU=${BENCH_BACKEND_CPU:-}
KEEPALIVE=${BENCH_KEEPALIVE:-128}
LOADGEN=$ROOT/build/loadgen

say() { echo "bench: $*"; }
die() { echo "bench: $*" >&2; exit 1; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# $1 / $2 with three decimals
ratio_of() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}

# "yes" when the ratio $1 reaches the goal $2, else "no"
meets() {
    awk -v r="$1" -v m="$2" 'BEGIN { print (r >= m) ? "yes" : "no" }'
}

for v in CONNECTIONS THREADS ROUNDS WRK_CPU NGINX_CPU PORT_PLAIN PORT_ASTRO \
         REDIS_PORT USERS LAT_CONNECTIONS LAT_DURATION LAT_ROUNDS BACKEND_PORT \
         KEEPALIVE; do
    is_uint "${!v}" || die "BENCH_$v must be a number, not \"${!v}\""
done
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
[ "$RESTART" = 0 ] || [ "$RESTART" = 1 ] \
    || die "BENCH_RESTART must be 0 or 1, not \"$RESTART\""
[ "$KEEPALIVE" -ge 1 ] || die "BENCH_KEEPALIVE must be at least 1"
[ "$USERS" -ge 1 ] || die "BENCH_USERS must be at least 1"
[ "$LAT_ROUNDS" -ge 1 ] || die "BENCH_LAT_ROUNDS must be at least 1"
[ "$LAT_DURATION" -ge 1 ] || die "BENCH_LAT_DURATION must be at least 1"
[ "$LAT_CONNECTIONS" -ge 1 ] || die "BENCH_LAT_CONNECTIONS must be at least 1"
if [ "$BACKEND_PORT" -lt 1 ] || [ "$BACKEND_PORT" -gt 65532 ]; then
    die "BENCH_BACKEND_PORT must be from 1 to 65532"
fi
[[ $REDIS_OPTIONS =~ ^[A-Za-z0-9_=.\ ]*$ ]] \
    || die "BENCH_REDIS_OPTIONS: only name=value parameters, not \"$REDIS_OPTIONS\""
[[ $REDIS_CPU =~ ^[0-9,-]*$ ]] \
    || die "BENCH_REDIS_CPU must be a CPU list (0, 0-1, 0,1), not \"$REDIS_CPU\""
[ -z "$BACKEND_CPU" ] || [ "$BACKEND_CPU" = none ] || is_uint "$BACKEND_CPU" \
    || die "BENCH_BACKEND_CPU must be a CPU number or \"none\", not \"$BACKEND_CPU\""
[ -z "$MIN_RATIO_ALL" ] || [[ $MIN_RATIO_ALL =~ ^[0-9]+(\.[0-9]+)?$ ]] \
    || die "BENCH_MIN_RATIO must be a number, not \"$MIN_RATIO_ALL\""

read -r -a SCENARIO_LIST <<< "$SCENARIOS"
[ "${#SCENARIO_LIST[@]}" -ge 1 ] || die "BENCH_SCENARIOS is empty"
for s in "${SCENARIO_LIST[@]}"; do
    case $s in
        health|ratelimit|redis|tier) ;;
        *) die "unknown scenario \"$s\" in BENCH_SCENARIOS (health, ratelimit, redis, tier)" ;;
    esac
    [ -f "$ROOT/bench/$s.conf.in" ] || die "no $ROOT/bench/$s.conf.in"
    if [ "$s" = tier ]; then
        [ -f "$ROOT/bench/tier-backends.conf.in" ] \
            || die "no $ROOT/bench/tier-backends.conf.in"
        # the checks read the balancers' and the backends' counters
        command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
    fi
done

command -v wrk >/dev/null 2>&1 || die "no wrk: apt-get install wrk"
WITH_REDIS=no
for s in "${SCENARIO_LIST[@]}"; do [ "$s" != redis ] || WITH_REDIS=yes; done
if [ "$WITH_REDIS" = yes ]; then
    command -v "$REDIS_SERVER" >/dev/null 2>&1 \
        || die "no $REDIS_SERVER: apt-get install redis-server (or util/install-deps.sh)"
    command -v redis-cli >/dev/null 2>&1 \
        || die "no redis-cli: apt-get install redis-tools"
    command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
    if [ "$LATENCY" = 1 ]; then
        command -v cc >/dev/null 2>&1 || die "no cc for bench/loadgen.c: apt-get install gcc"
        if [ ! -x "$LOADGEN" ] || [ "$ROOT/bench/loadgen.c" -nt "$LOADGEN" ]; then
            mkdir -p "$(dirname "$LOADGEN")"
            cc -O2 -Wall -Wextra -o "$LOADGEN" "$ROOT/bench/loadgen.c" \
                || die "cannot build $LOADGEN from bench/loadgen.c"
        fi
    fi
fi
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
#   WRK_SCRIPT          wrk's -s for every measurement ("" if none)
#   EXTRA, EXTRA_PATH   a third column of each round: its name and the
#                       path of the astro instance it requests ("" if none)
#   EXTRA_VS            what the third column is compared with: "astro"
#                       (astro/EXTRA, the redis scenario) or "base"
#                       (EXTRA/BASE, a second comparison with its own goal)
#   EXTRA_MIN_RATIO     the goal for EXTRA/BASE (EXTRA_VS=base)
#   REDIS               yes: the scenario runs its own redis-server
#   BACKENDS            yes: the scenario runs its own backends (an nginx
#                       from bench/SCENARIO-backends.conf.in)
#   SIDE                the name of the process (redis, backends) whose
#                       share of a CPU each round reports ("" if none)
set_scenario() {
    SCENARIO=$1
    CONF_IN=$ROOT/bench/$1.conf.in
    DIR_S=$DIR/$1
    HTML=""
    WRK_SCRIPT=""
    EXTRA=""
    EXTRA_PATH=""
    EXTRA_VS=astro
    EXTRA_MIN_RATIO=""
    REDIS=no
    BACKENDS=no
    SIDE=""

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
    redis)
        BASE=plain
        MIN_RATIO=0.55
        TITLE="ngx_astro_ratelimit_module, backend=redis (GCRA), against a"
        TITLE+=" bare return 200, one worker"
        ABOUT="key \$arg_u over $USERS users at random (bench/users.lua),"
        ABOUT+=" rate=100r/s burst=100 (never reached), headers off, empty_gif;"
        ABOUT+=" gif: empty_gif without the limiter"
        BODY=$'ok\n'
        WRK_SCRIPT=$ROOT/bench/users.lua
        EXTRA=gif
        EXTRA_PATH=/gif
        REDIS=yes
        SIDE=redis
        ;;
    tier)
        BASE=nginx_rr
        MIN_RATIO=0.97
        TITLE="ngx_astro_tier_upstream_module's balancer against nginx's own"
        TITLE+=" round robin: proxy_pass to 4 backends, keepalive $KEEPALIVE, one worker"
        ABOUT="astro: astro_tier_balance strategy=round_robin (/);"
        ABOUT+=" rt: the astro instance's strategy=response_time (/rt);"
        ABOUT+=" backends: one plain nginx, return 200 on"
        ABOUT+=" 127.0.0.1:$BACKEND_PORT..$((BACKEND_PORT + 3))"
        BODY=$'ok\n'
        EXTRA=rt
        EXTRA_PATH=/rt
        EXTRA_VS=base
        EXTRA_MIN_RATIO=0.95
        BACKENDS=yes
        SIDE=backends
        ;;
    esac

    if [ -n "$MIN_RATIO_ALL" ]; then
        MIN_RATIO=$MIN_RATIO_ALL
        [ -z "$EXTRA_MIN_RATIO" ] || EXTRA_MIN_RATIO=$MIN_RATIO_ALL
    fi
}


# --- pinning -------------------------------------------------------------------

WRK=(wrk)
AFFINITY="# worker_cpu_affinity: not pinned"
BACKEND_AFFINITY="# worker_cpu_affinity: not pinned"
PINNING="none"
ncpu=$(nproc 2>/dev/null || echo 1)

# worker_cpu_affinity's mask of CPU $1
cpu_mask() {
    local mask=1 i
    for ((i = 0; i < $1; i++)); do mask+=0; done
    echo "$mask"
}

if [ "$PIN" = 1 ] && [ "$ncpu" -ge 2 ]; then
    [ "$WRK_CPU" != "$NGINX_CPU" ] \
        || die "BENCH_WRK_CPU and BENCH_NGINX_CPU are the same CPU"
    AFFINITY="worker_cpu_affinity $(cpu_mask "$NGINX_CPU");"
    # the tier scenario's backends share wrk's CPU unless told otherwise
    [ -n "$BACKEND_CPU" ] || BACKEND_CPU=$WRK_CPU
    PINNING="nginx worker on CPU $NGINX_CPU"
    if command -v taskset >/dev/null 2>&1; then
        WRK=(taskset -c "$WRK_CPU" wrk)
        PINNING+=", wrk on CPU $WRK_CPU"
    else
        PINNING+=", wrk not pinned (no taskset)"
    fi
fi
if is_uint "$BACKEND_CPU"; then
    [ "$BACKEND_CPU" -lt "$ncpu" ] \
        || die "BENCH_BACKEND_CPU: no CPU $BACKEND_CPU (there are $ncpu)"
    BACKEND_AFFINITY="worker_cpu_affinity $(cpu_mask "$BACKEND_CPU");"
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
# role $1 (base or astro), named $2, on port $3, and starts it. The role
# backends is the scenario's backends, from bench/SCENARIO-backends.conf.in,
# on the four ports from $3.
start_instance() {
    local role=$1 name=$2 port=$3 prefix=$DIR_S/$2 pid="" worker="" i
    local keep drop var=PLAIN conf_in=$CONF_IN ports=$3 p
    local -a check=("$3")

    case $role in
    astro)
        var=ASTRO
        ;;
    backends)
        var=BACKENDS
        conf_in=$ROOT/bench/$SCENARIO-backends.conf.in
        check=("$port" $((port + 1)) $((port + 2)) $((port + 3)))
        ports="$port..$((port + 3))"
        ;;
    esac
    stop_instance "$prefix"   # left by an earlier run killed with SIGKILL
    for p in "${check[@]}"; do
        if port_busy "$p"; then
            [ "$role" = backends ] \
                && die "127.0.0.1:$p is in use (set BENCH_BACKEND_PORT)"
            die "127.0.0.1:$p is in use (set BENCH_PORT_$var)"
        fi
    done

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
        -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        -e "s|@REDIS_OPTIONS@|$REDIS_OPTIONS|g" \
        -e "s|@BACKEND_AFFINITY@|$BACKEND_AFFINITY|g" \
        -e "s|@KEEPALIVE@|$KEEPALIVE|g" \
        -e "s|@BACKEND_PORT1@|$BACKEND_PORT|g" \
        -e "s|@BACKEND_PORT2@|$((BACKEND_PORT + 1))|g" \
        -e "s|@BACKEND_PORT3@|$((BACKEND_PORT + 2))|g" \
        -e "s|@BACKEND_PORT4@|$((BACKEND_PORT + 3))|g" \
        "$conf_in" > "$prefix/conf/nginx.conf"

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
        say "nginx $name: 127.0.0.1:$ports, master $pid, worker $worker" \
            "(CPUs $(taskset -pc "$worker" | sed 's/.*: //'))"
    else
        say "nginx $name: 127.0.0.1:$ports, master $pid, worker $worker"
    fi
}

# Fails when the error log of an instance of the scenario ($@: their
# names) has an error, crit, alert or emerg line.
check_logs() {
    local name
    for name in "$@"; do
        if grep -q '\[\(error\|crit\|alert\|emerg\)\]' "$DIR_S/$name/logs/error.log" 2>/dev/null; then
            tail -n 5 "$DIR_S/$name/logs/error.log" >&2
            die "errors in $DIR_S/$name/logs/error.log"
        fi
    done
}

# Stops the instances started since the last call.
stop_running() {
    local prefix
    for prefix in "${RUNNING[@]}"; do
        stop_instance "$prefix"
    done
    RUNNING=()
}



# --- redis-server --------------------------------------------------------------

REDIS_PID=""   # the redis-server started by start_redis
SIDE_PID=""    # the process of SIDE (redis-server, the backends' worker)

# Starts redis-server on 127.0.0.1:$REDIS_PORT without persistence, in
# $DIR_S/redis, as a child of this script (so that its pid is known and
# only it is stopped), pinned to $REDIS_CPU if set.
start_redis() {
    local dir=$DIR_S/redis i
    local -a cmd=("$REDIS_SERVER")

    port_busy "$REDIS_PORT" \
        && die "127.0.0.1:$REDIS_PORT is in use (set BENCH_REDIS_PORT)"
    mkdir -p "$dir"
    rm -f "$dir/redis.log"
    if [ -n "$REDIS_CPU" ]; then
        command -v taskset >/dev/null 2>&1 || die "BENCH_REDIS_CPU needs taskset"
        cmd=(taskset -c "$REDIS_CPU" "$REDIS_SERVER")
    fi

    "${cmd[@]}" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
        --appendonly no --daemonize no --dir "$dir" \
        --logfile "$dir/redis.log" > /dev/null 2>&1 &
    REDIS_PID=$!
    SIDE_PID=$REDIS_PID

    for ((i = 0; i < 50; i++)); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
        alive "$REDIS_PID" || break
        sleep 0.1
    done
    if [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" != PONG ]; then
        tail -n 5 "$dir/redis.log" >&2 || true
        die "redis-server did not come up on 127.0.0.1:$REDIS_PORT"
    fi
    say "redis: 127.0.0.1:$REDIS_PORT, pid $REDIS_PID," \
        "$("$REDIS_SERVER" --version | awk '{ print $3 }')" \
        "(CPUs $(taskset -pc "$REDIS_PID" 2>/dev/null | sed 's/.*: //'))"
}

stop_redis() {
    [ -n "$REDIS_PID" ] || return 0
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    if ! wait_gone "$REDIS_PID" 50; then
        say "redis-server (pid $REDIS_PID) did not stop, killing it"
        kill -KILL "$REDIS_PID" 2>/dev/null || true
    fi
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
    SIDE_PID=""
}

redis() {
    redis-cli -p "$REDIS_PORT" "$@"
}

RUNNING=()   # the prefixes of the instances started
WRK_PID=""   # a wrk (or loadgen) running in the background
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
    stop_redis
}

trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'exit 143' TERM


# --- wrk -----------------------------------------------------------------------

RPS=""       # of the last run_wrk
REQUESTS=""
CPU=""       # the worker's CPU seconds (user + system) in the last run_wrk
SIDE_PCT=""  # SIDE_PID's share of a CPU in the last run_wrk, % (0 if none)
SIDE_SECS="" # its CPU seconds
WORKER_PCT="" # the measured worker's share of a CPU in the last run_wrk, %
BACKEND_CONNS="" # connections the backends accepted in the last run_wrk
HZ=$(getconf CLK_TCK)
WORKER_PLAIN=""   # the baseline's worker
WORKER_ASTRO=""

# utime + stime of a process, in clock ticks
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# The backends' stub_status: $1 is accepts or requests (the first
# backend's status location counts all four).
backend_status() {
    local st accepts requests
    st=$(curl -s "http://127.0.0.1:$BACKEND_PORT/backends/status") || true
    read -r accepts _ requests <<< "$(sed -n 3p <<< "$st")"
    if ! is_uint "$accepts" || ! is_uint "$requests"; then
        die "no stub_status from the backends: \"$st\""
    fi
    if [ "$1" = accepts ]; then echo "$accepts"; else echo "$requests"; fi
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
    if [ "$BACKENDS" = yes ]; then
        c0=$(backend_status accepts)
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
        cat "$out" >&2
        show_logs
        die "wrk failed ($label)"
    fi
    WRK_PID=""
    t1=$(cpu_ticks "$worker")
    [ -z "$SIDE_PID" ] || r1=$(cpu_ticks "$SIDE_PID")
    CPU=$(awk -v t="$((t1 - t0))" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
    WORKER_PCT=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v w0="$w0" \
                     -v w1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", 100 * t / hz / (w1 - w0) }')
    SIDE_PCT=$(awk -v t="$((r1 - r0))" -v hz="$HZ" -v w0="$w0" \
                    -v w1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", 100 * t / hz / (w1 - w0) }')
    SIDE_SECS=$(awk -v t="$((r1 - r0))" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
    # less the connection of the second backend_status
    BACKEND_CONNS=0
    if [ "$BACKENDS" = yes ]; then
        c1=$(backend_status accepts)
        BACKEND_CONNS=$((c1 - c0 - 1))
    fi

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

# "lo..hi": a 95% bootstrap interval of the median of the arguments (2000
# resamples, seeded: the same figures give the same interval). The rounds
# of one run are taken as independent draws; where the interval spans a
# goal, the run does not settle it.
median_interval() {
    printf '%s\n' "$@" | awk '
        function med(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) {
                t = a[i]
                for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
                a[j + 1] = t
            }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { v[NR] = $1 }
        END {
            srand(1)
            for (b = 1; b <= 2000; b++) {
                for (i = 1; i <= NR; i++) r[i] = v[int(rand() * NR) + 1]
                m[b] = med(r, NR)
            }
            med(m, 2000)
            printf "%.3f..%.3f\n", m[51], m[1950]
        }'
}

# The astro instance's status in Prometheus form.
astro_metrics() {
    curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=prometheus" || true
}


# --- the checks ----------------------------------------------------------------

# Before the rounds: GET / of both instances answers 200 and $BODY; in the
# ratelimit scenario, the two responses are the same bytes but for Date.
check_answers() {
    local port body hb ha path
    command -v curl >/dev/null 2>&1 || return 0
    if [ "$SCENARIO" = redis ]; then
        # the baseline answers "ok", the astro locations a 43-byte GIF
        body=$(curl -s -w '%{http_code}' "http://127.0.0.1:$PORT_PLAIN/?u=1"; echo x) || true
        body=${body%x}
        [ "$body" = "${BODY}200" ] \
            || die "127.0.0.1:$PORT_PLAIN/?u=1 answers \"$body\", not 200 \"$BODY\""
        for path in / /gif /local; do
            body=$(curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download}' \
                       "http://127.0.0.1:$PORT_ASTRO$path?u=1") || true
            [ "$body" = "200 image/gif 43" ] \
                || die "127.0.0.1:$PORT_ASTRO$path?u=1 answers \"$body\", not 200 image/gif 43"
        done
        say "plain answers 200 ok; astro's /, /gif and /local answer 200 and the GIF"
        CHECKED=1   # the request to / was decided by the redis zone
        return 0
    fi
    for port in "$PORT_PLAIN" "$PORT_ASTRO"; do
        for path in / $EXTRA_PATH; do
            [ "$SCENARIO" = tier ] || [ "$path" = / ] || continue
            body=$(curl -s -w '%{http_code}' "http://127.0.0.1:$port$path"; echo x) || true
            body=${body%x}
            [ "$body" = "${BODY}200" ] \
                || die "127.0.0.1:$port$path answers \"$body\", not 200 \"$BODY\""
        done
    done
    if [ "$SCENARIO" = tier ]; then
        # balanced by astro's upstreams: / twice (here and below), /rt once
        CHECKED=2
        CHECKED_EXTRA=1
    fi
    if [ "$SCENARIO" = ratelimit ] || [ "$SCENARIO" = tier ]; then
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
        [ "$SCENARIO" != tier ] \
            || say "both answer $EXTRA_PATH with 200 and the same body"
    fi
}

# After the rounds: the astro instance's own counters agree with wrk
# ($1 requests completed against it; in the redis and tier scenarios, $2:
# how many more it can have had in flight; in the tier scenario, $3 and
# $4: the same for EXTRA_PATH).
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
    redis)
        check_redis_zone "$metrics" "$completed" "$2"
        ;;
    tier)
        check_tier_upstream "$metrics" app round_robin "$completed" "$2"
        check_tier_upstream "$metrics" app_rt response_time "$3" "$4"
        ;;
    esac
}

# The astro balancer of the upstream $2 (strategy $3) in the metrics $1
# balanced every request wrk completed on it ($4) and at most $5 more (in
# flight when wrk stopped), sent each to a server (one attempt each: no
# failure, so no retry), none by fallback or refused, and each of the four
# servers got some. Otherwise the module did not balance these requests.
check_tier_upstream() {
    local metrics=$1 up=$2 strategy=$3 completed=$4 slack=$5
    local balanced placed failures fallbacks refused p n per=""
    local t='astro_tier_upstream_tier' s='astro_tier_upstream_server'

    balanced=$(metric "$metrics" "${t}_requests_total{upstream=\"$up\",")
    fallbacks=$(metric "$metrics" "${t}_fallbacks_total{upstream=\"$up\",")
    refused=$(metric "$metrics" "${t}_refused_total{upstream=\"$up\",")
    placed=$(metric "$metrics" "${s}_requests_total{upstream=\"$up\",")
    failures=$(metric "$metrics" "${s}_failures_total{upstream=\"$up\",")

    if [ "$failures" != 0 ] || [ "$fallbacks" != 0 ] || [ "$refused" != 0 ]; then
        die "upstream $up: $failures failures, $fallbacks fallbacks," \
            "$refused refused"
    fi
    if [ "$balanced" -lt "$completed" ] \
       || [ "$balanced" -gt $((completed + slack)) ]; then
        die "upstream $up: astro balanced $balanced requests, wrk completed" \
            "$completed (and had at most $slack more in flight)"
    fi
    [ "$placed" = "$balanced" ] \
        || die "upstream $up: $placed requests sent to servers for $balanced balanced"
    for ((p = BACKEND_PORT; p < BACKEND_PORT + 4; p++)); do
        n=$(metric "$metrics" "${s}_requests_total{upstream=\"$up\",server=\"127.0.0.1:$p\"}")
        [ "$n" -gt 0 ] || die "upstream $up: no request for 127.0.0.1:$p"
        per+=" $n"
    done
    say "astro: upstream $up ($strategy) balanced $balanced requests (wrk" \
        "completed $completed, at most $slack more in flight), per server$per;" \
        "0 failures, fallbacks or refusals"
}

# After the rounds: the backends (their stub_status) answered at least the
# $1 requests wrk completed through both instances, on keepalive
# connections: fewer than one connection per 10 requests. Otherwise the
# proxies did not ask them, or reconnected.
check_backends() {
    local completed=$1 accepts requests
    accepts=$(backend_status accepts)
    requests=$(backend_status requests)
    [ "$requests" -ge "$completed" ] \
        || die "the backends answered $requests requests, wrk completed" \
               "$completed through the proxies"
    [ $((accepts * 10)) -le "$requests" ] \
        || die "the backends accepted $accepts connections for $requests" \
               "requests: keepalive is not working"
    say "backends: $requests requests (wrk completed $completed through the" \
        "proxies) on $accepts connections (keepalive)"
}

# A figure of the astro instance's Prometheus metrics $1: the sum of the
# samples whose name and labels start with $2.
metric() {
    awk -v m="$2" 'index($1, m) == 1 { n += $2 } END { printf "%.0f\n", n + 0 }' <<< "$1"
}

# The redis zone r in the metrics $1 decided every request the load
# generators completed ($2) and at most $3 more (those still in flight
# when wrk stopped: wrk does not count them, the zone may have decided
# them), all passed, none by the fail-open fallback; Redis answered a
# command for each (one EVALSHA per decision) and none failed or was
# skipped. Otherwise Redis was not asked, and the figures are not the
# Redis backend's.
check_redis_zone() {
    local metrics=$1 completed=$2 slack=$3 passed other answered failed skipped
    local zone='astro_ratelimit_requests_total{zone="r"'
    passed=$(metric "$metrics" "$zone,result=\"passed\"}")
    other=$(( $(metric "$metrics" "$zone,") - passed ))
    answered=$(metric "$metrics" 'astro_ratelimit_redis_commands_total{outcome="answered"}')
    failed=$(metric "$metrics" 'astro_ratelimit_redis_commands_total{outcome="failed"}')
    skipped=$(metric "$metrics" 'astro_ratelimit_redis_commands_total{outcome="skipped"}')

    [ "$other" = 0 ] \
        || die "the redis zone delayed, rejected, dry-ran or failed open $other requests"
    [ "$failed" = 0 ] && [ "$skipped" = 0 ] \
        || die "Redis commands failed: $failed, skipped: $skipped"
    if [ "$passed" -lt "$completed" ] || [ "$passed" -gt $((completed + slack)) ]; then
        die "the redis zone passed $passed requests, the load generators" \
            "completed $completed (and had at most $slack more in flight)"
    fi
    if [ "$answered" -lt "$passed" ] || [ "$answered" -gt $((completed + slack)) ]; then
        die "Redis answered $answered commands for $passed decisions"
    fi
    say "astro: the redis zone passed $passed requests (the load generators" \
        "completed $completed, at most $slack more in flight), 0 rejected," \
        "0 fail-open; Redis answered $answered commands, 0 failed, 0 skipped"
}


# --- the redis scenario's extras ------------------------------------------------

# What Redis says of the rounds and the warmups after restarts (its stats
# were reset after the first warmup):
# EVALSHA calls and their mean time inside Redis, and the commands per
# read of a client socket (how many commands came in one pipelined write).
redis_stats() {
    local cs st calls usec per reads
    cs=$(redis info commandstats | tr -d '\r')
    st=$(redis info stats | tr -d '\r')
    calls=$(sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' <<< "$cs")
    usec=$(sed -n 's/^cmdstat_evalsha:.*,usec_per_call=\([0-9.]*\),.*/\1/p' <<< "$cs")
    reads=$(sed -n 's/^total_reads_processed:\([0-9]*\)/\1/p' <<< "$st")
    per=$(awk -v c="${calls:-0}" -v r="${reads:-0}" 'BEGIN { printf "%.1f", r ? c / r : 0 }')
    say "redis (the rounds and their warmups): ${calls:-0} EVALSHA, ${usec:-?} us each inside" \
        "Redis (its commandstats), $per commands per read (pipelining)," \
        "$(redis dbsize) keys now"
    say "astro's round trip to Redis since the start (status, rtt_us):" \
        "$(curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=json" \
               | grep -o '"rtt_us":{[^}]*}' | sed 's/"rtt_us"://; s/[{}"]//g; s/:/ /g; s/,/, /g')"
}

LOADGEN_OUT=""   # the last run_loadgen's key=value line

# Runs loadgen against the astro instance's path $2 at the rate $3 (0:
# closed loop) for $4 seconds after $5 (1) s of warmup, its output in
# $DIR_S/loadgen-$1.txt; sets LOADGEN_OUT and SIDE_PCT; fails on
# connection errors and non-2xx answers.
run_loadgen() {
    local label=$1 path=$2 rate=$3 duration=$4 warmup=${5:-1}
    local out=$DIR_S/loadgen-$1.txt
    local r0=0 r1=0 w0
    local -a cmd=("$LOADGEN")

    [ "${WRK[0]}" != taskset ] || cmd=(taskset -c "$WRK_CPU" "$LOADGEN")
    [ -z "$SIDE_PID" ] || r0=$(cpu_ticks "$SIDE_PID")
    w0=$EPOCHREALTIME

    "${cmd[@]}" -p "$PORT_ASTRO" -P "$path" -c "$LAT_CONNECTIONS" \
        -d "$duration" -w "$warmup" -r "$rate" -u "$USERS" > "$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=""
        cat "$out" >&2
        show_logs
        die "loadgen failed ($label)"
    fi
    WRK_PID=""
    [ -z "$SIDE_PID" ] || r1=$(cpu_ticks "$SIDE_PID")
    SIDE_PCT=$(awk -v t="$((r1 - r0))" -v hz="$HZ" -v w0="$w0" \
                    -v w1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", 100 * t / hz / (w1 - w0) }')

    LOADGEN_OUT=$(tail -n 1 "$out")
    if [ "$(lg errors)" != 0 ] || [ "$(lg non2xx)" != 0 ]; then
        cat "$out" >&2
        show_logs
        die "loadgen ($label): $(lg errors) connection errors, $(lg non2xx) non-2xx answers"
    fi
}

# A value of the last run_loadgen's line: lg NAME
lg() {
    sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$LOADGEN_OUT"
}

# The zone's passed count of the astro instance (zone $1).
zone_passed() {
    metric "$(astro_metrics)" "astro_ratelimit_requests_total{zone=\"$1\",result=\"passed\"}"
}

LAT_SUMMARY=()

# The latency part: the peak of each backend in a closed loop, then at half
# of each backend's own peak, the latency of that backend and of none (the
# same content handler without a limiter) at the same rate, LAT_ROUNDS
# times. Every request loadgen sent to a limited location must have been
# passed by its zone (loadgen waits for the answers in flight at the end,
# so the counts are equal), and Redis must have failed nothing.
run_latency() {
    local b path zone rate round k before after answered label pr
    local m50 m99 n50 n99 a50 a99
    local -a runs=()
    local -A peak=() rate_of=() p50=() p99=() np50=() np99=() rcpu=()
    local -a backends=(none local redis)
    local -A path_of=([none]=/gif [local]=/local [redis]=/)
    local -A zone_of=([local]=l [redis]=r)

    echo
    say "latency: build/loadgen, open loop, $LAT_CONNECTIONS keep-alive" \
        "connections, ${LAT_DURATION}s per measurement after 1 s of warmup," \
        "$LAT_ROUNDS rounds; latency from the time each request was due"
    say "backends: none = /gif (empty_gif, no limiter), local = /local" \
        "(backend=local), redis = / (backend=redis); all with ?u=1..$USERS"

    # the peaks: the median of 3 closed-loop runs of 2 s each, the
    # backends taking turns, so that the machine's drift hits all three
    local -A peaks=()
    for round in 1 2 3; do
        for b in "${backends[@]}"; do
            run_loadgen "peak-$b-$round" "${path_of[$b]}" 0 2 0.5
            peaks[$b]+=" $(lg rps)"
        done
    done
    for b in "${backends[@]}"; do
        # shellcheck disable=SC2086  # a space-separated list
        peak[$b]=$(median ${peaks[$b]})
        rate_of[$b]=$(awk -v p="${peak[$b]}" 'BEGIN { printf "%.0f", p / 2 }')
        say "peak $b: ${peak[$b]} req/s (closed loop, the median of${peaks[$b]});" \
            "half: ${rate_of[$b]} req/s"
    done

    echo
    printf "%-6s %-14s %9s %8s %8s %8s %10s %6s\n" round run "rate" \
        "p50 us" "p99 us" "late" "rps" "redis"
    for ((round = 1; round <= LAT_ROUNDS; round++)); do
        for b in "${backends[@]}"; do
            rate=${rate_of[$b]}
            # none at the backend's rate, then the backend at the same rate
            if [ "$b" = none ]; then
                runs=(none)
            else
                runs=(none "$b")
            fi
            for k in "${runs[@]}"; do
                path=${path_of[$k]}
                zone=${zone_of[$k]:-}
                [ -z "$zone" ] || before=$(zone_passed "$zone")
                label="$k-at-$b-$round"
                run_loadgen "$label" "$path" "$rate" "$LAT_DURATION"
                answered=$(lg answered)
                if [ -n "$zone" ]; then
                    after=$(zone_passed "$zone")
                    [ $((after - before)) = "$answered" ] \
                        || die "latency ($label): the zone $zone passed" \
                               "$((after - before)) requests, loadgen got" \
                               "answers to $answered"
                fi
                pr=$(awk -v a="$(lg rps)" -v r="$rate" 'BEGIN { print (a < 0.98 * r) ? "!" : "" }')
                printf "%-6s %-14s %9s %8s %8s %8s %9s%1s %5s%%\n" "$round" \
                    "$k@$b-rate" "$rate" "$(lg p50_us)" "$(lg p99_us)" "$(lg late)" \
                    "$(lg rps)" "$pr" "$SIDE_PCT"
                if [ "$k" = "$b" ]; then
                    p50[$b]+=" $(lg p50_us)"
                    p99[$b]+=" $(lg p99_us)"
                    rcpu[$b]+=" $SIDE_PCT"
                fi
                if [ "$k" = none ]; then
                    np50[$b]+=" $(lg p50_us)"
                    np99[$b]+=" $(lg p99_us)"
                fi
            done
        done
    done

    check_redis_zone "$(astro_metrics)" 0 1000000000 > /dev/null

    echo
    say "latency at half of each backend's own peak (medians of $LAT_ROUNDS rounds;" \
        "none measured at the same rate just before):"
    printf "%-8s %10s %10s %8s %8s %9s %9s %10s %10s\n" backend "peak r/s" \
        "rate r/s" "p50 us" "p99 us" "none p50" "none p99" "added p50" "added p99"
    for b in "${backends[@]}"; do
        # shellcheck disable=SC2086  # the lists are space-separated
        m50=$(median ${p50[$b]}); m99=$(median ${p99[$b]})
        # shellcheck disable=SC2086
        n50=$(median ${np50[$b]}); n99=$(median ${np99[$b]})
        a50=$(awk -v a="$m50" -v n="$n50" 'BEGIN { printf "%+.0f", a - n }')
        a99=$(awk -v a="$m99" -v n="$n99" 'BEGIN { printf "%+.0f", a - n }')
        printf "%-8s %10s %10s %8.0f %8.0f %9.0f %9.0f %10s %10s\n" "$b" \
            "${peak[$b]}" "${rate_of[$b]}" "$m50" "$m99" "$n50" "$n99" "$a50" "$a99"
        LAT_SUMMARY+=("$(printf 'latency    %-6s at %6s req/s (half its peak): p50 %6.0f us, p99 %6.0f us; added to none: p50 %s us, p99 %s us' \
            "$b" "${rate_of[$b]}" "$m50" "$m99" "$a50" "$a99")")
    done
    # shellcheck disable=SC2086
    say "redis-server used $(median ${rcpu[redis]})% of a CPU at the redis rate (median)"
    say "\"!\": loadgen did not keep the rate (the answers fell behind);" \
        "\"late\": requests written 1 ms or more after they were due"
}


# --- one scenario --------------------------------------------------------------

SUMMARY=()
CHECKED=0         # requests of check_answers that astro's / counted
CHECKED_EXTRA=0   # and its EXTRA_PATH (the tier scenario)

# wrk for $1 on each column (of run_scenario, whose counters it adds to),
# its outputs in wrk-warmup$2-*.txt
warm_up() {
    run_wrk "warmup$2-$BASE" "$PORT_PLAIN" "$1"
    base_requests=$((base_requests + REQUESTS))
    run_wrk "warmup$2-astro" "$PORT_ASTRO" "$1"
    astro_requests=$((astro_requests + REQUESTS))
    astro_runs=$((astro_runs + 1))
    if [ -n "$EXTRA" ]; then
        run_wrk "warmup$2-$EXTRA" "$PORT_ASTRO" "$1" "$EXTRA_PATH"
        extra_requests=$((extra_requests + REQUESTS))
        extra_runs=$((extra_runs + 1))
    fi
}

# Before each round but the first (BENCH_RESTART=1): checks the measured
# instances as after the rounds (their counters against wrk's, their
# error logs), then starts both again, so that each round measures new
# processes. The address-space layout that ASLR gives a process moves its
# speed by a few percent (bench/README.md: two identical instances
# measured 0.965 and 0.972 of each other over 20 and 30 rounds, and 0.993
# to 1.056 when started again for each round); without restarts, one
# draw of that lottery would stay with one side for the whole run. What
# the checks and starts print goes to $DIR_S/restarts.log. Then each
# column is warmed up for BENCH_ROUND_WARMUP.
restart_measured() {
    local prefix kept
    {
        echo "== before round $round"
        check_astro $((astro_requests + CHECKED)) $((astro_runs * CONNECTIONS)) \
            $((extra_requests + CHECKED_EXTRA)) $((extra_runs * CONNECTIONS))
        check_logs "$BASE" astro
        stop_instance "$DIR_S/$BASE"
        stop_instance "$DIR_S/astro"
        kept=()
        for prefix in "${RUNNING[@]}"; do
            [ "$prefix" = "$DIR_S/$BASE" ] || [ "$prefix" = "$DIR_S/astro" ] \
                || kept+=("$prefix")
        done
        RUNNING=("${kept[@]}")
        start_instance base "$BASE" "$PORT_PLAIN"
        start_instance astro astro "$PORT_ASTRO"
    } >> "$DIR_S/restarts.log"
    restarted_requests=$((restarted_requests + astro_requests + extra_requests))
    restarts=$((restarts + 1))
    astro_requests=0
    astro_runs=0
    extra_requests=0
    extra_runs=0
    CHECKED=0
    CHECKED_EXTRA=0
    [ "$ROUND_WARMUP" = 0 ] || warm_up "$ROUND_WARMUP" "-$round"
}

# Runs the scenario $1: starts both instances (and the scenario's
# redis-server or backends), measures, checks, prints the table and the
# verdicts, stops them.
run_scenario() {
    local round col cols k p a x pe ae xe r re rx rxe rc ratio eff_ratio
    local paired rmin rmax
    local name verdict astro_requests=0 astro_runs=0 w=12 we=14 sw=10 xratio
    local restarted_requests=0 restarts=0
    local xpaired xeff_ratio xrmin xrmax xverdict rcpu base_requests=0
    local interval xinterval
    local extra_requests=0 extra_runs=0 k line
    local -A conns=() round_requests=()   # the backends' connections
    local -a base=() astro=() extra=() ratios=() xratios=() base_eff=()
    local -a astro_eff=() rcpus=() extra_eff=() astro_all=()
    local -a base_pct=() astro_pct=() extra_pct=()

    set_scenario "$1"
    mkdir -p "$DIR_S"
    rm -f "$DIR_S/restarts.log"
    CHECKED=0
    CHECKED_EXTRA=0
    LAT_SUMMARY=()

    echo
    say "== $SCENARIO: $TITLE"
    say "$ABOUT"

    if [ -n "$HTML" ]; then
        mkdir -p "$HTML"
        printf '%s' "$BODY" > "$HTML/index.html"
    fi

    if [ "$REDIS" = yes ]; then
        start_redis
    fi
    if [ "$BACKENDS" = yes ]; then
        start_instance backends backends "$BACKEND_PORT"
        SIDE_PID=$WORKER_BACKENDS
    fi
    start_instance base "$BASE" "$PORT_PLAIN"
    start_instance astro astro "$PORT_ASTRO"
    check_answers

    say "warmup"
    warm_up "$WARMUP" ""
    if [ "$REDIS" = yes ]; then
        redis config resetstat > /dev/null
    fi

    # the columns are as wide as the baseline's (and SIDE's) name needs
    [ $((${#BASE} + 6)) -le "$w" ] || w=$((${#BASE} + 6))
    [ $((${#BASE} + 8)) -le "$we" ] || we=$((${#BASE} + 8))
    [ $((${#SIDE} + 4)) -le "$sw" ] || sw=$((${#SIDE} + 4))

    # req/s is wrk's throughput; req/cpu-s is requests per second of the
    # worker's own CPU time (user + system, from /proc), which a 2-CPU VM's
    # scheduling noise moves much less than the throughput. With a third
    # column (EXTRA), its req/s and astro's share of it (EXTRA_VS=astro), or
    # its req/s and req/cpu-s and their ratios to the baseline's
    # (EXTRA_VS=base); with SIDE (redis-server, the backends), the share of
    # a CPU it used during astro's measurement.
    echo
    printf "%-6s %${w}s %${w}s %8s %${we}s %${we}s %8s" round \
        "$BASE req/s" "astro req/s" ratio "$BASE req/cpu" "astro req/cpu" ratio
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = astro ]; then
        printf " %12s %11s" "$EXTRA req/s" "astro/$EXTRA"
    elif [ -n "$EXTRA" ]; then
        printf " %${w}s %8s %${we}s %8s" "$EXTRA req/s" ratio \
            "$EXTRA req/cpu" ratio
    fi
    [ -z "$SIDE" ] || printf " %${sw}s" "$SIDE cpu"
    echo
    for ((round = 1; round <= ROUNDS; round++)); do
        [ "$RESTART" = 0 ] || [ "$round" = 1 ] || restart_measured
        # the columns take turns in each place: round 1 measures the
        # baseline first, round 2 astro, round 3 EXTRA, and so on (with two
        # columns, each round reverses the last). A column always second
        # of three would never be first or last, where the other two
        # take whatever those places do to a measurement (bench/README.md).
        cols=("$BASE" astro)
        [ -z "$EXTRA" ] || cols+=("$EXTRA")
        k=$(((round - 1) % ${#cols[@]}))
        cols=("${cols[@]:k}" "${cols[@]:0:k}")
        for col in "${cols[@]}"; do
            case $col in
            "$BASE")
                run_wrk "$BASE-$round" "$PORT_PLAIN" "$DURATION"
                p=$RPS
                pe=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
                base_requests=$((base_requests + REQUESTS))
                base_pct+=("$WORKER_PCT")
                ;;
            astro)
                run_wrk "astro-$round" "$PORT_ASTRO" "$DURATION"
                a=$RPS
                ae=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
                rc=$SIDE_PCT
                astro_all+=("$(awk -v n="$REQUESTS" -v c="$CPU" -v r="$SIDE_SECS" 'BEGIN { printf "%.0f", n / (c + r) }')")
                astro_requests=$((astro_requests + REQUESTS))
                astro_runs=$((astro_runs + 1))
                astro_pct+=("$WORKER_PCT")
                ;;
            *)
                run_wrk "$EXTRA-$round" "$PORT_ASTRO" "$DURATION" "$EXTRA_PATH"
                x=$RPS
                xe=$(awk -v n="$REQUESTS" -v c="$CPU" 'BEGIN { printf "%.0f", n / c }')
                extra_requests=$((extra_requests + REQUESTS))
                extra_runs=$((extra_runs + 1))
                extra_eff+=("$xe")
                extra+=("$x")
                extra_pct+=("$WORKER_PCT")
                ;;
            esac
            conns[$col]=$((${conns[$col]:-0} + BACKEND_CONNS))
            round_requests[$col]=$((${round_requests[$col]:-0} + REQUESTS))
        done
        r=$(ratio_of "$a" "$p")
        re=$(ratio_of "$ae" "$pe")
        base+=("$p")
        astro+=("$a")
        ratios+=("$r")
        base_eff+=("$pe")
        astro_eff+=("$ae")
        rcpus+=("$rc")
        printf "%-6s %${w}.0f %${w}.0f %8s %${we}s %${we}s %8s" "$round" \
            "$p" "$a" "$r" "$pe" "$ae" "$re"
        if [ -n "$EXTRA" ]; then
            if [ "$EXTRA_VS" = astro ]; then
                rx=$(ratio_of "$a" "$x")
                printf " %12.0f %11s" "$x" "$rx"
            else
                rx=$(ratio_of "$x" "$p")
                rxe=$(ratio_of "$xe" "$pe")
                printf " %${w}.0f %8s %${we}s %8s" "$x" "$rx" "$xe" "$rxe"
            fi
            xratios+=("$rx")
        fi
        [ -z "$SIDE" ] || printf " %$((sw - 1))s%%" "$rc"
        echo
    done

    pe=$(median "${base_eff[@]}")
    ae=$(median "${astro_eff[@]}")
    eff_ratio=$(ratio_of "$ae" "$pe")

    # The headline: the median of the per-round ratios.  A round's two
    # measurements are adjacent in time, so the drift of a noisy VM moves
    # both; the ratio of the medians pairs figures from different rounds.
    paired=$(median "${ratios[@]}")
    paired=$(awk -v r="$paired" 'BEGIN { printf "%.3f", r }')

    p=$(median "${base[@]}")
    a=$(median "${astro[@]}")
    ratio=$(ratio_of "$a" "$p")
    rmin=$(printf '%s\n' "${ratios[@]}" | sort -g | head -n 1)
    rmax=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -n 1)
    printf "%-6s %${w}.0f %${w}.0f %8s %${we}.0f %${we}.0f %8s" median \
        "$p" "$a" "$ratio" "$pe" "$ae" "$eff_ratio"
    if [ -n "$EXTRA" ]; then
        x=$(median "${extra[@]}")
        xe=$(median "${extra_eff[@]}")
        xpaired=$(median "${xratios[@]}")
        xpaired=$(awk -v r="$xpaired" 'BEGIN { printf "%.3f", r }')
        if [ "$EXTRA_VS" = astro ]; then
            xratio=$(ratio_of "$a" "$x")
            printf " %12.0f %11s" "$x" "$xratio"
        else
            xratio=$(ratio_of "$x" "$p")
            xeff_ratio=$(ratio_of "$xe" "$pe")
            xrmin=$(printf '%s\n' "${xratios[@]}" | sort -g | head -n 1)
            xrmax=$(printf '%s\n' "${xratios[@]}" | sort -g | tail -n 1)
            printf " %${w}.0f %8s %${we}.0f %8s" "$x" "$xratio" "$xe" "$xeff_ratio"
        fi
    fi
    if [ -z "$SIDE" ]; then
        echo
    else
        rcpu=$(median "${rcpus[@]}")
        printf " %$((sw - 1))s%%\n" "$rcpu"
    fi
    echo

    if [ "$restarts" -gt 0 ]; then
        say "both instances were started again before each round but the" \
            "first ($restarts times); the checks of the earlier ones passed" \
            "($DIR_S/restarts.log); the last ones':"
    fi
    check_astro $((astro_requests + CHECKED)) $((astro_runs * CONNECTIONS)) \
        $((extra_requests + CHECKED_EXTRA)) $((extra_runs * CONNECTIONS))
    if [ "$BACKENDS" = yes ]; then
        check_backends $((base_requests + astro_requests + extra_requests
                          + restarted_requests))
        # a balancer that spreads the requests in flight unevenly over the
        # servers needs more connections to some than the keepalive cache
        # (BENCH_KEEPALIVE, for all servers together) keeps
        line=""
        for k in "$BASE" astro "$EXTRA"; do
            line+=$(awk -v k="$k" -v c="${conns[$k]}" -v n="${round_requests[$k]}" \
                        'BEGIN { printf "%s %d (%.2f)", k, c, 1000 * c / n }')
            line+=", "
        done
        say "backends: new connections in the rounds (per 1000 requests):" \
            "${line%, }"
    fi
    if [ "$REDIS" = yes ]; then
        redis_stats
        if [ "$LATENCY" = 1 ]; then
            run_latency
        fi
    fi

    check_logs "$BASE" astro $([ "$BACKENDS" = no ] || echo backends)

    stop_running
    stop_redis
    SIDE_PID=""

    say "median req/s: $BASE $p, astro $a"
    say "astro/$BASE: $ratio (of the medians; per round min $rmin, max $rmax)"
    say "astro/$BASE, requests per worker CPU-second: $eff_ratio" \
        "(of the medians: $BASE $pe, astro $ae)"
    say "CPU ratio >= $MIN_RATIO: $(meets "$eff_ratio" "$MIN_RATIO")"
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = astro ]; then
        say "astro/$EXTRA (the same content handler without the limiter):" \
            "$xpaired (median of the per-round ratios; of the medians $xratio," \
            "$EXTRA $x req/s)"
        say "the worker's CPU time per request (medians): $BASE" \
            "$(awk -v e="$pe" 'BEGIN { printf "%.1f", 1e6 / e }') us, $EXTRA" \
            "$(awk -v e="$xe" 'BEGIN { printf "%.1f", 1e6 / e }') us," \
            "astro $(awk -v e="$ae" 'BEGIN { printf "%.1f", 1e6 / e }') us"
    elif [ -n "$EXTRA" ]; then
        say "median req/s: $EXTRA $x"
        say "$EXTRA/$BASE: $xratio (of the medians; per round min $xrmin," \
            "max $xrmax)"
        say "$EXTRA/$BASE, requests per worker CPU-second: $xeff_ratio" \
            "(of the medians: $BASE $pe, $EXTRA $xe)"
        say "$EXTRA CPU ratio >= $EXTRA_MIN_RATIO:" \
            "$(meets "$xeff_ratio" "$EXTRA_MIN_RATIO")"
        say "the worker's CPU time per request (medians): $BASE" \
            "$(awk -v e="$pe" 'BEGIN { printf "%.1f", 1e6 / e }') us, astro" \
            "$(awk -v e="$ae" 'BEGIN { printf "%.1f", 1e6 / e }') us, $EXTRA" \
            "$(awk -v e="$xe" 'BEGIN { printf "%.1f", 1e6 / e }') us"
    fi
    if [ "$BACKENDS" = yes ]; then
        say "the measured worker's share of its CPU (medians): $BASE" \
            "$(median "${base_pct[@]}")%, astro $(median "${astro_pct[@]}")%," \
            "$EXTRA $(median "${extra_pct[@]}")%; the backends' worker" \
            "${rcpu}% (during astro's rounds, on CPU ${BACKEND_CPU:-any})"
    fi
    if [ "$REDIS" = yes ]; then
        say "redis-server used ${rcpu}% of a CPU during astro's rounds (median)"
        say "the CPU figures above count the worker only; counting" \
            "redis-server's CPU time too, astro/$BASE per CPU-second is" \
            "$(ratio_of "$(median "${astro_all[@]}")" "$pe")" \
            "(astro $(median "${astro_all[@]}") requests per CPU-second of worker + redis-server)"
    fi
    interval=$(median_interval "${ratios[@]}")
    say "astro/$BASE, median of the per-round throughput ratios: $paired" \
        "(95% bootstrap interval $interval)"
    verdict=$(meets "$paired" "$MIN_RATIO")
    say "throughput ratio >= $MIN_RATIO: $verdict"
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = base ]; then
        xinterval=$(median_interval "${xratios[@]}")
        say "$EXTRA/$BASE, median of the per-round throughput ratios: $xpaired" \
            "(95% bootstrap interval $xinterval)"
        xverdict=$(meets "$xpaired" "$EXTRA_MIN_RATIO")
        say "$EXTRA throughput ratio >= $EXTRA_MIN_RATIO: $xverdict"
    fi

    SUMMARY+=("$(printf '%-10s %-15s %s (>= %s: %s; 95%% interval %s; rounds %s..%s), per CPU-second %s' \
        "$SCENARIO" "astro/$BASE" "$paired" "$MIN_RATIO" "$verdict" "$interval" \
        "$rmin" "$rmax" "$eff_ratio")")
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = base ]; then
        SUMMARY+=("$(printf '%-10s %-15s %s (>= %s: %s; 95%% interval %s; rounds %s..%s), per CPU-second %s' \
            "$SCENARIO" "$EXTRA/$BASE" "$xpaired" "$EXTRA_MIN_RATIO" "$xverdict" \
            "$xinterval" "$xrmin" "$xrmax" "$xeff_ratio")")
    fi
    [ "${#LAT_SUMMARY[@]}" -eq 0 ] || SUMMARY+=("${LAT_SUMMARY[@]}")
}


# --- the run -------------------------------------------------------------------

mkdir -p "$DIR"

say "scenarios: ${SCENARIO_LIST[*]}"
say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs" \
    "($(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "Linux $(uname -r)), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
say "module: $MODULE ($(date -u -r "$MODULE" '+built %Y-%m-%d %H:%M UTC'))"
if [ "$RESTART" = 1 ]; then
    restarting="instances started again before each round, then $ROUND_WARMUP warmup each"
else
    restarting="the same instances for all rounds"
fi
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds baseline/astro," \
    "$WARMUP warmup each; $restarting; pinning: $PINNING"

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
