#!/bin/bash
# bench/shard.sh: the shard scenario of `make bench` (bench/run.sh),
# ngx_astro_shard_module's routing by a key against nginx's own
# `hash ... consistent`. Alone: bash bench/shard.sh (BENCH_SCENARIOS=shard
# bash bench/run.sh). Every request is /?u=N, N one of BENCH_USERS
# (10,000) user ids at random (bench/users.lua), proxied with keepalive
# to one of four backends: a separate plain nginx
# (bench/tier-backends.conf.in, one worker pinned to wrk's CPU, as in the
# tier scenario) on 127.0.0.1:18811..18814. Two parts
# (BENCH_SHARD_PARTS), each with its own instances and backends:
#   shard_static  (bench/shard.conf.in)
#     nginx_hash  `upstream app { hash $arg_u consistent; 4 servers }`
#     astro       4 upstream blocks of one server each and the map
#                 `astro_shard_map bench strategy=hash hash=seed
#                 fill=modulo` over them, `astro_shard_key bench $arg_u`,
#                 `proxy_pass http://$astro_shard_upstream`; goal 0.97
#   shard_pg      (bench/shard-pg.conf.in)
#     static      the astro instance above
#     static      the map of four ranges of 4096 slots on the 4 upstream
#                 blocks, in astro_shard lines (from=, to=)
#     astro       the same map read from PostgreSQL (postgres=): a
#                 cluster of the scenario's own on BENCH_PG_PORT, where a
#                 psql `\watch 0.1` sets the first range's state to
#                 copying (to s1) and back to stable (the same routes),
#                 bumps the version and NOTIFYs ten times a second, from
#                 before the warmup to the end of the rounds (both
#                 columns are measured under it); goal 0.99
# The rounds and the headlines are run_scenario's (bench/lib-rounds.sh).
# Before the rounds: both answer /?u=N with 200 "ok"; astro answers a
# request without u with 400 (astro_shard_missing: the module routes, it
# does not fall back); astro's /which (not measured) names the shard of
# keys whose shard is known (the seed's placement in the static part: "1"
# on s1, "user-7" on s3; the ranges in the pg part: "1" on s0, "user-7"
# on s1) and, in the pg part, a version that moves with the changes. After
# the rounds: the versions astro routed by moved about ten times a second
# (pg part); the backends answered at least every request wrk completed,
# on keepalive connections; no error in the logs. A failed check fails
# the run: a module that routes nothing cannot pass.

# shellcheck disable=SC2034,SC2154  # the settings and run_scenario's locals

SHARD_PARTS=${BENCH_SHARD_PARTS:-static pg}
PG_BIN=${BENCH_PG_BIN:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)}
PG_CHANGER_PID=""   # the psql that changes the map
PG_T0=""            # when the changes started ($EPOCHREALTIME)
PG_V0=""            # the version then

for p in $SHARD_PARTS; do
    case $p in
        static|pg) ;;
        *) die "unknown part \"$p\" in BENCH_SHARD_PARTS (static, pg)" ;;
    esac
done


# --- the parts -----------------------------------------------------------------

# bench_main's entry: the parts of BENCH_SHARD_PARTS, in order
shard_run() {
    local p
    for p in $SHARD_PARTS; do
        run_scenario "shard_$p"
    done
}

shard_common_settings() {
    BODY=$'ok\n'
    SIDE=backends
    WRK_SCRIPT=$BENCH/users.lua
}

shard_static_settings() {
    shard_common_settings
    BASE=nginx_hash
    MIN_RATIO=0.97
    CONF_IN=$BENCH/shard.conf.in
    TITLE="ngx_astro_shard_module's static map against nginx's hash"
    TITLE+=" consistent: proxy_pass to 4 backends by \$arg_u, keepalive"
    TITLE+=" $KEEPALIVE, one worker"
    ABOUT="/?u=N, N one of $USERS at random (bench/users.lua);"
    ABOUT+=" nginx_hash: hash \$arg_u consistent over 4 servers; astro:"
    ABOUT+=" astro_shard_map strategy=hash hash=seed over 4 upstream blocks;"
    ABOUT+=" backends: one plain nginx, return 200 on"
    ABOUT+=" 127.0.0.1:$BACKEND_PORT..$((BACKEND_PORT + 3))"
}

