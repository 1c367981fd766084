#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Budget contention: four targets share a tiny module budget (4 MiB: 1024
# blocks of 4 KiB; no cache_size, so each one's cap is the whole budget)
# and run fio at the same time: two write-and-verify 8 MiB (writeback,
# then their dirty data must go out for others to get memory), one
# reads 8 MiB over and over, one does random 4 KiB reads and writes with
# verification. Each must finish within 150 s (progress for all; no target
# starves), verify, and have held cache memory of its own at some point.
# Then each target is reloaded with its own table line while the others
# still hold their memory (warm reloads: the new table's reserve must be
# found), and afterwards every target's data verifies on its loop device.
# The figures: bytes verified, the most memory each target held.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load max_cache_size_bytes=$((4 << 20))
MB=$((1 << 20))
declare -a L D
for i in 1 2 3 4; do
	L[i]="$(make_loop 24)"
	D[i]="$(bc_create "bk$i" "${L[i]}" 4096 readahead 4)"
done
run dd if=/dev/urandom of="${L[3]}" bs=1M count=8 oflag=direct status=none
sha3="$(sha_range "${L[3]}" 0 8)"

fiov() { # NAME DEV RW [ARGS...]: write and verify 8 MiB
	local n="$1" dev="$2" rw="$3"
	shift 3
	fio --output-format=terse --terse-version=3 --name="$n" --filename="$dev" --rw="$rw" \
		--bs=4k --size=$((8 * MB)) --direct=1 --ioengine=psync --verify=crc32c \
		--verify_fatal=1 --do_verify=1 --randseed=7 "$@" >/dev/null
}
reader() { # reads target 3's 8 MiB until /tmp/stop, checking each pass
	local n=0
	while [ ! -f /tmp/stop ] || [ "$n" -lt 2 ]; do
		[ "$(sha_range "${D[3]}" 0 8)" = "$sha3" ] || { echo "pass $n read wrong data"; return 1; }
		n=$((n + 1))
	done
	echo "$n passes"
}
rm -f /tmp/stop
bg_start c1 fiov c1 "${D[1]}" write
bg_start c2 fiov c2 "${D[2]}" write --bs=64k
bg_start c3 reader
bg_start c4 fiov c4 "${D[4]}" randrw --verify_backlog=32
declare -a MAXB=(0 0 0 0 0)
t0=$SECONDS
left="c1 c2 c4"
while [ -n "$left" ]; do
	[ $((SECONDS - t0)) -lt 150 ] || die "still running after 150 s: $left; $(for i in 1 2 3 4; do echo "bk$i: $(bc_status "bk$i")"; done)"
	for i in 1 2 3 4; do
		u="$(bc_field "bk$i" bytes_used)"
		[ "$u" -le "${MAXB[i]}" ] || MAXB[i]="$u"
	done
	nl=""
	for j in $left; do [ -f "/tmp/$j.rc" ] || nl+="$j "; done
	left="$nl"
	sleep 0.5
done
touch /tmp/stop
rc="$(bg_wait c3 60)" || die "the reader did not stop"
for j in c1 c2 c3 c4; do
	assert_eq "$(cat "/tmp/$j.rc")" 0 "$j exit status ($(head -c 300 "/tmp/$j.out"))"
done
figure "4 targets, 4 MiB budget: all finished in $((SECONDS - t0)) s (reader: $(cat /tmp/c3.out)); most memory held: ${MAXB[1]} ${MAXB[2]} ${MAXB[3]} ${MAXB[4]} bytes"
for i in 1 2 3 4; do
	[ "${MAXB[i]}" -ge $((64 * 4096)) ] || die "bk$i never held 64 blocks (most: ${MAXB[i]} bytes): starved"
done

# Warm reloads, one after the other, the others holding their memory.
for i in 1 2 3 4; do
	t="$(dmsetup table "bk$i")" || die "dmsetup table bk$i failed"
	run dmsetup reload "bk$i" --table "$t"
	run dmsetup suspend "bk$i"
	run dmsetup resume "bk$i"
done
log "warm reloads done; $(for i in 1 2 3 4; do printf 'bk%s used %s; ' "$i" "$(bc_field "bk$i" bytes_used)"; done)"
fiov c1 "${D[1]}" write --verify_only || die "bk1 data does not verify after the reload"
for i in 1 2 3 4; do run dmsetup remove "bk$i"; done
fiov c1 "${L[1]}" write --verify_only || die "target 1's data does not verify on its loop device"
fiov c2 "${L[2]}" write --bs=64k --verify_only || die "target 2's data does not verify on its loop device"
assert_eq "$(sha_range "${L[3]}" 0 8)" "$sha3" "target 3's loop device"
log "OK: 24 MiB written and verified through the targets and on the origins"
