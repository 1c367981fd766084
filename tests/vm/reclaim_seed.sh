#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The seed scenario of the reclaim rules. ext4 on a RAM disk holds a file;
# a loop device runs over that file; bufcache (writeback, large dirty share)
# runs over the loop device. A metadata-heavy workload (create, write,
# fsync, unlink small files) runs on that same ext4 while a tmpfs hog keeps
# the system at the edge of its memory, so reclaim runs from ext4's NOFS
# contexts (inode and journal allocations inside a jbd2 handle) and calls
# our shrinker. The shrinker counters must show NOFS scans; nothing may hang
# (hung-task timeout 30 s), no lockdep report, and the data verifies.
# vm-mem: 448M
# vm-timeout: 600
# vm-modules: brd
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

# The storm runs at least MIN_S seconds and until the shrinker has seen
# WANT_NOFS scans from NOFS contexts, at most MAX_S seconds.
MIN_S=45
MAX_S=210
WANT_NOFS=5
# 30 s, not 10: under TCG with free memory pinned at the min watermark, a
# syncfs of the churned ext4 (on brd, which allocates as it writes) was seen
# in D state for 10-20 s while making progress. A deadlock never ends, so
# 30 s still catches one well inside the storm's bound.
run sysctl -q kernel.hung_task_timeout_secs=30
# Watermarks squeezed onto the minimum: kswapd has almost no headroom, so
# allocating tasks reclaim directly much more often, NOFS ones included.
run sysctl -q vm.watermark_scale_factor=1 vm.watermark_boost_factor=0
run modprobe brd rd_nr=1 rd_size=$((128 * 1024))
run mkfs.ext4 -q -F -J size=8 /dev/ram0
mkdir -p /mnt/a
run mount /dev/ram0 /mnt/a
on_cleanup umount /mnt/a
# Written in full first, so the RAM disk's (unreclaimable) pages for it are
# allocated now and do not grow under the pressure later.
run dd if=/dev/zero of=/mnt/a/origin.img bs=1M count=64 conv=fsync status=none
# Direct I/O: the loop worker still writes into this ext4 (under journal
# handles for its inode updates), but the file's data is not cached a
# second time in the page cache, where reclaim would find it before it
# ever calls a shrinker.
loop="$(losetup -f --show --direct-io=on /mnt/a/origin.img)"
on_cleanup sh -c "losetup -d $loop 2>/dev/null || true"
bc_load max_cache_size_bytes=$((128 << 20))
# Dirty data cannot be reclaimed: the watermarks bound it to half the cache,
# or the hog below would drive the guest into the OOM killer.
dm="$(bc_create sd "$loop" 4096 cache_size $((64 << 20)) max_age_ms 0 high_watermark 50 low_watermark 25 readahead 4 sequential_cutoff 0)"

fio_write "$dm" 0 24M
# And 32 MiB of clean data. The shrinker's count is what it can free (clean
# and free buffers), and reclaim asks a shrinker for about
# count >> priority * 4 / seeks objects a pass, in batches of 32: with only
# a few hundred clean buffers it is called only at deep priorities, and
# seldom from the churn's NOFS contexts (seen: 39 scans, none NOFS, in
# 210 s). Thousands of clean buffers make every reclaim pass count.
prime_clean() {
	dd if="$dm" of=/dev/null bs=1M skip=24 count=32 iflag=direct status=none
}
run prime_clean
log "cache primed: $(bc_status sd)"

