# bench/lib-nginx.sh: the nginx instances of `make bench` (sourced by
# bench/lib.sh). Each scenario's pair comes from one template,
# bench/SCENARIO.conf.in: lines starting with "#astro# " are only in the
# astro instance, lines starting with "#base# " only in the baseline, and
# @...@ are filled in here. Also their error logs, their status endpoint
# and the checks of their answers before the rounds.

# shellcheck shell=bash disable=SC2153  # BODY, CONF_IN: set_scenario sets them

RUNNING=()   # the prefixes of the instances started

# Whether pid $1 runs: a zombie does not (a daemonized nginx master is
# reaped by pid 1, which may take its time).
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# Waits up to $2 tenths of a second for pid $1 to end.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    ! alive "$1"
}

# Stops the nginx master whose pid is in the pid file of the instance
# whose prefix is $1, and its workers.
stop_instance() {
    local pidfile=$1/logs/nginx.pid pid workers w
    [ -f "$pidfile" ] || return 0
    pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
    if is_uint "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ]; then
        workers=$(pgrep -P "$pid" 2>/dev/null || true)
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 50; then
            say "nginx $1 (pid $pid) did not stop, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 20 || true
        fi
        for w in $workers; do
            if [ "$(cat "/proc/$w/comm" 2>/dev/null)" = nginx ]; then
                kill -KILL "$w" 2>/dev/null || true
            fi
        done
    fi
    rm -f "$pidfile"
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Writes $DIR_S/$2/conf/nginx.conf from the scenario's template for the
# role $1 (base or astro), named $2, on port $3, and starts it. The role
# backends is the scenario's backends, from bench/SCENARIO-backends.conf.in,
# on the four ports from $3.
start_instance() {
    local role=$1 name=$2 port=$3 prefix=$DIR_S/$2 pid="" worker="" i
    local keep drop var=PLAIN conf_in=$CONF_IN ports=$3 p
    local -a check=("$3")

    case $role in
    astro)
        var=ASTRO
        ;;
    backends)
        var=BACKENDS
        conf_in=$BENCH/$SCENARIO-backends.conf.in
        check=("$port" $((port + 1)) $((port + 2)) $((port + 3)))
        ports="$port..$((port + 3))"
        ;;
    esac
    stop_instance "$prefix"   # left by an earlier run killed with SIGKILL
    for p in "${check[@]}"; do
        if port_busy "$p"; then
            [ "$role" = backends ] \
                && die "127.0.0.1:$p is in use (set BENCH_BACKEND_PORT)"
            die "127.0.0.1:$p is in use (set BENCH_PORT_$var)"
        fi
    done

    mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
    rm -f "$prefix/logs/error.log"

    # Load a copy: `make` rewrites build/ngx_astro_module.so in place, and
    # a worker that has the file mapped meanwhile dies of SIGBUS. (The
    # hybrid scenario's baseline, backend=local, loads the module too.)
    [ "$role" = backends ] || cp "$MODULE" "$prefix/ngx_astro_module.so"
    if [ "$role" = astro ]; then
        keep='s/^\([[:space:]]*\)#astro# /\1/'
        drop='/^[[:space:]]*#base# /d'
    else
        keep='s/^\([[:space:]]*\)#base# /\1/'
        drop='/^[[:space:]]*#astro# /d'
    fi
    sed -e "$drop" -e "$keep" \
        -e "s|@MODULE@|$prefix/ngx_astro_module.so|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@AFFINITY@|$AFFINITY|g" \
        -e "s|@HTML@|$HTML|g" \
        -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        -e "s|@PG_PORT@|$PG_PORT|g" \
        -e "s|@REDIS_OPTIONS@|$REDIS_OPTIONS|g" \
        -e "s|@BACKEND_AFFINITY@|$BACKEND_AFFINITY|g" \
        -e "s|@LUA_DIR@|$LUA_DIR|g" \
        -e "s|@HYBRID_REDIS@|$HYBRID_REDIS|g" \
        -e "s|@HYBRID_OPTIONS@|$HYBRID_OPTIONS|g" \
        -e "s|@KEEPALIVE@|$KEEPALIVE|g" \
        -e "s|@BACKEND_PORT1@|$BACKEND_PORT|g" \
        -e "s|@BACKEND_PORT2@|$((BACKEND_PORT + 1))|g" \
        -e "s|@BACKEND_PORT3@|$((BACKEND_PORT + 2))|g" \
        -e "s|@BACKEND_PORT4@|$((BACKEND_PORT + 3))|g" \
        "$conf_in" > "$prefix/conf/nginx.conf"

    if ! "$NGINX" -q -t -p "$prefix/" -c conf/nginx.conf \
             -e "$prefix/logs/error.log" 2>/dev/null; then
        tail -n 5 "$prefix/logs/error.log" >&2 || true
        die "nginx rejects $prefix/conf/nginx.conf"
    fi
    rm -f "$prefix/logs/error.log"

    RUNNING+=("$prefix")
    "$NGINX" -p "$prefix/" -c conf/nginx.conf -e "$prefix/logs/error.log" \
        || { tail -n 5 "$prefix/logs/error.log" >&2 || true;
             die "nginx $name did not start"; }

    for ((i = 0; i < 50; i++)); do
        pid=$(head -n 1 "$prefix/logs/nginx.pid" 2>/dev/null || true)
        if is_uint "$pid"; then
            worker=$(pgrep -P "$pid" 2>/dev/null | head -n 1 || true)
            if [ -n "$worker" ] && port_busy "$port"; then
                break
            fi
        fi
        worker=""
        sleep 0.1
    done
    if [ -z "$worker" ]; then
        tail -n 5 "$prefix/logs/error.log" >&2 || true
        die "nginx $name did not come up on 127.0.0.1:$port"
    fi

    printf -v "WORKER_${var}" '%s' "$worker"

    if command -v taskset >/dev/null 2>&1; then
        say "nginx $name: 127.0.0.1:$ports, master $pid, worker $worker" \
            "(CPUs $(taskset -pc "$worker" | sed 's/.*: //'))"
    else
        say "nginx $name: 127.0.0.1:$ports, master $pid, worker $worker"
    fi
}

