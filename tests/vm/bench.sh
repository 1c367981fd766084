#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark's guest side (scripts/bench.sh runs it; not a test: no
# assertion on speed). Every peer lives in this one boot; each workload
# runs on each of its peers in turn, BENCH_REPS times over (interleaved:
# rep 1 on every peer, then rep 2, ...), fio psync at queue depth 1 for
# BENCH_RUNTIME seconds. One line per run:
#   BENCH,<workload>,<peer>,<rep>,<iops>,<MB/s>,<p99 us>
# and one per extra figure:
#   BENCHX,<name>,<value>,<unit>
# BENCH_SMOKE=1: a short subset, to prove the whole chain runs (CI).
# vm-manual: yes
# vm-mem: 2G
# vm-timeout: 2400
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
RT="${BENCH_RUNTIME:-4}"
REPS="${BENCH_REPS:-3}"
SMOKE="${BENCH_SMOKE:-0}"
CACHE=$((32 * MB))
HOT=$((16 * MB))

bc_load max_cache_size_bytes=$((160 * MB))
# Origins: RAM-backed loop devices (tmpfs), a RAM disk (brd: the limit of
# "RAM behind DM"), and a loop device behind dm-delay (1 ms per I/O).
loop="$(make_loop 384)"
wcache="$(make_loop 96)"
dloop="$(make_loop 160)"
run modprobe brd rd_nr=1 rd_size=$((384 * 1024))
on_cleanup rmmod brd
ram=/dev/ram0
sz="$(blockdev --getsz "$loop")"
dsz="$(blockdev --getsz "$dloop")"
log "filling the origins"
if [ "$SMOKE" = 1 ]; then
	# The smoke reads only the loop device's first 192 MiB (linear and
	# bc-wb, below): the rest stays unfilled, the devices are all made.
	run dd if=/dev/urandom of="$loop" bs=1M count=192 oflag=direct status=none
else
	run dd if=/dev/urandom of="$loop" bs=1M count=384 oflag=direct status=none
	run dd if="$loop" of=$ram bs=1M count=384 oflag=direct status=none
	run dd if="$loop" of="$dloop" bs=1M count=160 oflag=direct status=none
fi

declare -A DEV
DEV[loop]="$loop"
DEV[linear]="$(dm_create lin "0 $sz linear $loop 0")"
DEV[linear-brd]="$(dm_create linbrd "0 $sz linear $ram 0")"
DEV[ebs]="$(dm_create ebs "0 $sz ebs $loop 0 1 8")"
DEV[writecache]="$(dm_create wc "0 $sz writecache s $loop $wcache 4096 0")"
delay="$(dm_create slow "0 $dsz delay $dloop 0 1")"
DEV[delay]="$delay"
DEV[bc-wb]="$(bc_create bcwb "$loop" 4096 cache_size $CACHE)"
DEV[bc-wt]="$(bc_create bcwt "$loop" 4096 cache_size $CACHE writethrough)"
DEV[bc-wb-brd]="$(bc_create bcbrd "$ram" 4096 cache_size $CACHE)"
DEV[bc-delay]="$(bc_create bcdelay "$delay" 4096 cache_size $CACHE)"
# fio_run DEV ARGS...: one fio job; prints "iops MB/s p99_us".
fio_run() {
	local dev="$1" out
	shift
	out="$(fio --output-format=terse --terse-version=3 --name=b --filename="$dev" \
		--direct=1 --ioengine=psync --group_reporting "$@")" || die "fio on $dev failed: $*"
	# terse v3: read iops 8, bw KiB/s 7, clat p99 30 ("99.000000%=N");
	# write iops 49, bw 48, clat p99 71.
	awk -F';' '{
		split($30, r, "="); split($71, w, "=")
		p = (r[2] + 0 > w[2] + 0) ? r[2] : w[2]
		printf "%.1f %.2f %d\n", $8 + $49, ($7 + $48) / 1024, p
	}' <<<"$out"
}

