#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Heavy eviction: a cache 8 to 12 times smaller than the working set (a
# 1 MiB cache: the least that holds 16 blocks of 64 KiB), written and
# verified with fio, in writeback and writethrough mode and with 512 B,
# 4 KiB and 64 KiB blocks; afterwards the data is verified on the loop
# device itself. (512 B blocks use a smaller set: every bio is one block.)
# sequential_cutoff 0: fio's sequential pass goes through the cache (with
# the default 4 MiB cutoff all but its first 4 MiB would go around it).
# Every block of that pass enters the cache and at most blocks_cached are
# still there, so evictions must be at least the set's blocks minus
# blocks_cached right after it, with nothing bypassed.
# vm-timeout: 900
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"

for run in writeback:4096 writeback:512 writeback:65536 writethrough:4096 writethrough:65536; do
	mode="${run%:*}" bs="${run#*:}"
	case "$run" in
	*:512) cache=$((512 << 10)) ws=6M ;;
	writeback:*) cache=$((1 << 20)) ws=12M ;;
	writethrough:*) cache=$((1 << 20)) ws=8M ;;
	esac
	dm="$(bc_create ev "$loop" "$bs" cache_size "$cache" "$mode" sequential_cutoff 0)"
	# Sequential write + verify, then a random-order pass over it.
	fio_write "$dm" 0 "$ws"
	# Each of the set's blocks was written into the cache, which holds
	# blocks_cached of them now: the others were evicted (blocks leave the
	# cache no other way here).
	nblk=$((${ws%M} * 1048576 / bs))
	cached="$(bc_field ev blocks_cached)" evs="$(bc_field ev evictions)"
	log "$mode bs=$bs after the sequential pass: $(bc_status ev)"
	assert_eq "$(bc_field ev bypassed_writes)" 0 "$mode bs=$bs: writes that bypassed the cache"
	[ "$evs" -ge $((nblk - cached)) ] ||
		die "$mode bs=$bs: $evs evictions after writing $nblk blocks into a cache that holds $cached: the sequential pass did not go through the cache"
	fio_write "$dm" 0 "$ws" --rw=randwrite --bs=16k --randseed=$RANDOM
	st="$(bc_status ev)"
	log "$mode bs=$bs: $st"
	used="$(bc_field ev bytes_used)"
	cap="$(bc_field ev cap_bytes)"
	[ "$used" -le "$cap" ] || die "bytes_used $used above cap $cap"
	[ "$(bc_field ev evictions)" -gt 0 ] || die "no evictions with a $cache byte cache"
	if [ "$mode" = writethrough ]; then
		assert_eq "$(bc_field ev dirty_blocks)" 0 "dirty blocks in writethrough mode"
	fi
	run dmsetup remove ev
	fio_verify "$loop" 0 "$ws" --rw=randwrite --bs=16k
	log "$mode bs=$bs: verified on the origin"
done
log "OK"
