#!/bin/bash
# bench/cache.sh: the cache scenario of `make bench` (bench/run.sh),
# ngx_astro_cache_module's TTL policies over nginx's proxy_cache against
# proxy_cache_valid. Alone: bash bench/cache.sh (BENCH_SCENARIOS=cache
# bash bench/run.sh). Both instances (bench/cache.conf.in) cache in
# nginx's file cache on tmpfs (BENCH_CACHE_DIR) and proxy to an origin of
# their own, a plain nginx (bench/cache-backends.conf.in) pinned to wrk's
# CPU. The scenario has four parts (BENCH_CACHE_PARTS), each with its own
# instances, origin and cache directory:
#   cache_hit   one URI, stored before the rounds: every request a HIT
#   cache_keys  BENCH_USERS (10,000) URIs at random (bench/users.lua,
#               "/?u=N"), each stored before the rounds: every request a
#               HIT of one of many keys
#   cache_miss  a URI never asked before in every request
#               (bench/unique.lua): every request a MISS, proxied to the
#               origin and stored
#     plain     proxy_cache + proxy_cache_valid 200 5m
#     astro     proxy_cache + astro_cache, the class's TTL 5m, no
#               proxy_cache_valid: the module's header filter decides
#               the TTL, or nothing is stored
#     The rounds and the headline are run_scenario's (throughput ratio,
#     goal 0.97). Before the rounds both must answer from the cache (a
#     HIT on the second request), after them the origin must have seen
#     no request of the hit parts' rounds, and one for each request of
#     the miss part's; the astro zone's counters must match wrk's count.
#   cache_hot   one hot URI of a slow origin (50 ms): plain nginx serving
#               stale while one background request updates
#               (proxy_cache_use_stale updating, proxy_cache_background_update
#               on, proxy_cache_valid 200 2s) against astro's refresh-ahead
#               (class TTL 2s, refresh=50%, background_update on);
#               BENCH_HOT_ROUNDS runs of BENCH_HOT_DURATION seconds each,
#               in turns, of wrk --latency: the origin's requests (its
#               log) and the clients' p50, p99 and longest wait. Not a
#               ratio with a goal: the counts and the latencies are
#               reported as they are.
# A failed check fails the run: an astro instance that stores nothing
# (the module not acting) cannot pass.

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

CACHE_DIR=${BENCH_CACHE_DIR:-/dev/shm/astro-bench-cache}
CACHE_PARTS=${BENCH_CACHE_PARTS:-hit keys miss hot}
HOT_DURATION=${BENCH_HOT_DURATION:-10}
HOT_ROUNDS=${BENCH_HOT_ROUNDS:-3}
HOT_URI=/slow/hot

for v in HOT_DURATION HOT_ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] \
        || die "BENCH_$v must be a positive number, not \"${!v}\""
done
for p in $CACHE_PARTS; do
    case $p in
        hit|keys|miss|hot) ;;
        *) die "unknown part \"$p\" in BENCH_CACHE_PARTS (hit, keys, miss, hot)" ;;
    esac
done
[[ $CACHE_DIR =~ ^/[A-Za-z0-9_./-]+$ ]] \
    || die "BENCH_CACHE_DIR must be an absolute path, not \"$CACHE_DIR\""


# --- the parts -----------------------------------------------------------------

# bench_main's entry: the parts of BENCH_CACHE_PARTS, in order
cache_run() {
    local p
    for p in $CACHE_PARTS; do
        if [ "$p" = hot ]; then
            cache_hot
        else
            run_scenario "cache_$p"
        fi
    done
}

# what every part shares (set_scenario's variables)
cache_common_settings() {
    BASE=plain
    MIN_RATIO=0.97
    CONF_IN=$BENCH/cache.conf.in
    BODY=$'ok\n'
    SIDE=origin
}

cache_hit_settings() {
    cache_common_settings
    TITLE="ngx_astro_cache_module, HIT path of one URI: proxy_cache with"
    TITLE+=" astro's class TTL against proxy_cache_valid, one worker"
    ABOUT="GET / stored before the rounds, every request a HIT; cache on"
    ABOUT+=" tmpfs ($CACHE_DIR); origin: one plain nginx on"
    ABOUT+=" 127.0.0.1:$BACKEND_PORT"
}