# bench WORKLOAD "PEER..." FIO-ARGS...: the workload on each peer, REPS
# times, interleaved.
bench() {
	local w="$1" peers="$2" rep p res
	shift 2
	for ((rep = 1; rep <= REPS; rep++)); do
		for p in $peers; do
			res="$(fio_run "${DEV[$p]}" "$@")"
			echo "BENCH,$w,$p,$rep,${res// /,}"
		done
	done
}

# warm PEER...: one pass of 4 KiB random reads over the hot set.
warm() {
	local p
	for p in "$@"; do
		fio_run "${DEV[$p]}" --rw=randread --bs=4k --size=$HOT >/dev/null
	done
}

ALL="loop linear linear-brd ebs writecache bc-wb bc-wt bc-wb-brd"
TB=(--time_based --runtime="$RT")
if [ "$SMOKE" = 1 ]; then
	warm linear bc-wb
	bench hot4k "linear bc-wb" --rw=randread --bs=4k --size=$HOT "${TB[@]}"
	bench seqread "linear bc-wb" --rw=read --bs=1M --offset=$((128 * MB)) --size=$((64 * MB)) "${TB[@]}"
	echo "BENCHX,smoke,1,run"
	exit 0
fi

log "hot set: 4 KiB and 512 B random reads over 16 MiB (warm)"
warm $ALL bc-delay delay
bench hot4k "$ALL delay bc-delay" --rw=randread --bs=4k --size=$HOT "${TB[@]}"
bench hot512 "linear ebs bc-wb" --rw=randread --bs=512 --size=$HOT "${TB[@]}"
log "uniform random reads over twice the cache"
bench uniform "linear ebs bc-wb" --rw=randread --bs=4k --size=$((2 * CACHE)) "${TB[@]}"
log "4 KiB random writes, 70/30 mix"
bench randwrite "linear ebs writecache bc-wb bc-wt" --rw=randwrite --bs=4k --size=$HOT "${TB[@]}"
bench mix70 "linear ebs writecache bc-wb bc-wt" --rw=randrw --rwmixread=70 --bs=4k --size=$HOT "${TB[@]}"
log "1 MiB sequential reads and writes of uncached data"
# A fresh 48 MiB region per repetition, so that no peer has it cached.
for ((rep = 1; rep <= REPS; rep++)); do
	off=$(((128 + 48 * (rep - 1)) * MB))
	for p in linear linear-brd ebs bc-wb bc-wb-brd; do
		echo "BENCH,seqread,$p,$rep,$(fio_run "${DEV[$p]}" --rw=read --bs=1M --offset=$off --size=$((48 * MB)) | tr ' ' ,)"
	done
	for p in linear linear-brd writecache bc-wb bc-wt bc-wb-brd; do
		echo "BENCH,seqwrite,$p,$rep,$(fio_run "${DEV[$p]}" --rw=write --bs=1M --offset=$off --size=$((48 * MB)) | tr ' ' ,)"
	done
done
run dmsetup message bcwb 0 flush
run dmsetup message bcbrd 0 flush
run dmsetup message bcwt 0 flush

log "hot set after one sequential pass of twice the cache"
# hot_after_scan CUTOFF: bc-wb reloaded with sequential_cutoff CUTOFF; the
# hot set read three times, then a 64 MiB sequential read elsewhere, then
# the hot set once more: its hit ratio after, as a share of before.
hot_after_scan() {
	local h0 m0 h1 m1
	run dmsetup suspend bcwb
	run dmsetup reload bcwb --table "0 $sz bufcache $loop 4096 4 cache_size $CACHE sequential_cutoff $1"
	run dmsetup resume bcwb
	warm bc-wb bc-wb
	run dmsetup message bcwb 0 clear_stats
	warm bc-wb
	h0="$(bc_field bcwb read_hits)" m0="$(bc_field bcwb read_misses)"
	run dd if="${DEV[bc-wb]}" of=/dev/null bs=1M skip=192 count=$((2 * CACHE / MB)) iflag=direct status=none
	run dmsetup message bcwb 0 clear_stats
	warm bc-wb
	h1="$(bc_field bcwb read_hits)" m1="$(bc_field bcwb read_misses)"
	echo "BENCHX,hot_after_scan_cutoff_$1,$((100 * h1 * (h0 + m0) / ((h1 + m1) * h0))),% of the hit ratio before ($((100 * h1 / (h1 + m1))) % after / $((100 * h0 / (h0 + m0))) % before)"
}
hot_after_scan 0
hot_after_scan $((4 * MB))

