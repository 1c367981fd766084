#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Limits, one boot: a cache bigger than the machine, a discard as big as
# the device.
#
# 1. A table line whose cache_size is larger than the machine's RAM (1 TiB
#    on this 1 GiB guest, 4 KiB blocks) is refused within 60 s with the
#    reason "cache_size is larger than the machine's RAM" in the kernel log,
#    leaves no device and no module reference behind, and does not push the
#    machine into the OOM killer (the create runs with oom_score_adj 1000,
#    the test itself with -1000, so that it can report).
# 2. A discard of a whole 4 GiB device (bufcache over a loop device on a
#    sparse tmpfs file) completes within 150 s, with no soft lockup or
#    RCU stall (the harness judges the kernel log), drops the cached
#    blocks in the range (dirty ones included: they read back as zeroes)
#    and passes the discard down. The time it took is printed. (On this
#    CONFIG_PREEMPT kernel a missing cond_resched() would not show; the
#    test guards the walk's correctness and bounded time.)
# At the end `rmmod dm_bufcache` works.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

fails=()
fail() {
	fails+=("$*")
	log "FAILURE: $*"
}

echo -1000 >/proc/self/oom_score_adj
bc_load
oom0="$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)"

# ---- 1. cache_size larger than RAM ----
ram_kb="$(mem_kb MemTotal)"
big=$((1 << 40))
log "RAM ${ram_kb} KiB; cache_size $big"
loop="$(make_loop 64)"
sz="$(blockdev --getsz "$loop")"
echo "safety_small: big cache_size" >/dev/kmsg
t0=$SECONDS
bg_start big sh -c "echo 1000 >/proc/self/oom_score_adj; exec dmsetup create big --table '0 $sz bufcache $loop 4096 2 cache_size $big'"
if ! rc="$(bg_wait big 60)"; then
	fail "dmsetup create with cache_size 1 TiB still running after 60 s"
	rc="$(bg_wait big 240)" || die "$(printf '%s; ' "${fails[@]}") and after 300 s"
fi
log "create with cache_size 1 TiB: exit status $rc after $((SECONDS - t0)) s: $(tr '\n' ' ' </tmp/big.out)"
reason="$(dmesg | sed -n '/safety_small: big cache_size/,$p' | grep -o 'table: [0-9:]*: bufcache: .*' | sed 's/^table: [0-9:]*: //' | tail -1 || true)"
log "kernel: ${reason:-no bufcache reason in the kernel log}"
if [ "$rc" = 0 ]; then
	fail "a table with cache_size 1 TiB on a $((ram_kb >> 10)) MiB machine was accepted: $(dmsetup table big 2>&1)"
	dmsetup remove big || true
else
	case "$reason" in
	*"cache_size is larger than the machine's RAM"*) ;;
	*) fail "refused, but not for the reason 'cache_size is larger than the machine's RAM' (kernel: '${reason:-nothing}')" ;;
	esac
fi
oom1="$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)"
[ "$oom1" = "$oom0" ] || fail "the OOM killer ran $((oom1 - oom0)) time(s) during the create"
if dmsetup info big >/dev/null 2>&1; then
	fail "device 'big' is left over (no table; dmsetup was killed before it could remove it?)"
	dmsetup remove big || true
fi
[ "$(cat /sys/module/dm_bufcache/refcnt)" = 0 ] || fail "dm_bufcache refcnt $(cat /sys/module/dm_bufcache/refcnt) with no device"
[ -z "$(ls "/sys/block/$(basename "$loop")/holders")" ] || fail "$loop still has holders after the refused create"
# A sane cache_size still works on the same origin.
dm="$(bc_create ok "$loop" 4096 cache_size $((4 << 20)))"
run dd if=/dev/urandom of="$dm" bs=64k count=4 oflag=direct status=none
run dmsetup remove ok

# ---- 2. a huge discard ----
# The huge discard: 4 GiB, sparse file on tmpfs (the origin takes the
# discard too, after the target has walked every block of it).
dloop="$(make_loop 4096)"
dname="$(basename "$dloop")"
log "origin $dloop (4 GiB, sparse file on tmpfs): discard_max_bytes $(cat "/sys/block/$dname/queue/discard_max_bytes")"
ddev="$(bc_create dc "$dloop" 4096 cache_size $((16 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100)"
dmax="$(cat "/sys/block/$(basename "$ddev")/queue/discard_max_bytes")"
log "bufcache device $ddev: discard_max_bytes $dmax"
[ "$dmax" -gt 0 ] || die "the bufcache device takes no discards over a tmpfs loop device"
# A flushed (clean) block, and dirty blocks spread over the device.
run dd if=/dev/urandom of=/tmp/pat bs=64k count=1 status=none
run dd if=/tmp/pat of="$ddev" bs=64k seek=$((2500 * 16)) count=1 oflag=direct status=none
run dmsetup message dc 0 flush
for mb in 0 1000 2047 3000 4090; do
	run dd if=/tmp/pat of="$ddev" bs=64k seek=$((mb * 16)) count=1 oflag=direct status=none
done
log "before the discard: $(bc_status dc)"
d0="$(bc_field dc discards)"
t0="$(date +%s.%N)"
bg_start disc blkdiscard "$ddev"
if ! rc="$(bg_wait disc 150)"; then
	fail "blkdiscard of 4 GiB still running after 150 s"
	rc="$(bg_wait disc 120)" || die "$(printf '%s; ' "${fails[@]}") and after 270 s"
fi
t1="$(date +%s.%N)"
secs="$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')"
log "blkdiscard of 4 GiB: exit status $rc in ${secs} s; $(bc_field dc discards) - $d0 discard bios reached the target"
[ "$rc" = 0 ] || fail "blkdiscard failed ($rc): $(tr '\n' ' ' </tmp/disc.out)"
assert_eq "$(bc_field dc dirty_blocks)" 0 "dirty blocks after discarding everything"
assert_eq "$(bc_field dc blocks_cached)" 0 "cached blocks after discarding everything"
# The dirty data never reached the origin, and the origin discarded the
# range too: all of it reads as zeroes, the same through the device and
# on the origin.
for mb in 0 1000 2047 3000 4090; do
	cmp -s -n 65536 <(dd if="$ddev" bs=64k skip=$((mb * 16)) count=1 iflag=direct status=none) /dev/zero ||
		fail "the discarded dirty block at $mb MiB does not read as zeroes"
done
cmp -s <(dd if="$ddev" bs=64k skip=$((2500 * 16)) count=1 iflag=direct status=none) \
	<(dd if="$dloop" bs=64k skip=$((2500 * 16)) count=1 iflag=direct status=none) ||
	fail "the block at 2500 MiB differs from the origin after the discard"
cmp -s -n 65536 <(dd if="$ddev" bs=64k skip=$((2500 * 16)) count=1 iflag=direct status=none) /dev/zero ||
	fail "the block at 2500 MiB (clean, discarded) does not read as zeroes"
log "after the discard: $(bc_status dc)"
run dmsetup remove dc

[ -z "$(dmsetup ls --target bufcache 2>/dev/null | grep -v 'No devices found')" ] || fail "bufcache devices left: $(dmsetup ls)"
rmmod dm_bufcache 2>/tmp/rmmod.err || fail "rmmod dm_bufcache failed: $(cat /tmp/rmmod.err)"

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
