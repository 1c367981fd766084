#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host self-test of the replay checker (bc-logreplay.c): synthetic
# dm-log-writes logs that it must accept, and ones it must reject (lost
# acknowledged data, a torn block, a mark missing from the log, a final
# image that differs). Ends with "N passed, N failed".
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
# FUA write), m:NAME (a mark).
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
		f) hdr 0 0 1 0 >>"$T/body" ;;
		m) hdr 0 0 8 ${#a} "$a" >>"$T/body" ;;
		esac
		n=$((n + 1))
	done
	perl -e 'my $h=pack("Q<Q<Q<L<",0x6a736677736872,1,$ARGV[0],'"$SS"'); print $h."\0" x ('"$SS"'-length($h));' "$n" >"$log"
	cat "$T/body" >>"$log"
}
passed=0 failed=0
# expect NAME RC PATTERN LOG MANIFEST [FINAL]
expect() {
	local name="$1" want="$2" pat="$3" log="$4" man="$5" final="${6:-}" rc=0
	if [ -n "$final" ]; then
		"$T/tool" check -f "$final" "$log" $((4 * BS)) $BS "$man" >"$T/out" 2>&1 || rc=$?
	else
		"$T/tool" check "$log" $((4 * BS)) $BS "$man" >"$T/out" 2>&1 || rc=$?
	fi
	if [ "$rc" = "$want" ] && grep -Eq "$pat" "$T/out"; then
		passed=$((passed + 1))
		echo "ok: $name"
	else
		failed=$((failed + 1))
		echo "FAILED: $name (exit $rc, want $want, /$pat/):"
		sed 's/^/  /' "$T/out"
	fi
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
# The final image: the good log's end state, and one that differs.
{ head -c $BS /dev/zero; "$T/tool" stamp $BS 1 4; "$T/tool" stamp $BS 2 3; head -c $BS /dev/zero; } >"$T/final"
expect "the end state equals the device" 0 "equals" "$T/good" "$T/man" "$T/final"
{ head -c $BS /dev/zero; "$T/tool" stamp $BS 1 1; "$T/tool" stamp $BS 2 3; head -c $BS /dev/zero; } >"$T/final2"
expect "an end state that differs is found" 1 "MISMATCH: .* at block 1" "$T/good" "$T/man" "$T/final2"
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
