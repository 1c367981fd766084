#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A constructor that fails, wherever it fails, leaves nothing behind.
#
# Phase 1 (allocation by allocation): failslab and fail_page_alloc are set
# up with a stack filter over the module's text (as in reclaim_failslab),
# GFP_KERNEL allocations included, and /proc/thread-self/fail-nth fails the
# Nth such allocation made by one `dmsetup create` (the process that runs
# the constructor). The number of such allocations per create is found by
# bisection (a failure was injected or not: the attributes' `times`
# counters), then the last 30 are failed one by one (they include the
# shrinker and the target's private data, allocated after the cache; at
# least one create must fail there) and the earlier ones sampled. Phase 2
# (at random): the same filter with a small probability, restricted
# (task-filter, make-it-fail) to the `dmsetup create` and `dmsetup remove`
# processes, so that about half of the creates fail, at random places.
#
# After every attempt: a failed create leaves no device, the module's
# reference count is 0 and the loop device has no holder; a create that
# succeeded serves a write and a read back, and `dmsetup remove` works
# (a failed remove is a failure of the test; it is retried without
# injection). At the end, with injection off: the loop device detaches for
# real, `rmmod dm_bufcache` works, 3 s pass (a timer left armed by a failed
# constructor would fire into the unloaded module: Oops), and kmemleak
# finds nothing (scanned here and again by the harness).
# vm-timeout: 360
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

FI=/sys/kernel/debug
bc_load
loop="$(make_loop 16)"
lname="$(basename "$loop")"
sz="$(blockdev --getsz "$loop")"
TABLE="0 $sz bufcache $loop 4096 2 cache_size 1048576"

read -r _ msize _ _ _ base _ < <(grep '^dm_bufcache ' /proc/modules)
[ -n "$base" ] && [ "$base" != 0x0000000000000000 ] || die "cannot read the module address (kptr_restrict?)"
start="$base"
end="$(printf '0x%x' $((base + msize)))"
log "module range $start-$end"

fi_setup() {
	local d="$FI/$1"
	[ -d "$d" ] || die "$d missing"
	echo "$start" >"$d/require-start" || die "no require-start in $d (FAULT_INJECTION_STACKTRACE_FILTER)"
	echo "$end" >"$d/require-end"
	echo 32 >"$d/stacktrace-depth"
	echo N >"$d/ignore-gfp-wait"
	echo 0 >"$d/probability"
	echo 1 >"$d/interval"
	echo 1000000 >"$d/times"
	echo 0 >"$d/verbose"
	echo Y >"$d/task-filter"
}
fi_off() {
	echo 0 >"$FI/failslab/probability"
	echo 0 >"$FI/fail_page_alloc/probability"
}
fi_setup failslab
echo N >"$FI/fail_page_alloc/ignore-gfp-highmem"
echo 0 >"$FI/fail_page_alloc/min-order"
fi_setup fail_page_alloc
on_cleanup fi_off
# No other fault attribute may count (and consume) the fail-nth calls.
for d in "$FI"/fail_*; do
	case "$d" in */fail_page_alloc) continue ;; esac
	[ -f "$d/probability" ] || continue
	[ "$(cat "$d/probability")" = 0 ] || die "$d is on"
done

fails=()
fail() {
	fails+=("$*")
	log "FAILURE: $*"
}

# Nothing may be left after a create that failed, or after a remove.
check_gone() { # what
	if dmsetup info x >/dev/null 2>&1; then
		fail "$1: device x exists: $(dmsetup table x 2>&1)"
		dmsetup remove --retry x || true
	fi
	local rc holders
	rc="$(cat /sys/module/dm_bufcache/refcnt)"
	[ "$rc" = 0 ] || fail "$1: dm_bufcache refcnt $rc with no device"
	holders="$(ls "/sys/block/$lname/holders")"
	[ -z "$holders" ] || fail "$1: $loop still held by: $holders"
}

