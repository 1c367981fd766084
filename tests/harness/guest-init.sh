#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# /init of the test VM (PID 1), installed by tests/harness/mkinitramfs.sh.
#
# Kernel command line (set by scripts/vm-run.sh; /proc/cmdline is read, so
# dotted names are fine):
#   bufcache.tests=a,b:S      tests to run: /tests/vm/<name>.sh, in order;
#                             ":S" gives that test its own timeout
#   bufcache.boot=N           boot index (vm-boots), given to tests as $BOOT
#   bufcache.boots=N          number of boots of this test, as $BOOTS
#   bufcache.timeout=S        timeout of the tests without ":S" (default 300)
#   bufcache.kmemleak=0|1     scan for leaks after each test (default 1)
#   bufcache.env.NAME=VALUE   exported to the tests as NAME=VALUE
#
# Channels:
#   ttyS0 (kernel console)  the whole kernel log at full loglevel, plus
#                           "bufcache-test: BEGIN|END|CRASH ..." markers
#                           written through /dev/kmsg
#   ttyS1 (results)         this script's own messages, each test's
#                           stdout+stderr between "==== OUTPUT BEGIN/END"
#                           lines, one "RESULT <name> PASS|FAIL|SKIP rc=N"
#                           line per test, then the full dmesg between
#                           "==== DMESG BEGIN/END", then "==== DONE"
#
# Exit code 77 from a test means SKIP. At the end the VM reboots, which
# ends QEMU (-no-reboot).
#
# No "set -e": PID 1 must never exit (the kernel would panic), every error
# is handled explicitly and the script always reaches the reboot.
set -uo pipefail

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C LC_ALL=C
# No udev in the guest: let libdevmapper make /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

# The plumbing below uses bash builtins and the static busybox: under TCG,
# every start of a dynamically linked binary costs ~0.1 s.
BB=/usr/bin/busybox
RESULTS_TTY=/dev/ttyS1
TESTDIR=/tests/vm
SKIP_RC=77

# /proc/uptime as "12.34" and as centiseconds, without forking.
uptime_s() {
	local up _
	read -r up _ </proc/uptime
	echo "$up"
}
uptime_cs() {
	local up _
	read -r up _ </proc/uptime
	up="${up/./}"
	echo $((10#$up))
}

kmsg() {
	echo "bufcache-test: $*" >/dev/kmsg 2>/dev/null || true
}

# Results channel is fd 3 (opened below).
say() {
	echo "$*" >&3 2>/dev/null || true
}

finish() {
	local sysrq=/proc/sysrq-trigger
	$BB sync
	# stty sets the attributes with TCSADRAIN: it returns only when the
	# UART has sent everything, so nothing is lost at reboot.
	$BB stty -F "$RESULTS_TTY" -opost >/dev/null 2>&1 || $BB sleep 1
	exec 3>&-
	kmsg "REBOOT"
	$BB reboot -f
	# Should not get here; make sure QEMU still ends.
	echo b >"$sysrq"
	$BB sleep 1000000
}

fatal() {
	kmsg "INIT FAILED: $*"
	say "INIT FAILED: $*"
	finish
}

mount_fs() { # type where [options]
	local type="$1" where="$2" opts="${3:-}"
	[ -d "$where" ] || $BB mkdir -p "$where" || fatal "mkdir $where"
	$BB mount -t "$type" ${opts:+-o "$opts"} "$type" "$where" 2>/dev/null && return 0
	# Already mounted (devtmpfs may be)?
	$BB grep -q "^[^ ]* $where " /proc/mounts 2>/dev/null ||
		fatal "mount -t $type $where failed"
}

mount_fs proc /proc
mount_fs sysfs /sys
mount_fs devtmpfs /dev
mount_fs tmpfs /dev/shm mode=1777
mount_fs tmpfs /tmp mode=1777
mount_fs tmpfs /run mode=0755
mount_fs debugfs /sys/kernel/debug
mount_fs cgroup2 /sys/fs/cgroup
echo bufcache-vm >/proc/sys/kernel/hostname
# devtmpfs has no /dev/fd & co (bash process substitution needs /dev/fd).
$BB ln -sf /proc/self/fd /dev/fd
$BB ln -sf /proc/self/fd/0 /dev/stdin
$BB ln -sf /proc/self/fd/1 /dev/stdout
$BB ln -sf /proc/self/fd/2 /dev/stderr

# The full kernel log must reach the console (ttyS0).
echo "8 4 1 8" >/proc/sys/kernel/printk || kmsg "cannot set kernel.printk"

if [ -c "$RESULTS_TTY" ]; then
	$BB stty -F "$RESULTS_TTY" raw -echo -opost >/dev/null 2>&1 || true
	exec 3>"$RESULTS_TTY" || fatal "cannot open $RESULTS_TTY"
else
	kmsg "no $RESULTS_TTY: results go to the console"
	exec 3>/dev/console
fi
# Stray output of this script goes to the results channel too.
exec </dev/null >&3 2>&3

TESTS=""
BOOT=1
BOOTS=1
TIMEOUT=300
KMEMLEAK=1
read -r -a cmdline </proc/cmdline || fatal "cannot read /proc/cmdline"
for w in "${cmdline[@]}"; do
	case "$w" in
	bufcache.tests=*) TESTS="${w#*=}" ;;
	bufcache.boot=*) BOOT="${w#*=}" ;;
	bufcache.boots=*) BOOTS="${w#*=}" ;;
	bufcache.timeout=*) TIMEOUT="${w#*=}" ;;
	bufcache.kmemleak=*) KMEMLEAK="${w#*=}" ;;
	bufcache.env.*=*)
		w="${w#bufcache.env.}"
		case "${w%%=*}" in
		[A-Za-z_]*) export "${w%%=*}=${w#*=}" ;;
		*) kmsg "ignoring bad bufcache.env name '${w%%=*}'" ;;
		esac
		;;
	esac
