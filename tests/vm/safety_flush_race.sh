#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A flush must not complete before every block that was dirty when it
# arrived has been written to the origin with success (and the origin
# flushed), whoever writes it. Blocks 0..31, then 64..95 are written (in
# that order: the dirty list is oldest first). A flush takes its first round
# (32 blocks: 0..31) into a slow origin; meanwhile background writeback
# (started by a watermarks message) takes the other dirty blocks (64..95),
# whose writes fail. When its round ends the flush has nothing dirty left
# but blocks it covers in someone else's writeback: it must wait for them
# (durable_waits grows, else the race window was missed and the test
# fails), see them fail, and fail with EIO; or, if it reports success,
# nothing it covered may still be dirty. Either way blocks 0..31 must be
# on the origin.
#
# Origin: o1 = loop device with blocks 64..99 (4 KiB) mapped to "error";
# o2 = delay over o1 (reads 0 ms, writes 1500 ms). One shard
# (cache_size 127 blocks), so one round of the flush is 32 blocks.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16
failing_origin 1500
dm="$(bc_create fr "$o2" 4096 cache_size $((127 * 4096)) high_watermark 100 low_watermark 100 max_age_ms 0 readahead 0)"
# Whatever happens, the cache writes back before it is removed.
on_cleanup heal

run dd if=/dev/urandom of=/tmp/p bs=4k count=100 status=none
run dd if=/tmp/p of="$dm" bs=4k count=32 oflag=direct status=none
run dd if=/tmp/p of="$dm" bs=4k skip=64 seek=64 count=32 oflag=direct status=none
assert_eq "$(bc_field fr dirty_blocks)" 64 "dirty blocks after writing 0..31 and 64..95"

fails=()
dw0="$(bc_field fr durable_waits)"
bg_start flush dmsetup message fr 0 flush
# Let the flush's first round reach the slow origin (ordering, not timing).
deadline=$((SECONDS + 10))
while [ "$(bc_field fr writing_blocks)" -eq 0 ] && [ "$SECONDS" -lt "$deadline" ] && [ ! -f /tmp/flush.rc ]; do
	sleep 0.05
done
log "flush started: $(bc_status fr)"
# Background writeback of the rest (blocks 64..95, which will fail).
run dmsetup message fr 0 watermarks 1 0
log "after watermarks 1 0: $(bc_status fr)"
if ! flush_rc="$(bg_wait flush 40)"; then
	heal
	die "flush message still blocked after 40 s (origin failing blocks 64..95)"
fi
log "flush message exit status: $flush_rc ($(tr '\n' ' ' </tmp/flush.out))"
dw1="$(bc_field fr durable_waits)"
figure "flush race window: the flush waited $((dw1 - dw0)) time(s) for writebacks it did not start (durable_waits $dw0 -> $dw1)"

# Stop background writeback and let what is in flight end.
run dmsetup message fr 0 watermarks 100 100
deadline=$((SECONDS + 30))
while [ "$(bc_field fr writing_blocks)" -ne 0 ]; do
	[ "$SECONDS" -lt "$deadline" ] || die "writing_blocks still not 0 after 30 s: $(bc_status fr)"
	sleep 0.2
done
dirty="$(bc_field fr dirty_blocks)"
wberr="$(bc_field fr writeback_errors)"
log "settled: $(bc_status fr)"
if [ "$flush_rc" -eq 0 ]; then
	if [ "$dirty" -ne 0 ] || [ "$wberr" -ne 0 ]; then
		fails+=("flush reported success but $dirty blocks it covered are still dirty (writeback_errors=$wberr)")
	fi
else
	log "flush failed as it must (blocks 64..95 cannot be written)"
fi
# The race window: the flush found blocks it covers being written back by
# background writeback and waited for them; else this run proved nothing
# (unless the flush did not wait and lost them, the failure above).
if [ "$dw1" -le "$dw0" ] && [ "${#fails[@]}" -eq 0 ]; then
	fails+=("race window missed: the flush never waited for a writeback it did not start (durable_waits $dw0 -> $dw1)")
fi

# What the flush covered outside the error range is on the origin.
want="$(head -c $((32 * 4096)) /tmp/p | sha_of)"
got="$(dd if="$o1" bs=4k count=32 iflag=direct status=none | sha_of)" || die "reading o1 failed"
[ "$got" = "$want" ] || fails+=("blocks 0..31 (covered by the flush, outside the error range) are not on the origin after the flush returned")

# Heal the origin: a flush now succeeds and everything is on the loop device.
run heal
run dmsetup message fr 0 flush
assert_eq "$(bc_field fr dirty_blocks)" 0 "dirty blocks after healing and flushing"
assert_eq "$(dd if="$loop" bs=4k count=32 iflag=direct status=none | sha_of)" "$(head -c $((32 * 4096)) /tmp/p | sha_of)" "blocks 0..31 on the loop device after healing"
assert_eq "$(dd if="$loop" bs=4k skip=64 count=32 iflag=direct status=none | sha_of)" "$(dd if=/tmp/p bs=4k skip=64 count=32 status=none | sha_of)" "blocks 64..95 on the loop device after healing"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
