#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every `dmsetup message`, with good and bad arguments, and its effect on
# status and table. Data written is kept in /tmp: after flush, and after
# the switch to writethrough, the origin and the cache are each compared
# with those source bytes (not with each other).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 64
majmin="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
dm="$(bc_create m "$loop" 4096 cache_size $((16 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff 0)"
msg() { run dmsetup message m 0 "$@"; }
badmsg() {
	dmesg -C
	expect_fail "message '$*'" dmsetup message m 0 "$@"
}

# Dirty some blocks.
run dd if=/dev/urandom of=/tmp/m8 bs=1M count=8 status=none
run dd if=/tmp/m8 of="$dm" bs=1M count=8 oflag=direct status=none
dirty="$(bc_field m dirty_blocks)"
[ "$dirty" -eq 2048 ] || die "expected 2048 dirty blocks, have $dirty"

# invalidate is refused while dirty blocks remain.
badmsg invalidate
dmesg | grep -q "dirty blocks remain" || die "no kernel message for refused invalidate"
assert_eq "$(bc_field m blocks_cached)" 2048 "blocks after refused invalidate"

# flush writes everything back, then invalidate drops it all.
msg flush
assert_eq "$(bc_field m dirty_blocks)" 0 "dirty after flush"
[ "$(bc_field m writebacks)" -ge 2048 ] || die "writebacks did not count the flush"
assert_eq "$(sha_range "$loop" 0 8)" "$(sha_of </tmp/m8)" "origin after flush"
assert_eq "$(sha_range "$dm" 0 8)" "$(sha_of </tmp/m8)" "read through the cache after flush"
msg invalidate
assert_eq "$(bc_field m blocks_cached)" 0 "blocks after invalidate"

# cache_size: shrink evicts down to the new cap; growing past the table's
# size needs a reload.
sha_range "$dm" 0 12 >/dev/null
[ "$(bc_field m blocks_cached)" -ge 3000 ] || die "read did not fill the cache"
msg cache_size $((4 << 20))
assert_eq "$(bc_field m cap_bytes)" $((4 << 20)) "cap after shrink"
used="$(bc_field m bytes_used)"
[ "$used" -le $((4 << 20)) ] || die "bytes_used $used above the new cap"
# The smallest cap (16 blocks, fewer than the table's shards and reserve):
# every shard must still hold a block, or reads there wait for ever (the
# fuzz test found that). 4 MiB must read back within 60 s, every block
# right, with writes in between.
msg cache_size 65536
run dd if=/dev/urandom of=/tmp/small bs=1M count=4 status=none
bg_start smallw dd if=/tmp/small of="$dm" bs=1M seek=24 count=4 oflag=direct status=none
rc="$(bg_wait smallw 60)" || die "a 4 MiB write through a 16-block cache is still blocked after 60 s: $(bc_status m)"
assert_eq "$rc" 0 "write through a 16-block cache"
bg_start small dd if="$dm" of=/tmp/small.back bs=64k skip=384 count=64 iflag=direct status=none
rc="$(bg_wait small 60)" || die "a 4 MiB read through a 16-block cache is still blocked after 60 s: $(bc_status m)"
assert_eq "$rc" 0 "read through a 16-block cache"
cmp -s /tmp/small /tmp/small.back || die "4 MiB read through a 16-block cache differ from what was written"
msg cache_size $((16 << 20))
assert_eq "$(bc_field m cap_bytes)" $((16 << 20)) "cap after growing back"
badmsg cache_size $((1 << 30))
badmsg cache_size 4096
badmsg cache_size 4M
badmsg cache_size
assert_eq "$(dmsetup table m)" "0 $sz bufcache $majmin 4096 12 cache_size 16777216 high_watermark 100 low_watermark 100 max_age_ms 0 readahead 0 sequential_cutoff 0" "table after cache_size"

# mode: writethrough writes back first; then writes stay clean.
run dd if=/dev/urandom of=/tmp/mwb bs=1M count=2 status=none
run dd if=/tmp/mwb of="$dm" bs=1M seek=20 count=2 oflag=direct status=none
[ "$(bc_field m dirty_blocks)" -gt 0 ] || die "no dirty blocks before mode switch"
msg mode writethrough
assert_eq "$(bc_field m mode)" writethrough "mode"
assert_eq "$(bc_field m dirty_blocks)" 0 "dirty after switching to writethrough"
assert_eq "$(sha_range "$loop" 20 2)" "$(sha_of </tmp/mwb)" "data written back by the switch, on the origin"
run dd if=/dev/urandom of=/tmp/mwt bs=1M count=2 status=none
run dd if=/tmp/mwt of="$dm" bs=1M seek=24 count=2 oflag=direct status=none
assert_eq "$(bc_field m dirty_blocks)" 0 "dirty after writethrough writes"
assert_eq "$(sha_range "$loop" 24 2)" "$(sha_of </tmp/mwt)" "writethrough data on the origin"
assert_eq "$(sha_range "$dm" 24 2)" "$(sha_of </tmp/mwt)" "writethrough data through the cache"
msg mode writeback
assert_eq "$(bc_field m mode)" writeback "mode"
badmsg mode fast
badmsg mode

# watermarks
msg watermarks 80 20
dmsetup table m | grep -q "high_watermark 80 low_watermark 20" || die "table lacks the new watermarks: $(dmsetup table m)"
badmsg watermarks 20 80
badmsg watermarks 101 0
badmsg watermarks 50

# clear_stats
[ "$(bc_field m read_misses)" -gt 0 ] || die "no read misses counted"
msg clear_stats
for f in read_hits read_misses write_hits write_misses writebacks evictions readahead errors flushes discards full_waits; do
	assert_eq "$(bc_field m "$f")" 0 "$f after clear_stats"
done
badmsg clear_stats now

# Unknown and empty.
badmsg frobnicate
badmsg flush now
run dmsetup table m
log "$(bc_status m)"
log "OK"
