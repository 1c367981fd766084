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
# A tree of files of varied sizes and contents (1-300 KiB): slices of one
# random text, all written by one awk (320 dd processes took ~25 s).
mkdir -p /mnt/fs/d{1..8}
head -c 520000 /dev/urandom | base64 -w0 | awk -v dir=/mnt/fs '{
	for (d = 1; d <= 8; d++)
		for (f = 1; f <= 40; f++) {
			fn = dir "/d" d "/f" f
			printf "%s", substr($0, (d * 40 + f) * 997 + 1, ((d * f * 7) % 300 + 1) * 1024) >fn
			if (close(fn)) exit 1
		}
}' || die "writing the file tree failed"
[ "$(find /mnt/fs/d* -type f | wc -l)" = 320 ] || die "the file tree does not have 320 files"
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