STOP=/tmp/seed.stop
rm -f "$STOP"
running() { [ ! -e "$STOP" ]; }
# Metadata churn on the ext4 that holds the origin file: creates (ext4
# allocates inodes with GFP_NOFS and does the rest inside jbd2 handles, a
# NOFS scope; directory and inode-table blocks come through sb_getblk(),
# whose page cache allocations are GFP_NOFS), small writes, syncfs, and
# unlinks of older rounds. Long names make directories of many blocks.
# Shell builtins only, so the time goes to ext4 and not to fork.
churn() {
	local d="/mnt/a/churn$1" r=0 i pad
	pad="$(printf '%040d' 0)"
	mkdir -p "$d"
	while running; do
		mkdir -p "$d/r$r"
		for ((i = 1; i <= 1000; i++)); do
			((i % 100)) || running || break
			if ((i % 4 == 0)); then
				printf '%*s' $(((i * 997) % 3000 + 1)) x >"$d/r$r/$pad.$i"
			else
				: >"$d/r$r/$pad.$i"
			fi
		done
		running || break
		sync -f "$d/r$r"
		rm -rf "$d/r$((r - 2))"
		r=$((r + 1))
	done
}
# Keeps free memory at the min watermark, where allocations (the churn's
# too) enter direct reclaim themselves instead of leaving it to kswapd:
# starts another 4 MiB anonymous-memory process while MemFree is above it,
# ends the oldest when below. The hog processes are the OOM killer's first
# choice (oom_score_adj 1000), and killing one gives its memory back.
hog() {
	local floor hogs=()
	floor=$(($(cat /proc/sys/vm/min_free_kbytes) + 512))
	while running; do
		if [ "$(mem_kb MemFree)" -gt "$floor" ]; then
			(
				echo 1000 >/proc/self/oom_score_adj
				x="$(head -c 4194304 /dev/zero | tr '\0' x)"
				sleep 1000000 # the subshell lives on, holding $x
			) &
			hogs+=($!)
			sleep 0.2
		elif [ "${#hogs[@]}" -gt 0 ]; then
			kill -9 "${hogs[0]}" 2>/dev/null || true
			hogs=("${hogs[@]:1}")
		fi
	done
	kill -9 "${hogs[@]}" 2>/dev/null || true
	pkill -x sleep 2>/dev/null || true
	wait 2>/dev/null || true
}
# Cache traffic: random writes (dirty, written back to the loop device,
# which writes into the churned ext4) and reads (clean, reclaimable), and a
# sequential re-read that refills the clean buffers the shrinker freed.
# (fio runs 4 s at a time, and the churn looks for the stop every 100
# files: the storm's end waits for neither's whole round.)
traffic() {
	while running; do
		fio --name=t --filename="$dm" --offset=24M --rw=randrw --rwmixread=60 --bs=4k \
			--size=40M --direct=1 --ioengine=psync --time_based --runtime=4 \
			--output=/tmp/traffic.out || return 1
		prime_clean || return 1
	done
}
pids=()
for j in 1 2 3 4; do
	churn "$j" &
	pids+=($!)
done
hog &
pids+=($!)
traffic &
pids+=($!)
t0=$SECONDS
while :; do
	sleep 5
	el=$((SECONDS - t0))
	nofs="$(bc_field sd shrink_scans_nofs)"
	if [ "$el" -ge "$MAX_S" ] || { [ "$el" -ge "$MIN_S" ] && [ "$nofs" -ge "$WANT_NOFS" ]; }; then
		break
	fi
done
touch "$STOP"
for p in "${pids[@]}"; do
	wait "$p" || die "a workload process failed (pid $p)"
done
log "storm ran ${el}s"
st="$(bc_status sd)"
log "after the storm: $st"
scans="$(bc_field sd shrink_scans)"
nofs="$(bc_field sd shrink_scans_nofs)"
noio="$(bc_field sd shrink_scans_noio)"
log "shrinker: $scans scans, $nofs from NOFS contexts, $noio from NOIO contexts, $(bc_field sd shrink_freed) buffers freed, $(bc_field sd shrink_skip_gfp) writebacks withheld for the gfp mask"
[ "$scans" -gt 0 ] || die "reclaim never reached the shrinker: strengthen the pressure"
[ "$nofs" -gt 0 ] || die "no shrinker scan came from a NOFS context in ${MAX_S}s: the scenario does not test what it claims"

# Data written before the storm is intact.
fio_verify "$dm" 0 24M
run dmsetup remove sd
run losetup -d "$loop"
run umount /mnt/a
on_cleanup mount /dev/ram0 /mnt/a
run fsck.ext4 -n -f /dev/ram0
log "OK"
