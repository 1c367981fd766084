#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test: a GFP_KERNEL allocation under a spinlock, reported by
# DEBUG_ATOMIC_SLEEP. Passes only if the harness sees the splat.
# vm-expect: splat
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke atomic_sleep
expect_dmesg 'BUG: sleeping function called from invalid context'
