#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Origin faults during fills, writeback and flush: nothing hangs, errors
# are reported, and once the origin heals nothing acknowledged is lost.
#
# 1. The origin swapped for the `error` target and back. The cache (1 MiB
#    writeback, no background writeback) holds
#    dirty data D1 (256 KiB) and flushed data F; the origin (a dm device,
#    linear over a loop device) is reloaded with `error`. Then, each
#    within 30 s: a read of an uncached range fails (EIO), a read of F
#    (cached) succeeds, a 128 KiB write D2 is absorbed (it fits), a
#    `flush` message fails with EIO, an fsync of the device fails, and the
#    status shows writeback and fill errors. The origin is swapped back:
#    a flush succeeds, nothing is dirty, and after the cache is removed
#    the loop device holds F, D1 and D2.
# 2. dm-dust bad blocks under the cache (readahead 8): a read of a bad
#    block fails with EIO, within 30 s, and is counted (fill_errors); the
#    blocks before and after it read correctly, also by a sequential read
#    whose readahead runs into the bad block; a write to the bad block is
#    absorbed and, written back at the flush, heals it (dm-dust drops a bad
#    block when it is written); then every block reads back the data
#    written, through the cache and on the loop device.
# The figures: faults injected and errors counted.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
MB=$((1 << 20))
# within_s SECONDS NAME CMD...: CMD must end within SECONDS; echo its status.
within_s() {
	local t="$1" n="$2" rc
	shift 2
	bg_start "$n" "$@"
	rc="$(bg_wait "$n" "$t")" || die "$n: still running after $t s: $*"
	echo "$rc"
}

# ---- 1. error target swap ----
loop="$(make_loop 16)"
sz="$(blockdev --getsz "$loop")"
og="$(dm_create og "0 $sz linear $loop 0")"
dm="$(bc_create fe "$og" 4096 cache_size $MB max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0)"
on_cleanup heal_linear og "$loop"
run dd if=/dev/urandom of=/tmp/f bs=4k count=32 status=none
run dd if=/tmp/f of="$dm" bs=4k seek=0 count=32 oflag=direct status=none
run dmsetup message fe 0 flush
# D1 stays dirty (no background writeback: no age limit, watermarks 100).
run dd if=/dev/urandom of=/tmp/d1 bs=4k count=64 status=none
run dd if=/tmp/d1 of="$dm" bs=4k seek=256 count=64 oflag=direct status=none
run dmsetup suspend og
run dmsetup reload og --table "0 $sz error"
run dmsetup resume og
log "origin swapped for the error target; $(bc_status fe)"
rc="$(within_s 30 ur dd if="$dm" of=/dev/null bs=4k skip=2048 count=4 iflag=direct status=none)"
[ "$rc" != 0 ] || die "a read of an uncached range succeeded over the error target"
rc="$(within_s 30 cr dd if="$dm" of=/tmp/f.back bs=4k skip=0 count=32 iflag=direct status=none)"
[ "$rc" = 0 ] || die "a read of cached data failed while the origin is failing: $(cat /tmp/cr.out)"
cmp -s /tmp/f /tmp/f.back || die "cached data read back wrong while the origin is failing"
run dd if=/dev/urandom of=/tmp/d2 bs=4k count=32 status=none
rc="$(within_s 30 w2 dd if=/tmp/d2 of="$dm" bs=4k seek=512 count=32 oflag=direct status=none)"
[ "$rc" = 0 ] || die "a 128 KiB write into a cache with room failed: $(cat /tmp/w2.out)"
rc="$(within_s 30 fl dmsetup message fe 0 flush)"
[ "$rc" != 0 ] || die "the flush message succeeded although the origin fails every write"
rc="$(within_s 30 fs sync "$dm")"
[ "$rc" != 0 ] || die "fsync of the device succeeded although the origin fails every write"
wbe="$(bc_field fe writeback_errors)"
fie="$(bc_field fe fill_errors)"
log "while failing: flush and fsync failed as they must; writeback_errors=$wbe fill_errors=$fie; $(bc_status fe)"
run heal_linear og "$loop"
rc="$(within_s 60 fl2 dmsetup message fe 0 flush)"
[ "$rc" = 0 ] || die "the flush after healing failed: $(cat /tmp/fl2.out); $(bc_status fe)"
assert_eq "$(bc_field fe dirty_blocks)" 0 "dirty blocks after the healed flush"
run dmsetup remove fe
cmp -s /tmp/f <(dd if="$loop" bs=4k skip=0 count=32 iflag=direct status=none) || die "F is not on the origin"
cmp -s /tmp/d1 <(dd if="$loop" bs=4k skip=256 count=64 iflag=direct status=none) || die "D1 (dirty at the swap) is not on the origin"
cmp -s /tmp/d2 <(dd if="$loop" bs=4k skip=512 count=32 iflag=direct status=none) || die "D2 (written while failing) is not on the origin"
[ "$wbe" -gt 0 ] || die "no writeback error counted"
[ "$fie" -gt 0 ] || die "no fill error counted"
figure "error target swap: F, D1 and D2 on the origin after healing ($wbe writeback errors, $fie fill errors, flush and fsync failed while failing)"

