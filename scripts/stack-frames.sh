#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prints the largest stack frames of the built module, from its machine
# code: per function, the return address, the callee-saved registers pushed
# in the prologue and the `sub $N,%rsp` that makes room for locals.
#
#   scripts/stack-frames.sh [-n COUNT] [MODULE.ko]
#
# COUNT defaults to 15, MODULE to dm_bufcache.ko (build it first: `make`).
# The frame is only the function's own; callees add theirs. x86-64 only.
# The kernel stack is 16 KiB; the project's goal is every frame under
# 512 bytes.

set -euo pipefail

count=15
if [ "${1:-}" = "-n" ]; then
	count=$2
	shift 2
fi
ko=${1:-dm_bufcache.ko}
if [ ! -f "$ko" ]; then
	echo "error: $ko not found; run make first" >&2
	exit 1
fi

printf '%6s %6s  %s\n' frame locals function
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
' | sort -k1,1nr -k3 | head -n "$((count + 1))"
