#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Table lines: the TABLE status reloads as-is; every bad line is refused
# with its own message in the kernel log and leaves no device behind.
# vm-timeout: 180
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 32
majmin="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"

# Round trip: what `dmsetup table` prints loads back to the same table,
# with and without options.
roundtrip() {
	local line="$1" want="$2" t1 t2
	dm_create rt "$line" >/dev/null
	t1="$(dmsetup table rt)"
	assert_eq "$t1" "$want" "table line"
	run dmsetup reload rt --table "$t1"
	run dmsetup resume rt
	t2="$(dmsetup table rt)"
	assert_eq "$t2" "$t1" "table after reload"
	dm_create rt2 "$t1" >/dev/null
	assert_eq "$(dmsetup table rt2)" "$t1" "table of a second device made from it"
	run dmsetup remove rt2
	run dmsetup remove rt
	log "round trip OK: $t1"
}
roundtrip "0 $sz bufcache $loop 4096" "0 $sz bufcache $majmin 4096"
roundtrip "0 $sz bufcache $loop 512 1 writethrough" "0 $sz bufcache $majmin 512 1 writethrough"
roundtrip "0 $sz bufcache $loop 4096 11 readahead 0 max_age_ms 100 low_watermark 5 high_watermark 90 cache_size 1048576 writeback" \
	"0 $sz bufcache $majmin 4096 11 cache_size 1048576 writeback high_watermark 90 low_watermark 5 max_age_ms 100 readahead 0"

# A 4K-sector origin for the "smaller than the origin's block size" case.
f4k="$(mktemp /tmp/lbs4k.XXXXXX)"
truncate -s 16M "$f4k"
loop4k="$(losetup -f --show --sector-size 4096 "$f4k")"
on_cleanup rm -f "$f4k"
on_cleanup losetup -d "$loop4k"
assert_eq "$(blockdev --getss "$loop4k")" 4096 "logical block size of $loop4k"
sz4k="$(blockdev --getsz "$loop4k")"

n=0
# bad NAME TABLE EXPECTED-MESSAGE
bad() {
	local table="$1" msg="$2" name="bad$n"
	n=$((n + 1))
	dmesg -C
	if dmsetup create "$name" --table "$table" 2>/tmp/dmsetup.err; then
		dmsetup remove "$name" || true
		die "accepted a bad table: '$table'"
	fi
	if dmsetup info "$name" >/dev/null 2>&1; then
		dmsetup remove "$name" || true
		die "device '$name' left behind after refused table '$table'"
	fi
	dmesg | grep -qF "bufcache: $msg" || {
		dmesg | tail -5 >&2
		die "no kernel message 'bufcache: $msg' for table '$table'"
	}
	log "refused '$table': $msg"
}

bad "0 $sz bufcache" "Not enough arguments"
bad "0 $sz bufcache $loop" "Not enough arguments"
bad "0 $sz bufcache $loop 4096 extra" "Invalid <#opt_args>"
bad "0 $sz bufcache $loop 4096 1" "Invalid <#opt_args>"
bad "0 $sz bufcache $loop 4096 0 writeback" "Too many arguments"
bad "0 $sz bufcache $loop 4096 1 writeback extra" "Too many arguments"
bad "0 $sz bufcache $loop 4096 1 fast" "Unknown optional argument"
bad "0 $sz bufcache $loop 4096 2 writeback writethrough" "Optional argument given twice"
bad "0 $sz bufcache $loop 4096 1 cache_size" "Optional argument is missing its value"
bad "0 $sz bufcache $loop 4096 2 cache_size 4096" "Invalid cache_size"
bad "0 $sz bufcache $loop 4096 2 cache_size 64M" "Invalid cache_size"
# Larger than RAM (1 TiB on a 1 GiB guest): refused, nothing allocated.
bad "0 $sz bufcache $loop 4096 2 cache_size 1099511627776" "cache_size is larger than the machine's RAM"
bad "0 $sz bufcache $loop 4096 2 high_watermark 101" "Invalid watermark"
bad "0 $sz bufcache $loop 4096 4 high_watermark 10 low_watermark 20" "Invalid watermarks"
bad "0 $sz bufcache $loop 4096 2 max_age_ms soon" "Invalid max_age_ms"
bad "0 $sz bufcache $loop 4096 2 readahead 1000" "Invalid readahead"
bad "0 $((sz - 1)) bufcache $loop 4096" "Target length must be a multiple of the block size"
bad "0 $sz bufcache /dev/nonexistent 4096" "Origin device lookup failed"
bad "0 $sz bufcache 250:250 4096" "Origin device lookup failed"
bad "0 $sz bufcache $loop 0" "Invalid block size: must be a power of two"
bad "0 $sz bufcache $loop 3000" "Invalid block size: must be a power of two"
bad "0 $sz bufcache $loop 1048576" "Invalid block size: must be a power of two"
bad "0 $sz bufcache $loop 256" "Invalid block size: must be a power of two"
bad "0 $sz bufcache $loop 4k" "Invalid block size: not a decimal number"
bad "0 $sz bufcache $loop -4096" "Invalid block size: not a decimal number"
bad "0 $sz4k bufcache $loop4k 512" "Invalid block size: smaller than the origin"
bad "0 $sz4k bufcache $loop4k 2048" "Invalid block size: smaller than the origin"
bad "0 $((sz + 8)) bufcache $loop 4096" "Origin device is smaller than the target"

# The limits themselves are accepted.
for bs in 512 65536; do
	dm_create ok$bs "0 $sz bufcache $loop $bs" >/dev/null
	run dmsetup remove ok$bs
done
dm_create ok4k "0 $sz4k bufcache $loop4k 4096" >/dev/null
run dmsetup remove ok4k

left="$(dmsetup ls --target bufcache 2>/dev/null | grep -v '^No devices found' || true)"
[ -z "$left" ] || die "devices left: $left"
log "OK"
