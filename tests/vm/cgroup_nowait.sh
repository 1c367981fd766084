#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# REQ_NOWAIT (RWF_NOWAIT through fio's pvsync2 engine): hits are served,
# misses complete with EAGAIN and fill nothing, normal I/O afterwards is
# unaffected.
# vm-timeout: 300
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
dm="$(bc_create nw "$loop" 4096 cache_size $((32 << 20)) readahead 0)"
run dd if=/dev/urandom of="$loop" bs=1M count=16 oflag=direct status=none

# fio_nowait RW OFFSET: 1 MiB of 4 KiB RWF_NOWAIT I/O; prints the number of
# I/O errors fio saw.
fio_nowait() {
	fio --name=nw --filename="$dm" --rw="$1" --offset="$2" --size=1M --bs=4k \
		--direct=1 --ioengine=pvsync2 --nowait=1 --continue_on_error=all \
		--output-format=json --output=/tmp/nw.json >/dev/null 2>&1 || true
	grep -o '"total_err" : [0-9]*' /tmp/nw.json | awk '{ s += $3 } END { print s + 0 }'
}

sha_range "$dm" 0 1 >/dev/null
misses0="$(bc_field nw read_misses)"
errs="$(fio_nowait read 0)"
assert_eq "$errs" 0 "errors of RWF_NOWAIT reads of cached blocks"
assert_eq "$(bc_field nw read_misses)" "$misses0" "misses after RWF_NOWAIT hits"

errs="$(fio_nowait read $((8 << 20)))"
log "RWF_NOWAIT reads of uncached blocks: $errs errors; $(bc_status nw)"
[ "$errs" -ge 200 ] || die "uncached RWF_NOWAIT reads did not fail with EAGAIN ($errs errors)"
grep -q '"error" : 11' /tmp/nw.json || die "the error was not EAGAIN: $(grep -o '"error" : [0-9]*' /tmp/nw.json | head -1)"
assert_eq "$(bc_field nw read_misses)" "$misses0" "misses after RWF_NOWAIT misses (nothing may be filled)"
[ "$(bc_field nw nowait_again)" -ge 200 ] || die "nowait_again not counted"

errs="$(fio_nowait write $((12 << 20)))"
[ "$errs" -ge 200 ] || die "uncached RWF_NOWAIT writes did not fail ($errs errors)"
errs="$(fio_nowait write 0)"
assert_eq "$errs" 0 "errors of RWF_NOWAIT writes to cached blocks"

# Normal I/O is unaffected.
assert_eq "$(sha_range "$dm" 8 1)" "$(sha_range "$loop" 8 1)" "normal read after RWF_NOWAIT"
log "$(bc_status nw)"
log "OK"