done
export BOOT BOOTS
case "$TIMEOUT" in '' | *[!0-9]*) fatal "bad bufcache.timeout=$TIMEOUT" ;; esac

KMEMLEAK_FILE=/sys/kernel/debug/kmemleak
if [ "$KMEMLEAK" = 1 ] && ! [ -w "$KMEMLEAK_FILE" ]; then
	# Asked for (bufcache.kmemleak=1, the default) but missing or off:
	# every test of this boot would pass unjudged for leaks.
	kmsg "JUDGE FAILED: kmemleak is not available (no writable $KMEMLEAK_FILE): no leak checks in this boot"
	KMEMLEAK=0
fi

# The minimum age of a reported leak: 5 s (MSECS_MIN_AGE) in a stock
# kernel; the test kernel's patch (config/patches) makes it a parameter,
# set here to 1 s.
KMEMLEAK_AGE_CS=500
if [ "$KMEMLEAK" = 1 ] && [ -w /sys/module/kmemleak/parameters/min_age_ms ] &&
	echo 1000 >/sys/module/kmemleak/parameters/min_age_ms 2>/dev/null; then
	KMEMLEAK_AGE_CS=100
fi

# Leaks are reported for objects allocated while the test ran: "clear"
# before the test forgets everything older. A leak shows up only in a scan
# that starts the minimum age (above) or more after the allocation, and
# only if the object's checksum did not change since the previous scan: so
# scan once right after the test, and again 1 s past that age after it
# ended.
kmemleak_clear() {
	[ "$KMEMLEAK" = 1 ] || return 0
	echo clear >"$KMEMLEAK_FILE" 2>/dev/null || say "note: kmemleak clear failed"
}

#
# In a shared boot (vm-group), a test that another one follows gets its
# two scans without the wait: its leaks older than the minimum age are
# reported after it, younger ones in the next test's scans (the report then
# names that test: "clear" forgets only what was already reported), and
# the wait is paid once per boot.
kmemleak_check() {
	local name="$1" ended="$2" last="$3" report line wait
	[ "$KMEMLEAK" = 1 ] || return 0
	echo scan >"$KMEMLEAK_FILE" 2>/dev/null || {
		# kmemleak disabled itself: no leak after this one can be seen.
		kmsg "JUDGE FAILED: kmemleak scan failed after $name (kmemleak disabled itself?)"
		KMEMLEAK=0
		return 0
	}
	if [ "$last" = 1 ]; then
		wait=$((ended + KMEMLEAK_AGE_CS + 100 - $(uptime_cs)))
		[ "$wait" -le 0 ] || $BB sleep "$((wait / 100)).$(printf '%02d' $((wait % 100)))"
	fi
	echo scan >"$KMEMLEAK_FILE" 2>/dev/null || true
	report="$(<"$KMEMLEAK_FILE")" || true
	[ -n "$report" ] || return 0
	# The report lives in debugfs only: copy it into the kernel log so
	# the harness sees it on the console like any other splat.
	kmsg "kmemleak report after $name:"
	while IFS= read -r line; do
		echo "kmemleak: $line" >/dev/kmsg 2>/dev/null || true
	done <<<"$report"
}

# Mounts and cgroups that exist before any test: the reset below leaves
# them alone.
BASE_MOUNTS=""
BASE_CGROUPS=""