# A device that was created must work and go away.
use_and_remove() { # what inject(0|1)
	local dm
	dm="$(dm_dev x)"
	if ! dd if=/tmp/pat of="$dm" bs=4k seek=8 count=16 oflag=direct status=none; then
		fail "$1: write to the new device failed"
	elif ! cmp -s /tmp/pat <(dd if="$dm" bs=4k skip=8 count=16 iflag=direct status=none); then
		fail "$1: read back differs from what was written"
	fi
	if [ "$2" = 1 ]; then
		if ! bash -c 'echo 1 >/proc/self/make-it-fail && exec dmsetup remove x' 2>/tmp/rm.err; then
			fail "$1: dmsetup remove failed under injection: $(tr '\n' ' ' </tmp/rm.err)"
			RM_FAILED=$((RM_FAILED + 1))
		fi
	fi
	if dmsetup info x >/dev/null 2>&1; then
		dmsetup remove x 2>/tmp/rm.err || fail "$1: dmsetup remove failed: $(tr '\n' ' ' </tmp/rm.err)"
	fi
	check_gone "$1 (after remove)"
}

run dd if=/dev/urandom of=/tmp/pat bs=4k count=16 status=none

# ---- Phase 1: fail the Nth module allocation of one dmsetup create ----
export TABLE
# Failures injected so far (fail-nth ones too; those with __GFP_NOWARN,
# such as kvmalloc's first try, fail silently and are handled).
injected() { echo $((2000000 - $(cat "$FI/failslab/times") - $(cat "$FI/fail_page_alloc/times"))); }
ok1=0 bad1=0 tail1=0
# try_nth N: one create whose Nth filtered allocation fails. Sets HIT (1
# if a failure was injected) and OUTCOME (ok|failed).
try_nth() {
	local n="$1" i0 before after
	i0="$(injected)"
	before="$(dmesg | grep -c 'byte blocks, cap' || true)"
	# fail-nth is per task and cleared by fork: set it in the shell that
	# then becomes dmsetup.
	if bash -c "echo $n >/proc/thread-self/fail-nth && exec dmsetup create x --table \"\$TABLE\"" 2>/tmp/cr.err; then
		OUTCOME=ok
		ok1=$((ok1 + 1))
		use_and_remove "fail-nth $n" 0
	else
		OUTCOME=failed
		bad1=$((bad1 + 1))
		after="$(dmesg | grep -c 'byte blocks, cap' || true)"
		# The cache itself was built, then a later allocation failed
		# (shrinker, private data): the path of the old timer leak.
		[ "$after" = "$before" ] || tail1=$((tail1 + 1))
		check_gone "fail-nth $n (create failed)"
	fi
	HIT=0
	[ "$(injected)" = "$i0" ] || HIT=1
}
t0=$SECONDS
# Warm up (the first create after loading makes slab caches), then find
# the number of filtered allocations of one create: the largest N that
# still injects a failure.
try_nth 100000
[ "$HIT" = 0 ] || die "fail-nth 100000 injected a failure: the filter lets other allocations through"
lo=1 hi=4096
try_nth "$lo"
[ "$HIT" = 1 ] || die "fail-nth 1 injected nothing: the filter does not reach the constructor's allocations"
try_nth "$hi"
[ "$HIT" = 0 ] || die "a create makes more than $hi filtered allocations"
while [ $((hi - lo)) -gt 1 ]; do
	mid=$(((lo + hi) / 2))
	try_nth "$mid"
	if [ "$HIT" = 1 ]; then lo=$mid; else hi=$mid; fi
done
T="$lo"
log "phase 1: a create makes about $T filtered allocations"
# The last 30 one by one (the shrinker and the private data are last),
# a sample of 25 of the others.
dense=$((T > 30 ? T - 30 : 1))
stride=$(((dense + 24) / 25))
[ "$stride" -ge 1 ] || stride=1
for n in $(seq 2 "$stride" "$dense") $(seq $((dense + 1)) $((T + 2))); do
	try_nth "$n"
	[ "${#fails[@]}" -lt 20 ] || break
