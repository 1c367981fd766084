#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo (scripts/demo.sh): what a cache is for, in about a minute.
# A slow origin (a loop device behind dm-delay, 1 ms per I/O) gets two
# devices: bufcache (32 MiB cache) and, for comparison, dm-linear. Both
# run the same steps: a cold pass of 4 KiB random reads over a 16 MiB set
# (it fits in the cache), a hot pass over the same set, a sequential scan
# of 96 MiB (three times the cache), and the hot set again. Each step
# prints its speed on both devices, the speed-up and bufcache's hit ratio;
# then the status line, field by field. Figures, not assertions: the
# debug kernel under emulation is slow, only the ratios mean something.
# vm-manual: yes
# vm-timeout: 400
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
# The module budget defaults to 2% of RAM (about 20 MiB in the test VM):
# raise it so that the 32 MiB cache is what it says.
bc_setup 128 max_cache_size_bytes=$((64 * MB))
slow="$(dm_create slow "0 $sz delay $loop 0 1")"
lin="$(dm_create lin "0 $sz linear $slow 0")"
dm="$(bc_create demo "$slow" 4096 cache_size $((32 * MB)))"
log "origin: $(dmsetup table slow)"
log "bufcache: $(dmsetup table demo)"

# rate DEV RW BS OFFSET SIZE: one pass of fio over the range; prints
# "IOPS KB/s".
rate() {
	local out
	out="$(fio --output-format=terse --terse-version=3 --name=d --filename="$1" \
		--rw="$2" --bs="$3" --offset="$4" --size="$5" --direct=1 \
		--ioengine=psync)" || die "fio on $1 failed"
	awk -F';' '{ print $8, $7 }' <<<"$out"
}

printf '\n%-38s %12s %12s %9s %10s %9s\n' step bufcache dm-linear speed-up "hit ratio" bypassed
# step LABEL UNIT RW BS OFFSET SIZE: runs the step on both devices.
step() {
	local label="$1" unit="$2" rw="$3" bs="$4" off="$5" size="$6" a b h m p col
	run dmsetup message demo 0 clear_stats
	read -r -a a <<<"$(rate "$dm" "$rw" "$bs" "$off" "$size")"
	read -r -a b <<<"$(rate "$lin" "$rw" "$bs" "$off" "$size")"
	h="$(bc_field demo read_hits)"
	m="$(bc_field demo read_misses)"
	p="$(bc_field demo bypassed_reads)"
	col=0
	[ "$unit" = MB/s ] && col=1
	awk -v l="$label" -v u="$unit" -v x="${a[$col]}" -v y="${b[$col]}" -v h="$h" -v m="$m" -v p="$p" -v c="$col" 'BEGIN {
		if (c == 1) { x /= 1024; y /= 1024 }
		printf "%-38s %8.1f %-4s%8.1f %-4s%8.1fx %9.0f%% %9d\n", l, x, u, y, u, (y > 0 ? x / y : 0), (h + m > 0 ? 100 * h / (h + m) : 0), p
	}'
}

step "cold pass, 4 KiB random, 16 MiB" IOPS randread 4k 0 $((16 * MB))
step "hot pass, the same 16 MiB" IOPS randread 4k 0 $((16 * MB))
step "sequential scan, 1 MiB reads, 96 MiB" MB/s read 1M $((32 * MB)) $((96 * MB))
step "hot pass after the scan" IOPS randread 4k 0 $((16 * MB))
echo
echo "hit ratio: read hits / (hits + misses) of the step; bypassed: bios of"
echo "the step sent to the origin whole, uncached."
echo "The hot set stays cached through a scan three times the cache's size:"
echo "past sequential_cutoff (4 MiB) the scan's uncached blocks go to the"
echo "origin in whole bios, uncached; and blocks the cache does take enter"
echo "on probation, so only a second hit protects them. The scan's first"
echo "4 MiB (the cutoff) are still filled a block at a time, which is why a"
echo "short scan trails dm-linear."

echo
echo "---- dmsetup status demo"
dmsetup status demo
echo "---- the same, by field"
i=4
read -r -a w <<<"$(dmsetup status demo)"
for f in "${BC_FIELDS[@]}"; do
	printf '  %-20s %s\n' "$f" "${w[$((i - 1))]}"
	i=$((i + 1))
done
run dmsetup message demo 0 flush
echo "---- after 'dmsetup message demo 0 flush': dirty_blocks=$(bc_field demo dirty_blocks)"
