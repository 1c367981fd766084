#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Checks that the VM test harness (scripts/vm-run.sh) catches what it must:
#
#  1. the positive self-tests pass: harness_clean, harness_boots and every
#     harness_splat_* test, each of which provokes one kind of kernel splat
#     and declares "vm-expect: splat";
#  2. the negative checks FAIL, each alone, with vm-run.sh exiting non-zero
#     for the right reason:
#       harness_negative  exits 0 but provokes a WARN      -> kernel splat
#       harness_timeout   sleeps past its 10 s timeout     -> timeout (guest)
#       harness_hang      freezes the whole VM             -> timeout (the
#                         host kills QEMU)
#       harness_triple_fault  resets the CPU silently      -> triple fault
#
# Usage: scripts/vm-selftest.sh [--negative-only]
# Exits 0 only if every check came out as expected.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

NEGATIVE_ONLY=0
case "${1:-}" in
'') ;;
--negative-only) NEGATIVE_ONLY=1 ;;
*) die "usage: scripts/vm-selftest.sh [--negative-only]" ;;
esac

VM_RUN="$REPO_ROOT/scripts/vm-run.sh"
LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/bufcache-selftest.XXXXXX")"
trap 'rm -rf "$LOGDIR"' EXIT
bad=0

# expect_vm_failure TEST REGEX [BOOT_SLACK]: vm-run.sh TEST must exit non-zero,
# report "FAIL TEST" with a reason matching REGEX, and end with
# "0 passed, 1 failed".
expect_vm_failure() {
	local t="$1" why="$2" slack="${3:-${VM_BOOT_SLACK:-90}}" rc=0 out="$LOGDIR/$1.log"
	step "negative check: $t must FAIL ($why)"
	VM_BOOT_SLACK="$slack" "$VM_RUN" "$t" 2>&1 | tee "$out" | sed 's/^/    /' >&2 || rc=$?
	if [ "$rc" -eq 0 ]; then
		log "SELFTEST FAILED: vm-run.sh $t exited 0"
		bad=1
	elif ! grep -E -q "FAIL $t \(.*\): .*($why)" "$out"; then
		log "SELFTEST FAILED: vm-run.sh $t failed, but not with a reason matching /$why/"
		bad=1
	elif [ "$(tail -n1 "$out")" != "0 passed, 1 failed" ]; then
		log "SELFTEST FAILED: wrong closing line: '$(tail -n1 "$out")'"
		bad=1
	else
		log "ok: $t was reported as FAILED (exit status $rc)"
	fi
}

if [ "$NEGATIVE_ONLY" -eq 0 ]; then
	positive=()
	for f in "$REPO_ROOT"/tests/vm/harness_{clean,boots,splat_*}.sh; do
		[ -f "$f" ] || die "self-test missing: $f"
		f="${f##*/}"
		positive+=("${f%.sh}")
	done
	step "positive self-tests: ${positive[*]}"
	rc=0
	"$VM_RUN" "${positive[@]}" 2>&1 | tee "$LOGDIR/positive.log" | sed 's/^/    /' >&2 || rc=$?
	want="${#positive[@]} passed, 0 failed"
	if [ "$rc" -ne 0 ] || [ "$(tail -n1 "$LOGDIR/positive.log")" != "$want" ]; then
		log "SELFTEST FAILED: the positive self-tests did not all pass (exit $rc)"
		bad=1
	else
		log "ok: $want"
	fi
fi

expect_vm_failure harness_negative "kernel splat: .*WARNING"
expect_vm_failure harness_timeout "timeout: the test ran longer than its 10s"
# The frozen VM can only end by the host's timeout: keep the wait short
# (10 s + 25 s; a boot slower than 25 s ends the same way).
expect_vm_failure harness_hang "timeout: the VM did not finish" 25
expect_vm_failure harness_triple_fault "the guest triple-faulted"

if [ "$bad" -ne 0 ]; then
	log "harness self-test: FAILED"
	exit 1
fi
log "harness self-test: all checks came out as expected"
