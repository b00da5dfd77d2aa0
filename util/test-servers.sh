#!/bin/bash
# Start or stop the servers the integration tests need, on loopback, each
# with its own files in a private directory under build/.
#
#   util/test-servers.sh start|stop|status
#
# ASTRO_TEST_SERVERS   which servers: "redis fake" (default), "redis pg", ...
# TEST_NGINX_REDIS_PORT   Redis port (default 6390)
# TEST_NGINX_PG_PORT      PostgreSQL port (default 6391); database "astro",
#                         user "postgres", no password (trust on loopback)
# TEST_NGINX_FAKE_GREET_PORT, TEST_NGINX_FAKE_TWICE_PORT,
# TEST_NGINX_FAKE_LATE_PORT  the fake Redis servers of util/fake-redis.pl
#                         (6420, 6421, 6422)
# ASTRO_TEST_SERVERS_DIR  the directory (default build/test-servers)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${ASTRO_TEST_SERVERS_DIR:-$ROOT/build/test-servers}
SERVERS=${ASTRO_TEST_SERVERS:-redis fake}
REDIS_PORT=${TEST_NGINX_REDIS_PORT:-6390}
PG_PORT=${TEST_NGINX_PG_PORT:-6391}
FAKE_GREET_PORT=${TEST_NGINX_FAKE_GREET_PORT:-6420}
FAKE_TWICE_PORT=${TEST_NGINX_FAKE_TWICE_PORT:-6421}
FAKE_LATE_PORT=${TEST_NGINX_FAKE_LATE_PORT:-6422}
PG_BIN=${ASTRO_PG_BIN:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)}

say() { echo "test-servers: $*"; }

alive() { [ -f "$1" ] && kill -0 "$(head -n 1 "$1")" 2>/dev/null; }

stop_pidfile() {
    # $1 pidfile, $2 name
    local pid
    [ -f "$1" ] || return 0
    pid=$(head -n 1 "$1")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$2 (pid $pid) did not stop, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $2"
    fi
    rm -f "$1"
}


# --- Redis ---------------------------------------------------------------------

redis_start() {
    local d=$DIR/redis
    stop_pidfile "$d/redis.pid" redis
    mkdir -p "$d"
    cat > "$d/redis.conf" <<END
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $d/redis.pid
logfile $d/redis.log
dir $d
save ""
appendonly no
END
    redis-server "$d/redis.conf"
    for _ in $(seq 50); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
            say "redis on 127.0.0.1:$REDIS_PORT"
            return 0
        fi
        sleep 0.1
    done
    say "redis did not come up on 127.0.0.1:$REDIS_PORT; its log:" >&2
    tail -n 20 "$d/redis.log" >&2 || true
    return 1
}

redis_stop() { stop_pidfile "$DIR/redis/redis.pid" redis; }


# --- fake Redis servers that speak unasked (util/fake-redis.pl) ---------------

fake_start() {
    local d=$DIR/fake
    stop_pidfile "$d/fake.pid" "fake redis"
    mkdir -p "$d"
    # in the background once it listens
    perl "$ROOT/util/fake-redis.pl" "$d/fake.pid" "$FAKE_GREET_PORT:greet" \
        "$FAKE_TWICE_PORT:twice" "$FAKE_LATE_PORT:late" || return 1
    for _ in $(seq 50); do
        alive "$d/fake.pid" && break
        sleep 0.1
    done
    say "fake redis on 127.0.0.1:$FAKE_GREET_PORT, :$FAKE_TWICE_PORT, :$FAKE_LATE_PORT"
}

fake_stop() { stop_pidfile "$DIR/fake/fake.pid" "fake redis"; }


# --- PostgreSQL ----------------------------------------------------------------

# PostgreSQL refuses to run as root: as root, it runs as the postgres user.
pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local d=$DIR/pg
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        say "no PostgreSQL server (postgresql)" >&2
        return 1
    fi
    pg_stop
    rm -rf "$d"
    mkdir -p "$d"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$d"; fi
    pg_run "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 \
        --no-locale --no-sync > "$d/initdb.log" 2>&1 \
        || { say "initdb failed:" >&2; cat "$d/initdb.log" >&2; return 1; }
    pg_run "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 30 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $d -c fsync=off" \
        start > /dev/null \
        || { say "postgres did not start:" >&2; tail -n 20 "$d/pg.log" >&2; return 1; }
    pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres astro
    say "postgres on 127.0.0.1:$PG_PORT (database astro)"
}

pg_stop() {
    local d=$DIR/pg
    if [ -f "$d/data/postmaster.pid" ] && [ -n "$PG_BIN" ]; then
        if pg_run "$PG_BIN/pg_ctl" -D "$d/data" -m fast -w stop > /dev/null 2>&1; then
            say "stopped postgres"
        else
            stop_pidfile "$d/data/postmaster.pid" postgres
        fi
    fi
}


# ---------------------------------------------------------------------------------

server_names() {
    local s
    for s in $SERVERS; do
        case $s in
            redis|pg|fake) echo "$s" ;;
            postgres|postgresql) echo pg ;;
            *) say "unknown server: $s" >&2; exit 2 ;;
        esac
    done
}

case ${1:-} in
    start)
        for s in $(server_names); do
            "${s}_start" || { "$0" stop; exit 1; }
        done
        ;;
    stop)
        # Stop all kinds, also ones no longer listed.
        redis_stop
        fake_stop
        pg_stop
        ;;
    status)
        if alive "$DIR/redis/redis.pid"; then say "redis running"; else say "redis not running"; fi
        if alive "$DIR/fake/fake.pid"; then say "fake redis running"; else say "fake redis not running"; fi
        if alive "$DIR/pg/data/postmaster.pid"; then say "postgres running"; else say "postgres not running"; fi
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
