#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every target makes progress whatever the others hold and whatever its
# settings (data-safety defect 1 of the last review), and a request that
# can get no memory at all gives up after a bounded wait instead of
# waiting for ever.
#
# 1. One target over a 4 MiB module budget, cache_size 16 MiB (16 shards),
#    low_watermark 100 and max_age_ms 0 (no background writeback): 1023
#    dirty blocks fill the budget in 13 of its shards, one more write in an
#    empty shard X1 spends the reserve, and then a read miss in another
#    empty shard X2 finds no memory in its shard, an empty reserve and no
#    clean block anywhere. It must be served: the miss writes back another
#    shard's oldest blocks and takes one. The negative control
#    (test_no_refill_writeback=1: only clean blocks are taken, the wait has
#    no bound, as before the fix) leaves it blocked.
# 2. The same state in a new table, and an origin that refuses writes: a
#    read and a write miss in empty shards can get no memory at all. Both give up after the bounded wait (10 s): the read
#    goes to the origin (which fails it), the write fails with EIO, both are
#    counted in noslot_errors; no dirty block is lost, and once the origin
#    heals everything is written and the write succeeds.
# 3. A suspended sibling holding the whole budget gives clean memory back
#    to a starving target within seconds (it used to keep it until it
#    resumed): its bytes_used falls to its fair share while suspended,
#    and the other target caches what it reads.
#
# The target's reserve is one block here (test_reserve_blocks=1). By
# default it has at least one block per shard, so part 1's state comes
# only from concurrent misses of a pinned block spending the reserve in one
# shard, which a test cannot time. Data is checked against the source
# bytes: the origin's (/tmp/src) and what each target wrote over it
# (/tmp/w1, /tmp/w2: other bytes, so a lost write shows). Block N's shard: (((N >> 4) * 0x9E3779B97F4A7C15) >> 32) % 16
# (shard_of, rust/cache/shard/mod.rs) for a target of 16 shards.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

MB=$((1 << 20))
bc_load max_cache_size_bytes=$((4 * MB)) test_reserve_blocks=1
lb="$(make_loop 32)"
run dd if=/dev/urandom of=/tmp/src bs=1M count=32 status=none
run dd if=/tmp/src of="$lb" bs=1M count=32 oflag=direct conv=notrunc status=none
run dd if=/dev/urandom of=/tmp/new bs=1M count=1 status=none
# What the targets write over the origin's groups: other data than the
# origin holds (/tmp/src), and other for each target, so that a write lost
# on its way to the origin shows.
run dd if=/dev/urandom of=/tmp/w1 bs=1M count=8 status=none
run dd if=/dev/urandom of=/tmp/w2 bs=1M count=8 status=none

# shard_of BLOCK: the shard of a 4 KiB block of a 16-shard target.
shard_of() {
	echo $(((((($1 >> 4) * 0x9E3779B97F4A7C15) >> 32) & 0xFFFFFFFF) % 16))
}
blk_sha() { dd if="$1" bs=4k skip="$2" count=1 iflag=direct status=none | sha_of; }
file_blk_sha() { dd if="$1" bs=4k skip="$2" count=1 status=none | sha_of; }

# The origin, switchable to the error target.
dm_create ns_orig "0 $(blockdev --getsz "$lb") linear $lb 0" >/dev/null
origin="$(dm_dev ns_orig)"
on_cleanup dmsetup resume ns_orig

# Three empty shards (those of groups 0, 1, 2 and on, by first use): X1,
# X2, X3; the 1023 dirty blocks go to groups of the other shards.
declare -A special
xs=()
g=0
while [ "${#xs[@]}" -lt 3 ]; do
	s="$(shard_of $((g * 16)))"
	if [ -z "${special[$s]:-}" ]; then
		special[$s]=1
		xs+=($((g * 16)))
	fi
	g=$((g + 1))
done
x1=${xs[0]} x2=${xs[1]} x3=${xs[2]}
log "empty shards: X1 block $x1 (shard $(shard_of $x1)), X2 block $x2 (shard $(shard_of $x2)), X3 block $x3 (shard $(shard_of $x3))"

