#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stable pages (invariant S, rust/bufcache/engine/writeback.rs): a writer
# never copies into a block that is being written back; it waits for the
# writeback to end. The writeback bio points at the cache's buffer itself,
# so a copy into it changes the data under a write in flight.
#
# The origin is dm-integrity (direct mode, crc32c per 4 KiB block) over
# dm-delay over a loop device. dm-integrity submits a write's data bio,
# then computes its checksums from the bio's pages at once (a work item),
# while dm-delay holds the data bio until the test releases it (a table
# swap: the suspend submits what it holds); the loop device copies the
# data only then. Block 5 is written (A) and a flush message writes it
# back: once dm-delay holds that write (the block is Writing), block 5 is
# rewritten (B). The rewrite must wait for the writeback; after the
# release, block 5 on the integrity device must read back as A, with a
# good checksum. A cache that copies B into the buffer meanwhile (the
# control, test_write_while_writing=1) has the loop device write B under
# A's checksum: block 5 then fails dm-integrity's check (EILSEQ). (A
# later writeback would write B with its own checksum and hide the
# damage: the test reads the origin before any.)
#
# The window: the rewrite reaches the cache (its device's in-flight
# write count) while dm-delay holds the writeback and the cache counts the
# block in writing_blocks; the release comes only after that, whatever
# the timing.
# vm-timeout: 120
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 8)"
lsz="$(blockdev --getsz "$loop")"
free_table="0 $lsz delay $loop 0 0"
# Reads and flushes pass, writes held 60 s (released sooner by `release`).
hold_table="0 $lsz delay $loop 0 0 $loop 0 60000 $loop 0 0"
od="$(dm_create sd "$free_table")"
# dm-integrity formats a zeroed device at its first load (length 8: one
# 4 KiB block); its superblock then says how many sectors it provides.
run dmsetup create ig1 --table "0 8 integrity $od 0 4 D 2 internal_hash:crc32c block_size:4096"
run dmsetup remove ig1
isz="$(od -An -t u8 -j 16 -N 8 "$loop" | tr -d ' ')"
case "$isz" in '' | *[!0-9]*) die "dm-integrity's superblock gives no size ('$isz')" ;; esac
[ "$isz" -ge 1024 ] || die "dm-integrity provides only $isz sectors"
isz=$((isz / 8 * 8))
ig="$(dm_create ig "0 $isz integrity $od 0 4 D 2 internal_hash:crc32c block_size:4096")"
# A block never written has no valid checksum: write them all once.
run dd if=/dev/zero of="$ig" bs=4k count=$((isz / 8)) oflag=direct status=none
dm="$(bc_create sp "$ig" 4096 cache_size $((1 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0)"
dmn="$(basename "$dm")"

# delay_held: writes dm-delay holds now.
delay_held() {
	local w
	read -r -a w <<<"$(dmsetup status sd)" || die "dmsetup status sd failed"
	echo "${w[4]}"
}
# release: swap dm-delay's table for one without delay; the suspend of the
# old table submits what it holds.
release() {
	dmsetup load sd --table "$free_table" && dmsetup resume sd
}
# Whatever happens, the cache can write back before it is removed.
on_cleanup release

blk=5
run dd if=/dev/urandom of=/tmp/a bs=4k count=1 status=none
run dd if=/dev/urandom of=/tmp/b bs=4k count=1 status=none
sha_a="$(sha_of </tmp/a)"
sha_b="$(sha_of </tmp/b)"
run dd if=/tmp/a of="$dm" bs=4k seek="$blk" count=1 oflag=direct status=none
assert_eq "$(bc_field sp dirty_blocks)" 1 "dirty blocks after writing A to block $blk"

run dmsetup load sd --table "$hold_table"
run dmsetup resume sd
bg_start flush dmsetup message sp 0 flush
# The writeback of A reaches dm-delay, which holds it (ordering, not timing).
for ((i = 0; i < 100; i++)); do
	[ "$(delay_held)" -ge 1 ] && break
	[ ! -f /tmp/flush.rc ] || die "the flush message ended before its writeback was held: $(cat /tmp/flush.out)"
	sleep 0.1
