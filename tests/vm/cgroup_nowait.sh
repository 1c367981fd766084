#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# REQ_NOWAIT (RWF_NOWAIT direct I/O, preadv2/pwritev2 by tests/tools/
# bc-nowait): hits are served, misses complete with EAGAIN and fill
# nothing, normal I/O afterwards is unaffected.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
dm="$(bc_create nw "$loop" 4096 cache_size $((32 << 20)) readahead 0)"
run dd if=/dev/urandom of="$loop" bs=1M count=16 oflag=direct status=none

# nowait RW OFFSET: 8 single 4 KiB RWF_NOWAIT direct I/Os, 64 KiB apart
# from OFFSET (tests/tools/bc-nowait: preadv2/pwritev2 as fio's pvsync2
# engine with --nowait=1 makes them, in one process, not 8 fio runs);
# prints how many failed, and checks that every failure was EAGAIN.
nowait() {
	local out
	out="$(/tests/tools/bc-nowait "$1" "$dm" "$2" 8 65536 4096 2>&1)" ||
		die "RWF_NOWAIT $1 failed, but not with EAGAIN: $out"
	echo "$out"
}

sha_range "$dm" 0 1 >/dev/null
misses0="$(bc_field nw read_misses)"
errs="$(nowait read 0)"
assert_eq "$errs" 0 "errors of RWF_NOWAIT reads of cached blocks"
assert_eq "$(bc_field nw read_misses)" "$misses0" "misses after RWF_NOWAIT hits"

errs="$(nowait read $((8 << 20)))"
log "RWF_NOWAIT reads of uncached blocks: $errs errors; $(bc_status nw)"
assert_eq "$errs" 8 "uncached RWF_NOWAIT reads that failed with EAGAIN"
assert_eq "$(bc_field nw read_misses)" "$misses0" "misses after RWF_NOWAIT misses (nothing may be filled)"
assert_eq "$(bc_field nw blocks_cached)" 256 "blocks cached after RWF_NOWAIT misses"
[ "$(bc_field nw nowait_again)" -ge 8 ] || die "nowait_again not counted"

errs="$(nowait write $((12 << 20)))"
assert_eq "$errs" 8 "uncached RWF_NOWAIT writes that failed with EAGAIN"
errs="$(nowait write 0)"
assert_eq "$errs" 0 "errors of RWF_NOWAIT writes to cached blocks"

# Normal I/O is unaffected.
assert_eq "$(sha_range "$dm" 8 1)" "$(sha_range "$loop" 8 1)" "normal read after RWF_NOWAIT"
log "$(bc_status nw)"
log "OK"
