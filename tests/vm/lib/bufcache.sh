# SPDX-License-Identifier: GPL-2.0
# bufcache-specific helpers for the guest tests. Source after common.sh.

# Status fields in order (Documentation/bufcache.rst, rust/cache/status.rs).
BC_FIELDS=(blocks_cached dirty_blocks bytes_used cap_bytes read_hits
	read_misses write_hits write_misses writebacks evictions readahead
	errors mode writeback_bios writeback_errors fill_errors flushes discards
	writing_blocks full_waits shrink_scans shrink_freed shrink_skip_gfp
	shrink_skip_lock reserve_in_use blocking_allocs shrink_scans_nofs
	shrink_scans_noio scope_captured scope_replayed cg_entries cg_found
	cg_created_locked cg_created_trylock cg_trylock_contended cg_atomic_failed
	cg_deferred cg_root_fallback nowait_again noslot_errors
	unwritten_at_suspend spare_rounds bypassed_reads assoc_again
	bypassed_writes fence_waits durable_waits)

# dm_status NAME: the status line of NAME, from the static bc-dmctl (a
# status read is a few times cheaper than dmsetup's under TCG), else dmsetup.
dm_status() {
	if [ -x /tests/tools/bc-dmctl ]; then
		/tests/tools/bc-dmctl status "$1"
	else
		dmsetup status "$1"
	fi
}

# dmc_start: one bc-dmctl coprocess (tests/tools/bc-dmctl.c: the ioctls
# dmsetup makes, and O_DIRECT writes and checks, from one process) for a
# test that makes hundreds of them. dmc REQUEST sends one request and sets
# reply to its answer; dmc_stop ends the coprocess.
dmc_start() {
	[ -x /tests/tools/bc-dmctl ] || die "/tests/tools/bc-dmctl missing (tests/harness/mkinitramfs.sh builds tests/tools/*.c)"
	coproc DMC { exec /tests/tools/bc-dmctl; }
	DMC_IN=${DMC[1]} DMC_OUT=${DMC[0]} DMC_PROC=$DMC_PID
}
dmc() {
	printf '%s\n' "$1" >&"$DMC_IN"
	IFS= read -r reply <&"$DMC_OUT" || die "bc-dmctl did not answer '$1'"
	[[ "$reply" != bad* ]] || die "bc-dmctl cannot parse '$1'"
}
# dmc_ok REQUEST: dmc, and the test dies unless the reply is "ok".
dmc_ok() {
	dmc "$1"
	[ "$reply" = ok ] || die "bc-dmctl '$1': $reply"
}
dmc_stop() {
	exec {DMC_IN}>&-
	wait "$DMC_PROC" || die "bc-dmctl exited with status $?"
}

# bc_field NAME FIELD: one status field of the bufcache device NAME.
bc_field() {
	local name="$1" field="$2" i line w
	line="$(dm_status "$name")" || die "dmsetup status $name failed"
	for i in "${!BC_FIELDS[@]}"; do
		if [ "${BC_FIELDS[$i]}" = "$field" ]; then
			# "<start> <len> bufcache f1 f2 ..." (split by bash: no awk
			# process per read)
			read -r -a w <<<"$line"
			printf '%s\n' "${w[$((i + 3))]}"
			return 0
		fi
	done
	die "bc_field: unknown field '$field'"
}

# bc_status NAME: the status as "field=value ..." for logs.
bc_status() {
	local name="$1" line i out=""
	line="$(dm_status "$name")" || die "dmsetup status $name failed"
	read -r -a w <<<"$line"
	for i in "${!BC_FIELDS[@]}"; do
		out+="${BC_FIELDS[$i]}=${w[$((i + 3))]:-?} "
	done
	echo "$out"
}

