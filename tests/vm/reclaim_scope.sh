#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Scope replay: I/O submitted from a NOIO scope keeps NOIO in the worker
# that handles it. A loop device with direct I/O over the bufcache device
# submits from its worker, which runs with PF_MEMALLOC_NOIO
# (drivers/block/loop.c); bufcache records the scope with each bio in map()
# and its worker re-applies it. The scope_captured/scope_replayed counters
# show it. Negative control (scripts/negative-controls.sh):
# test_skip_scope_replay=1 must make this test fail.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
dm="$(bc_create sc "$loop" 4096 cache_size $((16 << 20)) readahead 0)"

# Plain I/O from this shell: no scope, nothing captured.
sha_range "$dm" 0 4 >/dev/null
assert_eq "$(bc_field sc scope_captured)" 0 "scope_captured after I/O without a scope"

top="$(losetup -f --show --direct-io=on "$dm")"
on_cleanup losetup -d "$top"
# Misses (handled by workers) submitted by the loop worker.
run dd if="$top" of=/dev/null bs=64k skip=128 count=128 iflag=direct status=none
run dd if=/dev/urandom of="$top" bs=2k seek=$((24 * 512 + 1)) count=64 oflag=direct status=none
cap="$(bc_field sc scope_captured)"
rep="$(bc_field sc scope_replayed)"
log "via $top (loop, direct I/O): scope_captured=$cap scope_replayed=$rep"
[ "$cap" -ge 100 ] || die "NOIO-scope bios did not reach the workers ($cap)"
[ "$rep" -eq "$cap" ] || die "scope not replayed in the worker: $rep of $cap bios"
log "OK"
