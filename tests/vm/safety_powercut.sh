#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Power cut, replayed: dm-log-writes sits under the cache and logs each
# write the cache sends to the origin once it is on stable media (a plain
# write at the next flush, a FUA write at once), so every prefix of the log
# is a state the origin could be left in by a power cut. The project's
# replay tool (tests/tools/bc-logreplay.c) replays the log to every flush,
# FUA and mark point and checks that everything the cache acknowledged as
# durable before that point is there.
#
# 1. Blocks, twice: over the origin directly, then with dm-delay (5 ms)
#    under log-writes, so that writebacks, FUA writes and flushes overlap.
#    Two writers (disjoint halves of a 16 MiB device) write stamped 4 KiB
#    blocks at random through a 1 MiB writeback cache (evictions and
#    background writeback all the time), every 8th with O_DSYNC (FUA),
#    and fsync after each round; after each O_DSYNC write and each fsync
#    they put a mark into the log (the message to dm-log-writes, sent by
#    the tool itself, not by a dmsetup started for each mark) and
#    record what is acknowledged. At
#    each point, every acknowledged block must hold its generation or a
#    newer one (lost = 0) and every block must be whole (torn = 0); the
#    replayed end state must equal the origin byte for byte (a check of
#    the replay itself).
#    A last pass, after the ext4 one, acknowledges only the O_DSYNC
#    writes and runs with the test-only test_skip_origin_flush=1: no
#    flush reaches the origin, so each acknowledged block must have gone
#    out with FUA by itself (the block layer's flush after an O_DSYNC
#    write would otherwise hide a FUA write that is not durable).
# 2. ext4: mkfs on the cache, then small files, each written and fsync'ed,
#    with a mark after each fsync. From the mkfs mark on, at every 4th
#    point, a copy of the replayed image gets its journal replayed
#    (e2fsck -E journal_only) and must then be clean (e2fsck -fn), and the
#    file of the last mark replayed must hold what was fsync'ed.
# The figures: points replayed, bytes verified, lost = 0.
# vm-timeout: 600
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

TOOL=/tests/tools/bc-logreplay
[ -x "$TOOL" ] || die "$TOOL missing (built by tests/harness/mkinitramfs.sh)"
bc_load
grep -qw log-writes <(dmsetup targets) || modprobe dm-log-writes 2>/dev/null || true
grep -qw log-writes <(dmsetup targets) || die "no log-writes target (CONFIG_DM_LOG_WRITES)"
MB=$((1 << 20))

# blocks NAME DELAY_MS [dsync-only]: one block pass.
blocks() {
	local n="$1" delay="$2" mode="${3:-}" origin logd sz under lw dm i rc
	origin="$(make_loop 16)"
	logd="$(make_loop 96)"
	sz="$(blockdev --getsz "$origin")"
	under="$origin"
	[ "$delay" = 0 ] || under="$(dm_create "${n}d" "0 $sz delay $origin 0 $delay")"
	lw="$(dm_create "${n}l" "0 $sz log-writes $under $logd")"
	dm="$(dm_create "${n}c" "0 $sz bufcache $lw 4096 8 cache_size $MB max_age_ms 200 high_watermark 50 low_watermark 20")"
	for i in 1 2; do
		bg_start "${n}w$i" "$TOOL" work "$dm" 4096 "/tmp/$n.m$i" "$n$i" $(((i - 1) * 2048)) 2048 20 48 \
			"dm-mark:${n}l" $mode
	done
	for i in 1 2; do
		rc="$(bg_wait "${n}w$i" 300)" || die "$n: writer $i still running after 300 s; $(bc_status "${n}c")"
		[ "$rc" = 0 ] || die "$n: writer $i failed: $(tail -n 3 "/tmp/${n}w$i.out")"
		log "$n: $(cat "/tmp/${n}w$i.out")"
	done
	log "$n: $(bc_status "${n}c")"
	run dmsetup message "${n}c" 0 flush
	run dmsetup remove "${n}c"
	log "$n: log-writes status $(dmsetup status "${n}l" | cut -d' ' -f4-)"
	run dmsetup remove "${n}l"
	[ "$delay" = 0 ] || run dmsetup remove "${n}d"
	# Without origin flushes (dsync-only) the end state is not all logged.
	local final=(-f "$origin")
	[ -z "$mode" ] || final=()
	"$TOOL" check "${final[@]}" "$logd" $((16 * MB)) 4096 "/tmp/$n.m1" "/tmp/$n.m2" >"/tmp/$n.check" 2>&1 ||
		die "$n: replay check failed: $(tr '\n' ' ' <"/tmp/$n.check")"
	while read -r l; do
		case "$l" in
		replayed* | *older\ plain*) figure "$n: $l" ;;
		*) log "$n: $l" ;;
		esac
	done <"/tmp/$n.check"
}

