#!/bin/bash
# The request-path cost of the astro modules (`make bench`).
#
# Runs the scenarios named in BENCH_SCENARIOS ("health ratelimit redis
# tier cache shard" by default) one after the other, then a summary of their
# headlines. Each is a pair of nginx instances from one template,
# bench/SCENARIO.conf.in, each with one worker, on loopback: a baseline on
# 127.0.0.1:18801 and astro on 127.0.0.1:18802, measured with wrk in
# interleaved rounds.
#
#   bench/lib.sh         the settings (environment, listed there), pinning,
#                        the median and its bootstrap interval, the run
#   bench/lib-nginx.sh   the instances: start and stop from the templates
#   bench/lib-wrk.sh     a wrk run and the CPU readings
#   bench/lib-rounds.sh  the rounds, the table, the verdicts
#   bench/health.sh, ratelimit.sh, redis.sh (and latency.sh), tier.sh,
#                        cache.sh, shard.sh
#                        what each scenario compares and checks; each runs
#                        alone too (bash bench/tier.sh)
#
# bench/README.md: the method, how to read the figures, the latest ones.

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_main
