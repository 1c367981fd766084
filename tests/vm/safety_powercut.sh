#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Power cut, replayed: dm-log-writes sits under the cache and logs each
# write the cache sends to the origin once it is on stable media (a plain
# write or a discard at the next flush, a FUA write at once), so every
# prefix of the log is a state the origin could be left in by a power cut.
# The project's replay tool (tests/tools/bc-logreplay.c; its header has
# the rules) replays the log and checks every logged write (no write of a
# block older than what the log already put there or than what was
# acknowledged durable, even if a fresh write follows in its flush group;
# none torn; the "superseded" exception of log-writes' FUA-first order
# only within its bounds) and every flush, FUA and mark point (everything
# acknowledged before it is there: lost = 0; every block whole).
#
# 1. Block passes. Two writers (disjoint halves of a 16 MiB device) write
#    stamped units at random through a 1 MiB writeback cache of 4 KiB
#    blocks (evictions and background writeback all the time), every 8th
#    write O_DSYNC (FUA), and fsync after each round; after each O_DSYNC
#    write and each fsync they put a mark into the log (the message to
#    dm-log-writes, sent by the tool itself) and record what is
#    acknowledged. Every operation that flushes runs under a lock the two
#    writers share (lock=, the tool's header: "Two flushes in flight"), so
#    one flush at a time is in flight at log-writes and its log stays a
#    state a device could be in. The replayed end state must equal the
#    origin byte for byte (a check of the replay itself). Each pass adds a
#    case:
#    direct    4 KiB writes over the origin; writer 1 ends every 5th round
#              with a suspend and resume of the cache (DM_DEV_SUSPEND, as
#              dmsetup makes it; every second one --noflush) instead of
#              an fsync, and acknowledges all it wrote at the suspend:
#              every suspend writes back and flushes (its O_DSYNC write is
#              the 4th of each 8, as in wt, so that the last 4 writes of
#              a round have only the suspend: writer 1 holds the lock from
#              that write to the resume, so no flush of writer 2 makes
#              them durable first; the control test_noflush_keeps_dirty=1
#              must fail it with LOST at a --noflush suspend).
#    delayed   dm-delay (5 ms) under log-writes, so that writebacks, FUA
#              writes and flushes overlap; multi-block bios (4, 16 and
#              64 KiB writes across cache blocks) and discards (every
#              16th operation, 4-64 KiB, announced by a mark, then
#              fsync'ed and acknowledged as zeroes: discarded data that
#              comes back is lost or stale).
#    concurrent  the delayed workload without the lock: the two writers'
#              flushes overlap (a flush beside another writer's flush, FUA
#              write or discard), and each writer marks before every
#              operation that flushes; the check (-o) applies an
#              acknowledgement made while the other writer's operation is
#              in flight once that one is acknowledged too (its flush may
#              carry the acknowledged writes). Missing flushes still fail
#              it (test_skip_origin_flush=1, test_flush_fast_always=1).
#    partial   512-byte units on the 4 KiB cache: writes of 512 B to
#              16 KiB at any sector (read-modify-write of cache blocks,
#              bios across them), every unit stamped and checked on its
#              own, and 4 KiB-aligned discards.
#    wt        the cache in writethrough mode, 4-64 KiB writes: a round's
#              acknowledgement follows an fsync of the origin device
#              (log-writes) alone, not of the cache: a completed
#              writethrough write is on the origin, so the origin's flush
#              makes it durable. The O_DSYNC write is the 4th of each 8
#              (the block layer follows it with a flush of the cache,
#              which would cover the writes before it), so a round's
#              last 4 writes have only the origin's flush. (--env
#              POWERCUT_WT_MODE=writeback runs this pass in writeback
#              mode: it must fail with LOST.)
#    fua       after the ext4 pass, only the O_DSYNC writes acknowledged,
#              with the test-only test_skip_origin_flush=1: no flush
#              reaches the origin, so each acknowledged block must have
#              gone out with FUA by itself (the block layer's flush after
#              an O_DSYNC write would otherwise hide a FUA write that is
#              not durable).
# 2. ext4: mkfs on the cache, then small files, each written and fsync'ed,
#    with a mark after each fsync; after the fsync each file's blocks are
#    mapped (FIEMAP) and acknowledged by their hash, until the file is
#    removed again. Every logged write of such a block and its state at
#    every point must hold the fsync'ed bytes. At every flush point (and
#    the end) after the mkfs mark whose image changed since the last one,
#    a copy of the replayed image gets its journal replayed (e2fsck -E
#    journal_only) and must then be clean (e2fsck -fn), and every file
#    fsync'ed before the last mark replayed must read back intact through
#    the file system (debugfs), except one removed before that mark; one
#    whose removal a later fsync committed must be gone.
# The figures per pass: points, writes checked, bytes verified, lost,
# torn, stale. Debugging: --env POWERCUT_PASSES=partial,wt runs only those
# passes, POWERCUT_REPEAT=N repeats the block passes; the passes partialnc
# and delayednc (not run by default) run those workloads on log-writes
# without the cache; a failed check prints the history of its first
# failing block (-t) and the log's entries around it (-T).
# vm-timeout: 600
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

