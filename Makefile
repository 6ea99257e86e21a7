# mod_pyhost: build, install, test, run.
#
#   make                build mod_pyhost.so against $(PYTHON) with Apache's flags (apxs -q)
#   make install        install the module with apxs, the Debian layout files and the launcher
#   make test           install what the suite needs, build, run the whole suite
#   make run            serve examples/hello.wsgi on 127.0.0.1:8000 until Ctrl-C
#   make test-trixie    the suite with Debian 13's Python 3.13 in a debootstrap chroot (root)
#   make test-sid       the same with Debian unstable's Python 3.14
#   make test-ft        the same with a free-threaded Python 3.13 built in the Debian 13 chroot
#   make leak-check     memory lost per request under valgrind, embedded and daemon mode
#   make test-asan      the whole suite against build/asan/mod_pyhost.so (AddressSanitizer and
#                       UndefinedBehaviorSanitizer); any sanitizer report fails the run
#   make fuzz           the Hypothesis fuzzing of misbehaving applications, a longer run
#   make bench          throughput against static files and mod_wsgi 4.9.4 (bench/bench.py),
#                       then slow clients and large bodies (bench/slow_clients.py)
#   make bench-metrics  CPU per request, throughput and instructions per request with
#                       WSGISharedMetrics On and Off (bench/metrics_cost.py)
#   make bench-gil      shared GIL against the own-GIL pool (Python 3.12+; see bench-gil-trixie)
#   make deb            build/deb/libapache2-mod-pyhost_<version>_<arch>.deb (debhelper), lintian
#   make test-deb       install, enable, serve and purge that package in a clean Debian 12 chroot
#   make test-deb-trixie  the same for Debian 13, with the package built in a Debian 13 chroot
PYTHON ?= /usr/bin/python3
APXS ?= apxs
PYTEST_ARGS ?=

comma := ,
PY_INCLUDE := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("include"))')
PY_LIBDIR := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
PY_LDVERSION := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LDVERSION"))')
# Where make install puts the pyhost_express package (Debian: /usr/local/lib/python3.X/...).
PY_SITE ?= $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
PY_LIBS := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBS") or "")')

apxs = $(shell $(APXS) -q $(1) 2>/dev/null)
AP_CC := $(call apxs,CC)
AP_CFLAGS := $(call apxs,CFLAGS) $(call apxs,EXTRA_CPPFLAGS) $(call apxs,EXTRA_CFLAGS)
AP_INCLUDES := -I$(call apxs,INCLUDEDIR) $(call apxs,EXTRA_INCLUDES)
AP_MODDIR := $(call apxs,LIBEXECDIR)

WARN := -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS_ALL := $(AP_CFLAGS) $(AP_INCLUDES) -Isrc -Ibuild/obj/gen -I$(PY_INCLUDE) $(WARN) -fPIC $(EXTRA_CFLAGS)
RPATH ?= -Wl,-rpath,$(PY_LIBDIR)
LDFLAGS_ALL := -shared -L$(PY_LIBDIR) -lpython$(PY_LDVERSION) $(PY_LIBS) $(RPATH) $(EXTRA_LDFLAGS)
BINDIR ?= /usr/local/bin

