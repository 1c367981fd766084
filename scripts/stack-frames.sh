#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prints the largest stack frames of the built module, from its machine
# code: per function, the return address, the callee-saved registers pushed
# in the prologue and the `sub $N,%rsp` that makes room for locals.
#
#   scripts/stack-frames.sh [-n COUNT] [--max BYTES] [MODULE.ko]
#
# COUNT defaults to 15, MODULE to dm_bufcache.ko (build it first: `make`).
# The frame is only the function's own; callees add theirs. x86-64 only.
# The kernel stack is 16 KiB; the project's goal is every frame under
# 512 bytes.
#
# --max BYTES: the gate (scripts/test.sh runs it with 512 on the plain
# module): exit 1, naming them, if frames are larger, except those in
# ALLOWED below, each allowed up to its own figure and no further.

set -euo pipefail

count=15
max=""
# Frames allowed over the gate: one "function-name-substring bytes" per
# line, each with its reason here and in the code. None at present
# (ShardLock::new, 528 bytes, was the last: 416 since it builds the shard's
# state in place).
ALLOWED=""
while [ $# -gt 0 ]; do
	case "$1" in
	-n) count=$2; shift 2 ;;
	--max) max=$2; shift 2 ;;
	*) break ;;
	esac
done
ko=${1:-dm_bufcache.ko}
if [ ! -f "$ko" ]; then
	echo "error: $ko not found; run make first" >&2
	exit 1
fi

frames() {
objdump -d -C --no-show-raw-insn "$ko" | perl -ne '
	if (/^[0-9a-f]+ <(.*)>:$/) {
		finish();
		($fn, $pushes, $locals, $done) = ($1, 0, 0, 0);
		next;
	}
	next if $done || !defined $fn;
	if (/\spush\s+%r/) { $pushes++; next; }
	if (/\ssub\s+\$0x([0-9a-f]+),%rsp/) { $locals = hex($1); $done = 1; next; }
	sub finish {
		return unless defined $fn;
		printf "%6d %6d  %s\n", 8 + 8 * $pushes + $locals, $locals, $fn
			if $locals > 0;
	}
	END { finish(); }
' | sort -k1,1nr -k3
}

if [ -n "$max" ]; then
	all="$(frames)"
	[ -n "$all" ] || { echo "error: no function found in $ko" >&2; exit 1; }
	bad=0
	while read -r frame _ fn; do
		[ "$frame" -gt "$max" ] || break
		lim=""
		while read -r name bytes; do
			[ -n "$name" ] || continue
			[[ "$fn" != *"$name"* ]] || lim=$bytes
		done <<<"$ALLOWED"
		if [ -n "$lim" ] && [ "$frame" -le "$lim" ]; then
			echo "allowed: $frame bytes (up to $lim): $fn"
		else
			echo "over $max bytes: $frame: $fn" >&2
			bad=1
		fi
	done <<<"$all"
	echo "largest frames of $ko:"
	printf '%6s %6s  %s\n' frame locals function
	head -n 5 <<<"$all"
	exit "$bad"
fi
printf '%6s %6s  %s\n' frame locals function
frames | head -n "$count"
