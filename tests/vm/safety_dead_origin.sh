#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An origin that serves reads but fails every write must not make the
# target spin or hang. Writeback cache of 1 MiB over o1, a dm device that
# is linear over a loop device and can be switched to dm-flakey with
# error_writes always on (up 0 s, down 1 s: always down; reads pass,
# writes fail with EIO). With the origin failing writes, a 2 MiB write
# cannot be absorbed: dd must end with an error within 15 s (about 1 s in
# the suite; the bounded wait gives up within 10 s). Then a read of an
# uncached range and a suspend must end in bounded time. Once the
# origin heals, a flush succeeds, nothing stays dirty, what dd
# acknowledged is on the loop device, the device and the loop device agree
# on the whole 2 MiB range, and the 256 KiB flushed earlier are intact.
# On a hang the origin is healed to let the writer go on (and the test
# still checks the data).
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16
o1="$(dm_create o1 "0 $sz linear $loop 0")"
dm="$(bc_create do "$o1" 4096 cache_size $((1 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0)"

on_cleanup heal_linear o1 "$loop"

# 256 KiB written and flushed while the origin is healthy.
run dd if=/dev/urandom of=/tmp/p1 bs=4k count=64 status=none
run dd if=/tmp/p1 of="$dm" bs=4k count=64 oflag=direct status=none
run dmsetup message do 0 flush
assert_eq "$(bc_field do dirty_blocks)" 0 "dirty blocks after the first flush"

# The origin now fails writes (and only writes).
run dmsetup reload o1 --table "0 $sz flakey $loop 0 0 1 1 error_writes"
run dmsetup resume o1
run dd if="$o1" of=/dev/null bs=4k skip=3000 count=1 iflag=direct status=none
expect_fail "direct write to the failing origin" dd if=/dev/zero of="$o1" bs=4k seek=3001 count=1 oflag=direct status=none

fails=()
healed=0
# 2 MiB at 4 MiB, into a 1 MiB cache.
run dd if=/dev/urandom of=/tmp/p2 bs=64k count=32 status=none
bg_start w dd if=/tmp/p2 of="$dm" bs=64k seek=64 count=32 oflag=direct
if ! wrc="$(bg_wait w 15)"; then
	fails+=("write still blocked after 15 s")
	log "write still blocked after 15 s: $(bc_status do)"
	run heal_linear o1 "$loop"
	healed=1
	wrc="$(bg_wait w 30)" || die "write still blocked after 15 s (and 30 s more after healing the origin)"
fi
log "dd of 2 MiB: exit status $wrc: $(tr '\n' ' ' </tmp/w.out)"
acked="$(awk '/bytes/ && / copied/ { print $1; exit }' /tmp/w.out)"
[ -n "$acked" ] || die "cannot tell how many bytes dd wrote: $(cat /tmp/w.out)"
log "$acked bytes acknowledged; $(bc_status do)"
if [ "$healed" -eq 0 ]; then
	[ "$wrc" -ne 0 ] || fails+=("2 MiB written into a 1 MiB cache reported success although the origin fails every write")

	# A read of an uncached range must not hang (EIO or data).
	bg_start r dd if="$dm" of=/tmp/r bs=4k skip=2048 count=16 iflag=direct status=none
	if ! rrc="$(bg_wait r 30)"; then
		fails+=("read of an uncached range still blocked after 30 s")
		run heal_linear o1 "$loop"
		healed=1
		rrc="$(bg_wait r 30)" || die "read still blocked after 30 s (and 30 s more after healing the origin)"
	fi
	log "read of an uncached range: exit status $rrc"
	if [ "$rrc" -eq 0 ]; then
		assert_eq "$(sha_of </tmp/r)" "$(dd if="$loop" bs=4k skip=2048 count=16 iflag=direct status=none | sha_of)" "uncached range read while the origin fails writes"
	fi
fi
if [ "$healed" -eq 0 ]; then
	# A suspend must end (its writeback fails; it reports and goes on).
	bg_start s dmsetup suspend do
	if ! src="$(bg_wait s 30)"; then
		fails+=("dmsetup suspend still blocked after 30 s")
		run heal_linear o1 "$loop"
		healed=1
		src="$(bg_wait s 30)" || die "dmsetup suspend still blocked after 30 s (and 30 s more after healing the origin)"
	fi
	[ "$src" -eq 0 ] || fails+=("dmsetup suspend failed with status $src: $(cat /tmp/s.out)")
	run dmsetup resume do
fi

# Heal; everything must come right.
run heal_linear o1 "$loop"
run dmsetup message do 0 flush
assert_eq "$(bc_field do dirty_blocks)" 0 "dirty blocks after healing and flushing"
log "healed: $(bc_status do)"
c="$(sha_range "$dm" 4 2)"
l="$(sha_range "$loop" 4 2)"
[ "$c" = "$l" ] || fails+=("after healing and a flush the device and the loop device differ in the 2 MiB range")
if [ "$acked" -gt 0 ]; then
	got="$(dd if="$loop" bs=$acked count=1 skip=$((4 << 20)) iflag=direct,skip_bytes status=none | sha_of)"
	[ "$got" = "$(head -c "$acked" /tmp/p2 | sha_of)" ] || fails+=("the $acked bytes dd acknowledged are not on the loop device after healing and a flush")
fi
[ "$(dd if="$loop" bs=4k count=64 iflag=direct status=none | sha_of)" = "$(sha_of </tmp/p1)" ] || fails+=("the first 256 KiB (flushed before the origin failed) are not intact on the loop device")
[ "$(dd if="$dm" bs=4k count=64 iflag=direct status=none | sha_of)" = "$(sha_of </tmp/p1)" ] || fails+=("the first 256 KiB read through the device differ from what was written")

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
