#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark's guest side (scripts/bench.sh runs it; not a test: no
# assertion on speed). Every peer lives in this one boot; each workload
# runs on each of its peers, BENCH_REPS times over: repetition 1 on every
# peer, then repetition 2, ..., the peers of each repetition in a shuffled
# order (a different one per repetition, from a seeded RNG: BENCH_SEED,
# printed). Before every run, whatever the previous run left is written
# back and flushed (the "flush" message of every bufcache and writecache
# peer), then sync and drop_caches; the hot workloads then warm the peer
# under test (drop_caches runs the shrinkers: the caches are emptied).
# fio, O_DIRECT, psync at queue depth 1 (hot4k-qd16: libaio, 4 jobs of
# depth 4), BENCH_RUNTIME seconds. One line per run:
#   BENCH,<workload>,<peer>,<rep>,<iops>,<MB/s>,<p99 us>,<slot>
# (slot: the run's place in its repetition's order, 1-based), and one per
# extra figure:
#   BENCHX,<name>,<value>,<unit>
# BENCH_SMOKE=1: a short subset, to prove the whole chain runs (CI).
# BENCH_CASE / BENCH_PEERS (comma-separated, scripts/bench.sh --case /
# --peers): only these workloads, only these peers (empty: all).
# vm-manual: yes
# vm-mem: 2G
# vm-timeout: 2400
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
RT="${BENCH_RUNTIME:-3}"
REPS="${BENCH_REPS:-5}"
SMOKE="${BENCH_SMOKE:-0}"
# The bufcache peers' cache, and dm-bufio's (dm-ebs) global limit.
CACHE=$((32 * MB))
HOT=$((16 * MB))
# dm-writecache's cache device: a slice of the second RAM disk.
WC=$((96 * MB))

