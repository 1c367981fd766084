#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A table load that fails on memory, wherever it fails, leaves nothing
# behind; a reload that fails leaves the live table serving its data.
#
# bc-dmload (tests/tools) does one DM_TABLE_LOAD ioctl with the Nth memory
# allocation of that ioctl failed (/proc/thread-self/fail-nth, failslab
# and fail_page_alloc with no filter, GFP_KERNEL allocations included):
# DM core's, the constructor's (arguments, origin, cache, shrinker,
# target) and the nested ones of kmemleak alike. A first load with N large
# counts them (C). Then a coarse pass (about 40 N spread over 1..C) finds
# where the constructor's own allocations end (the last N whose failure
# the constructor reported), and a dense pass fails every allocation from
# the coarse point before that one to 40 after the next, and on to 40
# after the last N whose failure the constructor reports: the shrinker's
# and the target's, the tail of the constructor, where a failure must
# undo everything before it (the last coarse point may fall on the
# target's allocation, after the shrinker's).
#
# Create (a device whose live table is `error` gets a bufcache table; the
# device's queue already exists, so that DM's own first-table set-up,
# whose sysfs failures DM tolerates, stays out of it): after a failed load
# the inactive slot is empty, dm_bufcache's reference count is 0 and the
# origin has no holder; after a load that succeeded (the failure was
# tolerated) the device resumes on bufcache, serves a write and a read
# back, and goes back to `error`, which frees the bufcache table. Reload (a
# live bufcache device with dirty data gets a new table with another
# cache_size): after a failed load the live table still serves the data
# and the inactive slot is empty; after a load that succeeded the device
# resumes on the new table with the data intact.
# The checks between loads go through one bc-dmctl coprocess (the
# ioctls dmsetup would make, and O_DIRECT writes and reads): a few hundred
# loads with checks cost 7 processes each otherwise.
# At the end the origin holds the data, the loop device detaches,
# `rmmod dm_bufcache` works, a timer left armed would fire (3 s), and
# kmemleak (the harness's scan after the test) finds nothing.
# vm-timeout: 420
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

FI=/sys/kernel/debug
TOOL=/tests/tools/bc-dmload
[ -x "$TOOL" ] || die "$TOOL missing (tests/harness/mkinitramfs.sh builds tests/tools/*.c)"
bc_load
dmc_start
loop="$(make_loop 16)"
lname="$(basename "$loop")"
sz="$(blockdev --getsz "$loop")"
PARAMS="$loop 4096 2 cache_size 1048576"
PARAMS2="$loop 4096 2 cache_size 2097152"

for d in failslab fail_page_alloc; do
	[ -d "$FI/$d" ] || die "$FI/$d missing (FAILSLAB, FAIL_PAGE_ALLOC)"
	echo 0 >"$FI/$d/probability"
	echo 0 >"$FI/$d/require-start"
	echo 0xffffffffffffffff >"$FI/$d/require-end"
	echo 0 >"$FI/$d/reject-start"
	echo 0 >"$FI/$d/reject-end"
	echo N >"$FI/$d/ignore-gfp-wait"
	echo N >"$FI/$d/task-filter"
	echo 0 >"$FI/$d/verbose"
	echo -1 >"$FI/$d/times"
done
echo N >"$FI/fail_page_alloc/ignore-gfp-highmem"
echo 0 >"$FI/fail_page_alloc/min-order"

fails=()
fail() {
	fails+=("$*")
	log "FAILURE: $*"
}
run dd if=/dev/urandom of=/tmp/pat bs=4k count=16 status=none