done
held="$(delay_held)"
assert_eq "$held" 1 "writes dm-delay holds (the writeback of block $blk)"
assert_eq "$(bc_field sp writing_blocks)" 1 "blocks the cache is writing back"
log "writeback of A held: $(bc_status sp)"

# The rewrite (B), while A's writeback is held: it completes at once if it
# may copy into the block, else it waits in the cache.
wh0="$(bc_field sp write_hits)"
bg_start rewrite dd if=/tmp/b of="$dm" bs=4k seek="$blk" count=1 oflag=direct status=none
inflight=0
for ((i = 0; i < 100; i++)); do
	[ -f /tmp/rewrite.rc ] && break
	read -r _ inflight <"/sys/block/$dmn/inflight" || die "cannot read /sys/block/$dmn/inflight"
	[ "$inflight" -eq 0 ] || break
	sleep 0.1
done
[ -f /tmp/rewrite.rc ] || [ "$inflight" -gt 0 ] ||
	die "the rewrite of block $blk neither completed nor reached the cache within 10 s"
# The window was open: the writeback was still held when the rewrite came.
assert_eq "$(delay_held)" 1 "writes dm-delay holds after the rewrite came"
assert_eq "$(bc_field sp writing_blocks)" 1 "blocks the cache is writing back after the rewrite came"
if [ -f /tmp/rewrite.rc ]; then
	log "the rewrite of block $blk COMPLETED while the block's writeback was held (write_hits $wh0 -> $(bc_field sp write_hits)): $(bc_status sp)"
	window="the rewrite completed during the writeback"
else
	log "window hit: the rewrite of block $blk waits in the cache ($inflight write in flight) while its writeback is held: $(bc_status sp)"
	window="the rewrite waited in the cache during the writeback"
fi

run release
rc="$(bg_wait flush 30)" || die "the flush message still runs 30 s after the release"
[ "$rc" -eq 0 ] || die "the flush message failed: $(cat /tmp/flush.out)"
rc="$(bg_wait rewrite 30)" || die "the rewrite of block $blk still runs 30 s after the release"
[ "$rc" -eq 0 ] || die "the rewrite of block $blk failed: $(cat /tmp/rewrite.out)"
log "released: $(bc_status sp)"

# Block 5 on the origin, before any other writeback of it: A, with A's
# checksum.
if ! got="$(dd if="$ig" bs=4k skip="$blk" count=1 iflag=direct status=none 2>/tmp/rd.err | sha_of)" ||
	[ -s /tmp/rd.err ]; then
	die "stable pages: block $blk fails dm-integrity's checksum on the origin ($(tr '\n' ' ' </tmp/rd.err | head -c 200)(EILSEQ: dm-integrity's checksum error); $(dmesg | grep -c 'Checksum failed') 'Checksum failed' in the kernel log): the cache changed its data while writing it back"
fi
case "$got" in
"$sha_a") ;;
"$sha_b") die "stable pages: block $blk on the origin holds B, written into the cache after A's writeback had started (dm-integrity checksummed it after the copy: its tag work is asynchronous): the cache changed its data while writing it back" ;;
*) die "block $blk on the origin holds neither A nor B after A's writeback" ;;
esac
assert_eq "$(dd if="$dm" bs=4k skip="$blk" count=1 iflag=direct status=none | sha_of)" "$sha_b" "block $blk through the cache after the rewrite"
assert_eq "$(bc_field sp dirty_blocks)" 1 "dirty blocks after the rewrite (B, not yet written back)"

# B is written back in turn, with its own checksum.
run dmsetup message sp 0 flush
assert_eq "$(bc_field sp dirty_blocks)" 0 "dirty blocks after the second flush"
run dmsetup remove sp
assert_eq "$(dd if="$ig" bs=4k skip="$blk" count=1 iflag=direct status=none | sha_of)" "$sha_b" "block $blk on the origin after the second flush"
[ "$(dmesg | grep -c 'Checksum failed')" -eq 0 ] || die "dm-integrity reported checksum failures: $(dmesg | grep 'Checksum failed' | head -n 3)"
figure "stable pages: $window; the origin held A with a good checksum, then B"
log "OK"
