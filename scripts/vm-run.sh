#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs guest tests (tests/vm/*.sh) in QEMU on the debug test kernel, one
# fresh VM boot per test, and judges each one by its exit status AND by the
# kernel log (lockdep, WARN, BUG, hung tasks, kmemleak, ...). See
# Documentation/testing.rst.
#
# Usage: scripts/vm-run.sh [options] [TEST...]
#   TEST        a name (harness_clean), file name or path of tests/vm/*.sh;
#               default: every test whose header lacks "# vm-manual: yes"
#   --list      list the tests and their directives, run nothing
#   --keep      keep the whole run directory (initrd, disk images, logs);
#               by default only the logs of a run with failures are kept
#   --timeout N override every test's vm-timeout (seconds)
#   --mem M     override every test's vm-mem (e.g. 2G)
#   --env N=V   export N=V to the tests in the guest (repeatable)
#   --no-group  boot once per test, also for tests marked "# vm-group: yes"
#               (by default those share boots, VM_GROUP_MAX per boot)
#
# Environment: KERNEL_FLAVOUR=bench boots the benchmark kernel and
# BUFCACHE_KO names the module build to ship (scripts/bench.sh);
# BUFCACHE_KVM=1 uses KVM instead of TCG (the nested KVM of
# some build machines cannot boot a stock kernel: Documentation/testing.rst);
# VM_BOOT_SLACK (default 90) is how many seconds
# QEMU gets on top of a test's vm-timeout before the host kills it;
# VM_GROUP_MAX (default 6) is how many vm-group tests share one boot;
# VM_STOP_ON (an extended regexp; scripts/negative-controls.sh sets it)
# kills the VM as soon as the guest's output or kernel log matches it, and
# fails the test so; VM_KMEMLEAK=0 turns the leak checks off, for a kernel without kmemleak
# (the guest otherwise fails every test: kmemleak is one of the judges);
# VM_SLUB_DEBUG (default FZ: red zones, and the consistency checks that
# read them at every free, without which 7.3 checks no red zone; Z also
# turns off the per-CPU sheaves that hide leaks from kmemleak) is the
# guest's slub_debug= value; FZPU checks more.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

TESTS_DIR="$REPO_ROOT/tests/vm"
PATTERNS_FILE="$REPO_ROOT/tests/harness/splat-patterns.txt"
RESULTS_ROOT="$REPO_ROOT/.vm-results"
BOOT_SLACK="${VM_BOOT_SLACK:-90}"
SLUB_DEBUG="${VM_SLUB_DEBUG:-FZ}"
BLKCG_ASSOC_SLEEP_MS="${VM_BLKCG_ASSOC_SLEEP_MS:-2}"
KEEP_RUN_DIRS=20
GROUP_MAX="${VM_GROUP_MAX:-6}"

usage() {
	sed -n '/^# Usage:/,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

KEEP=0
LIST=0
NO_GROUP=0
OPT_TIMEOUT=""
OPT_MEM=""
OPT_ENV=()
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--keep) KEEP=1; shift ;;
	--list) LIST=1; shift ;;
	--no-group) NO_GROUP=1; shift ;;
	--timeout) [ $# -ge 2 ] || usage; OPT_TIMEOUT="$2"; shift 2 ;;
	--timeout=*) OPT_TIMEOUT="${1#*=}"; shift ;;
	--mem) [ $# -ge 2 ] || usage; OPT_MEM="$2"; shift 2 ;;
	--mem=*) OPT_MEM="${1#*=}"; shift ;;
	--env) [ $# -ge 2 ] || usage; OPT_ENV+=("$2"); shift 2 ;;
	--env=*) OPT_ENV+=("${1#*=}"); shift ;;
	-h | --help) usage ;;
	-*) die "vm-run.sh: unknown option '$1' (see --help)" ;;
	*) ARGS+=("$1"); shift ;;
	esac
done

valid_size() { [[ "$1" =~ ^[1-9][0-9]*[MG]$ ]]; }
valid_int() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
valid_env() { [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*$ ]]; }

[ -z "$OPT_TIMEOUT" ] || valid_int "$OPT_TIMEOUT" || die "--timeout: '$OPT_TIMEOUT' is not a number of seconds"
[ -z "$OPT_MEM" ] || valid_size "$OPT_MEM" || die "--mem: '$OPT_MEM' is not a size like 1G or 512M"
for e in "${OPT_ENV[@]}"; do
	valid_env "$e" || die "--env: '$e' is not NAME=VALUE (no spaces)"
