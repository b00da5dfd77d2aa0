# stress/run.sh: the servers of the stress run, each in its own directory
# under $DIR, stopped by its own pid file (never by name: other engineers
# run nginx, Redis and PostgreSQL on this machine).
#
#   backends    one plain nginx, the fronts' upstreams (never disturbed)
#   fronts      "astro" and "plain", from stress/nginx.conf.in
#   Redis       the astro front's rate limits; appendonly, so that its
#               restart keeps the counts, as a production Redis would
#   PostgreSQL  a throwaway cluster for the shard module, which does not
#               connect to it yet (issue 17)
#
# shellcheck shell=bash

# --- helpers -------------------------------------------------------------------

pid_of() { [ -f "$1" ] && head -n 1 "$1"; }

# Whether pid $1 runs: an exited process not yet reaped (a zombie) does
# not.  A daemon's parent is PID 1, which on some VMs reaps seconds late.
running() {
    kill -0 "$1" 2>/dev/null || return 1
    case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in
        Z*|X*|'') return 1 ;;
    esac
}

alive() {
    local p
    p=$(pid_of "$1") && [ -n "$p" ] && running "$p"
}

# Waits up to $2 tenths of a second for pid $1 to end.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        running "$1" || return 0
        sleep 0.1
    done
    ! running "$1"
}

stop_pidfile() {
    # $1 pid file, $2 name, $3 signal (TERM)
    local p
    p=$(pid_of "$1") || return 0
    if [ -z "$p" ] || ! running "$p"; then
        rm -f "$1"
        return 0
    fi
    kill -"${3:-TERM}" "$p" 2>/dev/null || true
    if ! wait_gone "$p" 100; then
        say "$2 (pid $p) did not stop, killing it"
        kill -KILL "$p" 2>/dev/null || true
        wait_gone "$p" 20 || true
    fi
    rm -f "$1"
}

# Fills in a template: $1 template, $2 output, then NAME=value pairs for
# @NAME@; $MARK ("astro" or "base") keeps its own "#MARK# " lines and
# drops the other instance's.
render() {
    local in=$1 out=$2 kv args=()
    shift 2
    for kv in "$@"; do
        args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    case ${MARK:-} in
        astro) args+=(-e '/^[[:space:]]*#base# /d' -e 's/^\([[:space:]]*\)#astro# /\1/') ;;
        base) args+=(-e '/^[[:space:]]*#astro# /d' -e 's/^\([[:space:]]*\)#base# /\1/') ;;
    esac
    sed "${args[@]}" "$in" > "$out.tmp"
    if grep -n '@[A-Z0-9_]*@' "$out.tmp" >&2; then
        die "$in: the values above are not filled in"
    fi
    mv -f "$out.tmp" "$out"
}

# an event of the run, for stress/check.pl: time, instance (or -), kind,
# detail
event() { echo "$EPOCHREALTIME $*" >> "$DIR/events.log"; }


# --- backends ------------------------------------------------------------------

# BACKEND_PORT0=... to BACKEND_PORT7=... into the array PORTS, for render
backend_ports() {
    local i
    PORTS=()
    for ((i = 0; i < 8; i++)); do PORTS+=("BACKEND_PORT$i=$((BACKEND_PORT + i))"); done
}

backends_start() {
    local d=$DIR/backends
    mkdir -p "$d/conf" "$d/logs" "$d/tmp"
    backend_ports
    MARK='' render "$STRESS/backends.conf.in" "$d/conf/nginx.conf" \
        "ECHO_MODULE=$ECHO_MODULE" "BACKEND_DELAY=$BACKEND_DELAY" "${PORTS[@]}"
    /usr/sbin/nginx -q -p "$d/" -e "$d/logs/error.log" -c conf/nginx.conf \
        || die "the backends did not start: $(tail -n 3 "$d/logs/error.log")"
    wait_http "http://127.0.0.1:$BACKEND_PORT/" backends
}

backends_stop() { stop_pidfile "$DIR/backends/logs/nginx.pid" backends QUIT; }


# --- the fronts ----------------------------------------------------------------

# port of front $1
front_port() { if [ "$1" = astro ]; then echo "$PORT_ASTRO"; else echo "$PORT_PLAIN"; fi; }