TOOL=/tests/tools/bc-logreplay
[ -x "$TOOL" ] || die "$TOOL missing (built by tests/harness/mkinitramfs.sh)"
bc_load
grep -qw log-writes <(dmsetup targets) || modprobe dm-log-writes 2>/dev/null || true
grep -qw log-writes <(dmsetup targets) || die "no log-writes target (CONFIG_DM_LOG_WRITES)"
MB=$((1 << 20))
WT_MODE="${POWERCUT_WT_MODE:-writethrough}"
# --env POWERCUT_PASSES=partial,wt runs only these passes, and
# POWERCUT_REPEAT=N the block passes N times each (debugging).
PASSES=" ${POWERCUT_PASSES:-direct delayed concurrent partial wt ext4 fua} "
PASSES="${PASSES//,/ }"
for p in $PASSES; do
	case "$p" in
	direct | delayed | partial | partialnc | delayednc | concurrent | wt | ext4 | fua) ;;
	*) die "POWERCUT_PASSES: no pass '$p'" ;;
	esac
done
REPEAT="${POWERCUT_REPEAT:-1}"
# POWERCUT_NOLOCK=1 (debugging): the writers' flushes are not serialized,
# and two flushes in flight can make the log show states no device can be
# in (the tool's header, "Two flushes in flight"): failures are expected.
LOCK=("lock=/tmp/@N@.lock")
[ "${POWERCUT_NOLOCK:-0}" = 0 ] || LOCK=()
pass() { [[ "$PASSES" == *" $1 "* ]]; }

# free_loop DEV: detach a loop device of make_loop and delete its file now
# (the passes' logs would otherwise hold guest RAM until the test ends).
free_loop() {
	local f
	f="$(losetup -n -O BACK-FILE "$1")"
	run losetup -d "$1"
	rm -f "$f"
}

# checked NAME: the figures of a check's output, and the assertions that
# its cases really happened.
checked() {
	local n="$1" l
	while read -r l; do
		case "$l" in
		replayed* | *older\ plain* | *acknowledgements\ waited*) figure "$n: $l" ;;
		*) log "$n: $l" ;;
		esac
	done <"/tmp/$n.check"
}

# trace NAME UNIT CHECK-ARG...: after a failed check, the history of its
# first failing unit and of the first unit of its 4 KiB block, from a
# second replay (-t).
trace() {
	local n="$1" unit="$2" u
	shift 2
	u="$(grep -Eom1 '(STALE|LOST|TORN): block [0-9]+|first at block [0-9]+' "/tmp/$n.check" | grep -Eo '[0-9]+$')" || return 0
	"$TOOL" check -t "$u" -t $((u - u % (4096 / unit))) "$@" 2>&1 | grep '^TRACE' | head -n 120 >"/tmp/$n.trace" || true
	while read -r l; do log "$n: $l"; done <"/tmp/$n.trace"
	# The log's entries from the unit's last discard announced before the
	# first failure to its logged discard, else around the failure.
	local f a b
	f="$(grep -Eom1 '(LOST|STALE|TORN): .*entry [0-9]+' "/tmp/$n.check" | grep -Eo 'entry [0-9]+' | head -n 1 | grep -Eo '[0-9]+')" || return 0
	a="$(awk -v f="$f" '/acknowledges a discard/ && $5 + 0 < f + 0 { a = $5 } END { print a }' "/tmp/$n.trace")"
	if [ -n "$a" ]; then
		b="$(awk -v a="$a" '/ discard of / && $5 + 0 > a + 0 { print $5; exit }' "/tmp/$n.trace")"
		b="${b:-$((a + 150))}"
		[ "$b" -le $((a + 150)) ] || b=$((a + 150))
	else
		a=$((f > 40 ? f - 40 : 0)) b=$((f + 40))
	fi
	"$TOOL" check -T "$a:$b" "$@" 2>&1 | grep '^ENTRY' | while read -r l; do log "$n: $l"; done || true
}

