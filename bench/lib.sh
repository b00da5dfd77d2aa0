# bench/lib.sh: what the scenarios of `make bench` share, sourced by
# bench/run.sh: the settings (environment) and their checks, the tools each
# scenario needs, pinning, the figures (median, bootstrap interval), the
# cleanup on exit, and bench_main (the header, the scenarios, the summary).
# It sources bench/lib-nginx.sh (the nginx instances), bench/lib-wrk.sh (a
# wrk run and the CPU readings), bench/lib-rounds.sh (the rounds, the
# table and the verdicts) and bench/SCENARIO.sh for each scenario of
# BENCH_SCENARIOS.
#
# Settings (environment):
#   BENCH_SCENARIOS    the scenarios, in order ("health ratelimit redis
#                      hybrid tier cache shard")
#   BENCH_DURATION     each measurement, wrk's -d (2s)
#   BENCH_WARMUP       warmup of each server before the rounds (2s)
#   BENCH_CONNECTIONS  wrk's -c (32)
#   BENCH_THREADS      wrk's -t (1)
#   BENCH_ROUNDS       rounds of baseline + astro (15)
#   BENCH_MIN_RATIO    the goal for astro/baseline (and rt/baseline) in
#                      every scenario (unset: each scenario's own, 0.98,
#                      0.97, 2.2 (astro/openresty), 0.95 (hybrid/local), 0.97 and
#                      0.95, 0.97, or 0.97 and 0.99)
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
#   BENCH_REDIS_CONNECTIONS  wrk's -c in the redis scenario (64)
#   BENCH_LATENCY      1: the latency part after the rounds; 0: not (1)
#   BENCH_LAT_CONNECTIONS  loadgen's connections (32)
#   BENCH_LAT_DURATION each latency measurement, seconds (4)
#   BENCH_LAT_ROUNDS   rounds of the latency measurements (3)
# The hybrid scenario (its redis-server as the redis scenario's):
#   BENCH_HYBRID_REDIS   more parameters of its astro_ratelimit_redis, e.g.
#                        "timeout=1s" ("": the defaults)
#   BENCH_HYBRID_OPTIONS more parameters of the hybrid zone, e.g.
#                        "sync=1s exact_at=90%" ("": the defaults)
# The tier scenario:
#   BENCH_BACKEND_PORT the first of the four backends' ports (18811)
#   BENCH_BACKEND_CPU  the CPU of the backends' worker (wrk's CPU when
#                      pinning; "none": not pinned)
#   BENCH_KEEPALIVE    `keepalive` of the measured instances' upstreams (128:
#                      enough idle connections for wrk's 32 in flight on any
#                      of the 4 servers; see bench/README.md)
# The cache scenario (its origin on BENCH_BACKEND_PORT and the next, on
# BENCH_BACKEND_CPU; read and checked by bench/cache.sh):
#   BENCH_CACHE_PARTS  its parts, in order ("hit keys miss hot")
#   BENCH_CACHE_DIR    where the instances' caches go, tmpfs
#                      (/dev/shm/astro-bench-cache)
#   BENCH_USERS        the keys part's URIs (10000)
#   BENCH_HOT_DURATION each run of the hot part, seconds (10)
#   BENCH_HOT_ROUNDS   runs of each column of the hot part (3)
# The shard scenario (the tier scenario's backends; bench/shard.sh):
#   BENCH_SHARD_PARTS  its parts, in order ("static pg")
#   BENCH_PG_PORT      the pg part's PostgreSQL (18804)
#   BENCH_PG_BIN       PostgreSQL's bin directory (the newest in
#                      /usr/lib/postgresql)

# shellcheck shell=bash disable=SC2034  # settings the scenario files use

