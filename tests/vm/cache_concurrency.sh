#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Many CPUs at once: four fio jobs doing random writes with verification in
# their own regions, plus concurrent readers over all of it, through a small
# cache (constant eviction, writeback, state changes), then every region is
# verified on the origin.
# vm-timeout: 600
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 96)"
dm="$(bc_create cc "$loop" 4096 cache_size $((4 << 20)) max_age_ms 100 high_watermark 30 low_watermark 10 readahead 4)"
fio --name=readers --filename="$dm" --rw=randread --bs=4k --size=64M --direct=1 \
	--ioengine=psync --numjobs=2 --time_based --runtime=40 --output=/tmp/readers.out &
readers=$!
run fio --name=writers --filename="$dm" --rw=randwrite --bs=4k --size=16M \
	--offset_increment=16M --numjobs=4 --direct=1 --ioengine=psync --iodepth=1 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --randseed=1234 --output=/tmp/writers.out
wait "$readers" || die "concurrent readers failed: $(tail -5 /tmp/readers.out)"
log "$(bc_status cc)"
run dmsetup remove cc
run fio --name=writers --filename="$loop" --rw=randwrite --bs=4k --size=16M \
	--offset_increment=16M --numjobs=4 --direct=1 --ioengine=psync \
	--verify=crc32c --verify_fatal=1 --verify_only --randseed=1234 --output=/tmp/verify.out
log "OK"
