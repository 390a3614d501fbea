# krb5bridge: `make` builds, `make test` installs what is missing and runs every test,
# `make demo` shows the whole flow on a throwaway cluster, `make bench` measures.
PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  := $(PREFIX)/lib/krb5bridge
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

.PHONY: all build deps test test-unit test-e2e demo bench install clean typecheck spank-tests

all: build
build: build/krb5bridge.mjs spank/krb5bridge.so

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build/krb5bridge.mjs: node_modules/.package-lock.json $(HELPER_SRC) scripts/build-helper.mjs
	node scripts/build-helper.mjs

spank/errors.h: build/krb5bridge.mjs
	node build/krb5bridge.mjs errors --format c > $@.tmp && mv $@.tmp $@

spank/defaults.h: build/krb5bridge.mjs
	node build/krb5bridge.mjs config defaults --format c > $@.tmp && mv $@.tmp $@

# Built under a temporary name and renamed: a running slurmd/srun that loads the plugin while it is
# being rebuilt would otherwise read a half-written file (and a required plugin would drain the node).
spank/krb5bridge.so: $(SPANK_SRC) $(SPANK_HDR)
	$(CC) $(CFLAGS) $(SPANK_CFLAGS) -shared -o $@.tmp $(SPANK_SRC) $(SPANK_LIBS) && mv -f $@.tmp $@

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

test: deps build
	scripts/run-tests

demo: deps build
	scripts/demo

bench: deps build
	scripts/bench

# The helper bundle needs only koffi at run time: its JavaScript and its native module, which koffi 3
# ships as a separate package (@koromix/koffi-<platform>-<arch>).
KOFFI_NATIVE := $(wildcard node_modules/@koromix/koffi-*)

install: build
	install -d $(DESTDIR)$(LIBDIR)/node_modules/@koromix $(DESTDIR)$(SLURM_PLUGINDIR) $(DESTDIR)$(PREFIX)/bin
	install -m 0644 build/krb5bridge.mjs $(DESTDIR)$(LIBDIR)/krb5bridge.mjs
	rm -rf $(DESTDIR)$(LIBDIR)/node_modules/koffi $(addprefix $(DESTDIR)$(LIBDIR)/,$(KOFFI_NATIVE))
	cp -R node_modules/koffi $(DESTDIR)$(LIBDIR)/node_modules/koffi
	$(foreach d,$(KOFFI_NATIVE),cp -R $(d) $(DESTDIR)$(LIBDIR)/$(d) &&) true
	install -m 0755 spank/krb5bridge.so $(DESTDIR)$(SLURM_PLUGINDIR)/krb5bridge.so
	printf '#!/bin/sh\nexec %s %s/krb5bridge.mjs "$$@"\n' "$(NODE)" "$(LIBDIR)" > $(DESTDIR)$(PREFIX)/bin/krb5bridge
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/krb5bridge

clean:
	rm -rf build spank/*.so spank/errors.h spank/defaults.h test/spank/*.t
