#!/bin/bash
# bench/redis.sh: the redis scenario of `make bench` (bench/run.sh),
# ngx_astro_ratelimit_module with backend=redis (GCRA) against the
# OpenResty way of doing the same thing. Alone: bash bench/redis.sh
# (BENCH_SCENARIOS=redis bash bench/run.sh). It starts its own
# redis-server on 127.0.0.1:18803 (no persistence) and stops it at the
# end, also on failure.
#   openresty  Debian's lua-nginx-module and lua-resty-redis: a
#              content_by_lua location making one EVALSHA of the module's
#              GCRA script a request (the same key, rate and burst), its
#              connections kept alive (set_keepalive, up to 64)
#   astro      `location / { astro_ratelimit zone=r; empty_gif; }`, the zone
#              `key=$arg_u rate=100r/s burst=100 backend=redis`, headers
#              off: the decisions of a turn of the event loop in one
#              EVALSHA on the worker's pool (2)
#   gif        the astro instance's `location = /gif { empty_gif; }`: the
#              same content handler without the limiter: what the limiter
#              adds to the worker's CPU time per request
#   wrk -c64 (BENCH_REDIS_CONNECTIONS) runs bench/users.lua against all
#   three: every request is for "?u=N", N one of BENCH_USERS (10,000) at
#   random, so the key is spread over that many users. Each round also
#   reads redis-server's CPU time (/proc/PID/stat) during each column:
#   per request of astro, Redis's CPU time per decision. After the rounds
#   the zone must have passed every request wrk completed (and no more
#   than wrk can have had in flight), with no fail-open decision and no
#   Redis command failed or skipped, and Redis must have run at least one
#   EVALSHA for each openresty request, or the run fails: a run where
#   Redis was not asked would be a fake result.
#   Then the latency part (BENCH_LATENCY=1, bench/latency.sh).
#
# The OpenResty modules: libnginx-mod-http-lua is installed with apt-get
# when missing (root only); lua-nginx-redis is fetched with `apt-get
# download` and unpacked under build/bench/lua, not installed: the package
# depends on nginx-extras, twenty more modules the bench does not need.

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

# shellcheck source=bench/latency.sh
. "$(dirname "${BASH_SOURCE[0]}")/latency.sh"

REDIS_PID=""   # the redis-server started by redis_start
OPENRESTY_BEFORE=0   # openresty's requests before Redis's stats were reset

redis_settings() {
    BASE=openresty
    MIN_RATIO=2.2
    SIDE_GOAL=5
    ADDED_CPU_GOAL=3
    LAT_GOAL_P99=1000
    CONNECTIONS=$REDIS_CONNECTIONS
    TITLE="ngx_astro_ratelimit_module, backend=redis (GCRA), against"
    TITLE+=" lua-resty-redis's EVALSHA of the same script, one worker"
    ABOUT="key \$arg_u over $USERS users at random (bench/users.lua),"
    ABOUT+=" rate=100r/s burst=100 (never reached), headers off, empty_gif;"
    ABOUT+=" openresty: content_by_lua, one EVALSHA a request, pool 64;"
    ABOUT+=" gif: empty_gif without the limiter"
    redis_columns
}

# What the redis and hybrid scenarios share: users.lua, the GIF, gif as
# the third column, redis-server's CPU time each round.
redis_columns() {
    BODY=""
    WRK_SCRIPT=$BENCH/users.lua
    EXTRA=gif
    EXTRA_PATH=/gif
    SIDE=redis
}

# The tools of the redis and hybrid scenarios.
redis_tools() {
    command -v "$REDIS_SERVER" >/dev/null 2>&1 \
        || die "no $REDIS_SERVER: apt-get install redis-server (or util/install-deps.sh)"
    command -v redis-cli >/dev/null 2>&1 \
        || die "no redis-cli: apt-get install redis-tools"
    command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
    [ "$LATENCY" != 1 ] || latency_build
}

redis_prepare() {
    redis_tools
    openresty_prepare
}