cache_keys_settings() {
    cache_common_settings
    TITLE="ngx_astro_cache_module, HIT path of $USERS URIs: proxy_cache with"
    TITLE+=" astro's class TTL against proxy_cache_valid, one worker"
    ABOUT="/?u=N, N one of $USERS at random (bench/users.lua), all stored"
    ABOUT+=" before the rounds, every request a HIT; cache on tmpfs"
    WRK_SCRIPT=$BENCH/users.lua
}

cache_miss_settings() {
    cache_common_settings
    TITLE="ngx_astro_cache_module, MISS-and-store path: proxy_cache with"
    TITLE+=" astro's class TTL against proxy_cache_valid, one worker"
    ABOUT="a new URI in every request (bench/unique.lua): a MISS, proxied"
    ABOUT+=" to the origin and stored; cache on tmpfs ($CACHE_DIR), keys"
    ABOUT+=" zone and max_size larger than a run"
    WRK_SCRIPT=$BENCH/unique.lua
}

cache_hot_settings() {
    cache_common_settings
    TITLE="ngx_astro_cache_module, a hot key of a slow origin (50 ms):"
    TITLE+=" refresh-ahead against stale-while-updating, one worker"
    ABOUT="GET $HOT_URI, $HOT_ROUNDS runs of ${HOT_DURATION}s each (wrk"
    ABOUT+=" -c$CONNECTIONS --latency); plain: proxy_cache_valid 200 2s,"
    ABOUT+=" proxy_cache_use_stale updating, proxy_cache_background_update"
    ABOUT+=" on; astro: astro_cache_ttl 2s refresh=50%,"
    ABOUT+=" proxy_cache_background_update on"
}

# The hooks of run_scenario (bench/lib-rounds.sh) are named for the
# scenario it runs, cache_hit_start and so on: each part's are the
# cache_part_* below, which tell the parts apart by $SCENARIO.
for _p in hit keys miss hot; do
    for _h in start accepts check_answers check_astro after_rounds stop; do
        eval "cache_${_p}_${_h}() { cache_part_${_h} \"\$@\"; }"
    done
done
unset _p _h

cache_prepare() {
    [ -f "$BENCH/cache-backends.conf.in" ] \
        || die "no $BENCH/cache-backends.conf.in"
    [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] \
        || die "no /usr/lib/nginx/modules/ngx_http_echo_module.so:" \
               "apt-get install libnginx-mod-http-echo"
    # the checks read the origin's and the zone's counters
    command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
}

# Before the instances: their cache directories on tmpfs, new for each
# part ("cache" in each prefix is a link to $CACHE_DIR/PART/NAME), and
# the origin (bench/cache-backends.conf.in).
cache_part_start() {
    local name fs
    rm -rf "${CACHE_DIR:?}/$SCENARIO"
    for name in "$BASE" astro; do
        mkdir -p "$CACHE_DIR/$SCENARIO/$name" "$DIR_S/$name"
        rm -rf "$DIR_S/$name/cache"
        ln -s "$CACHE_DIR/$SCENARIO/$name" "$DIR_S/$name/cache"
    done
    fs=$(stat -f -c %T "$CACHE_DIR" 2>/dev/null || echo unknown)
    [ "$fs" = tmpfs ] \
        || say "note: $CACHE_DIR is on $fs, not tmpfs: the disk is measured too"
    # start_instance reads the origin's template as $SCENARIO-backends.conf.in
    SCENARIO=cache start_instance backends origin "$BACKEND_PORT"
    SIDE_PID=$WORKER_BACKENDS
}

# After a part, and on exit (the miss part leaves gigabytes on tmpfs):
# every part's cache directory (not BENCH_CACHE_DIR's other contents)
cache_part_stop() {
    local p
    for p in hit keys miss hot; do
        rm -rf "${CACHE_DIR:?}/cache_$p"
    done
    rmdir "$CACHE_DIR" 2>/dev/null || true
}