shard_pg_settings() {
    shard_common_settings
    BASE=static
    MIN_RATIO=0.99
    CONF_IN=$BENCH/shard-pg.conf.in
    TITLE="ngx_astro_shard_module, the map read from PostgreSQL while it"
    TITLE+=" changes 10 times a second, against the same map in nginx.conf,"
    TITLE+=" one worker"
    ABOUT="/?u=N as the static part, 4 ranges of 4096 slots; static: the"
    ABOUT+=" map of astro_shard lines; astro: the same map from postgres= on"
    ABOUT+=" 127.0.0.1:$PG_PORT, changed, versioned and NOTIFYed by a psql"
    ABOUT+=" \\watch 0.1 during both columns' warmup and rounds"
}

# run_scenario's hooks are named for the part it runs (shard_static_start
# and so on): each part's are the shard_part_* below, which tell the
# parts apart by $SCENARIO.
for _p in static pg; do
    for _h in start accepts check_answers check_astro after_rounds verdicts stop; do
        eval "shard_${_p}_${_h}() { shard_part_${_h} \"\$@\"; }"
    done
done
unset _p _h

shard_prepare() {
    [ -f "$BENCH/tier-backends.conf.in" ] \
        || die "no $BENCH/tier-backends.conf.in"
    command -v curl >/dev/null 2>&1 || die "no curl: apt-get install curl"
    case " $SHARD_PARTS " in
    *" pg "*)
        if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
            die "no PostgreSQL server (apt-get install postgresql)," \
                "or set BENCH_PG_BIN"
        fi
        ;;
    esac
}

# Before the instances: the backends, and for the pg part PostgreSQL, the
# map and its changes; the baseline of the pg part loads the module too,
# from its own prefix (start_instance copies it only for astro).
shard_part_start() {
    # start_instance reads the backends' template as $SCENARIO-backends.conf.in
    SCENARIO=tier start_instance backends backends "$BACKEND_PORT"
    SIDE_PID=$WORKER_BACKENDS
    if [ "$SCENARIO" = shard_pg ]; then
        mkdir -p "$DIR_S/$BASE"
        cp "$MODULE" "$DIR_S/$BASE/ngx_astro_module.so"
        pg_start
        pg_changes_start
    fi
}

shard_part_stop() {
    pg_changes_stop
    pg_stop
}

# on exit while the backends start (start_instance runs as SCENARIO=tier)
shard_stop() {
    shard_part_stop
}


# --- PostgreSQL ----------------------------------------------------------------

# PostgreSQL refuses to run as root: as root, it runs as the postgres user.
pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_psql() {
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -q -At \
        -v ON_ERROR_STOP=1 "$@"
}

# A cluster of its own in $DIR_S/pg on 127.0.0.1:$PG_PORT, and in its
# database "bench" the tables of docs/shard.md (util/shard-ddl.sql) with
# the map "bench" of
# bench/shard-pg.conf.in: its shards and four ranges of slots.
pg_start() {
    local d=$DIR_S/pg
    pg_stop
    port_busy "$PG_PORT" && die "127.0.0.1:$PG_PORT is in use (set BENCH_PG_PORT)"
    rm -rf "$d"
    mkdir -p "$d"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$d"; fi
    pg_run "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 \
        --no-locale --no-sync > "$d/initdb.log" 2>&1 \
        || { tail -n 5 "$d/initdb.log" >&2; die "initdb failed"; }
    pg_run "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 30 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $d -c fsync=off" \
        start > /dev/null \
        || { tail -n 5 "$d/pg.log" >&2; die "PostgreSQL did not start"; }
    pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench \
        || die "createdb failed"
    pg_psql -f "$ROOT/util/shard-ddl.sql" -f - <<'END' \
        || die "the map's tables could not be made"
INSERT INTO astro_shard_maps (name) VALUES ('bench');
INSERT INTO astro_shard_shards (map, name, upstream) VALUES
    ('bench', 's0', 'users0'), ('bench', 's1', 'users1'),
    ('bench', 's2', 'users2'), ('bench', 's3', 'users3');
INSERT INTO astro_shard_entries (map, from_value, to_value, owner) VALUES
    ('bench', '0', '4096', 's0'), ('bench', '4096', '8192', 's1'),
    ('bench', '8192', '12288', 's2'), ('bench', '12288', '16384', 's3');
END
    say "PostgreSQL on 127.0.0.1:$PG_PORT (pid $(pg_pid)), the map bench:" \
        "4 shards, 4 slot ranges"
}

