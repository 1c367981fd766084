#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Discard: after a discard, a range reads back as zeroes or the origin's
# data, never stale cached data, for clean and dirty cached blocks, and the
# dropped dirty data is not written back later; over an origin without
# discard support too (the discard is then not passed down).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
dm="$(bc_create dc "$loop" 4096 cache_size $((32 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100)"
MB=$((1 << 20))

# Clean cached blocks: write, flush, read (now cached clean), discard.
run dd if=/dev/urandom of="$dm" bs=1M seek=0 count=4 oflag=direct status=none
run sync "$dm"
sha_range "$dm" 0 4 >/dev/null
assert_eq "$(bc_field dc dirty_blocks)" 0 "dirty after flush"
run blkdiscard -o 0 -l $((4 * MB)) "$dm"
cmp -n $((4 * MB)) <(dd if="$dm" bs=1M count=4 iflag=direct status=none) /dev/zero ||
	die "clean cached range reads stale data after discard"

# Dirty cached blocks: write (never flushed), discard, read back.
run dd if=/dev/urandom of="$dm" bs=1M seek=8 count=4 oflag=direct status=none
dirty="$(bc_field dc dirty_blocks)"
[ "$dirty" -ge 1024 ] || die "expected 1024 dirty blocks, have $dirty"
run blkdiscard -o $((8 * MB)) -l $((4 * MB)) "$dm"
cmp -n $((4 * MB)) <(dd if="$dm" bs=1M skip=8 count=4 iflag=direct status=none) /dev/zero ||
	die "dirty cached range reads stale data after discard"
assert_eq "$(bc_field dc dirty_blocks)" 0 "dirty blocks after discarding them"

# Half of a dirty range: the other half stays.
run dd if=/dev/urandom of=/tmp/p bs=1M count=4 status=none
run dd if=/tmp/p of="$dm" bs=1M seek=16 count=4 oflag=direct status=none
run blkdiscard -o $((16 * MB)) -l $((2 * MB)) "$dm"
cmp -n $((2 * MB)) <(dd if="$dm" bs=1M skip=16 count=2 iflag=direct status=none) /dev/zero ||
	die "discarded half reads stale data"
assert_eq "$(sha_range "$dm" 18 2)" "$(dd if=/tmp/p bs=1M skip=2 count=2 status=none | sha256sum | cut -d' ' -f1)" \
	"undiscarded half"
log "$(bc_status dc)"

# Nothing discarded comes back after writeback at remove.
run dmsetup remove dc
cmp -n $((4 * MB)) <(dd if="$loop" bs=1M skip=8 count=4 iflag=direct status=none) /dev/zero ||
	die "discarded dirty data was written back to the origin"
cmp -n $((2 * MB)) <(dd if="$loop" bs=1M skip=16 count=2 iflag=direct status=none) /dev/zero ||
	die "discarded half on the origin is not zeroes"
assert_eq "$(sha_range "$loop" 18 2)" "$(dd if=/tmp/p bs=1M skip=2 count=2 status=none | sha256sum | cut -d' ' -f1)" \
	"undiscarded half on the origin"

# An origin without discard support (a loop device on a ramfs file: no
# fallocate, so discard_max_bytes 0): the bufcache device still takes
# discards, drops the cached blocks (dirty ones too) and does not pass the
# discard down, so the range reads back as the origin's data, not as the
# discarded cached data.
mkdir -p /tmp/rfs
run mount -t ramfs ramfs /tmp/rfs
on_cleanup umount /tmp/rfs
nloop="$(make_loop 16 /tmp/rfs)"
assert_eq "$(cat "/sys/block/${nloop#/dev/}/queue/discard_max_bytes")" 0 "discard_max_bytes of the ramfs loop device"
ndev="$(bc_create nd "$nloop" 4096 max_age_ms 0 high_watermark 100 low_watermark 100)"
nmax="$(cat "/sys/block/$(basename "$(readlink -f "$ndev")")/queue/discard_max_bytes")"
log "over $nloop (no discard): bufcache discard_max_bytes $nmax"
[ "$nmax" -gt 0 ] || die "the bufcache device takes no discards over an origin without discard support"
run dd if=/dev/urandom of=/tmp/old bs=1M count=2 status=none
run dd if=/tmp/old of="$ndev" bs=1M count=2 oflag=direct status=none
run sync "$ndev"
run dd if=/dev/urandom of="$ndev" bs=1M count=2 oflag=direct status=none
assert_eq "$(bc_field nd dirty_blocks)" 512 "dirty blocks before the discard"
d0="$(bc_field nd discards)"
run blkdiscard -o 0 -l $((2 * MB)) "$ndev"
[ "$(bc_field nd discards)" -gt "$d0" ] || die "the discard did not reach the target"
assert_eq "$(bc_field nd dirty_blocks)" 0 "dirty blocks after discarding them"
cmp -n $((2 * MB)) <(dd if="$ndev" bs=1M count=2 iflag=direct status=none) /tmp/old ||
	die "the discarded range over a no-discard origin does not read as the origin's data"
run dmsetup remove nd
cmp -n $((2 * MB)) "$nloop" /tmp/old || die "discarded dirty data reached the no-discard origin"
log "OK"
