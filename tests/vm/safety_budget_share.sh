#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One target must not starve another of the shared module budget, and a
# warm reload (same table, old table still holding its memory) must work.
# Module budget 8 MiB; targets A and B without cache_size (each one's cap
# is the whole budget), readahead 0, sequential_cutoff 0 (a 1 MiB dd is a
# sequential stream: with the default 4 MiB cutoff A would cache only its
# first 4 MiB and bypass the rest, and never fill the budget). Reading
# 16 MiB of A makes A take the whole budget: its bytes_used must be within
# 128 KiB of 8 MiB (B's 64 KiB reserve is charged to the budget too)
# before B is asked for anything. Then a 4 KiB read from B must complete
# (bounded wait, 20 s)
# and B must be able to cache a fair amount (> 64 blocks of a 4 MiB
# range). All data read matches the loop devices. Finally a reload of A
# with its own table line must succeed and A still read correctly.
# On a hang, A's clean blocks are invalidated to let B go on, so that the
# rest of the test can still report what it finds.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load max_cache_size_bytes=$((8 << 20))
la="$(make_loop 64)"
lb="$(make_loop 64)"
run dd if=/dev/urandom of=/tmp/pa bs=1M count=16 status=none
run dd if=/dev/urandom of=/tmp/pb bs=1M count=4 status=none
run dd if=/tmp/pa of="$la" bs=1M count=16 oflag=direct conv=notrunc status=none
run dd if=/tmp/pb of="$lb" bs=1M count=4 oflag=direct conv=notrunc status=none
sha_a="$(sha_of </tmp/pa)"
sha_b="$(sha_of </tmp/pb)"
a="$(bc_create bsa "$la" 4096 readahead 0 sequential_cutoff 0)"
b="$(bc_create bsb "$lb" 4096 readahead 0 sequential_cutoff 0)"

fails=()
# A takes the whole budget.
run dd if="$a" of=/dev/null bs=1M count=16 iflag=direct status=none
log "A after reading 16 MiB: $(bc_status bsa)"
log "B: $(bc_status bsb)"
# Everything below is about B under a full budget: make sure it is full.
used_a="$(bc_field bsa bytes_used)"
[ "$used_a" -ge $(((8 << 20) - (128 << 10))) ] ||
	die "A holds only $used_a bytes after reading 16 MiB under an 8 MiB budget: the budget is not full, so the rest proves nothing"

bg_start bread dd if="$b" of=/tmp/b0 bs=4k count=1 iflag=direct status=none
if ! rc="$(bg_wait bread 20)"; then
	fails+=("read from B still blocked after 20 s")
	log "read from B still blocked after 20 s: B $(bc_status bsb)"
	# Give memory back so that B (and the test's cleanup) can go on.
	run dmsetup message bsa 0 invalidate
	rc="$(bg_wait bread 20)" || die "read from B still blocked after 20 s (and 20 s more after invalidating A)"
	log "B's read completed after A's clean blocks were invalidated"
fi
assert_eq "$rc" 0 "exit status of the 4 KiB read from B ($(cat /tmp/bread.out))"
assert_eq "$(sha_of </tmp/b0)" "$(head -c 4096 /tmp/pb | sha_of)" "first block of B"

# B serves reads and caches a fair amount.
assert_eq "$(sha_range "$b" 0 4)" "$sha_b" "4 MiB of B (first pass)"
assert_eq "$(sha_range "$b" 0 4)" "$sha_b" "4 MiB of B (second pass)"
cb="$(bc_field bsb blocks_cached)"
log "B after reading 4 MiB twice: $(bc_status bsb)"
[ "$cb" -gt 64 ] || fails+=("B caches only $cb blocks of a 4 MiB range it read twice (A holds $(bc_field bsa blocks_cached))")
assert_eq "$(sha_range "$a" 0 16)" "$sha_a" "16 MiB of A"
log "A: $(bc_status bsa)"

# Warm reload of A with its own table line.
table="$(dmsetup table bsa)" || die "dmsetup table bsa failed"
printf '+ dmsetup reload bsa --table "%s"\n' "$table"
rrc=0
dmsetup reload bsa --table "$table" 2>/tmp/reload.err || rrc=$?
if [ "$rrc" -ne 0 ]; then
	fails+=("warm reload of A with its own table failed (exit status $rrc: $(tr '\n' ' ' </tmp/reload.err); kernel: $(dmesg | grep -F 'bufcache:' | tail -1))")
else
	run dmsetup suspend bsa
	run dmsetup resume bsa
	assert_eq "$(sha_range "$a" 0 16)" "$sha_a" "16 MiB of A after the reload"
	log "A after the reload: $(bc_status bsa)"
fi
assert_eq "$(sha_range "$b" 0 4)" "$sha_b" "4 MiB of B at the end"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