done
valid_int "$GROUP_MAX" || die "VM_GROUP_MAX='$GROUP_MAX' is not a number"
valid_int "$BOOT_SLACK" || die "VM_BOOT_SLACK='$BOOT_SLACK' is not a number of seconds"
[[ "$BLKCG_ASSOC_SLEEP_MS" =~ ^[0-9]+$ ]] || die "VM_BLKCG_ASSOC_SLEEP_MS='$BLKCG_ASSOC_SLEEP_MS' is not a number"
[[ "$SLUB_DEBUG" =~ ^[-A-Za-z0-9,.=_]+$ ]] || die "VM_SLUB_DEBUG='$SLUB_DEBUG' is not a slub_debug= value"

# --- tests and their directives ------------------------------------------

# The directives of each test file, read once per run (one awk per file):
# DIRECTIVES["FILE|KEY"] is the value of its last "# vm-KEY: value" line.
declare -A DIRECTIVES=() DIRECTIVES_READ=()
read_directives() {
	local k v
	[ -z "${DIRECTIVES_READ[$1]:-}" ] || return 0
	while IFS=$'\t' read -r k v; do
		DIRECTIVES["$1|$k"]="$v"
	done < <(awk 'NR == 1 && /^#!/ { next } !/^#/ { exit }
		match($0, /^#[[:space:]]*vm-[a-z-]+:/) {
			k = substr($0, 1, RLENGTH - 1); sub(/^#[[:space:]]*vm-/, "", k)
			v = substr($0, RLENGTH + 1); sub(/^[[:space:]]+/, "", v); sub(/[[:space:]]+$/, "", v)
			print k "\t" v }' "$1")
	DIRECTIVES_READ[$1]=1
}

# directive FILE KEY DEFAULT: sets DV to the value of "# vm-KEY: value" in
# the header of FILE, or DEFAULT.
directive() {
	read_directives "$1"
	DV="${DIRECTIVES["$1|$2"]:-}"
	[ -n "$DV" ] || DV="$3"
}

resolve_test() {
	local n="${1##*/}"
	n="${n%.sh}"
	[ -f "$TESTS_DIR/$n.sh" ] || die "no such test '$1': no $TESTS_DIR/$n.sh (see --list)"
	printf '%s\n' "$n"
}

# load_test NAME: sets T_* from the directives of tests/vm/NAME.sh (with the
# command line overrides), or dies naming the bad directive.
load_test() {
	local f="$TESTS_DIR/$1.sh" w
	directive "$f" mem 1G
	T_MEM="$DV"
	directive "$f" timeout 300
	T_TIMEOUT="$DV"
	directive "$f" disk ""
	T_DISK="$DV"
	directive "$f" boots 1
	T_BOOTS="$DV"
	directive "$f" cmdline ""
	T_CMDLINE="$DV"
	directive "$f" expect ""
	T_EXPECT="$DV"
	directive "$f" expect-each ""
	T_EXPECT_EACH="$DV"
	directive "$f" modules ""
	T_MODULES="$DV"
	directive "$f" manual no
	T_MANUAL="$DV"
	directive "$f" kmemleak yes
	T_KMEMLEAK="$DV"
	directive "$f" env ""
	T_ENV="$DV"
	directive "$f" group no
	T_GROUP="$DV"
	[ -z "$OPT_MEM" ] || T_MEM="$OPT_MEM"
	[ -z "$OPT_TIMEOUT" ] || T_TIMEOUT="$OPT_TIMEOUT"
	valid_size "$T_MEM" || die "$f: bad vm-mem '$T_MEM' (want e.g. 1G or 512M)"
	valid_int "$T_TIMEOUT" || die "$f: bad vm-timeout '$T_TIMEOUT' (want seconds)"
	[ -z "$T_DISK" ] || valid_size "$T_DISK" || die "$f: bad vm-disk '$T_DISK' (want e.g. 512M)"
	valid_int "$T_BOOTS" || die "$f: bad vm-boots '$T_BOOTS' (want 1, 2, ...)"
	case "$T_EXPECT" in '' | splat) ;; *) die "$f: bad vm-expect '$T_EXPECT' (only 'splat')" ;; esac
	[ -z "$T_EXPECT_EACH" ] || [ "$T_EXPECT" = splat ] || die "$f: vm-expect-each needs vm-expect: splat"
	case "$T_MANUAL" in yes | no) ;; *) die "$f: bad vm-manual '$T_MANUAL' (yes or no)" ;; esac
	case "$T_KMEMLEAK" in yes | no) ;; *) die "$f: bad vm-kmemleak '$T_KMEMLEAK' (yes or no)" ;; esac
	case "$T_GROUP" in yes | no) ;; *) die "$f: bad vm-group '$T_GROUP' (yes or no)" ;; esac
	if [ "$T_GROUP" = yes ] && { [ -n "$T_DISK" ] || [ "$T_BOOTS" != 1 ] || [ -n "$T_EXPECT" ]; }; then
		die "$f: vm-group: yes is for tests without vm-disk, vm-boots or vm-expect"
	fi
	for w in $T_MODULES; do
		[[ "$w" =~ ^[A-Za-z0-9_-]+$ ]] || die "$f: bad module name '$w' in vm-modules"
	done
	for w in $T_ENV; do
		valid_env "$w" || die "$f: bad vm-env entry '$w' (NAME=VALUE, no spaces)"
	done
	case "$T_CMDLINE" in *bufcache.*) die "$f: vm-cmdline must not set bufcache.* (the harness does)" ;; esac
}

