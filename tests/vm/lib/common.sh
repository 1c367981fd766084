# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for the guest tests (tests/vm/*.sh). Source it first thing:
#
#	. "$(dirname "$0")/lib/common.sh"
#
# It turns on "set -euo pipefail" and installs an EXIT trap that runs
# cleanup(): dm devices made with dm_create are removed, loop devices made
# with make_loop are detached and their files deleted, and anything
# registered with on_cleanup runs, newest first. The test's exit status is
# kept. Exit 77 (skip) makes the test count as skipped.
#
# Every helper fails the test loudly (message on stderr, exit 1) when
# something does not work; none of them returns an error code to ignore.
# Exit codes 77 (skip) and 124 (timeout) are never used for a failure.
#
# Environment from the guest init: TEST_NAME, BOOT and BOOTS (vm-boots),
# DM_DISABLE_UDEV=1, plus any "vm-env" variables.

set -euo pipefail

SKIP_RC=77
# Registered cleanups, one per line, in a file: helpers usually run in $(...)
# subshells, which could not add to a shell variable of the test.
CLEANUP_FILE="$(mktemp /tmp/cleanup.XXXXXX)"

log() { printf '[%s +%ss] %s\n' "${TEST_NAME:-test}" "$SECONDS" "$*"; }
# figure TEXT: a figure of the test (points checked, bytes verified, ...);
# scripts/vm-run.sh repeats it after PASS, scripts/test.sh in its summary.
figure() { log "FIGURE: $*"; }

die() {
	printf '[%s +%ss] FAIL: %s\n' "${TEST_NAME:-test}" "$SECONDS" "$*" >&2
	exit 1
}

skip() {
	printf '[%s] SKIP: %s\n' "${TEST_NAME:-test}" "$*"
	exit "$SKIP_RC"
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || die "${3:-assert_eq}: expected '$2', got '$1'"
}

# run CMD [ARG]...: echo the command, run it, fail loudly if it fails.
run() {
	local rc=0
	printf '+ %s\n' "$*"
	"$@" || rc=$?
	[ "$rc" -eq 0 ] || die "command failed with exit code $rc: $*"
}

# on_cleanup CMD [ARG]...: run CMD at exit (newest first).
on_cleanup() {
	printf '%q ' "$@" >>"$CLEANUP_FILE"
	printf '\n' >>"$CLEANUP_FILE"
}

cleanup() {
	local rc=$? cmd
	set +e
	if [ -f "$CLEANUP_FILE" ]; then
		while IFS= read -r cmd; do
			[ -n "$cmd" ] || continue
			eval "$cmd" || printf '[%s] cleanup failed: %s\n' "${TEST_NAME:-test}" "$cmd" >&2
		done < <(tac "$CLEANUP_FILE")
		rm -f "$CLEANUP_FILE"
	fi
	exit "$rc"
}
trap cleanup EXIT

# make_loop SIZE_MB [DIR]: make a sparse file of SIZE_MB MiB in DIR
# (default /tmp, which is tmpfs, i.e. guest RAM), attach a loop device to
# it and echo the device (/dev/loopN). Detached and deleted at exit.
make_loop() {
	local size="$1" dir="${2:-/tmp}" file dev
	case "$size" in '' | *[!0-9]*) die "make_loop: bad size '$size' (MiB)" ;; esac
	file="$(mktemp "$dir/loop.XXXXXX.img")" || die "make_loop: cannot create a file in $dir"
	truncate -s "${size}M" "$file" || die "make_loop: truncate $file failed"
	dev="$(losetup -f --show "$file")" || die "make_loop: losetup -f --show $file failed"
	[ -b "$dev" ] || die "make_loop: $dev is not a block device"
	on_cleanup rm -f "$file"
	on_cleanup _loop_detach "$dev" "$file"
	echo "$dev"
}

# Cleanup steps tolerate a test that already removed the thing itself.
_loop_detach() { # dev file
	losetup "$1" 2>/dev/null | grep -qF "($2)" || return 0
	losetup -d "$1"
}

_dm_remove() {
	dmsetup info "$1" >/dev/null 2>&1 || return 0
	dmsetup remove --retry "$1"
}

# dm_dev NAME: echo the block device (/dev/dm-N) of the dm device NAME.
# Use it rather than /dev/mapper/NAME (see Documentation/testing.rst).
dm_dev() {
	local name="$1" kname
	kname="$(dmsetup info -c --noheadings -o blkdevname "$name")" ||
		die "dm_dev: no dm device '$name'"
	kname="${kname//[[:space:]]/}"
	[ -b "/dev/$kname" ] || die "dm_dev: /dev/$kname (of '$name') is not a block device"
	echo "/dev/$kname"
}

# dm_create NAME TABLE: create a dm device (removed at exit), echo /dev/dm-N.
dm_create() {
	local name="$1" table="$2"
	printf '+ dmsetup create %s --table "%s"\n' "$name" "$table" >&2
	dmsetup create "$name" --table "$table" ||
		die "dmsetup create $name --table '$table' failed"
	on_cleanup _dm_remove "$name"
	dm_dev "$name"
}

# need_module NAME: modprobe NAME or fail, saying what is missing.
need_module() {
	local m="$1"
	modprobe "$m" || die "cannot load module '$m': not built (make), not shipped (# vm-modules: $m), or its init failed (see the console log)"
}

# crash_now: reset the VM at once, without syncing anything (a power cut
# for the guest; whatever the guest had not written out is lost). For
# vm-boots tests: the harness counts a boot that ends here as completed and
# boots the same disk again with BOOT+1.
crash_now() {
	echo "bufcache-test: CRASH ${TEST_NAME:-test} boot=${BOOT:-1}" >/dev/kmsg
	echo b >/proc/sysrq-trigger
	sleep 30
	die "crash_now: sysrq-b did not reset the VM"
}