# on exit while the origin starts (start_instance runs as SCENARIO=cache)
cache_stop() {
    cache_part_stop
}

# the requests the origin answered so far (its stub_status; each reading
# is one more)
origin_requests() {
    local st requests
    st=$(curl -s "http://127.0.0.1:$BACKEND_PORT/backends/status") || true
    read -r _ _ requests <<< "$(sed -n 3p <<< "$st")"
    is_uint "$requests" || die "no stub_status from the origin: \"$st\""
    echo "$requests"
}

# run_wrk reads this before and after each run: BACKEND_CONNS is then the
# number of requests the origin answered during the run (not connections)
cache_part_accepts() {
    origin_requests
}

# the X-Cache header ($upstream_cache_status) of GET $2 from port $1
x_cache() {
    curl -s -D - -o /dev/null "http://127.0.0.1:$1$2" | tr -d '\r' \
        | sed -n 's/^X-Cache: //Ip'
}

# Fails unless GET $2 of both instances answers X-Cache $1.
both_answer() {
    local port got
    for port in "$PORT_PLAIN" "$PORT_ASTRO"; do
        got=$(x_cache "$port" "$2")
        [ "$got" = "$1" ] \
            || die "127.0.0.1:$port$2 answers X-Cache \"$got\", not $1:" \
                   "$([ "$port" = "$PORT_ASTRO" ] && echo "astro" || echo "$BASE")" \
                   "does not cache as the other does"
    done
}

# GET of each URI of the file $1 from port $2 on one connection (curl
# reuses it): how many answered 200
fetch_all() {
    local port=$2
    awk -v p="$port" '{ printf "url = \"http://127.0.0.1:%s%s\"\noutput = \"/dev/null\"\n", p, $0 }' \
        "$1" > "$1.curl"
    curl -s -K "$1.curl" -w '%{http_code}\n' | grep -c '^200$' || true
}

# Before the rounds, what each part stores: both answer 200 "ok", the
# first request a MISS and the next a HIT (astro with no
# proxy_cache_valid: its class's TTL did that); the keys part stores all
# its keys. CHECKED counts the requests to astro's / that its zone
# counted.
cache_part_check_answers() {
    local list=$DIR_S/keys.txt n port
    case $SCENARIO in
    cache_hit)
        check_bodies /
        both_answer HIT /
        check_same_headers
        CHECKED=3
        say "both answer / with 200 \"ok\", stored: X-Cache HIT"
        ;;
    cache_keys)
        seq -f '/?u=%.0f' 1 "$USERS" > "$list"
        for port in "$PORT_PLAIN" "$PORT_ASTRO"; do
            n=$(fetch_all "$list" "$port")
            [ "$n" = "$USERS" ] \
                || die "127.0.0.1:$port answered $n of the $USERS URIs with 200"
        done
        both_answer HIT "/?u=1"
        both_answer HIT "/?u=$USERS"
        both_answer HIT "/?u=$(((USERS + 1) / 2))"
        CHECKED=$((USERS + 3))
        say "both stored /?u=1 .. /?u=$USERS (X-Cache HIT at the first," \
            "the middle and the last)"
        ;;
    cache_miss)
        check_bodies "/?m=check"
        both_answer MISS "/?m=check-store"
        both_answer HIT "/?m=check-store"
        CHECKED=3
        say "both answer 200 \"ok\"; a new URI: MISS, then HIT (stored)"
        ;;
    esac
}

# what the zone counted of the class $2 (metrics $1): "status=count ..."
class_counts() {
    local s line=""
    for s in hit miss expired stale updating revalidated bypass refresh; do
        line+="$s=$(zone_count "$1" astro_cache_requests_total \
                    'zone="bench"' "class=\"$2\"" "status=\"$s\"") "
    done
    echo "${line% }"
}

