#!/bin/bash
# The astro demo (`make demo`): a local stack in the foreground until
# Ctrl-C (SIGINT) or SIGTERM, which stops all of it.
#
#   Redis  127.0.0.1:6380, its own config and data in build/demo/redis
#          (if it cannot start, the stack comes up without it: the modules
#          fall back to their shared-memory defaults)
#   PostgreSQL  127.0.0.1:6381, a throwaway cluster in build/demo/pg
#          (initdb, trust on loopback; as the postgres user when run as
#          root) holding the shard map of /users/ (docs/shard.md's tables);
#          if it cannot start, the map of nginx.conf routes alone
#   nginx  /usr/sbin/nginx -p build/demo/ -c conf/nginx.conf (from
#          demo/nginx.conf.in) with build/ngx_astro_module.so: the front on
#          127.0.0.1:8080 and the demo backends on 127.0.0.1:9001-9008
#   nginx  a second node, -p build/demo/node2/: the same front on
#          127.0.0.1:8081 without the backends, sharing Redis (rate
#          limits, cache invalidations, the fleet view) and PostgreSQL
#
# ASTRO_DEMO_NGINX, ASTRO_DEMO_MODULE, ASTRO_DEMO_CONF (the template),
# ASTRO_DEMO_DIR, ASTRO_DEMO_PORT, ASTRO_DEMO_PORT2, ASTRO_DEMO_REDIS_PORT,
# ASTRO_DEMO_PG_PORT and ASTRO_PG_BIN (PostgreSQL's bin directory)
# override those.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${ASTRO_DEMO_DIR:-$ROOT/build/demo}
NGINX=${ASTRO_DEMO_NGINX:-/usr/sbin/nginx}
MODULE=${ASTRO_DEMO_MODULE:-$ROOT/build/ngx_astro_module.so}
CONF_IN=${ASTRO_DEMO_CONF:-$ROOT/demo/nginx.conf.in}
PORT=${ASTRO_DEMO_PORT:-8080}
PORT2=${ASTRO_DEMO_PORT2:-8081}
REDIS_PORT=${ASTRO_DEMO_REDIS_PORT:-6380}
PG_PORT=${ASTRO_DEMO_PG_PORT:-6381}
PG_BIN=${ASTRO_PG_BIN:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)}

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ -x "$NGINX" ] || die "no $NGINX: run util/install-deps.sh"
[ -f "$MODULE" ] || die "no $MODULE: run make first"
[ -f "$CONF_IN" ] || die "no $CONF_IN"
case $MODULE in /*) ;; *) MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE") ;; esac

mkdir -p "$DEMO/conf" "$DEMO/logs" "$DEMO/tmp" "$DEMO/redis"
mkdir -p "$DEMO/node2/conf" "$DEMO/node2/logs" "$DEMO/node2/tmp"

NGINX_PID=
NGINX2_PID=
REDIS_PID=
PG_UP=no

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
# open under $DEMO/logs or $DEMO/node2/logs (the error log), also when the
# master is gone.
demo_nginx_pids() {
    local p f
    for p in $(pgrep -x nginx 2>/dev/null || true); do
        for f in "/proc/$p/fd/"*; do
            case $(readlink "$f" 2>/dev/null) in
                "$DEMO/logs/"*|"$DEMO/node2/logs/"*) echo "$p"; break ;;
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
    rm -f "$DEMO/logs/nginx.pid" "$DEMO/node2/logs/nginx.pid"
    if [ -f "$DEMO/pg/data/postmaster.pid" ]; then
        say "stopping the PostgreSQL of an earlier run"
        pg_stop
    fi
}

stopping=no
# shellcheck disable=SC2317  # called from the traps
shutdown() {
    [ "$stopping" = no ] || return 0
    stopping=yes
    trap '' INT TERM
    echo
    say "stopping"
    stop_pid "$NGINX2_PID" nginx
    stop_pid "$NGINX_PID" nginx
    local p
    for p in $(demo_nginx_pids); do stop_pid "$p" nginx; done
    stop_pid "$REDIS_PID" redis
    [ "$PG_UP" = no ] || pg_stop
    rm -f "$DEMO/logs/nginx.pid" "$DEMO/node2/logs/nginx.pid" \
          "$DEMO/redis/redis.pid"
    say "stopped"
}


# --- PostgreSQL: the shard map -------------------------------------------------

# PostgreSQL refuses to run as root: as root, it runs as the postgres user.
pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_stop() {
    [ -n "$PG_BIN" ] && [ -f "$DEMO/pg/data/postmaster.pid" ] || return 0
    if ! pg_run "$PG_BIN/pg_ctl" -D "$DEMO/pg/data" -m fast -w stop \
             > /dev/null 2>&1; then
        stop_pid "$(head -n 1 "$DEMO/pg/data/postmaster.pid")" postgres
    fi
}

# The cluster, the tables of docs/shard.md (util/shard-ddl.sql) and the
# map "users": shards s0
# and s1 on the upstream blocks shard0 and shard1, and slot i of 16384 to
# s(i % 2), as fill=modulo in nginx.conf places them.
start_pg() {
    local d=$DEMO/pg
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        say "no PostgreSQL server installed: /users/ is routed by the" \
            "map of nginx.conf"
        return 1
    fi
    rm -rf "$d"
    mkdir -p "$d"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$d"; fi
    if ! pg_run "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 \
             --no-locale --no-sync > "$d/initdb.log" 2>&1 \
       || ! pg_run "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 30 \
             -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $d -c fsync=off" \
             start > /dev/null 2>&1 \
       || ! pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres astro
    then
        say "PostgreSQL did not start on 127.0.0.1:$PG_PORT (see $d):" \
            "/users/ is routed by the map of nginx.conf"
        tail -n 3 "$d/pg.log" "$d/initdb.log" 2>/dev/null | sed 's/^/demo:   /' || true
        pg_stop
        return 1
    fi
    PG_UP=yes
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d astro -q \
        -v ON_ERROR_STOP=1 -f "$ROOT/util/shard-ddl.sql" -f - \
        > "$d/ddl.log" 2>&1 <<'END' || {
INSERT INTO astro_shard_maps (name) VALUES ('users');
INSERT INTO astro_shard_shards (map, name, upstream)
    VALUES ('users', 's0', 'shard0'), ('users', 's1', 'shard1');
INSERT INTO astro_shard_entries (map, from_value, to_value, owner)
    SELECT 'users', s, s + 1, 's' || (s % 2) FROM generate_series(0, 16383) s;
END
        say "the shard map's tables could not be made (see $d/ddl.log):" \
            "/users/ is routed by the map of nginx.conf"
        pg_stop
        PG_UP=no
        return 1
    }
    say "PostgreSQL on 127.0.0.1:$PG_PORT, database astro: the shard map" \
        "of /users/ (2 shards, 16384 slots)"
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
start_pg || true


# --- nginx ---------------------------------------------------------------------

# $1 the node's directory, $2 its port, $3 its name; node 2 without the
# backends (the lines from "demo backends" to the end of http{})
node_conf() {
    sed -e "s|@MODULE@|$MODULE|g" \
        -e "s|@PORT@|$2|g" \
        -e "s|@NODE@|$3|g" \
        -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        -e "s|@PG_PORT@|$PG_PORT|g" \
        -e "s|@DEMO@|$1|g" \
        "$CONF_IN" > "$1/conf/nginx.conf"
    if [ "$3" != demo-1 ]; then
        sed -i -e '/# --- demo backends/,/^}$/{/^}$/!d}' "$1/conf/nginx.conf"
    fi
    # without PostgreSQL, the map of nginx.conf alone
    if [ "$PG_UP" = no ]; then
        sed -i -e 's|"postgres=[^"]*"||' \
            -e 's|refresh=[0-9a-z]* timeout=[0-9a-z]*;|;|' "$1/conf/nginx.conf"
    fi
    if ! "$NGINX" -q -t -p "$1/" -c conf/nginx.conf; then
        die "nginx rejects $1/conf/nginx.conf (made from $CONF_IN)"
    fi
}

# $1 the node's directory, $2 its port, $3 its pid: waits for it to answer
node_up() {
    local _
    for _ in $(seq 50); do
        if curl -s -o /dev/null "http://127.0.0.1:$2/"; then return 0; fi
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "demo: nginx did not come up on 127.0.0.1:$2; $1/logs/error.log:" >&2
    tail -n 10 "$1/logs/error.log" >&2 || true
    exit 1
}

node_conf "$DEMO" "$PORT" demo-1
node_conf "$DEMO/node2" "$PORT2" demo-2

"$NGINX" -p "$DEMO/" -c conf/nginx.conf -g 'daemon off;' &
NGINX_PID=$!
node_up "$DEMO" "$PORT" "$NGINX_PID"

"$NGINX" -p "$DEMO/node2/" -c conf/nginx.conf -g 'daemon off;' &
NGINX2_PID=$!
node_up "$DEMO/node2" "$PORT2" "$NGINX2_PID"

B=http://127.0.0.1:$PORT
if [ "$PG_UP" = yes ]; then
    SHARD_MAP="in PostgreSQL, 127.0.0.1:$PG_PORT, database astro"
else
    SHARD_MAP="nginx.conf's (PostgreSQL did not start)"
fi
cat <<END

astro demo is up (nginx pid $NGINX_PID, files in $DEMO; a second node,
demo-2, on 127.0.0.1:$PORT2, pid $NGINX2_PID, files in $DEMO/node2).

  Status dashboard:  $B/astro/status?format=html
                     $B/astro/status?format=json
                     $B/astro/status?format=prometheus
  Fleet view:        $B/astro/status?scope=fleet&format=html
                     (both nodes, demo-1 and demo-2, as each reports to
                     Redis every second)

  By tier:   curl -i -H 'X-Api-Key: demo-premium' $B/api/
             curl -i -H 'X-Api-Key: demo-basic' $B/api/
             curl -i $B/api/                      (no key: free)
  Shards:    curl -i $B/users/1                   (X-Shard: s1, slot 49)
             curl -i $B/users/2                   (X-Shard: s0, slot 50)
             (user ids placed as the original backend's Math.abs(hash) % 2;
             the map: $SHARD_MAP)
  Limits:    curl -i $B/limited/                  (RateLimit-* headers, in Redis)
             for i in \$(seq 105); do curl -s -o /dev/null -w '%{http_code} ' $B/limited/; done
             (100 a minute per address, 1000 with X-Api-Key: demo-premium; then 429)
  Hybrid:    for i in \$(seq 605); do curl -s -o /dev/null -w '%{http_code} ' $B/bulk/; done
             (600 a minute, decided in nginx and pushed to Redis every 100ms;
             the status's modules.ratelimit zone "bulk" shows its decisions
             by path: local, then exact near the limit)
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

if [ "$PG_UP" = yes ]; then
    cat <<END

  Move slot 50 (user 2) from s0 to s1 in PostgreSQL: nginx follows the
  NOTIFY within a second, without a reload (X-Shard: s1, X-Shard-Version: 2):

    $PG_BIN/psql -h 127.0.0.1 -p $PG_PORT -U postgres -d astro -c "BEGIN; UPDATE astro_shard_entries SET owner = 's1' WHERE map = 'users' AND from_value = '50'; UPDATE astro_shard_maps SET version = version + 1 WHERE name = 'users'; NOTIFY astro_shard, 'users'; COMMIT;"
    curl -i $B/users/2

  The map and its version: $B/astro/status?format=json (modules.shard).
END
fi

# Foreground until a signal (the trap exits) or a node ends by itself.
rc=0
wait -n "$NGINX_PID" "$NGINX2_PID" || rc=$?
say "an nginx node exited (status $rc); see $DEMO/logs/error.log and" \
    "$DEMO/node2/logs/error.log"
exit 1
