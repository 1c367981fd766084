#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ext4 on bufcache (writeback, cache smaller than the data): mkfs, write a
# file tree, sync, remove the target, fsck -n the origin, mount the origin
# and compare checksums.
# vm-timeout: 600
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 128)"
dm="$(bc_create fs "$loop" 4096 cache_size $((8 << 20)))"
run mkfs.ext4 -q -F "$dm"
mkdir -p /mnt/fs
run mount "$dm" /mnt/fs
on_cleanup umount /mnt/fs
# A tree of files of varied sizes with random content.
for d in $(seq 1 8); do
	mkdir -p "/mnt/fs/d$d"
	for f in $(seq 1 40); do
		dd if=/dev/urandom of="/mnt/fs/d$d/f$f" bs=1k count=$(((d * f * 7) % 300 + 1)) status=none
	done
done
run cp -a /usr/bin /mnt/fs/bin
(cd /mnt/fs && find . -type f -print0 | sort -z | xargs -0 sha256sum) >/tmp/sums
log "$(wc -l </tmp/sums) files; $(bc_status fs)"
run sync
run umount /mnt/fs
run dmsetup remove fs
run fsck.ext4 -n -f "$loop"
run mount -o ro "$loop" /mnt/fs
(cd /mnt/fs && sha256sum --quiet -c /tmp/sums) || die "checksums differ on the origin"
run umount /mnt/fs
log "OK"