blocks direct 0
blocks delayed 5

# ---- ext4 ----
origin="$(make_loop 32)"
logd="$(make_loop 160)"
sz="$(blockdev --getsz "$origin")"
lw="$(dm_create el "0 $sz log-writes $origin $logd")"
dm="$(dm_create ec "0 $sz bufcache $lw 4096 6 cache_size $((2 * MB)) max_age_ms 200 readahead 4")"
run mkfs.ext4 -q -F -b 4096 -E nodiscard "$dm"
run sync "$dm"
run dmsetup message el 0 mark mkfs
mkdir -p /mnt/e
run mount -t ext4 "$dm" /mnt/e
on_cleanup sh -c "mountpoint -q /mnt/e && umount /mnt/e; true"
: >/tmp/ext4.sums
: >/tmp/ext4.m
NFILES=60
for i in $(seq 1 "$NFILES"); do
	d="/mnt/e/d$((i % 6))"
	mkdir -p "$d"
	head -c $(((i * 7919) % 20000 + 100)) /dev/urandom >/tmp/f
	dd if=/tmp/f of="$d/f$i" bs=64k conv=fsync status=none || die "write of $d/f$i failed"
	echo "f$i d$((i % 6))/f$i $(sha_of </tmp/f)" >>/tmp/ext4.sums
	# A manifest line the block check ignores (block 0 generation 0).
	echo "f$i 0 0" >>/tmp/ext4.m
	run dmsetup message el 0 mark "f$i"
	# Churn: some files go away again (not fsync'ed: not checked).
	[ $((i % 5)) != 0 ] || rm -f "/mnt/e/d$(((i + 3) % 6))/f$((i - 3))"
done
run umount /mnt/e
run dmsetup remove ec
run dmsetup remove el
# The point check: journal replay on a copy, then a clean read-only fsck,
# then the file of the last mark replayed (fsync'ed before it).
cat >/tmp/fsck-point.sh <<'EOF'
#!/bin/bash
cp --sparse=always /tmp/fs.img /tmp/fs.copy || exit 8
e2fsck -E journal_only -y /tmp/fs.copy >/tmp/fsck.jo 2>&1
[ $? -le 1 ] || { echo "journal replay failed: $(tail -n 2 /tmp/fsck.jo)"; exit 8; }
if ! e2fsck -fn /tmp/fs.copy >/tmp/fsck.out 2>&1; then
	echo "e2fsck -fn after journal replay (mark ${BC_LAST_MARK:-none}):"
	head -n 15 /tmp/fsck.out
	exit 4
fi
echo x >>/tmp/fsck.count
case "${BC_LAST_MARK:-}" in
f[0-9]*)
	read -r _ path sum < <(grep "^$BC_LAST_MARK " /tmp/ext4.sums)
	got="$(debugfs -R "cat /$path" /tmp/fs.copy 2>/dev/null | sha256sum | cut -d' ' -f1)"
	if [ "$got" != "$sum" ]; then
		echo "file $path, fsync'ed before mark $BC_LAST_MARK, is not intact"
		exit 4
	fi
	echo x >>/tmp/files.count
	;;
esac
exit 0
EOF
chmod +x /tmp/fsck-point.sh
: >/tmp/fsck.count
: >/tmp/files.count
run truncate -s $((32 * MB)) /tmp/fs.img
FSCK=/tmp/fsck-point.sh "$TOOL" check -n -f "$origin" -s /tmp/fs.img -e 4 -a mkfs \
	"$logd" $((32 * MB)) 4096 /tmp/ext4.m >/tmp/ext4.check 2>&1 ||
	die "ext4: replay check failed: $(tr '\n' ' ' <"/tmp/ext4.check")"
while read -r l; do
	case "$l" in
	replayed*) figure "ext4: $l" ;;
	*) log "ext4: $l" ;;
	esac
done <"/tmp/ext4.check"
figure "ext4: $(wc -l </tmp/fsck.count) clean fscks, $(wc -l </tmp/files.count) fsync'ed files verified at their mark"
[ "$(wc -l </tmp/fsck.count)" -ge 10 ] || die "ext4: fewer than 10 fsck points"

# FUA alone: O_DSYNC writes also get a flush from the block layer
# (generic_write_sync), which would hide a FUA write that is not durable
# by itself. With test_skip_origin_flush=1 no flush reaches the origin, so
# each acknowledged O_DSYNC block must have gone out as a FUA write.
run rmmod dm_bufcache
bc_load test_skip_origin_flush=1
blocks fua 5 dsync-only
log "OK"
