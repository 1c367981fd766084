#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A flushed write is on the origin.
# vm-timeout: 120
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"
bc_setup 16
dm="$(dm_create ex "0 $sz bufcache $loop 4096")"
run dd if=/dev/urandom of=/tmp/pat bs=4k count=4 status=none
run dd if=/tmp/pat of="$dm" bs=4k count=4 oflag=direct conv=fsync status=none
cmp /tmp/pat <(dd if="$loop" bs=4k count=4 iflag=direct status=none) || die "not on the origin"