pg_pid() { head -n 1 "$DIR_S/pg/data/postmaster.pid" 2>/dev/null || true; }

pg_stop() {
    local d=$DIR_S/pg
    [ -n "$PG_BIN" ] && [ -f "$d/data/postmaster.pid" ] || return 0
    pg_run "$PG_BIN/pg_ctl" -D "$d/data" -m fast -w -t 30 stop > /dev/null 2>&1 \
        || say "PostgreSQL in $d did not stop"
}

# the map's version in PostgreSQL
pg_version() {
    pg_psql -c "SELECT version FROM astro_shard_maps WHERE name = 'bench'"
}

# Ten changes a second: one psql, \watch 0.1 (a statement each time, its
# own transaction: the NOTIFY is delivered at its commit) setting the
# first range to copying to s1, then back to stable (a change of the
# map that routes alike: copying reads and writes the owner), with the
# version.
pg_changes_start() {
    local sql=$DIR_S/pg/changes.sql
    cat > "$sql" <<'END'
WITH e AS (
    UPDATE astro_shard_entries
        SET (target, state) = (SELECT CASE state WHEN 'stable'
                                       THEN 's1' END,
                                      CASE state WHEN 'stable'
                                       THEN 'copying' ELSE 'stable' END)
        WHERE map = 'bench' AND from_value = '0' RETURNING 1),
m AS (
    UPDATE astro_shard_maps SET version = version + 1
        WHERE name = 'bench' RETURNING version)
SELECT pg_notify('astro_shard', 'bench'), version FROM m, e \watch 0.1
END
    PG_V0=$(pg_version)
    PG_T0=$EPOCHREALTIME
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -q -At \
        -f "$sql" > /dev/null 2> "$DIR_S/pg/changes.log" &
    PG_CHANGER_PID=$!
    sleep 0.5
    kill -0 "$PG_CHANGER_PID" 2>/dev/null \
        || { cat "$DIR_S/pg/changes.log" >&2; die "the map's changes did not start"; }
    say "the map changes: psql (pid $PG_CHANGER_PID) sets the first range" \
        "copying to s1 or stable, bumps the version and NOTIFYs every 0.1 s"
}

pg_changes_stop() {
    [ -n "$PG_CHANGER_PID" ] || return 0
    kill -TERM "$PG_CHANGER_PID" 2>/dev/null || true
    wait "$PG_CHANGER_PID" 2>/dev/null || true
    PG_CHANGER_PID=""
}


# --- the checks ----------------------------------------------------------------

shard_part_accepts() {
    backend_status accepts
}

# what astro's /which answers for the key $2 on port $1: "shard slot version"
which_shard() {
    curl -s "http://127.0.0.1:$1/which?u=$2" || true
}

# Before the rounds: both answer 200 "ok"; astro refuses a request
# without a key (400: it routes, never falls back); keys whose shard is
# known are on it: the seed's placement in the static part, the ranges
# in the pg part (both instances).
shard_part_check_answers() {
    local port got code want v1 v2 k s slot gs gslot
    # the routed requests of the checks (astro's /?u= and /which), for
    # check_astro; the one without a key is refused, not routed
    check_bodies "/?u=1" "/?u=2"
    CHECKED=2
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_ASTRO/") || true
    [ "$code" = 400 ] \
        || die "astro answers a request without u with $code, not 400:" \
               "the module does not route"
    local -a wants=("1 s1 49" "2 s2 50" "user-7 s3 5451")
    [ "$SCENARIO" != shard_pg ] || wants=("1 s0 49" "2 s0 50" "user-7 s1 5451")
    for port in $PORT_ASTRO $([ "$SCENARIO" = shard_pg ] && echo "$PORT_PLAIN"); do
        for want in "${wants[@]}"; do
            read -r k s slot <<< "$want"
            got=$(which_shard "$port" "$k")
            read -r gs gslot _ <<< "$got"
            [ "$port" != "$PORT_ASTRO" ] || CHECKED=$((CHECKED + 1))
            [ "$gs $gslot" = "$s $slot" ] \
                || die "127.0.0.1:$port/which?u=$k answers \"$got\", not" \
                       "\"$s $slot ...\""
        done
    done
    say "both answer /?u=N with 200 \"ok\"; astro refuses / without u (400)" \
        "and places u=1, u=2 and u=user-7 (slots 49, 50, 5451) on" \
        "$(for want in "${wants[@]}"; do read -r _ s _ <<< "$want"; printf '%s ' "$s"; done)"
    if [ "$SCENARIO" = shard_pg ]; then
        read -r _ _ v1 <<< "$(which_shard "$PORT_ASTRO" 1)"
        sleep 1
        read -r _ _ v2 <<< "$(which_shard "$PORT_ASTRO" 1)"
        CHECKED=$((CHECKED + 2))
        if ! is_uint "$v1" || ! is_uint "$v2" || [ "$v2" -lt $((v1 + 5)) ]; then
            die "astro's map version went from \"$v1\" to \"$v2\" in 1 s:" \
                "it does not follow PostgreSQL's 10 changes a second"
        fi
        say "astro routes by the map of PostgreSQL: version $v1, then $v2" \
            "one second later"
    fi
}

