#!/bin/bash
# bench/latency.sh: the latency part of the redis scenario of `make bench`
# (sourced by bench/redis.sh; BENCH_LATENCY=0 leaves it out). Alone, bash
# bench/latency.sh runs the redis scenario, whose instances it measures.
#
# build/loadgen (bench/loadgen.c, built here), an open-loop generator,
# measures the peak of each backend (none: /gif, local: /local, the same
# zone with backend=local, redis: /) in a closed loop (the median of 3
# runs of 2 s, the backends taking turns), then, at half of each
# backend's own peak, the p50 and p99 latency of that backend and of
# none at the same rate, from the time each request was due. The
# difference is the latency the backend adds.

LOADGEN=$ROOT/build/loadgen
LOADGEN_OUT=""   # the last run_loadgen's key=value line

# Builds build/loadgen from bench/loadgen.c when it is missing or older.
latency_build() {
    command -v cc >/dev/null 2>&1 || die "no cc for bench/loadgen.c: apt-get install gcc"
    if [ ! -x "$LOADGEN" ] || [ "$BENCH/loadgen.c" -nt "$LOADGEN" ]; then
        mkdir -p "$(dirname "$LOADGEN")"
        cc -O2 -Wall -Wextra -o "$LOADGEN" "$BENCH/loadgen.c" \
            || die "cannot build $LOADGEN from bench/loadgen.c"
    fi
}

# Runs loadgen against the astro instance's path $2 at the rate $3 (0:
# closed loop) for $4 seconds after $5 (1) s of warmup, its output in
# $DIR_S/loadgen-$1.txt; sets LOADGEN_OUT and SIDE_PCT; fails on
# connection errors and non-2xx answers.
run_loadgen() {
    local label=$1 path=$2 rate=$3 duration=$4 warmup=${5:-1}
    local out=$DIR_S/loadgen-$1.txt
    local r0=0 r1=0 w0
    local -a cmd=("$LOADGEN")

    [ "${WRK[0]}" != taskset ] || cmd=(taskset -c "$WRK_CPU" "$LOADGEN")
    [ -z "$SIDE_PID" ] || r0=$(cpu_ticks "$SIDE_PID")
    w0=$EPOCHREALTIME

    "${cmd[@]}" -p "$PORT_ASTRO" -P "$path" -c "$LAT_CONNECTIONS" \
        -d "$duration" -w "$warmup" -r "$rate" -u "$USERS" > "$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=""
        fail_run "$out" "loadgen failed ($label)"
    fi
    WRK_PID=""
    [ -z "$SIDE_PID" ] || r1=$(cpu_ticks "$SIDE_PID")
    SIDE_PCT=$(ticks_pct $((r1 - r0)) "$w0")

    LOADGEN_OUT=$(tail -n 1 "$out")
    if [ "$(lg errors)" != 0 ] || [ "$(lg non2xx)" != 0 ]; then
        fail_run "$out" "loadgen ($label): $(lg errors) connection errors, $(lg non2xx) non-2xx answers"
    fi
}

# A value of the last run_loadgen's line: lg NAME
lg() {
    sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$LOADGEN_OUT"
}

# The zone's passed count of the astro instance (zone $1).
zone_passed() {
    metric "$(astro_metrics)" "astro_ratelimit_requests_total{zone=\"$1\",result=\"passed\"}"
}