log "fsync-heavy small writes on ext4"
# Each on its own 64 MiB loop device (one file system per origin).
declare -A FS
FS[linear]="$(dm_create fslin "0 $((64 * 2048)) linear $(make_loop 64) 0")"
FS[bc-wb]="$(bc_create fswb "$(make_loop 64)" 4096 cache_size $((16 * MB)))"
FS[bc-wt]="$(bc_create fswt "$(make_loop 64)" 4096 cache_size $((16 * MB)) writethrough)"
for p in linear bc-wb bc-wt; do
	run mkfs.ext4 -q -F "${FS[$p]}"
	mkdir -p "/mnt/$p"
	run mount "${FS[$p]}" "/mnt/$p"
	on_cleanup sh -c "! grep -q ' /mnt/$p ' /proc/mounts || umount /mnt/$p"
done
for ((rep = 1; rep <= REPS; rep++)); do
	for p in linear bc-wb bc-wt; do
		echo "BENCH,fsync,$p,$rep,$(fio --output-format=terse --terse-version=3 --name=f \
			--directory="/mnt/$p" --rw=randwrite --bs=4k --size=8M --fsync=1 --ioengine=psync \
			--time_based --runtime="$RT" | awk -F';' '{ split($71, w, "="); printf "%.1f,%.2f,%d", $49, $48 / 1024, w[2] }')"
	done
done
for p in linear bc-wb bc-wt; do run umount "/mnt/$p"; done
for n in fslin fswb fswt; do run dmsetup remove "$n"; done

log "metadata: slab and vmalloc memory per cached block"
mem() { awk '/^(Slab|VmallocUsed):/ { s += $2 } END { print s * 1024 }' /proc/meminfo; }
run dmsetup remove bcdelay
sync
echo 3 >/proc/sys/vm/drop_caches
before="$(mem)"
meta="$(bc_create meta "$loop" 4096 cache_size $((64 * MB)) sequential_cutoff 0)"
run dd if="$meta" of=/dev/null bs=1M count=64 iflag=direct status=none
after="$(mem)"
n="$(bc_field meta blocks_cached)"
echo "BENCHX,metadata_bytes_per_block,$(((after - before) / n)),bytes per 4096-byte block ($n blocks)"
run dmsetup remove meta

log "two targets sharing one budget"
run sh -c "echo $((32 * MB)) >/sys/module/dm_bufcache/parameters/max_cache_size_bytes"
for p in bcwb bcwt bcbrd; do run dmsetup remove "$p"; done
l1="$(make_loop 64)"
l2="$(make_loop 64)"
s1="$(bc_create share1 "$l1" 4096)"
s2="$(bc_create share2 "$l2" 4096)"
fio --name=a --filename="$s1" --rw=randread --bs=4k --size=24M --direct=1 --ioengine=psync \
	--time_based --runtime=$((RT * 3)) >/dev/null &
fio --name=b --filename="$s2" --rw=randread --bs=4k --size=24M --direct=1 --ioengine=psync \
	--time_based --runtime=$((RT * 3)) >/dev/null
wait
u1="$(bc_field share1 bytes_used)" u2="$(bc_field share2 bytes_used)"
echo "BENCHX,share_target1,$((100 * u1 / (16 * MB))),% of its fair share (16 MiB)"
echo "BENCHX,share_target2,$((100 * u2 / (16 * MB))),% of its fair share (16 MiB)"
log "done"