# After the rounds (and before each restart): astro's map "bench" routed
# every request wrk completed ($2) and at most $3 more (in flight when
# wrk stopped), to each of its four shards, none refused but the check's
# request without a key, and no upstream error. Otherwise the module
# did not route these requests.
shard_part_check_astro() {
    local metrics=$1 completed=$2 slack=$3 total rejected errors n per="" i
    local m='map="bench"'
    total=$(zone_count "$metrics" astro_shard_requests_total "$m")
    rejected=$(zone_count "$metrics" astro_shard_rejected_total "$m")
    errors=$(zone_count "$metrics" astro_shard_errors_total "$m")
    if [ "$total" -lt "$completed" ] || [ "$total" -gt $((completed + slack)) ]; then
        die "astro's map bench routed $total requests, wrk completed" \
            "$completed (and had at most $slack more in flight)"
    fi
    [ "$errors" = 0 ] || die "astro's map bench: $errors upstream errors"
    [ "$rejected" -le 1 ] || die "astro's map bench refused $rejected requests"
    for i in 0 1 2 3; do
        n=$(zone_count "$metrics" astro_shard_requests_total "$m" "shard=\"s$i\"")
        [ "$n" -gt 0 ] || die "astro's map bench: no request for s$i"
        per+=" $n"
    done
    say "astro: the map bench routed $total requests (wrk completed" \
        "$completed, at most $slack more in flight), per shard$per;" \
        "0 upstream errors"
}

# After the rounds: the backends answered every request wrk completed
# through either instance, on keepalive connections; in the pg part, the
# version astro routes by is the one in PostgreSQL (within a second's
# changes), and the number of changes made.
shard_part_after_rounds() {
    local v_nginx v_pg secs
    check_backends $((base_requests + astro_requests + extra_requests
                      + restarted_requests))
    check_logs backends
    if [ "$SCENARIO" = shard_pg ]; then
        read -r _ _ v_nginx <<< "$(which_shard "$PORT_ASTRO" 1)"
        v_pg=$(pg_version)
        secs=$(awk -v t0="$PG_T0" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", t1 - t0 }')
        if ! is_uint "$v_nginx" || [ "$v_nginx" -lt $((v_pg - 10)) ] \
           || [ "$v_nginx" -gt "$v_pg" ]; then
            die "astro routes by version \"$v_nginx\" of the map," \
                "PostgreSQL has $v_pg"
        fi
        say "PostgreSQL: $((v_pg - PG_V0)) changes of the map in ${secs}s;" \
            "astro routes by version $v_nginx (PostgreSQL's: $v_pg)"
    fi
}

shard_part_verdicts() {
    say "the measured worker's share of its CPU (medians): $BASE" \
        "$(median "${base_pct[@]}")%, astro $(median "${astro_pct[@]}")%;" \
        "the backends' worker ${rcpu}% (during astro's rounds, on CPU" \
        "${BACKEND_CPU:-any})"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || BENCH_SCENARIOS=shard exec bash "$(dirname "$0")/run.sh"
