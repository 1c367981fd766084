#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Attribution: the bios bufcache issues itself are charged to the cgroup
# that caused them. Cgroups A and B write 24 MiB and 8 MiB through the page
# cache of the bufcache device (so the flusher kworker submits them, and
# only the original bio knows the cgroup); after the writeback the origin
# loop device's line in each one's io.stat shows its wbytes within 10%, and
# root's share (the rest of the device's total) stays under 10%. The same
# for fills: A reads 12 MiB cold, B 4 MiB. The same workload through
# dm-linear is measured and logged, to document what the kernel does
# without bufcache.
# vm-timeout: 400
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load max_cache_size_bytes=$((128 << 20))
loop="$(make_loop 96)"
mm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
P="$(cg_setup attr "+io +memory")"
mkdir -p "$P/A" "$P/B"
on_cleanup rmdir "$P/A" "$P/B" "$P"
MB=$((1 << 20))

# run_case TARGET-DESCRIPTION DM-DEVICE: the workload; prints
# "A_w B_w total_w A_r B_r total_r" (bytes on the loop device).
run_case() {
	local dev="$1" aw bw tw ar br tr
	aw="$(cg_io "$P/A" "$mm" wbytes)" bw="$(cg_io "$P/B" "$mm" wbytes)" tw="$(dev_bytes "$loop" write)"
	in_cg "$P/A" dd if=/dev/urandom of="$dev" bs=1M count=24 status=none
	in_cg "$P/B" dd if=/dev/urandom of="$dev" bs=1M seek=40 count=8 status=none
	# The page cache is written back by the flusher; fsync of the device
	# then flushes it, which makes bufcache write back its dirty blocks.
	run sync >&2
	run sync "$dev" >&2
	echo 1 >/proc/sys/vm/drop_caches
	aw=$(($(cg_io "$P/A" "$mm" wbytes) - aw))
	bw=$(($(cg_io "$P/B" "$mm" wbytes) - bw))
	tw=$(($(dev_bytes "$loop" write) - tw))
	ar="$(cg_io "$P/A" "$mm" rbytes)" br="$(cg_io "$P/B" "$mm" rbytes)" tr="$(dev_bytes "$loop" read)"
	in_cg "$P/A" dd if="$dev" of=/dev/null bs=1M skip=48 count=12 iflag=direct status=none
	in_cg "$P/B" dd if="$dev" of=/dev/null bs=1M skip=64 count=4 iflag=direct status=none
	ar=$(($(cg_io "$P/A" "$mm" rbytes) - ar))
	br=$(($(cg_io "$P/B" "$mm" rbytes) - br))
	tr=$(($(dev_bytes "$loop" read) - tr))
	echo "$aw $bw $tw $ar $br $tr"
}

# Without bufcache: dm-linear over the same loop device.
sz="$(blockdev --getsz "$loop")"
lin="$(dm_create lin "0 $sz linear $loop 0" 2>/dev/null)"
read -r aw bw tw ar br tr < <(run_case "$lin")
log "dm-linear: writes A=$((aw / MB))M B=$((bw / MB))M root/other=$(((tw - aw - bw) / MB))M of $((tw / MB))M; reads A=$((ar / MB))M B=$((br / MB))M root/other=$(((tr - ar - br) / MB))M of $((tr / MB))M"
run dmsetup remove lin

dm="$(bc_create at "$loop" 4096 cache_size $((64 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0)"
read -r aw bw tw ar br tr < <(run_case "$dm")
log "bufcache:  writes A=$((aw / MB))M B=$((bw / MB))M root/other=$(((tw - aw - bw) / MB))M of $((tw / MB))M; reads A=$((ar / MB))M B=$((br / MB))M root/other=$(((tr - ar - br) / MB))M of $((tr / MB))M"
log "$(bc_status at)"
dmsetup message at 0 cgroup_stats | sed 's/^/  cgroup_stats: /'
within 10 "$aw" $((24 * MB)) || die "A's writeback: $aw bytes charged, wrote $((24 * MB))"
within 10 "$bw" $((8 * MB)) || die "B's writeback: $bw bytes charged, wrote $((8 * MB))"
[ $(((tw - aw - bw) * 10)) -le "$tw" ] || die "root was charged $((tw - aw - bw)) of $tw written bytes"
within 10 "$ar" $((12 * MB)) || die "A's fills: $ar bytes charged, read $((12 * MB))"
within 10 "$br" $((4 * MB)) || die "B's fills: $br bytes charged, read $((4 * MB))"
[ $(((tr - ar - br) * 10)) -le "$tr" ] || die "root was charged $((tr - ar - br)) of $tr read bytes"
log "OK"
