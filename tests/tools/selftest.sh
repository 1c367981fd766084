#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host self-test of the replay checker (bc-logreplay.c): synthetic
# dm-log-writes logs that it must accept, and ones it must reject (lost
# acknowledged data, a torn block, a mark missing from the log, a final
# image that differs; a stale or torn write that a fresh one follows in its
# flush group, which no point sees; stale writes the superseded rule must
# not hide; discarded data that comes back; a stale 512-byte unit in a
# block; a file system block that loses its fsync'ed bytes). Ends with "N
# passed, N failed".
set -u
cd "$(dirname "$0")"
T="$(mktemp -d "${TMPDIR:-/tmp}/bc-logreplay-test.XXXXXX")"
trap 'rm -rf "$T"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$T/tool" bc-logreplay.c || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BS=4096 SS=512
# Entry encoders (little-endian, as dm-log-writes writes them).
hdr() { # sector nr_sectors flags data_len [mark]
	perl -e 'my ($s,$n,$f,$l,$m)=@ARGV; my $h=pack("Q<Q<Q<Q<",$s,$n,$f,$l).(defined $m ? $m : "");
		print $h."\0" x ('"$SS"'-length($h));' "$@"
}
# build LOG ENTRY...: ENTRY is w:BLK:GEN (a stamped 4 KiB write), t:BLK
# (a torn write: halves of generations 1 and 2), f (flush), u:BLK:GEN (a
# FUA write), m:NAME (a mark), d:BLK (a 4 KiB discard), z:BLK (a 4 KiB
# write of zeroes), s:SECTOR:G,G,... (a write of 512-byte units from
# SECTOR, each stamped with its generation, 0 for zeroes; S: with FUA).
build() {
	local log="$1" n=0 e
	shift
	: >"$T/body"
	for e in "$@"; do
		IFS=: read -r k a b <<<"$e"
		case "$k" in
		w | u)
			hdr $((a * BS / SS)) $((BS / SS)) $([ "$k" = u ] && echo 2 || echo 0) 0 >>"$T/body"
			"$T/tool" stamp $BS "$a" "$b" >>"$T/body"
			;;
		t)
			hdr $((a * BS / SS)) $((BS / SS)) 0 0 >>"$T/body"
			"$T/tool" stamp $BS "$a" 1 | head -c $((BS / 2)) >>"$T/body"
			"$T/tool" stamp $BS "$a" 2 | tail -c $((BS / 2)) >>"$T/body"
			;;
		d) hdr $((a * BS / SS)) $((BS / SS)) 4 0 >>"$T/body" ;;
		z)
			hdr $((a * BS / SS)) $((BS / SS)) 0 0 >>"$T/body"
			head -c $BS /dev/zero >>"$T/body"
			;;
		s | S)
			local g i=0
			hdr "$a" $(($(tr , '\n' <<<"$b" | wc -l))) $([ "$k" = S ] && echo 2 || echo 0) 0 >>"$T/body"
			for g in ${b//,/ }; do
				if [ "$g" = 0 ]; then
					head -c $SS /dev/zero
				else
					"$T/tool" stamp $SS $((a + i)) "$g"
				fi
				i=$((i + 1))
			done >>"$T/body"
			;;
		f) hdr 0 0 1 0 >>"$T/body" ;;
		m) hdr 0 0 8 ${#a} "$a" >>"$T/body" ;;
		esac
		n=$((n + 1))
	done
	perl -e 'my $h=pack("Q<Q<Q<L<",0x6a736677736872,1,$ARGV[0],'"$SS"'); print $h."\0" x ('"$SS"'-length($h));' "$n" >"$log"
	cat "$T/body" >>"$log"
}
passed=0 failed=0
# matches PATTERN: $T/out matches every part of PATTERN (extended regexps
# separated by " ;; ").
matches() {
	local p rest="$1"
	while [ -n "$rest" ]; do
		p="${rest%% ;; *}"
		[ "$p" = "$rest" ] && rest="" || rest="${rest#* ;; }"
		grep -Eq -- "$p" "$T/out" || return 1
	done
}
# verdict NAME RC WANT PATTERN: counts one check of $T/out.
verdict() {
	if [ "$2" = "$3" ] && matches "$4"; then
		passed=$((passed + 1))
		echo "ok: $1"
	else
		failed=$((failed + 1))
		echo "FAILED: $1 (exit $2, want $3, /$4/):"
		sed 's/^/  /' "$T/out"
	fi
}
# expect NAME RC PATTERN LOG MANIFEST [FINAL]
expect() {
	local name="$1" want="$2" pat="$3" log="$4" man="$5" final="${6:-}" rc=0
	if [ -n "$final" ]; then
		"$T/tool" check -f "$final" "$log" $((4 * BS)) $BS "$man" >"$T/out" 2>&1 || rc=$?
	else
		"$T/tool" check "$log" $((4 * BS)) $BS "$man" >"$T/out" 2>&1 || rc=$?
	fi
	verdict "$name" "$rc" "$want" "$pat"
}
printf 't-1 1 1\nt-2 2 3\n' >"$T/man"
build "$T/good" w:1:1 f m:t-1 w:2:2 u:2:3 m:t-2 w:1:4 f
expect "a good log passes" 0 "lost=0 torn=0" "$T/good" "$T/man"
expect "its points are counted" 0 "6 points checked \(2 flush, 1 FUA, 2 marks\)" "$T/good" "$T/man"
build "$T/stale" w:1:1 f m:t-1 w:2:2 m:t-2
expect "an older generation than acknowledged is lost" 1 "LOST: block 2 holds generation 2, acknowledged 3" "$T/stale" "$T/man"
build "$T/notyet" m:t-1 w:1:1 f w:2:3 m:t-2
expect "data logged after its mark is lost" 1 "LOST: block 1 holds generation 0, acknowledged 1" "$T/notyet" "$T/man"
build "$T/overwritten" w:1:1 f m:t-1 w:2:3 m:t-2 w:2:2 f
expect "an older write after the acknowledgement is lost" 1 "LOST: block 2 holds generation 2, acknowledged 3" "$T/overwritten" "$T/man"
build "$T/torn" w:1:1 f m:t-1 t:3 f w:2:3 m:t-2
expect "a torn block is found" 1 "TORN: block 3" "$T/torn" "$T/man"
build "$T/nomark" w:1:1 f m:t-1 w:2:3 f
expect "a mark missing from the log is lost data" 1 "MISSING: mark t-2" "$T/nomark" "$T/man"
# log-writes logs FUA writes at once and plain writes at the next flush:
# an older plain write can follow a FUA write to the same block; it is
# not what a device would hold and must not count as lost data. A newer
# plain write after a FUA write does count.
printf 't-1 1 1\nt-2 1 3\n' >"$T/man2"
build "$T/fuafirst" w:1:1 f m:t-1 u:1:3 w:1:2 f m:t-2
expect "an older plain write logged after a FUA write is kept out" 0 "lost=0 torn=0" "$T/fuafirst" "$T/man2"
build "$T/fuathen" w:1:1 f m:t-1 u:1:3 w:1:4 f m:t-2
expect "a newer plain write after a FUA write is replayed" 0 "lost=0 torn=0" "$T/fuathen" "$T/man2"
build "$T/fuastale" w:1:1 f m:t-1 u:1:3 f w:1:2 f m:t-2
expect "an older write after a flush that followed the FUA write is lost" 1 "LOST: block 1 holds generation 2, acknowledged 3" "$T/fuastale" "$T/man2"
# Every logged write is checked, not only the state at each point (the
# points alone pass each of these logs: "lost=0").
printf 't-1 1 3\n' >"$T/man3"
build "$T/stalefresh" w:1:3 f m:t-1 w:1:2 w:1:4 f
expect "a stale write followed by a fresh one in the same flush group is stale" 1 \
	"STALE: block 1: plain write at entry 3 carries generation 2, older than generation 3 ;; lost=0 torn=0 stale=1" \
	"$T/stalefresh" "$T/man3"
