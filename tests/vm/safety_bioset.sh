#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The target's bio_set must not run dry with bios nobody will submit.
# All the bios the cache issues (fills, readahead, writeback) come from one
# bio_set with a reserve of 64, shared by the workers, the writeback lanes
# and flushes. When slab allocations fail, bio_alloc_bioset() lives on that
# reserve alone, and GFP_NOIO waits until a bio comes back: a batch that
# allocates many bios before submitting any can empty the pool with
# unsubmitted bios and wait for ever, with the other batches. Here the
# reserve is 16 (test_bioset_pool=16), fewer than a writeback round's 32
# bios: the cache must make progress on it, each bio submitted before the
# next is allocated. The negative control test_batch_holds_bios=1 (fills
# and writeback rounds hold their bios until they wait) must hang here.
#
# Set-up, without injection: over an origin that delays every bio by
# 100 ms (dm-delay over a loop device: bios in flight hold their pool
# entries longer), a 16 MiB writeback cache (4 KiB blocks, high_watermark
# 95, low_watermark 0, no age limit, readahead 15) gets 15 MiB of dirty
# data: 7 cgroups write every other block of 4 MiB each (about 32
# single-block bios per cgroup and shard: a full batch per writeback
# round) and one cgroup 1 MiB in sequence (merged 16-block bios, whose
# bvecs come from the bio_set's bvec pool).
#
# Then: the origin is throttled to 200 IOPS for these cgroups (io.max:
# pool entries come back one at a time, to whichever waiter runs first)
# and suspended (it holds the bios it gets: the first batches take the
# whole pool, the others queue up for it); failslab fails every slab
# allocation whose call stack passes through the module (bio_alloc_bioset's
# included; GFP_NOIO too: ignore-gfp-wait=N), except under start_lane
# (reject-start/end: the writeback lanes are work items allocated with
# GFP_NOWAIT, and still start); and at once 4 writers in 4 of the cgroups
# write 2 MiB each at random (the shards are full: the workers write
# back, several batches at once; the dirty share crosses 95%: one
# writeback lane per cgroup starts), 2 readers read 512 KiB of uncached
# ranges sequentially (fills) and the device is fsync'ed again and again
# (flush bios) while the writers run. 3 s later the origin resumes.
# Everything must finish within 90 s, and the origin must complete a
# bio at least every 20 s while it runs (on a hang the injection is turned
# off, which lets the mempool waiters go on, and the test fails); then,
# with no more delay or throttling, every byte written verifies on the
# loop device after the cache is removed, and the readers read zeroes.
# vm-timeout: 300
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

# in_cgf CGROUP_DIR CMD...: like in_cg, for shell functions too.
in_cgf() {
	local cg="$1"
	shift
	(
		echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
		"$@"
	)
}

FI=/sys/kernel/debug/failslab
DEADLINE=90
STALL=20
run sysctl -q kernel.hung_task_timeout_secs=150
bc_load test_bioset_pool=16
loop="$(make_loop 96)"
lsz="$(blockdev --getsz "$loop")"
od="$(dm_create od "0 $lsz delay $loop 0 100")"
dm="$(bc_create bs "$od" 4096 cache_size $((16 << 20)) max_age_ms 0 high_watermark 95 low_watermark 0 readahead 15)"
P="$(cg_setup bioset "+io")"
for i in 1 2 3 4 5 6 7 8; do
	mkdir -p "$P/c$i"
done
on_cleanup rmdir "$P/c1" "$P/c2" "$P/c3" "$P/c4" "$P/c5" "$P/c6" "$P/c7" "$P/c8" "$P"

MB=$((1 << 20))
# fio_job NAME RW OFFSET_MB SIZE_MB [FIO-ARG...]: 4 KiB writes (or their
# verification) with crc32c headers on $dm.
fio_job() {
	local i="$1" rw="$2" off="$3" size="$4"
	shift 4
	fio --output-format=terse --terse-version=3 --name="r$i" --filename="$dm" \
		--rw="$rw" --bs=4k --offset=$((off * MB)) --size=$((size * MB)) --direct=1 \
		--ioengine=psync --verify=crc32c --verify_fatal=1 --randseed="$i" "$@" >/dev/null
}
# The regions: NAME RW OFFSET_MB SIZE_MB.
REGIONS=("1 write:4k 0 4" "2 write:4k 4 4" "3 write:4k 8 4" "4 write:4k 12 4"
	"5 write:4k 16 4" "6 write:4k 20 4" "7 write:4k 24 4" "8 write 28 1")
