#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Hostile input, in the kernel: random table lines and random messages.
#
# 1. Table lines (NLINES of them, from a fixed seed: the log prints it, and
#    FUZZ_SEED=N reruns one sequence): a target length that fits or not,
#    an origin that exists or not, a block size, a feature count that
#    matches its words or not, and words drawn from the table's keywords,
#    near-keywords and numbers at and around every limit (0, 15, 16, 100,
#    101, 2^32, 2^64, -1, hex, garbage), loaded into a table-less device.
#    Each line is either accepted (a device created with it then reads
#    and writes, and is removed) or refused, and then: no table is left,
#    the module holds no reference, the origin has no holder, and the
#    kernel log gives the target's own reason: DM core's line
#    "device-mapper: table: <dev>: bufcache: <reason>" with a <reason>
#    from the Errors table of Documentation/bufcache.rst, word for word
#    (not DM core's default "Unknown error", nor any other text). The one
#    refusal DM core makes before the target sees a line, "zero-length
#    target", is allowed for lines of length 0 only, and counted apart.
# 2. Messages (NMSGS) to one live writeback device holding verifiable
#    data: random words from the message names, modes and numbers. Each
#    succeeds or fails with EINVAL/EBUSY/EIO-free refusals and the
#    target's own reason in the kernel log: a "dm_bufcache: message
#    refused: <why>" line from the parser, or the line the handler logs
#    for a message it refuses ("invalidate: dirty blocks remain; ...",
#    "cache_size: ...", ...). DM core refuses no message made of these
#    words (only an empty one, or one starting with "@"). Every 25 the
#    device must still read back what was written through it, and at the
#    end, after a flush and removal, the origin holds it.
# The table loads, the checks for a table left and the messages go through
# tests/tools/bc-dmctl (the same ioctls as dmsetup, from one process: a
# dmsetup run costs ~0.1 s of start-up under TCG, and this makes 1,400 of
# them). Unlike dmsetup, it passes words such as "-1" to the target.
# The harness judges the kernel log (no splat).
# vm-timeout: 420
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

NLINES="${FUZZ_LINES:-400}"
NMSGS="${FUZZ_MSGS:-600}"
SEED="${FUZZ_SEED:-$(date +%s)}"
figure "seed $SEED (FUZZ_SEED=$SEED replays it)"

bc_load
# The kernel log, as it comes (cheaper than dmesg for every line).
cat /dev/kmsg >/tmp/kmsg.log &
kpid=$!
on_cleanup sh -c "kill $kpid 2>/dev/null; true"
loop="$(make_loop 16)"
lname="$(basename "$loop")"
lmm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
sz="$(blockdev --getsz "$loop")"

# The ioctls, from one bc-dmctl coprocess: dmc REQUEST sets reply.
dmc_start

# All lines and messages are made up front by one awk (forks are what
# costs time in the guest): lines.txt and msgs.txt.
awk -v seed="$SEED" -v nl="$NLINES" -v nm="$NMSGS" -v loop="$loop" -v lmm="$lmm" -v sz="$sz" '
function pick(s,   a, n) { n = split(s, a, "|"); return a[int(rand() * n) + 1] }
BEGIN {
	srand(seed)
	NUMS = "0|1|15|16|17|50|99|100|101|255|256|511|512|513|1024|4096|8192|65536|65537|131072|1048576|4194304|16777216|4294967295|4294967296|18446744073709551615|18446744073709551616|-1|-4096|0x1000|1e6|4k|12abc|007|+16"
	KEYS = "cache_size|writeback|writethrough|high_watermark|low_watermark|max_age_ms|readahead|cache-size|CACHE_SIZE|mode|writebac|bogus|discard"
	FEAT = "cache_size|writeback|writethrough|high_watermark|low_watermark|max_age_ms|readahead"
	for (i = 1; i <= nl; i++) {
		len = pick(sz "|" sz "|" sz "|" (sz - 1) "|" (sz + 8) "|8|0|7")
		org = pick(loop "|" loop "|" loop "|" lmm "|/dev/nonexistent|7:250")
		bs = pick("4096|4096|512|65536|" pick(NUMS))
		r = int(rand() * 6)
		rest = ""
		if (r == 1) {
			rest = pick(KEYS) " " pick(NUMS) " " pick(KEYS)
		} else if (r >= 2) {
			n = int(rand() * 4); w = ""; c = 0
			for (j = 0; j < n; j++) {
				k = pick(FEAT)
				if (k == "writeback" || k == "writethrough") { w = w " " k; c++ }
				else { w = w " " k " " pick(NUMS); c += 2 }
			}
			if (rand() < 0.25) { w = w " " pick(KEYS "|" NUMS); c++ }
			if (rand() < 0.2) c = pick(NUMS)
			rest = c w
		}
		print "0 " len " bufcache " org " " bs " " rest > "/tmp/lines.txt"
	}
	MSGS = "flush|invalidate|clear_stats|cgroup_stats|test_hold_cgroup_mutex|cache_size|mode|watermarks|writeback|writethrough|bogus|status"
	for (i = 1; i <= nm; i++) {
		m = pick(MSGS); r = int(rand() * 4)
		if (r == 1) m = m " " pick("writeback|writethrough|" NUMS)
		else if (r == 2) m = m " " pick(NUMS) " " pick(NUMS)
		else if (r == 3) m = m " " pick(KEYS "|" NUMS) " " pick(KEYS "|" NUMS) " " pick(KEYS)
		print m > "/tmp/msgs.txt"
	}
}' || die "awk failed"
[ "$(wc -l </tmp/lines.txt)" = "$NLINES" ] || die "made $(wc -l </tmp/lines.txt) lines, not $NLINES"