# The order of the peers: a 31-bit LCG in bash (no process, the same
# sequence on every machine), seeded once; shuffle leaves its permutation
# of its arguments in ORDER.
SEED="${BENCH_SEED:-}"
[ -n "$SEED" ] || SEED=$(($(od -An -N4 -tu4 /dev/urandom) % 2147483648))
[[ "$SEED" =~ ^[0-9]+$ ]] || die "BENCH_SEED: '$SEED' is not a number"
RNG=$((SEED % 2147483648))
shuffle() {
	local i j t
	ORDER=("$@")
	for ((i = ${#ORDER[@]} - 1; i > 0; i--)); do
		RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
		j=$(((RNG >> 8) % (i + 1)))
		t="${ORDER[i]}" ORDER[i]="${ORDER[j]}" ORDER[j]="$t"
	done
}
echo "BENCHX,seed,$SEED,seed of the peers' order (BENCH_SEED)"
cs=/sys/devices/system/clocksource/clocksource0
echo "BENCHX,clocksource,$(cat "$cs/current_clocksource"),the guest's clocksource (available: $(cat "$cs/available_clocksource"))"

# want WORKLOAD: true if the run includes it (BENCH_CASE).
WANT=" ${BENCH_CASE//,/ } "
want() { [ -z "${BENCH_CASE:-}" ] || [[ "$WANT" == *" $1 "* ]]; }
# only PEER...: the given peers that the run includes (BENCH_PEERS), in
# their order, on one line.
PWANT=" ${BENCH_PEERS//,/ } "
only() {
	local p out=()
	for p in "$@"; do
		[ -z "${BENCH_PEERS:-}" ] || [[ "$PWANT" == *" $p "* ]] || continue
		out+=("$p")
	done
	echo "${out[*]}"
}
[ -z "${BENCH_CASE:-}${BENCH_PEERS:-}" ] || log "selection: workloads '${BENCH_CASE:-all}', peers '${BENCH_PEERS:-all}'"

bc_load max_cache_size_bytes=$((160 * MB))
# Origins: RAM-backed loop devices (tmpfs), a RAM disk (brd: the limit of
# "RAM behind DM"), and a loop device behind dm-delay (1 ms per I/O). The
# second RAM disk holds dm-writecache's cache device and the brd file
# systems of the fsync workload (brd allocates a page when it is written).
loop="$(make_loop 384)"
dloop="$(make_loop 160)"
run modprobe brd rd_nr=2 rd_size=$((384 * 1024))
on_cleanup rmmod brd
ram=/dev/ram0
ram1=/dev/ram1
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

# dm-bufio's only size limit is global (all its clients): the same 32 MiB
# as the bufcache peers.
bufio=/sys/module/dm_bufio/parameters/max_cache_size_bytes
if [ -w "$bufio" ]; then
	echo "BENCHX,bufio_default_cache_bytes,$(cat "$bufio"),dm-bufio's max_cache_size_bytes at boot (0: its default share of RAM)"
	run sh -c "echo $CACHE >$bufio"
	echo "BENCHX,bufio_cache_bytes,$(cat "$bufio"),dm-bufio's max_cache_size_bytes for the run (global: every dm-ebs peer)"
fi

declare -A DEV
DEV[loop]="$loop"
DEV[linear]="$(dm_create lin "0 $sz linear $loop 0")"
DEV[linear-brd]="$(dm_create linbrd "0 $sz linear $ram 0")"
# dm-ebs: 4 KiB emulated over 4 KiB (every bio through dm-bufio; a 4 KiB
# logical block size, so 4 KiB workloads only), and 512 B over 4 KiB (only
# the bios that are not 4 KiB-aligned go through dm-bufio: the 512 B one).
DEV[ebs]="$(dm_create ebs "0 $sz ebs $loop 0 8 8")"
DEV[ebs512]="$(dm_create ebs512 "0 $sz ebs $loop 0 1 8")"
wcache="$(dm_create wccache "0 $((WC / 512)) linear $ram1 0")"
DEV[writecache]="$(dm_create wc "0 $sz writecache s $loop $wcache 4096 0")"
delay="$(dm_create slow "0 $dsz delay $dloop 0 1")"
DEV[delay]="$delay"
DEV[bc-wb]="$(bc_create bcwb "$loop" 4096 cache_size $CACHE)"
DEV[bc-wt]="$(bc_create bcwt "$loop" 4096 cache_size $CACHE writethrough)"
DEV[bc-wb-brd]="$(bc_create bcbrd "$ram" 4096 cache_size $CACHE)"
DEV[bc-delay]="$(bc_create bcdelay "$delay" 4096 cache_size $CACHE)"
# The dm devices whose "flush" message writes back what a run left.
FLUSH="bcwb bcwt bcbrd bcdelay wc"

# settle: write back and flush what the previous run left (every bufcache
# and writecache peer), sync, drop the page cache and the shrinkable
# caches (bufcache's and dm-bufio's too).
settle() {
	local n out
	if [ -x /tests/tools/bc-dmctl ]; then
		# One process for every message (dmsetup costs ~0.1 s a run under TCG).
		out="$(for n in $FLUSH; do echo "message $n 0 flush"; done | /tests/tools/bc-dmctl)" ||
			die "bc-dmctl failed to send the flush messages"
		[ "$(grep -cx ok <<<"$out")" = "$(wc -w <<<"$FLUSH")" ] ||
			die "flush of $FLUSH: $(tr '\n' ' ' <<<"$out")"
	else
		for n in $FLUSH; do
			dmsetup message "$n" 0 flush || die "dmsetup message $n 0 flush failed"
		done
	fi
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# fio_run DEV ARGS...: one fio job; prints "iops MB/s p99_us". ARGS may
# override the engine (a later --ioengine wins).
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

# fio_fs DIR: the fsync workload in the file system mounted at DIR (4 KiB
# random writes, buffered, an fsync after each); prints "iops MB/s p99_us".
fio_fs() {
	local out
	out="$(fio --output-format=terse --terse-version=3 --name=f --directory="$1" \
		--rw=randwrite --bs=4k --size=8M --fsync=1 --ioengine=psync \
		--time_based --runtime="$RT")" || die "fio in $1 failed"
	awk -F';' '{ split($71, w, "="); printf "%.1f %.2f %d\n", $49, $48 / 1024, w[2] }' <<<"$out"
}

# warm WORKLOAD PEER: after settle, fill the hot set into a caching peer
# (the hot workloads only): one pass of 4 KiB random reads over it; for
# ebs512, one 512 B read in each 4 KiB block (a 4 KiB read would bypass
# dm-bufio there).
warm() {
	case "$1" in hot*) ;; *) return 0 ;; esac
	case "$2" in
	ebs | bc-*) fio_run "${DEV[$2]}" --rw=randread --bs=4k --size=$HOT >/dev/null ;;
	ebs512) fio_run "${DEV[$2]}" --rw=read:3584 --bs=512 --size=$HOT \
		--number_ios=$((HOT / 4096)) >/dev/null ;;
	esac
}

