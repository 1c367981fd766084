#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Throttling works through the cache: io.max wbps on cgroup A for the
# origin device slows A's writeback to about that rate, while B's writeback
# is unaffected. A and B each put 6 MiB of dirty data into the cache (held:
# watermarks 100, no age limit); then writeback is released (watermarks
# 0 0) and each cgroup's wbytes on the origin is sampled. Background
# writeback runs one lane per cgroup, so A's throttled bios do not hold up
# B's. Only ratios are asserted (emulated time is not real time): B must
# finish at least 3 times sooner than A, and A's rate must be at most twice
# its limit.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
mm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
dm="$(bc_create th "$loop" 4096 cache_size $((32 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff 0)"
P="$(cg_setup throttle "+io")"
mkdir -p "$P/A" "$P/B"
on_cleanup rmdir "$P/A" "$P/B" "$P"
LIMIT=$((1 << 20))
cg_io_max "$P/A" "$loop" "wbps=$LIMIT"
log "A: $(cat "$P/A/io.max")"
SZ=$((6 << 20))

in_cg "$P/A" dd if=/dev/urandom of="$dm" bs=1M count=6 oflag=direct status=none
in_cg "$P/B" dd if=/dev/urandom of="$dm" bs=1M seek=16 count=6 oflag=direct status=none
assert_eq "$(bc_field th dirty_blocks)" 3072 "dirty blocks before writeback"
a0="$(cg_io "$P/A" "$mm" wbytes)"
b0="$(cg_io "$P/B" "$mm" wbytes)"

t0="$(date +%s.%N)"
run dmsetup message th 0 watermarks 0 0
ta="" tb=""
for _ in $(seq 1 600); do
	a=$(($(cg_io "$P/A" "$mm" wbytes) - a0))
	b=$(($(cg_io "$P/B" "$mm" wbytes) - b0))
	now="$(date +%s.%N)"
	if [ -z "$tb" ] && [ "$b" -ge "$SZ" ]; then
		tb="$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')"
		log "B done after ${tb}s (A at $((a >> 10)) KiB)"
	fi
	if [ -z "$ta" ] && [ "$a" -ge "$SZ" ]; then
		ta="$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')"
		log "A done after ${ta}s"
	fi
	[ -n "$ta" ] && [ -n "$tb" ] && break
	sleep 0.25
done
[ -n "$tb" ] || die "B's writeback did not finish: $b of $SZ bytes"
[ -n "$ta" ] || die "A's writeback did not finish: $a of $SZ bytes"
rate="$(awk -v s="$SZ" -v t="$ta" 'BEGIN { printf "%d", s / t }')"
log "A: ${ta}s, $((rate >> 10)) KiB/s (limit $((LIMIT >> 10)) KiB/s); B: ${tb}s"
awk -v a="$ta" -v b="$tb" 'BEGIN { exit !(a >= 3 * b) }' || die "B was slowed down with A: A ${ta}s, B ${tb}s"
[ "$rate" -le $((2 * LIMIT)) ] || die "A was not throttled: $rate bytes/s against a limit of $LIMIT"
dmsetup message th 0 cgroup_stats | sed 's/^/  cgroup_stats: /'
log "OK"