done
log "phase 1: $((ok1 + bad1)) creates in $((SECONDS - t0)) s: $bad1 failed ($tail1 after the cache was built), $ok1 succeeded"
[ "$bad1" -gt 0 ] || fail "phase 1: no create failed"
[ "$ok1" -gt 0 ] || fail "phase 1: no create succeeded"
[ "$tail1" -gt 0 ] || fail "phase 1: no create failed after the cache was built (shrinker, private data): the sweep missed the end of the constructor"
last_fail="$T"

# ---- Phase 2: random failures in dmsetup create and remove ----
# About half of the creates should fail: a rate of ~0.7/N per allocation.
npts=$((last_fail > 0 ? last_fail : 100))
if [ "$npts" -le 70 ]; then
	prob=$(((70 + npts / 2) / npts)) ival=1
else
	prob=1 ival=$(((npts + 35) / 70))
fi
for d in failslab fail_page_alloc; do
	echo "$ival" >"$FI/$d/interval"
	echo "$prob" >"$FI/$d/probability"
done
log "phase 2: probability $prob% every $ival call(s) for dmsetup create/remove"
ok2=0 bad2=0 RM_FAILED=0
t0=$SECONDS
for i in $(seq 1 40); do
	if bash -c 'echo 1 >/proc/self/make-it-fail && exec dmsetup create x --table "$TABLE"' 2>/tmp/cr.err; then
		ok2=$((ok2 + 1))
		use_and_remove "random #$i" 1
	else
		bad2=$((bad2 + 1))
		check_gone "random #$i (create failed)"
	fi
	[ "${#fails[@]}" -lt 20 ] || break
done
fi_off
inj="$(injected)"
log "phase 2: $i creates in $((SECONDS - t0)) s: $bad2 failed, $ok2 succeeded; $RM_FAILED removes failed; $inj allocations failed in phases 1 and 2"
[ "$bad2" -gt 0 ] || fail "phase 2: no create failed"
[ "$ok2" -gt 0 ] || fail "phase 2: no create succeeded"

log "reasons the kernel gave (count, message):"
dmesg | grep -o 'table: [0-9:]*: bufcache: .*' | sed 's/^table: [0-9:]*: bufcache: //' | sort | uniq -c | sed 's/^/    /' || true

# ---- The end: nothing held, nothing left running, nothing leaked ----
[ -z "$(dmsetup ls --target bufcache 2>/dev/null | grep -v 'No devices found')" ] ||
	fail "bufcache devices left: $(dmsetup ls)"
check_gone "at the end"
run losetup -d "$loop"
sleep 1
if [ -e "/sys/block/$lname/loop/backing_file" ]; then
	fail "$loop did not detach (still open: a failed constructor kept the origin)"
fi
if ! rmmod dm_bufcache 2>/tmp/rmmod.err; then
	fail "rmmod dm_bufcache failed: $(cat /tmp/rmmod.err)"
fi
# A timer left armed would fire now, into unloaded code.
sleep 3
if [ -w "$FI/kmemleak" ]; then
	echo scan >"$FI/kmemleak"
	sleep 6
	echo scan >"$FI/kmemleak"
	leaks="$(grep -c 'unreferenced object' "$FI/kmemleak" || true)"
	if [ "$leaks" -gt 0 ]; then
		head -60 "$FI/kmemleak" | sed 's/^/    kmemleak: /'
		fail "kmemleak: $leaks unreferenced objects"
	fi
else
	log "no kmemleak: leak check skipped"
fi

if [ "${#fails[@]}" -gt 0 ]; then
	die "${#fails[@]} failure(s): $(printf '%s; ' "${fails[@]:0:10}")"
fi
log "OK"
