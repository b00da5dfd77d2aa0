#!/bin/bash
# bench/hybrid.sh: the hybrid scenario of `make bench` (bench/run.sh),
# ngx_astro_ratelimit_module with backend=hybrid against backend=local.
# Alone: bash bench/hybrid.sh (BENCH_SCENARIOS=hybrid bash bench/run.sh).
# It starts its own redis-server on 127.0.0.1:18803 as the redis scenario
# does (bench/redis.sh) and stops it at the end, also on failure.
#   local   `location / { astro_ratelimit zone=l; empty_gif; }`, the zone
#           `key=$arg_u rate=100r/s algorithm=sliding_window
#           backend=local`, headers off
#   astro   the same with the zone h, `backend=hybrid` (sync=100ms,
#           exact_at=80%: the defaults): decisions from the zone's shared
#           memory, the changed keys pushed to Redis every 100 ms
#   gif     the astro instance's `location = /gif { empty_gif; }`: the
#           same content handler without the limiter
#   wrk runs bench/users.lua against all three (10,000 users at random,
#   each far below its limit). Each round reads redis-server's CPU time
#   (/proc/PID/stat) during each column: per request of astro, what the
#   syncs cost Redis. After the rounds the zone must have passed every
#   request wrk completed (and no more than wrk can have had in flight),
#   refusing or failing none, and Redis must have run the syncs' EVALSHA:
#   a run in which Redis saw nothing is not the hybrid backend's.
#   Then the latency part (BENCH_LATENCY=1, bench/latency.sh) with the
#   backends none (/gif), local (/local) and hybrid (/).

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

# shellcheck source=bench/redis.sh
. "$(dirname "${BASH_SOURCE[0]}")/redis.sh"

hybrid_settings() {
    BASE=local
    MIN_RATIO=0.95
    SIDE_GOAL=0.5
    LAT_BACKEND=hybrid
    LAT_ZONE=h
    LAT_GOAL_P99=100
    TITLE="ngx_astro_ratelimit_module, backend=hybrid (sliding window),"
    TITLE+=" against backend=local, one worker"
    ABOUT="key \$arg_u over $USERS users at random (bench/users.lua),"
    ABOUT+=" rate=100r/s (never reached, nor its 80%), headers off,"
    ABOUT+=" empty_gif; hybrid: ${HYBRID_OPTIONS:-sync=100ms exact_at=80% (the defaults)},"
    ABOUT+=" astro_ratelimit_redis ${HYBRID_REDIS:-(the defaults)};"
    ABOUT+=" gif: empty_gif without the limiter"
    redis_columns
}

hybrid_prepare() { redis_tools; }

hybrid_start() { redis_start; }
hybrid_stop() { redis_stop; }

# Before the rounds: every location answers the 43-byte GIF.
hybrid_check_answers() {
    check_gifs
    say "local's /, astro's /, /gif and /local answer 200 and the GIF"
    CHECKED=1   # the request to / was decided by the hybrid zone
}

# Redis's counters from the first warmup on
hybrid_after_warmup() {
    redis config resetstat > /dev/null
}

# The hybrid zone h in the metrics $1 passed every request the load
# generators completed ($2) and at most $3 more, and nothing else.
hybrid_check_astro() {
    local metrics=$1 completed=$2 slack=$3 passed other
    local zone='astro_ratelimit_requests_total{zone="h"'
    passed=$(metric "$metrics" "$zone,result=\"passed\"}")
    other=$(( $(metric "$metrics" "$zone,") - passed ))
    [ "$other" = 0 ] \
        || die "the hybrid zone delayed, rejected, dry-ran or failed open $other requests"
    if [ "$passed" -lt "$completed" ] || [ "$passed" -gt $((completed + slack)) ]; then
        die "the hybrid zone passed $passed requests, the load generators" \
            "completed $completed (and had at most $slack more in flight)"
    fi
    say "astro: the hybrid zone passed $passed requests (the load generators" \
        "completed $completed, at most $slack more in flight), 0 rejected"
}

# After the rounds: what Redis ran for the syncs (since the first warmup;
# no EVALSHA fails the run: the zone never synced) and what the last
# instance's zone says of them (its status: sync rounds, keys pushed and
# failed, decisions local and exact). The keys themselves may have expired
# when the last round measured astro first (gif and local after it).
hybrid_after_rounds() {
    local cs calls usec sync
    cs=$(redis info commandstats | tr -d '\r')
    calls=$(sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' <<< "$cs")
    usec=$(sed -n 's/^cmdstat_evalsha:.*,usec_per_call=\([0-9.]*\),.*/\1/p' <<< "$cs")
    [ "${calls:-0}" != 0 ] \
        || die "Redis ran no EVALSHA: the hybrid zone never synced"
    say "redis (the rounds and their warmups): $calls EVALSHA, $usec us each" \
        "inside Redis (its commandstats), $(redis dbsize) keys now; all commands:" \
        "$(sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),.*/\1 \2/p' <<< "$cs" | paste -sd ',' | sed 's/,/, /g')"
    sync=$(curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=json" \
               | grep -o '"h":{.*' | grep -o '"hybrid":{[^}]*}[^}]*}' || true)
    say "the last instance's hybrid zone (status): ${sync:-none}"
    say "astro's round trip to Redis (status, rtt_us):" \
        "$(curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=json" \
               | grep -o '"rtt_us":{[^}]*}' | sed 's/"rtt_us"://; s/[{}"]//g; s/:/ /g; s/,/, /g')"
    [ "$LATENCY" != 1 ] || run_latency
}

hybrid_verdicts() {
    say "redis-server used ${rcpu}% of a CPU during astro's rounds (median)"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=hybrid exec bash "$(dirname "$0")/run.sh"