NEW=("11 randwrite 32 2" "12 randwrite 36 2" "13 randwrite 40 2" "14 randwrite 44 2")

# ---- Set-up: dirty data of 7 owners, no injection ----
for r in "${REGIONS[@]}"; do
	read -r i rw off size <<<"$r"
	in_cgf "$P/c$i" fio_job "$i" "$rw" "$off" "$size" --do_verify=0 || die "set-up write $i failed"
done
# The blkgs of the cgroups on the origin exist before injection (their
# creation allocates; without them bios are charged to the root).
for i in 1 2 3 4 5 6 7 8; do
	in_cg "$P/c$i" dd if="$od" of=/dev/null bs=4k count=1 skip=$((20000 + i)) iflag=direct status=none
done
dirty0="$(bc_field bs dirty_blocks)"
log "set-up: $dirty0 dirty blocks; $(bc_status bs)"
[ "$dirty0" -ge 3300 ] || die "set-up: only $dirty0 dirty blocks"

# ---- Injection ----
read -r _ msize _ _ _ base _ < <(grep '^dm_bufcache ' /proc/modules)
[ -n "$base" ] && [ "$base" != 0x0000000000000000 ] || die "cannot read the module address"
# start_lane's text: from its address to the next symbol's.
# The module's symbols only: sorting all of /proc/kallsyms took 45 s here.
read -r ls le < <(awk '$4 == "[dm_bufcache]"' /proc/kallsyms | sort | awk '
	f { print ls, "0x" $1; exit }
	$3 ~ /Inner10start_lane$/ { ls = "0x" $1; f = 1 }')
[ -n "${le:-}" ] || die "no start_lane symbol in /proc/kallsyms"
log "module $base+$msize; start_lane $ls-$le (not injected)"
echo "$base" >"$FI/require-start" || die "no require-start (FAULT_INJECTION_STACKTRACE_FILTER)"
printf '0x%x\n' $((base + msize)) >"$FI/require-end"
echo "$ls" >"$FI/reject-start"
echo "$le" >"$FI/reject-end"
echo 32 >"$FI/stacktrace-depth"
echo N >"$FI/ignore-gfp-wait"
echo N >"$FI/task-filter"
echo 1 >"$FI/interval"
echo 0 >"$FI/verbose"
echo 100000000 >"$FI/times"
no_faults() { echo 0 >"$FI/probability"; }
on_cleanup no_faults
# The origin takes 200 bios a second from these cgroups (blk-throttle
# holds the others): pool entries come back one by one, to whichever
# waiter runs first.
omm="$(lsblk -dno MAJ:MIN "$od" | tr -d ' ')"
cg_io_max "$P" "$od" "riops=200 wiops=200" "$P/c1"
on_cleanup sh -c "echo '$omm riops=max wiops=max' >'$P/io.max'"
# The origin holds every bio it gets until it resumes: the first batches
# take the whole pool, and everyone else queues up for it.
run dmsetup suspend od
on_cleanup dmsetup resume od
echo 100 >"$FI/probability"
log "failslab: 100% of the module's slab allocations fail"

jobs_all=""
for r in "${NEW[@]}"; do
	read -r i rw off size <<<"$r"
	bg_start "w$i" in_cgf "$P/c$((i - 10))" fio_job "$i" "$rw" "$off" "$size" --do_verify=0
	jobs_all+="w$i "
done
for r in 1 2; do
	bg_start "r$r" in_cg "$P/c$((4 + r))" dd if="$dm" of="/tmp/rd$r" bs=4k skip=$(((60 + 8 * r) * 256)) count=128 iflag=direct status=none
	jobs_all+="r$r "
done
# Flush bios (fsync of the device), handled by a worker, again and
# again while the writers run.
flusher() {
	local n=0
	while [ ! -f /tmp/w11.rc ] || [ ! -f /tmp/w12.rc ] || [ ! -f /tmp/w13.rc ] || [ ! -f /tmp/w14.rc ] || [ "$n" = 0 ]; do
		sync "$dm" || return 1
		n=$((n + 1))
	done
	echo "$n flushes"
}
bg_start fl flusher
jobs_all+="fl"
sleep 3
run dmsetup resume od
t0=$SECONDS
running() {
	local j left=""
	for j in $jobs_all; do
		[ -f "/tmp/$j.rc" ] || left+="$j "
	done
	echo "$left"
}
# Blocked: the deadline passed, or the origin completed no bio for STALL
# seconds while the workload runs (it is throttled to 200 a second, and
# a healthy run completes bios all the time; a hang completes none).
# Read from the block layer's counters, not the target's status (its
# formatting may allocate, and the module's allocations fail now).
ostat="/sys/block/$(basename "$(readlink -f "$od")")/stat"
[ -r "$ostat" ] || die "cannot read $ostat (the origin's block layer counters)"
completed() { awk '{ print $1 + $5 }' "$ostat" || die "cannot read $ostat"; }
hung="" why="" last="$(completed)" last_t=$SECONDS
while [ -n "$(running)" ]; do
	c="$(completed)"
	if [ "$c" != "$last" ]; then
		last="$c" last_t=$SECONDS
	elif [ $((SECONDS - last_t)) -ge "$STALL" ]; then
		hung="$(running)" why="the origin completed no bio for ${STALL}s"
		break
	fi
	if [ $((SECONDS - t0)) -ge "$DEADLINE" ]; then
		hung="$(running)" why="deadline"
		break
	fi
	sleep 0.5
done
fails=()
if [ -n "$hung" ]; then
	fails+=("workload still blocked after $((SECONDS - t0))s with failslab on ($why): $hung")
	# Said at once (the negative control stops the VM on it).
	log "${fails[-1]}"
	echo w >/proc/sysrq-trigger
	no_faults
	log "injection off; $(bc_status bs)"
	for _ in $(seq 1 120); do
		[ -n "$(running)" ] || break
		sleep 0.5
	done
	[ -z "$(running)" ] || die "$(printf '%s; ' "${fails[@]}") and still blocked 60 s after injection was turned off: $(running)"
	log "went on once injection was off, after $((SECONDS - t0)) s"
else
	log "workload done in $((SECONDS - t0)) s with failslab on ($(cat /tmp/fl.out))"
fi
injected=$((100000000 - $(cat "$FI/times")))
no_faults
figure "failslab injected $injected slab allocation failures; writeback rounds in a spare round: $(bc_field bs spare_rounds)"
log "$(bc_status bs)"
[ "$injected" -gt 0 ] || fails+=("failslab injected nothing")
for j in $jobs_all; do
	rc="$(cat "/tmp/$j.rc")"
	[ "$rc" = 0 ] || fails+=("$j exited with $rc: $(head -c 300 "/tmp/$j.out" | tr '\n' ' ')")
done

# ---- Data ----
# No more delay or throttling: verification reads a lot.
echo "$omm riops=max wiops=max" >"$P/io.max"
run dmsetup suspend od
run dmsetup reload od --table "0 $lsz linear $loop 0"
run dmsetup resume od
run dmsetup message bs 0 flush
assert_eq "$(bc_field bs dirty_blocks)" 0 "dirty blocks after the final flush"
# verify_all WHAT: every region verified by one fio, a job per region (a
# fio start costs ~1.5 s here; a failing job is named in its output).
verify_all() {
	local r i rw off size jobs=()
	for r in "${REGIONS[@]}" "${NEW[@]}"; do
		read -r i rw off size <<<"$r"
		jobs+=(--name="r$i" --filename="$dm" --rw="$rw" --bs=4k --offset=$((off * MB))
			--size=$((size * MB)) --direct=1 --ioengine=psync --verify=crc32c
			--verify_fatal=1 --randseed="$i" --verify_only)
	done
	fio "${jobs[@]}" >/tmp/verify.out 2>&1 ||
		fails+=("$1: a region does not verify: $(grep -E -i -m 3 'verify|bad|error' /tmp/verify.out | tr '\n' ' ')")
}
for r in 1 2; do
	cmp -s -n $((MB / 2)) "/tmp/rd$r" /dev/zero || fails+=("reader $r read something other than zeroes")
done
run dmsetup remove bs
dm="$loop"
verify_all "on the loop device"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
