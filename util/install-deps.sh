#!/bin/bash
# Install what building and testing astro needs on Debian 12 (bookworm).
#
#   util/install-deps.sh         packages only
#   util/install-deps.sh --src   also deb-src lines and the nginx source
#                                (build/src/nginx_1.22.1.orig.tar.gz), for
#                                `make test-asan`
#   util/install-deps.sh --browser  also Debian's chromium, for the test
#                                of the dashboard in a browser
#
# Idempotent: installs only what is missing, runs `apt-get update` only
# when something must be installed, and prints nothing when all is there.
# Installing nginx, redis-server, postgresql or prometheus never leaves
# their system services running.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ASTRO_BUILD_DIR:-$ROOT/build}
SRC_DIR=$BUILD/src
NGINX_SRC_VERSION=${ASTRO_NGINX_SRC_VERSION:-1.22.1-9+deb12u9}
NGINX_ORIG=nginx_1.22.1.orig.tar.gz
SRC_LIST=/etc/apt/sources.list.d/astro-src.sources

PACKAGES=(
    build-essential dpkg-dev curl
    nginx nginx-dev libnginx-mod-http-echo
    libhiredis-dev libjansson-dev libpq-dev libpcre2-dev libssl-dev zlib1g-dev
    redis-server postgresql
    wrk libcmocka-dev gdb tini
    debhelper lintian prometheus
    libtest-base-perl libipc-run-perl liblist-moreutils-perl
    libtest-longstring-perl libtext-diff-perl libwww-perl
)

want_src=no
for arg in "$@"; do
    case $arg in
        --src) want_src=yes ;;
        --browser) PACKAGES+=(chromium) ;;
        -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install-deps: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

say() { echo "install-deps: $*"; }

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

apt_updated=no
apt_update() {
    if [ $apt_updated = no ]; then
        say "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        apt_updated=yes
    fi
}

# Services the packages ship; a fresh install must not leave them running.
SERVICES=(nginx redis-server postgres prometheus)

running_services() {
    local s
    for s in "${SERVICES[@]}"; do
        if pgrep -x "$s" >/dev/null 2>&1; then echo "$s"; fi
    done
}

stop_new_services() {
    # $1: services that were running before the install
    local s before=" $1 "
    for s in $(running_services); do
        case $before in *" $s "*) continue ;; esac
        say "stopping the $s service the install started"
        case $s in
            postgres) "${SUDO[@]}" service postgresql stop >/dev/null 2>&1 || true ;;
            *) "${SUDO[@]}" service "$s" stop >/dev/null 2>&1 || true ;;
        esac
        sleep 1
        if pgrep -x "$s" >/dev/null 2>&1; then
            "${SUDO[@]}" pkill -x "$s" || true
        fi
    done
}

install_packages() {
    local before policy=/usr/sbin/policy-rc.d own_policy=no
    before=$(running_services | tr '\n' ' ')

    # Forbid invoke-rc.d from starting services during the install.
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\n# astro install-deps: no service starts\nexit 101\n' \
            | "${SUDO[@]}" tee $policy >/dev/null
        "${SUDO[@]}" chmod 755 $policy
        own_policy=yes
    fi

    apt_update
    say "installing: $*"
    local rc=0
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@" || rc=$?

    if [ $own_policy = yes ]; then
        "${SUDO[@]}" rm -f $policy
    fi
    stop_new_services "$before"
    return $rc
}

# --src is for `make test-asan`, which builds with clang.
if [ $want_src = yes ]; then
    PACKAGES+=(clang)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    install_packages "${missing[@]}"
fi

[ $want_src = yes ] || exit 0


# --src: deb-src lines and the nginx source tarball.

if [ -f "$SRC_DIR/$NGINX_ORIG" ] && tar -tzf "$SRC_DIR/$NGINX_ORIG" >/dev/null 2>&1; then
    exit 0
fi

src_list_text() {
    cat <<'END'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
END
}

if ! src_list_text | cmp -s - "$SRC_LIST"; then
    say "writing $SRC_LIST"
    src_list_text | "${SUDO[@]}" tee "$SRC_LIST" >/dev/null
    apt_updated=no
    apt_update
fi
# (no `grep -q` on a pipe: with pipefail its early exit fails the pipe)
src_versions() { apt-cache showsrc nginx 2>/dev/null | sed -n 's/^Version: //p'; }
versions=$(src_versions)
if [ -z "$versions" ]; then
    apt_update
    versions=$(src_versions)
fi

mkdir -p "$SRC_DIR"
cd "$SRC_DIR"
# apt downloads as _apt when it can write there, else it warns.
chown _apt "$SRC_DIR" 2>/dev/null || true

say "fetching the nginx source into $SRC_DIR"
# Only the upstream tarball is needed; a mirror missing the .dsc or the
# Debian diff is no failure as long as the tarball came.
rc=0
if grep -qxF "$NGINX_SRC_VERSION" <<<"$versions"; then
    apt-get source -q --download-only "nginx=$NGINX_SRC_VERSION" || rc=$?
else
    say "nginx source $NGINX_SRC_VERSION is not available, taking the candidate"
    apt-get source -q --download-only nginx || rc=$?
fi
if [ $rc -ne 0 ] && [ -f "$SRC_DIR/$NGINX_ORIG" ]; then
    say "apt-get source failed (rc $rc) but $NGINX_ORIG arrived; going on"
fi

if [ ! -f "$SRC_DIR/$NGINX_ORIG" ]; then
    echo "install-deps: $SRC_DIR/$NGINX_ORIG is missing after apt-get source" >&2
    exit 1
fi
