#!/bin/bash
# `make stress`: astro under reloads, crashes and load, against plain nginx
# under the same (stress/README.md). Exits 1 when a check fails (naming
# it), 2 when the run could not be made.
#
# Both fronts (stress/nginx.conf.in) run side by side on the same
# backends, each under its own wrk (stress/wrk.lua) for STRESS_DURATION
# seconds, and both get the same disturbances at the same moments:
# `nginx -s reload` every STRESS_RELOAD_EVERY seconds (alternating two
# variants of the configuration), one current worker SIGKILLed every
# STRESS_KILL_EVERY seconds; Redis is restarted once and PostgreSQL
# once; astro's cache is invalidated every CACHE_EVERY seconds, a class
# and a key in turns, and the shard map in PostgreSQL changed every
# SHARD_EVERY seconds. stress/probe.pl polls astro's status and hits two
# rate-limit probes; stress/check.pl then reads it all and prints the
# figures.
#
# Settings (environment):
#   STRESS_NGINX        "" (/usr/sbin/nginx with build/ngx_astro_module.so),
#                       "asan" (build/asan's nginx, the modules linked in;
#                       `make asan-build`), or an nginx binary with the
#                       modules linked in
#   STRESS_DIR          the run's files (build/stress; the run before it
#                       moves to build/stress.prev)
#   STRESS_DURATION     seconds of load (60)
#   STRESS_RELOAD_EVERY seconds between reloads (2)
#   STRESS_KILL_EVERY   seconds between worker kills (10)
#   STRESS_CONNECTIONS  wrk's connections per front (24)
#   STRESS_THREADS      wrk's threads per front (1: 2 in all)
#   STRESS_PORT         astro's port (18080); plain on the next, the
#                       backends on STRESS_PORT+10 to +17
#   STRESS_REDIS_PORT   6500
#   STRESS_PG_PORT      5440

set -euo pipefail
export LC_ALL=C
# nginx reads NGINX from its environment as sockets inherited from an
# upgrade (and then does not daemonize): `make stress NGINX=asan` sets it
unset NGINX

STRESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$STRESS/.." && pwd)
DIR=${STRESS_DIR:-$ROOT/build/stress}
DURATION=${STRESS_DURATION:-60}
RELOAD_EVERY=${STRESS_RELOAD_EVERY:-2}
KILL_EVERY=${STRESS_KILL_EVERY:-10}
CONNECTIONS=${STRESS_CONNECTIONS:-24}
THREADS=${STRESS_THREADS:-1}
PORT_ASTRO=${STRESS_PORT:-18080}
PORT_PLAIN=$((PORT_ASTRO + 1))
BACKEND_PORT=$((PORT_ASTRO + 10))
REDIS_PORT=${STRESS_REDIS_PORT:-6500}
PG_PORT=${STRESS_PG_PORT:-5440}
PG_BIN=${STRESS_PG_BIN:-/usr/lib/postgresql/15/bin}
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

# The configured times (ms), written into the configuration and summed
# into each location's bound (stress/locations) by stress/check.pl.
# shellcheck disable=SC2034  # some are read by stress/lib-servers.sh
HEALTH_INTERVAL=1000
QUEUE_TIMEOUT=1000
MAX_CONNS=4
PROXY_CONNECT=1000
PROXY_SEND=1000
PROXY_READ=5000
PROXY_TRIES=2
REDIS_HOLD=5
REDIS_CONNECT=50
REDIS_TIMEOUT=50
SPEED_DELAY=20
SPEED_MAX=200
SPEED_CRITICAL=4
# the probes: a limit a run never reaches, at 5 requests a second each
PROBE_LIMIT=6000
PROBE_MS=200
STATUS_MS=100
BACKEND_DELAY=0.005
REDIS_DOWN=1.5
# the cache: /cached/'s TTL (s) in both fronts (astro's refresh=50%), the
# zone's poll of Redis (ms), the seconds between invalidations of a kind
CACHE_TTL=4
CACHE_SYNC=1000
CACHE_EVERY=5
# the seconds between changes of the shard map in PostgreSQL
SHARD_EVERY=2

say() { echo "stress: $*"; }
die() { echo "stress: $*" >&2; exit 2; }

# shellcheck source=stress/lib-servers.sh
. "$STRESS/lib-servers.sh"


# --- settings and tools --------------------------------------------------------

for v in DURATION RELOAD_EVERY KILL_EVERY CONNECTIONS THREADS PORT_ASTRO \
         REDIS_PORT PG_PORT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "STRESS_$v must be a positive number, not \"${!v}\""
done

