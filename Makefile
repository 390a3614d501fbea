# krb5bridge: `make` builds, `make test` installs what is missing and runs every test,
# `make demo` shows the whole flow on a throwaway cluster, `make bench` measures.
PREFIX  ?= /usr/local
DESTDIR ?=
SLURM_PLUGINDIR ?= $(PREFIX)/lib/slurm
CC      ?= gcc
CFLAGS  ?= -O2 -g
SPANK_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden
SPANK_LIBS := -lkrb5
NODE    ?= $(shell command -v node)

HELPER_SRC := $(shell find helper/src -name '*.ts' 2>/dev/null)
SPANK_LIB_SRC := spank/run.c spank/checks.c spank/config.c spank/status.c spank/keeper.c spank/tell.c spank/timelimit.c
SPANK_SRC  := spank/krb5bridge.c $(SPANK_LIB_SRC)
SPANK_HDR  := spank/run.h spank/checks.h spank/config.h spank/status.h spank/keeper.h spank/tell.h spank/timelimit.h spank/errors.h spank/defaults.h
SPANK_TESTS := $(patsubst %.c,%.t,$(filter-out test/spank/fake_spank.c,$(wildcard test/spank/*.c)))

.PHONY: all build deps test test-unit test-e2e demo bench install clean typecheck spank-tests deb

all: build
build: build/krb5bridge.cjs spank/krb5bridge.so

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build/krb5bridge.cjs: node_modules/.package-lock.json $(HELPER_SRC) scripts/build-helper.mjs
	node scripts/build-helper.mjs

spank/errors.h: build/krb5bridge.cjs
	node build/krb5bridge.cjs errors --format c > $@.tmp && mv $@.tmp $@

spank/defaults.h: build/krb5bridge.cjs
	node build/krb5bridge.cjs config defaults --format c > $@.tmp && mv $@.tmp $@

# Built under a temporary name and renamed: a running slurmd/srun that loads the plugin while it is
# being rebuilt would otherwise read a half-written file (and a required plugin would drain the node).
spank/krb5bridge.so: $(SPANK_SRC) $(SPANK_HDR)
	$(CC) $(CFLAGS) $(SPANK_CFLAGS) -shared $(LDFLAGS) -o $@.tmp $(SPANK_SRC) $(SPANK_LIBS) && mv -f $@.tmp $@

# C tests of the plugin (TAP); test/spank/spank.test.ts builds them with this and runs each one.
spank-tests: $(SPANK_TESTS)

test/spank/hooks.t: test/spank/hooks.c test/spank/fake_spank.c test/spank/fake_spank.h test/spank/tap.h spank/krb5bridge.c $(SPANK_LIB_SRC) $(SPANK_HDR)
	$(CC) $(CFLAGS) $(SPANK_CFLAGS) -Ispank -Itest/spank -o $@ test/spank/hooks.c test/spank/fake_spank.c spank/krb5bridge.c $(SPANK_LIB_SRC) $(SPANK_LIBS)

test/spank/%.t: test/spank/%.c test/spank/tap.h $(SPANK_LIB_SRC) $(SPANK_HDR)
	$(CC) $(CFLAGS) $(SPANK_CFLAGS) -Ispank -Itest/spank -o $@ $< $(SPANK_LIB_SRC) $(SPANK_LIBS)

typecheck: node_modules/.package-lock.json
	npx tsc --noEmit -p tsconfig.json

# Debian packages (apt-get) and npm packages (npm ci) that are missing; safe to run again.
deps:
	scripts/deps

# Every test ends with one line "tests: N passed, N failed" (scripts/test-summary); see jest.config.js.
# test-unit: no daemon (type check, lint, shellcheck, docs paths, unit tests, the plugin's C tests);
# test-e2e: everything that starts daemons (KDC and munged alone, the whole cluster, the demo x3).
test: deps build
	scripts/run-tests

test-unit: deps build
	scripts/run-tests --selectProjects static unit final

test-e2e: deps build
	scripts/run-tests --selectProjects integration e2e final

demo: deps build
	scripts/demo

bench: deps build
	scripts/bench

# The helper bundle needs only koffi at run time: its JavaScript and its native module, which koffi 3
# ships as a separate package (@koromix/koffi-<platform>-<arch>). scripts/install is the one way to
# install; scripts/testcluster uses it too, into each throwaway cluster's directory.
install: build
	scripts/install --prefix '$(PREFIX)' --destdir '$(DESTDIR)' --plugindir '$(SLURM_PLUGINDIR)' --node '$(NODE)'

# The Debian package build/deb/krb5bridge_<version>_amd64.deb (dpkg-buildpackage with debian/, in a
# staged copy under build/deb: nothing is written outside the checkout). Prints its path.
deb: build
	scripts/deb

clean:
	rm -rf build spank/*.so spank/errors.h spank/defaults.h test/spank/*.t

# The push-marker check alone (bench/keeper-bench.mjs runs it as the user).
build/marker-bench: bench/marker-bench.c $(SPANK_LIB_SRC) $(SPANK_HDR)
	@mkdir -p build
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -Ispank -o $@ bench/marker-bench.c $(SPANK_LIB_SRC) $(SPANK_LIBS)
