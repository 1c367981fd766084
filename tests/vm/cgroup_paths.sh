#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The non-blocking association paths, forced for real: a held mutex
# (test-only message) makes map's try_lock fail, so normal bios are deferred
# to a worker and REQ_NOWAIT bios get EAGAIN; failslab filtered to the
# module fails the GFP_ATOMIC create; many new cgroups at once contend.
# Every path must show in the counters, with no "sleeping function called
# from invalid context", no lockdep report and no data loss.
# The REQ_NOWAIT case reads cached blocks from a new cgroup while the mutex
# is held: all 8 must fail with EAGAIN (counted in nowait_again, no hit
# served), where a hit would otherwise succeed; a miss would get EAGAIN
# anyway (cgroup.rst: every REQ_NOWAIT miss "would block") and prove
# nothing about association. Every write copies its blocks from a source
# file in /tmp; at the end the first 16 MiB, through the cache and on the
# origin after a flush, must equal the source bytes (zeroes where nothing
# was written): comparing the cache with the origin would pass if a
# deferred bio were dropped.
# vm-timeout: 400
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load test_cgroup_knobs=1
loop="$(make_loop 64)"
dm="$(bc_create cp "$loop" 4096 cache_size $((32 << 20)) readahead 0)"
P="$(cg_setup paths "+io")"
on_cleanup rmdir "$P"
f() { bc_field cp "$1"; }

# The source bytes. Every write below copies blocks of /tmp/cp_src to the
# same blocks of the device, and want BLK COUNT copies them into
# /tmp/cp_want: what the first 16 MiB (zeroes on the fresh origin) must
# hold at the end.
run dd if=/dev/urandom of=/tmp/cp_src bs=1M count=16 status=none
rm -f /tmp/cp_want
run truncate -s 16M /tmp/cp_want
want() {
	run dd if=/tmp/cp_src of=/tmp/cp_want bs=4k skip="$1" seek="$1" count="$2" conv=notrunc status=none
}

# 1. Mutex held: a new cgroup's I/O cannot create its entry in map.
mkdir -p "$P/c1" "$P/c2"
on_cleanup rmdir "$P/c1" "$P/c2"
# 8 blocks for c2 to read, cached (dirty) before the mutex is held.
hit=3840
run dd if=/tmp/cp_src of="$dm" bs=4k skip=$hit seek=$hit count=8 oflag=direct status=none
want $hit 8
# The counters before: a status read takes the mutex too (cg_entries), so
# none can be read while it is held.
again0="$(f nowait_again)" hits0="$(f read_hits)"
dmsetup message cp 0 test_hold_cgroup_mutex 4000 &
holder=$!
sleep 0.5
# c2's blkg on the device must exist first: a REQ_NOWAIT bio of a cgroup
# without one is charged to the nearest existing ancestor (its creation may
# sleep), and its css would then be root's, which has an entry. A blocking
# read from c2 creates the blkg; in the target it waits in a worker for the
# mutex (c2 has no entry yet), so c2 still has none below.
bg_start c2blk in_cg "$P/c2" dd if="$dm" of=/dev/null bs=4k skip=$((hit + 8)) count=1 iflag=direct status=none
sleep 0.5
[ ! -f /tmp/c2blk.rc ] || die "c2's read completed while the mutex was held: $(cat /tmp/c2blk.out)"
# REQ_NOWAIT reads of those cached blocks from c2, which has no entry: the
# contract (cgroup.rst, non-blocking context, step 3) is that map finds
# the mutex taken and completes each with "would block", EAGAIN for
# RWF_NOWAIT, instead of serving the hit.
out="$(in_cg "$P/c2" /tests/tools/bc-nowait read "$dm" $((hit * 4096)) 8 4096 4096 2>&1)" ||
	die "RWF_NOWAIT reads from a new cgroup while the mutex was held failed, but not with EAGAIN: $out"