# Fails when the error log of an instance of the scenario ($@: their
# names) has an error, crit, alert or emerg line.
check_logs() {
    local name
    for name in "$@"; do
        if grep -q '\[\(error\|crit\|alert\|emerg\)\]' "$DIR_S/$name/logs/error.log" 2>/dev/null; then
            tail -n 5 "$DIR_S/$name/logs/error.log" >&2
            die "errors in $DIR_S/$name/logs/error.log"
        fi
    done
}

# Stops the instances started since the last call.
stop_running() {
    local prefix
    for prefix in "${RUNNING[@]}"; do
        stop_instance "$prefix"
    done
    RUNNING=()
}

# The end of the error logs, when something went wrong.
show_logs() {
    local prefix
    for prefix in "${RUNNING[@]}"; do
        if [ -s "$prefix/logs/error.log" ]; then
            echo "--- $prefix/logs/error.log (end)" >&2
            tail -n 5 "$prefix/logs/error.log" >&2
        fi
    done
}

# Shows the output $1 of a load generator and the end of the error logs,
# and fails with the message $2.
fail_run() {
    cat "$1" >&2
    show_logs
    die "$2"
}

# The astro instance's status in Prometheus form.
astro_metrics() {
    curl -s "http://127.0.0.1:$PORT_ASTRO/astro/status?format=prometheus" || true
}

# A figure of the astro instance's Prometheus metrics $1: the sum of the
# samples whose name and labels start with $2.
metric() {
    awk -v m="$2" 'index($1, m) == 1 { n += $2 } END { printf "%.0f\n", n + 0 }' <<< "$1"
}