# blocks NAME DELAY_MS UNIT MODE W1OPTS [WORK-OPTION...]: one block pass;
# UNIT is the tool's unit (4096, or 512 for partial blocks), MODE the
# cache's, W1OPTS more options for writer 1 ("-": none).
blocks() {
	local n="$1" delay="$2" unit="$3" mode="$4" w1="$5" origin logd sz under lw dm i rc half opts
	local t0=$SECONDS tw
	shift 5
	origin="$(make_loop 16)"
	logd="$(make_loop 160)"
	sz="$(blockdev --getsz "$origin")"
	under="$origin"
	[ "$delay" = 0 ] || under="$(dm_create "${n}d" "0 $sz delay $origin 0 $delay")"
	lw="$(dm_create "${n}l" "0 $sz log-writes $under $logd")"
	# MODE none: the same workload on log-writes itself (a control of the
	# stack under the cache; debugging).
	dm="$lw"
	[ "$mode" = none ] ||
		dm="$(dm_create "${n}c" "0 $sz bufcache $lw 4096 9 $mode cache_size $MB max_age_ms 200 high_watermark 50 low_watermark 20")"
	half=$((8 * MB / unit))
	# premark: no lock, the checker allows for overlapping flushes (-o).
	local lock=("${LOCK[@]//@N@/$n}") co=()
	if [[ " $* " == *" premark "* ]]; then
		lock=() co=(-o)
	fi
	for i in 1 2; do
		opts=("$@")
		if [ "$i" = 1 ] && [ "$w1" != - ]; then
			read -r -a w1a <<<"$w1"
			opts+=("${w1a[@]}")
		fi
		opts=("${opts[@]//@LW@/$lw}")
		bg_start "${n}w$i" "$TOOL" work "$dm" "$unit" "/tmp/$n.m$i" "$n$i" $(((i - 1) * half)) "$half" 20 48 \
			"dm-mark:${n}l" "${lock[@]}" "${opts[@]}"
	done
	for i in 1 2; do
		rc="$(bg_wait "${n}w$i" 300)" || die "$n: writer $i still running after 300 s; $(bc_status "${n}c")"
		[ "$rc" = 0 ] || die "$n: writer $i failed: $(tail -n 3 "/tmp/${n}w$i.out")"
		log "$n: $(cat "/tmp/${n}w$i.out")"
	done
	if [ "$mode" != none ]; then
		log "$n: $(bc_status "${n}c")"
		assert_eq "$(bc_field "${n}c" mode)" "$mode" "$n: cache mode"
		run dmsetup message "${n}c" 0 flush
		run dmsetup remove "${n}c"
	fi
	log "$n: log-writes status $(dmsetup status "${n}l" | cut -d' ' -f4-)"
	run dmsetup remove "${n}l"
	[ "$delay" = 0 ] || run dmsetup remove "${n}d"
	tw=$SECONDS
	# Without origin flushes (dsync-only) the end state is not all logged.
	local final=(-f "$origin")
	[[ " $* " != *" dsync-only "* ]] || final=()
	if ! "$TOOL" check "${co[@]}" "${final[@]}" "$logd" $((16 * MB)) "$unit" "/tmp/$n.m1" "/tmp/$n.m2" >"/tmp/$n.check" 2>&1; then
		trace "$n" "$unit" "${co[@]}" "${final[@]}" "$logd" $((16 * MB)) "$unit" "/tmp/$n.m1" "/tmp/$n.m2"
		die "$n: replay check failed: $(tr '\n' ' ' <"/tmp/$n.check")"
	fi
	checked "$n"
	# Each case must have happened (else the pass proves nothing of it).
	grep -q ' writes checked ([1-9]' "/tmp/$n.check" || die "$n: no logged write checked"
	free_loop "$logd"
	free_loop "$origin"
	log "$n: $((SECONDS - t0)) s (workload $((tw - t0)) s, check $((SECONDS - tw)) s)"
}

