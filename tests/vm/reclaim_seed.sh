#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The seed scenario of the reclaim rules. ext4 on a RAM disk holds a file;
# a loop device runs over that file; bufcache (writeback, large dirty share)
# runs over the loop device. A metadata-heavy workload (create, write,
# fsync, unlink small files) runs on that same ext4 while a tmpfs hog keeps
# the system at the edge of its memory, so reclaim runs from ext4's NOFS
# contexts (inode and journal allocations inside a jbd2 handle) and calls
# our shrinker. The shrinker counters must show NOFS scans; nothing may hang
# (hung-task timeout 10 s), no lockdep report, and the data verifies.
# vm-mem: 448M
# vm-timeout: 600
# vm-modules: brd
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

DURATION="${SEED_DURATION:-60}"
run sysctl -q kernel.hung_task_timeout_secs=10
run modprobe brd rd_nr=1 rd_size=$((160 * 1024))
run mkfs.ext4 -q -F -J size=8 /dev/ram0
mkdir -p /mnt/a
run mount /dev/ram0 /mnt/a
on_cleanup umount /mnt/a
run truncate -s 96M /mnt/a/origin.img
loop="$(losetup -f --show /mnt/a/origin.img)"
on_cleanup losetup -d "$loop"
bc_load max_cache_size_bytes=$((192 << 20))
dm="$(bc_create sd "$loop" 4096 cache_size $((96 << 20)) max_age_ms 0 high_watermark 90 low_watermark 60 readahead 4)"

fio_write "$dm" 0 32M
log "cache primed: $(bc_status sd)"

stop=$((SECONDS + DURATION))
# Metadata churn on the ext4 that holds the origin file.
churn() {
	local d="/mnt/a/churn$1" i=0
	mkdir -p "$d"
	while [ "$SECONDS" -lt "$stop" ]; do
		for i in $(seq 1 50); do
			head -c $(((i * 997) % 6000 + 1)) /dev/urandom >"$d/f$i"
		done
		sync -f "$d/f1"
		rm -f "$d"/f*
	done
}
# Keeps the page allocator near its watermarks: grows a tmpfs file until
# MemFree is low, then shrinks and regrows it.
hog() {
	mkdir -p /mnt/hog
	mount -t tmpfs -o size=90% hog /mnt/hog
	local n=0
	while [ "$SECONDS" -lt "$stop" ]; do
		if [ "$(mem_kb MemFree)" -gt 12288 ]; then
			dd if=/dev/zero of="/mnt/hog/h$n" bs=1M count=4 status=none 2>/dev/null || true
			n=$((n + 1))
		else
			rm -f "/mnt/hog/h$((RANDOM % (n + 1)))"
		fi
	done
	rm -rf /mnt/hog/*
	umount /mnt/hog
}
# Cache traffic: random writes (dirty, written back to the loop device,
# which writes into the churned ext4) and reads (clean, reclaimable).
traffic() {
	fio --name=t --filename="$dm" --rw=randrw --rwmixread=60 --bs=4k --size=96M \
		--direct=1 --ioengine=psync --time_based --runtime="$DURATION" \
		--output=/tmp/traffic.out
}
pids=()
for j in 1 2 3; do
	churn "$j" &
	pids+=($!)
done
hog &
pids+=($!)
traffic &
pids+=($!)
for p in "${pids[@]}"; do
	wait "$p" || die "a workload process failed (pid $p)"
done
st="$(bc_status sd)"
log "after ${DURATION}s: $st"
scans="$(bc_field sd shrink_scans)"
nofs="$(bc_field sd shrink_scans_nofs)"
noio="$(bc_field sd shrink_scans_noio)"
log "shrinker: $scans scans, $nofs from NOFS contexts, $noio from NOIO contexts, $(bc_field sd shrink_freed) buffers freed, $(bc_field sd shrink_skip_gfp) writebacks withheld for the gfp mask"
[ "$scans" -gt 0 ] || die "reclaim never reached the shrinker: strengthen the pressure"
[ "$nofs" -gt 0 ] || die "no shrinker scan came from a NOFS context: the scenario does not test what it claims"

# Data written before the storm is intact.
fio_verify "$dm" 0 32M
run dmsetup remove sd
run umount /mnt/a
on_cleanup mount /dev/ram0 /mnt/a
run fsck.ext4 -n -f /dev/ram0
log "OK"