no_leftovers() { # what
	local rc
	dmc "info fz"
	[ "$reply" = "tables none" ] || die "$1: device fz holds a table: $reply"
	read -r rc </sys/module/dm_bufcache/refcnt
	[ "$rc" = 0 ] || die "$1: dm_bufcache refcnt $rc with no live table"
	local h=("/sys/block/$lname/holders/"*)
	[ ! -e "${h[0]}" ] || die "$1: $loop still held by ${h[*]}"
}

# The target's reasons for refusing a table line: the Errors table of
# Documentation/bufcache.rst, word for word.
cat >/tmp/table.reasons <<'EOF'
Not enough arguments: expected <origin> <block_size>
Too many arguments: <#opt_args> must count all optional arguments
Invalid <#opt_args>: not a number or more than given
Unknown optional argument
Optional argument given twice
Optional argument is missing its value
Invalid block size: not a decimal number
Invalid block size: must be a power of two from 512 to 65536 bytes
Invalid block size: smaller than the origin's logical block size
Invalid cache_size: must be a byte count of at least 16 blocks
Invalid watermark: must be a percentage from 0 to 100
Invalid watermarks: low_watermark is above high_watermark
Invalid max_age_ms: not a decimal number
Invalid readahead: must be a block count from 0 to 256
Invalid sequential_cutoff: must be a byte count (0: never bypass)
Invalid argument: not UTF-8
Origin device lookup failed
Origin device is smaller than the target
Target length must be a multiple of the block size
cache_size is larger than the machine's RAM
Module budget (max_cache_size_bytes) too small for 16 blocks
Cache index too large for the machine's RAM
Cannot allocate memory for the arguments
Cannot set the maximum I/O size
Cannot allocate memory for the cache
Cannot register the shrinker
Cannot allocate the target
EOF
# The target's lines for a refused message (after "dm_bufcache: "): the
# parser's (rust/cache/message.rs; a value refused with the option table's
# reason, rust/cache/table.rs) and the handler's (rust/bufcache/mod.rs,
# `message`). Numbers match any number.
cat >/tmp/msg.reasons <<'EOF'
message refused: empty message
message refused: unknown message (flush, invalidate, cache_size, mode, watermarks, clear_stats, cgroup_stats)
message refused: wrong number of arguments for this message
message refused: invalid number
message refused: Invalid cache_size: must be a byte count of at least 16 blocks
message refused: Invalid watermark: must be a percentage from 0 to 100
message refused: Invalid watermarks: low_watermark is above high_watermark
message refused: mode must be writeback or writethrough
flush: writeback or origin flush failed
invalidate: dirty blocks remain; send 'flush' first
mode: writeback before writethrough failed
cache_size: cannot grow beyond 0 bytes without a table reload
test_hold_cgroup_mutex: needs the test flavour of the module (make BUFCACHE_TEST=1) loaded with test_cgroup_knobs=1
EOF

