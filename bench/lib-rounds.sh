# bench/lib-rounds.sh: one scenario of `make bench` (sourced by
# bench/lib.sh): its settings, the rounds, the table, the verdicts and
# the scenario's summary lines.
#
# After a warmup of each, wrk measures baseline, astro in odd rounds and
# astro, baseline in even ones (so that drift hits both and favours
# neither; with a third column, each column is first, second and third
# in turn), with wrk pinned to one CPU and nginx's worker to another when
# there are two. It prints req/s and requests per worker
# CPU-second per round, the medians, their ratios, the median of the
# per-round ratios (the headline) and whether they reach the scenario's
# goal (0.98 health, 0.97 ratelimit, 2.2 redis against openresty, 0.95
# hybrid against local, 0.97 and 0.95 tier, 0.97 cache, 0.97 and 0.99
# shard). In the redis and hybrid scenarios each round also measures gif
# and the CPU time of redis-server per request (goals 5 and 0.5 us) and
# the worker's added to gif's (3 us, redis), in the tier scenario rt.
# It reports and does not assert: it
# exits 0 whatever the ratios, and 1 when a server does not start, on
# errors or non-2xx answers, or when an instance's own counters disagree
# with wrk (or loadgen).
#
# A scenario, bench/SCENARIO.sh, has a function SCENARIO_settings (the
# variables below) and may have these, which run_scenario calls (they see
# its locals, bash's scope being dynamic):
#   SCENARIO_prepare       checks the tools it needs, before any scenario
#   SCENARIO_start         starts its own processes (redis-server, the
#                          backends) before the measured instances
#   SCENARIO_check_answers what the instances answer, before the rounds
#   SCENARIO_after_warmup  after the first warmup
#   SCENARIO_accepts       the connections its backends accepted so far
#                          (read before and after each wrk run)
#   SCENARIO_check_astro   the astro instance's counters against wrk's
#   SCENARIO_after_rounds  its own checks and figures after the rounds
#   SCENARIO_verdicts      its own lines among the verdicts
#   SCENARIO_stop          stops its own processes (also on exit)

# shellcheck shell=bash disable=SC2034,SC2153  # variables shared by bench/*.sh

CHECKED=0         # requests of check_answers that astro's / counted
CHECKED_EXTRA=0   # and its EXTRA_PATH (the tier scenario)
LAT_SUMMARY=()    # lines of the summary after the scenario's own


# --- one scenario --------------------------------------------------------------

# Sets the current scenario's settings from its name $1, the defaults
# here, the rest by SCENARIO_settings:
#   SCENARIO, CONF_IN   the name and the template
#   BASE                the baseline's name, in the table and the verdicts
#   MIN_RATIO           the goal for astro/BASE
#   TITLE, ABOUT        what is measured, printed before the rounds
#   HTML                the document root of the instances ("" if none)
#   BODY                what GET / answers, checked before the rounds
#   DIR_S               the instances' prefixes and wrk's output
#   WRK_SCRIPT          wrk's -s for every measurement ("" if none)
#   EXTRA, EXTRA_PATH   a third column of each round: its name and the
#                       path of the astro instance it requests ("" if none)
#   EXTRA_VS            what the third column is compared with: "astro"
#                       (astro/EXTRA, the redis scenario) or "base"
#                       (EXTRA/BASE, a second comparison with its own goal)
#   EXTRA_MIN_RATIO     the goal for EXTRA/BASE (EXTRA_VS=base)
#   SIDE                the name of the process (redis, backends) whose
#                       share of a CPU each round reports ("" if none),
#                       and its CPU time per request of each column
#   SIDE_GOAL           the goal for SIDE's CPU time per request of astro,
#                       in us ("" if none)
#   ADDED_CPU_GOAL      with EXTRA_VS=astro, the goal for the worker's CPU
#                       time per request of astro less EXTRA's, in us
#   CONNECTIONS         wrk's -c (BENCH_CONNECTIONS unless set here)
#   LAT_BACKEND, LAT_ZONE   the latency part's backend on / and its zone
#                       (bench/latency.sh: redis and r)
#   LAT_GOAL_P99        the goal for the p99 latency it adds, us ("": none)
set_scenario() {
    SCENARIO=$1
    CONF_IN=$BENCH/$1.conf.in
    DIR_S=$DIR/$1
    HTML=""
    WRK_SCRIPT=""
    EXTRA=""
    EXTRA_PATH=""
    EXTRA_VS=astro
    EXTRA_MIN_RATIO=""
    SIDE=""
    SIDE_GOAL=""
    ADDED_CPU_GOAL=""
    LAT_BACKEND=redis
    LAT_ZONE=r
    LAT_GOAL_P99=""
    CONNECTIONS=$CONNECTIONS_ALL

    hook settings

    if [ -n "$MIN_RATIO_ALL" ]; then
        MIN_RATIO=$MIN_RATIO_ALL
        [ -z "$EXTRA_MIN_RATIO" ] || EXTRA_MIN_RATIO=$MIN_RATIO_ALL
    fi
}