mapfile -t ALL_TESTS < <(find "$TESTS_DIR" -maxdepth 1 -name '*.sh' -printf '%f\n' | sed 's/\.sh$//' | LC_ALL=C sort)
[ "${#ALL_TESTS[@]}" -gt 0 ] || die "no tests in $TESTS_DIR"

if [ "$LIST" -eq 1 ]; then
	printf '%-32s %-5s %-8s %-6s %-5s %-6s %-6s %-5s %s\n' TEST MEM TIMEOUT DISK BOOTS EXPECT MANUAL GROUP MODULES
	for t in "${ALL_TESTS[@]}"; do
		load_test "$t"
		printf '%-32s %-5s %-8s %-6s %-5s %-6s %-6s %-5s %s\n' "$t" "$T_MEM" "${T_TIMEOUT}s" \
			"${T_DISK:--}" "$T_BOOTS" "${T_EXPECT:--}" "$T_MANUAL" "$T_GROUP" "${T_MODULES:--}"
	done
	exit 0
fi

TESTS=()
if [ "${#ARGS[@]}" -gt 0 ]; then
	for a in "${ARGS[@]}"; do TESTS+=("$(resolve_test "$a")"); done
else
	for t in "${ALL_TESTS[@]}"; do
		load_test "$t"
		[ "$T_MANUAL" = yes ] || TESTS+=("$t")
	done
fi
[ "${#TESTS[@]}" -gt 0 ] || die "no tests selected"

# Check every selected test's directives before booting anything, and
# collect the modules to ship.
declare -A WANT_MODULES=()
for t in "${TESTS[@]}"; do
	load_test "$t"
	for m in $T_MODULES; do WANT_MODULES["$m"]=1; done
done

# --- host prerequisites ----------------------------------------------------

need_cmd qemu-system-x86_64 "install qemu-system-x86 (scripts/setup-host.sh)"
need_cmd timeout
[ -f "$PATTERNS_FILE" ] || die "splat pattern list missing: $PATTERNS_FILE"
kernel_paths
[ -f "$KBUILD_OUT/.bufcache-built" ] ||
	die "the test kernel is not built ($KBUILD_OUT): run scripts/build-kernel.sh"
BZIMAGE="$KBUILD_OUT/arch/x86/boot/bzImage"
[ -f "$BZIMAGE" ] || die "no bzImage in $KBUILD_OUT"
RELEASE="$(cat "$KBUILD_OUT/include/config/kernel.release")"

if [ "${BUFCACHE_KVM:-0}" = 1 ]; then
	[ -w /dev/kvm ] || die "BUFCACHE_KVM=1 but /dev/kvm is not usable"
	ACCEL=(-accel kvm -cpu host)
	ACCEL_NAME=kvm
else
	# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
	ACCEL=(-accel tcg,thread=multi)
	ACCEL_NAME=tcg
fi

mkdir -p "$RESULTS_ROOT"
RUN="$RESULTS_ROOT/$(date +%Y%m%d-%H%M%S)"
n=1
while [ -e "$RUN" ]; do RUN="${RUN%.*}.$n"; n=$((n + 1)); done
mkdir -p "$RUN"
ln -sfn "$(basename "$RUN")" "$RESULTS_ROOT/latest"

# Patterns without comments, for grep -F -f.
PATTERNS="$RUN/splat-patterns"
grep -v -e '^#' -e '^[[:space:]]*$' "$PATTERNS_FILE" >"$PATTERNS" ||
	die "no patterns in $PATTERNS_FILE"

MK_ARGS=()
for m in "${!WANT_MODULES[@]}"; do
	case "$m" in
	bufcache_splat)
		ko="$("$REPO_ROOT/tests/harness/build-test-kmod.sh")" || die "building the self-test module failed"
		MK_ARGS+=(-m "$ko")
		;;
	dm_bufcache | dm-bufcache)
		[ -f "${BUFCACHE_KO:-$REPO_ROOT/dm_bufcache.ko}" ] ||
			die "tests need dm_bufcache.ko (vm-modules) but ${BUFCACHE_KO:-$REPO_ROOT/dm_bufcache.ko} is not built: run make BUFCACHE_TEST=1"
		;;
	*) MK_ARGS+=(-m "$m") ;;
	esac
