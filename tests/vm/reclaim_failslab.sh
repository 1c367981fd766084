#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Allocation-failure storm: failslab and fail_page_alloc fail 10% of the
# allocations whose call stack passes through dm_bufcache (require-start/
# require-end over the module's text), including GFP_NOIO ones, while fio
# writes and verifies through a small cache. I/O must complete (the reserve
# and the mempools keep it moving), nothing may hang, the data verifies on
# the origin, and kmemleak (scanned by the harness) finds nothing.
# vm-timeout: 600
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

run sysctl -q kernel.hung_task_timeout_secs=20
bc_load
loop="$(make_loop 64)"
dm="$(bc_create fs "$loop" 4096 cache_size $((2 << 20)) max_age_ms 50 readahead 8)"

read -r _ size _ _ _ base _ < <(grep '^dm_bufcache ' /proc/modules)
[ -n "$base" ] && [ "$base" != 0x0000000000000000 ] || die "cannot read the module address (kptr_restrict?)"
# Kernel addresses do not fit bash's signed arithmetic as decimals; debugfs
# takes hex.
start="$base"
end="$(printf '0x%x' $((base + size)))"
fi_setup() {
	local d="/sys/kernel/debug/$1"
	[ -d "$d" ] || die "$d missing (CONFIG_${2})"
	echo "$start" >"$d/require-start" || die "no require-start in $d (FAULT_INJECTION_STACKTRACE_FILTER)"
	echo "$end" >"$d/require-end"
	echo 32 >"$d/stacktrace-depth"
	echo N >"$d/ignore-gfp-wait"
	echo 10 >"$d/probability"
	echo 1 >"$d/interval"
	echo 1000000 >"$d/times"
	echo 0 >"$d/verbose"
}
fi_setup failslab FAILSLAB
echo N >/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
# Our 4 KiB buffers are order-0 pages; the default min-order is 1.
echo 0 >/sys/kernel/debug/fail_page_alloc/min-order
fi_setup fail_page_alloc FAIL_PAGE_ALLOC
on_cleanup sh -c 'echo 0 >/sys/kernel/debug/failslab/probability; echo 0 >/sys/kernel/debug/fail_page_alloc/probability'

fio_write "$dm" 0 12M --rw=randwrite --bs=4k --randseed=7
fio_write "$dm" 0 12M --rw=randwrite --bs=16k --randseed=8
echo 0 >/sys/kernel/debug/failslab/probability
echo 0 >/sys/kernel/debug/fail_page_alloc/probability
log "$(bc_status fs)"
spare="$(bc_field fs spare_rounds)"
figure "writeback rounds in a spare round: $spare"
# A round's own allocation fails 10% of the time: the spares carried those.
[ "$spare" -gt 0 ] || die "no writeback round ran in a spare round"
slab_inj=$((1000000 - $(cat /sys/kernel/debug/failslab/times)))
page_inj=$((1000000 - $(cat /sys/kernel/debug/fail_page_alloc/times)))
figure "injected failures: failslab $slab_inj, fail_page_alloc $page_inj"
[ "$slab_inj" -gt 0 ] || die "failslab injected nothing: the filter does not reach our allocations"
[ "$page_inj" -gt 0 ] || die "fail_page_alloc injected nothing"
run dmsetup remove fs
fio_verify "$loop" 0 12M --rw=randwrite --bs=16k --randseed=8
log "OK"
