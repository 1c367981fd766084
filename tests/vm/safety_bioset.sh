#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The target's bio_set must not run dry with bios nobody will submit.
# All the bios the cache issues (fills, readahead, writeback) come from one
# bio_set with a reserve of 64, shared by the workers, the writeback lanes
# and flushes. When slab allocations fail, bio_alloc_bioset() lives on that
# reserve alone, and GFP_NOIO waits until a bio comes back: a batch that
# allocates many bios before submitting any can empty the pool with
# unsubmitted bios and wait for ever, with the other batches.
#
# Set-up, without injection: a 16 MiB writeback cache (4 KiB blocks, held:
# watermarks 100, no age limit, readahead 15) gets about 12 MiB of dirty
# data from 8 cgroups, every other block (each writeback round makes
# single-block bios, up to 32 a batch) and two sequential runs (merged
# 16-block bios, which need bvecs from the bio_set's bvec pool too).
# Then failslab fails every slab allocation whose call stack passes
# through the module (bio_alloc_bioset's included; GFP_NOIO too: ignore-gfp-
# wait=N) while, at once: 4 writers in 4 cgroups write new data (the
# shards are full of dirty blocks: the workers write back, 4 batches at a
# time), 2 readers read uncached ranges sequentially (fills with
# readahead), background writeback is released (watermarks 0 0) and a
# flush message runs. Everything must finish within 60 s (on a hang the
# injection is turned off, which lets mempool waiters go on, and the test
# fails), and then every byte verifies through the device and, after
# removal, on the loop device.
# vm-timeout: 300
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bg_start() {
	local n="$1"
	shift
	rm -f "/tmp/$n.rc"
	(
		set +e
		"$@" >"/tmp/$n.out" 2>&1
		echo $? >"/tmp/$n.rc.tmp"
		mv "/tmp/$n.rc.tmp" "/tmp/$n.rc"
	) &
}

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
DEADLINE=60
run sysctl -q kernel.hung_task_timeout_secs=120
bc_load
loop="$(make_loop 96)"
mm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
dm="$(bc_create bs "$loop" 4096 cache_size $((16 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 15)"
P="$(cg_setup bioset "+io")"
for i in 1 2 3 4 5 6 7 8; do
	mkdir -p "$P/c$i"
done
on_cleanup rmdir "$P/c1" "$P/c2" "$P/c3" "$P/c4" "$P/c5" "$P/c6" "$P/c7" "$P/c8" "$P"

# fio job options for region i: MiB offset, size, pattern.
MB=$((1 << 20))
fio_job() { # i rw offset_mb size_mb [extra...]
	local i="$1" rw="$2" off="$3" size="$4"
	shift 4
	fio --output-format=terse --terse-version=3 --name="r$i" --filename="$dm" \
		--rw="$rw" --bs=4k --offset=$((off * MB)) --size=$((size * MB)) --direct=1 \
		--ioengine=psync --verify=crc32c --verify_fatal=1 --randseed="$i" "$@" >/dev/null
}

# ---- Set-up: dirty data of 8 owners, no injection ----
for i in 1 2 3 4 5 6; do
	# Every other 4 KiB block of 3 MiB: 384 dirty blocks, none adjacent.
	in_cgf "$P/c$i" fio_job "$i" write:4k $(((i - 1) * 4)) 3 --do_verify=0 ||
		die "set-up write $i failed"
done
for i in 7 8; do
	in_cgf "$P/c$i" fio_job "$i" write $(((i - 1) * 4)) 2 --do_verify=0 ||
		die "set-up write $i failed"
done
# blkgs of every cgroup on the loop device exist before injection starts
# (their creation allocates; without them bios are charged to the root).
for i in 1 2 3 4 5 6 7 8; do
	in_cg "$P/c$i" dd if="$loop" of=/dev/null bs=4k count=1 skip=$((20000 + i)) iflag=direct status=none
done
dirty0="$(bc_field bs dirty_blocks)"
log "set-up: $dirty0 dirty blocks; $(bc_status bs)"
[ "$dirty0" -ge 2500 ] || die "set-up: only $dirty0 dirty blocks"

