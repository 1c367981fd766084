#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Scan resistance: one sequential pass over four times the cache does not
# evict the hot set.
#
# A 4 MiB cache (1,024 blocks of 4 KiB, default readahead) over a 64 MiB
# origin. A hot set of 1 MiB (256 blocks spread over the first 16 MiB, one
# in every 16) is read three times, so it is hot; then one sequential read
# of 16 MiB elsewhere (dd, 1 MiB requests, direct); then the hot set once
# more. Its read hits in that last pass, from the status counters, must be
# at least 90 % of its 256 blocks (a plain LRU keeps none of it: the scan
# alone is four times the cache). No timing is measured. The scan goes
# through the cache (sequential_cutoff 0): this tests the replacement
# policy, not the bypass (cache_seq_bypass).
# vm-timeout: 180
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 64
dm="$(bc_create sc "$loop" 4096 cache_size $((4 << 20)) sequential_cutoff 0)"
f() { bc_field sc "$1"; }
# One read of every hot block: 4 KiB, then a 60 KiB hole, over 16 MiB.
hot_pass() {
	fio --name=hot --filename="$dm" --rw=read:60k --bs=4k --size=16M --io_size=1M \
		--direct=1 --ioengine=psync --output-format=terse >/dev/null ||
		die "a hot pass failed"
}
for p in 1 2 3; do hot_pass; done
log "hot set read 3 times: $(bc_status sc)"
run dd if="$dm" of=/dev/null bs=1M skip=32 count=16 iflag=direct status=none
log "after the scan: $(bc_status sc)"
h0="$(f read_hits)"
hot_pass
hits=$(($(f read_hits) - h0))
log "after the hot pass: $(bc_status sc)"
figure "scan resistance: $hits of 256 hot blocks still cached after a sequential read of 4x the cache"
[ $((hits * 100)) -ge $((256 * 90)) ] ||
	die "only $hits of the 256 hot blocks hit after the scan (want >= 90 %): the scan evicted the hot set"
log "OK"