# reasons KIND MARKPREFIX REFUSED KNOWN: from one pass over the kernel
# log, the reason given for each refused input (REFUSED: its number N and,
# for table lines, its length), between its "MARKPREFIX N" mark and the
# next "fuzz ..." mark. KIND table: a "device-mapper: table: <dev>:
# bufcache: <reason>" line whose <reason> (errno cut off) is in KNOWN,
# else, for a line of length 0 only, DM core's "device-mapper: table:
# <dev>: zero-length target". KIND msg: a "dm_bufcache: <reason>" line
# whose <reason> is in KNOWN. Prints "<count>x target: <reason>" and
# "<count>x dm core: <reason>" lines, "none N" for each refused input with
# neither, and "unlisted N <line>" for each bufcache reason not in KNOWN.
reasons() {
	awk -v kind="$1" -v p="$2" '
		function norm(s) { gsub(/[0-9]+/, "N", s); return s }
		function settle() {
			if (cur == "") return
			if (tr != "") n["target: " tr]++
			else if (cr != "") n["dm core: " cr]++
			else print "none " cur
			cur = ""
		}
		FILENAME == ARGV[1] { known[norm($0)] = 1; next }
		FILENAME == ARGV[2] { want[$1] = $2; next }
		{ t = $0; sub(/^[^;]*;/, "", t) }
		t ~ /^fuzz (line|msg) [0-9]+$/ {
			settle()
			k = t; sub(/.* /, "", k)
			if (t ~ "^" p " " && (k in want)) { cur = k; tr = ""; cr = "" }
			next
		}
		cur == "" { next }
		# (Kernels that pass DM core errors back in ti->error print
		# this one with the target type too.)
		kind == "table" && t ~ /^device-mapper: table: [0-9]+:[0-9]+: (bufcache: )?zero-length target( \(-?[A-Z0-9]+\))?$/ {
			if (want[cur] == "0") cr = "zero-length target (DM core, before the target)"
			else print "unlisted " cur " " t
			next
		}
		kind == "table" && t ~ /^device-mapper: table: [0-9]+:[0-9]+: bufcache: / {
			r = t; sub(/^device-mapper: table: [0-9]+:[0-9]+: bufcache: /, "", r); sub(/ \(-?[A-Z0-9]+\)$/, "", r)
			if (norm(r) in known) { if (tr == "") tr = norm(r) }
			else print "unlisted " cur " " t
			next
		}
		kind == "msg" && t ~ /^dm_bufcache: / {
			r = t; sub(/^dm_bufcache: /, "", r)
			if (tr == "" && (norm(r) in known)) tr = norm(r)
			next
		}
		END { settle(); for (r in n) printf "%5dx %s\n", n[r], r }
	' "$4" "$3" /tmp/kmsg.log
}

# collect_reasons KIND MARKPREFIX REFUSED KNOWN: once the kernel log has
# caught up, sets rs (the counted reasons), nr (refused inputs with the
# target's reason), nc (refused by DM core before the target), missing
# (inputs with neither) and unlisted (target reasons not in KNOWN).
collect_reasons() {
	local r
	sleep 0.5
	rs=() missing=() unlisted=()
	nr=0 nc=0
	while IFS= read -r r; do
		case "$r" in
		"none "*) missing+=("${r#none }") ;;
		"unlisted "*) unlisted+=("${r#unlisted }") ;;
		*"x target: "*) rs+=("$r") && nr=$((nr + ${r%%x *})) ;;
		*) rs+=("$r") && nc=$((nc + ${r%%x *})) ;;
		esac
	done < <(reasons "$@")
}

# after_mark MARK: the kernel log's lines between the mark MARK ("fuzz
# line 12") and the next, for a failure message.
after_mark() {
	awk -v m="$1" '{ t = $0; sub(/^[^;]*;/, "", t) } t ~ /^fuzz (line|msg) [0-9]+$/ { on = (t == m); next } on { printf "%s | ", t }' /tmp/kmsg.log
}

# no_reason WHAT FILE: the first few inputs in $missing, with the kernel
# log after each, for a failure message.
no_reason() {
	local m
	for m in "${missing[@]:0:5}"; do
		printf "%s %s ('%s'): %s; " "$1" "$m" "$(sed -n "${m}p" "$2")" "$(after_mark "fuzz $1 $m")"
	done
}