# for_groups CMD: CMD GROUP COUNT for the 1023 blocks = the 4 MiB budget
# less the one reserve block (charged to it): 63 whole groups and 15
# blocks of a 64th, all in the shards other than X1's, X2's and X3's.
for_groups() {
	local left=1023 g=0 n
	while [ "$left" -gt 0 ]; do
		if [ -z "${special[$(shard_of $((g * 16)))]:-}" ]; then
			n=$((left < 16 ? left : 16))
			"$@" "$g" "$n"
			left=$((left - n))
		fi
		g=$((g + 1))
	done
}
# The groups' writes and checks go through one bc-dmctl coprocess (O_DIRECT,
# as dd would): 64 groups cost 64 dd, or 128 dd and sha256sum, otherwise.
dmc_start
write_group() {
	dmc "write $b $(($1 * 128)) $W $(($1 * 65536)) $(($2 * 4096)) 4096"
	[ "$reply" = ok ] || die "writing group $1 failed: $reply"
}
check_group() {
	dmc "verify $lb $(($1 * 128)) $W $(($1 * 65536)) $(($2 * 4096)) 4096"
	[ "$reply" = ok ] || die "group $1 on the origin is not the data written to it ($W): $reply"
}
# fill NAME: a target NAME ($b) over the origin whose budget is all dirty
# blocks and whose reserve block holds X1 (a write miss with the budget
# full), also dirty; X2's and X3's shards hold nothing.
fill() {
	b="$(bc_create "$1" "$origin" 4096 cache_size $((16 * MB)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0 sequential_cutoff 0)"
	for_groups write_group
	assert_eq "$(bc_field "$1" dirty_blocks)" 1023 "$1: dirty blocks after filling the budget"
	# bytes_used counts the reserve block too: the whole budget.
	assert_eq "$(bc_field "$1" bytes_used)" $((4 * MB)) "$1: bytes_used after filling the budget"
	run dd if=/tmp/new of="$b" bs=4k count=1 seek=$x1 oflag=direct conv=notrunc status=none
	assert_eq "$(bc_field "$1" reserve_in_use)" 1 "$1: reserve blocks in use after the write of X1"
	assert_eq "$(bc_field "$1" dirty_blocks)" 1024 "$1: dirty blocks after the write of X1"
}

fails=()
# 1. X2: a read miss with no memory anywhere but in dirty blocks.
W=/tmp/w1
fill ns_b
wb0="$(bc_field ns_b writebacks)"
bg_start readx dd if="$b" of=/tmp/x2 bs=4k count=1 skip=$x2 iflag=direct status=none
# 15 s: served in about 1 s in the suite.
if ! rc="$(bg_wait readx 15)"; then
	fails+=("a read miss in an empty shard is still blocked after 15 s (reserve spent, every other block of the target dirty)")
	# Said at once (the negative control stops the VM on it).
	log "${fails[-1]}: $(bc_status ns_b)"
	# Let it go on, so that the test (and its cleanup) can finish.
	run dmsetup message ns_b 0 flush
	rc="$(bg_wait readx 30)" || die "${fails[*]}; still blocked 30 s after a flush"
