#!/bin/bash
# bench/tier.sh: the tier scenario of `make bench` (bench/run.sh),
# ngx_astro_tier_upstream_module's balancer against nginx's own round
# robin. Alone: bash bench/tier.sh (BENCH_SCENARIOS=tier bash bench/run.sh).
#   Both proxy with keepalive to four backends: a separate plain nginx
#   (bench/tier-backends.conf.in, one worker, in build/bench/tier/backends)
#   started here on 127.0.0.1:18811..18814 and stopped at the end, also on
#   failure. Its worker is pinned to wrk's CPU, so that the measured worker
#   keeps its own CPU (unpinned, it often landed on the measured worker's
#   CPU: 4 of 6 runs of a trial at about half the throughput).
#   nginx_rr   `upstream app { server ...:18811; ... :18814; keepalive 128; }`
#              and `proxy_pass http://app`, no module
#   astro      the same with `astro_tier_balance strategy=round_robin;`
#              before `keepalive` (and an astro_status location)
#   rt         the astro instance's `location = /rt`: the same four
#              servers in `upstream app_rt` with `astro_tier_balance
#              strategy=response_time;` (the baseline has the same block
#              with nginx's round robin, unused)
#   Each round measures rt too; rt is compared with the same
#   round's nginx_rr (goal 0.95), astro with it too (goal 0.97). Each
#   round also reports the CPU share of the backends' worker. After the
#   rounds, from astro's status: each balancer placed every request wrk
#   completed on it (and at most what wrk had in flight more), all four
#   servers got requests, no failure, fallback or refusal; from the
#   backends' stub_status: they answered at least every request wrk
#   completed through either instance, on keepalive connections (fewer
#   than one connection per 10 requests). Otherwise the run fails. It
#   also prints how many new connections the backends accepted during
#   each column's rounds (BENCH_KEEPALIVE).

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

tier_settings() {
    BASE=nginx_rr
    MIN_RATIO=0.97
    TITLE="ngx_astro_tier_upstream_module's balancer against nginx's own"
    TITLE+=" round robin: proxy_pass to 4 backends, keepalive $KEEPALIVE, one worker"
    ABOUT="astro: astro_tier_balance strategy=round_robin (/);"
    ABOUT+=" rt: the astro instance's strategy=response_time (/rt);"
    ABOUT+=" backends: one plain nginx, return 200 on"
    ABOUT+=" 127.0.0.1:$BACKEND_PORT..$((BACKEND_PORT + 3))"
    BODY=$'ok\n'
    EXTRA=rt
    EXTRA_PATH=/rt
    EXTRA_VS=base
    EXTRA_MIN_RATIO=0.95
    SIDE=backends
}

tier_prepare() {
    [ -f "$BENCH/tier-backends.conf.in" ] \
        || die "no $BENCH/tier-backends.conf.in"
    # the checks read the balancers' and the backends' counters
    command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
}

tier_start() {
    start_instance backends backends "$BACKEND_PORT"
    SIDE_PID=$WORKER_BACKENDS
}

tier_accepts() {
    backend_status accepts
}

# Before the rounds: / and /rt of both answer 200 and "ok", and / the
# same bytes but for Date.
tier_check_answers() {
    check_bodies / "$EXTRA_PATH"
    # balanced by astro's upstreams: / twice (here and below), /rt once
    CHECKED=2
    CHECKED_EXTRA=1
    check_same_headers
    say "both answer $EXTRA_PATH with 200 and the same body"
}

# After the rounds: astro's two balancers (the metrics $1) agree with wrk:
# $2 requests completed against /, $3 more in flight at most; $4 and $5
# the same for /rt.
tier_check_astro() {
    check_tier_upstream "$1" app round_robin "$2" "$3"
    check_tier_upstream "$1" app_rt response_time "$4" "$5"
}

# The astro balancer of the upstream $2 (strategy $3) in the metrics $1
# balanced every request wrk completed on it ($4) and at most $5 more (in
# flight when wrk stopped), sent each to a server (one attempt each: no
# failure, so no retry), none by fallback or refused, and each of the four
# servers got some. Otherwise the module did not balance these requests.
check_tier_upstream() {
    local metrics=$1 up=$2 strategy=$3 completed=$4 slack=$5
    local balanced placed failures fallbacks refused p n per=""
    local t='astro_tier_upstream_tier' s='astro_tier_upstream_server'

    balanced=$(metric "$metrics" "${t}_requests_total{upstream=\"$up\",")
    fallbacks=$(metric "$metrics" "${t}_fallbacks_total{upstream=\"$up\",")
    refused=$(metric "$metrics" "${t}_refused_total{upstream=\"$up\",")
    placed=$(metric "$metrics" "${s}_requests_total{upstream=\"$up\",")
    failures=$(metric "$metrics" "${s}_failures_total{upstream=\"$up\",")

    if [ "$failures" != 0 ] || [ "$fallbacks" != 0 ] || [ "$refused" != 0 ]; then
        die "upstream $up: $failures failures, $fallbacks fallbacks," \
            "$refused refused"
    fi
    if [ "$balanced" -lt "$completed" ] \
       || [ "$balanced" -gt $((completed + slack)) ]; then
        die "upstream $up: astro balanced $balanced requests, wrk completed" \
            "$completed (and had at most $slack more in flight)"
    fi
    [ "$placed" = "$balanced" ] \
        || die "upstream $up: $placed requests sent to servers for $balanced balanced"
    for ((p = BACKEND_PORT; p < BACKEND_PORT + 4; p++)); do
        n=$(metric "$metrics" "${s}_requests_total{upstream=\"$up\",server=\"127.0.0.1:$p\"}")
        [ "$n" -gt 0 ] || die "upstream $up: no request for 127.0.0.1:$p"
        per+=" $n"
    done
    say "astro: upstream $up ($strategy) balanced $balanced requests (wrk" \
        "completed $completed, at most $slack more in flight), per server$per;" \
        "0 failures, fallbacks or refusals"
}

# After the rounds (run_scenario's counters): the backends' checks, the
# new connections of each column, the backends' error log.
tier_after_rounds() {
    local k line=""
    check_backends $((base_requests + astro_requests + extra_requests
                      + restarted_requests))
    # a balancer that spreads the requests in flight unevenly over the
    # servers needs more connections to some than the keepalive cache
    # (BENCH_KEEPALIVE, for all servers together) keeps
    for k in "$BASE" astro "$EXTRA"; do
        line+=$(awk -v k="$k" -v c="${conns[$k]}" -v n="${round_requests[$k]}" \
                    'BEGIN { printf "%s %d (%.2f)", k, c, 1000 * c / n }')
        line+=", "
    done
    say "backends: new connections in the rounds (per 1000 requests):" \
        "${line%, }"
    check_logs backends
}

# Among the verdicts: the measured worker's share of its CPU, and the
# backends' (run_scenario's medians).
tier_verdicts() {
    say "the measured worker's share of its CPU (medians): $BASE" \
        "$(median "${base_pct[@]}")%, astro $(median "${astro_pct[@]}")%," \
        "$EXTRA $(median "${extra_pct[@]}")%; the backends' worker" \
        "${rcpu}% (during astro's rounds, on CPU ${BACKEND_CPU:-any})"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=tier exec bash "$(dirname "$0")/run.sh"