build "$T/stalefua" w:1:3 f m:t-1 u:1:2 u:1:4
expect "a stale FUA write is stale (and lost at its FUA point)" 1 \
	"STALE: block 1: FUA write at entry 3 carries generation 2 ;; lost=1 torn=0 stale=1" "$T/stalefua" "$T/man3"
printf 't-1 1 1\n' >"$T/man1"
build "$T/tornfresh" w:1:1 f m:t-1 t:2 w:2:5 f
expect "a torn write overwritten in its flush group is torn" 1 \
	"TORN: block 2 in write entry 3 ;; lost=0 torn=1 stale=0" "$T/tornfresh" "$T/man1"
# The superseded rule (an older plain write after a FUA write in the same
# flush group) hides no stale write: not one older than a plain write
# logged before it in the group (completion order), nor one older than
# what the block held when the group began. (The checker before this rule
# passed both logs: it kept the older write out of the image.)
printf 't-1 1 1\nt-2 1 5\n' >"$T/man4"
build "$T/supstale" w:1:1 f m:t-1 u:1:5 m:t-2 w:1:6 w:1:4 f
expect "superseded: not a write older than a plain one before it in the group" 1 \
	"STALE: block 1: plain write at entry 6 carries generation 4, older than generation 6 already logged for it \\(not superseded: older than generation 6, a plain write logged before it ;; stale=1" \
	"$T/supstale" "$T/man4"