assert_eq "$out" 8 "RWF_NOWAIT reads of cached blocks from a new cgroup, mutex held, that failed with EAGAIN (0: the mutex was not held yet, or the hits were served)"
assert_eq "$(($(f nowait_again) - again0))" 8 "nowait_again after 8 REQ_NOWAIT reads refused for association"
assert_eq "$(f read_hits)" "$hits0" "read hits served to REQ_NOWAIT reads that could not associate"
in_cg "$P/c1" dd if=/tmp/cp_src of="$dm" bs=4k count=16 oflag=direct status=none ||
	die "I/O from a new cgroup failed while the mutex was held"
want 0 16
wait "$holder" || die "test_hold_cgroup_mutex failed"
rc="$(bg_wait c2blk 30)" || die "c2's blocking read is still waiting 30 s after the mutex was released"
assert_eq "$rc" 0 "exit status of c2's blocking read ($(cat /tmp/c2blk.out))"
log "after holding the mutex: $(bc_status cp)"
[ "$(f cg_trylock_contended)" -gt 0 ] || die "try_lock was never contended"
[ "$(f cg_deferred)" -gt 0 ] || die "no bio was deferred for association"
[ "$(f cg_created_locked)" -gt 0 ] || die "the worker did not create the entry under the mutex"

# 2. GFP_ATOMIC creation fails (failslab on non-sleeping allocations from
# our module only): map falls back to the worker.
read -r _ size _ _ _ base _ < <(grep '^dm_bufcache ' /proc/modules)
d=/sys/kernel/debug/failslab
# Kernel addresses do not fit bash's signed arithmetic as decimals; debugfs
# takes hex.
echo "$base" >"$d/require-start"
printf '0x%x\n' $((base + size)) >"$d/require-end"
echo 32 >"$d/stacktrace-depth"
echo Y >"$d/ignore-gfp-wait"
echo 100 >"$d/probability"
echo 1 >"$d/interval"
echo 1000 >"$d/times"
echo 0 >"$d/verbose"
on_cleanup sh -c "echo 0 >$d/probability"
mkdir -p "$P/c3"
on_cleanup rmdir "$P/c3"
in_cg "$P/c3" dd if=/tmp/cp_src of="$dm" bs=4k skip=1024 seek=1024 count=16 oflag=direct status=none ||
	die "I/O failed while GFP_ATOMIC allocations failed"
want 1024 16
echo 0 >"$d/probability"
log "after failing GFP_ATOMIC: $(bc_status cp)"
[ "$(f cg_atomic_failed)" -gt 0 ] || die "no GFP_ATOMIC create failed"

# 3. Churn: 24 new cgroups doing I/O at once, then removed. Each writes
# 32 blocks, next to each other: blocks 2080 to 2847.
# ("wait" without a job returns 0 whatever the jobs did: wait for each.)
pids=()
for i in $(seq 1 24); do
	mkdir -p "$P/n$i"
	in_cg "$P/n$i" dd if=/tmp/cp_src of="$dm" bs=4k skip=$((2048 + i * 32)) seek=$((2048 + i * 32)) count=32 oflag=direct status=none &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || die "I/O from churning cgroup n$((i + 1)) failed"
done
want 2080 768
for i in $(seq 1 24); do rmdir "$P/n$i"; done
run sync "$dm"
log "after churn: $(bc_status cp)"
[ "$(f cg_created_trylock)" -gt 0 ] || die "no entry was created with try_lock + GFP_ATOMIC"

# Data written through all paths, deferred ones included, reads back
# through the cache and is on the origin after a flush: the source bytes.
run dmsetup message cp 0 flush
want_sha="$(sha_of </tmp/cp_want)"
assert_eq "$(sha_range "$dm" 0 16)" "$want_sha" "first 16 MiB through the cache against the source"
assert_eq "$(sha_range "$loop" 0 16)" "$want_sha" "first 16 MiB on the origin after flush against the source"
log "OK"