# measure WORKLOAD PEER REP SLOT CMD...: one run: settle, warm, CMD (which
# prints "iops MB/s p99_us"), its BENCH line.
measure() {
	local wl="$1" p="$2" rep="$3" slot="$4" res
	shift 4
	settle
	warm "$wl" "$p"
	res="$("$@")"
	echo "BENCH,$wl,$p,$rep,${res// /,},$slot"
}

# bench WORKLOAD "PEER..." FIO-ARGS...: the workload on each peer, REPS
# times, each repetition in its own order.
bench() {
	local wl="$1" peers rep i
	want "$wl" || return 0
	# shellcheck disable=SC2086 # a list of peers
	peers="$(only $2)"
	[ -n "$peers" ] || return 0
	shift 2
	for ((rep = 1; rep <= REPS; rep++)); do
		# shellcheck disable=SC2086 # a list of peers
		shuffle $peers
		log "$wl, repetition $rep: ${ORDER[*]}"
		for i in "${!ORDER[@]}"; do
			measure "$wl" "${ORDER[i]}" "$rep" $((i + 1)) fio_run "${DEV[${ORDER[i]}]}" "$@"
		done
	done
}

TB=(--time_based --runtime="$RT")
if [ "$SMOKE" = 1 ]; then
	bench hot4k "linear bc-wb" --rw=randread --bs=4k --size=$HOT "${TB[@]}"
	bench seqread "linear bc-wb" --rw=read --bs=1M --offset=$((128 * MB)) --size=$((64 * MB)) "${TB[@]}"
	echo "BENCHX,smoke,1,run"
	exit 0
fi

# Peers per workload. writecache is not in the read-only hot set: reads of
# blocks it never wrote go to its origin, as through dm-linear.
log "hot set: 4 KiB and 512 B random reads over 16 MiB (warm)"
bench hot4k "loop linear linear-brd ebs bc-wb bc-wt bc-wb-brd delay bc-delay" \
	--rw=randread --bs=4k --size=$HOT "${TB[@]}"
bench hot512 "linear linear-brd ebs512 bc-wb bc-wb-brd" --rw=randread --bs=512 --size=$HOT "${TB[@]}"
log "hot set, 4 KiB random reads at queue depth 16 (4 jobs of libaio depth 4)"
bench hot4k-qd16 "linear linear-brd ebs bc-wb bc-wb-brd" --rw=randread --bs=4k --size=$HOT \
	--ioengine=libaio --iodepth=4 --numjobs=4 "${TB[@]}"
# bc-delay is done with: its 32 MiB go back to the budget (the fsync
# peers below take 48 MiB of it).
run dmsetup remove bcdelay
FLUSH="${FLUSH/bcdelay /}"
log "uniform random reads over twice the cache"
bench uniform "linear linear-brd ebs bc-wb bc-wb-brd" --rw=randread --bs=4k --size=$((2 * CACHE)) "${TB[@]}"
log "4 KiB random writes, 70/30 mix"
RWPEERS="linear linear-brd ebs writecache bc-wb bc-wt bc-wb-brd"
bench randwrite "$RWPEERS" --rw=randwrite --bs=4k --size=$HOT "${TB[@]}"
bench mix70 "$RWPEERS" --rw=randrw --rwmixread=70 --bs=4k --size=$HOT "${TB[@]}"