done
INITRD="$RUN/initrd.cpio.gz"
"$REPO_ROOT/tests/harness/mkinitramfs.sh" -o "$INITRD" "${MK_ARGS[@]}" || die "building the initramfs failed"

# --- running ---------------------------------------------------------------

QEMU_PID=""
STOPPED_ON=""
on_signal() {
	[ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
	die "interrupted; logs so far in $RUN"
}
trap on_signal INT TERM

now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

# Lines of the results channel between a test's OUTPUT markers (to the end
# of the file if the VM died before the END marker).
test_output() {
	awk -v b="==== OUTPUT BEGIN $2" -v e="==== OUTPUT END $2" '
		$0 == b { on = 1; next }
		$0 == e || /^==== DMESG BEGIN/ { on = 0 }
		on { print }' "$1"
}

# run_boot SPEC BOOT PREFIX HOST_TIMEOUT: boots the VM once to run the
# tests of SPEC (bufcache.tests=: "name" or "a:S,b:S,..."); sets Q_RC
# (QEMU's exit status through timeout(1): 124/137 = killed by the host
# timeout), B_MS and B_START_MS (when the first test began).
run_boot() {
	local spec="$1" boot="$2" prefix="$3" host_to="$4" name cmdline start started="" beat last=0 w
	name="${spec%%[:,]*}"
	# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
	local qemu=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
		"${ACCEL[@]}" -smp 2,sockets=2 -m "$T_MEM"
		-kernel "$BZIMAGE" -initrd "$INITRD"
		-serial "file:$prefix.console.log" -serial "file:$prefix.results.log"
		-d guest_errors,cpu_reset -D "$prefix.qemu-debug.log")
	[ -z "$T_DISK" ] || qemu+=(-drive "file=$DISK_IMG,format=raw,if=virtio,cache=writeback")
	# norandmaps: without ASLR, TCG reuses its translations of ld.so and
	# libc across processes (every exec is much cheaper).
	# slub_debug: SLUB checks, and no per-CPU sheaves (their stale object
	# pointers hide leaks from kmemleak). See Documentation/testing.rst.
	# tsc=reliable: under TCG the two sockets' TSCs fail the kernel's
	# synchronisation check, and the clocksource falls back to
	# refined-jiffies (time in whole ticks: every fio latency a multiple of
	# a tick). QEMU derives each vCPU's TSC from the one host clock, so
	# it is monotonic and in step; the guest then keeps the TSC, unless
	# its calibration against the PIT failed (a loaded host): there is no
	# HPET or PM timer to fall back on without ACPI.
	cmdline="console=ttyS0 loglevel=8 log_buf_len=4M printk.devkmsg=on panic=-1 norandmaps tsc=reliable"
	cmdline+=" slub_debug=$SLUB_DEBUG"
	# The test kernel's association contract (config/patches): creating a
	# blkg sleeps, as under the coming blkcg_mutex.
	cmdline+=" blkcg_assoc_sleep_ms=$BLKCG_ASSOC_SLEEP_MS"
	cmdline+=" bufcache.tests=$spec bufcache.boot=$boot bufcache.boots=$T_BOOTS"
	# kmemleak is a judge: the guest fails a boot that asked for it and
	# lacks it. The benchmark kernel has none; VM_KMEMLEAK=0 is for another
	# kernel without it (a stock one).
	local leaks=1
	[ "$T_KMEMLEAK" = yes ] && [ "${VM_KMEMLEAK:-1}" = 1 ] && [ "${KERNEL_FLAVOUR:-test}" = test ] || leaks=0
	cmdline+=" bufcache.timeout=$T_TIMEOUT bufcache.kmemleak=$leaks"
	for w in $T_ENV "${OPT_ENV[@]}"; do cmdline+=" bufcache.env.$w"; done
	[ -z "$T_CMDLINE" ] || cmdline+=" $T_CMDLINE"
	qemu+=(-append "$cmdline")
	printf '%q ' "${qemu[@]}" >"$prefix.qemu-cmd"
	echo >>"$prefix.qemu-cmd"

	start="$(now_ms)"
	STOPPED_ON=""
	timeout -k 10 "$host_to" "${qemu[@]}" >"$prefix.qemu.log" 2>&1 &
	QEMU_PID=$!
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		sleep 0.2
		# VM_STOP_ON: a negative control's failure pattern; once it is in
		# the guest's output, the rest of the boot proves nothing more.
		if [ -n "${VM_STOP_ON:-}" ] && [ -z "$STOPPED_ON" ] &&
			grep -Eq -- "$VM_STOP_ON" "$prefix.results.log" "$prefix.console.log" 2>/dev/null; then
			STOPPED_ON="$(($(now_ms) - start))"
			log "  /$VM_STOP_ON/ seen after $(secs "$STOPPED_ON")s: stopping the VM (VM_STOP_ON)"
			kill "$QEMU_PID" 2>/dev/null || true
		fi
		if [ -z "$started" ] && grep -q "bufcache-test: BEGIN $name" "$prefix.console.log" 2>/dev/null; then
			started="$(now_ms)"
			log "  test started $(secs $((started - start)))s after QEMU start"
		fi
		beat=$((($(now_ms) - start) / 60000))
		if [ "$beat" -gt "$last" ]; then
			last="$beat"
			log "  ... still running after ${beat} min (host timeout ${host_to}s)"
		fi
	done
	if wait "$QEMU_PID"; then Q_RC=0; else Q_RC=$?; fi
	QEMU_PID=""
	B_MS=$(($(now_ms) - start))
	B_START_MS=""
	[ -z "$started" ] || B_START_MS=$((started - start))
	# The serial lines end in \r\n.
	sed -i 's/\r$//' "$prefix.console.log" "$prefix.results.log" 2>/dev/null || true
	awk '/^==== DMESG BEGIN/ { on = 1; next } /^==== DMESG END/ { on = 0 } on { print }' \
		"$prefix.results.log" >"$prefix.dmesg" 2>/dev/null || true
}