# The openresty column's modules and files: Debian's lua-nginx-module
# (apt-get install libnginx-mod-http-lua, which brings the ndk module and
# lua-resty-core), lua-resty-redis as $LUA_DIR/nginx/redis.lua from the
# lua-nginx-redis package (apt-get download, unpacked), and the GCRA
# script as Redis loads it ($LUA_DIR/ratelimit_gcra.lua: the lines after
# the file's first empty one, as src/lua/embed.sh embeds them).
openresty_prepare() {
    local lib=/usr/lib/nginx/modules deb

    if [ ! -f "$lib/ngx_http_lua_module.so" ] || [ ! -f "$lib/ndk_http_module.so" ]; then
        [ "$(id -u)" = 0 ] \
            || die "no lua-nginx-module: apt-get install libnginx-mod-http-lua (as root)"
        say "installing libnginx-mod-http-lua (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends libnginx-mod-http-lua > "$DIR/apt-lua.log" 2>&1 \
            || { tail -n 5 "$DIR/apt-lua.log" >&2; die "apt-get install libnginx-mod-http-lua failed"; }
    fi
    mkdir -p "$LUA_DIR/nginx" "$LUA_DIR/deb"
    if [ ! -f "$LUA_DIR/nginx/redis.lua" ]; then
        say "fetching lua-nginx-redis (apt-get download) into $LUA_DIR"
        rm -rf "$LUA_DIR/deb"/*
        (cd "$LUA_DIR/deb" && apt-get download lua-nginx-redis) > "$DIR/apt-lua.log" 2>&1 \
            || { tail -n 5 "$DIR/apt-lua.log" >&2; die "apt-get download lua-nginx-redis failed"; }
        deb=$(ls "$LUA_DIR"/deb/lua-nginx-redis_*.deb)
        dpkg-deb -x "$deb" "$LUA_DIR/deb/x" \
            || die "cannot unpack $deb"
        cp "$LUA_DIR/deb/x/usr/share/lua/5.1/nginx/redis.lua" "$LUA_DIR/nginx/redis.lua" \
            || die "no nginx/redis.lua in $deb"
    fi
    sed '1,/^$/d' "$ROOT/src/lua/ratelimit_gcra.lua" > "$LUA_DIR/ratelimit_gcra.lua"
}

# Starts redis-server on 127.0.0.1:$REDIS_PORT without persistence, in
# $DIR_S/redis, as a child of this script (so that its pid is known and
# only it is stopped), pinned to $REDIS_CPU if set.
redis_start() {
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

redis_stop() {
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

# The baseline's / and the astro instance's /, /gif and /local answer
# ?u=1 with the 43-byte GIF (the redis and hybrid scenarios).
check_gifs() {
    local body path
    for path in "$PORT_PLAIN/" "$PORT_ASTRO/" "$PORT_ASTRO/gif" "$PORT_ASTRO/local"; do
        body=$(curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download}' \
                   "http://127.0.0.1:$path?u=1") || true
        [ "$body" = "200 image/gif 43" ] \
            || die "127.0.0.1:$path?u=1 answers \"$body\", not 200 image/gif 43"
    done
}

# Before the rounds: every location answers the 43-byte GIF (openresty's
# after its EVALSHA, which must have left the key in Redis).
redis_check_answers() {
    check_gifs
    [ "$(redis exists bench:1)" = 1 ] \
        || die "openresty's EVALSHA left no key bench:1 in Redis"
    say "openresty's / (its key in Redis), astro's /, /gif and /local answer" \
        "200 and the GIF"
    CHECKED=1   # the request to / was decided by the redis zone
}

# Redis's counters from the first warmup on
redis_after_warmup() {
    redis config resetstat > /dev/null
    OPENRESTY_BEFORE=$base_requests
}

redis_check_astro() {
    check_redis_zone "$1" "$2" "$3"
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
    if [ "$failed" != 0 ] || [ "$skipped" != 0 ]; then
        die "Redis commands failed: $failed, skipped: $skipped"
    fi
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

redis_after_rounds() {
    redis_stats
    redis_check_openresty
    [ "$LATENCY" != 1 ] || run_latency
}

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
    batch_size
}

# The decisions astro's last instance sent to Redis, its calls (the
# round-trip histogram counts one a call) and the keys a call.
batch_size() {
    local m decisions calls
    m=$(astro_metrics)
    decisions=$(metric "$m" 'astro_ratelimit_redis_commands_total{outcome="answered"}')
    calls=$(metric "$m" 'astro_ratelimit_redis_rtt_seconds_count')
    say "astro's last instance: $decisions decisions in $calls EVALSHA," \
        "$(awk -v d="$decisions" -v c="$calls" 'BEGIN { printf "%.1f", c ? d / c : 0 }')" \
        "keys a call"
}

# After the rounds: Redis ran at least an EVALSHA for each request
# openresty answered (since the first warmup), besides astro's calls.
redis_check_openresty() {
    local calls astro_calls
    calls=$(redis info commandstats | tr -d '\r' \
                | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
    astro_calls=$(metric "$(astro_metrics)" \
                      'astro_ratelimit_redis_commands_total{outcome="answered"}')
    local answered=$((base_requests - OPENRESTY_BEFORE))
    [ "${calls:-0}" -ge "$answered" ] \
        || die "Redis ran ${calls:-0} EVALSHA, openresty answered $answered requests"
    say "openresty: $answered requests answered, Redis ran ${calls:-0}" \
        "EVALSHA since the first warmup (astro's zone counts $astro_calls" \
        "decisions answered since its last start)"
}

# Among the verdicts (run_scenario's medians): Redis's share of a CPU, and
# astro per CPU-second of the worker and redis-server together.
redis_verdicts() {
    say "redis-server used ${rcpu}% of a CPU during astro's rounds (median)"
    say "the CPU figures above count the worker only; counting" \
        "redis-server's CPU time too, astro/$BASE per CPU-second is" \
        "$(ratio_of "$(median "${astro_all[@]}")" "$pe")" \
        "(astro $(median "${astro_all[@]}") requests per CPU-second of worker + redis-server)"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=redis exec bash "$(dirname "$0")/run.sh"
