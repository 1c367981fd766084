#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test for vm-disk and vm-boots: boot 1 checks that the fresh
# disk reads as zeroes, writes a random pattern and its checksum with
# O_DIRECT and fsync, then resets the VM without a clean shutdown; boot 2
# finds the same bytes on the same disk.
# vm-disk: 64M
# vm-boots: 2
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"

disk=/dev/vda
[ -b "$disk" ] || die "$disk is not a block device (vm-disk not attached?)"
assert_eq "$(blockdev --getsize64 "$disk")" $((64 * 1024 * 1024)) "size of $disk"

case "$BOOT" in
1)
	cmp -n $((8 * 1024 * 1024)) "$disk" /dev/zero || die "the fresh disk does not read as zeroes"
	run dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
	sha256sum </tmp/pattern | cut -d' ' -f1 >/tmp/sum
	run dd if=/tmp/pattern of="$disk" bs=1M seek=1 oflag=direct conv=fsync status=none
	run dd if=/tmp/sum of="$disk" bs=4k count=1 oflag=direct conv=sync,fsync status=none
	log "wrote 4 MiB, sha256 $(cat /tmp/sum); crashing"
	crash_now
	;;
2)
	want="$(dd if="$disk" bs=4k count=1 iflag=direct status=none | head -c 64)"
	got="$(dd if="$disk" bs=1M skip=1 count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1)"
	assert_eq "$got" "$want" "sha256 of the pattern after the crash"
	log "pattern intact after the reset: $got"
	;;
*) die "unexpected BOOT=$BOOT" ;;
esac
