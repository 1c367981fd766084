#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A writethrough write must not complete before its data reached the
# origin, and must fail if the origin write fails. The module is loaded
# with test_race_delay_ms=1500: a writethrough write sleeps 1.5 s between
# its copy into the cache and its own write to the origin. Meanwhile
# age-based background writeback (max_age_ms 100, which also runs in
# writethrough mode) takes the block and writes it to a slow origin
# (writes delayed 3 s, longer than the race window).
#
# 1. A block outside the error range: when dd returns (with success), the
#    data must already be on the origin.
# 2. A block inside the error range (blocks 64..99 map to "error"): the
#    background write fails, so dd must fail (EIO).
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16 test_race_delay_ms=1500
# Blocks 64..99 are sectors 512..799.
printf '0 512 linear %s 0\n512 288 error\n800 %s linear %s 800\n' "$loop" $((sz - 800)) "$loop" >/tmp/o1.err
printf '0 %s linear %s 0\n' "$sz" "$loop" >/tmp/o1.lin
dm_create_file o1 /tmp/o1.err >/dev/null
o1="$(dm_dev o1)"
o2="$(dm_create o2 "0 $sz delay $o1 0 0 $o1 0 3000")"
dm="$(bc_create fu "$o2" 4096 cache_size $((127 * 4096)) writethrough max_age_ms 100 readahead 0)"

heal() {
	dmsetup reload o1 /tmp/o1.lin && dmsetup resume o1
}
on_cleanup heal

# wait_idle: no dirty and no writing block (bounded).
wait_idle() {
	local deadline=$((SECONDS + 40))
	while [ "$(bc_field fu writing_blocks)" -ne 0 ] || [ "$(bc_field fu dirty_blocks)" -ne 0 ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

fails=()
run dd if=/dev/urandom of=/tmp/good bs=4k count=1 status=none
run dd if=/dev/urandom of=/tmp/bad bs=4k count=1 status=none

# 1. Block 10, outside the error range.
t0=$SECONDS
bg_start good dd if=/tmp/good of="$dm" bs=4k seek=10 count=1 oflag=direct status=none
rc="$(bg_wait good 40)" || die "writethrough write of block 10 still blocked after 40 s"
# Read the origin at once (the point of the test).
got="$(dd if="$o1" bs=4k skip=10 count=1 iflag=direct status=none | sha_of)" || die "reading o1 failed"
log "block 10: dd exit status $rc after ~$((SECONDS - t0)) s; $(bc_status fu)"
[ "$rc" -eq 0 ] || fails+=("writethrough write of block 10 (healthy origin) failed with status $rc: $(cat /tmp/good.out)")
if [ "$rc" -eq 0 ] && [ "$got" != "$(sha_of </tmp/good)" ]; then
	fails+=("writethrough write of block 10 completed but its data was not on the origin when dd returned")
fi
wait_idle || die "block 10 not written back after 40 s: $(bc_status fu)"
assert_eq "$(dd if="$o1" bs=4k skip=10 count=1 iflag=direct status=none | sha_of)" "$(sha_of </tmp/good)" "block 10 on the origin once idle"

# 2. Block 70, inside the error range.
t0=$SECONDS
bg_start bad dd if=/tmp/bad of="$dm" bs=4k seek=70 count=1 oflag=direct status=none
if ! rc="$(bg_wait bad 40)"; then
	heal
	die "writethrough write of block 70 (failing origin) still blocked after 40 s"
fi
log "block 70: dd exit status $rc after ~$((SECONDS - t0)) s ($(tr '\n' ' ' </tmp/bad.out)); $(bc_status fu)"
if [ "$rc" -eq 0 ]; then
	# Let the origin write that was in flight end (it fails) before healing.
	deadline=$((SECONDS + 20))
	while [ "$(bc_field fu writeback_errors)" -eq 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.2
	done
	fails+=("writethrough write of block 70 reported success although the origin fails writes there (writeback_errors=$(bc_field fu writeback_errors), dirty_blocks=$(bc_field fu dirty_blocks))")
fi

# Heal; nothing may be left dirty after a flush.
run heal
run dmsetup message fu 0 flush
assert_eq "$(bc_field fu dirty_blocks)" 0 "dirty blocks after healing and flushing"
log "end: $(bc_status fu)"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