CTR_FAIL=0
declare -A where=()
# load NAME N PARAMS: one load with the Nth allocation failed; sets
# OUTCOME (ok|failed) and COUNTED, and counts where a failure came from:
# the constructor error the target logged during the load (bc-dmload -k
# reads them from /dev/kmsg: no dmesg to run around each load), else
# "elsewhere" (DM core, a nested allocation).
load() {
	local out rc=0 m
	out="$("$TOOL" -k -n "$2" "$1" 0 "$sz" bufcache "$3")" || rc=$?
	[ "$rc" -le 1 ] || die "bc-dmload failed: $out"
	[[ "$out" =~ counted\ ([0-9]+) ]] || die "bc-dmload said no count: $out"
	COUNTED="${BASH_REMATCH[1]}"
	[[ "$out" != *kmsg_lost* ]] || die "bc-dmload: kernel log records were lost during the load: $out"
	[[ "$out" =~ ctr_errors\ ([0-9]+) ]] || die "bc-dmload said no constructor errors: $out"
	if [ "$rc" = 0 ]; then
		OUTCOME=ok
		[ "${BASH_REMATCH[1]}" = 0 ] || log "note: constructor error logged by a load that succeeded: $out"
	else
		OUTCOME=failed
		if [[ "$out" =~ ctr_last:\ (.*)$ ]]; then
			CTR_FAIL=1
			m="${BASH_REMATCH[1]%% (*}"
			where[$m]=$((${where[$m]:-0} + 1))
		else
			where[elsewhere]=$((${where[elsewhere]:-0} + 1))
		fi
	fi
}
# sweep NAME PARAMS C FN: loads with allocation N failed, coarse then dense
# (see the header); FN N is called after each load (OUTCOME set).
sweep() {
	local name="$1" params="$2" c="$3" fn="$4" n stride last=0 first
	stride=$(((c + 39) / 40))
	for ((n = 1; n <= c; n += stride)); do
		CTR_FAIL=0
		load "$name" "$n" "$params"
		[ "$CTR_FAIL" = 0 ] || last="$n"
		"$fn" "$n"
		[ "${#fails[@]}" -lt 10 ] || return 0
	done
	[ "$last" -gt 0 ] || { fail "$name: no coarse point failed in the constructor"; return 0; }
	# From the coarse point before the last one: the last may be the
	# target's own allocation, after the shrinker's registration.
	# To 40 after the last N whose failure the constructor reports, in
	# the dense pass too: those failures are not contiguous (a kvmalloc
	# whose kmalloc fails falls back to vmalloc, and the load goes on), so
	# the coarse points can end inside the cache's allocations, with the
	# shrinker's registration further on (a run ended its window at 329
	# with no failure in it).
	first=$((last > stride ? last - stride + 1 : 1))
	local end=$((last + stride + 40))
	log "$name: the constructor's allocations end after N=$last; every N from $first to $end at least"
	for ((n = first; n <= end && n <= c + 1; n++)); do
		CTR_FAIL=0
		load "$name" "$n" "$params"
		[ "$CTR_FAIL" = 0 ] || [ $((n + 40)) -le "$end" ] || end=$((n + 40))
		"$fn" "$n"
		[ "${#fails[@]}" -lt 10 ] || return 0
	done
	log "$name: the dense pass ended at N=$((n - 1))"
}
# inactive_clear WHAT: after a failed load, x's inactive slot is empty.
inactive_clear() {
	dmc "type x inactive"
	if [ "$reply" != "type none" ]; then
		fail "$1: the inactive slot is not empty ($reply)"
		dmc_ok "clear x"
	fi
}
holders_clear() {
	local h=("/sys/block/$lname/holders/"*)
	[ ! -e "${h[0]}" ] || fail "$1: $loop still held by: ${h[*]##*/}"
}

