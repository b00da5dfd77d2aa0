#!/bin/bash
# The astro demo (`make demo`): a local stack in the foreground until
# Ctrl-C (SIGINT) or SIGTERM, which stops all of it.
#
#   Redis  127.0.0.1:6380, its own config and data in build/demo/redis
#          (if it cannot start, the stack comes up without it: the modules
#          fall back to their shared-memory defaults)
#   nginx  /usr/sbin/nginx -p build/demo/ -c conf/nginx.conf (from
#          demo/nginx.conf.in) with build/ngx_astro_module.so: the front on
#          127.0.0.1:8080 and the demo backends on 127.0.0.1:9001-9008
#
# ASTRO_DEMO_NGINX, ASTRO_DEMO_MODULE, ASTRO_DEMO_CONF (the template),
# ASTRO_DEMO_DIR, ASTRO_DEMO_PORT, ASTRO_DEMO_REDIS_PORT override those.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${ASTRO_DEMO_DIR:-$ROOT/build/demo}
NGINX=${ASTRO_DEMO_NGINX:-/usr/sbin/nginx}
MODULE=${ASTRO_DEMO_MODULE:-$ROOT/build/ngx_astro_module.so}
CONF_IN=${ASTRO_DEMO_CONF:-$ROOT/demo/nginx.conf.in}
PORT=${ASTRO_DEMO_PORT:-8080}
REDIS_PORT=${ASTRO_DEMO_REDIS_PORT:-6380}

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ -x "$NGINX" ] || die "no $NGINX: run util/install-deps.sh"
[ -f "$MODULE" ] || die "no $MODULE: run make first"
[ -f "$CONF_IN" ] || die "no $CONF_IN"
case $MODULE in /*) ;; *) MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE") ;; esac

mkdir -p "$DEMO/conf" "$DEMO/logs" "$DEMO/tmp" "$DEMO/redis"

NGINX_PID=
REDIS_PID=

# Waits up to $2 tenths of a second for pid $1 to end.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$1" 2>/dev/null
}

stop_pid() {
    # $1 pid, $2 name
    [ -n "$1" ] || return 0
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    if ! wait_gone "$1" 50; then
        say "$2 (pid $1) did not stop, killing it"
        kill -KILL "$1" 2>/dev/null || true
        wait_gone "$1" 20 || true
    fi
}

# nginx processes (master or workers) of this demo: those holding a file
# open under $DEMO/logs (the error log), also when the master is gone.
demo_nginx_pids() {
    local p f
    for p in $(pgrep -x nginx 2>/dev/null || true); do
        for f in "/proc/$p/fd/"*; do
            case $(readlink "$f" 2>/dev/null) in
                "$DEMO/logs/"*) echo "$p"; break ;;
            esac
        done
    done
}

# What an earlier run left behind (say, one killed with SIGKILL).
clean_stale() {
    local pid p
    if [ -f "$DEMO/redis/redis.pid" ]; then
        pid=$(head -n 1 "$DEMO/redis/redis.pid")
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
            say "stopping the Redis of an earlier run (pid $pid)"
            stop_pid "$pid" redis
        fi
        rm -f "$DEMO/redis/redis.pid"
    fi
    for p in $(demo_nginx_pids); do
        say "stopping an nginx process of an earlier run (pid $p)"
        stop_pid "$p" nginx
    done
    rm -f "$DEMO/logs/nginx.pid"
}

stopping=no
# shellcheck disable=SC2317  # called from the traps
shutdown() {
    [ "$stopping" = no ] || return 0
    stopping=yes
    trap '' INT TERM
    echo
    say "stopping"
    stop_pid "$NGINX_PID" nginx
    local p
    for p in $(demo_nginx_pids); do stop_pid "$p" nginx; done
    stop_pid "$REDIS_PID" redis
    rm -f "$DEMO/logs/nginx.pid" "$DEMO/redis/redis.pid"
    say "stopped"
}

clean_stale
trap 'shutdown; exit 0' INT TERM
trap 'shutdown' EXIT


# --- Redis ---------------------------------------------------------------------

start_redis() {
    local d=$DEMO/redis
    if ! command -v redis-server >/dev/null 2>&1; then
        say "no redis-server installed: going on without Redis" \
            "(the modules use their shared-memory defaults)"
        return 0
    fi
    cat > "$d/redis.conf" <<END
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
pidfile $d/redis.pid
logfile $d/redis.log
dir $d
save ""
appendonly no
END
    redis-server "$d/redis.conf" &
    REDIS_PID=$!
    for _ in $(seq 30); do
        if [ "$(timeout 1 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
            say "Redis on 127.0.0.1:$REDIS_PORT"
            return 0
        fi
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "Redis did not start on 127.0.0.1:$REDIS_PORT (see $d/redis.log):" \
        "going on without it (the modules use their shared-memory defaults)"
    tail -n 3 "$d/redis.log" 2>/dev/null | sed 's/^/demo:   /' || true
    stop_pid "$REDIS_PID" redis
    REDIS_PID=
}

start_redis


# --- nginx ---------------------------------------------------------------------

sed -e "s|@MODULE@|$MODULE|g" \
    -e "s|@PORT@|$PORT|g" \
    -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
    -e "s|@DEMO@|$DEMO|g" \
    "$CONF_IN" > "$DEMO/conf/nginx.conf"

if ! "$NGINX" -q -t -p "$DEMO/" -c conf/nginx.conf; then
    die "nginx rejects $DEMO/conf/nginx.conf (made from $CONF_IN)"
fi

"$NGINX" -p "$DEMO/" -c conf/nginx.conf -g 'daemon off;' &
NGINX_PID=$!

up=no
for _ in $(seq 50); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then up=yes; break; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
done
if [ $up = no ]; then
    echo "demo: nginx did not come up on 127.0.0.1:$PORT; $DEMO/logs/error.log:" >&2
    tail -n 10 "$DEMO/logs/error.log" >&2 || true
    exit 1
fi

B=http://127.0.0.1:$PORT
cat <<END

astro demo is up (nginx pid $NGINX_PID, files in $DEMO).

  Status dashboard:  $B/astro/status?format=html
                     $B/astro/status?format=json
                     $B/astro/status?format=prometheus

  By tier:   curl -i -H 'X-Api-Key: demo-premium' $B/api/
             curl -i -H 'X-Api-Key: demo-basic' $B/api/
             curl -i $B/api/                      (no key: free)
  Shards:    curl -i $B/shard/0
             curl -i $B/shard/1
  Limits:    curl -i $B/limited/                  (RateLimit-* headers, in Redis)
             for i in \$(seq 105); do curl -s -o /dev/null -w '%{http_code} ' $B/limited/; done
             (100 a minute per address, 1000 with X-Api-Key: demo-premium; then 429)
  Slow-down: for i in \$(seq 15); do curl -s -o /dev/null -w '%{time_total} ' $B/slow/; done
             (from the 11th request of a minute, 100ms more each)

  Cache:     curl -i $B/cached/content/1            (X-Cache: MISS, then HIT;
             REFRESH after 15s: one background request renews it)
             curl -X POST '$B/cached/invalidate?class=content'
             (the next request of every /cached/content/ URI is a MISS)
             the counts per class: $B/astro/status?format=json
             (modules.cache), each request in $DEMO/logs/cache.log

  Backends answer with their name in X-Backend and the body:
  premium-1, premium-2, basic-1, free-1, free-2, shard-0, shard-1, origin
  (127.0.0.1:9001-9008). Logs: $DEMO/logs/.

Ctrl-C stops it all.
END

# Foreground until a signal (the trap exits) or nginx ends by itself.
rc=0
wait "$NGINX_PID" || rc=$?
NGINX_PID=
say "nginx exited (status $rc); see $DEMO/logs/error.log"
exit 1