# wrk for $1 on each column (of run_scenario, whose counters it adds to),
# its outputs in wrk-warmup$2-*.txt
warm_up() {
    run_wrk "warmup$2-$BASE" "$PORT_PLAIN" "$1"
    base_requests=$((base_requests + REQUESTS))
    run_wrk "warmup$2-astro" "$PORT_ASTRO" "$1"
    astro_requests=$((astro_requests + REQUESTS))
    astro_runs=$((astro_runs + 1))
    if [ -n "$EXTRA" ]; then
        run_wrk "warmup$2-$EXTRA" "$PORT_ASTRO" "$1" "$EXTRA_PATH"
        extra_requests=$((extra_requests + REQUESTS))
        extra_runs=$((extra_runs + 1))
    fi
}

# Before each round but the first (BENCH_RESTART=1): checks the measured
# instances as after the rounds (their counters against wrk's, their
# error logs), then starts both again, so that each round measures new
# processes. The address-space layout that ASLR gives a process moves its
# speed by a few percent (two identical instances measured 0.965 and
# 0.972 of each other over 20 and 30 rounds, and 0.993 to 1.056 when
# started again for each round: bench/README.md); without restarts, one
# draw of that lottery would stay with one side for the whole run. What
# the checks and starts print goes to $DIR_S/restarts.log. Then each
# column is warmed up for BENCH_ROUND_WARMUP.
restart_measured() {
    local prefix kept
    {
        echo "== before round $round"
        check_astro $((astro_requests + CHECKED)) $((astro_runs * CONNECTIONS)) \
            $((extra_requests + CHECKED_EXTRA)) $((extra_runs * CONNECTIONS))
        check_logs "$BASE" astro
        stop_instance "$DIR_S/$BASE"
        stop_instance "$DIR_S/astro"
        kept=()
        for prefix in "${RUNNING[@]}"; do
            [ "$prefix" = "$DIR_S/$BASE" ] || [ "$prefix" = "$DIR_S/astro" ] \
                || kept+=("$prefix")
        done
        RUNNING=("${kept[@]}")
        start_instance base "$BASE" "$PORT_PLAIN"
        start_instance astro astro "$PORT_ASTRO"
    } >> "$DIR_S/restarts.log"
    restarted_requests=$((restarted_requests + astro_requests + extra_requests))
    restarts=$((restarts + 1))
    astro_requests=0
    astro_runs=0
    extra_requests=0
    extra_runs=0
    CHECKED=0
    CHECKED_EXTRA=0
    [ "$ROUND_WARMUP" = 0 ] || warm_up "$ROUND_WARMUP" "-$round"
}

# The headline of the column $1 (astro, or EXTRA with EXTRA_VS=base)
# against the baseline, whose verdict line starts with $2 ("" or
# "EXTRA "): the median of its per-round throughput ratios ($5 on), their
# 95% bootstrap interval, whether it reaches the goal $3; and its summary
# line, with $4, the ratio of the medians per worker CPU-second.
headline() {
    local col=$1 prefix=$2 goal=$3 eff=$4 paired interval verdict
    shift 4
    paired=$(median3 "$@")
    interval=$(median_interval "$@")
    say "$col/$BASE, median of the per-round throughput ratios: $paired" \
        "(95% bootstrap interval $interval)"
    verdict=$(meets "$paired" "$goal")
    say "${prefix}throughput ratio >= $goal: $verdict"
    SUMMARY+=("$(printf '%-10s %-15s %s (>= %s: %s; 95%% interval %s; rounds %s..%s), per CPU-second %s' \
        "$SCENARIO" "$col/$BASE" "$paired" "$goal" "$verdict" "$interval" \
        "$(lowest "$@")" "$(highest "$@")" "$eff")")
}