set -euo pipefail
export LC_ALL=C   # a decimal point in $EPOCHREALTIME and awk

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_astro_module.so}
DIR=${BENCH_DIR:-$ROOT/build/bench}
LUA_DIR=$DIR/lua   # the redis scenario's OpenResty column: lua-resty-redis, the script
SCENARIOS=${BENCH_SCENARIOS:-health ratelimit redis hybrid tier cache shard}
DURATION=${BENCH_DURATION:-2s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
CONNECTIONS_ALL=$CONNECTIONS   # a scenario may set its own (redis: 64)
REDIS_CONNECTIONS=${BENCH_REDIS_CONNECTIONS:-64}
HYBRID_REDIS=${BENCH_HYBRID_REDIS:-}
HYBRID_OPTIONS=${BENCH_HYBRID_OPTIONS:-}
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
PG_PORT=${BENCH_PG_PORT:-18804}
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

SCENARIO=""   # the scenario running (set_scenario), "" before the first

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

# "yes" when the cost $1 is at most the goal $2, else "no"
below() {
    awk -v r="$1" -v m="$2" 'BEGIN { print (r <= m) ? "yes" : "no" }'
}

median() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# the median of the arguments with three decimals
median3() {
    awk -v r="$(median "$@")" 'BEGIN { printf "%.3f", r }'
}

# the lowest and the highest of the arguments
lowest() { printf '%s\n' "$@" | sort -g | head -n 1; }
highest() { printf '%s\n' "$@" | sort -g | tail -n 1; }

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

# Runs the current scenario's function SCENARIO_$1 (bench/SCENARIO.sh)
# with the other arguments, if it has one; has_hook says whether it has.
has_hook() { declare -F "${SCENARIO}_$1" > /dev/null; }
hook() {
    local f=${SCENARIO}_$1
    shift
    if declare -F "$f" > /dev/null; then
        "$f" "$@"
    fi
}

# shellcheck source=bench/lib-nginx.sh
. "$BENCH/lib-nginx.sh"
# shellcheck source=bench/lib-wrk.sh
. "$BENCH/lib-wrk.sh"
# shellcheck source=bench/lib-rounds.sh
. "$BENCH/lib-rounds.sh"


# --- the settings' checks and the tools ---------------------------------------

for v in CONNECTIONS REDIS_CONNECTIONS THREADS ROUNDS WRK_CPU NGINX_CPU PORT_PLAIN PORT_ASTRO \
         REDIS_PORT PG_PORT USERS LAT_CONNECTIONS LAT_DURATION LAT_ROUNDS BACKEND_PORT \
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
[[ $HYBRID_REDIS =~ ^[A-Za-z0-9_=.\ ]*$ ]] \
    || die "BENCH_HYBRID_REDIS: only name=value parameters, not \"$HYBRID_REDIS\""
[[ $HYBRID_OPTIONS =~ ^[A-Za-z0-9_=.%\ ]*$ ]] \
    || die "BENCH_HYBRID_OPTIONS: only name=value parameters, not \"$HYBRID_OPTIONS\""
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
        health|ratelimit|redis|hybrid|tier|cache|shard) ;;
        *) die "unknown scenario \"$s\" in BENCH_SCENARIOS (health, ratelimit, redis, hybrid, tier, cache, shard)" ;;
    esac
    [ -f "$BENCH/$s.conf.in" ] || die "no $BENCH/$s.conf.in"
    # shellcheck source=/dev/null  # bench/health.sh, ratelimit.sh, ...
    . "$BENCH/$s.sh"
done

command -v wrk >/dev/null 2>&1 || die "no wrk: apt-get install wrk"
# what a scenario needs beyond wrk and nginx (redis-server, curl, loadgen)
for SCENARIO in "${SCENARIO_LIST[@]}"; do
    hook prepare
done
SCENARIO=""
[ -x "$NGINX" ] || die "no $NGINX: run util/install-deps.sh"
if [ ! -f "$MODULE" ]; then
    [ -z "${BENCH_MODULE:-}" ] || die "no $MODULE"
    say "no $MODULE: building it"
    make -C "$ROOT" all
fi
case $MODULE in /*) ;; *) MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE") ;; esac


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


# --- cleanup -------------------------------------------------------------------

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
    hook stop
}

trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'exit 143' TERM


# --- the run -------------------------------------------------------------------

SUMMARY=()   # the headline of each scenario (and the latency lines)

bench_main() {
    local s load restarting

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

    # a scenario of several parts (cache) runs them with its own SCENARIO_run
    for s in "${SCENARIO_LIST[@]}"; do
        if declare -F "${s}_run" > /dev/null; then
            "${s}_run"
        else
            run_scenario "$s"
        fi
    done

    if [ "${#SUMMARY[@]}" -gt 1 ]; then
        echo
        say "summary: the median of the per-round throughput ratios"
        for s in "${SUMMARY[@]}"; do
            say "$s"
        done
    fi
}