show_failure() { # name prefix
	local name="$1" prefix="$2" first
	log "  --- test output (last 25 lines; all of it in $prefix.results.log):"
	test_output "$prefix.results.log" "$name" | tail -n 25 | sed 's/^/  | /' >&2
	if [ -s "$prefix.splats" ]; then
		log "  --- kernel splat lines ($prefix.console.log, $prefix.dmesg.log):"
		head -n 15 "$prefix.splats" | sed 's/^/  ! /' >&2
		local klog="$prefix.console.log"
		first="$(grep -n -F -f "$PATTERNS" "$klog" 2>/dev/null | head -n1 | cut -d: -f1)"
		if [ -z "$first" ]; then
			klog="$prefix.dmesg.log"
			first="$(grep -n -F -f "$PATTERNS" "$klog" 2>/dev/null | head -n1 | cut -d: -f1)"
		fi
		log "  --- kernel log from the first one ($klog):"
		sed -n "${first:-1},$((${first:-1} + 40))p" "$klog" | sed 's/^/  | /' >&2
	else
		log "  --- end of the kernel log ($prefix.console.log):"
		tail -n 25 "$prefix.console.log" 2>/dev/null | sed 's/^/  | /' >&2
	fi
}

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
GROUP_N=0

# dmesg_section FILE: the kernel log the guest dumped into its results
# channel at the end of the boot (empty if the boot did not get there).
dmesg_section() {
	awk '$0 == "==== DMESG BEGIN" { on = 1; next } $0 == "==== DMESG END" { on = 0 } on' "$1" 2>/dev/null || true
}