# Writes front $1's configuration, variant $2 (0 or 1: the port of the
# fifth server of upstream app).
front_conf() {
    local d=$DIR/$1 mark=base load="# plain nginx: no module" v=$2 conns=
    if [ "$1" = astro ]; then
        mark=astro
        conns=max_conns=$MAX_CONNS
        if [ -n "$MODULE" ]; then
            load="load_module $MODULE;"
        else
            load="# the modules are linked in ($NGINX_BIN)"
        fi
    fi
    backend_ports
    MARK=$mark render "$STRESS/nginx.conf.in" "$d/conf/nginx.conf" \
        "LOAD_MODULE=$load" "PORT=$(front_port "$1")" "MAX_CONNS=$conns" \
        "FREE2_PORT=$((BACKEND_PORT + 4 + v))" "${PORTS[@]}" \
        "REDIS_PORT=$REDIS_PORT" "PG_PORT=$PG_PORT" \
        "HEALTH_INTERVAL=$HEALTH_INTERVAL" "QUEUE_TIMEOUT=$QUEUE_TIMEOUT" \
        "PROXY_CONNECT=$PROXY_CONNECT" "PROXY_SEND=$PROXY_SEND" \
        "PROXY_READ=$PROXY_READ" "PROXY_TRIES=$PROXY_TRIES" \
        "REDIS_TIMEOUT=$REDIS_TIMEOUT" "REDIS_CONNECT=$REDIS_CONNECT" \
        "REDIS_HOLD=$REDIS_HOLD" "SPEED_DELAY=$SPEED_DELAY" \
        "SPEED_MAX=$SPEED_MAX" "SPEED_CRITICAL=$SPEED_CRITICAL" \
        "PROBE_LIMIT=$PROBE_LIMIT" "CACHE_TTL=$CACHE_TTL" \
        "CACHE_SYNC=$CACHE_SYNC"
}

# nginx for front $1 with the other arguments, under the sanitizers'
# options when the binary is the sanitized one
front_nginx() {
    local d=$DIR/$1
    shift
    "${SAN_ENV[@]}" "$NGINX_BIN" -p "$d/" -e "$d/logs/error.log" \
        -c conf/nginx.conf "$@"
}

front_start() {
    local d=$DIR/$1
    mkdir -p "$d/conf" "$d/logs" "$d/tmp" "$d/cache"
    cp "$DIR/tier.key" "$d/conf/tier.key"
    front_conf "$1" 0
    front_nginx "$1" -q -t || die "nginx rejects $d/conf/nginx.conf"
    front_nginx "$1" || die "the $1 front did not start: $(tail -n 3 "$d/logs/error.log")"
    wait_http "http://127.0.0.1:$(front_port "$1")/api/" "the $1 front"
    event "$1" start "$(pid_of "$d/logs/nginx.pid")"
}

# `nginx -s reload` with the other variant of the configuration
front_reload() {
    local v=$2
    front_conf "$1" "$v"
    if front_nginx "$1" -s reload 2>> "$DIR/$1/logs/reload.err"; then
        event "$1" reload "variant $v"
    else
        event "$1" reload-failed "variant $v"
    fi
}

# The worker processes of front $1's current generation (not those
# shutting down after a reload, not the cache manager or loader).
front_workers() {
    local master p
    master=$(pid_of "$DIR/$1/logs/nginx.pid") || return 0
    for p in $(pgrep -P "$master" 2>/dev/null || true); do
        if [ "$(tr -d '\0' < "/proc/$p/cmdline" 2>/dev/null)" = "nginx: worker process" ]; then
            echo "$p"
        fi
    done
}

# front $1's workers shutting down after a reload
front_old_workers() {
    local master p
    master=$(pid_of "$DIR/$1/logs/nginx.pid") || return 0
    for p in $(pgrep -P "$master" 2>/dev/null || true); do
        case $(tr -d '\0' < "/proc/$p/cmdline" 2>/dev/null) in
            *"shutting down"*) echo "$p" ;;
        esac
    done
}