printf 't-1 1 3\nt-2 1 5\n' >"$T/man5"
build "$T/supfloor" w:1:3 f m:t-1 u:1:5 m:t-2 w:1:2 f
expect "superseded: not a write older than the block held before the FUA write" 1 \
	"STALE: block 1: plain write at entry 5 carries generation 2, older than generation 5 already logged for it \\(not superseded: older than generation 3, what it held when its flush group began ;; stale=1" \
	"$T/supfloor" "$T/man5"
build "$T/supok" w:1:3 f m:t-1 u:1:5 m:t-2 w:1:4 w:1:4 f
expect "superseded: plain writes between the block's old and the FUA generation are kept out" 0 \
	"stale=0 ;; 2 older plain writes" "$T/supok" "$T/man5"
# Discards: announced (d), then acknowledged as zeroes (z).
printf 't-1 1 1\nt-2 1 1 d\nt-3 1 2 z\n' >"$T/man6"
build "$T/disc" w:1:1 f m:t-1 m:t-2 d:1 z:1 f m:t-3
expect "an announced discard reads as zeroes, also written as zeroes" 0 "1 discards ;; lost=0 torn=0 stale=0" "$T/disc" "$T/man6"
build "$T/discback" w:1:1 f m:t-1 m:t-2 d:1 w:1:1 f m:t-3
expect "discarded data that comes back is lost" 1 \
	"LOST: block 1 holds generation 1, acknowledged 2 \(discarded: zeroes\)" "$T/discback" "$T/man6"
build "$T/discstale" w:1:1 f m:t-1 m:t-2 d:1 f m:t-3 w:1:1 w:1:3 f
expect "discarded data written after the discard's acknowledgement is stale" 1 \
	"STALE: block 1: plain write at entry 7 carries generation 1, older than generation 2 acknowledged ;; lost=0 torn=0 stale=1" \
	"$T/discstale" "$T/man6"
build "$T/discspur" w:1:1 f m:t-1 d:1 f
expect "a discard nobody announced is lost data" 1 "LOST: block 1 holds generation 0, acknowledged 1 " "$T/discspur" "$T/man1"
build "$T/zeroes" w:1:1 f m:t-1 z:1 w:1:2 f
expect "zeroes over a block not discarded are stale" 1 \
	"STALE: block 1: plain write at entry 3 carries zeroes over generation 1" "$T/zeroes" "$T/man1"
