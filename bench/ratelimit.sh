#!/bin/bash
# bench/ratelimit.sh: the ratelimit scenario of `make bench` (bench/run.sh),
# ngx_astro_ratelimit_module with backend=local against nginx's limit_req.
# Alone: bash bench/ratelimit.sh (BENCH_SCENARIOS=ratelimit bash bench/run.sh).
#   limit_req  stock nginx, `limit_req_zone $arg_u zone=b:10m
#              rate=100000000r/s` and `limit_req zone=b burst=1000 nodelay`
#              on a location serving a small static index.html
#   astro      the same location with `astro_ratelimit_zone zone=a:10m
#              key=$arg_u rate=100000000r/s burst=1000
#              backend=local`, `astro_ratelimit zone=a` and
#              `astro_ratelimit_headers off` (the same bytes as limit_req),
#              and an astro_status location (not requested while measuring)
#   wrk runs bench/users.lua against both: "?u=N", N one of BENCH_USERS
#   (10,000) at random, so each limiter keeps that many keys.
#   The limit is never reached: any answer but 200 fails the run.

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

ratelimit_settings() {
    BASE=limit_req
    MIN_RATIO=0.97
    TITLE="ngx_astro_ratelimit_module, backend=local, against limit_req:"
    TITLE+=" static index.html, one worker"
    ABOUT="key \$arg_u over $USERS users at random (bench/users.lua),"
    ABOUT+=" rate=100000000r/s burst=1000 in both (never reached);"
    ABOUT+=" astro_ratelimit_headers off"
    WRK_SCRIPT=$BENCH/users.lua
    HTML=$DIR_S/html
    BODY=$'<!DOCTYPE html>\n<title>bench</title>\n<p>ok</p>\n'
}

# Both answer 200 and the page, with the same bytes but for Date.
ratelimit_check_answers() {
    check_bodies /
    check_same_headers
}

# After the rounds: the zone (in the metrics $1) decided and passed every
# request wrk completed ($2), and delayed or rejected none.
ratelimit_check_astro() {
    local metrics=$1 completed=$2 passed other
    passed=$(awk '$1 ~ /^astro_ratelimit_requests_total\{.*result="passed"/ { print $2 }' <<< "$metrics")
    other=$(awk '$1 ~ /^astro_ratelimit_requests_total\{/ && $1 !~ /result="passed"/ { n += $2 } END { print n + 0 }' <<< "$metrics")
    [ "$other" = 0 ] \
        || die "the ratelimit zone delayed, rejected or dry-ran $other requests"
    covers_completed "ratelimit zone passed" "$passed" "$completed"
    say "astro: $passed requests passed by the zone, 0 delayed or" \
        "rejected (wrk completed $completed)"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=ratelimit exec bash "$(dirname "$0")/run.sh"
