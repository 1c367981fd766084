#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lifecycle: every suspend writes back (a noflush one too: a volatile cache
# cannot hand dirty blocks to the next table), remove with dirty data writes
# it back, a table reload keeps no stale data, background
# writeback honours max_age_ms and the watermarks.
# Data written is kept in /tmp and compared with what the origin holds and
# what the cache returns, each against those source bytes (not against each
# other, which a write lost by both would pass).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 64
held="max_age_ms 0 high_watermark 100 low_watermark 100"

# Every suspend writes back, --noflush included.
dm="$(bc_create lc "$loop" 4096 cache_size $((16 << 20)) $held)"
run dd if=/dev/urandom of=/tmp/s1 bs=1M count=2 status=none
run dd if=/tmp/s1 of="$dm" bs=1M count=2 oflag=direct status=none
[ "$(bc_field lc dirty_blocks)" -eq 512 ] || die "expected 512 dirty blocks"
run dmsetup suspend --noflush lc
assert_eq "$(bc_field lc dirty_blocks)" 0 "dirty after a noflush suspend"
assert_eq "$(bc_field lc unwritten_at_suspend)" 0 "unwritten_at_suspend"
assert_eq "$(sha_range "$loop" 0 2)" "$(sha_of </tmp/s1)" "origin after a noflush suspend"
run dmsetup resume lc
run dd if=/dev/urandom of=/tmp/s2 bs=1M count=2 status=none
run dd if=/tmp/s2 of="$dm" bs=1M count=2 oflag=direct status=none
run dmsetup suspend lc
assert_eq "$(bc_field lc dirty_blocks)" 0 "dirty after suspend"
assert_eq "$(sha_range "$loop" 0 2)" "$(sha_of </tmp/s2)" "origin after suspend"
run dmsetup resume lc
assert_eq "$(sha_range "$dm" 0 2)" "$(sha_of </tmp/s2)" "read through the cache after suspend and resume"

# Remove with dirty data writes it back.
run dd if=/dev/urandom of=/tmp/p bs=1M count=2 status=none
run dd if=/tmp/p of="$dm" bs=1M seek=4 count=2 oflag=direct status=none
[ "$(bc_field lc dirty_blocks)" -eq 512 ] || die "expected 512 dirty blocks"
run dmsetup remove lc
assert_eq "$(sha_range "$loop" 4 2)" "$(sha256sum </tmp/p | cut -d' ' -f1)" "origin after remove"

# A reload starts with an empty cache: no stale data. Cache a range, change
# it on the origin behind the suspended device, reload, read.
dm="$(bc_create lc "$loop" 4096 cache_size $((16 << 20)) $held)"
sha_range "$dm" 8 1 >/dev/null
[ "$(bc_field lc blocks_cached)" -ge 256 ] || die "range not cached: $(bc_status lc)"
run dmsetup suspend lc
run dd if=/dev/urandom of=/tmp/q bs=1M count=1 status=none
run dd if=/tmp/q of="$loop" bs=1M seek=8 count=1 oflag=direct status=none
run dmsetup reload lc --table "$(dmsetup table lc)"
run dmsetup resume lc
assert_eq "$(sha_range "$dm" 8 1)" "$(sha256sum </tmp/q | cut -d' ' -f1)" "data after reload"
run dmsetup remove lc

# max_age_ms: dirty data is written back within about its age.
dm="$(bc_create lc "$loop" 4096 cache_size $((16 << 20)) max_age_ms 200 high_watermark 100 low_watermark 100)"
run dd if=/dev/urandom of="$dm" bs=1M count=1 oflag=direct status=none
for _ in $(seq 1 50); do
	[ "$(bc_field lc dirty_blocks)" -eq 0 ] && break
	sleep 0.2
done
assert_eq "$(bc_field lc dirty_blocks)" 0 "dirty blocks 10 s after writing with max_age_ms 200"
run dmsetup remove lc
# The age timer (a 100 ms period here) must not outlive the target: a tick
# left pending would run on the destroyed work queue. Five periods after
# the remove, KASAN (judged from the kernel log) would have reported it.
sleep 0.5

# Watermarks: crossing high_watermark starts writeback, which goes on down
# to low_watermark; afterwards, with nothing more written, dirty data stays
# below the high mark. 6 MiB into an 8 MiB cache crosses 50% at least once.
dm="$(bc_create lc "$loop" 4096 cache_size $((8 << 20)) max_age_ms 0 high_watermark 50 low_watermark 10)"
run dd if=/dev/urandom of="$dm" bs=1M count=6 oflag=direct status=none
for _ in $(seq 1 50); do
	[ "$(bc_field lc writing_blocks)" -eq 0 ] && [ "$(bc_field lc dirty_blocks)" -lt 1024 ] && break
	sleep 0.2
done
d="$(bc_field lc dirty_blocks)"
log "after 6 MiB into an 8 MiB cache with watermarks 50/10: $(bc_status lc)"
[ "$d" -lt 1024 ] || die "dirty blocks $d stayed above the high watermark (1024)"
[ "$(bc_field lc writebacks)" -ge $((1536 - 1024)) ] || die "watermark writeback did not happen"
# Down to the low mark when asked to: lower both watermarks below the
# current share.
run dmsetup message lc 0 watermarks 5 5
for _ in $(seq 1 50); do
	[ "$(bc_field lc dirty_blocks)" -le $((2048 * 5 / 100)) ] && break
	sleep 0.2
done
d="$(bc_field lc dirty_blocks)"
[ "$d" -le $((2048 * 5 / 100)) ] || die "writeback stopped at $d dirty blocks, above the low watermark (102)"
run dmsetup remove lc
log "OK"