# The verdict and summary line of a cost named $1 whose goal is at most $2
# us, from its per-round values ($4 on; $3 ends the summary line): their
# median and its 95% bootstrap interval.
cost_verdict() {
    local name=$1 goal=$2 tail=$3 verdict
    shift 3
    verdict=$(below "$(median "$@")" "$goal")
    say "$name <= $goal us: $verdict"
    SUMMARY+=("$(printf '%-10s %-15s %s us (<= %s: %s; 95%% interval %s%s)' \
        "$SCENARIO" "$name" "$(median3 "$@")" "$goal" "$verdict" \
        "$(median_interval "$@")" "$tail")")
}

# A row of run_scenario's table (its widths w, we and sw): the round or
# "median" $1, the baseline's and astro's req/s ($2, $3) and their ratio
# $4, their requests per worker CPU-second ($5, $6) and ratio $7; with
# EXTRA, its req/s $8 and a ratio $9 (astro/EXTRA or EXTRA/BASE), with
# EXTRA_VS=base also its req/cpu-s ${10} and their ratio ${11}; with SIDE,
# its share of a CPU ${12}.
table_row() {
    printf "%-6s %${w}.0f %${w}.0f %8s %${we}.0f %${we}.0f %8s" "$1" "$2" \
        "$3" "$4" "$5" "$6" "$7"
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = astro ]; then
        printf " %12.0f %11s" "$8" "$9"
    elif [ -n "$EXTRA" ]; then
        printf " %${w}.0f %8s %${we}.0f %8s" "$8" "$9" "${10}" "${11}"
    fi
    [ -z "$SIDE" ] || printf " %$((sw - 1))s%%" "${12}"
    echo
}