MODULE=$ROOT/build/ngx_astro_module.so
case ${STRESS_NGINX:-} in
    "")
        NGINX_BIN=/usr/sbin/nginx
        [ -f "$MODULE" ] || die "no $MODULE: run make first"
        ;;
    asan)
        NGINX_BIN=$ROOT/build/asan/nginx-1.22.1/objs/nginx
        MODULE=
        [ -x "$NGINX_BIN" ] || die "no $NGINX_BIN: run make asan-build first"
        ;;
    *)
        NGINX_BIN=$STRESS_NGINX
        MODULE=
        [ -x "$NGINX_BIN" ] || die "no $NGINX_BIN"
        ;;
esac

for t in wrk redis-server redis-cli curl perl "$NGINX_BIN" "$PG_BIN/initdb"; do
    command -v "$t" > /dev/null 2>&1 || die "no $t (util/install-deps.sh)"
done
[ -f "$ECHO_MODULE" ] || die "no $ECHO_MODULE (libnginx-mod-http-echo)"

# The sanitizers' reports, as the Makefile's test-asan writes them; only
# a sanitized nginx writes any.
SAN_ENV=(env)
if "$NGINX_BIN" -V 2>&1 | grep -q -- '-fsanitize='; then
    SAN_ENV=(env
        "ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:log_path=$DIR/san/asan"
        "UBSAN_OPTIONS=print_stacktrace=1:log_path=$DIR/san/ubsan:suppressions=$ROOT/util/ubsan.supp")
fi

