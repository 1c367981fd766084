#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Sequential reads past sequential_cutoff bypass the cache in whole bios,
# and never serve stale data. Over an origin with known contents, an
# 8 MiB cache with a 1 MiB cutoff:
# 1. a 16 MiB sequential read (1 MiB bios) returns the origin's bytes,
#    mostly as bypassed bios, and leaves the cache nearly empty;
# 2. blocks written through the cache and still dirty in it (16 adjacent
#    ones and a lone one) are read back, within a sequential stream past
#    its cutoff, with their new bytes, not the origin's older ones: the
#    bypass stops at a dirty block (test_bypass_cached breaks this);
# 3. fio writes 16 MiB sequentially with bio sizes from 4 KiB to 1 MiB,
#    and verifies it with sequential reads of the same sizes (streams that
#    bypass, over blocks some dirty, some written back, some evicted).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
bc_setup 64
run dd if=/dev/urandom of="$loop" bs=1M count=32 oflag=direct status=none
dm="$(bc_create sq "$loop" 4096 cache_size $((8 * MB)) sequential_cutoff $((1 * MB)) max_age_ms 0 readahead 0)"

# 1. A large sequential read.
[ "$(sha_range "$dm" 0 16)" = "$(sha_range "$loop" 0 16)" ] ||
	die "a 16 MiB sequential read through the cache differs from the origin"
byp="$(bc_field sq bypassed_reads)"
cached="$(bc_field sq blocks_cached)"
figure "16 MiB sequential read: $byp bypassed bios, $cached blocks cached, $(bc_field sq read_misses) misses"
[ "$byp" -gt 0 ] || die "no read bypassed the cache"
# The first MiB of the stream goes through the cache (plus one bio's worth
# at most in flight when the cutoff passes).
[ "$cached" -le 512 ] || die "$cached blocks cached: the stream was cached, not bypassed"

# 2. Dirty blocks inside a stream.
run dd if=/dev/urandom of=/tmp/new bs=4k count=17 status=none
run dd if=/tmp/new of="$dm" bs=4k count=16 seek=$(((16 * MB + 512 * 1024) / 4096)) oflag=direct status=none
run dd if=/tmp/new of="$dm" bs=4k skip=16 count=1 seek=$(((20 * MB + 4096) / 4096)) oflag=direct status=none
dirty="$(bc_field sq dirty_blocks)"
[ "$dirty" -eq 17 ] || die "expected the 17 blocks dirty in the cache, found $dirty"
run dd if="$loop" of=/tmp/want bs=1M skip=16 count=8 iflag=direct status=none
run dd if=/tmp/new of=/tmp/want bs=4k count=16 seek=$((512 * 1024 / 4096)) conv=notrunc status=none
run dd if=/tmp/new of=/tmp/want bs=4k skip=16 count=1 seek=$(((4 * MB + 4096) / 4096)) conv=notrunc status=none
byp0="$(bc_field sq bypassed_reads)"
# A stream from 14 MiB: past the cutoff when it reaches the dirty blocks.
run dd if="$dm" of=/dev/null bs=1M skip=14 count=2 iflag=direct status=none
run dd if="$dm" of=/tmp/got bs=1M skip=16 count=8 iflag=direct status=none
byp1="$(bc_field sq bypassed_reads)"
figure "stream over 17 dirty blocks: $((byp1 - byp0)) bypassed bios"
[ "$byp1" -gt "$byp0" ] || die "the stream over the dirty blocks did not bypass: nothing was tested"
if ! cmp -s /tmp/want /tmp/got; then
	at="$( (cmp /tmp/want /tmp/got || true) | awk '{ print $5 }' | tr -d ,)"
	die "stale read: byte $at of a sequential read over blocks dirty in the cache is not what was written"
fi

# 3. Mixed bio sizes, written and verified sequentially.
run fio --output-format=terse --terse-version=3 --name=mixed --filename="$dm" \
	--rw=write --bsrange=4k-1M --offset=$((32 * MB)) --size=$((16 * MB)) --direct=1 \
	--ioengine=psync --verify=crc32c --verify_fatal=1 --do_verify=1 --randseed=11 >/dev/null
figure "fio mixed 4k-1M write+verify of 16 MiB: $(bc_field sq bypassed_reads) bypassed bios in all"
run dmsetup remove sq
run fio --output-format=terse --terse-version=3 --name=mixed --filename="$loop" \
	--rw=write --bsrange=4k-1M --offset=$((32 * MB)) --size=$((16 * MB)) --direct=1 \
	--ioengine=psync --verify=crc32c --verify_fatal=1 --verify_only --randseed=11 >/dev/null
log "OK"