# bc_create NAME ORIGIN BLOCK_SIZE [OPT...]: create a bufcache device over
# ORIGIN covering all of it; echo /dev/dm-N. Options are counted for you.
bc_create() {
	local name="$1" origin="$2" bs="$3" sz
	shift 3
	sz="$(blockdev --getsz "$origin")" || die "blockdev --getsz $origin failed"
	sz=$((sz / (bs / 512) * (bs / 512)))
	if [ $# -gt 0 ]; then
		dm_create "$name" "0 $sz bufcache $origin $bs $# $*"
	else
		dm_create "$name" "0 $sz bufcache $origin $bs"
	fi
}

# fio_write DEV OFFSET SIZE [FIO-ARG...]: write SIZE bytes at OFFSET with
# crc32c verify headers, verify them through DEV, fail on any error.
fio_write() {
	local dev="$1" off="$2" size="$3"
	shift 3
	run fio --output-format=terse --terse-version=3 --name=w --filename="$dev" \
		--rw=write --bs=64k --offset="$off" --size="$size" --direct=1 \
		--ioengine=psync --verify=crc32c --verify_fatal=1 --do_verify=1 "$@" >/dev/null
}

# fio_verify DEV OFFSET SIZE [FIO-ARG...]: verify what fio_write wrote.
fio_verify() {
	local dev="$1" off="$2" size="$3"
	shift 3
	run fio --output-format=terse --terse-version=3 --name=w --filename="$dev" \
		--rw=write --bs=64k --offset="$off" --size="$size" --direct=1 \
		--ioengine=psync --verify=crc32c --verify_fatal=1 --verify_only "$@" >/dev/null
}

# fio_verifies DEV OFFSET SIZE: like fio_verify, but returns fio's status
# instead of failing the test.
fio_verifies() {
	local dev="$1" off="$2" size="$3"
	fio --output-format=terse --terse-version=3 --name=w --filename="$dev" \
		--rw=write --bs=64k --offset="$off" --size="$size" --direct=1 \
		--ioengine=psync --verify=crc32c --verify_fatal=1 --verify_only >/dev/null 2>&1
}

# sha_range DEV OFFSET_MB COUNT_MB: sha256 of a range, read with O_DIRECT.
sha_range() {
	dd if="$1" bs=1M skip="$2" count="$3" iflag=direct status=none | sha256sum | cut -d' ' -f1
}

# expect_fail WHAT CMD...: CMD must fail.
expect_fail() {
	local what="$1"
	shift
	if "$@" 2>/tmp/expect_fail.err; then
		die "$what: '$*' succeeded but should have failed"
	fi
	log "$what: refused as expected ($(head -c 200 /tmp/expect_fail.err | tr '\n' ' '))"
}

# bc_load [PARAM=VALUE...]: load dm_bufcache with these parameters plus
# those in $BC_MODPARAMS (set by scripts/negative-controls.sh to turn on a
# test-only knob), and check that they took effect.
bc_load() {
	local p extra=()
	# Comma separated on the kernel command line (no spaces there).
	IFS=, read -r -a extra <<<"${BC_MODPARAMS:-}"
	for p in "$@" "${extra[@]}"; do
		case "$p" in
		test_*) modinfo -F parm dm_bufcache | grep -q "^${p%%=*}:" ||
			die "dm_bufcache has no parameter ${p%%=*}: this is the plain module; the tests need the test flavour (make BUFCACHE_TEST=1)" ;;
		esac
	done
	run modprobe dm-bufcache "$@" "${extra[@]}"
	for p in "$@" "${extra[@]}"; do
		[ -f "/sys/module/dm_bufcache/parameters/${p%%=*}" ] || continue
		assert_eq "$(cat "/sys/module/dm_bufcache/parameters/${p%%=*}")" "${p#*=}" "module parameter ${p%%=*}"
	done
	[ -z "${BC_MODPARAMS:-}" ] || log "NEGATIVE CONTROL: loaded with $BC_MODPARAMS"
}

