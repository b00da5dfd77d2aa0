# shellcheck shell=bash
# Sourced by the t/unit/test_*_lua.sh scripts (not a test itself): TAP's
# ok(), redis-cli against the test's own Redis (rc, rc1), and that Redis:
# start_redis starts redis-server on 127.0.0.1:$PORT with its files in
# $TMP, which the script sets first; on exit it is stopped and $TMP
# removed, after the script's own "on_exit" command when it sets one.

on_exit=

cleanup() {
    local pid
    if [ -n "$on_exit" ]; then
        eval "$on_exit" || true
    fi
    if [ -f "$TMP/redis.pid" ]; then
        pid=$(head -n 1 "$TMP/redis.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

n=0
failed=0

ok() {
    # $1 description, $2 got, $3 expected
    n=$((n + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        echo "#   got:      $2"
        echo "#   expected: $3"
        failed=$((failed + 1))
    fi
}

rc() { redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

# one reply's lines joined by spaces
rc1() { rc "$@" | paste -sd ' '; }

# $1: the variable that sets the port, for the message of a port taken
start_redis() {
    if rc ping >/dev/null 2>&1; then
        echo "Bail out! something already answers on 127.0.0.1:$PORT" \
             "(set $1)"
        exit 1
    fi

    redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
        --daemonize yes --pidfile "$TMP/redis.pid" \
        --logfile "$TMP/redis.log" --dir "$TMP" --save '' \
        --appendonly no >/dev/null

    for _ in $(seq 50); do
        [ "$(rc ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done

    if [ "$(rc ping 2>/dev/null)" != PONG ]; then
        echo "Bail out! redis-server did not start on 127.0.0.1:$PORT"
        cat "$TMP/redis.log" 2>/dev/null || true
        exit 1
    fi

    echo "# $(redis-server --version)"
}