# The case of each pass happened: suspends, discards logged, 512-byte
# units checked, origin-only flushes.
for _ in $(seq 1 "$REPEAT"); do
if pass direct; then
	blocks direct 0 4096 writeback "suspend=directc:5 dsync-at=3"
	grep -q ' 4 suspends (2 --noflush)' /tmp/directw1.out || die "direct: writer 1 did not suspend 4 times: $(cat /tmp/directw1.out)"
fi
if pass delayed; then
	blocks delayed 5 4096 writeback - sizes=1,1,4,16 discard=16:16:1
	grep -Eq '\([0-9]+ writes, [1-9][0-9]* discards\)' /tmp/delayed.check || die "delayed: no discard in the log"
fi
if pass partial; then
	blocks partial 0 512 writeback - sizes=1,1,3,8,13,32 discard=16:128:8
	grep -q 'blocks of 512 bytes' /tmp/partial.check || die "partial: not checked in 512-byte units"
	grep -Eq '\([0-9]+ writes, [1-9][0-9]* discards\)' /tmp/partial.check || die "partial: no discard in the log"
fi
if pass partialnc; then
	blocks partialnc 0 512 none - sizes=1,1,3,8,13,32 discard=16:128:8
fi
if pass concurrent; then
	blocks concurrent 5 4096 writeback - sizes=1,1,4,16 discard=16:16:1 premark
	grep -Eq '^[0-9]+ acknowledgements waited' /tmp/concurrent.check || die "concurrent: not checked with -o"
fi
if pass delayednc; then
	blocks delayednc 5 4096 none - sizes=1,1,4,16 discard=16:16:1
fi
if pass wt; then
	blocks wt 0 4096 "$WT_MODE" - sizes=1,4,16 dsync-at=3 flushdev=@LW@
	grep -q 'fsyncs (of the origin)' /tmp/wtw1.out || die "wt: the rounds did not flush the origin alone"
fi
done
# ---- ext4 ----
if pass ext4; then
	t0=$SECONDS tw=0
	origin="$(make_loop 32)"
	logd="$(make_loop 160)"
	sz="$(blockdev --getsz "$origin")"
	lw="$(dm_create el "0 $sz log-writes $origin $logd")"
	dm="$(dm_create ec "0 $sz bufcache $lw 4096 6 cache_size $((2 * MB)) max_age_ms 200 readahead 4")"
	run mkfs.ext4 -q -F -b 4096 -E nodiscard "$dm"
	run sync "$dm"
	run dmsetup message el 0 mark mkfs
	dmc_start # the marks below: one process, not a dmsetup per file
	mkdir -p /mnt/e
	run mount -t ext4 "$dm" /mnt/e
	on_cleanup sh -c "mountpoint -q /mnt/e && umount /mnt/e; true"
	: >/tmp/ext4.sums
	: >/tmp/ext4.rm
	: >/tmp/ext4.m
	NFILES=60
	for i in $(seq 1 "$NFILES"); do
		d="/mnt/e/d$((i % 6))"
		mkdir -p "$d"
		head -c $(((i * 7919) % 20000 + 100)) /dev/urandom >/tmp/f
		dd if=/tmp/f of="$d/f$i" bs=64k conv=fsync status=none || die "write of $d/f$i failed"
		echo "f$i d$((i % 6))/f$i $(sha_of </tmp/f)" >>/tmp/ext4.sums
		# Its blocks, acknowledged by their hash under the mark.
		"$TOOL" fmark /tmp/ext4.m "f$i" "$d/f$i" /tmp/f 4096 || die "fmark of $d/f$i failed"
		dmc_ok "message el 0 mark f$i"
		# Churn: some files go away again (the removal is not fsync'ed, but
		# the next file's fsync commits it); their blocks are free from here on.
		if [ $((i % 5)) = 0 ] && [ "$i" -gt 3 ]; then
			p="/mnt/e/d$(((i + 3) % 6))/f$((i - 3))"
			"$TOOL" fmark /tmp/ext4.m "f$i" "$p" "$p" 4096 release || die "fmark release of $p failed"
			echo "$i f$((i - 3))" >>/tmp/ext4.rm
			rm -f "$p"
		fi
	done
	dmc_stop
	run umount /mnt/e
	run dmsetup remove ec
	run dmsetup remove el
	tw=$SECONDS
	# The point check: journal replay on the image (a fresh copy of the
	# replayed state at each point, made by the tool), a clean read-only
	# fsck, then every file fsync'ed before the last mark replayed, read
	# through the file system. Two at once (the tool's -j 2: each on its
	# own image, $BC_IMAGE, with its own files, /tmp/fsck.$BC_SLOT.*): the
	# guest has 2 CPUs.
	cat >/tmp/fsck-point.sh <<'EOF'