# A count of the astro instance's Prometheus metrics $1: the sum of the
# samples of the metric $2 whose labels include each of $3.. (name="value")
zone_count() {
    local metrics=$1 name=$2
    shift 2
    awk -v name="$name" -v labels="$*" '
        BEGIN { n = split(labels, want, " ") }
        index($1, name "{") == 1 {
            for (i = 1; i <= n; i++) if (index($1, want[i]) == 0) next
            sum += $2
        }
        END { printf "%.0f\n", sum + 0 }' <<< "$metrics"
}


# --- the four backends of the tier and shard scenarios ------------------------

# The backends' stub_status: $1 is accepts or requests (the first
# backend's status location counts all four).
backend_status() {
    local st accepts requests
    st=$(curl -s "http://127.0.0.1:$BACKEND_PORT/backends/status") || true
    read -r accepts _ requests <<< "$(sed -n 3p <<< "$st")"
    if ! is_uint "$accepts" || ! is_uint "$requests"; then
        die "no stub_status from the backends: \"$st\""
    fi
    if [ "$1" = accepts ]; then echo "$accepts"; else echo "$requests"; fi
}

# After the rounds: the backends (their stub_status) answered at least the
# $1 requests wrk completed through both instances, on keepalive
# connections: fewer than one connection per 10 requests. Otherwise the
# proxies did not ask them, or reconnected.
check_backends() {
    local completed=$1 accepts requests
    accepts=$(backend_status accepts)
    requests=$(backend_status requests)
    [ "$requests" -ge "$completed" ] \
        || die "the backends answered $requests requests, wrk completed" \
               "$completed through the proxies"
    [ $((accepts * 10)) -le "$requests" ] \
        || die "the backends accepted $accepts connections for $requests" \
               "requests: keepalive is not working"
    say "backends: $requests requests (wrk completed $completed through the" \
        "proxies) on $accepts connections (keepalive)"
}


# --- the checks of the answers, before the rounds ------------------------------

# Before the rounds: the scenario's check_answers (without curl, none).
check_answers() {
    command -v curl >/dev/null 2>&1 || return 0
    hook check_answers
}

# The paths $@ of both instances answer 200 and $BODY.
check_bodies() {
    local port path body
    for port in "$PORT_PLAIN" "$PORT_ASTRO"; do
        for path in "$@"; do
            body=$(curl -s -w '%{http_code}' "http://127.0.0.1:$port$path"; echo x) || true
            body=${body%x}
            [ "$body" = "${BODY}200" ] \
                || die "127.0.0.1:$port$path answers \"$body\", not 200 \"$BODY\""
        done
    done
}

# GET / of both instances answers the same bytes but for Date.
check_same_headers() {
    local hb ha
    hb=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT_PLAIN/" \
             | tr -d '\r' | grep -v '^Date: ')
    ha=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT_ASTRO/" \
             | tr -d '\r' | grep -v '^Date: ')
    if [ "$hb" != "$ha" ]; then
        printf '%s\n---\n%s\n' "$hb" "$ha" >&2
        die "$BASE and astro answer different headers"
    fi
    say "$BASE and astro answer the same status line, headers (but for" \
        "Date) and body"
}

# Fails unless the astro instance's count $2 (its "zone counted" or
# "zone passed", $1) covers the $3 requests wrk completed.
covers_completed() {
    if ! is_uint "$2" || [ "$2" -lt "$3" ]; then
        die "the $1 \"$2\" requests, wrk completed $3"
    fi
}

# After the rounds (and before each restart): the astro instance's own
# counters agree with wrk, by the scenario's check_astro (without curl,
# none). $1 requests completed against it; in the redis and tier
# scenarios, $2: how many more it can have had in flight; in the tier
# scenario, $3 and $4: the same for EXTRA_PATH.
check_astro() {
    command -v curl >/dev/null 2>&1 || return 0
    hook check_astro "$(astro_metrics)" "$@"
}