log "1 MiB sequential reads and writes of uncached data"
# A fresh 48 MiB region per repetition (five of them, then again from the
# first), read then written; the caches are dropped before every run.
for ((rep = 1; rep <= REPS; rep++)); do
	off=$(((128 + 48 * ((rep - 1) % 5)) * MB))
	# shellcheck disable=SC2046 # a list of peers
	shuffle $(only linear linear-brd ebs bc-wb bc-wb-brd)
	want seqread || ORDER=()
	[ "${#ORDER[@]}" = 0 ] || log "seqread, repetition $rep: ${ORDER[*]}"
	for i in "${!ORDER[@]}"; do
		measure seqread "${ORDER[i]}" "$rep" $((i + 1)) fio_run "${DEV[${ORDER[i]}]}" \
			--rw=read --bs=1M --offset=$off --size=$((48 * MB))
	done
	# shellcheck disable=SC2046 # a list of peers
	shuffle $(only linear linear-brd writecache bc-wb bc-wt bc-wb-brd)
	want seqwrite || ORDER=()
	[ "${#ORDER[@]}" = 0 ] || log "seqwrite, repetition $rep: ${ORDER[*]}"
	for i in "${!ORDER[@]}"; do
		measure seqwrite "${ORDER[i]}" "$rep" $((i + 1)) fio_run "${DEV[${ORDER[i]}]}" \
			--rw=write --bs=1M --offset=$off --size=$((48 * MB))
	done
done
settle

log "hot set after one sequential pass of twice the cache"
# hot_after_scan CUTOFF: bc-wb reloaded with sequential_cutoff CUTOFF; the
# hot set read three times, then a 64 MiB sequential read elsewhere, then
# the hot set once more: its hit ratio after, as a share of before.
hot_after_scan() {
	local h0 m0 h1 m1
	run dmsetup suspend bcwb
	run dmsetup reload bcwb --table "0 $sz bufcache $loop 4096 4 cache_size $CACHE sequential_cutoff $1"
	run dmsetup resume bcwb
	warm hot bc-wb
	warm hot bc-wb
	run dmsetup message bcwb 0 clear_stats
	warm hot bc-wb
	h0="$(bc_field bcwb read_hits)" m0="$(bc_field bcwb read_misses)"
	run dd if="${DEV[bc-wb]}" of=/dev/null bs=1M skip=192 count=$((2 * CACHE / MB)) iflag=direct status=none
	run dmsetup message bcwb 0 clear_stats
	warm hot bc-wb
	h1="$(bc_field bcwb read_hits)" m1="$(bc_field bcwb read_misses)"
	echo "BENCHX,hot_after_scan_cutoff_$1,$((100 * h1 * (h0 + m0) / ((h1 + m1) * h0))),% of the hit ratio before ($((100 * h1 / (h1 + m1))) % after / $((100 * h0 / (h0 + m0))) % before)"
}
if want hot_after_scan; then
	hot_after_scan 0
	hot_after_scan $((4 * MB))
fi

