#!/bin/bash
# The integration suite: `prove -r t` with the test servers up.
#
# TEST_NGINX_BINARY        nginx to test (default /usr/sbin/nginx)
# TEST_NGINX_LOAD_MODULES  the module (default build/ngx_astro_module.so)
# TEST_NGINX_REDIS_PORT    and the rest: see util/test-servers.sh
# PROVE_ARGS               extra arguments for prove (default: -r t)
#
# The servers are stopped on exit, also when the tests fail; the exit code
# is prove's.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
# empty: an nginx with the modules built in (make test-asan)
export TEST_NGINX_LOAD_MODULES=${TEST_NGINX_LOAD_MODULES-$ROOT/build/ngx_astro_module.so}
# The tests sleep and play scenarios with the echo module (Debian's
# libnginx-mod-http-echo).
ECHO_MODULE=${ASTRO_ECHO_MODULE:-/usr/lib/nginx/modules/ngx_http_echo_module.so}
export TEST_NGINX_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-6390}
export TEST_NGINX_PG_PORT=${TEST_NGINX_PG_PORT:-6391}
export TEST_NGINX_FAKE_GREET_PORT=${TEST_NGINX_FAKE_GREET_PORT:-6420}
export TEST_NGINX_FAKE_TWICE_PORT=${TEST_NGINX_FAKE_TWICE_PORT:-6421}
export TEST_NGINX_FAKE_LATE_PORT=${TEST_NGINX_FAKE_LATE_PORT:-6422}

# shellcheck disable=SC2086  # a list of paths
for f in "$TEST_NGINX_BINARY" $TEST_NGINX_LOAD_MODULES "$ECHO_MODULE"; do
    [ -e "$f" ] || { echo "run-tests: missing $f" >&2; exit 1; }
done

# Debian's nginx logs configuration errors to stderr: the wrapper runs it
# with "-e logs/error.log", where "--- must_die" tests look for them.
export TEST_NGINX_REAL_BINARY=$TEST_NGINX_BINARY
export TEST_NGINX_BINARY=$ROOT/t/lib/nginx-errlog-wrapper
export TEST_NGINX_LOAD_MODULES="$ECHO_MODULE $TEST_NGINX_LOAD_MODULES"

# The installed Test::Nginx if there is one, else the in-tree runner.
inc=()
if ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    inc=(-I t/lib)
fi

cleanup() { "$ROOT/util/test-servers.sh" stop || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/util/test-servers.sh" start

echo "run-tests: nginx $TEST_NGINX_REAL_BINARY, modules $TEST_NGINX_LOAD_MODULES"
# shellcheck disable=SC2086
prove "${inc[@]}" ${PROVE_ARGS:--r t}
