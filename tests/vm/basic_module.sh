#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module loads by path and by alias, `dmsetup create` autoloads it,
# rmmod is refused while a target exists and works once it is gone.
# vm-timeout: 120
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"

is_loaded() { grep -q '^dm_bufcache ' /proc/modules; }

# By alias (modules.alias from depmod), then unload.
run modprobe dm-bufcache
is_loaded || die "modprobe dm-bufcache did not load dm_bufcache"
dmsetup targets | grep -q '^bufcache ' || die "bufcache not in 'dmsetup targets'"
log "registered: $(dmsetup targets | grep '^bufcache ')"
run rmmod dm_bufcache
is_loaded && die "dm_bufcache still loaded after rmmod"

# By path.
ko="/lib/modules/$(uname -r)/extra/dm_bufcache.ko"
[ -f "$ko" ] || die "$ko missing from the image"
run insmod "$ko"
run rmmod dm_bufcache

# Autoload: DM requests "dm-bufcache" when a table names the target.
loop="$(make_loop 16)"
is_loaded && die "module unexpectedly loaded"
dm="$(dm_create auto "0 $(blockdev --getsz "$loop") bufcache $loop 4096")"
is_loaded || die "dmsetup create did not autoload dm_bufcache"
log "autoloaded; device $dm"

# rmmod must be refused while a bufcache target exists.
if rmmod dm_bufcache 2>/tmp/rmmod.err; then
	die "rmmod succeeded while a bufcache target exists"
fi
log "rmmod refused as expected: $(cat /tmp/rmmod.err)"
is_loaded || die "module gone although rmmod failed"

run dmsetup remove auto
run rmmod dm_bufcache
is_loaded && die "dm_bufcache still loaded"
log "OK"