BUILD := build/obj
# src/ is arranged by the process that runs the code: config/ (directives, read in Apache's
# parent), parent/ (Apache's parent), child/ (an Apache child's request path), daemon/ (a
# daemon process), python/ (inside Python, in a child or a daemon), shared/ (what children
# and daemons share: the wire protocol and the scoreboard). Includes name the folder.
SRC := $(sort $(wildcard src/*.c src/*/*.c))
HDR := $(sort $(wildcard src/*/*.h))
OBJ := $(patsubst src/%.c,$(BUILD)/%.o,$(SRC))

.PHONY: all install test run clean format check-format deps bench bench-metrics bench-gil bench-gil-trixie \
    test-trixie test-sid test-ft test-matrix leak-check install-module install-conf install-bin \
    deb test-deb test-deb-trixie codec-test test-asan fuzz

all: mod_pyhost.so

# The status page (src/child/status.html) is compiled in as a C string.
GEN := $(BUILD)/gen
$(GEN)/status_html.h: src/child/status.html
	@mkdir -p $(dir $@)
	@(printf '#define STATUS_HTML \\\n'; sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' \
	    -e 's/^/    "/' -e 's/$$/\\n" \\/' $<; echo '    ""') > $@
$(BUILD)/child/status.o: $(GEN)/status_html.h

$(BUILD)/%.o: src/%.c $(HDR) Makefile
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(AP_CC) $(CFLAGS_ALL) -c $< -o $@

mod_pyhost.so: $(OBJ)
	@echo "LD $@"
	@$(AP_CC) -o $@ $(OBJ) $(LDFLAGS_ALL)

# The frame codec alone, with a driver that decodes streams over a real socket pair
# (tests/test_codec.py runs it): built with the module's warnings, against APR's headers.
CODEC_TEST := build/codec-test
APR_CFLAGS := $(shell apr-1-config --cflags --cppflags --includes 2>/dev/null)
codec-test: $(CODEC_TEST)
$(CODEC_TEST): src/shared/codec.c src/shared/alloc.c tests/unit/codec_test.c src/shared/codec.h \
    src/shared/alloc.h Makefile
	@mkdir -p $(dir $@)
	@echo "CC $@"
	@$(AP_CC) $(WARN) $(APR_CFLAGS) -Isrc -o $@ src/shared/codec.c src/shared/alloc.c \
	    tests/unit/codec_test.c -lpthread

clean:
	rm -rf build/obj build/asan build/codec-test mod_pyhost.so

format:
	clang-format -i $(SRC) $(HDR) tests/unit/*.c

check-format:
	clang-format --dry-run --Werror $(SRC) $(HDR) tests/unit/*.c

# Debian packages the build, the suite and the benchmark need (haproxy, redis-server,
# python3-redis and iproute2: tests/test_multihost.py).
DEB_PACKAGES := apache2 apache2-dev python3-dev python3-pytest python3-flask python3-django libjs-jquery \
    python3-numpy python3-hypothesis curl openssl strace python3-pastedeploy python3-coverage \
    haproxy redis-server python3-redis iproute2 mercurial prometheus chromium
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: deps
	$(MAKE) all PYTHON=$(PYTHON)
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# The Python version matrix: the same suite in Debian chroots (tools/chroot-test).
test-trixie:
	tools/chroot-test trixie PYTEST_ARGS='$(PYTEST_ARGS)'

test-sid:
	tools/chroot-test sid PYTEST_ARGS='$(PYTEST_ARGS)'

test-ft:
	tools/chroot-test trixie-ft PYTEST_ARGS='$(PYTEST_ARGS)'

test-matrix: test-trixie test-sid test-ft

leak-check: deps all
	tools/leak-check mod_pyhost.so

# The sanitizer build: the same sources with ASan and UBSan, in build/asan (Apache and Python
# stay Debian's; tools/test-asan preloads the runtime into Apache and checks the reports).
ASAN_BUILD := build/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -O1 -g
ASAN_OBJ := $(patsubst src/%.c,$(ASAN_BUILD)/%.o,$(SRC))

$(ASAN_BUILD)/%.o: src/%.c $(HDR) Makefile
	@mkdir -p $(dir $@)
	@echo "CC (asan) $<"
	@$(AP_CC) $(CFLAGS_ALL) $(ASAN_FLAGS) -c $< -o $@

$(ASAN_BUILD)/mod_pyhost.so: $(ASAN_OBJ)
	@echo "LD $@"
	@$(AP_CC) $(ASAN_FLAGS) -o $@ $(ASAN_OBJ) $(LDFLAGS_ALL)

test-asan: deps all $(ASAN_BUILD)/mod_pyhost.so
	@dpkg -s libasan8 libubsan1 >/dev/null 2>&1 || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libasan8 libubsan1
	tools/test-asan $(ASAN_BUILD)/mod_pyhost.so $(PYTEST_ARGS)

# A deeper fuzzing run than the suite's (FUZZ_EXAMPLES per mode).
FUZZ_EXAMPLES ?= 3000
fuzz: deps all
	PYHOST_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTHON) -m pytest -q tests/test_fuzz_apps.py $(PYTEST_ARGS)

BENCH_DEBS := wrk slowhttptest libapache2-mod-wsgi-py3
bench: deps all
	@for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p; done
	$(PYTHON) bench/bench.py $(BENCH_ARGS)
	$(PYTHON) bench/slow_clients.py $(SLOW_BENCH_ARGS)

# What WSGISharedMetrics costs, On against Off: CPU time per request and throughput in
# interleaved rounds (with a second Off server as control), the record's share of CPU samples
# (perf), instructions per request under callgrind (bench/metrics_cost.py).
bench-metrics: deps all
	@for p in wrk valgrind linux-perf; do dpkg -s $$p >/dev/null 2>&1 || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p; done
	$(PYTHON) bench/metrics_cost.py --control --profile --instructions $(BENCH_ARGS)

bench-gil: all
	$(PYTHON) bench/gil_pool.py $(BENCH_ARGS)

bench-gil-trixie:
	PYHOST_TARGET=bench-gil tools/chroot-test trixie BENCH_ARGS='$(BENCH_ARGS)'

RUN_AS := $(if $(filter 0,$(shell id -u)),--user www-data --group www-data)

# The example is copied where Apache's user can read it, wherever the checkout is.
RUN_DIR := /tmp/pyhost-run
run: deps all
	install -d -m 755 $(RUN_DIR) && install -m 644 examples/hello.wsgi $(RUN_DIR)/
	$(PYTHON) tools/pyhost-express start-server $(RUN_DIR)/hello.wsgi --host 127.0.0.1 \
	    --port 8000 --module-path $(CURDIR)/mod_pyhost.so $(RUN_AS)

install: install-module install-conf install-bin

install-module: all
	install -d $(DESTDIR)$(AP_MODDIR)
	$(APXS) -i -S LIBEXECDIR=$(DESTDIR)$(AP_MODDIR) -n wsgi mod_pyhost.so

install-conf:
	install -d $(DESTDIR)/etc/apache2/mods-available
	install -m 644 debian/pyhost.load debian/pyhost.conf $(DESTDIR)/etc/apache2/mods-available/

install-bin:
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 tools/pyhost-express $(DESTDIR)$(BINDIR)/pyhost-express
	install -d $(DESTDIR)$(PY_SITE)/pyhost_express/management/commands
	install -m 644 tools/pyhost_express/*.py $(DESTDIR)$(PY_SITE)/pyhost_express/
	install -m 644 tools/pyhost_express/management/*.py \
	    $(DESTDIR)$(PY_SITE)/pyhost_express/management/
	install -m 644 tools/pyhost_express/management/commands/*.py \
	    $(DESTDIR)$(PY_SITE)/pyhost_express/management/commands/

# The Debian package (debian/): built from a copy of the tree in build/deb, checked by lintian.
DEB_BUILD_PACKAGES := build-essential debhelper dh-python apache2-dev python3-dev dpkg-dev lintian
deb:
	@missing=""; for p in $(DEB_BUILD_PACKAGES); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	tools/deb-build

test-deb:
	tools/deb-test bookworm

test-deb-trixie:
	tools/deb-test trixie