# judge NAME PREFIX BOOT Q_RC LAST: the verdict of one test in one boot,
# from the files PREFIX.{console,results,qemu-debug}.log. LAST=1 for the
# boot's last test, which also answers for a VM that did not end cleanly. Adds to J_REASONS, sets
# J_SKIP, J_SPLAT and J_CAUGHT (first splat line), J_CRASHED (the test
# ended its boot with crash_now, as a vm-boots test does).
judge() {
	local name="$1" prefix="$2" boot="$3" q_rc="$4" last="$5" result rc
	J_CRASHED=0
	# The console, and the whole kernel log the guest dumps at the end of
	# the boot (a line the console dropped is still there).
	[ -e "$prefix.dmesg.log" ] || dmesg_section "$prefix.results.log" >"$prefix.dmesg.log"
	grep -h -F -f "$PATTERNS" "$prefix.console.log" "$prefix.dmesg.log" >"$prefix.splats" 2>/dev/null || true
	if [ -s "$prefix.splats" ]; then
		J_SPLAT=1
		[ -n "$J_CAUGHT" ] || J_CAUGHT="$(head -n1 "$prefix.splats" | cut -c1-120)"
	fi
	result="$(grep -m1 "^RESULT $name " "$prefix.results.log" 2>/dev/null || true)"
	rc="$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$result")"

	[ -z "$result" ] || [ "$last" -eq 1 ] || q_rc=0
	if [ -n "$STOPPED_ON" ] && [ "$q_rc" -ne 0 ]; then
		J_REASONS+=("stopped: /$VM_STOP_ON/ seen $(secs "$STOPPED_ON")s into the boot (VM_STOP_ON), QEMU killed (boot $boot)")
	elif [ "$q_rc" -eq 124 ] || [ "$q_rc" -eq 137 ]; then
		J_REASONS+=("timeout: the VM did not finish within its time ($((T_HOST_TO - BOOT_SLACK))s + ${BOOT_SLACK}s), QEMU killed (boot $boot)")
	elif [ "$q_rc" -ne 0 ]; then
		J_REASONS+=("QEMU failed with exit status $q_rc: $(tail -n 3 "$prefix.qemu.log" 2>/dev/null | tr '\n' ' ')")
	elif grep -q "Triple fault" "$prefix.qemu-debug.log" 2>/dev/null; then
		J_REASONS+=("the guest triple-faulted: a CPU reset without a kernel message (registers in $prefix.qemu-debug.log)")
	elif grep -q "bufcache-test: INIT FAILED" "$prefix.console.log"; then
		J_REASONS+=("guest init failed: $(grep -m1 -o 'INIT FAILED.*' "$prefix.console.log")")
	elif [ -z "$result" ]; then
		if grep -q "bufcache-test: CRASH $name" "$prefix.console.log" && [ "$boot" -lt "$T_BOOTS" ]; then
			J_CRASHED=1
		elif grep -q "bufcache-test: CRASH $name" "$prefix.console.log"; then
			J_REASONS+=("the test crashed the VM in its last boot ($boot of $T_BOOTS)")
		elif ! grep -q "bufcache-test: BEGIN $name " "$prefix.console.log"; then
			J_REASONS+=("the test never started: the VM ended before (boot $boot; an earlier test of the same boot may have crashed it)")
		else
			J_REASONS+=("no RESULT line: the VM ended before the test did (boot $boot; see the end of the kernel log)")
		fi
	elif [[ "$result" == *" timeout="* ]]; then
		J_REASONS+=("timeout: the test ran longer than its ${T_TIMEOUT}s and was killed in the guest (boot $boot)")
	elif [[ "$result" == *" left-behind"* ]]; then
		J_REASONS+=("the test passed but left behind: $(awk -v b="==== OUTPUT END $name" -v r="RESULT $name " '
			$0 == b { on = 1; next } index($0, r) == 1 { on = 0 }
			on && sub(/^left behind: /, "") { printf "%s%s", n++ ? ", " : "", $0 }' "$prefix.results.log")")
	elif [[ "$result" == "RESULT $name SKIP "* ]]; then
		J_SKIP=1
	elif [[ "$result" != "RESULT $name PASS "* ]]; then
		J_REASONS+=("the test failed with exit status ${rc:-?} (boot $boot)")
	fi
}

# times_row NAME VERDICT TEST_S: one row of $VM_TIMES_CSV (if set): the
# boot (unit) the test ran in, the test, its verdict, its own seconds, the
# whole boot's seconds (QEMU start to end, shared by a group's tests), the
# seconds from QEMU start to the boot's first test, and $VM_TIMES_TAG
# (what ran it: the VM tests, a negative control). The test's own output
# (its log lines carry the seconds since it started: where its time goes)
# is kept beside the CSV, in logs/TAG-NAME.log, for a passing test too.
times_row() {
	[ -n "${VM_TIMES_CSV:-}" ] || return 0
	printf '%s,%s,%s,%s,%s,%s,%s\n' "$CUR_UNIT" "$1" "$2" "$3" "$(secs "${B_MS:-0}")" \
		"$([ -n "${B_START_MS:-}" ] && secs "$B_START_MS" || echo -)" "${VM_TIMES_TAG:-vm}" >>"$VM_TIMES_CSV"
	local d tag="${VM_TIMES_TAG:-vm}"
	d="$(dirname "$VM_TIMES_CSV")/logs"
	mkdir -p "$d"
	test_output "$prefix.results.log" "$1" >"$d/${tag// /-}-$1.log" 2>/dev/null || true
}

