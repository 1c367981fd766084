#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module budget is what the user asked for, and the status says so.
# A target whose cache_size is above max_cache_size_bytes is accepted with a
# kernel-log warning, and its cap_bytes shows what it can really hold.
# max_cache_size_bytes can be written at run time (as dm-bufio's): lowered
# below what the target holds, the target gives memory back (writing back
# dirty data first, none of it lost); raised, it grows again.
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
P=/sys/module/dm_bufcache/parameters/max_cache_size_bytes
bc_setup 64 max_cache_size_bytes=$((8 * MB))
dmesg -C
dm="$(bc_create bp "$loop" 4096 cache_size $((32 * MB)) max_age_ms 0 readahead 0 sequential_cutoff 0)"
dmesg | grep -q "cache_size $((32 * MB)) is larger than the module budget of $((8 * MB)) bytes" ||
	die "no kernel-log warning for a cache_size above the budget: $(dmesg | tail -3)"
assert_eq "$(bc_field bp cap_bytes)" $((8 * MB)) "cap_bytes under an 8 MiB budget"

# used_within MAX SECONDS: bytes_used drops to MAX or below within SECONDS
# (a hang check, not a timing assertion: giving back takes one background
# pass, about a second).
used_within() {
	local max="$1" t="$2" i used
	for ((i = 0; i < t * 10; i++)); do
		used="$(bc_field bp bytes_used)"
		[ "$used" -le "$max" ] && return 0
		sleep 0.1
	done
	die "bytes_used is still $used, above $max, ${t}s after max_cache_size_bytes became $(cat $P)"
}

# Clean data: 6 MiB read into the cache. Dirty data: 2 MiB written.
run dd if="$dm" of=/dev/null bs=1M count=6 iflag=direct status=none
fio_write "$dm" $((40 * MB)) $((2 * MB))
used="$(bc_field bp bytes_used)"
dirty="$(bc_field bp dirty_blocks)"
log "holds $used bytes, $dirty dirty blocks"
[ "$used" -gt $((7 * MB)) ] || die "the cache holds only $used bytes after 8 MiB of I/O"
[ "$dirty" -gt 0 ] || die "no dirty data to give back"

# Lowered to 1 MiB: the target gives back (the 16-block reserve is its own
# minimum, on top of the budget).
run sh -c "echo $((1 * MB)) >$P"
assert_eq "$(cat $P)" $((1 * MB)) "max_cache_size_bytes after writing it"
assert_eq "$(bc_field bp cap_bytes)" $((1 * MB)) "cap_bytes under a 1 MiB budget"
used_within $((1 * MB + 64 * 1024)) 30
figure "budget 8 MiB -> 1 MiB: bytes_used $used -> $(bc_field bp bytes_used), dirty blocks $dirty -> $(bc_field bp dirty_blocks)"

# Raised to 16 MiB: it grows again, up to the budget.
run sh -c "echo $((16 * MB)) >$P"
assert_eq "$(bc_field bp cap_bytes)" $((16 * MB)) "cap_bytes under a 16 MiB budget"
run dd if="$dm" of=/dev/null bs=1M skip=8 count=12 iflag=direct status=none
used="$(bc_field bp bytes_used)"
[ "$used" -gt $((12 * MB)) ] || die "the cache did not grow after the budget was raised: $used bytes"
figure "budget 1 MiB -> 16 MiB: bytes_used $used"

# 0 is the default, 2% of RAM; a bad value is refused and changes nothing.
run sh -c "echo 0 >$P"
want=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 * 2 / 100))
cap="$(bc_field bp cap_bytes)"
within 2 "$cap" "$want" || die "cap_bytes $cap is not 2% of RAM ($want) with max_cache_size_bytes=0"
expect_fail "a budget that is not a number" sh -c "echo lots >$P"
assert_eq "$(cat $P)" 0 "max_cache_size_bytes after a refused write"

# Bounded by RAM (data-safety defect 2: "unlimited", 2^64-1, was accepted
# and a kworker died of an overflow in the budget's sum within a second;
# 2^60 made a target without cache_size with zero slots, whose every miss
# hung). Both are refused, with a reason, and change nothing.
ram=$(($(mem_kb MemTotal) * 1024))
dmesg -C
expect_fail "a budget of 2^64-1 bytes" sh -c "echo 18446744073709551615 >$P"
dmesg | grep -q "max_cache_size_bytes 18446744073709551615 refused: larger than the machine's RAM" ||
	die "no reason in the kernel log for a refused budget: $(dmesg | tail -2)"
expect_fail "a budget of 2^60 bytes" sh -c "echo $((1 << 60)) >$P"
expect_fail "a budget of RAM + 1 byte" sh -c "echo $((ram + 1)) >$P"
assert_eq "$(cat $P)" 0 "max_cache_size_bytes after refused writes"
# All of RAM is accepted: the live target keeps working (its cap is its
# cache_size), and a target without cache_size (cap: the budget) loads
# with 4 KiB blocks and serves I/O. With 512-byte blocks its index alone
# would need more than an eighth of RAM: refused, with that reason.
run sh -c "echo $ram >$P"
assert_eq "$(cat $P)" "$ram" "max_cache_size_bytes = RAM"
sleep 1.5 # a background pass of bp runs with the new budget
assert_eq "$(bc_field bp cap_bytes)" $((32 * MB)) "cap_bytes of bp under a budget of all RAM"
big="$(bc_create bpbig "$loop" 4096 readahead 0)"
capb="$(bc_field bpbig cap_bytes)"
[ "$capb" -gt $((ram / 2)) ] || die "cap_bytes $capb of a target without cache_size under a budget of all RAM ($ram)"
run dd if=/dev/urandom of=/tmp/big bs=1M count=4 status=none
run dd if=/tmp/big of="$big" bs=1M seek=48 count=4 oflag=direct status=none
assert_eq "$(sha_range "$big" 48 4)" "$(sha_of </tmp/big)" "4 MiB through a target whose cap is all RAM"
run dmsetup remove bpbig
assert_eq "$(sha_range "$loop" 48 4)" "$(sha_of </tmp/big)" "4 MiB on the origin after remove"
dmesg -C
expect_fail "a target of 512-byte blocks whose index would not fit" \
	dmsetup create bpidx --table "0 $sz bufcache $loop 512"
dmesg | grep -q "bufcache: Cache index too large for the machine's RAM" ||
	die "no reason in the kernel log for the refused table: $(dmesg | tail -2)"
run sh -c "echo 0 >$P"

# Nothing written was lost on the way.
run dmsetup remove bp
fio_verify "$loop" $((40 * MB)) $((2 * MB))
log "OK"