# ---- 1. table lines ----
run dd if=/dev/urandom of=/tmp/pat bs=4k count=2 status=none
acc=0 ref=0
: >/tmp/refused.lines
: >/tmp/refused.msgs
t0=$SECONDS
# Lines are loaded into the inactive slot of one table-less device (the
# constructor runs; DM keeps the table only if it is accepted): cheaper
# than creating and removing a device per line. Accepted lines are then
# also created as a live device that must serve I/O.
run dmsetup create fz --notable
i=0
while IFS= read -r line; do
	i=$((i + 1))
	echo "fuzz line $i" >/dev/kmsg
	dmc "load fz $line"
	if [ "$reply" = ok ]; then
		acc=$((acc + 1))
		dmc "info fz"
		[ "$reply" = "tables inactive" ] || die "line $i accepted, but no inactive table ($reply): '$line'"
		dmc "clear fz"
		[ "$reply" = ok ] || die "clearing fz's inactive table failed: $reply"
		dmc "create fy $line"
		[[ "$reply" == "ok /dev/dm-"* ]] || die "line $i loaded, but a device with it cannot be created ($reply)"
		dev="${reply#ok }"
		# Up to 8 KiB, as far as the device goes (512-byte units: the
		# table's length), written and read 512 bytes at a time.
		read -r _ k _ <<<"$line"
		[ "$k" -le 16 ] || k=16
		[ -e "/tmp/pat.$k" ] || head -c $((k * 512)) /tmp/pat >"/tmp/pat.$k"
		dmc "write $dev 0 /tmp/pat.$k 0 $((k * 512)) 512"
		[ "$reply" = ok ] || die "line $i accepted, but a write of $k sectors failed ($reply): '$line'"
		dmc "verify $dev 0 /tmp/pat.$k 0 $((k * 512)) 512"
		[ "$reply" = ok ] || die "line $i accepted, but reads back something else ($reply): '$line'"
		dmc "remove fy"
		[ "$reply" = ok ] || die "line $i: remove failed: $reply"
		dmc "info fy"
		[[ "$reply" == failed* ]] || die "line $i: device fy left after its removal ($reply)"
	else
		ref=$((ref + 1))
		read -r _ len _ <<<"$line"
		echo "$i $len" >>/tmp/refused.lines
		[[ "$reply" =~ ^failed\ [1-9] ]] || die "line $i refused without an errno ($reply): '$line'"
	fi
	no_leftovers "line $i ('$line')"
done </tmp/lines.txt
run dmsetup remove fz
collect_reasons table "fuzz line" /tmp/refused.lines /tmp/table.reasons
figure "table lines: $NLINES in $((SECONDS - t0)) s: $acc accepted, $ref refused ($nr with the target's reason in the kernel log, $nc by DM core before the target: zero-length), ${#rs[@]} distinct reasons:"
for r in "${rs[@]}"; do log "  $r"; done
[ "$acc" -gt 0 ] || die "no random table line was accepted"
[ "$ref" -gt 0 ] || die "no random table line was refused"
[ "${#unlisted[@]}" = 0 ] ||
	die "${#unlisted[@]} refused lines with a reason that is not in bufcache.rst's Errors table: $(printf '%s; ' "${unlisted[@]:0:5}")"
[ $((nr + nc)) = "$ref" ] ||
	die "$((ref - nr - nc)) refused lines without the target's reason in the kernel log: $(no_reason line /tmp/lines.txt)"

# ---- 2. messages ----
dm="$(bc_create fm "$loop" 4096 cache_size $((1 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100)"
run dd if=/dev/urandom of=/tmp/data bs=64k count=16 status=none
run dd if=/tmp/data of="$dm" bs=64k count=16 oflag=direct status=none
ok=0 bad=0
t0=$SECONDS
i=0
while IFS= read -r m; do
	i=$((i + 1))
	echo "fuzz msg $i" >/dev/kmsg
	dmc "message fm 0 $m"
	if [ "$reply" = ok ]; then
		ok=$((ok + 1))
	else
		bad=$((bad + 1))
		[[ "$reply" =~ ^failed\ [1-9] ]] || die "message $i refused without an errno ($reply): '$m'"
		echo "$i" >>/tmp/refused.msgs
	fi
	if [ $((i % 25)) = 0 ]; then
		cmp -s /tmp/data <(dd if="$dm" bs=64k count=16 iflag=direct status=none) ||
			die "after message $i ('$m') the device reads back something else; $(bc_status fm)"
		assert_eq "$(dmsetup status fm | awk '{ print $3 }')" bufcache "status after message $i"
	fi
done </tmp/msgs.txt
collect_reasons msg "fuzz msg" /tmp/refused.msgs /tmp/msg.reasons
figure "messages: $NMSGS in $((SECONDS - t0)) s: $ok succeeded, $bad refused ($nr with the target's reason in the kernel log, $nc by DM core), ${#rs[@]} distinct reasons:"
for r in "${rs[@]}"; do log "  $r"; done
[ "$ok" -gt 0 ] && [ "$bad" -gt 0 ] || die "messages: expected both successes and refusals"
[ "$nr" = "$bad" ] ||
	die "$((bad - nr)) refused messages without the target's reason in the kernel log: $(no_reason msg /tmp/msgs.txt)"
run dmsetup message fm 0 flush
run dmsetup remove fm
dmc_stop
cmp -s /tmp/data <(dd if="$loop" bs=64k count=16 iflag=direct status=none) ||
	die "the data written before the messages is not on the origin after flush and remove"
rmmod dm_bufcache 2>/tmp/rmmod.err || die "rmmod dm_bufcache failed: $(cat /tmp/rmmod.err)"
log "OK"
