#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stable pages: a block that is being written back must not change under
# the write. The origin is dm-integrity (direct mode, crc32c per 4 KiB
# block) over dm-delay (writes held 100 ms) over a loop device:
# dm-integrity checksums a write's data when it maps it, and the data
# reaches the loop device 100 ms later, so a cache that modifies a buffer
# while its writeback is in flight leaves blocks whose checksum does not
# match (read back as EILSEQ, "Checksum failed" in the kernel log).
# The cache (1 MiB, writeback after 10 ms: max_age_ms 10, watermarks
# 0 0) gets 4 fio jobs that rewrite 2 blocks each, with new data every
# time, as fast as they can, for 10 s. Then: flush, remove, and the whole
# integrity device must read back without a checksum error.
# vm-timeout: 240
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 32)"
lsz="$(blockdev --getsz "$loop")"
od="$(dm_create sd "0 $lsz delay $loop 0 0 $loop 0 100")"
# dm-integrity formats a zeroed device at its first load (length 8: one
# 4 KiB block);
# its superblock then says how many sectors it provides.
run dmsetup create ig1 --table "0 8 integrity $od 0 4 D 2 internal_hash:crc32c block_size:4096"
run dmsetup remove ig1
isz="$(od -An -t u8 -j 16 -N 8 "$loop" | tr -d ' ')"
[ -n "$isz" ] && [ "$isz" -gt 8192 ] || die "dm-integrity provides '$isz' sectors"
isz=$((isz / 8 * 8))
ig="$(dm_create ig "0 $isz integrity $od 0 4 D 2 internal_hash:crc32c block_size:4096")"
# Blocks never written have no valid checksum: write them all once (dd
# ends with ENOSPC at the end of the device; the full read at the end
# shows that every block was written).
dd if=/dev/zero of="$ig" bs=1M oflag=direct status=none 2>/dev/null || true
dm="$(bc_create sp "$ig" 4096 cache_size $((1 << 20)) max_age_ms 10 high_watermark 0 low_watermark 0 readahead 0)"
log "integrity device: $isz sectors; $(bc_status sp)"

# 4 fio jobs, each rewriting its own 2 blocks (new data every write) as
# fast as it can for 10 s: a rewrite lands while the previous write of
# the block is still being written back.
run fio --output-format=terse --terse-version=3 --name=hammer --filename="$dm" \
	--rw=randwrite --bs=4k --size=8k --offset_increment=256k --numjobs=4 \
	--direct=1 --ioengine=psync --refill_buffers --time_based --runtime=10 >/tmp/fio.out
log "$(bc_status sp)"
wb="$(bc_field sp writebacks)"
[ "$wb" -ge 40 ] || die "only $wb writebacks during the rewrites: the race was not exercised"
run dmsetup message sp 0 flush
run dmsetup remove sp

# Every block of the integrity device reads back without a checksum error.
dd if="$ig" of=/dev/null bs=1M iflag=direct status=none 2>/tmp/rd.err ||
	die "reading the integrity device failed ($(tr '\n' ' ' </tmp/rd.err)): $(dmesg | grep -c 'Checksum failed') checksum failures in the kernel log: a block changed while it was being written"
log "OK: $wb writebacks during the rewrites, every block verified by dm-integrity"
