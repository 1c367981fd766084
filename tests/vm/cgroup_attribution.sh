#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Attribution: the bios bufcache issues itself are charged to the cgroup
# that caused them. With ext4 on the target, cgroups A and B write 24 MiB
# and 8 MiB into their own files through the page cache (so the flusher
# kworker submits the bios, and only the original bio knows the cgroup;
# writes into one shared inode would all be charged to its first dirtier
# by the kernel's cgroup writeback). After the writeback, the origin loop
# device's line in each one's io.stat shows its wbytes within 10%, and
# root's share (the rest of the device's total: journal and metadata)
# stays under 10%. The same for fills: A reads 12 MiB cold, B 4 MiB. (The
# same workload through dm-linear, which asserted nothing, is no longer run:
# the control no-association shows the method sees a wrong charge.)
# vm-timeout: 400
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load max_cache_size_bytes=$((128 << 20))
loop="$(make_loop 96)"
mm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
P="$(cg_setup attr "+io +memory")"
mkdir -p "$P/A" "$P/B"
on_cleanup rmdir "$P/A" "$P/B" "$P"
MB=$((1 << 20))

# run_case NAME DM-DEVICE: the workload; prints
# "A_w B_w total_w A_r B_r total_r" (bytes on the loop device).
run_case() {
	local name="$1" dev="$2" aw bw tw ar br tr
	run mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev" >&2
	mkdir -p /mnt/at
	run mount "$dev" /mnt/at >&2
	mkdir /mnt/at/a /mnt/at/b
	chmod 777 /mnt/at/a /mnt/at/b
	run sync >&2
	aw="$(cg_io "$P/A" "$mm" wbytes)" bw="$(cg_io "$P/B" "$mm" wbytes)" tw="$(dev_bytes "$loop" write)"
	in_cg "$P/A" dd if=/dev/urandom of=/mnt/at/a/data bs=1M count=24 status=none
	in_cg "$P/B" dd if=/dev/urandom of=/mnt/at/b/data bs=1M count=8 status=none
	# The flusher writes the page cache back; the file system's sync ends
	# with a flush of the device, which makes bufcache write back too.
	run sync >&2
	aw=$(($(cg_io "$P/A" "$mm" wbytes) - aw))
	bw=$(($(cg_io "$P/B" "$mm" wbytes) - bw))
	tw=$(($(dev_bytes "$loop" write) - tw))
	run umount /mnt/at >&2
	if [ "$name" = bufcache ]; then
		# Fills must miss: drop the (clean) cache first.
		run dmsetup message at 0 invalidate >&2
	fi
	ar="$(cg_io "$P/A" "$mm" rbytes)" br="$(cg_io "$P/B" "$mm" rbytes)" tr="$(dev_bytes "$loop" read)"
	in_cg "$P/A" dd if="$dev" of=/dev/null bs=1M skip=48 count=12 iflag=direct status=none
	in_cg "$P/B" dd if="$dev" of=/dev/null bs=1M skip=64 count=4 iflag=direct status=none
	ar=$(($(cg_io "$P/A" "$mm" rbytes) - ar))
	br=$(($(cg_io "$P/B" "$mm" rbytes) - br))
	tr=$(($(dev_bytes "$loop" read) - tr))
	echo "$aw $bw $tw $ar $br $tr"
}

dm="$(bc_create at "$loop" 4096 cache_size $((64 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff 0)"
read -r aw bw tw ar br tr < <(run_case bufcache "$dm")
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
