#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test of the hung-task detector: a task of the bufcache_splat
# module sleeps uninterruptibly for ever. With hung_task_timeout_secs cut
# to 3 s, the detector must report it ("blocked for more than"). The stuck
# writer is left behind (nothing can end it); the boot ends anyway.
# Passes only if the harness sees the splat.
# vm-expect: splat
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

[ -w /proc/sys/kernel/hung_task_timeout_secs ] || die "no hung-task detector in this kernel"
echo 3 >/proc/sys/kernel/hung_task_timeout_secs || die "cannot set hung_task_timeout_secs"
[ -e "$SPLAT_CTL" ] || need_module bufcache_splat
log "provoking 'hang' in the background"
(echo hang >"$SPLAT_CTL") &
for ((i = 0; i < 60; i++)); do
	dmesg | grep -q "blocked for more than" && break
	sleep 1
done
expect_dmesg 'blocked for more than [0-9]+ seconds'
