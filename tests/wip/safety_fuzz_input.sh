#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Hostile input, in the kernel: random table lines and random messages.
#
# 1. Table lines (NLINES of them, from a fixed seed: the log prints it, and
#    FUZZ_SEED=N reruns one sequence): a target length that fits or not,
#    an origin that exists or not, a block size, a feature count that
#    matches its words or not, and words drawn from the table's keywords,
#    near-keywords and numbers at and around every limit (0, 15, 16, 100,
#    101, 2^32, 2^64, -1, hex, garbage). Each line is either accepted (the
#    device then reads and writes, and is removed) or refused, and then:
#    no device is left, the module holds no reference, the origin has no
#    holder, and the kernel log names the reason ("bufcache: ..." from the
#    constructor).
# 2. Messages (NMSGS) to one live writeback device holding verifiable
#    data: random words from the message names, modes and numbers. Each
#    succeeds or fails with EINVAL/EBUSY/EIO-free refusals and a
#    "message refused" or other reason in the kernel log; every 25 the
#    device must still read back what was written through it, and at the
#    end, after a flush and removal, the origin holds it.
# The harness judges the kernel log (no splat).
# vm-timeout: 420
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

NLINES="${FUZZ_LINES:-500}"
NMSGS="${FUZZ_MSGS:-1000}"
SEED="${FUZZ_SEED:-$(date +%s)}"
RANDOM="$SEED"
log "seed $SEED: $NLINES table lines, $NMSGS messages"

bc_load
loop="$(make_loop 16)"
lname="$(basename "$loop")"
lmm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
sz="$(blockdev --getsz "$loop")"

pick() { # WORD...: echo one at random
	local a=("$@")
	echo "${a[RANDOM % ${#a[@]}]}"
}
NUMS=(0 1 15 16 17 50 99 100 101 255 256 511 512 513 1024 4096 8192 65536 65537 131072
	1048576 4194304 16777216 4294967295 4294967296 18446744073709551615
	18446744073709551616 -1 -4096 0x1000 1e6 4k 12abc "" " " 007 +16)
KEYS=(cache_size writeback writethrough high_watermark low_watermark max_age_ms readahead
	cache-size CACHE_SIZE mode writebac bogus "" discard)
word() {
	case $((RANDOM % 3)) in
	0) pick "${KEYS[@]}" ;;
	*) pick "${NUMS[@]}" ;;
	esac
}
# A plausible feature list: right keywords with random values, sometimes
# a wrong count or a stray word.
features() {
	local n=$((RANDOM % 4)) words=() k
	for _ in $(seq 1 "$n"); do
		k="$(pick cache_size writeback writethrough high_watermark low_watermark max_age_ms readahead)"
		case "$k" in
		writeback | writethrough) words+=("$k") ;;
		*) words+=("$k" "$(pick "${NUMS[@]}")") ;;
		esac
	done
	[ $((RANDOM % 4)) != 0 ] || words+=("$(word)")
	local count=${#words[@]}
	[ $((RANDOM % 5)) != 0 ] || count="$(pick "${NUMS[@]}")"
	echo "$count ${words[*]}"
}
table_line() {
	local len origin bs rest=""
	len="$(pick "$sz" "$sz" "$sz" $((sz - 1)) $((sz + 8)) 8 0 7)"
	origin="$(pick "$loop" "$loop" "$loop" "$lmm" /dev/nonexistent 7:250 "")"
	bs="$(pick 4096 4096 512 65536 "$(pick "${NUMS[@]}")")"
	case $((RANDOM % 6)) in
	0) rest="" ;;
	1) rest="$(word) $(word) $(word)" ;;
	*) rest="$(features)" ;;
	esac
	echo "0 $len bufcache $origin $bs $rest"
}

no_leftovers() { # what
	if dmsetup info fz >/dev/null 2>&1; then
		die "$1: device fz left behind: $(dmsetup table fz 2>&1)"
	fi
	local rc holders
	rc="$(cat /sys/module/dm_bufcache/refcnt)"
	[ "$rc" = 0 ] || die "$1: dm_bufcache refcnt $rc with no device"
	holders="$(ls "/sys/block/$lname/holders")"
	[ -z "$holders" ] || die "$1: $loop still held by $holders"
}

