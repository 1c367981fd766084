# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of dm_bufcache.ko. Kbuild does the real work (see Kbuild);
# this file only finds the kernel tree and wraps the usual targets.
#
#   make               build dm_bufcache.ko against the project's test kernel
#   make CLIPPY=1      the same, with the kernel's Clippy lints
#   make rustfmt       format the Rust sources; `make rustfmtcheck` only checks
#   make hosttest      cargo test of the pure cache core (no kernel needed)
#   make check         rustfmtcheck + hosttest + Clippy build
#   make test          the whole test suite (same as scripts/test.sh)
#   make stack         the module's largest stack frames (scripts/stack-frames.sh)
#   make bench         bufcache against its peers on the benchmark kernel
#                      (scripts/bench.sh; writes Documentation/benchmarks.rst)
#   make clean
#
# KDIR defaults to the test kernel of the series KERNEL_SERIES (default in
# config/versions.mk) built by scripts/setup.sh and recorded in the cache;
# point it at another build tree of a supported series with Rust enabled to
# use that.

include $(dir $(lastword $(MAKEFILE_LIST)))config/versions.mk

BUFCACHE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/dm-bufcache
KERNEL_SERIES ?= $(KERNEL_SERIES_DEFAULT)
KDIR ?= $(shell cat $(BUFCACHE_CACHE)/kernel-build/current-$(KERNEL_SERIES) 2>/dev/null)
LIBCLANG_PATH ?= $(LIBCLANG_PATH_DEFAULT)
export LIBCLANG_PATH
export PATH := $(BUFCACHE_CACHE)/tools/bindgen-$(BINDGEN_VERSION)/bin:$(HOME)/.cargo/bin:$(PATH)

PWD := $(CURDIR)
RUST_SOURCES := $(shell find rust -name '*.rs' -not -name '*_generated.rs' -not -path 'rust/cache/target/*')

.PHONY: all modules clippy clean rustfmt rustfmtcheck hosttest check test kdir stack bench

all: modules

kdir:
	@test -n "$(KDIR)" -a -f "$(KDIR)/Module.symvers" || { \
		echo "error: no kernel build tree (KDIR='$(KDIR)'); run scripts/setup.sh first" >&2; \
		exit 1; }

modules: kdir
	$(MAKE) -C $(KDIR) M=$(PWD) modules

clippy: kdir
	$(MAKE) -C $(KDIR) M=$(PWD) CLIPPY=1 modules

# The kernel's .rustfmt.toml only sets edition 2021 and Unix newlines, which
# are rustfmt's defaults for these flags.
rustfmt:
	rustfmt --edition 2021 $(RUST_SOURCES)

rustfmtcheck:
	rustfmt --edition 2021 --check $(RUST_SOURCES)

hosttest:
	cd rust/cache && cargo test --quiet

check: rustfmtcheck hosttest clippy

test:
	scripts/test.sh

stack: modules
	scripts/stack-frames.sh

bench:
	scripts/bench.sh $(if $(CASE),--case '$(CASE)') $(if $(PEERS),--peers '$(PEERS)')

clean:
	-test -n "$(KDIR)" && $(MAKE) -C $(KDIR) M=$(PWD) clean
	rm -f rust/sys/bindings_generated.rs rust/sys/.bindings_generated.rs.cmd
	rm -rf rust/cache/target
