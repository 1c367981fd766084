#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Data path of the target: fio writes with verification through the
# bufcache device, then the same data is verified on the loop device
# itself (bytes on the origin). Flushes and discards reach the origin;
# status counters move.
# The tables that write and read sequential data set sequential_cutoff 0:
# with the default 4 MiB cutoff every stream past 4 MiB bypasses the cache
# (write-around, bypassed reads) and the origin would hold the data
# without the cache ever having had it. The counters show that it did:
# every one of fio's 8192 block writes and verify reads went through the
# cache (none bypassed), and the 8 MiB pattern is 2048 dirty blocks,
# read back as 2048 hits, before the remove that must write it back.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 64
dm="$(dm_create bc "0 $sz bufcache $loop 4096 2 sequential_cutoff 0")"
[ -b "$dm" ] || die "$dm is not a block device"

# reads (hits + misses), writes (hits + misses), flushes, discards
status() {
	echo "$(($(bc_field bc read_hits) + $(bc_field bc read_misses)))" \
		"$(($(bc_field bc write_hits) + $(bc_field bc write_misses)))" \
		"$(bc_field bc flushes)" "$(bc_field bc discards)"
}
log "status before: $(bc_status bc)"
read -r r0 w0 f0 d0 < <(status)

fio_job=(--name=basic --rw=write --bs=64k --size=32M --offset=4M --direct=1
	--ioengine=psync --verify=crc32c --verify_fatal=1 --do_verify=1)
run fio --output-format=terse --terse-version=3 --filename="$dm" "${fio_job[@]}" >/tmp/fio1.out
log "fio through $dm: $(cut -d';' -f6,7 /tmp/fio1.out) (read KB, read bw)"

read -r r1 w1 f1 d1 < <(status)
log "status after fio: $(bc_status bc)"
# 32 MiB in 4 KiB blocks: 8192 block writes, and as many verify reads.
[ "$w1" -ge $((w0 + 8192)) ] || die "write counter did not move by 8192 blocks: $w0 -> $w1"
[ "$r1" -ge $((r0 + 8192)) ] || die "read counter did not move by 8192 blocks: $r0 -> $r1"
assert_eq "$(bc_field bc bypassed_writes)" 0 "writes that bypassed the cache"
assert_eq "$(bc_field bc bypassed_reads)" 0 "reads that bypassed the cache"

run dmsetup remove bc
# The same blocks, verified on the origin device directly.
run fio --output-format=terse --terse-version=3 --filename="$loop" "${fio_job[@]}" \
	--verify_only >/tmp/fio2.out
log "verified on $loop"

# Byte-exact check with a random pattern, through the target and back
# (after the remove, every dirty block must have been written back). No
# background writeback (max_age_ms 0, watermarks 100): all 2048 blocks are
# still dirty when the remove comes.
dm="$(dm_create bc "0 $sz bufcache $loop 4096 8 max_age_ms 0 high_watermark 100 low_watermark 100 sequential_cutoff 0")"
run dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 status=none
run dd if=/tmp/pattern of="$dm" bs=1M seek=40 oflag=direct status=none
assert_eq "$(bc_field bc dirty_blocks)" 2048 "dirty blocks after writing 8 MiB"
want="$(sha256sum </tmp/pattern | cut -d' ' -f1)"
h0="$(bc_field bc read_hits)"
assert_eq "$(sha_range "$dm" 40 8)" "$want" "content read back through bufcache"
assert_eq "$(($(bc_field bc read_hits) - h0))" 2048 "read hits of the 8 MiB just written"
assert_eq "$(bc_field bc dirty_blocks)" 2048 "dirty blocks before the remove"
run dmsetup remove bc
assert_eq "$(sha_range "$loop" 40 8)" "$want" "origin content after remove"
dm="$(dm_create bc "0 $sz bufcache $loop 4096")"

# A flush through the target reaches the origin: the loop device's
# completed-flush counter (field 16 of /sys/block/<dev>/stat) moves, and
# the dirty block written just before is on the origin.
lname="$(basename "$loop")"
fl0="$(awk '{ print $16 }' "/sys/block/$lname/stat")"
read -r _ _ f2 _ < <(status)
run dd if=/dev/urandom of=/tmp/blk bs=4k count=1 status=none
run dd if=/tmp/blk of="$dm" bs=4k seek=100 count=1 oflag=direct,sync status=none
assert_eq "$(dd if="$loop" bs=4k skip=100 count=1 iflag=direct status=none | sha256sum)" \
	"$(sha256sum </tmp/blk)" "block on the origin after O_SYNC write"
fl1="$(awk '{ print $16 }' "/sys/block/$lname/stat")"
read -r _ _ f3 _ < <(status)
log "origin flushes $fl0 -> $fl1, target flush counter $f2 -> $f3"
[ "$f3" -gt "$f2" ] || die "target saw no flush"
[ "$fl1" -gt "$fl0" ] || die "no flush reached the origin"

# Discard passes down: the loop device punches a hole in its backing file,
# which then reads back as zeroes, on the origin and through the cache.
read -r _ _ _ d2 < <(status)
run blkdiscard -o $((40 * 1024 * 1024)) -l $((8 * 1024 * 1024)) "$dm"
read -r _ _ _ d3 < <(status)
[ "$d3" -gt "$d2" ] || die "target saw no discard"
cmp -n $((8 * 1024 * 1024)) <(dd if="$loop" bs=1M skip=40 count=8 iflag=direct status=none) /dev/zero ||
	die "discarded range on the origin is not zeroes"
cmp -n $((8 * 1024 * 1024)) <(dd if="$dm" bs=1M skip=40 count=8 iflag=direct status=none) /dev/zero ||
	die "discarded range read through bufcache is not zeroes"
log "OK"
