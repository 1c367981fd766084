#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "dmsetup suspend --noflush" followed by a table reload must neither serve
# stale data nor leave the new table with a stale copy. The origin is slow
# to write (dm-delay, writes 2 s). 256 KiB of data D1 are written and stay
# dirty; the device is suspended with --noflush, the same table is loaded
# and resumed. While the resume runs (the old table's destructor writes D1
# back through the delay), the range is read through the device every
# 100 ms: every read must return D1. After everything settles (flush ok),
# the device and the loop device must both hold D1. Also: right after the
# noflush suspend returned, dirty_blocks must have been 0 (dirty data is
# written back on every suspend), checked last.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16
o2="$(dm_create o2 "0 $sz delay $loop 0 0 $loop 0 2000")"
# One shard (127 blocks): the destructor writes D1 back in one round.
dm="$(bc_create nr "$o2" 4096 cache_size $((127 * 4096)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0)"
on_cleanup dmsetup resume nr

run dd if=/dev/urandom of=/tmp/d1 bs=4k count=64 status=none
d1="$(sha_of </tmp/d1)"
run dd if=/tmp/d1 of="$dm" bs=4k count=64 oflag=direct status=none
assert_eq "$(bc_field nr dirty_blocks)" 64 "dirty blocks after writing D1"

run dmsetup suspend --noflush nr
dirty_suspended="$(bc_field nr dirty_blocks)"
log "after suspend --noflush: $(bc_status nr)"
table="$(dmsetup table nr)" || die "dmsetup table nr failed"
run dmsetup reload nr --table "$table"
bg_start resume dmsetup resume nr
reads=0
stale=0
deadline=$((SECONDS + 60))
while :; do
	done_before=0
	[ -f /tmp/resume.rc ] && done_before=1
	got="$(dd if="$dm" bs=4k count=64 iflag=direct status=none | sha_of)" || die "read through the device failed during the resume"
	reads=$((reads + 1))
	if [ "$got" != "$d1" ]; then
		stale=$((stale + 1))
		[ "$stale" -gt 1 ] || log "read $reads during the resume returned data other than D1"
	fi
	[ "$done_before" -eq 0 ] || break
	[ "$SECONDS" -lt "$deadline" ] || die "dmsetup resume still blocked after 60 s"
	sleep 0.1
done
rc="$(cat /tmp/resume.rc)"
assert_eq "$rc" 0 "dmsetup resume exit status ($(cat /tmp/resume.out))"
log "resume done; $reads reads during it, $stale not D1; $(bc_status nr)"

run dmsetup message nr 0 flush
assert_eq "$(bc_field nr dirty_blocks)" 0 "dirty blocks after the flush"
after="$(dd if="$dm" bs=4k count=64 iflag=direct status=none | sha_of)" || die "read through the device failed"
on_loop="$(dd if="$loop" bs=4k count=64 iflag=direct status=none | sha_of)" || die "read of the loop device failed"
log "settled: $(bc_status nr)"

fails=()
[ "$stale" -eq 0 ] || fails+=("$stale of $reads reads through the device during the reload's resume returned stale data (not D1)")
[ "$after" = "$d1" ] || fails+=("after the reload settled (resume done, flush ok) the device still returns stale data, not D1")
[ "$on_loop" = "$d1" ] || fails+=("the loop device does not hold D1 after the reload and a flush")
[ "$dirty_suspended" -eq 0 ] || fails+=("dirty_blocks was $dirty_suspended right after 'dmsetup suspend --noflush' returned (dirty data must be written back on every suspend)")

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
