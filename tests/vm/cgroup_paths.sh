#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The non-blocking association paths, forced for real: a held mutex
# (test-only message) makes map's try_lock fail, so normal bios are deferred
# to a worker and REQ_NOWAIT bios get EAGAIN; failslab filtered to the
# module fails the GFP_ATOMIC create; many new cgroups at once contend.
# Every path must show in the counters, with no "sleeping function called
# from invalid context", no lockdep report and no data loss.
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

# 1. Mutex held: a new cgroup's I/O cannot create its entry in map.
mkdir -p "$P/c1" "$P/c2"
on_cleanup rmdir "$P/c1" "$P/c2"
dmsetup message cp 0 test_hold_cgroup_mutex 3000 &
holder=$!
sleep 0.5
in_cg "$P/c1" dd if=/dev/urandom of="$dm" bs=4k count=16 oflag=direct status=none ||
	die "I/O from a new cgroup failed while the mutex was held"
fio --name=nw --filename="$dm" --rw=read --offset=$((20 << 20)) --size=64k --bs=4k --direct=1 \
	--ioengine=pvsync2 --nowait=1 --continue_on_error=all --output=/tmp/fio.out >/dev/null 2>&1 &
in_cg "$P/c2" true
wait "$holder" || die "test_hold_cgroup_mutex failed"
wait || true
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
in_cg "$P/c3" dd if=/dev/urandom of="$dm" bs=4k seek=1024 count=16 oflag=direct status=none ||
	die "I/O failed while GFP_ATOMIC allocations failed"
echo 0 >"$d/probability"
log "after failing GFP_ATOMIC: $(bc_status cp)"
[ "$(f cg_atomic_failed)" -gt 0 ] || die "no GFP_ATOMIC create failed"

# 3. Churn: 24 new cgroups doing I/O at once, then removed.
for i in $(seq 1 24); do
	mkdir -p "$P/n$i"
	in_cg "$P/n$i" dd if=/dev/urandom of="$dm" bs=4k seek=$((2048 + i * 64)) count=32 oflag=direct status=none &
done
wait || die "I/O from the churning cgroups failed"
for i in $(seq 1 24); do rmdir "$P/n$i"; done
run sync "$dm"
log "after churn: $(bc_status cp)"
[ "$(f cg_created_trylock)" -gt 0 ] || die "no entry was created with try_lock + GFP_ATOMIC"

# Data written through all paths is on the origin.
run dmsetup message cp 0 flush
assert_eq "$(sha_range "$loop" 0 16)" "$(sha_range "$dm" 0 16)" "origin after flush"
log "OK"