# After the rounds (and before each restart): astro's zone counted, for
# the class "page", every request wrk completed ($2) and at most $3 more
# (in flight when wrk stopped), each a HIT or a MISS; in the hit parts
# no MISS but those of check_answers (CHECKED requests: none after a
# restart, the new process finding the entries on tmpfs), in the miss
# part no HIT but those, and a store for each MISS.
cache_part_check_astro() {
    local metrics=$1 completed=$2 slack=$3 total hit miss stored other
    local c='zone="bench"' k='class="page"'
    total=$(zone_count "$metrics" astro_cache_requests_total "$c" "$k")
    hit=$(zone_count "$metrics" astro_cache_requests_total "$c" "$k" 'status="hit"')
    miss=$(zone_count "$metrics" astro_cache_requests_total "$c" "$k" 'status="miss"')
    stored=$(zone_count "$metrics" astro_cache_stored_total "$c" "$k")
    other=$((total - hit - miss))
    if [ "$total" -lt "$completed" ] || [ "$total" -gt $((completed + slack)) ]; then
        die "astro's zone counted $total requests of the class page, wrk" \
            "completed $completed (and had at most $slack more in flight)"
    fi
    [ "$other" = 0 ] \
        || die "astro's zone counted $other requests of the class page" \
               "neither HIT nor MISS: $(class_counts "$metrics" page)"
    case $SCENARIO in
    cache_miss)
        [ "$hit" -le "$CHECKED" ] \
            || die "astro's zone counted $hit HITs in the miss part"
        [ "$stored" -ge "$miss" ] \
            || die "astro's zone stored $stored responses of $miss MISSes"
        ;;
    *)
        [ "$miss" -le "$CHECKED" ] \
            || die "astro's zone counted $miss MISSes in the $SCENARIO part"
        ;;
    esac
    say "astro: the zone counted $total requests of the class page (wrk" \
        "completed $completed, at most $slack more in flight): $hit HIT," \
        "$miss MISS, $stored stored"
    [ "$SCENARIO" != cache_miss ] || miss_prune
}

declare -A MISS_FILES=()   # the miss part's cache files, by column

# The miss part's cache files, never asked for again, removed when the
# rounds are checked (before each restart and at the end, the instances
# idle): 15 rounds would leave about 5 GB per instance on tmpfs. Only
# the level directories go: nginx's temporary files are in the cache's
# top directory (use_temp_path=off), and a store that ends meanwhile
# makes its directories again. MISS_FILES counts what was removed.
miss_prune() {
    local col d n
    for col in "$BASE" astro; do
        d=$CACHE_DIR/$SCENARIO/$col
        n=$(find "$d" -mindepth 2 -type f | wc -l)
        MISS_FILES[$col]=$((${MISS_FILES[$col]:-0} + n))
        find "$d" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
    done
}

# After the rounds (run_scenario's counters: conns[] holds the origin's
# requests of each column's rounds): in the hit parts the origin saw none
# (every request was a HIT, in both), in the miss part one for each
# request wrk completed (every one a MISS) and at most those in flight
# more. Then the cache's size on tmpfs.
cache_part_after_rounds() {
    local col o n slack=$((ROUNDS * CONNECTIONS)) line=""
    for col in "$BASE" astro; do
        o=${conns[$col]:-0}
        n=${round_requests[$col]:-0}
        if [ "$SCENARIO" = cache_miss ]; then
            if [ "$o" -lt "$n" ] || [ "$o" -gt $((n + slack)) ]; then
                die "$col: the origin answered $o requests in the rounds," \
                    "wrk completed $n (each a new URI: a MISS)"
            fi
        elif [ "$o" != 0 ]; then
            die "$col: the origin answered $o requests in the rounds: not" \
                "every request was a HIT"
        fi
        line+="$col $o, "
    done
    say "origin: requests during the rounds (wrk completed $BASE" \
        "${round_requests[$BASE]}, astro ${round_requests[astro]}): ${line%, }"
    if [ "$SCENARIO" = cache_miss ]; then
        say "cache files written on $CACHE_DIR (removed after each round's" \
            "check): $BASE ${MISS_FILES[$BASE]:-0}, astro ${MISS_FILES[astro]:-0}"
    else
        for col in "$BASE" astro; do
            line=$(find "$CACHE_DIR/$SCENARIO/$col" -mindepth 2 -type f | wc -l)
            say "$col's cache on $CACHE_DIR: $line files"
        done
    fi
    check_logs origin
}


