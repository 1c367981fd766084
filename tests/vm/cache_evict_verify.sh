#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Heavy eviction: a 4 MiB cache in front of a 48 MiB working set, written
# and verified with fio, in writeback and writethrough mode and with 512 B,
# 4 KiB and 64 KiB blocks; afterwards the data is verified on the loop
# device itself.
# vm-timeout: 600
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

need_module dm-bufcache
loop="$(make_loop 64)"

for mode in writeback writethrough; do
	for bs in 4096 512 65536; do
		dm="$(bc_create ev "$loop" "$bs" cache_size $((4 << 20)) "$mode")"
		# Sequential write + verify, then a random-order pass over it.
		fio_write "$dm" 0 48M
		fio_write "$dm" 0 48M --rw=randwrite --bs=16k --randseed=$RANDOM
		st="$(bc_status ev)"
		log "$mode bs=$bs: $st"
		used="$(bc_field ev bytes_used)"
		cap="$(bc_field ev cap_bytes)"
		[ "$used" -le "$cap" ] || die "bytes_used $used above cap $cap"
		[ "$(bc_field ev evictions)" -gt 0 ] || die "no evictions with a 4 MiB cache"
		if [ "$mode" = writethrough ]; then
			assert_eq "$(bc_field ev dirty_blocks)" 0 "dirty blocks in writethrough mode"
		fi
		run dmsetup remove ev
		fio_verify "$loop" 0 48M --rw=randwrite --bs=16k
		log "$mode bs=$bs: verified on the origin"
	done
done
log "OK"
