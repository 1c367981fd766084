#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The shrinker never waits for I/O inside reclaim. The origin is a loop
# device over a file on ext4 (on a RAM disk), and that ext4 is frozen
# (fsfreeze): any write to the origin now blocks. The cache holds dirty and
# clean data; then a tmpfs hog pushes the system into reclaim. A correct
# shrinker frees clean buffers and the hog finishes; one that writes back
# and waits (test_unsafe_shrinker_writeback=1, run by
# scripts/negative-controls.sh) hangs kswapd and the hog: the hog misses its
# bound and the hung-task detector (10 s) reports blocked tasks.
# Writeback is held (watermarks 100, no age limit) so that, in the correct
# case, nothing at all writes to the frozen origin.
# vm-mem: 512M
# vm-timeout: 420
# vm-modules: brd
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

run sysctl -q kernel.hung_task_timeout_secs=10
run modprobe brd rd_nr=1 rd_size=$((112 * 1024))
run mkfs.ext4 -q -F /dev/ram0
mkdir -p /mnt/a
run mount /dev/ram0 /mnt/a
on_cleanup umount /mnt/a
on_cleanup fsfreeze --unfreeze /mnt/a
run fallocate -l 96M /mnt/a/origin.img
loop="$(losetup -f --show --direct-io=on /mnt/a/origin.img)"
on_cleanup losetup -d "$loop"
bc_load max_cache_size_bytes=$((256 << 20))
dm="$(bc_create fz "$loop" 4096 cache_size $((96 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff 0)"

# 40 MiB dirty, 48 MiB clean.
fio_write "$dm" 0 40M
sha_range "$dm" 48 48 >/dev/null
log "before: $(bc_status fz)"
[ "$(bc_field fz dirty_blocks)" -ge 10000 ] || die "not enough dirty data"

run fsfreeze --freeze /mnt/a
free_kb="$(mem_kb MemFree)"
hog_kb=$((free_kb + 24 * 1024))
log "MemFree ${free_kb} KiB; hog of ${hog_kb} KiB must take about 24 MiB from reclaim"
mkdir -p /mnt/hog
run mount -t tmpfs -o size=$((hog_kb + 4096))k hog /mnt/hog
on_cleanup umount /mnt/hog
# In the background: a hog stuck in reclaim is in D state, where
# timeout's signal cannot end it, and the test must still report.
bg_start hog timeout 90 dd if=/dev/zero of=/mnt/hog/fill bs=1M count=$((hog_kb / 1024)) status=none
if ! rc="$(bg_wait hog 100)"; then
	sleep 15 # past the hung-task timeout: the detector reports it
	die "the hog did not finish within 90 s while the origin was frozen (stuck in D state): reclaim is stuck on I/O; $(bc_status fz)"
fi
log "hog exit status $rc; $(bc_status fz)"
# Stay frozen past the hung-task timeout, so a task stuck in reclaim is
# reported; in the correct case nothing is blocked.
sleep 15
run rm -f /mnt/hog/fill
run fsfreeze --unfreeze /mnt/a
[ "$rc" -ne 124 ] || die "the hog did not finish within 90 s while the origin was frozen: reclaim is stuck on I/O"
[ "$rc" -eq 0 ] || die "the hog failed (exit $rc)"
[ "$(bc_field fz shrink_freed)" -gt 0 ] || die "the shrinker freed nothing"

# The data is intact.
fio_verify "$dm" 0 40M
run dmsetup remove fz
fio_verify "$loop" 0 40M
log "OK"
