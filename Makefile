# astro: build and test the nginx modules.
#
#   make                      build/ngx_astro_module.so against Debian's nginx
#                             (nginx-dev's /usr/share/nginx/src)
#   make NGINX_SRC=/path      ... against an nginx.org source tree (>= 1.22)
#   make nodebug              the module built as without --with-debug
#   make unit                 C unit tests (cmocka), t/unit/test_*.c
#   make test                 deps, build (and nodebug), unit tests,
#                             integration tests (prove), under t/lib's
#                             Test::Nginx, then CPAN's when it is found
#   make test-asan            the same against nginx and the module built with
#                             AddressSanitizer and UBSan
#   make fuzz                 the libFuzzer harnesses t/fuzz/fuzz_*.c, one
#                             after the other, FUZZ_SECONDS (60) each from
#                             their seeds; fails on a crash (t/fuzz/README.md)
#   make fuzz-regress         each harness once over its seeds and kept
#                             crashes, without fuzzing (seconds)
#   make stress               reloads, kills and restarts under load, checked
#                             (stress/README.md; NGINX=asan: sanitized build)
#   make deb                  build/deb/libnginx-mod-http-astro_*.deb, a
#                             Debian package like Debian's libnginx-mod-*
#                             (dpkg-buildpackage, debian/)
#   make demo                 a local stack in the foreground (Ctrl-C stops it)
#   make bench                bench/run.sh
#   make clean

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

BUILD := $(CURDIR)/build
MODULE := ngx_astro_module
SO := $(BUILD)/$(MODULE).so