# ---- Injection: every slab allocation on the module's behalf fails ----
read -r _ msize _ _ _ base _ < <(grep '^dm_bufcache ' /proc/modules)
[ -n "$base" ] && [ "$base" != 0x0000000000000000 ] || die "cannot read the module address"
echo "$base" >"$FI/require-start" || die "no require-start (FAULT_INJECTION_STACKTRACE_FILTER)"
printf '0x%x\n' $((base + msize)) >"$FI/require-end"
echo 32 >"$FI/stacktrace-depth"
echo N >"$FI/ignore-gfp-wait"
echo N >"$FI/task-filter"
echo 1 >"$FI/interval"
echo 0 >"$FI/verbose"
echo 100000000 >"$FI/times"
heal() { echo 0 >"$FI/probability"; }
on_cleanup heal
echo 100 >"$FI/probability"
log "failslab: 100% of the module's slab allocations fail"

t0=$SECONDS
for w in 1 2 3 4; do
	# 2 MiB of new data each, at 32 MiB + 4 MiB * w.
	bg_start "w$w" in_cgf "$P/c$w" fio_job "1$w" write $((28 + 4 * w)) 2 --do_verify=0
done
for r in 1 2; do
	bg_start "r$r" in_cg "$P/c$((4 + r))" dd if="$dm" of="/tmp/rd$r" bs=4k skip=$(((60 + 8 * r) * 256)) count=512 iflag=direct status=none
done
bg_start wm dmsetup message bs 0 watermarks 0 0
bg_start fl dmsetup message bs 0 flush
jobs_all="w1 w2 w3 w4 r1 r2 wm fl"
hung=""
while :; do
	left=""
	for j in $jobs_all; do
		[ -f "/tmp/$j.rc" ] || left+="$j "
	done
	[ -n "$left" ] || break
	if [ $((SECONDS - t0)) -ge "$DEADLINE" ]; then
		hung="$left"
		break
	fi
	sleep 0.5
done
injected=$((100000000 - $(cat "$FI/times")))
fails=()
if [ -n "$hung" ]; then
	log "still running after ${DEADLINE}s: $hung"
	log "$(bc_status bs)"
	echo w >/proc/sysrq-trigger
	fails+=("workload still blocked after ${DEADLINE}s with failslab on: $hung")
	heal
	for _ in $(seq 1 120); do
		left=""
		for j in $jobs_all; do
			[ -f "/tmp/$j.rc" ] || left+="$j "
		done
		[ -n "$left" ] || break
		sleep 0.5
	done
	[ -z "$left" ] || die "$(printf '%s; ' "${fails[@]}") and still blocked 60 s after injection was turned off: $left"
	log "went on once injection was off, after $((SECONDS - t0)) s"
else
	log "workload done in $((SECONDS - t0)) s with failslab on"
fi
heal
log "failslab injected $injected failures; $(bc_status bs)"
[ "$injected" -gt 0 ] || fails+=("failslab injected nothing")
for j in $jobs_all; do
	rc="$(cat "/tmp/$j.rc")"
	[ "$rc" = 0 ] || fails+=("$j exited with $rc: $(head -c 300 "/tmp/$j.out" | tr '\n' ' ')")
done

# ---- Data ----
run dmsetup message bs 0 flush
assert_eq "$(bc_field bs dirty_blocks)" 0 "dirty blocks after the final flush"
verify_all() { # what
	local i
	for i in 1 2 3 4 5 6; do
		fio_job "$i" write:4k $(((i - 1) * 4)) 3 --verify_only 2>/dev/null || fails+=("$1: region $i (every other block) does not verify")
	done
	for i in 7 8; do
		fio_job "$i" write $(((i - 1) * 4)) 2 --verify_only 2>/dev/null || fails+=("$1: region $i (sequential) does not verify")
	done
	for w in 1 2 3 4; do
		fio_job "1$w" write $((28 + 4 * w)) 2 --verify_only 2>/dev/null || fails+=("$1: region 1$w (written under injection) does not verify")
	done
}
verify_all "through the device"
for r in 1 2; do
	if [ -f "/tmp/rd$r" ]; then
		cmp -s -n $((2 * MB)) "/tmp/rd$r" /dev/zero || fails+=("reader $r read something other than zeroes")
	fi
done
run dmsetup remove bs
dm="$loop"
verify_all "on the loop device"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