# Runs the scenario $1: starts both instances (and the scenario's
# redis-server or backends), measures, checks, prints the table and the
# verdicts, stops them.
run_scenario() {
    local round col cols k p a pe ae r re rc ratio eff_ratio rmin rmax
    local x="" xe="" rx="" rxe="" xratio="" xeff_ratio="" xrmin xrmax xpaired
    local rcpu="" astro_requests=0 astro_runs=0 w=12 we=14 sw=10
    local restarted_requests=0 restarts=0 base_requests=0
    local extra_requests=0 extra_runs=0
    local -A conns=() round_requests=()   # the backends' connections
    local -a base=() astro=() extra=() ratios=() xratios=() base_eff=()
    local -a astro_eff=() rcpus=() extra_eff=() astro_all=()
    local -a base_pct=() astro_pct=() extra_pct=()
    local -a base_side=() astro_side=() added_cpu=()

    set_scenario "$1"
    mkdir -p "$DIR_S"
    rm -f "$DIR_S/restarts.log"
    CHECKED=0
    CHECKED_EXTRA=0
    LAT_SUMMARY=()

    echo
    say "== $SCENARIO: $TITLE"
    say "$ABOUT"
    [ "$CONNECTIONS" = "$CONNECTIONS_ALL" ] \
        || say "wrk -c$CONNECTIONS in this scenario"

    if [ -n "$HTML" ]; then
        mkdir -p "$HTML"
        printf '%s' "$BODY" > "$HTML/index.html"
    fi

    hook start
    start_instance base "$BASE" "$PORT_PLAIN"
    start_instance astro astro "$PORT_ASTRO"
    check_answers

    say "warmup"
    warm_up "$WARMUP" ""
    hook after_warmup

    # the columns are as wide as the baseline's (and SIDE's) name needs
    [ $((${#BASE} + 6)) -le "$w" ] || w=$((${#BASE} + 6))
    [ $((${#BASE} + 8)) -le "$we" ] || we=$((${#BASE} + 8))
    [ $((${#SIDE} + 4)) -le "$sw" ] || sw=$((${#SIDE} + 4))

    # req/s is wrk's throughput; req/cpu-s is requests per second of the
    # worker's own CPU time (user + system, from /proc), which a 2-CPU VM's
    # scheduling noise moves much less than the throughput. With a third
    # column (EXTRA), its req/s and astro's share of it (EXTRA_VS=astro), or
    # its req/s and req/cpu-s and their ratios to the baseline's
    # (EXTRA_VS=base); with SIDE (redis-server, the backends), the share of
    # a CPU it used during astro's measurement.
    echo
    printf "%-6s %${w}s %${w}s %8s %${we}s %${we}s %8s" round \
        "$BASE req/s" "astro req/s" ratio "$BASE req/cpu" "astro req/cpu" ratio
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = astro ]; then
        printf " %12s %11s" "$EXTRA req/s" "astro/$EXTRA"
    elif [ -n "$EXTRA" ]; then
        printf " %${w}s %8s %${we}s %8s" "$EXTRA req/s" ratio \
            "$EXTRA req/cpu" ratio
    fi
    [ -z "$SIDE" ] || printf " %${sw}s" "$SIDE cpu"
    echo
    for ((round = 1; round <= ROUNDS; round++)); do
        [ "$RESTART" = 0 ] || [ "$round" = 1 ] || restart_measured
        # the columns take turns in each place: round 1 measures the
        # baseline first, round 2 astro, round 3 EXTRA, and so on (with two
        # columns, each round reverses the last). A column always second
        # of three would never be first or last, where the other two
        # take whatever those places do to a measurement (bench/README.md).
        cols=("$BASE" astro)
        [ -z "$EXTRA" ] || cols+=("$EXTRA")
        k=$(((round - 1) % ${#cols[@]}))
        cols=("${cols[@]:k}" "${cols[@]:0:k}")
        for col in "${cols[@]}"; do
            case $col in
            "$BASE")
                run_wrk "$BASE-$round" "$PORT_PLAIN" "$DURATION"
                p=$RPS
                pe=$(per_cpu "$REQUESTS" "$CPU")
                base_requests=$((base_requests + REQUESTS))
                base_pct+=("$WORKER_PCT")
                base_side+=("$(us_each "$SIDE_SECS" "$REQUESTS")")
                ;;
            astro)
                run_wrk "astro-$round" "$PORT_ASTRO" "$DURATION"
                a=$RPS
                ae=$(per_cpu "$REQUESTS" "$CPU")
                rc=$SIDE_PCT
                astro_all+=("$(awk -v n="$REQUESTS" -v c="$CPU" -v r="$SIDE_SECS" 'BEGIN { printf "%.0f", n / (c + r) }')")
                astro_requests=$((astro_requests + REQUESTS))
                astro_runs=$((astro_runs + 1))
                astro_pct+=("$WORKER_PCT")
                astro_side+=("$(us_each "$SIDE_SECS" "$REQUESTS")")
                ;;
            *)
                run_wrk "$EXTRA-$round" "$PORT_ASTRO" "$DURATION" "$EXTRA_PATH"
                x=$RPS
                xe=$(per_cpu "$REQUESTS" "$CPU")
                extra_requests=$((extra_requests + REQUESTS))
                extra_runs=$((extra_runs + 1))
                extra_eff+=("$xe")
                extra+=("$x")
                extra_pct+=("$WORKER_PCT")
                ;;
            esac
            conns[$col]=$((${conns[$col]:-0} + BACKEND_CONNS))
            round_requests[$col]=$((${round_requests[$col]:-0} + REQUESTS))
        done
        r=$(ratio_of "$a" "$p")
        re=$(ratio_of "$ae" "$pe")
        base+=("$p")
        astro+=("$a")
        ratios+=("$r")
        base_eff+=("$pe")
        astro_eff+=("$ae")
        rcpus+=("$rc")
        if [ -n "$EXTRA" ]; then
            if [ "$EXTRA_VS" = astro ]; then
                rx=$(ratio_of "$a" "$x")
                added_cpu+=("$(awk -v a="$ae" -v x="$xe" 'BEGIN { printf "%.3f", 1e6 / a - 1e6 / x }')")
            else
                rx=$(ratio_of "$x" "$p")
                rxe=$(ratio_of "$xe" "$pe")
            fi
            xratios+=("$rx")
        fi
        table_row "$round" "$p" "$a" "$r" "$pe" "$ae" "$re" "$x" "$rx" "$xe" \
            "$rxe" "$rc"
    done

    pe=$(median "${base_eff[@]}")
    ae=$(median "${astro_eff[@]}")
    eff_ratio=$(ratio_of "$ae" "$pe")

    # The headline: the median of the per-round ratios.  A round's two
    # measurements are adjacent in time, so the drift of a noisy VM moves
    # both; the ratio of the medians pairs figures from different rounds.
    p=$(median "${base[@]}")
    a=$(median "${astro[@]}")
    ratio=$(ratio_of "$a" "$p")
    rmin=$(lowest "${ratios[@]}")
    rmax=$(highest "${ratios[@]}")
    if [ -n "$EXTRA" ]; then
        x=$(median "${extra[@]}")
        xe=$(median "${extra_eff[@]}")
        xpaired=$(median3 "${xratios[@]}")
        if [ "$EXTRA_VS" = astro ]; then
            xratio=$(ratio_of "$a" "$x")
        else
            xratio=$(ratio_of "$x" "$p")
            xeff_ratio=$(ratio_of "$xe" "$pe")
            xrmin=$(lowest "${xratios[@]}")
            xrmax=$(highest "${xratios[@]}")
        fi
    fi
    [ -z "$SIDE" ] || rcpu=$(median "${rcpus[@]}")
    table_row median "$p" "$a" "$ratio" "$pe" "$ae" "$eff_ratio" "$x" "$xratio" \
        "$xe" "$xeff_ratio" "$rcpu"
    echo

    if [ "$restarts" -gt 0 ]; then
        say "both instances were started again before each round but the" \
            "first ($restarts times); the checks of the earlier ones passed" \
            "($DIR_S/restarts.log); the last ones':"
    fi
    check_astro $((astro_requests + CHECKED)) $((astro_runs * CONNECTIONS)) \
        $((extra_requests + CHECKED_EXTRA)) $((extra_runs * CONNECTIONS))
    hook after_rounds
    check_logs "$BASE" astro

    stop_running
    hook stop
    SIDE_PID=""

    say "median req/s: $BASE $p, astro $a"
    say "astro/$BASE: $ratio (of the medians; per round min $rmin, max $rmax)"
    say "astro/$BASE, requests per worker CPU-second: $eff_ratio" \
        "(of the medians: $BASE $pe, astro $ae)"
    say "CPU ratio >= $MIN_RATIO: $(meets "$eff_ratio" "$MIN_RATIO")"
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = astro ]; then
        say "astro/$EXTRA (the same content handler without the limiter):" \
            "$xpaired (median of the per-round ratios; of the medians $xratio," \
            "$EXTRA $x req/s)"
        say "the worker's CPU time per request (medians): $BASE" \
            "$(us_per "$pe") us, $EXTRA $(us_per "$xe") us," \
            "astro $(us_per "$ae") us"
        say "the worker's CPU time per request added by the limiter" \
            "(astro - $EXTRA, median of the per-round differences):" \
            "$(median3 "${added_cpu[@]}") us (95% bootstrap interval" \
            "$(median_interval "${added_cpu[@]}") us)"
        [ -z "$ADDED_CPU_GOAL" ] \
            || cost_verdict "worker CPU added" "$ADDED_CPU_GOAL" "" "${added_cpu[@]}"
    elif [ -n "$EXTRA" ]; then
        say "median req/s: $EXTRA $x"
        say "$EXTRA/$BASE: $xratio (of the medians; per round min $xrmin," \
            "max $xrmax)"
        say "$EXTRA/$BASE, requests per worker CPU-second: $xeff_ratio" \
            "(of the medians: $BASE $pe, $EXTRA $xe)"
        say "$EXTRA CPU ratio >= $EXTRA_MIN_RATIO:" \
            "$(meets "$xeff_ratio" "$EXTRA_MIN_RATIO")"
        say "the worker's CPU time per request (medians): $BASE" \
            "$(us_per "$pe") us, astro $(us_per "$ae") us, $EXTRA" \
            "$(us_per "$xe") us"
    fi
    if [ -n "$SIDE" ]; then
        say "$SIDE's CPU time (/proc/PID/stat utime + stime) per request," \
            "median of the rounds: astro $(median3 "${astro_side[@]}") us" \
            "(95% bootstrap interval $(median_interval "${astro_side[@]}") us)," \
            "$BASE $(median3 "${base_side[@]}") us (interval" \
            "$(median_interval "${base_side[@]}") us)"
        [ -z "$SIDE_GOAL" ] \
            || cost_verdict "$SIDE CPU/req" "$SIDE_GOAL" \
                   "; $BASE $(median3 "${base_side[@]}") us" "${astro_side[@]}"
    fi
    hook verdicts
    headline astro "" "$MIN_RATIO" "$eff_ratio" "${ratios[@]}"
    if [ -n "$EXTRA" ] && [ "$EXTRA_VS" = base ]; then
        headline "$EXTRA" "$EXTRA " "$EXTRA_MIN_RATIO" "$xeff_ratio" \
            "${xratios[@]}"
    fi

    [ "${#LAT_SUMMARY[@]}" -eq 0 ] || SUMMARY+=("${LAT_SUMMARY[@]}")
}
