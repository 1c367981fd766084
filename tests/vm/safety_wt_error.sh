#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A failed writethrough write must not throw away another writer's newer
# data. Writethrough mode; the origin fails writes to blocks 64..99 and
# delays writes by 1.5 s. Writer A writes block X; while A's origin write
# is in flight, writer B writes other bytes to X. The origin still fails,
# so both must fail with EIO. Then, as bufcache.rst's "Failed FUA or
# writethrough write" says, the data stays in the cache as dirty and is
# served by reads, and a later flush writes it: before the origin heals,
# every X is dirty and reads B's bytes through the cache; after it heals,
# a flush succeeds, nothing is dirty, and X holds B's bytes through the
# cache and on the loop device itself (checked against the source files).
# Five rounds, blocks 66, 72, 78, 84 and 90, to make the bad interleaving
# likely (on the unfixed code about 2 rounds in 3 show it).
# vm-timeout: 240
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 16
blocks="66 72 78 84 90"
# Old data in X, on the loop device before anything else.
for x in $blocks; do
	run dd if=/dev/urandom of="/tmp/old$x" bs=4k count=1 status=none
	run dd if=/dev/urandom of="/tmp/a$x" bs=4k count=1 status=none
	run dd if=/dev/urandom of="/tmp/b$x" bs=4k count=1 status=none
	run dd if="/tmp/old$x" of="$loop" bs=4k seek="$x" count=1 oflag=direct conv=notrunc status=none
done
failing_origin 1500
dm="$(bc_create wt "$o2" 4096 cache_size $((127 * 4096)) writethrough max_age_ms 0 readahead 0)"
# Whatever happens, the cache writes back before it is removed.
on_cleanup heal

declare -A arc brc
for x in $blocks; do
	bg_start "a$x" dd if="/tmp/a$x" of="$dm" bs=4k seek="$x" count=1 oflag=direct status=none
	# B starts once A's origin write is in flight (ordering, not timing).
	deadline=$((SECONDS + 10))
	while [ "$(bc_field wt writing_blocks)" -eq 0 ] && [ "$SECONDS" -lt "$deadline" ] && [ ! -f "/tmp/a$x.rc" ]; do
		sleep 0.05
	done
	sleep 0.3
	bg_start "b$x" dd if="/tmp/b$x" of="$dm" bs=4k seek="$x" count=1 oflag=direct status=none
	if ! arc[$x]="$(bg_wait "a$x" 40)"; then
		heal
		die "block $x: writer A still blocked after 40 s"
	fi
	if ! brc[$x]="$(bg_wait "b$x" 40)"; then
		heal
		die "block $x: writer B still blocked after 40 s"
	fi
	log "block $x: A exit status ${arc[$x]}, B exit status ${brc[$x]}; $(bc_status wt)"
done

# whose DEV X: whose bytes block X of DEV holds (A, B, old or other).
whose() {
	local h
	h="$(dd if="$1" bs=4k skip="$2" count=1 iflag=direct status=none | sha_of)" || {
		echo unreadable
		return 0
	}
	case "$h" in
	"$(sha_of <"/tmp/a$2")") echo A ;;
	"$(sha_of <"/tmp/b$2")") echo B ;;
	"$(sha_of <"/tmp/old$2")") echo old ;;
	*) echo other ;;
	esac
}

fails=()
# Both writes of every round went to a failing origin: both fail, with EIO.
for x in $blocks; do
	for w in a b; do
		if [ "$w" = a ]; then rc="${arc[$x]}"; else rc="${brc[$x]}"; fi
		if [ "$rc" -eq 0 ]; then
			fails+=("block $x: writer ${w^^}'s writethrough write succeeded although the origin failed every write to it")
		elif ! grep -q "Input/output error" "/tmp/$w$x.out"; then
			fails+=("block $x: writer ${w^^}'s write failed, but not with EIO: $(tr '\n' ' ' <"/tmp/$w$x.out")")
		fi
	done
done
# Still failing: the data stays dirty in the cache and is served by reads;
# B's bytes are the newest.
n=$(wc -w <<<"$blocks")
d="$(bc_field wt dirty_blocks)"
[ "$d" -eq "$n" ] || fails+=("$d dirty blocks before the origin heals, not $n: the failed writes' data did not stay dirty in the cache")
for x in $blocks; do
	what="$(whose "$dm" "$x")"
	log "block $x before healing: the cache returns $what data"
	[ "$what" = B ] || fails+=("block $x: before the origin heals, the cache returns $what data, not writer B's")
done

run heal
flush_rc=0
dmsetup message wt 0 flush || flush_rc=$?
log "flush after healing: exit status $flush_rc; $(bc_status wt)"
[ "$flush_rc" -eq 0 ] || fails+=("flush after the origin healed failed with status $flush_rc")
d="$(bc_field wt dirty_blocks)"
[ "$d" -eq 0 ] || fails+=("$d dirty blocks after the flush that followed healing")

# The flush wrote B's bytes: through the cache and on the loop device.
for x in $blocks; do
	what="$(whose "$dm" "$x")" ow="$(whose "$loop" "$x")"
	log "block $x: A=${arc[$x]} B=${brc[$x]}; the cache returns $what data, the origin holds $ow data"
	[ "$what" = B ] || fails+=("block $x: after healing and a flush, the block reads $what data through the cache, not writer B's")
	[ "$ow" = B ] || fails+=("block $x: after healing and a flush, the origin holds $ow data, not writer B's")
done

if [ "${#fails[@]}" -gt 0 ]; then
	die "$(printf '%s; ' "${fails[@]}")"
fi
log "OK"
