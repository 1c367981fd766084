#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo (scripts/demo.sh): a bufcache device over a loop device, a short
# fio workload, and the status, field by field.
# vm-manual: yes
# vm-timeout: 300
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 128)"
dm="$(bc_create demo "$loop" 4096 cache_size $((32 << 20)))"
log "table: $(dmsetup table demo)"
echo "---- fio: 20 s of 4 KiB random reads and writes (70/30) over 64 MiB"
run fio --name=demo --filename="$dm" --rw=randrw --rwmixread=70 --bs=4k --size=64M \
	--direct=1 --ioengine=psync --numjobs=2 --time_based --runtime=20 \
	--group_reporting | grep -E '^ *(read|write|READ|WRITE):'
echo "---- dmsetup status demo"
dmsetup status demo
echo "---- the same, by field"
i=4
read -r -a w <<<"$(dmsetup status demo)"
for f in "${BC_FIELDS[@]}"; do
	printf '  %-20s %s\n' "$f" "${w[$((i - 1))]}"
	i=$((i + 1))
done
run dmsetup message demo 0 flush
echo "---- after 'dmsetup message demo 0 flush': dirty_blocks=$(bc_field demo dirty_blocks)"