#!/bin/bash
w="/tmp/fsck.$BC_SLOT"
e2fsck -E journal_only -y "$BC_IMAGE" >"$w.jo" 2>&1
[ $? -le 1 ] || { echo "journal replay failed: $(tail -n 2 "$w.jo")"; exit 8; }
if ! e2fsck -fn "$BC_IMAGE" >"$w.out" 2>&1; then
	# One write (two points are checked at once: no interleaving).
	printf '%s\n' "e2fsck -fn after journal replay (mark ${BC_LAST_MARK:-none}, $BC_POINT point):
$(head -n 15 "$w.out")"
	exit 4
fi
echo x >>/tmp/fsck.count
case "${BC_LAST_MARK:-}" in
f[0-9]*) k="${BC_LAST_MARK#f}" ;;
*) exit 0 ;;
esac
rm -rf "$w.dump"
mkdir "$w.dump"
while read -r name path _; do
	[ "${name#f}" -gt "$k" ] || echo "dump /$path $w.dump/$name"
done </tmp/ext4.sums >"$w.cmds"
debugfs -f "$w.cmds" "$BC_IMAGE" >/dev/null 2>&1
declare -A rm_at got
while read -r j name; do rm_at[$name]=$j; done </tmp/ext4.rm
shopt -s nullglob
files=("$w.dump"/*)
if [ "${#files[@]}" -gt 0 ]; then
	while read -r sum f; do got[${f##*/}]=$sum; done < <(sha256sum "${files[@]}")
fi
n=0
while read -r name path sum; do
	[ "${name#f}" -le "$k" ] || continue
	j="${rm_at[$name]:-}"
	if [ -n "$j" ] && [ "$j" -lt "$k" ]; then
		# Removed after mark f$j; the fsync before mark f$((j + 1)) committed that.
		[ -z "${got[$name]:-}" ] || { echo "file $path, removed after mark f$j, is back at mark f$k"; exit 4; }
		continue
	fi
	if [ -z "${got[$name]:-}" ]; then
		[ "$j" = "$k" ] && continue
		echo "file $path, fsync'ed before mark $name, is missing at mark f$k ($BC_POINT point)"
		exit 4
	fi
	if [ "${got[$name]}" != "$sum" ]; then
		echo "file $path, fsync'ed before mark $name, is not intact at mark f$k ($BC_POINT point)"
		exit 4
	fi
	n=$((n + 1))
done </tmp/ext4.sums
echo "$n" >>/tmp/files.count
exit 0
EOF
	chmod +x /tmp/fsck-point.sh
	: >/tmp/fsck.count
	: >/tmp/files.count
	FSCK=/tmp/fsck-point.sh "$TOOL" check -n -c -k flush,end -f "$origin" -s /tmp/fs.img -e 1 -j 2 -a mkfs \
		"$logd" $((32 * MB)) 4096 /tmp/ext4.m >/tmp/ext4.check 2>&1 ||
		die "ext4: replay check failed: $(tr '\n' ' ' <"/tmp/ext4.check")"
	checked ext4
	figure "ext4: $(wc -l </tmp/fsck.count) clean fscks (every changed flush point), $(awk '{ s += $1 } END { print s + 0 }' /tmp/files.count) fsync'ed files read back intact at them"
	[ "$(wc -l </tmp/fsck.count)" -ge 40 ] || die "ext4: fewer than 40 fsck points"
	grep -Eq 'acknowledgements, [1-9][0-9]* block checks' /tmp/ext4.check || die "ext4: no block checked"
	rm -rf /tmp/fs.img.* /tmp/fsck.[0-9]*
	free_loop "$logd"
	free_loop "$origin"
	log "ext4: $((SECONDS - t0)) s (workload $((tw - t0)) s, check $((SECONDS - tw)) s)"
fi

# FUA alone: O_DSYNC writes also get a flush from the block layer
# (generic_write_sync), which would hide a FUA write that is not durable
# by itself. With test_skip_origin_flush=1 no flush reaches the origin, so
# each acknowledged O_DSYNC block must have gone out as a FUA write.
if pass fua; then
	run rmmod dm_bufcache
	bc_load test_skip_origin_flush=1
	blocks fua 5 4096 writeback - dsync-only
fi
log "OK"