# ---- 2. dm-dust bad blocks ----
loop2="$(make_loop 8)"
sz2="$(blockdev --getsz "$loop2")"
run dd if=/dev/urandom of=/tmp/base bs=4k count=64 status=none
run dd if=/tmp/base of="$loop2" bs=4k count=64 oflag=direct status=none
# dm-dust block size 4096: bad blocks are numbered in 4 KiB blocks.
dust="$(dm_create du "0 $sz2 dust $loop2 0 4096")"
for b in 10 20 21 40; do run dmsetup message du 0 addbadblock "$b"; done
run dmsetup message du 0 enable
dm2="$(bc_create fd "$dust" 4096 cache_size $MB max_age_ms 0 high_watermark 100 low_watermark 100 readahead 8)"
rc="$(within_s 30 b10 dd if="$dm2" of=/dev/null bs=4k skip=10 count=1 iflag=direct status=none)"
[ "$rc" != 0 ] || die "a read of bad block 10 succeeded"
for b in 9 11; do
	cmp -s <(dd if=/tmp/base bs=4k skip="$b" count=1 status=none) \
		<(dd if="$dm2" bs=4k skip="$b" count=1 iflag=direct status=none) || die "good block $b next to a bad one reads wrong"
done
# Sequential 4 KiB reads from block 12: readahead reaches bad blocks 20 and
# 21 long before the reader does; blocks 12..19 must read correctly.
for b in $(seq 12 19); do
	cmp -s <(dd if=/tmp/base bs=4k skip="$b" count=1 status=none) \
		<(dd if="$dm2" bs=4k skip="$b" count=1 iflag=direct status=none) ||
		die "block $b (readahead into bad blocks 20-21 ahead of it) reads wrong"
done
rc="$(within_s 30 b20 dd if="$dm2" of=/dev/null bs=4k skip=20 count=1 iflag=direct status=none)"
[ "$rc" != 0 ] || die "a read of bad block 20 succeeded (readahead must not have cached it)"
fe2="$(bc_field fd fill_errors)"
[ "$fe2" -ge 2 ] || die "fill_errors $fe2 after two failed reads"
# Writes heal: every bad block is overwritten through the cache.
run dd if=/dev/urandom of=/tmp/new bs=4k count=4 status=none
i=0
for b in 10 20 21 40; do
	run dd if=/tmp/new of="$dm2" bs=4k skip=$i seek="$b" count=1 oflag=direct status=none
	i=$((i + 1))
done
run dmsetup message fd 0 flush
i=0
for b in 10 20 21 40; do
	cmp -s <(dd if=/tmp/new bs=4k skip=$i count=1 status=none) \
		<(dd if="$dm2" bs=4k skip="$b" count=1 iflag=direct status=none) || die "healed block $b reads wrong through the cache"
	i=$((i + 1))
done
figure "dm-dust: 4 bad blocks, $fe2 fill errors, healed by writes"
log "dust: $(bc_status fd)"
run dmsetup remove fd
run dmsetup remove du
i=0
for b in $(seq 0 63); do
	case "$b" in
	10 | 20 | 21 | 40) want="$(dd if=/tmp/new bs=4k skip=$i count=1 status=none | sha_of)" i=$((i + 1)) ;;
	*) want="$(dd if=/tmp/base bs=4k skip="$b" count=1 status=none | sha_of)" ;;
	esac
	assert_eq "$(dd if="$loop2" bs=4k skip="$b" count=1 iflag=direct status=none | sha_of)" "$want" "block $b on the loop device"
done
log "OK"