# --- the hot key of a slow origin ----------------------------------------------

# the latency $1 of wrk's output ("123.45us", "1.2ms", "2.00s") in ms
wrk_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000
        else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

# One run of the hot part against column $1 (port $2), round $3: GET
# $HOT_URI once (stores it if it expired since the last run), then wrk
# --latency for HOT_DURATION. Sets HOT_ORIGIN (the origin's requests
# during the run: lines of its slow.log), HOT_RPS, HOT_P50, HOT_P99,
# HOT_MAX (ms) and HOT_REQUESTS.
hot_run() {
    local col=$1 port=$2 out=$DIR_S/wrk-$1-$3.txt log=$DIR_S/origin/logs/slow.log
    local o0 o1 errors non2xx
    curl -s -o /dev/null "http://127.0.0.1:$port$HOT_URI" || true
    sleep 0.1
    o0=$(wc -l < "$log")
    "${WRK[@]}" -t"$THREADS" -c"$CONNECTIONS" -d"${HOT_DURATION}s" --latency \
        "http://127.0.0.1:$port$HOT_URI" > "$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=""
        fail_run "$out" "wrk failed ($col, hot round $3)"
    fi
    WRK_PID=""
    sleep 0.2   # a background update started at the end ends (50 ms)
    o1=$(wc -l < "$log")
    HOT_ORIGIN=$((o1 - o0))
    HOT_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    HOT_REQUESTS=$(awk '/ requests in / { print $1 }' "$out")
    HOT_P50=$(wrk_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    HOT_P99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    HOT_MAX=$(wrk_ms "$(awk '$1 == "Latency" && $2 != "Distribution" { print $4; exit }' "$out")")
    errors=$(sed -n 's/^ *Socket errors: *//p' "$out")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$out")
    if [ -z "$HOT_RPS" ] || ! is_uint "$HOT_REQUESTS"; then
        fail_run "$out" "no figures from wrk ($col, hot round $3)"
    fi
    [ -z "$errors" ] || fail_run "$out" "socket errors ($col, hot round $3): $errors"
    [ -z "$non2xx" ] || fail_run "$out" "$non2xx non-2xx responses ($col, hot round $3)"
}

# The hot part: both instances and the origin, HOT_ROUNDS rounds of both
# columns in turns, a table of the origin's requests and the clients'
# latencies, the medians, astro's counts of the class hot.
cache_hot() {
    local round col k st metrics refresh
    local -a cols origin_p origin_a p99_p p99_a max_p max_a rps_p rps_a
    local -a p50_p p50_a

    set_scenario cache_hot
    mkdir -p "$DIR_S"
    rm -f "$DIR_S/restarts.log"

    echo
    say "== $SCENARIO: $TITLE"
    say "$ABOUT"

    cache_part_start
    start_instance base "$BASE" "$PORT_PLAIN"
    start_instance astro astro "$PORT_ASTRO"
    for col in "$BASE" astro; do
        k=$PORT_PLAIN
        [ "$col" = astro ] && k=$PORT_ASTRO
        st=$(curl -s -w '%{http_code}' "http://127.0.0.1:$k$HOT_URI"; echo x) || true
        [ "${st%x}" = "${BODY}200" ] \
            || die "127.0.0.1:$k$HOT_URI answers \"${st%x}\", not 200 \"$BODY\""
    done
    both_answer HIT "$HOT_URI"
    say "both answer $HOT_URI with 200 \"ok\" (after 50 ms), then from the" \
        "cache (X-Cache HIT)"

    echo
    printf '%-6s %14s %14s %11s %11s %11s %11s %11s %11s %10s %10s\n' round \
        "$BASE origin" "astro origin" "$BASE p50" "astro p50" "$BASE p99" \
        "astro p99" "$BASE max" "astro max" "$BASE kr/s" "astro kr/s"
    for ((round = 1; round <= HOT_ROUNDS; round++)); do
        cols=("$BASE" astro)
        [ $((round % 2)) = 1 ] || cols=(astro "$BASE")
        for col in "${cols[@]}"; do
            if [ "$col" = astro ]; then
                hot_run astro "$PORT_ASTRO" "$round"
                origin_a+=("$HOT_ORIGIN"); p50_a+=("$HOT_P50")
                p99_a+=("$HOT_P99"); max_a+=("$HOT_MAX"); rps_a+=("$HOT_RPS")
            else
                hot_run "$BASE" "$PORT_PLAIN" "$round"
                origin_p+=("$HOT_ORIGIN"); p50_p+=("$HOT_P50")
                p99_p+=("$HOT_P99"); max_p+=("$HOT_MAX"); rps_p+=("$HOT_RPS")
            fi
        done
        k=$((round - 1))
        printf '%-6s %14s %14s %8s ms %8s ms %8s ms %8s ms %8s ms %8s ms %10.1f %10.1f\n' \
            "$round" "${origin_p[k]}" "${origin_a[k]}" "${p50_p[k]}" \
            "${p50_a[k]}" "${p99_p[k]}" "${p99_a[k]}" "${max_p[k]}" \
            "${max_a[k]}" "$(awk -v r="${rps_p[k]}" 'BEGIN { print r / 1000 }')" \
            "$(awk -v r="${rps_a[k]}" 'BEGIN { print r / 1000 }')"
    done
    printf '%-6s %14s %14s %8s ms %8s ms %8s ms %8s ms %8s ms %8s ms %10.1f %10.1f\n' \
        median "$(median "${origin_p[@]}")" "$(median "${origin_a[@]}")" \
        "$(median "${p50_p[@]}")" "$(median "${p50_a[@]}")" \
        "$(median "${p99_p[@]}")" "$(median "${p99_a[@]}")" \
        "$(median "${max_p[@]}")" "$(median "${max_a[@]}")" \
        "$(awk -v r="$(median "${rps_p[@]}")" 'BEGIN { print r / 1000 }')" \
        "$(awk -v r="$(median "${rps_a[@]}")" 'BEGIN { print r / 1000 }')"
    echo

    metrics=$(astro_metrics)
    refresh=$(zone_count "$metrics" astro_cache_requests_total 'zone="bench"' \
              'class="hot"' 'status="refresh"')
    say "astro: the class hot since the start (the runs and the GETs before" \
        "them): $(class_counts "$metrics" hot)"
    [ "$refresh" -gt 0 ] \
        || die "astro's zone counted no REFRESH of the class hot: refresh-ahead" \
               "did not act"
    check_logs "$BASE" astro origin

    stop_running
    cache_part_stop
    SIDE_PID=""

    say "the origin's requests in ${HOT_DURATION}s (medians of $HOT_ROUNDS" \
        "runs): $BASE $(median "${origin_p[@]}"), astro $(median "${origin_a[@]}")"
    say "the clients' p99 (medians): $BASE $(median "${p99_p[@]}") ms, astro" \
        "$(median "${p99_a[@]}") ms; the longest wait: $BASE" \
        "$(highest "${max_p[@]}") ms, astro $(highest "${max_a[@]}") ms"
    say "note: nginx keeps validity in whole seconds (an entry valid for N s" \
        "is fresh for N to N + 1 s): under this load plain refreshes about" \
        "every 3 s, astro (fresh for 1 s of its 2 s) every 2 s; nginx holds" \
        "the connection of the request that starts a background update until" \
        "the update ends: plain's next request there waits about 50 ms, astro" \
        "answers that request Connection: close and wrk reconnects"
    SUMMARY+=("$(printf '%-10s %-15s origin requests in %ss %s vs %s, p99 %s vs %s ms (medians of %s runs)' \
        cache_hot "astro/$BASE" "$HOT_DURATION" "$(median "${origin_a[@]}")" \
        "$(median "${origin_p[@]}")" "$(median "${p99_a[@]}")" \
        "$(median "${p99_p[@]}")" "$HOT_ROUNDS")")
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=cache exec bash "$(dirname "$0")/run.sh"
