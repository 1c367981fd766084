#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A discard is fenced like a write-around (data-safety defect 3 of the last
# review): while a discard passed down to the origin is in flight, none of
# its blocks may enter the cache. The origin (dm-delay over a loop device
# on tmpfs, whose discards punch holes: the range then reads as zeroes)
# delays writes and discards by 3 s; once each of four 1 MiB discards
# has reached the target (its discards counter), a 4 KiB read of a block
# of the range misses. Without the fence
# (test_no_discard_fence=1, the negative control) that fill reads the
# origin's data from before the discard and caches it: after the discard
# completes, the cache returns it while the origin reads zeroes. With it,
# the fill waits (fence_waits) and every block reads as zeroes afterwards,
# through the cache and on the origin. Reads and writes elsewhere go on
# meanwhile, and the data outside the discarded ranges is the source's.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16
MB=$((1 << 20))
run dd if=/dev/urandom of=/tmp/old bs=1M count=8 status=none
run dd if=/tmp/old of="$loop" bs=1M count=8 oflag=direct conv=notrunc status=none
[ "$(cat "/sys/block/${loop#/dev/}/queue/discard_max_bytes")" -gt 0 ] ||
	die "the loop device takes no discards: the test needs an origin that does"
# Reads undelayed, writes and discards 3 s.
od="$(dm_create dro "0 $sz delay $loop 0 0 $loop 0 3000")"
odn="$(basename "$(readlink -f "$od")")"
[ "$(cat "/sys/block/$odn/queue/discard_max_bytes")" -gt 0 ] ||
	die "the dm-delay origin takes no discards"
dm="$(bc_create dr "$od" 4096 cache_size $((16 * MB)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff 0)"
zero_blk="$(head -c 4096 /dev/zero | sha_of)"
# The discards go through a dm-linear window over the whole device: the
# BLKDISCARD ioctl holds its block device's inode lock until the discard
# completes, and dd's lseek (skip=) on the same device would wait for it,
# so the read could never race the discard.
win="$(dm_create drw "0 $(blockdev --getsz "$dm") linear $dm 0")"

stale=0
for k in 1 2 3 4; do
	blk=$((k * 256 + 17 * k))
	d0="$(bc_field dr discards)"
	bg_start d blkdiscard -o $((k * MB)) -l "$MB" "$win"
	# The discard reaches the target (blkdiscard first probes the device
	# for signatures: ~0.4 s here), then it is in flight for 3 s. A status
	# read takes ~0.4 s under TCG, so the read comes ~0.5-1 s into it.
	for ((i = 0; i < 100; i++)); do
		[ "$(bc_field dr discards)" -gt "$d0" ] && break
		sleep 0.1
	done
	[ "$(bc_field dr discards)" -gt "$d0" ] || die "the discard of MiB $k did not reach the target within 10 s"
	bg_start r dd if="$dm" of=/dev/null bs=4k skip="$blk" count=1 iflag=direct status=none
	rc="$(bg_wait d 30)" || die "the discard of MiB $k still runs after 30 s"
	[ "$rc" -eq 0 ] || die "the discard of MiB $k failed: $(cat /tmp/d.out)"
	rc="$(bg_wait r 30)" || die "the read of block $blk still runs after 30 s"
	[ "$rc" -eq 0 ] || die "the read of block $blk failed: $(cat /tmp/r.out)"
	# The origin has discarded the range: it reads as zeroes there ...
	got_o="$(dd if="$loop" bs=4k skip="$blk" count=1 iflag=direct status=none | sha_of)"
	assert_eq "$got_o" "$zero_blk" "block $blk on the origin after its discard"
	# ... and the cache must not return the data from before it.
	got="$(dd if="$dm" bs=4k skip="$blk" count=1 iflag=direct status=none | sha_of)"
	if [ "$got" != "$zero_blk" ]; then
		if [ "$got" = "$(dd if=/tmp/old bs=4k skip="$blk" count=1 status=none | sha_of)" ]; then
			log "stale read: block $blk, read during the discard of MiB $k, returns the data from before the discard"
		else
			log "block $blk reads neither zeroes nor its old data after the discard of MiB $k"
		fi
		stale=$((stale + 1))
	fi
done
log "$(bc_status dr)"
[ "$stale" -eq 0 ] || die "stale read: $stale of 4 blocks read during their discard hold the data from before it"
fw="$(bc_field dr fence_waits)"
[ "$fw" -ge 4 ] || die "only $fw fills waited for a discard: the race window was missed"
figure "4 discards of 1 MiB raced by reads: $fw fills waited, 0 stale"

# Everything else is the source's data; the discarded MiBs are zeroes.
assert_eq "$(sha_range "$dm" 0 1)" "$(dd if=/tmp/old bs=1M count=1 status=none | sha_of)" "MiB 0 through the cache"
assert_eq "$(sha_range "$dm" 5 3)" "$(dd if=/tmp/old bs=1M skip=5 count=3 status=none | sha_of)" "MiB 5-7 through the cache"
for k in 1 2 3 4; do
	assert_eq "$(sha_range "$dm" "$k" 1)" "$(head -c "$MB" /dev/zero | sha_of)" "discarded MiB $k through the cache"
done
run dmsetup remove drw
run dmsetup remove dr
for k in 1 2 3 4; do
	assert_eq "$(sha_range "$loop" "$k" 1)" "$(head -c "$MB" /dev/zero | sha_of)" "discarded MiB $k on the origin after remove"
done
log "OK"