# ---- Create: a device on `error` gets a bufcache table ----
ZERO="0 $sz error"
run dmsetup create x --table "$ZERO"
on_cleanup sh -c "dmsetup remove x 2>/dev/null; true"
dm="$(dm_dev x)"
load x 1000000 "$PARAMS"
[ "$OUTCOME" = ok ] || die "the load without injection failed"
C="$COUNTED"
# The probes can see what they look for: a loaded table, a difference.
dmc "type x inactive"
[ "$reply" = "type bufcache" ] || die "bc-dmctl does not see the loaded table: $reply"
run dmsetup clear x
dmc "type x inactive"
[ "$reply" = "type none" ] || die "bc-dmctl sees a table after the clear: $reply"
dmc "verify $loop 64 /tmp/pat"
[[ "$reply" = "differs at byte "* ]] || die "bc-dmctl verify finds no difference on the unwritten origin: $reply"
log "create: a load of the table makes $C allocations"
figure "constructor: a table load makes $C allocations (DM core, bufcache, kmemleak)"
ok=0 bad=0
after_create() { # N
	local n="$1" r
	if [ "$OUTCOME" = failed ]; then
		bad=$((bad + 1))
		inactive_clear "create, allocation $n failed"
		read -r r </sys/module/dm_bufcache/refcnt
		[ "$r" = 0 ] || fail "create, allocation $n failed: dm_bufcache refcnt $r"
		holders_clear "create, allocation $n failed"
		return 0
	fi
	ok=$((ok + 1))
	dmc_ok "resume x"
	dmc "type x"
	[ "$reply" = "type bufcache" ] || fail "create, allocation $n tolerated: the live table is not bufcache ($reply)"
	dmc "write $dm 64 /tmp/pat 0 65536 4096"
	if [ "$reply" != ok ]; then
		fail "create, allocation $n tolerated: a write failed ($reply)"
	else
		dmc "verify $dm 64 /tmp/pat 0 65536 4096"
		[ "$reply" = ok ] || fail "create, allocation $n tolerated: the read back: $reply"
	fi
	dmc_ok "load x 0 $sz error"
	dmc_ok "resume x"
	holders_clear "create, allocation $n tolerated, back on error"
}
sweep x "$PARAMS" "$C" after_create
log "create: $((ok + bad)) loads: $bad failed cleanly, $ok tolerated the failure"
[ "$bad" -gt 0 ] || fail "create: no load failed"
run dmsetup remove x

# ---- Reload: a live device with dirty data gets another table ----
run dmsetup create x --table "0 $sz bufcache $PARAMS"
dm="$(dm_dev x)"
run dd if=/tmp/pat of="$dm" bs=4k seek=64 count=16 oflag=direct status=none
load x 1000000 "$PARAMS2"
[ "$OUTCOME" = ok ] || die "the reload without injection failed"
C2="$COUNTED"
run dmsetup clear x
log "reload: a load of the new table makes $C2 allocations"
rok=0 rbad=0
after_reload() { # N
	local n="$1"
	if [ "$OUTCOME" = failed ]; then
		rbad=$((rbad + 1))
		inactive_clear "reload, allocation $n failed"
	else
		rok=$((rok + 1))
		# The swap: the old table writes back at its suspend.
		dmc_ok "resume x"
	fi
	dmc "verify $dm 512 /tmp/pat 0 65536 4096"
	[ "$reply" = ok ] || fail "reload, allocation $n ($OUTCOME): the data read back: $reply"
	dmc "type x"
	[ "$reply" = "type bufcache" ] ||
		fail "reload, allocation $n ($OUTCOME): the live table is not bufcache ($reply)"
}
sweep x "$PARAMS2" "$C2" after_reload
log "reload: $((rok + rbad)) loads: $rbad failed cleanly (the old table kept serving), $rok tolerated the failure"
[ "$rbad" -gt 0 ] || fail "reload: no load failed"
summary=""
for k in "${!where[@]}"; do summary+="$k: ${where[$k]}; "; done
log "where the failed loads failed: $summary"
[ -n "${where[bufcache: Cannot allocate memory for the cache]:-}" ] ||
	fail "no load failed in the cache's allocation"
[ -n "${where[bufcache: Cannot register the shrinker]:-}" ] ||
	fail "no load failed in the shrinker's registration (the constructor's tail)"
figure "constructor faults: $((ok + bad + rok + rbad)) loads with one allocation failed ($bad + $rbad failed cleanly, $ok + $rok tolerated); $summary"

# ---- The end: the data is on the origin, nothing held, nothing leaked ----
dmc_stop
run dmsetup remove x
cmp -s /tmp/pat <(dd if="$loop" bs=4k skip=64 count=16 iflag=direct status=none) ||
	fail "the data written before the reloads is not on the origin"
holders_clear "at the end"
if ! rmmod dm_bufcache 2>/tmp/rmmod.err; then
	fail "rmmod dm_bufcache failed: $(cat /tmp/rmmod.err)"
fi
# A timer or work item left armed would now run in unloaded code.
sleep 3
if [ "${#fails[@]}" -gt 0 ]; then
	die "${#fails[@]} failure(s): $(printf '%s; ' "${fails[@]:0:10}")"
fi
log "OK"