# SIGKILL to one of front $1's current workers, at random
front_kill() {
    local w p
    mapfile -t w < <(front_workers "$1")
    if [ "${#w[@]}" -eq 0 ]; then
        event "$1" kill-none "no current worker"
        return 0
    fi
    p=${w[RANDOM % ${#w[@]}]}
    if kill -KILL "$p" 2>/dev/null; then
        event "$1" kill "$p"
    fi
}

# Stops front $1 (QUIT: gracefully, as the old generations quit); a
# process of it left after its master (killed after 10 s) is killed, and
# both are events that stress/check.pl fails on.
front_stop() {
    local master procs p left=0
    master=$(pid_of "$DIR/$1/logs/nginx.pid") || return 0
    procs=$(pgrep -P "$master" 2>/dev/null || true)
    running "$master" || { rm -f "$DIR/$1/logs/nginx.pid"; return 0; }
    kill -QUIT "$master" 2>/dev/null || true
    if ! wait_gone "$master" 100; then
        event "$1" stop-timeout "$master"
        kill -KILL "$master" 2>/dev/null || true
        wait_gone "$master" 20 || true
    fi
    for p in $procs; do
        if running "$p"; then
            left=$((left + 1))
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    [ "$left" -eq 0 ] || event "$1" stop-left "$left"
    rm -f "$DIR/$1/logs/nginx.pid"
}


# --- Redis ---------------------------------------------------------------------

redis_start() {
    local d=$DIR/redis
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
appendonly yes
appendfsync always
END
    redis-server "$d/redis.conf" || die "redis-server did not start"
    local i
    for i in $(seq 50); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
            event - redis-up "$(pid_of "$d/redis.pid")"
            return 0
        fi
        sleep 0.1
    done
    die "Redis did not come up on 127.0.0.1:$REDIS_PORT: $(tail -n 3 "$d/redis.log")"
}

redis_stop() {
    stop_pidfile "$DIR/redis/redis.pid" redis
    event - redis-down ""
}

# Redis down for $REDIS_DOWN seconds, then up with its data
redis_restart() {
    redis_stop
    sleep "$REDIS_DOWN"
    redis_start
}


# --- the cache's invalidations -------------------------------------------------

# POST to astro's invalidation endpoint $1 (/_cache/invalidate, purge or
# expire) with the query $2, as the probe's user (premium: not shed when
# the health zone is degraded); an event "cache-$3" with the answer's
# status and its body (one line), for stress/check.pl
cache_invalidate() {
    local out code
    out=$(curl -s -X POST --max-time 5 -w '\n%{http_code}' \
              -H "Authorization: Bearer $PROBE_TOKEN" \
              "http://127.0.0.1:$PORT_ASTRO$1?$2" 2>/dev/null) || true
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    event astro "cache-$3" "${code:-0} $2 $(tr -d '\r\n' <<< "$out")"
}


# --- PostgreSQL ----------------------------------------------------------------

# PostgreSQL refuses to run as root: as root, it runs as the postgres user
# (util/test-servers.sh does the same).
pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_pid() { [ -f "$DIR/pg/data/postmaster.pid" ] && head -n 1 "$DIR/pg/data/postmaster.pid"; }

pg_start() {
    local d=$DIR/pg
    mkdir -p "$d"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$d"; fi
    pg_run "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 \
        --no-locale --no-sync > "$d/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -n 3 "$d/initdb.log")"
    pg_run "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 30 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $d -c fsync=off" \
        start > /dev/null \
        || die "PostgreSQL did not start: $(tail -n 3 "$d/pg.log")"
    # the shard map's tables (util/shard-ddl.sql) and the map users
    pg_psql -f "$ROOT/util/shard-ddl.sql" -f - > "$d/ddl.log" 2>&1 <<'END' \
        || die "the shard map's tables: $(tail -n 3 "$d/ddl.log")"
INSERT INTO astro_shard_maps (name) VALUES ('users');
INSERT INTO astro_shard_shards (map, name, upstream)
    VALUES ('users', 's0', 'shard0'), ('users', 's1', 'shard1');
INSERT INTO astro_shard_entries (map, from_value, to_value, owner) VALUES
    ('users', '0', '1', 's0'), ('users', '1', '8192', 's0'),
    ('users', '8192', '16384', 's1');
END
    event - pg-up "$(pg_pid)"
}

pg_psql() {
    pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
        -q -At -v ON_ERROR_STOP=1 "$@"
}

# A change of the shard map (slot 0 to the other shard, the version, a
# NOTIFY, in one transaction), an event with the new version; a failed
# one (PostgreSQL down) an event without.
shard_change() {
    local v
    v=$(pg_psql -c "BEGIN;
        UPDATE astro_shard_entries
            SET owner = CASE owner WHEN 's0' THEN 's1' ELSE 's0' END
            WHERE map = 'users' AND from_value = '0';
        UPDATE astro_shard_maps SET version = version + 1
            WHERE name = 'users' RETURNING version;
        NOTIFY astro_shard, 'users';
        COMMIT;" 2> /dev/null | grep -x '[0-9]*' | tail -n 1) || true
    if [ -n "$v" ]; then
        event - shard-change "$v"
    else
        event - shard-change-failed ""
    fi
}

# the shard map's version in PostgreSQL (empty if it does not answer)
shard_version() {
    pg_psql -c "SELECT version FROM astro_shard_maps WHERE name = 'users'" \
        2> /dev/null || true
}

pg_restart() {
    event - pg-restart "$(pg_pid)"
    if pg_run "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/pg.log" -m fast \
           -w -t 30 restart > /dev/null 2>&1; then
        event - pg-up "$(pg_pid)"
    else
        event - pg-failed ""
    fi
}

pg_stop() {
    [ -f "$DIR/pg/data/postmaster.pid" ] || return 0
    pg_run "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -m fast -w stop > /dev/null 2>&1 \
        || stop_pidfile "$DIR/pg/data/postmaster.pid" postgres
}

# "yes" when PostgreSQL answers a query
pg_answers() {
    if pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -At \
           -c 'select 1' postgres 2>/dev/null | grep -qx 1; then
        echo yes
    else
        echo no
    fi
}


# --- waiting for a server ------------------------------------------------------

wait_http() {
    local i
    for i in $(seq 50); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    die "$2 does not answer on $1"
}