for p in "$PORT_ASTRO" "$PORT_PLAIN" $(seq "$BACKEND_PORT" $((BACKEND_PORT + 7))) \
         "$REDIS_PORT" "$PG_PORT"; do
    if (exec 3<> "/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is taken (an earlier run? see $DIR)"
    fi
done


# --- cleanup -------------------------------------------------------------------

PROBES=()   # our background jobs: the probes,
JOBS=()     # wrk and the restarts
stopping=no
# shellcheck disable=SC2317  # called from the traps
cleanup() {
    [ "$stopping" = no ] || return 0
    stopping=yes
    trap '' INT TERM
    touch "$DIR/stop" 2>/dev/null || true
    local p
    for p in "${JOBS[@]}" "${PROBES[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${JOBS[@]}" "${PROBES[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    front_stop astro
    front_stop plain
    backends_stop
    stop_pidfile "$DIR/redis/redis.pid" redis
    pg_stop
}

trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'exit 143' TERM


# --- the run -------------------------------------------------------------------

# Sleeps until $1 seconds after $T0 (microseconds).
until_t() {
    local now=${EPOCHREALTIME/./} target
    target=$((T0 + $1 * 1000000))
    if [ "$target" -gt "$now" ]; then
        sleep "$(printf '%d.%06d' $(((target - now) / 1000000)) $(((target - now) % 1000000)))"
    fi
}

# the run before stays in $DIR.prev, to look into
rm -rf "$DIR.prev"
if [ -d "$DIR" ]; then mv "$DIR" "$DIR.prev"; fi
mkdir -p "$DIR/san"
[ "${#SAN_ENV[@]}" -eq 1 ] || touch "$DIR/san/.sanitized"
chmod 1777 "$DIR/san"   # the workers run as nobody when nginx starts as root

say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d ' ' -f 1-3 /proc/loadavg)"
say "nginx: $NGINX_BIN${MODULE:+ with $MODULE}$([ "${#SAN_ENV[@]}" -gt 1 ] && echo ' (ASan+UBSan)')"
say "load: ${DURATION}s, one wrk per front, -t$THREADS -c$CONNECTIONS each" \
    "($((2 * THREADS)) threads, $((2 * CONNECTIONS)) connections in all, on 2 CPUs shared with the fronts, Redis and others)"
say "disturbances: reload every ${RELOAD_EVERY}s, a worker SIGKILLed every ${KILL_EVERY}s," \
    "Redis restarted at $((DURATION / 3))s, PostgreSQL at $((2 * DURATION / 3))s"
say "PostgreSQL: a throwaway cluster on 127.0.0.1:$PG_PORT with the shard" \
    "map of /users/, changed (and NOTIFYed) every ${SHARD_EVERY}s, restarted once"

head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' > "$DIR/tier.key"
perl "$STRESS/jwt.pl" "$DIR/tier.key" users 2000 > "$DIR/tokens.txt"
PROBE_TOKEN=$(perl "$STRESS/jwt.pl" "$DIR/tier.key" one probe premium)

backends_start
redis_start
pg_start
front_start astro
front_start plain

A=http://127.0.0.1:$PORT_ASTRO
curl -s "$A/astro/status" > "$DIR/status-before.json"

perl "$STRESS/probe.pl" status "$STATUS_MS" "$DIR/status.log" "$DIR/stop" \
    "$A/astro/status" &
PROBES+=($!)
perl "$STRESS/probe.pl" limit "$PROBE_MS" "$DIR/probe.log" "$DIR/stop" \
    "$PROBE_TOKEN" "$A/probe/local/1" "$A/probe/redis/1" &
PROBES+=($!)
sleep 1

T0=${EPOCHREALTIME/./}
event - wrk-start ""
for f in astro plain; do
    STRESS_TOKENS=$DIR/tokens.txt wrk -t"$THREADS" -c"$CONNECTIONS" \
        -d"${DURATION}s" --timeout 10s -s "$STRESS/wrk.lua" \
        "http://127.0.0.1:$(front_port $f)" > "$DIR/wrk-$f.txt" 2>&1 &
    JOBS+=($!)
done

variant=0
redis_at=$((DURATION / 3))
pg_at=$((2 * DURATION / 3))
for ((t = 1; t < DURATION; t++)); do
    until_t "$t"
    if [ $((t % RELOAD_EVERY)) -eq 0 ]; then
        variant=$((1 - variant))
        front_reload astro "$variant"
        front_reload plain "$variant"
    fi
    if [ $((t % KILL_EVERY)) -eq $((KILL_EVERY / 2)) ]; then
        front_kill astro
        front_kill plain
    fi
    # the class of /cached/, then a key of /content/ (removed, then
    # expired), each every CACHE_EVERY seconds, in the background: the
    # answer may wait for Redis, which is down for a while
    if [ $((t % CACHE_EVERY)) -eq 1 ]; then
        cache_invalidate /_cache/invalidate class=cached class &
        JOBS+=($!)
    fi
    if [ $((t % CACHE_EVERY)) -eq 3 ]; then
        if [ $((t / CACHE_EVERY % 2)) -eq 0 ]; then
            cache_invalidate /_cache/purge "key=httpapp/content/$((RANDOM % 200 + 1))" key-hard &
        else
            cache_invalidate /_cache/expire "key=httpapp/content/$((RANDOM % 200 + 1))" key-soft &
        fi
        JOBS+=($!)
    fi
    if [ "$t" -eq "$redis_at" ]; then
        redis_restart > /dev/null &
        JOBS+=($!)
    fi
    # the shard map: slot 0 to the other shard, a new version, a NOTIFY
    # (in the background: PostgreSQL may be restarting)
    if [ $((t % SHARD_EVERY)) -eq 1 ]; then
        shard_change &
        JOBS+=($!)
    fi
    if [ "$t" -eq "$pg_at" ]; then
        event - pg-answers "$(pg_answers)"
        pg_restart &
        JOBS+=($!)
    fi
done

# wrk first, then the restarts
wait "${JOBS[0]}" "${JOBS[1]}" || true
event - wrk-end ""
for p in "${JOBS[@]}"; do wait "$p" || true; done
JOBS=()
event - pg-answers "$(pg_answers)"
event - shard-version "$(shard_version)"

# Quiet: the old generations finish, the sampler runs twice more; then
# the zones' use is read again.
for _ in $(seq 100); do
    [ -z "$(front_old_workers astro)$(front_old_workers plain)" ] && break
    sleep 0.1
done
for f in astro plain; do
    event "$f" quiet "$(front_old_workers "$f" | wc -l)"
done
sleep $((2 * HEALTH_INTERVAL / 1000))
curl -s "$A/astro/status" > "$DIR/status-after.json"
touch "$DIR/stop"
for p in "${PROBES[@]}"; do wait "$p" 2>/dev/null || true; done
PROBES=()

front_stop astro
front_stop plain
sleep 0.5   # a sanitizer writes its report as the process ends

rc=0
STRESS_LOCATIONS=$STRESS/locations \
STRESS_DURATION=$DURATION STRESS_CONNECTIONS=$CONNECTIONS STRESS_THREADS=$THREADS \
STRESS_HEALTH_INTERVAL=$HEALTH_INTERVAL STRESS_QUEUE_TIMEOUT=$QUEUE_TIMEOUT \
STRESS_PROXY_CONNECT=$PROXY_CONNECT STRESS_PROXY_SEND=$PROXY_SEND \
STRESS_PROXY_READ=$PROXY_READ STRESS_PROXY_TRIES=$PROXY_TRIES \
STRESS_REDIS_HOLD=$REDIS_HOLD STRESS_REDIS_CONNECT=$REDIS_CONNECT \
STRESS_REDIS_TIMEOUT=$REDIS_TIMEOUT STRESS_SPEED_MAX=$SPEED_MAX \
STRESS_SPEED_CRITICAL=$SPEED_CRITICAL STRESS_PROBE_LIMIT=$PROBE_LIMIT \
STRESS_CACHE_SYNC=$CACHE_SYNC STRESS_REDIS_DOWN=$REDIS_DOWN \
    perl "$STRESS/check.pl" "$DIR" || rc=$?
exit "$rc"