if want fsync && [ -n "$(only linear linear-brd bc-wb bc-wt bc-wb-brd)" ]; then
log "fsync-heavy small writes on ext4"
# Each on its own 64 MiB origin (one file system per origin): loop devices
# for dm-linear and bufcache, slices of the second RAM disk (after
# writecache's cache) for the brd controls.
declare -A FS
FS[linear]="$(dm_create fslin "0 $((64 * 2048)) linear $(make_loop 64) 0")"
FS[bc-wb]="$(bc_create fswb "$(make_loop 64)" 4096 cache_size $((16 * MB)))"
FS[bc-wt]="$(bc_create fswt "$(make_loop 64)" 4096 cache_size $((16 * MB)) writethrough)"
FS[linear-brd]="$(dm_create fslinbrd "0 $((64 * 2048)) linear $ram1 $((WC / 512))")"
FS[bc-wb-brd]="$(bc_create fsbrd "$(dm_create fsbrdo "0 $((64 * 2048)) linear $ram1 $((WC / 512 + 64 * 2048))")" \
	4096 cache_size $((16 * MB)))"
FSPEERS="$(only linear linear-brd bc-wb bc-wt bc-wb-brd)"
for p in $FSPEERS; do
	run mkfs.ext4 -q -F "${FS[$p]}"
	mkdir -p "/mnt/$p"
	run mount "${FS[$p]}" "/mnt/$p"
	on_cleanup sh -c "! grep -q ' /mnt/$p ' /proc/mounts || umount /mnt/$p"
done
FLUSH="$FLUSH fswb fswt fsbrd"
for ((rep = 1; rep <= REPS; rep++)); do
	# shellcheck disable=SC2086 # a list of peers
	shuffle $FSPEERS
	log "fsync, repetition $rep: ${ORDER[*]}"
	for i in "${!ORDER[@]}"; do
		measure fsync "${ORDER[i]}" "$rep" $((i + 1)) fio_fs "/mnt/${ORDER[i]}"
	done
done
for p in $FSPEERS; do run umount "/mnt/$p"; done
for n in fslin fswb fswt fslinbrd fsbrd fsbrdo; do run dmsetup remove "$n"; done
FLUSH="bcwb bcwt bcbrd wc"
settle
fi

# The remaining bufcache targets go: the metadata target takes 128 MiB
# of the 160 MiB budget, then the sharing test lowers it.
for n in bcwb bcwt bcbrd; do run dmsetup remove "$n"; done

if want metadata; then
log "metadata: unreclaimable slab and vmalloc memory per cached block"
# System-wide, so approximate: the growth of SUnreclaim + VmallocUsed
# (kmalloc, large kmalloc and vmalloc; not SReclaimable, the dentries and
# inodes that drop_caches frees after RCU grace periods) from before the
# table load to after a 128 MiB cache of 4 KiB blocks is full; three
# samples, the median. The load figure is the share already there after
# the table load, before any block (the slot index, allocated whole).
mem() { awk '/^(SUnreclaim|VmallocUsed):/ { s += $2 } END { print s * 1024 }' /proc/meminfo; }
META=$((128 * MB))
totals=() loads=()
for i in 1 2 3; do
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
	before="$(mem)"
	meta="$(bc_create meta "$loop" 4096 cache_size $META sequential_cutoff 0)"
	loaded="$(mem)"
	run dd if="$meta" of=/dev/null bs=1M count=$((META / MB)) iflag=direct status=none
	after="$(mem)"
	n="$(bc_field meta blocks_cached)"
	run dmsetup remove meta
	[ "$n" -gt 0 ] || die "metadata: the cache holds no block"
	totals+=($(((after - before) / n)))
	loads+=($(((loaded - before) / (META / 4096))))
	log "metadata sample $i: $(((after - before) / n)) bytes per block over $n blocks, $(((loaded - before) / (META / 4096))) at load"
done
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "BENCHX,metadata_bytes_per_block,$(median3 "${totals[@]}"),bytes per 4096-byte block (median of 3 samples: ${totals[*]}; system-wide SUnreclaim + VmallocUsed; $n blocks)"
echo "BENCHX,metadata_load_bytes_per_block,$(median3 "${loads[@]}"),bytes per slot at table load (median of 3 samples: ${loads[*]})"
fi

if want share; then
log "two targets sharing one budget"
run sh -c "echo $((32 * MB)) >/sys/module/dm_bufcache/parameters/max_cache_size_bytes"
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
fi
log "done"
