# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for the harness self-tests (tests/vm/harness_*.sh), on top of
# common.sh: drive the bufcache_splat module (tests/harness/kmod/).

SPLAT_CTL=/sys/kernel/debug/bufcache_splat/provoke

# provoke ACTION: load bufcache_splat if needed and trigger ACTION.
provoke() {
	[ -e "$SPLAT_CTL" ] || need_module bufcache_splat
	[ -e "$SPLAT_CTL" ] || die "bufcache_splat loaded but $SPLAT_CTL is missing (debugfs mounted?)"
	log "provoking '$1'"
	echo "$1" >"$SPLAT_CTL" || die "writing '$1' to $SPLAT_CTL failed"
}

# expect_dmesg REGEX: the kernel log must match REGEX (grep -E), so that a
# self-test checks that the splat it wanted is the one that happened.
expect_dmesg() {
	dmesg | grep -E -q -- "$1" || die "the kernel log lacks /$1/"
	log "kernel log has: $(dmesg | grep -E -m1 -- "$1")"
}
