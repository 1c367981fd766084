#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo (scripts/demo.sh): what a cache is for, in about a minute.
# A slow origin (null_blk, memory-backed, every I/O completed by a timer
# after 1 ms: a real 1 ms, not rounded to the tick as dm-delay is) gets
# two devices: bufcache (32 MiB cache, writeback) and, for comparison,
# dm-linear. Both run the same steps: a cold pass of 4 KiB random reads
# over a 16 MiB set (it fits in the cache), a hot pass over the same set,
# 4 KiB random writes over 8 MiB (the cache absorbs them as dirty blocks),
# a sequential scan of 96 MiB (three times the cache), and the hot set
# again. Each step prints its speed on both devices, the speed-up and
# bufcache's hit ratio. Then the flush writes the dirty blocks back (how
# many, how long), and the status shows, by name, the fields that
# changed since the table was loaded. Figures, not assertions: the debug
# kernel under emulation is slow, only the ratios mean something.
# vm-manual: yes
# vm-timeout: 400
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
# The module budget defaults to 2% of RAM (about 20 MiB in the test VM):
# raise it so that the 32 MiB cache is what it says.
bc_load max_cache_size_bytes=$((64 * MB))
# 256 MiB, allocated as it is written; 1 ms a request.
slow="$(nullb_make slow 256 1000000)"
sz="$(blockdev --getsz "$slow")"
lin="$(dm_create lin "0 $sz linear $slow 0")"
# max_age_ms 60000: the demo's dirty blocks wait for its flush (or the
# watermarks), not for the 5 s default age.
dm="$(bc_create demo "$slow" 4096 cache_size $((32 * MB)) max_age_ms 60000)"
# The status when the table is loaded, to show what changed at the end.
read -r -a st0 <<<"$(dm_status demo)"
log "origin: $slow (null_blk: memory-backed, every I/O completes after 1 ms)"
log "bufcache: $(dmsetup table demo)"

# rate DEV RW BS OFFSET SIZE: one pass of fio over the range; prints
# "IOPS KB/s".
rate() {
	local out
	out="$(fio --output-format=terse --terse-version=3 --name=d --filename="$1" \
		--rw="$2" --bs="$3" --offset="$4" --size="$5" --direct=1 \
		--ioengine=psync)" || die "fio on $1 failed"
	# terse v3: read IOPS 8, KB/s 7; write IOPS 49, KB/s 48.
	awk -F';' '{ print $8 + $49, $7 + $48 }' <<<"$out"
}

printf '\n%-38s %12s %12s %9s %10s %9s\n' step bufcache dm-linear speed-up "hit ratio" bypassed
# step LABEL UNIT RW BS OFFSET SIZE: runs the step on both devices.
step() {
	local label="$1" unit="$2" rw="$3" bs="$4" off="$5" size="$6" a b h m p col
	# The step's own hits, misses and bypassed bios: the counters' growth.
	h="$(bc_field demo read_hits)" m="$(bc_field demo read_misses)" p="$(bc_field demo bypassed_reads)"
	read -r -a a <<<"$(rate "$dm" "$rw" "$bs" "$off" "$size")"
	read -r -a b <<<"$(rate "$lin" "$rw" "$bs" "$off" "$size")"
	h=$(($(bc_field demo read_hits) - h))
	m=$(($(bc_field demo read_misses) - m))
	p=$(($(bc_field demo bypassed_reads) - p))
	col=0
	[ "$unit" = MB/s ] && col=1
	awk -v l="$label" -v u="$unit" -v x="${a[$col]}" -v y="${b[$col]}" -v h="$h" -v m="$m" -v p="$p" -v c="$col" 'BEGIN {
		if (c == 1) { x /= 1024; y /= 1024 }
		r = (h + m > 0) ? sprintf("%.0f%%", 100 * h / (h + m)) : "-"
		printf "%-38s %8.1f %-4s%8.1f %-4s%8.1fx %10s %9d\n", l, x, u, y, u, (y > 0 ? x / y : 0), r, p
	}'
}

step "cold pass, 4 KiB random, 16 MiB" IOPS randread 4k 0 $((16 * MB))
step "hot pass, the same 16 MiB" IOPS randread 4k 0 $((16 * MB))
# Writes after the hot set, in a range of their own.
step "writes, 4 KiB random, 8 MiB" IOPS randwrite 4k $((16 * MB)) $((8 * MB))
dirty="$(bc_field demo dirty_blocks)"
step "sequential scan, 1 MiB reads, 96 MiB" MB/s read 1M $((32 * MB)) $((96 * MB))
step "hot pass after the scan" IOPS randread 4k 0 $((16 * MB))
echo
echo "hit ratio: read hits / (hits + misses) of the step; bypassed: bios of"
echo "the step sent to the origin whole, uncached."
echo "The hot set stays cached through a scan three times the cache's size:"
echo "past sequential_cutoff (4 MiB) the scan's uncached blocks go to the"
echo "origin in whole bios, uncached; and blocks the cache does take enter"
echo "on probation, so only a second hit protects them. The scan's first"
echo "4 MiB (the cutoff) are still filled a block at a time (with"
echo "readahead), which is why the scan trails dm-linear: over a 1 ms"
echo "origin those 4 MiB take longer than the rest of the scan."
echo "The writes: bufcache acknowledged them once they were in RAM ($dirty"
echo "blocks dirty after the step); dm-linear waited for the origin each time."

echo
wb0="$(bc_field demo writebacks)"
d0="$(bc_field demo dirty_blocks)"
t0="$(date +%s%N)"
run dmsetup message demo 0 flush
t1="$(date +%s%N)"
echo "---- dmsetup message demo 0 flush: dirty_blocks $d0 -> $(bc_field demo dirty_blocks)," \
	"$(($(bc_field demo writebacks) - wb0)) blocks written back in $(((t1 - t0) / 1000000)) ms"
echo
echo "---- dmsetup status demo: the fields that changed since the table was loaded"
read -r -a st1 <<<"$(dm_status demo)"
for i in "${!BC_FIELDS[@]}"; do
	[ "${st0[$((i + 3))]}" = "${st1[$((i + 3))]}" ] ||
		printf '  %-20s %12s -> %s\n' "${BC_FIELDS[$i]}" "${st0[$((i + 3))]}" "${st1[$((i + 3))]}"
done
echo "(every field: Documentation/bufcache.rst, Status)"