# Settings a test may change and the next test of the boot must not
# inherit: the sysctls of vm/ and a few of kernel/ (those that do not change
# by themselves), and the fault-injection attributes. Their values before
# the first test are put back after each test (restore_settings).
declare -A SETTINGS_BASE=()
# read_setting FILE: its contents in v (builtins only: no process per file).
read_setting() {
	v=""
	IFS= read -r -d '' v <"$1" 2>/dev/null
	[ -n "$v" ] || return 1
	v="${v%$'\n'}"
}
snapshot_settings() {
	local f v
	for f in /proc/sys/vm/* /proc/sys/kernel/hung_task_timeout_secs \
		/proc/sys/kernel/hung_task_panic /proc/sys/kernel/panic_on_warn \
		/proc/sys/kernel/softlockup_panic /proc/sys/kernel/printk \
		/sys/kernel/debug/failslab/* /sys/kernel/debug/fail_page_alloc/* \
		/sys/kernel/debug/fail_make_request/*; do
		[ -f "$f" ] && [ -r "$f" ] && [ -w "$f" ] || continue
		read_setting "$f" || continue
		SETTINGS_BASE[$f]="$v"
	done
}
# restore_settings: prints "setting FILE: NOW -> BASE" for each one put back.
restore_settings() {
	local f v
	for f in "${!SETTINGS_BASE[@]}"; do
		read_setting "$f" || continue
		[ "$v" != "${SETTINGS_BASE[$f]}" ] || continue
		local was="$v"
		printf '%s\n' "${SETTINGS_BASE[$f]}" >"$f" 2>/dev/null || true
		# Said as it is now: some writes are refused (dirty_bytes=0), and
		# another one (dirty_ratio) puts the value back instead.
		read_setting "$f" || v="?"
		if [ "$v" = "${SETTINGS_BASE[$f]}" ]; then
			printf 'setting %s: %s -> %s\n' "$f" "${was//$'\n'/ }" "$v"
		else
			printf 'setting %s: %s, not back to %s\n' "$f" "${v//$'\n'/ }" "${SETTINGS_BASE[$f]//$'\n'/ }"
		fi
	done
}
# The reset proves itself once per boot: a setting changed here must come
# back (else a grouped test's verdict could depend on its neighbour).
check_restore() {
	local f=/proc/sys/vm/dirty_ratio base
	[ -n "${SETTINGS_BASE[$f]:-}" ] || return 0
	base="${SETTINGS_BASE[$f]}"
	echo $((base == 7 ? 8 : 7)) >"$f" 2>/dev/null || return 0
	restore_settings >/dev/null
	read_setting "$f"
	[ "$v" = "$base" ] ||
		kmsg "JUDGE FAILED: the reset between tests does not restore settings ($f is $v, was $base)"
}

# reset_after NAME: put the VM back as it was before the test, so that the
# next test in the same boot (vm-group) starts clean, and say what the test
# left behind: a test must remove what it created (its cleanup() does), and
# dm_bufcache must unload once its targets are gone. Prints one line per
# leftover; the caller turns a passing test into a failure if any.
reset_after() {
	local m d l cg left=()
	# Mounts the test made (newest first).
	while read -r m; do
		case " $BASE_MOUNTS " in *" $m "*) continue ;; esac
		left+=("mount $m")
		$BB umount -l "$m" 2>/dev/null || true
	done < <($BB awk '{ m[NR] = $2 } END { for (i = NR; i > 0; i--) print m[i] }' /proc/mounts)
	# Device-mapper devices, then loop devices.
	while read -r d _; do
		[ -n "$d" ] && [ "$d" != "No" ] || continue
		left+=("dm device $d")
	done < <(dmsetup ls 2>/dev/null || true)
	dmsetup remove_all --force >/dev/null 2>&1 || true
	while IFS=: read -r l _; do
		[ -n "$l" ] || continue
		left+=("loop device $l")
		losetup -d "$l" 2>/dev/null || true
	done < <(losetup -a 2>/dev/null || true)
	# The module: a reference left means a target or a bio was leaked.
	if [ -d /sys/module/dm_bufcache ]; then
		$BB rmmod dm_bufcache 2>/dev/null ||
			left+=("dm_bufcache cannot be unloaded (refcnt $(cat /sys/module/dm_bufcache/refcnt 2>/dev/null))")
	fi
	# Fault injection back off.
	for d in /sys/kernel/debug/failslab /sys/kernel/debug/fail_page_alloc /sys/kernel/debug/fail_make_request; do
		[ -w "$d/probability" ] || continue
		read -r l <"$d/probability" || l=0
		[ "$l" = 0 ] || left+=("$(basename "$d") probability $l")
		echo 0 >"$d/probability" 2>/dev/null || true
	done
	# Cgroups the test made (deepest first; empty by now).
	while read -r cg; do
		case " $BASE_CGROUPS " in *" $cg "*) continue ;; esac
		left+=("cgroup $cg")
		$BB rmdir "$cg" 2>/dev/null || true
	done < <(find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | $BB sort -r)
	# Scratch files (loop images among them) would eat the next test's RAM.
	$BB rm -rf /tmp/* 2>/dev/null || true
	# Settings back to what they were at boot (module parameters go with
	# the module's unload above). Not a failure: said in the log.
	while IFS= read -r l; do
		[ -z "$l" ] || kmsg "$1: restored $l"
	done < <(restore_settings)
	if [ "${#left[@]}" -gt 0 ]; then
		printf 'left behind: %s\n' "${left[@]}"
	fi
}

# lockdep_check NAME: lockdep must still be on after the test (it turns
# itself off after its first report, and on any kernel taint but an
# out-of-tree module's): a test that ran with it off was not judged by it.
# The report that turned it off is a splat of its own; this line makes the
# harness say so for every later test of the same boot too.
lockdep_check() {
	local l
	[ -r /proc/lockdep_stats ] || return 0
	l="$($BB awk '$1 == "debug_locks:" { print $2 }' /proc/lockdep_stats 2>/dev/null)"
	[ "$l" != 0 ] || kmsg "JUDGE FAILED: lockdep is off (debug_locks 0) after $1"
}

# guest_run_test NAME LAST [TIMEOUT]: LAST=1 for the boot's last test.
guest_run_test() {
	local name="$1" script="$TESTDIR/$1.sh" rc start ended elapsed verdict extra="" left
	local last="$2" TIMEOUT="${3:-$TIMEOUT}"
	if [ ! -f "$script" ]; then
		say "RESULT $name FAIL rc=127 (no such test: $script)"
		return
	fi
	kmemleak_clear
	start="$(uptime_s)"
	kmsg "BEGIN $name boot=$BOOT/$BOOTS uptime=$start"
	say "==== OUTPUT BEGIN $name"
	(
		cd /tmp || exit 1
		export TEST_NAME="$name"
		exec timeout -k 10 "$TIMEOUT" bash "$script"
	) </dev/null >&3 2>&3
	rc=$?
	ended="$(uptime_cs)"
	say "==== OUTPUT END $name"
	# timeout(1) exits 124; when the test ignored SIGTERM it sends SIGKILL
	# to its whole process group, itself included (137 after the time).
	if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ $((ended - 10#${start/./})) -ge $((TIMEOUT * 100)) ]; }; then
		extra=" timeout=${TIMEOUT}s"
		kmsg "TIMEOUT $name after ${TIMEOUT}s: blocked tasks follow"
		echo w >/proc/sysrq-trigger 2>/dev/null || true
	fi
	# Leftovers are removed before the leak scan: an object that only a
	# leftover device still referenced shows up in this test's scan.
	# After a timeout a task may still be stuck in the device: tearing it
	# down could hang this script too, so the boot is left as it is.
	left=""
	[ -n "$extra" ] || left="$(reset_after "$name")"
	if [ -n "$left" ]; then
		say "$left"
		kmsg "$name ${left//$'\n'/; }"
	fi
	kmemleak_check "$name" "$ended" "$last"
	lockdep_check "$name"
	elapsed="$((ended - 10#${start/./}))"
	elapsed="$((elapsed / 100)).$(((elapsed % 100) / 10))"
	kmsg "END $name rc=$rc elapsed=${elapsed}s"
	if [ "$rc" -eq 0 ] && [ -n "$left" ]; then
		rc=1
		extra+=" left-behind"
	fi
	case "$rc" in
	0) verdict=PASS ;;
	"$SKIP_RC") verdict=SKIP ;;
	*) verdict=FAIL ;;
	esac
	say "RESULT $name $verdict rc=$rc elapsed=${elapsed}s$extra"
}

read -r release </proc/sys/kernel/osrelease
read -r _ memtotal _ </proc/meminfo
read -r cpus </sys/devices/system/cpu/online
say "==== GUEST $release boot=$BOOT/$BOOTS uptime=$(uptime_s)s mem=${memtotal}kB cpus=$cpus"
[ -n "$TESTS" ] || say "no tests given (bufcache.tests=)"
BASE_MOUNTS="$(while read -r _ m _; do printf '%s ' "$m"; done </proc/mounts)"
BASE_CGROUPS="$(find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | $BB tr '\n' ' ')"
snapshot_settings
check_restore
IFS=, read -r -a test_list <<<"$TESTS"
for i in "${!test_list[@]}"; do
	t="${test_list[$i]}"
	last=$((i + 1 == ${#test_list[@]}))
	case "$t" in
	*:*[!0-9]* | *:) say "RESULT ${t%%:*} FAIL rc=2 (bad timeout in bufcache.tests: $t)" ;;
	*:*) guest_run_test "${t%%:*}" "$last" "${t#*:}" ;;
	*) guest_run_test "$t" "$last" ;;
	esac
done

say "==== DMESG BEGIN"
dmesg >&3 2>&1 || say "dmesg failed"
say "==== DMESG END"
say "==== DONE"
finish
