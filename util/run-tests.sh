#!/bin/bash
# The integration suite: `prove -r t` with the test servers up.
#
# TEST_NGINX_BINARY        nginx to test (default /usr/sbin/nginx)
# TEST_NGINX_LOAD_MODULES  the module (default build/ngx_astro_module.so)
# TEST_NGINX_REDIS_PORT    and the rest: see util/test-servers.sh
# PROVE_ARGS               extra arguments for prove (default: -r t)
# ASTRO_TEST_RUNNER        which Test::Nginx runs the .t files:
#     auto    CPAN's if it is on the Perl path (PERL5LIB), else t/lib's
#             in-tree subset (the default)
#     intree  t/lib's, whatever the Perl path has
#     cpan    CPAN's, from the Perl path or else ASTRO_CPAN_TEST_NGINX
#             (default ../shared/test-nginx beside the project); when there
#             is none, one line says so and nothing runs (exit 0)
#
# The servers are stopped on exit, also when the tests fail; the exit code
# is prove's.  The first and last lines name the runner.

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

# Which Test::Nginx: t/lib's goes first on the Perl path (-I), CPAN's is
# the one Perl finds without it.
RUNNER=${ASTRO_TEST_RUNNER:-auto}
CPAN_TEST_NGINX=${ASTRO_CPAN_TEST_NGINX:-$(cd "$ROOT/.." && pwd)/shared/test-nginx}

cpan_on_path() { perl -MTest::Nginx::Socket -e1 2>/dev/null; }

case $RUNNER in
    auto)
        if cpan_on_path; then RUNNER=cpan; else RUNNER=intree; fi ;;
    intree) ;;
    cpan)
        if ! cpan_on_path; then
            if [ -f "$CPAN_TEST_NGINX/lib/Test/Nginx/Socket.pm" ]; then
                CPAN_TEST_NGINX=$(cd "$CPAN_TEST_NGINX" && pwd)
                export PERL5LIB=$CPAN_TEST_NGINX/lib${PERL5LIB:+:$PERL5LIB}
            else
                echo "run-tests: CPAN's Test::Nginx is neither on the Perl" \
                     "path nor in $CPAN_TEST_NGINX: not run under it"
                exit 0
            fi
        fi ;;
    *)
        echo "run-tests: ASTRO_TEST_RUNNER must be auto, intree or cpan," \
             "not \"$RUNNER\"" >&2
        exit 2 ;;
esac

inc=()
if [ "$RUNNER" = intree ]; then
    inc=(-I t/lib)
fi

# "t/lib's Test::Nginx 0.29_intree (t/lib/Test/Nginx/Socket.pm)"; the
# in-tree one's version ends in _intree
if ! runner=$(perl "${inc[@]}" -MTest::Nginx::Socket -e '
        my $v = $Test::Nginx::Socket::VERSION;
        printf "%s Test::Nginx %s (%s)",
            ($v =~ /_intree$/ ? "t/lib\x27s" : "CPAN\x27s"), $v,
            $INC{"Test/Nginx/Socket.pm"};' 2>&1); then
    echo "run-tests: Test::Nginx::Socket does not load: $runner" >&2
    exit 1
fi
case $RUNNER/$runner in
    intree/CPAN*|cpan/t/lib*)
        echo "run-tests: wanted $RUNNER, found $runner" >&2; exit 1 ;;
esac

# shellcheck disable=SC2317  # called from the trap
cleanup() { "$ROOT/util/test-servers.sh" stop || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/util/test-servers.sh" start

echo "run-tests: nginx $TEST_NGINX_REAL_BINARY, modules $TEST_NGINX_LOAD_MODULES"
echo "run-tests: runner $runner"
# Test::Nginx's nginx daemonizes: its master is a child of PID 1, and CPAN's
# runner waits until "kill 0" fails, which a zombie passes until PID 1
# reaps it (about 2 s a stop on this project's CI VMs, whose init reaps
# late).  Under tini -s, the subreaper of the tests' processes, an exited
# master is reaped at once.
reaper=()
if command -v tini >/dev/null 2>&1; then
    reaper=(tini -s --)
else
    echo "run-tests: no tini (Debian's tini): exited nginx masters wait" \
         "for PID 1 to reap them"
fi
rc=0
# shellcheck disable=SC2086
"${reaper[@]}" prove "${inc[@]}" ${PROVE_ARGS:--r t} || rc=$?
if [ $rc -eq 0 ]; then
    echo "run-tests: passed under $runner"
else
    echo "run-tests: FAILED (prove exit $rc) under $runner"
fi
exit $rc
