#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Negative controls: each reruns a suite test with the hazard it guards
# against reintroduced through a test-only module parameter, and passes
# only if that test FAILS, for the expected reason. A test that cannot fail
# proves nothing.
#
#   scripts/negative-controls.sh [NAME...]     (default: all)
#
# Ends with "N passed, N failed" like the other runners.
. "$(dirname "$0")/lib.sh"

# name | test | module parameters | timeout (s; - for the test's own) |
# regexp the failure must match. Parameters are comma separated; one
# written in capitals (NAME=VALUE) is passed to the test as an environment
# variable instead (a test's own switch that reintroduces the hazard). A control whose hazard hangs the VM gets
# a shorter timeout: the kernel reports the hang long before the test's
# own timeout would end the boot. reclaim_freeze's: its hung VM (every
# allocation, the test shell's too, waits in the shrinker) ends only by the
# timeout; the first hung-task report came 37-45 s into the test (7.3, TCG),
# after a set-up of ~25 s that a busy host can double: 100 s.
CONTROLS=(
	"scope-replay|reclaim_scope|test_skip_scope_replay=1|-|scope not replayed in the worker"
	"shrinker-waits-on-io|reclaim_freeze|test_unsafe_shrinker_writeback=1|100|bufcache6engine7reclaim[^ ]*ShrinkerOps4scan"
	"no-association|cgroup_attribution|test_skip_association=1|-|writeback: [0-9]+ bytes charged"
	"one-writeback-lane|cgroup_throttle|test_single_writeback_lane=1|-|B was slowed down with A"
	"no-origin-flush|safety_powercut|test_skip_origin_flush=1|-|LOST: block [0-9]+ holds generation"
	"failed-writeback-dropped|safety_origin_faults|test_drop_failed_writeback=1|-|is not on the origin|flush message succeeded although the origin fails"
	"bypass-over-cached|cache_seq_bypass|test_bypass_cached=1|-|stale read: byte [0-9]+ of a sequential read over blocks dirty in the cache"
	"no-write-fence|cache_write_around|test_no_write_fence=1|-|stale read: block [0-9]+, written around \(MiB [0-9]+\) and acknowledged, reads back older data"
	"atomic-association|cgroup_attribution|test_atomic_association=1|-|sleeping function called from invalid context at block/blk-cgroup.c"
	"no-discard-fence|cache_discard_race|test_no_discard_fence=1|-|stale read: block [0-9]+, read during the discard of MiB [0-9]+, returns the data from before the discard"
	"no-refill-writeback|safety_noslot_progress|test_no_refill_writeback=1|-|a read miss in an empty shard is still blocked after [0-9]+ s"
	"flush-ignores-writing|safety_flush_race|test_flush_ignores_writing=1|-|flush reported success but [0-9]+ blocks it covered are still dirty"
	"durable-any-write|safety_fua_race|test_durable_any_write=1|-|write of block (70|80) reported success although the origin fails writes there"
	"wt-error-drops|safety_wt_error|test_wt_error_drops_block=1|-|writer B's writethrough write succeeded although the origin failed every write to it|the failed writes' data did not stay dirty in the cache"
	"noslot-unbounded|safety_dead_origin|test_noslot_unbounded=1|-|write still blocked after [0-9]+ s"
	"no-fair-share|safety_budget_share|test_no_fair_share=1|-|B caches only [0-9]+ blocks of a 4 MiB range it read twice"
	"ctor-arms-timer|safety_ctr_faults|test_ctor_arms_timer=1|-|dm_put_device call missing for"
	"shutdown-leaves-timer|cache_lifecycle|test_shutdown_leaves_timer=1|-|RIP: 0010:__queue_work|workqueue: cannot queue [^ ]+ on wq"
	"batch-holds-bios|safety_bioset|test_batch_holds_bios=1|-|workload still blocked after [0-9]+s with failslab on"
	"noflush-keeps-dirty|safety_lifecycle_load|test_noflush_keeps_dirty=1|-|stale read: 4 blocks written before a --noflush reload|does not verify on the loop device"
	"wt-pass-in-writeback|safety_powercut|POWERCUT_PASSES=wt,POWERCUT_WT_MODE=writeback|-|wt: replay check failed: LOST: block [0-9]+ holds generation"
	"flush-fast-always|safety_powercut|test_flush_fast_always=1,POWERCUT_PASSES=direct|-|direct: replay check failed: LOST: block [0-9]+ holds generation"
	"noflush-suspend-replay|safety_powercut|test_noflush_keeps_dirty=1,POWERCUT_PASSES=direct|-|LOST: block [0-9]+ holds generation [0-9]+, acknowledged [0-9]+ \(entry [0-9]+, mark point direct1-[0-9]+-suspend\)"
	"write-while-writing|safety_stable_pages|test_write_while_writing=1|-|stable pages: block [0-9]+ (fails dm-integrity's checksum on the origin|on the origin holds B)"
)

want=("$@")
passed=0
failed=0
for c in "${CONTROLS[@]}"; do
	IFS='|' read -r name test params tmo pattern <<<"$c"
	if [ "${#want[@]}" -gt 0 ] && [[ " ${want[*]} " != *" $name "* ]]; then
		continue
	fi
	step "negative control $name: $test with $params must fail"
	out="$(mktemp)"
	rc=0
	opts=(--keep)
	mod=""
	IFS=, read -r -a plist <<<"$params"
	for p in "${plist[@]}"; do
		if [[ "$p" =~ ^[A-Z][A-Z0-9_]*= ]]; then
			opts+=(--env "$p")
		else
			mod+="${mod:+,}$p"
		fi
	done
	[ -z "$mod" ] || opts+=(--env "BC_MODPARAMS=$mod")
	[ "$tmo" = - ] || opts+=(--timeout "$tmo")
	# The VM stops as soon as the pattern appears: the rest of the boot
	# (a hung VM's timeout, the test's clean-up) proves nothing more.
	VM_STOP_ON="$pattern" VM_TIMES_TAG="control $name" \
		"$REPO_ROOT/scripts/vm-run.sh" "${opts[@]}" "$test" >"$out" 2>&1 || rc=$?
	run_dir="$(sed -n 's/.*logs in \(.*\)$/\1/p' "$out" | head -n1)"
	if [ "$rc" -eq 0 ]; then
		log "CONTROL FAILED: $test passed with $params; it cannot detect the hazard"
		tail -n 20 "$out" >&2
		failed=$((failed + 1))
	elif grep -Eq "$pattern" "$out" "$run_dir"/*.log 2>/dev/null; then
		log "ok: $test failed as it must ($(grep -Eho "$pattern" "$out" "$run_dir"/*.log | head -n1))"
		passed=$((passed + 1))
	else
		log "CONTROL FAILED: $test failed, but not with /$pattern/ (logs: $run_dir)"
		tail -n 30 "$out" >&2
		failed=$((failed + 1))
	fi
	rm -f "$out"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