# The latency part: the peak of each backend in a closed loop, then at half
# of each backend's own peak, the latency of that backend and of none (the
# same content handler without a limiter) at the same rate, LAT_ROUNDS
# times. Every request loadgen sent to a limited location must have been
# passed by its zone (loadgen waits for the answers in flight at the end,
# so the counts are equal), and Redis must have failed nothing.
run_latency() {
    local b path zone rate round k before after answered label pr
    local m50 m99 n50 n99 a50 a99
    local -a lat_added=()
    local per_round=""
    local -a runs=()
    local -A peak=() rate_of=() p50=() p99=() np50=() np99=() side_cpu=()
    local -a backends=(none local "$LAT_BACKEND")
    local -A path_of=([none]=/gif [local]=/local ["$LAT_BACKEND"]=/)
    local -A zone_of=([local]=l ["$LAT_BACKEND"]="$LAT_ZONE")

    echo
    say "latency: build/loadgen, open loop, $LAT_CONNECTIONS keep-alive" \
        "connections, ${LAT_DURATION}s per measurement after 1 s of warmup," \
        "$LAT_ROUNDS rounds; latency from the time each request was due"
    say "backends: none = /gif (empty_gif, no limiter), local = /local" \
        "(backend=local), $LAT_BACKEND = / (backend=$LAT_BACKEND); all with" \
        "?u=1..$USERS"

    # the peaks: the median of 3 closed-loop runs of 2 s each, the
    # backends taking turns, so that the machine's drift hits all three
    local -A peaks=()
    for round in 1 2 3; do
        for b in "${backends[@]}"; do
            run_loadgen "peak-$b-$round" "${path_of[$b]}" 0 2 0.5
            peaks[$b]+=" $(lg rps)"
        done
    done
    for b in "${backends[@]}"; do
        # shellcheck disable=SC2086  # a space-separated list
        peak[$b]=$(median ${peaks[$b]})
        rate_of[$b]=$(awk -v p="${peak[$b]}" 'BEGIN { printf "%.0f", p / 2 }')
        say "peak $b: ${peak[$b]} req/s (closed loop, the median of${peaks[$b]});" \
            "half: ${rate_of[$b]} req/s"
    done

    echo
    printf "%-6s %-14s %9s %8s %8s %8s %10s %6s\n" round run "rate" \
        "p50 us" "p99 us" "late" "rps" "redis"
    for ((round = 1; round <= LAT_ROUNDS; round++)); do
        for b in "${backends[@]}"; do
            rate=${rate_of[$b]}
            # none at the backend's rate, then the backend at the same rate
            if [ "$b" = none ]; then
                runs=(none)
            else
                runs=(none "$b")
            fi
            for k in "${runs[@]}"; do
                path=${path_of[$k]}
                zone=${zone_of[$k]:-}
                [ -z "$zone" ] || before=$(zone_passed "$zone")
                label="$k-at-$b-$round"
                run_loadgen "$label" "$path" "$rate" "$LAT_DURATION"
                answered=$(lg answered)
                if [ -n "$zone" ]; then
                    after=$(zone_passed "$zone")
                    [ $((after - before)) = "$answered" ] \
                        || die "latency ($label): the zone $zone passed" \
                               "$((after - before)) requests, loadgen got" \
                               "answers to $answered"
                fi
                pr=$(awk -v a="$(lg rps)" -v r="$rate" 'BEGIN { print (a < 0.98 * r) ? "!" : "" }')
                printf "%-6s %-14s %9s %8s %8s %8s %9s%1s %5s%%\n" "$round" \
                    "$k@$b-rate" "$rate" "$(lg p50_us)" "$(lg p99_us)" "$(lg late)" \
                    "$(lg rps)" "$pr" "$SIDE_PCT"
                if [ "$k" = "$b" ]; then
                    p50[$b]+=" $(lg p50_us)"
                    p99[$b]+=" $(lg p99_us)"
                    side_cpu[$b]+=" $SIDE_PCT"
                fi
                if [ "$k" = none ]; then
                    np50[$b]+=" $(lg p50_us)"
                    np99[$b]+=" $(lg p99_us)"
                fi
            done
        done
    done

    [ "$LAT_BACKEND" != redis ] \
        || check_redis_zone "$(astro_metrics)" 0 1000000000 > /dev/null

    echo
    say "latency at half of each backend's own peak (medians of $LAT_ROUNDS rounds;" \
        "none measured at the same rate just before):"
    printf "%-8s %10s %10s %8s %8s %9s %9s %10s %10s\n" backend "peak r/s" \
        "rate r/s" "p50 us" "p99 us" "none p50" "none p99" "added p50" "added p99"
    for b in "${backends[@]}"; do
        # shellcheck disable=SC2086  # the lists are space-separated
        {
            m50=$(median ${p50[$b]})
            m99=$(median ${p99[$b]})
            n50=$(median ${np50[$b]})
            n99=$(median ${np99[$b]})
        }
        a50=$(awk -v a="$m50" -v n="$n50" 'BEGIN { printf "%+.0f", a - n }')
        a99=$(awk -v a="$m99" -v n="$n99" 'BEGIN { printf "%+.0f", a - n }')
        printf "%-8s %10s %10s %8.0f %8.0f %9.0f %9.0f %10s %10s\n" "$b" \
            "${peak[$b]}" "${rate_of[$b]}" "$m50" "$m99" "$n50" "$n99" "$a50" "$a99"
        LAT_SUMMARY+=("$(printf 'latency    %-6s at %6s req/s (half its peak): p50 %6.0f us, p99 %6.0f us; added to none: p50 %s us, p99 %s us' \
            "$b" "${rate_of[$b]}" "$m50" "$m99" "$a50" "$a99")")
        if [ "$b" = "$LAT_BACKEND" ]; then
            lat_added=("${a99#+}")
            # the same round's none before it
            per_round=$(paste -d ' ' <(tr ' ' '\n' <<< "${p99[$b]# }") \
                            <(tr ' ' '\n' <<< "${np99[$b]# }") \
                        | awk '{ printf " %+.0f", $1 - $2 }')
        fi
    done
    if [ -n "${LAT_GOAL_P99:-}" ]; then
        say "$LAT_BACKEND: p99 added at half its peak <= $LAT_GOAL_P99 us:" \
            "$(below "${lat_added[0]}" "$LAT_GOAL_P99")" \
            "(${lat_added[0]} us; per round:$per_round)"
        LAT_SUMMARY+=("$(printf 'latency    %-6s p99 added %s us (<= %s: %s)' \
            "$LAT_BACKEND" "${lat_added[0]}" "$LAT_GOAL_P99" \
            "$(below "${lat_added[0]}" "$LAT_GOAL_P99")")")
    fi
    # shellcheck disable=SC2086
    say "redis-server used $(median ${side_cpu[$LAT_BACKEND]})% of a CPU at the $LAT_BACKEND rate (median)"
    say "\"!\": loadgen did not keep the rate (the answers fell behind);" \
        "\"late\": requests written 1 ms or more after they were due"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=redis BENCH_LATENCY=1 exec bash "$(dirname "$0")/run.sh"