# Partial blocks: 512-byte units in 4 KiB writes (a cache block written
# back after a sector of it changed).
expect512() { # NAME RC PATTERN LOG MANIFEST
	local rc=0
	"$T/tool" check "$4" $((4 * BS)) $SS "$5" >"$T/out" 2>&1 || rc=$?
	verdict "$1" "$rc" "$2" "$3"
}
{ for i in 8 9 10 11 12 13 14 15; do echo "p-1 $i 1"; done; echo "p-2 9 2"; } >"$T/man7"
build "$T/part" s:8:1,1,1,1,1,1,1,1 f m:p-1 s:8:1,2,1,1,1,1,1,1 f m:p-2 s:16:0,0,3,0,0,0,0,0 f
expect512 "512-byte units: a sector rewritten inside a block" 0 \
	"writes checked \(24 blocks of 512 bytes\); lost=0 torn=0 stale=0" "$T/part" "$T/man7"
build "$T/partstale" s:8:1,1,1,1,1,1,1,1 f m:p-1 s:8:1,2,1,1,1,1,1,1 f m:p-2 s:8:1,1,1,1,1,1,1,1 s:8:1,2,1,1,1,1,1,1 f
expect512 "512-byte units: a block written back with a stale sector, then a fresh one" 1 \
	"STALE: block 9: plain write at entry 6 carries generation 1, older than generation 2 ;; lost=0 torn=0 stale=1" \
	"$T/partstale" "$T/man7"
# A block written back before a FUA write of its sector, logged after it
# (a VM run found it): zeroes of a sector never written are superseded,
# not stale; zeroes over a sector the block held at the group's start are.
printf 'p-1 14 5\np-1 15 5\n' >"$T/man10"
build "$T/zsup" S:8:0,0,0,0,0,0,5,5 m:p-1 s:8:0,0,0,0,0,0,0,0 f m:p-2
expect512 "512-byte units: zeroes of a sector before its FUA write, logged after it, are superseded" 0 \
	"2 older plain writes ;; lost=0 torn=0 stale=0" "$T/zsup" "$T/man10"
build "$T/zstale" s:8:0,0,0,0,0,0,4,4 f S:8:0,0,0,0,0,0,5,5 m:p-1 s:8:0,0,0,0,0,0,0,0 f
expect512 "512-byte units: zeroes over a sector the block held before the FUA write are stale" 1 \
	"STALE: block 14: plain write at entry 4 carries zeroes over generation 5 ;; stale=2" "$T/zstale" "$T/man10"
# No stamps (a file system): the fsync'ed bytes of a file's block.
"$T/tool" stamp $BS 1 7 >"$T/fdata"
printf 'h-1 1 %s\n' "$("$T/tool" hash $BS "$T/fdata")" >"$T/man8"
build "$T/hgood" w:1:7 f m:h-1 f
expectn() { # NAME RC PATTERN LOG MANIFEST
	local rc=0
	"$T/tool" check -n "$4" $((4 * BS)) $BS "$5" >"$T/out" 2>&1 || rc=$?
	verdict "$1" "$rc" "$2" "$3"
}
expectn "no stamps: a block with its fsync'ed bytes" 0 "3 block checks ;; lost=0 torn=0 stale=0" "$T/hgood" "$T/man8"
build "$T/hstale" w:1:7 f m:h-1 w:1:8 w:1:7 f
expectn "no stamps: other bytes written over a fsync'ed block, then the right ones" 1 \
	"STALE: block 1: plain write at entry 3 does not carry the data fsync'ed before mark h-1 ;; lost=0 torn=0 stale=1" \
	"$T/hstale" "$T/man8"