# verdict NAME PREFIX TIMES [TEST_S]: count and report a test judged by
# judge() (TEST_S: its own seconds, for times_row).
verdict() {
	local name="$1" prefix="$2" times="$3" test_s="${4:-?}"
	if [ "$T_EXPECT" = splat ]; then
		[ "$J_SPLAT" -eq 1 ] || J_REASONS+=("expected a kernel splat (vm-expect: splat), none was seen")
		# vm-expect-each: every one of these kinds must have been caught.
		local want w
		IFS='|' read -r -a want <<<"$T_EXPECT_EACH"
		for w in "${want[@]}"; do
			[ -z "$w" ] || grep -qF -- "$w" "$prefix.splats" 2>/dev/null ||
				J_REASONS+=("expected splat '$w' (vm-expect-each) was not caught")
		done
	elif [ "$J_SPLAT" -eq 1 ]; then
		J_REASONS+=("kernel splat: $J_CAUGHT")
	fi
	if [ "${#J_REASONS[@]}" -gt 0 ]; then
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$name")
		log "FAIL $name ($times): $(printf '%s; ' "${J_REASONS[@]}" | sed 's/; $//')"
		show_failure "$name" "$prefix"
		times_row "$name" FAIL "$test_s"
	elif [ "$J_SKIP" -eq 1 ]; then
		SKIPPED=$((SKIPPED + 1))
		log "SKIP $name ($times): $(test_output "$prefix.results.log" "$name" | tail -n1)"
		times_row "$name" SKIP "$test_s"
	else
		PASSED=$((PASSED + 1))
		times_row "$name" PASS "$test_s"
		if [ "$T_EXPECT" = splat ]; then
			log "PASS $name ($times), expected splat caught: $J_CAUGHT"
		else
			log "PASS $name ($times)"
		fi
		# The figures a test reports (lines "[name] FIGURE: ..."), kept
		# in this log even when the run's own logs are deleted.
		test_output "$prefix.results.log" "$name" | sed -n 's/^\[[^]]*\] FIGURE: /  figure: /p' >&2
	fi
}

# A test's own log files: NAME.*, or NAME.2.* for a test named twice in
# one run.
log_base() {
	local base="$1" n=1
	while compgen -G "$RUN/$base.*log" >/dev/null; do
		n=$((n + 1))
		base="$1.$n"
	done
	printf '%s\n' "$base"
}

# run_test NAME: one test in boots of its own (vm-boots of them).
run_test() {
	local name="$1" boot prefix total=0 b_started="" base el
	load_test "$name"
	base="$(log_base "$name")"
	J_REASONS=() J_SKIP=0 J_SPLAT=0 J_CAUGHT=""
	DISK_IMG="$RUN/$base.disk.img"
	if [ -n "$T_DISK" ]; then
		rm -f "$DISK_IMG"
		truncate -s "$T_DISK" "$DISK_IMG" || die "cannot create $DISK_IMG"
	fi
	T_HOST_TO=$((T_TIMEOUT + BOOT_SLACK))
	for ((boot = 1; boot <= T_BOOTS; boot++)); do
		prefix="$RUN/$base"
		[ "$T_BOOTS" -eq 1 ] || prefix="$RUN/$base.boot$boot"
		if [ "$T_BOOTS" -eq 1 ]; then
			log "booting $name (mem $T_MEM, timeout ${T_TIMEOUT}s${T_DISK:+, disk $T_DISK}, $ACCEL_NAME)..."
		else
			log "booting $name, boot $boot/$T_BOOTS (mem $T_MEM, timeout ${T_TIMEOUT}s${T_DISK:+, disk $T_DISK}, $ACCEL_NAME)..."
		fi
		run_boot "$name" "$boot" "$prefix" "$T_HOST_TO"
		total=$((total + B_MS))
		[ -n "$b_started" ] || [ -z "$B_START_MS" ] || b_started="$(secs "$B_START_MS")s"
		judge "$name" "$prefix" "$boot" "$Q_RC" 1
		[ "$J_CRASHED" -eq 0 ] || log "  boot $boot ended by crash_now, as planned ($(secs "$B_MS")s)"
		if [ "${#J_REASONS[@]}" -gt 0 ] || [ "$J_SKIP" -eq 1 ]; then break; fi
	done
	CUR_UNIT="$base"
	B_MS="$total"
	el="$(sed -n "s/^RESULT $name [A-Z]* rc=[0-9]* elapsed=\([0-9.]*\)s.*/\1/p" "$prefix.results.log" 2>/dev/null | head -n1)"
	verdict "$name" "$prefix" "$(secs "$total")s, test started at ${b_started:-never}" "${el:-$(secs "$total")}"
}

