#!/bin/bash
# bench/health.sh: the health scenario of `make bench` (bench/run.sh),
# ngx_astro_health_module against nothing. Alone: bash bench/health.sh
# (the same as BENCH_SCENARIOS=health bash bench/run.sh).
#   plain      `location / { return 200 "ok\n"; }`, no module
#   astro      the same, with build/ngx_astro_module.so (a copy), a health
#              zone (log-phase accounting of every request), `astro_shed
#              priority=$prio` on the server (the shedding check in the
#              rewrite phase) and an astro_status location (not requested
#              while measuring)
#   All health limits of the astro instance are off
#   (`astro_health_threshold ... cpu=off memory=off error_rate=off
#   latency=off`): the zone reads the real /proc, and while wrk keeps the
#   CPU busy it would go degraded or critical and shed, and 503s would
#   spoil the comparison. So the status stays healthy, and every request
#   is checked by astro_shed and let through.

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

health_settings() {
    BASE=plain
    MIN_RATIO=0.98
    TITLE="ngx_astro_health_module, request-path cost: return 200, one worker"
    ABOUT="astro: health zone + log-phase accounting + astro_shed check; all"
    ABOUT+=" health limits off, so the status stays healthy and nothing is shed"
    BODY=$'ok\n'
}

health_check_answers() {
    check_bodies /
}

# After the rounds: the astro instance (its metrics $1) is still healthy,
# has shed nothing, and counted in the log phase every request wrk
# completed ($2).
health_check_astro() {
    local metrics=$1 completed=$2 level counted shed
    level=$(awk '$1 == "astro_health_level" { print $2 }' <<< "$metrics")
    counted=$(awk '$1 == "astro_requests_total" { print $2 }' <<< "$metrics")
    shed=$(awk '$1 ~ /^astro_shed_total/ { n += $2 } END { print n + 0 }' <<< "$metrics")
    [ "$level" = 0 ] || die "the astro instance is not healthy (level \"$level\")"
    [ "$shed" = 0 ] || die "the astro instance shed $shed requests"
    covers_completed "health zone counted" "$counted" "$completed"
    say "astro: status healthy, 0 shed, $counted requests counted by the zone" \
        "(wrk completed $completed)"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=health exec bash "$(dirname "$0")/run.sh"
