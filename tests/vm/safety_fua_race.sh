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
# 3. The same two cases for FUA writes (dd oflag=dsync: REQ_FUA) in
#    writeback mode, blocks 20 and 80.
# In each case the write must have waited for the background writeback of
# its block (durable_waits grows): else the race window was missed and the
# run proves nothing.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16 test_race_delay_ms=1500
failing_origin 3000
dm="$(bc_create fu "$o2" 4096 cache_size $((127 * 4096)) writethrough max_age_ms 100 readahead 0)"
# Whatever happens, the cache writes back before it is removed.
on_cleanup heal

# wait_idle NAME: no dirty and no writing block (bounded).
wait_idle() {
	local deadline=$((SECONDS + 40))
	while [ "$(bc_field "$1" writing_blocks)" -ne 0 ] || [ "$(bc_field "$1" dirty_blocks)" -ne 0 ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

fails=()
run dd if=/dev/urandom of=/tmp/good bs=4k count=1 status=none
run dd if=/dev/urandom of=/tmp/bad bs=4k count=1 status=none

# window NAME BEFORE WHAT: the write waited for someone else's writeback.
window() {
	local now
	now="$(bc_field "$1" durable_waits)"
	figure "FUA race window: $3 waited for another writeback (durable_waits $2 -> $now)"
	[ "$now" -gt "$2" ] || fails+=("race window missed: $3 never waited for the background writeback of its block (durable_waits $2 -> $now)")
}

# race DEV NAME KIND GOOD BAD FLAGS: the healthy block GOOD, then the
# failing block BAD, written with dd FLAGS (KIND: how the test names it).
race() {
	local dev="$1" name="$2" kind="$3" good="$4" bad="$5" flags="$6" rc got t0 dw
	t0=$SECONDS
	dw="$(bc_field "$name" durable_waits)"
	bg_start good dd if=/tmp/good of="$dev" bs=4k seek="$good" count=1 oflag="$flags" status=none
	rc="$(bg_wait good 40)" || die "$kind write of block $good still blocked after 40 s"
	# Read the origin at once (the point of the test).
	got="$(dd if="$o1" bs=4k skip="$good" count=1 iflag=direct status=none | sha_of)" || die "reading o1 failed"
	log "block $good: dd exit status $rc after ~$((SECONDS - t0)) s; $(bc_status "$name")"
	[ "$rc" -eq 0 ] || fails+=("$kind write of block $good (healthy origin) failed with status $rc: $(cat /tmp/good.out)")
	if [ "$rc" -eq 0 ] && [ "$got" != "$(sha_of </tmp/good)" ]; then
		fails+=("$kind write of block $good completed but its data was not on the origin when dd returned")
	fi
	window "$name" "$dw" "the $kind write of block $good"
	wait_idle "$name" || die "block $good not written back after 40 s: $(bc_status "$name")"
	assert_eq "$(dd if="$o1" bs=4k skip="$good" count=1 iflag=direct status=none | sha_of)" "$(sha_of </tmp/good)" "block $good on the origin once idle"

	t0=$SECONDS
	dw="$(bc_field "$name" durable_waits)"
	bg_start bad dd if=/tmp/bad of="$dev" bs=4k seek="$bad" count=1 oflag="$flags" status=none
	if ! rc="$(bg_wait bad 40)"; then
		heal
		die "$kind write of block $bad (failing origin) still blocked after 40 s"
	fi
	log "block $bad: dd exit status $rc after ~$((SECONDS - t0)) s ($(tr '\n' ' ' </tmp/bad.out)); $(bc_status "$name")"
	if [ "$rc" -eq 0 ]; then
		# Let the origin write that was in flight end (it fails) before healing.
		local deadline=$((SECONDS + 20))
		while [ "$(bc_field "$name" writeback_errors)" -eq 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.2
		done
		fails+=("$kind write of block $bad reported success although the origin fails writes there (writeback_errors=$(bc_field "$name" writeback_errors), dirty_blocks=$(bc_field "$name" dirty_blocks))")
		# Said at once (the negative control stops the VM on it).
		log "${fails[-1]}"
	fi
	window "$name" "$dw" "the $kind write of block $bad"
}

# 1 and 2: writethrough.
race "$dm" fu writethrough 10 70 direct

# Heal; nothing may be left dirty after a flush.
run heal
run dmsetup message fu 0 flush
assert_eq "$(bc_field fu dirty_blocks)" 0 "dirty blocks after healing and flushing"
log "writethrough done: $(bc_status fu)"
run dmsetup remove fu

# 3: FUA writes in writeback mode, the origin failing again.
run dmsetup reload o1 /tmp/o1.err
run dmsetup resume o1
dm="$(bc_create fw "$o2" 4096 cache_size $((127 * 4096)) max_age_ms 100 readahead 0)"
race "$dm" fw FUA 20 80 direct,dsync
run heal
run dmsetup message fw 0 flush
assert_eq "$(bc_field fw dirty_blocks)" 0 "dirty blocks after healing and flushing (writeback mode)"
log "end: $(bc_status fw)"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