# run_group NAME...: tests marked "# vm-group: yes" that need the same VM
# (memory, kernel command line, environment, leak checks) run one after the
# other in one boot; the guest puts the VM back as it was after each one
# (and fails a test that left devices, mounts or cgroups behind). Each test
# keeps its verdict, its output and its part of the kernel log: from its
# BEGIN marker to the next test's (from the boot's start for the first).
run_group() {
	local names=("$@") t i next spec="" sum=0 gname prefix tprefix el
	GROUP_N=$((GROUP_N + 1))
	gname="$(log_base "group$GROUP_N")"
	prefix="$RUN/$gname"
	for t in "${names[@]}"; do
		load_test "$t"
		spec+="${spec:+,}$t:$T_TIMEOUT"
		sum=$((sum + T_TIMEOUT))
	done
	load_test "${names[0]}"
	T_HOST_TO=$((sum + BOOT_SLACK))
	log "booting $gname: ${names[*]} (mem $T_MEM, timeouts ${sum}s in all, $ACCEL_NAME)..."
	run_boot "$spec" 1 "$prefix" "$T_HOST_TO"
	log "  $gname: the boot took $(secs "$B_MS")s, first test started at $([ -n "$B_START_MS" ] && echo "$(secs "$B_START_MS")s" || echo never)"
	for i in "${!names[@]}"; do
		t="${names[$i]}"
		next="${names[$((i + 1))]:-}"
		load_test "$t"
		tprefix="$RUN/$(log_base "$t")"
		awk -v b="bufcache-test: BEGIN $t " -v e="${next:+bufcache-test: BEGIN $next }" -v first="$i" '
			BEGIN { on = (first == 0) }
			index($0, b) { on = 1 }
			e != "" && index($0, e) { on = 0 }
			on' "$prefix.console.log" >"$tprefix.console.log" 2>/dev/null || true
		dmesg_section "$prefix.results.log" | awk -v b="bufcache-test: BEGIN $t " -v e="${next:+bufcache-test: BEGIN $next }" -v first="$i" '
			BEGIN { on = (first == 0) }
			index($0, b) { on = 1 }
			e != "" && index($0, e) { on = 0 }
			on' >"$tprefix.dmesg.log" 2>/dev/null || true
		cp "$prefix.results.log" "$tprefix.results.log" 2>/dev/null || : >"$tprefix.results.log"
		ln -sf "$gname.qemu-debug.log" "$tprefix.qemu-debug.log"
		ln -sf "$gname.qemu.log" "$tprefix.qemu.log"
		J_REASONS=() J_SKIP=0 J_SPLAT=0 J_CAUGHT=""
		judge "$t" "$tprefix" 1 "$Q_RC" "$([ -n "$next" ] && echo 0 || echo 1)"
		el="$(sed -n "s/^RESULT $t [A-Z]* rc=[0-9]* elapsed=\([0-9.]*s\).*/\1/p" "$tprefix.results.log" | head -n1)"
		CUR_UNIT="$gname"
		verdict "$t" "$tprefix" "${el:-?} in $gname" "${el%s}"
	done
}

# The boots: a test alone, or vm-group tests that need the same VM
# (memory, kernel command line, leak checks, environment) together, at
# most GROUP_MAX per boot, in the place of the first of them.
UNITS=()
declare -A OPEN_UNIT=()
for t in "${TESTS[@]}"; do
	load_test "$t"
	if [ "$T_GROUP" = yes ] && [ "$NO_GROUP" -eq 0 ]; then
		key="$T_MEM|$T_CMDLINE|$T_KMEMLEAK|$T_ENV"
		u="${OPEN_UNIT[$key]:-}"
		if [ -n "$u" ] && [ "$(wc -w <<<"${UNITS[$u]}")" -lt "$GROUP_MAX" ]; then
			UNITS[u]+=" $t"
			continue
		fi
		OPEN_UNIT[$key]="${#UNITS[@]}"
	fi
	UNITS+=("$t")
done

step "running ${#TESTS[@]} test(s) in ${#UNITS[@]} boot(s) on $RELEASE; logs in $RUN"
for u in "${UNITS[@]}"; do
	read -r -a members <<<"$u"
	if [ "${#members[@]}" -eq 1 ]; then
		run_test "${members[0]}"
	else
		run_group "${members[@]}"
	fi
done

# Bulky files go unless --keep; a run without failures goes entirely.
if [ "$KEEP" -eq 0 ]; then
	rm -f "$INITRD" "$RUN"/*.disk.img
	if [ "$FAILED" -eq 0 ]; then
		rm -rf "$RUN"
		[ -e "$RESULTS_ROOT/latest" ] || rm -f "$RESULTS_ROOT/latest"
	fi
fi
# Keep the newest $KEEP_RUN_DIRS run directories.
find "$RESULTS_ROOT" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort -r |
	tail -n +$((KEEP_RUN_DIRS + 1)) | while IFS= read -r d; do rm -rf "${RESULTS_ROOT:?}/$d"; done

[ "$FAILED" -eq 0 ] || log "failed: ${FAILED_NAMES[*]}"
[ ! -d "$RUN" ] || log "logs: $RUN"
summary="$PASSED passed, $FAILED failed"
[ "$SKIPPED" -eq 0 ] || summary+=", $SKIPPED skipped"
echo "$summary"
[ "$FAILED" -eq 0 ]