# ---- 1. table lines ----
run dd if=/dev/urandom of=/tmp/pat bs=4k count=2 status=none
acc=0 ref=0
declare -A reasons=()
t0=$SECONDS
for i in $(seq 1 "$NLINES"); do
	line="$(table_line)"
	echo "fuzz line $i" >/dev/kmsg
	if dmsetup create fz --table "$line" 2>/tmp/fz.err; then
		acc=$((acc + 1))
		dev="$(dm_dev fz)"
		dd if=/tmp/pat of="$dev" bs=4k count=2 oflag=direct status=none ||
			die "line $i accepted, but a write failed: '$line'"
		cmp -s /tmp/pat <(dd if="$dev" bs=4k count=2 iflag=direct status=none) ||
			die "line $i accepted, but reads back something else: '$line'"
		dmsetup table fz >/dev/null || die "line $i: dmsetup table failed"
		dmsetup remove fz 2>/tmp/fz.err || die "line $i: remove failed: $(cat /tmp/fz.err)"
		no_leftovers "line $i (accepted: '$line')"
	else
		ref=$((ref + 1))
		no_leftovers "line $i (refused: '$line')"
		why="$(dmesg | sed -n "/fuzz line $i\$/,\$p" | grep -o 'bufcache: .*' | head -n1 || true)"
		if [ -z "$why" ]; then
			# Refused before the constructor ran (by DM itself, e.g. a
			# length of 0): DM's reason, or dmsetup's.
			why="$(dmesg | sed -n "/fuzz line $i\$/,\$p" | grep -o 'device-mapper: .*' | head -n1 || true)"
			[ -n "$why" ] || why="dmsetup: $(head -n1 /tmp/fz.err)"
			[ -n "$why" ] || die "line $i refused without a reason anywhere: '$line'"
		fi
		why="$(sed 's/ ([-0-9]*)$//; s/[0-9][0-9]*:[0-9][0-9]*/N:N/g' <<<"$why")"
		reasons[$why]=$((${reasons[$why]:-0} + 1))
	fi
done
log "table lines: $NLINES in $((SECONDS - t0)) s: $acc accepted, $ref refused, ${#reasons[@]} distinct reasons"
for r in "${!reasons[@]}"; do log "  ${reasons[$r]}x $r"; done
[ "$acc" -gt 0 ] || die "no random table line was accepted"
[ "$ref" -gt 0 ] || die "no random table line was refused"

# ---- 2. messages ----
dm="$(bc_create fm "$loop" 4096 cache_size $((1 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100)"
run dd if=/dev/urandom of=/tmp/data bs=64k count=16 status=none
run dd if=/tmp/data of="$dm" bs=64k count=16 oflag=direct status=none
MSGS=(flush invalidate clear_stats cgroup_stats test_hold_cgroup_mutex cache_size mode
	watermarks writeback writethrough bogus "" status)
ok=0 bad=0
declare -A mreasons=()
t0=$SECONDS
for i in $(seq 1 "$NMSGS"); do
	m="$(pick "${MSGS[@]}")"
	args=()
	case $((RANDOM % 4)) in
	0) ;;
	1) args=("$(pick writeback writethrough "${NUMS[@]}")") ;;
	2) args=("$(pick "${NUMS[@]}")" "$(pick "${NUMS[@]}")") ;;
	3) args=("$(word)" "$(word)" "$(word)") ;;
	esac
	# cache_size: keep the cache big enough to be usable (16 blocks and
	# up are valid; smaller values must be refused, not break it).
	echo "fuzz msg $i" >/dev/kmsg
	if dmsetup message fm 0 "$m" "${args[@]}" >/tmp/fm.out 2>/tmp/fm.err; then
		ok=$((ok + 1))
	else
		bad=$((bad + 1))
		why="$(dmesg | sed -n "/fuzz msg $i\$/,\$p" | grep -o 'dm_bufcache: .*' | head -n1 || true)"
		[ -n "$why" ] || why="$(dmesg | sed -n "/fuzz msg $i\$/,\$p" | grep -o 'device-mapper: .*' | head -n1 || true)"
		[ -n "$why" ] || why="dmsetup: $(head -n1 /tmp/fm.err)"
		[ -n "$why" ] || die "message $i refused without a reason: '$m ${args[*]}'"
		why="$(sed 's/[0-9][0-9]*/N/g' <<<"$why")"
		mreasons[$why]=$((${mreasons[$why]:-0} + 1))
	fi
	if [ $((i % 25)) = 0 ]; then
		cmp -s /tmp/data <(dd if="$dm" bs=64k count=16 iflag=direct status=none) ||
			die "after message $i ('$m ${args[*]}') the device reads back something else; $(bc_status fm)"
		assert_eq "$(dmsetup status fm | awk '{ print $3 }')" bufcache "status after message $i"
	fi
done
log "messages: $NMSGS in $((SECONDS - t0)) s: $ok succeeded, $bad refused, ${#mreasons[@]} distinct reasons"
for r in "${!mreasons[@]}"; do log "  ${mreasons[$r]}x $r"; done
[ "$ok" -gt 0 ] && [ "$bad" -gt 0 ] || die "messages: expected both successes and refusals"
run dmsetup message fm 0 flush
run dmsetup remove fm
cmp -s /tmp/data <(dd if="$loop" bs=64k count=16 iflag=direct status=none) ||
	die "the data written before the messages is not on the origin after flush and remove"
rmmod dm_bufcache 2>/tmp/rmmod.err || die "rmmod dm_bufcache failed: $(cat /tmp/rmmod.err)"
log "OK"