fi
assert_eq "$rc" 0 "exit status of the read of X2 ($(cat /tmp/readx.out))"
assert_eq "$(sha_of </tmp/x2)" "$(file_blk_sha /tmp/src $x2)" "block X2 read through the cache"
wb="$(bc_field ns_b writebacks)"
log "after the read of X2: $(bc_status ns_b)"
run dmsetup remove ns_b
for_groups check_group
assert_eq "$(blk_sha "$lb" $x1)" "$(file_blk_sha /tmp/new 0)" "block X1 on the origin"
if [ "${#fails[@]}" -eq 0 ]; then
	[ "$wb" -gt "$wb0" ] || die "X2 was served, but no block was written back to make room"
	figure "a miss with every block dirty and the reserve spent: served after writing back $((wb - wb0)) block(s) of another shard"

	# 2. The same state, and the origin fails: nothing can be written back.
	W=/tmp/w2
	fill ns_b2
	run dmsetup reload ns_orig --table "0 $(blockdev --getsz "$lb") error"
	run dmsetup resume ns_orig
	ns0="$(bc_field ns_b2 noslot_errors)"
	bg_start readz dd if="$b" of=/tmp/x2 bs=4k count=1 skip=$x2 iflag=direct status=none
	bg_start writez dd if=/tmp/new of="$b" bs=4k count=1 skip=2 seek=$((x3 + 1)) oflag=direct conv=notrunc status=none
	rr="$(bg_wait readz 60)" || fails+=("a read miss that can get no memory at all is still blocked after 60 s: no bounded wait")
	rw="$(bg_wait writez 60)" || fails+=("a write miss that can get no memory at all is still blocked after 60 s: no bounded wait")
	log "after the misses in X2 and X3: $(bc_status ns_b2)"
	if [ "${#fails[@]}" -eq 0 ]; then
		[ "$rr" -ne 0 ] || die "the read of X2 succeeded from an origin that fails every I/O"
		[ "$rw" -ne 0 ] || die "the write of X3 succeeded without memory, over a failing origin"
		grep -q "Input/output error" /tmp/writez.out || die "the write of X3 did not fail with EIO: $(cat /tmp/writez.out)"
		ns="$(bc_field ns_b2 noslot_errors)"
		[ "$ns" -ge $((ns0 + 2)) ] || die "noslot_errors $ns0 -> $ns: the two give-ups are not counted"
		assert_eq "$(bc_field ns_b2 dirty_blocks)" 1024 "dirty blocks after the give-ups"
		figure "no memory and nothing writable: a read and a write gave up after the bounded wait (noslot_errors $ns0 -> $ns)"
	fi
	run dmsetup reload ns_orig --table "0 $(blockdev --getsz "$lb") linear $lb 0"
	run dmsetup resume ns_orig
	run dmsetup message ns_b2 0 flush
	assert_eq "$(bc_field ns_b2 dirty_blocks)" 0 "dirty blocks after the origin healed and a flush"
	assert_eq "$(blk_sha "$b" $((x3 + 1)))" "$(file_blk_sha /tmp/src $((x3 + 1)))" "block X3+1 (its write failed)"
	run dd if=/tmp/new of="$b" bs=4k count=1 skip=2 seek=$((x3 + 1)) oflag=direct conv=notrunc status=none
	assert_eq "$(blk_sha "$b" $((x3 + 1)))" "$(file_blk_sha /tmp/new 2)" "block X3+1 written once the origin healed"
	run dmsetup remove ns_b2
	for_groups check_group
	assert_eq "$(blk_sha "$lb" $x1)" "$(file_blk_sha /tmp/new 0)" "block X1 on the origin (second target)"
	assert_eq "$(blk_sha "$lb" $((x3 + 1)))" "$(file_blk_sha /tmp/new 2)" "block X3+1 on the origin"
fi

# 3. A suspended sibling gives clean memory back.
la="$(make_loop 16)"
a="$(bc_create ns_a "$la" 4096 readahead 0 sequential_cutoff 0)"
run dd if="$a" of=/dev/null bs=1M count=16 iflag=direct status=none
ua="$(bc_field ns_a bytes_used)"
[ "$ua" -ge $((4 * MB - 64 * 1024)) ] || die "A holds only $ua bytes of the 4 MiB budget"
run dmsetup suspend ns_a
c="$(bc_create ns_c "$origin" 4096 cache_size $((16 * MB)) readahead 0 sequential_cutoff 0)"
for pass in 1 2 3; do
	assert_eq "$(sha_range "$c" 16 2)" "$(dd if=/tmp/src bs=1M skip=16 count=2 status=none | sha_of)" "2 MiB through C, pass $pass"
	sleep 1
done
ua2="$(bc_field ns_a bytes_used)" cc="$(bc_field ns_c blocks_cached)"
log "suspended A: bytes_used $ua -> $ua2; C: $(bc_status ns_c)"
[ "$ua2" -le $((2 * MB + 64 * 1024)) ] ||
	fails+=("suspended A still holds $ua2 bytes of the 4 MiB budget while C starves (its fair share is 2 MiB)")
[ "$cc" -ge 256 ] || fails+=("C caches only $cc blocks of the 2 MiB (512 blocks) it read three times")
figure "a suspended sibling gave back $((ua - ua2)) bytes while suspended; the starving target caches $cc blocks"
run dmsetup resume ns_a
assert_eq "$(sha_range "$a" 0 16)" "$(head -c $((16 * MB)) /dev/zero | sha_of)" "A (a zeroed loop device) after resume"
if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
