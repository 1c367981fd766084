#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Cgroup removal under load: a cgroup writes dirty data through bufcache,
# its tasks exit, rmdir succeeds. While its blocks are dirty, bufcache holds
# its css (the cgroup stays "dying": this shows the check can see a held
# reference); once they are written back, the reference goes and the
# cgroup is freed. Nothing leaks (kmemleak is checked by the harness).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
dm="$(bc_create rd "$loop" 4096 cache_size $((32 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100)"
# Only the io controller below P, so no page cache charge keeps the cgroup.
P="$(cg_setup rmdir "+io")"
dying() { awk '$1 == "nr_dying_descendants" { print $2 }' "$P/cgroup.stat"; }
assert_eq "$(dying)" 0 "dying cgroups before"

mkdir "$P/w"
in_cg "$P/w" fio --name=w --filename="$dm" --rw=randwrite --bs=4k --size=2M --direct=1 \
	--ioengine=psync --output=/dev/null || die "writer failed"
dirty="$(bc_field rd dirty_blocks)"
[ "$dirty" -gt 0 ] || die "no dirty blocks"
run rmdir "$P/w"
sleep 2
assert_eq "$(dying)" 1 "dying cgroups while its dirty blocks are cached (bufcache must hold its css)"

run dmsetup message rd 0 flush
for _ in $(seq 1 40); do
	[ "$(dying)" -eq 0 ] && break
	sleep 0.25
done
assert_eq "$(dying)" 0 "dying cgroups after writeback (css released)"
log "$(bc_status rd)"
run rmdir "$P"
log "OK"