# bc_setup MIB [PARAM=VALUE...]: the usual start of a test. Loads
# dm_bufcache (bc_load, with these module parameters) and makes a MIB MiB
# loop device over a file in /tmp, the origin; sets $loop (its path) and
# $sz (its size in 512-byte sectors, the length of a whole-device table).
bc_setup() {
	local mib="$1"
	shift
	bc_load "$@"
	loop="$(make_loop "$mib")"
	sz="$(blockdev --getsz "$loop")"
}

# failing_origin WRITE_DELAY_MS: after bc_setup, the failing origin of
# the data-safety tests: o1 is $loop with blocks 64..99 (4 KiB: sectors
# 512..799) mapped to "error", o2 is dm-delay over o1 that delays writes
# by WRITE_DELAY_MS (reads not); sets $o1 and $o2 to their paths. heal
# maps o1 whole to $loop again. Register it with "on_cleanup heal" after
# the cache is made (cleanups run newest first): whatever happens, the
# cache can then write back before it is removed.
failing_origin() {
	printf '0 512 linear %s 0\n512 288 error\n800 %s linear %s 800\n' "$loop" $((sz - 800)) "$loop" >/tmp/o1.err
	dm_create_file o1 /tmp/o1.err >/dev/null
	o1="$(dm_dev o1)"
	o2="$(dm_create o2 "0 $sz delay $o1 0 0 $o1 0 $1")"
}
# heal_linear NAME DEV: the device NAME (an origin made to fail by a
# reload) maps the whole of DEV again, linearly, and resumes.
heal_linear() {
	dmsetup reload "$1" --table "0 $(blockdev --getsz "$2") linear $2 0" && dmsetup resume "$1"
}
heal() { heal_linear o1 "$loop"; }

# nullb_make NAME MIB LATENCY_NS: a null_blk device /dev/NAME of MIB MiB,
# memory-backed (it reads back what was written, zeroes elsewhere), every
# request completed by a high-resolution timer LATENCY_NS after it came
# (irqmode 2): an exact latency, not rounded to the tick as dm-delay's.
# Made through configfs; removed at exit. Echoes /dev/NAME.
nullb_make() {
	local name="$1" mib="$2" ns="$3" d="/sys/kernel/config/nullb/$1" i
	# (run's trace to stderr: stdout is the device's path)
	if ! grep -qs '^[^ ]* /sys/kernel/config configfs ' /proc/mounts; then
		run mount -t configfs configfs /sys/kernel/config >&2
		on_cleanup umount /sys/kernel/config
	fi
	if [ ! -d /sys/kernel/config/nullb ]; then
		run modprobe null_blk nr_devices=0 >&2
		on_cleanup rmmod null_blk
	fi
	run mkdir "$d" >&2
	on_cleanup rmdir "$d"
	{ echo "$mib" >"$d/size" && echo 1 >"$d/memory_backed" && echo 2 >"$d/irqmode" &&
		echo "$ns" >"$d/completion_nsec" && echo 1 >"$d/power"; } ||
		die "null_blk $name: configfs refused a setting"
	on_cleanup sh -c "echo 0 >'$d/power'"
	for i in $(seq 1 50); do
		[ -b "/dev/$name" ] && break
		sleep 0.1
	done
	[ -b "/dev/$name" ] || die "null_blk $name: no /dev/$name"
	echo "/dev/$name"
}

# mem_kb FIELD: a /proc/meminfo value in KiB.
mem_kb() {
	awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo
}

# cg_setup PARENT CONTROLLERS: make /sys/fs/cgroup/PARENT whose children
# get CONTROLLERS (e.g. "+io +memory"); echo its path.
cg_setup() {
	local p="/sys/fs/cgroup/$1"
	grep -qw io /sys/fs/cgroup/cgroup.controllers || die "no io controller in cgroup2"
	echo "+io +memory" >/sys/fs/cgroup/cgroup.subtree_control || die "cannot enable io/memory"
	mkdir -p "$p"
	echo "$2" >"$p/cgroup.subtree_control" || die "cannot enable '$2' in $p"
	echo "$p"
}