build "$T/hlost" w:1:7 f m:h-1 w:1:8 f
expectn "no stamps: a fsync'ed block that loses its bytes" 1 \
	"LOST: block 1 does not hold the data fsync'ed before mark h-1" "$T/hlost" "$T/man8"
{ cat "$T/man8"; echo "h-2 1 -"; } >"$T/man9"
build "$T/hrel" w:1:7 f m:h-1 m:h-2 w:1:8 f
expectn "no stamps: a block released (file removed) may change" 0 "lost=0 torn=0 stale=0" "$T/hrel" "$T/man9"
# The final image: the good log's end state, and one that differs.
{ head -c $BS /dev/zero; "$T/tool" stamp $BS 1 4; "$T/tool" stamp $BS 2 3; head -c $BS /dev/zero; } >"$T/final"
expect "the end state equals the device" 0 "equals" "$T/good" "$T/man" "$T/final"
{ head -c $BS /dev/zero; "$T/tool" stamp $BS 1 1; "$T/tool" stamp $BS 2 3; head -c $BS /dev/zero; } >"$T/final2"
expect "an end state that differs is found" 1 "MISMATCH: .* at block 1" "$T/good" "$T/man" "$T/final2"
# -s/-j: the $FSCK command runs at every point, up to JOBS at once on
# images of their own ($BC_IMAGE, FSCK_IMAGE.SLOT), and an exit status
# above 1 is a failure, reported with its point even when the replay has
# gone on meanwhile.
# fsck_run NAME RC PATTERN JOBS CMD
fsck_run() {
	local rc=0
	FSCK="$5" "$T/tool" check -s "$T/fsimg" -e 1 -j "$4" "$T/good" $((4 * BS)) $BS "$T/man" >"$T/out" 2>&1 || rc=$?
	verdict "$1" "$rc" "$2" "$3"
}
fsck_run "fsck at every point, 2 at once, each on its own image" 0 "fsck: 6 runs, 0 with errors" 2 \
	'case "$BC_IMAGE" in "$(dirname "$BC_IMAGE")/fsimg.$BC_SLOT") ;; *) exit 5 ;; esac; [ "$(stat -c %s "$BC_IMAGE")" = 16384 ] || exit 6; sleep 0.1'
fsck_run "an fsck failure in flight is reported with its point" 1 "FSCK: .* found errors at entry [0-9]+ \(mark point\) ;; fsck: 6 runs, 2 with errors" 2 \
	'sleep 0.1; [ "$BC_POINT" != mark ]'' || exit 4'
fsck_run "one job: the image is FSCK_IMAGE itself" 0 "fsck: 6 runs, 0 with errors" 1 \
	'[ "$BC_IMAGE" = "$(dirname "$BC_IMAGE")/fsimg" ] || exit 5'

# bc-dmload needs a kernel (the VM test safety_ctr_faults runs it): here
# only that it builds warning-free and refuses bad arguments.
if cc -O2 -Wall -Wextra -Werror -o "$T/dmload" bc-dmload.c &&
	! "$T/dmload" -n 0 x 0 8 bufcache "p" 2>/dev/null && ! "$T/dmload" x 0 8 2>/dev/null; then
	echo "ok: bc-dmload builds and refuses bad arguments"
	passed=$((passed + 1))
else
	echo "FAIL: bc-dmload does not build, or accepts bad arguments"
	failed=$((failed + 1))
fi
# bc-dmctl (the VM test safety_fuzz_input runs it) likewise: it builds
# warning-free (it needs a kernel for the rest).
if cc -O2 -Wall -Wextra -Werror -o "$T/dmctl" bc-dmctl.c; then
	echo "ok: bc-dmctl builds"
	passed=$((passed + 1))
else
	echo "FAIL: bc-dmctl does not build"
	failed=$((failed + 1))
fi
# bc-nowait (cgroup_nowait): builds, and refuses bad arguments.
if cc -O2 -Wall -Wextra -Werror -o "$T/nowait" bc-nowait.c &&
	! "$T/nowait" read /dev/null 0 8 65536 1000 2>/dev/null && ! "$T/nowait" read /dev/null 2>/dev/null; then
	echo "ok: bc-nowait builds and refuses bad arguments"
	passed=$((passed + 1))
else
	echo "FAIL: bc-nowait does not build, or accepts bad arguments"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
