#!/bin/bash
# bench/redis.sh: the redis scenario of `make bench` (bench/run.sh),
# ngx_astro_ratelimit_module with backend=redis (GCRA) against a bare
# `return 200`. Alone: bash bench/redis.sh (BENCH_SCENARIOS=redis bash
# bench/run.sh). It starts its own redis-server on 127.0.0.1:18803 (no
# persistence) and stops it at the end, also on failure.
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
#   Then the latency part (BENCH_LATENCY=1, bench/latency.sh).

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

# shellcheck source=bench/latency.sh
. "$(dirname "${BASH_SOURCE[0]}")/latency.sh"

REDIS_PID=""   # the redis-server started by redis_start

redis_settings() {
    BASE=plain
    MIN_RATIO=0.55
    TITLE="ngx_astro_ratelimit_module, backend=redis (GCRA), against a"
    TITLE+=" bare return 200, one worker"
    ABOUT="key \$arg_u over $USERS users at random (bench/users.lua),"
    ABOUT+=" rate=100r/s burst=100 (never reached), headers off, empty_gif;"
    ABOUT+=" gif: empty_gif without the limiter"
    BODY=$'ok\n'
    WRK_SCRIPT=$BENCH/users.lua
    EXTRA=gif
    EXTRA_PATH=/gif
    SIDE=redis
}

redis_prepare() {
    command -v "$REDIS_SERVER" >/dev/null 2>&1 \
        || die "no $REDIS_SERVER: apt-get install redis-server (or util/install-deps.sh)"
    command -v redis-cli >/dev/null 2>&1 \
        || die "no redis-cli: apt-get install redis-tools"
    command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
    [ "$LATENCY" != 1 ] || latency_build
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

# Before the rounds: the baseline answers "ok", the astro locations a
# 43-byte GIF.
redis_check_answers() {
    local body path
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
}

# Redis's counters from the first warmup on
redis_after_warmup() {
    redis config resetstat > /dev/null
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
