#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Write-around: a sequential write stream past sequential_cutoff (1 MiB
# here) goes to the origin in whole bios, uncached, and while one is in
# flight none of its blocks may enter the cache. The origin delays writes
# by 2 s (dm-delay), so each 1 MiB write-around is in flight 2 s; 1 s
# into it, a 4 KiB read of a block it covers misses. Its fill must wait
# for the write-around (fence_waits counts it): a fill that read the
# origin then would cache the older data as clean, and every later read
# would return data older than an acknowledged write
# (test_no_write_fence=1 does that; the negative control).
#
# Then: every block reads back as the new data, through the cache and on
# the origin; the write-arounds were counted. Over an undelayed origin: a
# cached block stops a write-around (it is written into the cache
# instead), and a fio verify of mixed 4k-1M sequential writes
# (write-arounds and cached writes mixed) reads back right.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 32
MB=$((1 << 20))
run dd if=/dev/urandom of=/tmp/old bs=1M count=8 status=none
run dd if=/dev/urandom of=/tmp/new bs=1M count=8 status=none
run dd if=/tmp/old of="$loop" bs=1M count=8 oflag=direct conv=notrunc status=none
# Reads undelayed, writes 2 s.
od="$(dm_create wo "0 $sz delay $loop 0 0 $loop 0 2000")"
dm="$(bc_create wa "$od" 4096 cache_size $((16 * MB)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff $MB)"

# MiB 0 starts the stream (into the cache); MiB 1-7 are write-arounds,
# each raced by a read of one of its blocks.
run dd if=/tmp/new of="$dm" bs=1M count=1 oflag=direct status=none
stale=0
for k in 1 2 3 4 5 6 7; do
	blk=$((k * 256 + 17 * k))
	bg_start w dd if=/tmp/new of="$dm" bs=1M skip="$k" seek="$k" count=1 oflag=direct status=none
	sleep 1
	bg_start r dd if="$dm" of=/dev/null bs=4k skip="$blk" count=1 iflag=direct status=none
	rc="$(bg_wait w 30)" || die "the write-around of MiB $k still runs after 30 s"
	[ "$rc" -eq 0 ] || die "the write-around of MiB $k failed: $(cat /tmp/w.out)"
	rc="$(bg_wait r 30)" || die "the read of block $blk still runs after 30 s"
	[ "$rc" -eq 0 ] || die "the read of block $blk failed: $(cat /tmp/r.out)"
	# Acknowledged: every later read returns the new data.
	dd if="$dm" of=/tmp/blk bs=4k skip="$blk" count=1 iflag=direct status=none ||
		die "the read back of block $blk failed"
	if ! cmp -s /tmp/blk <(dd if=/tmp/new bs=4k skip="$blk" count=1 status=none); then
		log "stale read: block $blk, written around (MiB $k) and acknowledged, reads back older data"
		stale=$((stale + 1))
	fi
done
log "$(bc_status wa)"
[ "$stale" -eq 0 ] || die "stale read: $stale of 7 blocks read during their write-around hold older data"
wa="$(bc_field wa bypassed_writes)" fw="$(bc_field wa fence_waits)"
[ "$wa" -ge 7 ] || die "$wa write-arounds counted, 7 expected"
[ "$fw" -ge 1 ] || die "no fill waited for a write-around: the race window was missed"
figure "7 write-arounds of 1 MiB raced by reads: $wa written around, $fw fills waited, 0 stale"
assert_eq "$(sha_range "$dm" 0 8)" "$(sha_of </tmp/new)" "8 MiB through the cache"
assert_eq "$(sha_range "$loop" 1 7)" "$(sha_of < <(dd if=/tmp/new bs=1M skip=1 count=7 status=none))" "MiB 1-7 on the origin (written around)"

# MiB 0 is dirty: the remove writes it back, and through the 2 s delay
# that costs 2 s per writeback round (27 s seen). The race is over, so
# the delay goes first (the remove's own writeback is not what this
# test checks; safety_lifecycle_load does).
run dmsetup suspend wo
run dmsetup load wo --table "0 $sz delay $loop 0 0 $loop 0 0"
run dmsetup resume wo
run dmsetup remove wa
assert_eq "$(sha_range "$loop" 0 8)" "$(sha_of </tmp/new)" "8 MiB on the origin after remove"

# Without the delay: a cached block stops a write-around. Block 5 of
# MiB 9 is cached (dirty); a stream over MiB 8-10 writes MiB 8 into the
# cache (the cutoff), then writes around the uncached runs of MiB 9 and
# 10 and writes block 5 into the cache.
dm="$(bc_create wa "$loop" 4096 cache_size $((8 * MB)) readahead 0 sequential_cutoff $MB)"
run dd if=/tmp/old of="$dm" bs=4k seek=$((9 * 256 + 5)) count=1 oflag=direct status=none
P="$(cg_setup wa "+io")"
mkdir -p "$P/W"
on_cleanup rmdir "$P/W" "$P"
mm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
w0="$(bc_field wa write_hits)" b0="$(bc_field wa bypassed_writes)" cw0="$(cg_io "$P/W" "$mm" wbytes)"
in_cg "$P/W" dd if=/tmp/new of="$dm" bs=1M seek=8 count=3 oflag=direct status=none ||
	die "the stream over MiB 8-10 failed"
# The write-arounds (MiB 9-10 but the cached block) are charged to W.
cw=$(($(cg_io "$P/W" "$mm" wbytes) - cw0))
[ "$cw" -ge $((2 * MB - 4096)) ] || die "write-arounds: $cw bytes charged to the writer's cgroup on the origin, $((2 * MB - 4096)) written around"
[ "$(bc_field wa write_hits)" -eq $((w0 + 1)) ] || die "the cached block was not written into the cache ($(bc_status wa))"
[ "$(bc_field wa bypassed_writes)" -ge $((b0 + 3)) ] || die "MiB 9-10 were not written around ($(bc_status wa))"
assert_eq "$(sha_range "$dm" 8 3)" "$(sha_of < <(dd if=/tmp/new bs=1M count=3 status=none))" "MiB 8-10 through the cache"

# Mixed sizes: fio write+verify, 4k-1M sequential.
run fio --name=mix --filename="$dm" --rw=write --bsrange=4k-1M --offset=$((12 * MB)) \
	--size=$((16 * MB)) --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--randseed=7 --output=/tmp/fio.out
b1="$(bc_field wa bypassed_writes)"
[ "$b1" -gt $((b0 + 3)) ] || die "fio's stream was not written around"
figure "write-arounds charged to the writer's cgroup: $cw bytes"
figure "fio 4k-1M sequential write+verify of 16 MiB: $((b1 - b0 - 3)) write-arounds, verified"
run dmsetup remove wa
assert_eq "$(sha_range "$loop" 8 3)" "$(sha_of < <(dd if=/tmp/new bs=1M count=3 status=none))" "MiB 8-10 on the origin after remove"
run fio --name=mix --filename="$loop" --rw=write --bsrange=4k-1M --offset=$((12 * MB)) \
	--size=$((16 * MB)) --direct=1 --verify=crc32c --do_verify=1 --verify_only \
	--randseed=7 --output=/tmp/fio2.out