# in_cg CGROUP_DIR CMD...: run CMD inside the cgroup.
in_cg() {
	local cg="$1"
	shift
	(
		echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
		exec "$@"
	)
}

# cg_io_max CGROUP_DIR DEV LIMITS [READER_CG]: write "MAJ:MIN LIMITS" to
# CGROUP_DIR/io.max. The kernel's blkg_conf_prep() allocates with
# GFP_KERNEL (radix_tree_preload) under q->blkcg_mutex when the cgroup has
# no blkg on DEV yet, while blkcg_activate_policy() takes that mutex with
# the queue frozen; lockdep reports the cycle (blkcg_mutex -> fs_reclaim ->
# q_usage_counter -> blkcg_mutex) whenever the per-CPU preload pool needs
# refilling, which made cgroup_throttle fail now and then on a splat that
# is not ours. A direct read of DEV from READER_CG (CGROUP_DIR itself by
# default, or a child of it: the walk creates the parents' blkgs too)
# creates the blkgs first, on the I/O path and under no mutex, so the
# io.max write finds them and allocates nothing.
cg_io_max() {
	local cg="$1" dev="$2" limits="$3" reader="${4:-$1}" mm
	mm="$(lsblk -dno MAJ:MIN "$dev" | tr -d ' ')"
	[ -n "$mm" ] || die "cg_io_max: no MAJ:MIN for $dev"
	in_cg "$reader" dd if="$dev" of=/dev/null bs=4096 count=1 iflag=direct status=none ||
		die "cg_io_max: cannot read $dev from $reader"
	echo "$mm $limits" >"$cg/io.max" || die "cannot set io.max of $cg to '$mm $limits'"
}

# cg_io CGROUP_DIR MAJ:MIN FIELD: a field (rbytes, wbytes, ...) of the
# cgroup's io.stat line for a device; 0 if there is none.
cg_io() {
	local v
	v="$(awk -v d="$2" -v f="$3=" '$1 == d { for (i = 2; i <= NF; i++) if (index($i, f) == 1) print substr($i, length(f) + 1) }' "$1/io.stat")"
	echo "${v:-0}"
}

# dev_bytes DEV read|write: bytes the block device completed so far.
dev_bytes() {
	local n
	n="$(basename "$1")"
	case "$2" in
	read) awk '{ print $3 * 512 }' "/sys/block/$n/stat" ;;
	write) awk '{ print $7 * 512 }' "/sys/block/$n/stat" ;;
	esac
}

# within PCT GOT WANT: GOT within PCT percent of WANT.
within() {
	local pct="$1" got="$2" want="$3" d
	d=$((got - want))
	[ "$d" -lt 0 ] && d=$((-d))
	[ $((d * 100)) -le $((pct * want)) ]
}

# bg_start NAME CMD...: run CMD in the background; its exit status goes to
# /tmp/NAME.rc and its output to /tmp/NAME.out.
bg_start() {
	local n="$1"
	shift
	rm -f "/tmp/$n.rc"
	(
		set +e
		"$@" >"/tmp/$n.out" 2>&1
		echo $? >"/tmp/$n.rc.tmp"
		mv "/tmp/$n.rc.tmp" "/tmp/$n.rc"
	) &
}

# bg_wait NAME SECONDS: wait up to SECONDS for NAME; echo its exit status.
# Returns 1 (and echoes nothing) if it is still running.
bg_wait() {
	local n="$1" deadline=$((SECONDS + $2))
	while [ ! -f "/tmp/$n.rc" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
	cat "/tmp/$n.rc"
}

# dm_create_file NAME FILE: dmsetup create from a (multi-line) table file.
dm_create_file() {
	printf '+ dmsetup create %s %s: %s\n' "$1" "$2" "$(tr '\n' ';' <"$2")" >&2
	dmsetup create "$1" "$2" || die "dmsetup create $1 $2 failed"
	on_cleanup _dm_remove "$1"
	dm_dev "$1"
}

sha_of() { sha256sum | cut -d' ' -f1; }