# Everything the module is built from: a change to any of these rebuilds it
# (nginx's objs/Makefile then recompiles what changed); a change to
# `config` reconfigures (MODULE_CONFIG).
MODULE_SOURCES := $(wildcard $(CURDIR)/*.c $(CURDIR)/*.h \
                             $(CURDIR)/src/*.c $(CURDIR)/src/*.h)

# The Redis scripts: `config` builds them into a header when nginx is
# configured, so a change to one of them reconfigures, as one to `config`.
MODULE_CONFIG := $(CURDIR)/config $(CURDIR)/src/lua/embed.sh \
                 $(wildcard $(CURDIR)/src/lua/*.lua)

NGINX_DEV_SRC ?= /usr/share/nginx/src
NGINX_SRC ?=

ifeq ($(strip $(NGINX_SRC)),)
# Debian's nginx-dev tree, configured with the flags Debian built nginx with,
# so that the module loads into /usr/sbin/nginx.
NGX_DIR := $(BUILD)/nginx-dev
NGX_OBJS := $(NGX_DIR)/objs
NGX_VARIANT := nginx-dev $(NGINX_DEV_SRC)
else
# An nginx.org source tree, configured in place with its objs under build/.
override NGINX_SRC := $(abspath $(NGINX_SRC))
NGX_DIR := $(NGINX_SRC)
NGX_OBJS := $(BUILD)/nginx-src/objs
NGX_VARIANT := nginx-src $(NGINX_SRC)
endif

# Which nginx and module the integration tests (Test::Nginx) run.
TEST_NGINX_BINARY ?= /usr/sbin/nginx
TEST_NGINX_LOAD_MODULES ?= $(SO)

# Unit tests: t/unit/test_foo.c links src/ngx_astro_foo.c (pure C, no nginx
# headers). A test that needs more sources names them in a line like
#   $(UNIT_DIR)/test_foo: src/ngx_astro_bar.c
UNIT_DIR ?= $(BUILD)/unit
UNIT_CC ?= cc
UNIT_CFLAGS ?= -std=gnu99 -O1 -g -Wall -Wextra -Werror
UNIT_SAN ?=
UNIT_LIBS ?= -lcmocka -lm -lcrypto
UNIT_TESTS := $(sort $(wildcard t/unit/test_*.c))
UNIT_BINS := $(patsubst t/unit/%.c,$(UNIT_DIR)/%,$(UNIT_TESTS))

# test-asan
ASAN_DIR := $(BUILD)/asan
ASAN_NGINX_VERSION := 1.22.1
ASAN_ORIG := $(BUILD)/src/nginx_$(ASAN_NGINX_VERSION).orig.tar.gz
ASAN_NGX := $(ASAN_DIR)/nginx-$(ASAN_NGINX_VERSION)
ASAN_ROOT := $(ASAN_DIR)/root
ASAN_LOGS := $(ASAN_DIR)/logs
# clang: GCC 12's combined ASan+UBSan runtime writes UBSan reports to
# stderr whatever log_path says; clang's honours it.
ASAN_CC ?= clang
ASAN_SAN := -fsanitize=address,undefined
ASAN_CC_OPT := $(ASAN_SAN) -fno-omit-frame-pointer -O1 -g
ASAN_LD_OPT := $(ASAN_SAN)

.PHONY: all nodebug deps deps-src unit integration test test-asan \
        asan-build fuzz fuzz-regress deb demo bench clean FORCE


# --- the module --------------------------------------------------------------

all: $(SO)

# Remembers which nginx tree the module was last built against, so that
# switching trees (NGINX_SRC) re-copies and reconfigures.
$(BUILD)/variant.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(NGX_VARIANT)' | cmp -s - $@ || echo '$(NGX_VARIANT)' > $@

ifeq ($(strip $(NGINX_SRC)),)
$(NGX_OBJS)/Makefile: $(MODULE_CONFIG) $(NGINX_DEV_SRC)/conf_flags \
                      $(BUILD)/variant.stamp
	@test -f $(NGINX_DEV_SRC)/configure || \
	    { echo "no $(NGINX_DEV_SRC)/configure: install nginx-dev (util/install-deps.sh)" >&2; exit 1; }
	rm -rf $(NGX_DIR)
	cp -a $(NGINX_DEV_SRC) $(NGX_DIR)
	cd $(NGX_DIR) && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR)
else
$(NGX_OBJS)/Makefile: $(MODULE_CONFIG) $(BUILD)/variant.stamp
	@test -x $(NGINX_SRC)/auto/configure -o -x $(NGINX_SRC)/configure || \
	    { echo "$(NGINX_SRC) is no nginx source tree" >&2; exit 1; }
	rm -rf $(NGX_OBJS)
	cd $(NGINX_SRC) && \
	    if [ -x ./configure ]; then c=./configure; else c=./auto/configure; fi && \
	    $$c --with-compat --builddir=$(NGX_OBJS) --add-dynamic-module=$(CURDIR)
endif

$(NGX_OBJS)/$(MODULE).so: $(NGX_OBJS)/Makefile $(MODULE_SOURCES)
	$(MAKE) -C $(NGX_DIR) -f $(NGX_OBJS)/Makefile modules

$(SO): $(NGX_OBJS)/$(MODULE).so $(BUILD)/variant.stamp
	cp $< $@.tmp && mv -f $@.tmp $@   # a new file: running nginx keeps the old one

# The module as a user's nginx without --with-debug builds it: Debian's
# flags but that one, so that code which only the debug lines use (a
# variable set for them alone) fails here under -Werror, not there.
NODEBUG_DIR := $(BUILD)/nodebug

nodebug: $(NODEBUG_DIR)/objs/$(MODULE).so

$(NODEBUG_DIR)/objs/Makefile: $(MODULE_CONFIG) $(NGINX_DEV_SRC)/conf_flags
	rm -rf $(NODEBUG_DIR)
	cp -a $(NGINX_DEV_SRC) $(NODEBUG_DIR)
	cd $(NODEBUG_DIR) && . ./conf_flags && \
	    flags=(); \
	    for f in "$${NGX_CONF_FLAGS[@]}"; do \
	        [ "$$f" = --with-debug ] || flags+=("$$f"); \
	    done; \
	    ./configure "$${flags[@]}" --add-dynamic-module=$(CURDIR)

$(NODEBUG_DIR)/objs/$(MODULE).so: $(NODEBUG_DIR)/objs/Makefile \
                                  $(MODULE_SOURCES)
	$(MAKE) -C $(NODEBUG_DIR) -f objs/Makefile modules

FORCE:


# --- dependencies ------------------------------------------------------------

deps:
	$(CURDIR)/util/install-deps.sh

deps-src:
	$(CURDIR)/util/install-deps.sh --src


# --- unit tests --------------------------------------------------------------

unit: $(UNIT_BINS)
	@if [ -z "$(UNIT_BINS)" ]; then echo "unit: no t/unit/test_*.c"; exit 0; fi; \
	failed=0; \
	for t in $(UNIT_BINS); do \
	    echo "=== $${t#$(CURDIR)/}"; \
	    "$$t" || { echo "FAILED: $${t#$(CURDIR)/}"; failed=$$((failed + 1)); }; \
	done; \
	for t in t/unit/test_*.sh; do \
	    [ -e "$$t" ] || continue; \
	    echo "=== $$t"; \
	    CC=$(UNIT_CC) bash "$$t" || { echo "FAILED: $$t"; failed=$$((failed + 1)); }; \
	done; \
	if [ $$failed -ne 0 ]; then echo "unit: $$failed test program(s) failed"; exit 1; fi

$(UNIT_DIR)/test_%: t/unit/test_%.c src/ngx_astro_%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_SAN) -I src -o $@ $(filter %.c,$^) $(UNIT_LIBS)

# the JWT checks parse their JSON with jansson
$(UNIT_DIR)/test_jwt: UNIT_LIBS += -ljansson

# the shard map's pure files use nginx's types (ngx_core.h): its headers
# and the configured tree's ngx_auto_config.h
$(UNIT_DIR)/test_shard_%: UNIT_CFLAGS += $(NGX_INCS)
# the table's three files (rows checked, built, read)
SHARD_TABLE_SRCS := src/ngx_astro_shard_table.c \
    src/ngx_astro_shard_table_rows.c src/ngx_astro_shard_lookup.c
$(UNIT_DIR)/test_shard_hash: $(SHARD_TABLE_SRCS) \
    src/ngx_astro_shard_key.c $(NGX_OBJS)/Makefile
$(UNIT_DIR)/test_shard_key: $(NGX_OBJS)/Makefile
$(UNIT_DIR)/test_shard_table: $(SHARD_TABLE_SRCS) src/ngx_astro_shard_hash.c \
    src/ngx_astro_shard_key.c $(NGX_OBJS)/Makefile


# --- integration tests -------------------------------------------------------

# Runs `prove -r t` with the test servers up; TEST_NGINX_BINARY and
# TEST_NGINX_LOAD_MODULES say which nginx and which module,
# ASTRO_TEST_RUNNER which Test::Nginx (auto: CPAN's when it is on the
# Perl path, else t/lib's; intree; cpan: see util/run-tests.sh).
ASTRO_TEST_RUNNER ?= auto

integration:
	TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' \
	TEST_NGINX_LOAD_MODULES='$(TEST_NGINX_LOAD_MODULES)' \
	ASTRO_TEST_RUNNER='$(ASTRO_TEST_RUNNER)' \
	    $(CURDIR)/util/run-tests.sh

# The suite under t/lib's runner, then under CPAN's Test::Nginx when it is
# on the Perl path or in ../shared/test-nginx (else one line says so).
test:
	$(CURDIR)/util/install-deps.sh
	$(MAKE) all
	$(MAKE) nodebug
	$(MAKE) unit
	$(MAKE) integration ASTRO_TEST_RUNNER=intree
	$(MAKE) integration ASTRO_TEST_RUNNER=cpan


# --- AddressSanitizer + UBSan ------------------------------------------------

# Debian's configure flags with every absolute path moved under
# build/asan/root, so the sanitized nginx touches nothing in /etc or /var;
# --with-debug (Debian's flags have it too): the tests of the modules'
# debug lines run here as well.
asan-build: deps-src
	@test -f $(ASAN_ORIG) || { echo "missing $(ASAN_ORIG)" >&2; exit 1; }
	@if [ ! -f $(ASAN_NGX)/configure ]; then \
	    echo "unpacking $(ASAN_ORIG)"; \
	    rm -rf $(ASAN_NGX); mkdir -p $(ASAN_DIR); \
	    tar -xzf $(ASAN_ORIG) -C $(ASAN_DIR); \
	fi
	@stamp=$(ASAN_NGX)/objs/astro-config.stamp; \
	newer=; \
	for f in $(MODULE_CONFIG) $(NGINX_DEV_SRC)/conf_flags; do \
	    if [ $$f -nt $$stamp ]; then newer=$$f; fi; \
	done; \
	if [ ! -f $(ASAN_NGX)/objs/Makefile ] || [ ! -f $$stamp ] || \
	   [ -n "$$newer" ]; then \
	    . $(NGINX_DEV_SRC)/conf_flags; \
	    flags=(); \
	    for f in "$${NGX_CONF_FLAGS[@]}"; do \
	        case $$f in \
	            --*=/*) flags+=("$${f%%=*}=$(ASAN_ROOT)/$${f#*=/}") ;; \
	            *) flags+=("$$f") ;; \
	        esac; \
	    done; \
	    cd $(ASAN_NGX) && \
	    ./configure "$${flags[@]}" --with-debug --with-cc=$(ASAN_CC) \
	        --with-cc-opt='$(ASAN_CC_OPT)' --with-ld-opt='$(ASAN_LD_OPT)' \
	        --add-module=$(CURDIR) && \
	    touch $$stamp; \
	fi
	$(MAKE) -C $(ASAN_NGX) -f objs/Makefile binary
	mkdir -p $(ASAN_ROOT)/usr/share/nginx/logs $(ASAN_ROOT)/var/lib/nginx \
	    $(ASAN_ROOT)/var/log/nginx $(ASAN_ROOT)/etc/nginx

# The sanitized build links the modules statically (--add-module, which
# this also tests): a sanitized dynamic module's ngx_modules[] binds to
# nginx's own, and ASan then reports a false overflow when the master
# reloads.  detect_odr_violation=0 for the same kind of clash with the
# dynamic echo module the tests load.
test-asan: asan-build
	rm -rf $(ASAN_LOGS)
	mkdir -p $(ASAN_LOGS)
	chmod 1777 $(ASAN_LOGS)   # nginx workers run as nobody and must write here
	@rc=0; \
	export ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:log_path=$(ASAN_LOGS)/asan; \
	export UBSAN_OPTIONS=print_stacktrace=1:log_path=$(ASAN_LOGS)/ubsan:suppressions=$(CURDIR)/util/ubsan.supp; \
	$(MAKE) unit UNIT_DIR=$(ASAN_DIR)/unit UNIT_CC=$(ASAN_CC) UNIT_SAN='$(ASAN_SAN) -fno-omit-frame-pointer' || rc=1; \
	$(MAKE) integration TEST_NGINX_BINARY=$(ASAN_NGX)/objs/nginx \
	    TEST_NGINX_LOAD_MODULES= || rc=1; \
	reports=$$(find $(ASAN_LOGS) -type f -name '*san*' | sort); \
	if [ -n "$$reports" ]; then \
	    for r in $$reports; do echo "=== $$r"; cat "$$r"; done; \
	    echo "test-asan: sanitizer reports found (above)"; rc=1; \
	fi; \
	if [ $$rc -ne 0 ]; then echo "test-asan: FAILED"; exit 1; fi; \
	echo "test-asan: passed, no sanitizer reports"


# --- fuzzing -----------------------------------------------------------------

# libFuzzer harnesses: t/fuzz/fuzz_NAME.c, its seeds in t/fuzz/corpus/NAME/
# and maybe a dictionary t/fuzz/NAME.dict (t/fuzz/README.md).  fuzz_foo
# links src/ngx_astro_foo.c when there is one; a harness that needs more
# names them in a line like
#   $(FUZZ_DIR)/fuzz_foo: src/ngx_astro_bar.c
# (a library: $(FUZZ_DIR)/fuzz_foo: FUZZ_LIBS += -lbar),
# and one built against nginx's headers adds $(FUZZ_NGX) to its line: the
# few nginx core files it links, from the nginx source that deps-src
# fetches (or NGINX_SRC's), and t/fuzz/ngx_stubs.c.  t/fuzz/run.sh runs
# them one at a time, each on a copy of its seeds under build/fuzz/corpus
# (the tree keeps only seeds and crashes' regression inputs).
FUZZ_DIR ?= $(BUILD)/fuzz
FUZZ_CC ?= clang
FUZZ_SAN ?= -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS ?= -std=gnu99 -O1 -g -fno-omit-frame-pointer -Wall -Wextra \
               -Wno-unused-parameter -Werror
FUZZ_LIBS ?= -lm -lcrypto
FUZZ_SECONDS ?= 60
FUZZ_NAMES ?= $(patsubst t/fuzz/fuzz_%.c,%,$(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(sort $(FUZZ_NAMES)))
NGX_INCS := $(addprefix -I $(NGX_DIR)/src/,core event event/modules \
                os/unix http http/modules http/v2) \
            -I $(NGX_OBJS) -I $(NGX_OBJS)/astro
FUZZ_INCS := -I src -I t/fuzz $(NGX_INCS)

ifeq ($(strip $(NGINX_SRC)),)
FUZZ_NGX_SRC := $(FUZZ_DIR)/nginx-$(ASAN_NGINX_VERSION)
else
FUZZ_NGX_SRC := $(NGINX_SRC)
endif

FUZZ_NGX_CORE := src/core/ngx_string.c src/core/ngx_parse.c \
                 src/core/ngx_palloc.c src/core/ngx_array.c \
                 src/core/ngx_buf.c src/core/ngx_crc32.c \
                 src/core/ngx_rbtree.c src/os/unix/ngx_alloc.c
FUZZ_NGX := $(addprefix $(FUZZ_NGX_SRC)/,$(FUZZ_NGX_CORE)) \
            t/fuzz/ngx_stubs.c $(NGX_OBJS)/Makefile

fuzz: $(FUZZ_BINS)
	FUZZ_DIR='$(FUZZ_DIR)' bash t/fuzz/run.sh fuzz $(FUZZ_SECONDS) $^

fuzz-regress: $(FUZZ_BINS)
	FUZZ_DIR='$(FUZZ_DIR)' bash t/fuzz/run.sh regress 0 $^

# clang and the nginx source: deps-src, which prints nothing when they are
$(FUZZ_BINS): | deps-src

$(FUZZ_DIR)/fuzz_%: t/fuzz/fuzz_%.c src/ngx_astro_%.c t/fuzz/fuzz.h \
                    $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(FUZZ_INCS) -o $@ \
	    $(filter %.c,$^) $(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz.h $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(FUZZ_INCS) -o $@ \
	    $(filter %.c,$^) $(FUZZ_LIBS)

$(FUZZ_DIR)/nginx-$(ASAN_NGINX_VERSION)/%.c: | deps-src
	@mkdir -p $(FUZZ_DIR)
	tar -xzmf $(ASAN_ORIG) -C $(FUZZ_DIR) nginx-$(ASAN_NGINX_VERSION)/$*.c

$(FUZZ_DIR)/fuzz_jwt: FUZZ_LIBS += -ljansson
$(FUZZ_DIR)/fuzz_base64url: src/ngx_astro_jwt.c
$(FUZZ_DIR)/fuzz_base64url: FUZZ_LIBS += -ljansson
$(FUZZ_DIR)/fuzz_parse: src/ngx_astro_parse_rate.c
$(FUZZ_DIR)/fuzz_conf: $(FUZZ_NGX)
$(FUZZ_DIR)/fuzz_status: t/fuzz/status.h t/fuzz/status_cache.c \
    t/fuzz/status_fleet.c src/ngx_astro_out.c src/ngx_astro_fmt.c \
    src/ngx_astro_ratelimit_status.c src/ngx_astro_ratelimit_conf.c \
    src/ngx_astro_status.c src/ngx_astro_status_html.c src/ngx_astro_conf.c \
    src/ngx_astro_limit.c src/ngx_astro_parse_rate.c \
    src/ngx_astro_ratelimit_lua.c src/ngx_astro_cache_status.c \
    src/ngx_astro_health_eval.c src/ngx_astro_parse.c \
    src/ngx_astro_health_fleet_status.c $(FUZZ_NGX)
$(FUZZ_DIR)/fuzz_status: FUZZ_LIBS += -ljansson
$(FUZZ_DIR)/fuzz_redis_reply: src/ngx_astro_redis_batch.c \
    src/ngx_astro_redis_reply.c src/ngx_astro_redis_log.c \
    src/ngx_astro_ratelimit_redis.c src/ngx_astro_ratelimit_conf.c \
    src/ngx_astro_ratelimit_lua.c src/ngx_astro_limit.c src/ngx_astro_hist.c \
    src/ngx_astro_conf.c src/ngx_astro_parse_rate.c src/ngx_astro_parse.c \
    $(FUZZ_NGX)
$(FUZZ_DIR)/fuzz_redis_reply: FUZZ_LIBS += -lhiredis
$(FUZZ_DIR)/fuzz_shard_rows: $(SHARD_TABLE_SRCS) \
    src/ngx_astro_shard_hash.c src/ngx_astro_shard_key.c $(NGX_OBJS)/Makefile
$(FUZZ_DIR)/fuzz_shard_key: $(SHARD_TABLE_SRCS) \
    src/ngx_astro_shard_hash.c src/ngx_astro_shard_key.c $(NGX_OBJS)/Makefile
# --- astro-shard-moves -------------------------------------------------------

# the SQL taking a seed map of N shards to N+1 (util/shard_moves.c), on
# the module's own table code
.PHONY: shard-moves

shard-moves: $(BUILD)/astro-shard-moves

$(BUILD)/astro-shard-moves: util/shard_moves.c $(SHARD_TABLE_SRCS) \
    src/ngx_astro_shard_hash.c src/ngx_astro_shard_key.c \
    $(wildcard src/ngx_astro_shard_*.h) $(NGX_OBJS)/Makefile
	$(UNIT_CC) -std=gnu99 -O2 -Wall -Wextra -Werror -I src $(NGX_INCS) \
	    -o $@ $(filter %.c,$^) -lm


# --- stress ------------------------------------------------------------------

# stress/run.sh, about 80 s: NGINX=asan (or STRESS_NGINX=asan) runs it on
# build/asan's nginx, which asan-build makes, and fails on any sanitizer
# report; STRESS_NGINX=/path on another nginx with the modules linked in.
STRESS_NGINX ?= $(if $(filter asan,$(NGINX)),asan,)

.PHONY: stress

stress: $(if $(filter asan,$(STRESS_NGINX)),asan-build,$(SO))
	STRESS_NGINX='$(STRESS_NGINX)' bash $(CURDIR)/stress/run.sh


# --- Debian package ----------------------------------------------------------

# dpkg-buildpackage builds in the tree it is given and writes the .deb, the
# .buildinfo and the .changes beside it: it gets a copy of the sources in
# build/deb/, so that the developer's build/ and tree stay as they are
# (debian/rules builds the module with this Makefile, under debian/build).
# The version is debian/changelog's; the -dbgsym package holds the
# module's debugging symbols.
DEB_DIR := $(BUILD)/deb
DEB_FILES := config Makefile $(wildcard *.c) src debian README.md docs
DEB_INPUTS := $(MODULE_SOURCES) $(MODULE_CONFIG) $(wildcard debian/* \
              debian/source/* docs/*.md) README.md Makefile

deb: $(DEB_DIR)/deb.stamp

$(DEB_DIR)/deb.stamp: $(DEB_INPUTS)
	@dpkg-checkbuilddeps || \
	    { echo "make deb: \`make deps' installs what is missing" >&2; exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/libnginx-mod-http-astro
	tar -cf - $(DEB_FILES) | tar -xf - -C $(DEB_DIR)/libnginx-mod-http-astro
	cd $(DEB_DIR)/libnginx-mod-http-astro && \
	    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -b -us -uc
	rm -rf $(DEB_DIR)/libnginx-mod-http-astro
	@ls $(DEB_DIR)/*.deb
	touch $@


# --- demo, bench, clean ------------------------------------------------------

demo:
	$(CURDIR)/util/install-deps.sh
	$(MAKE) all
	exec $(CURDIR)/util/demo.sh

bench:
	@if [ -f $(CURDIR)/bench/run.sh ]; then \
	    exec bash $(CURDIR)/bench/run.sh; \
	else \
	    echo "bench: no bench/run.sh yet"; \
	fi

clean:
	rm -rf $(BUILD) $(CURDIR)/t/servroot*
