#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test, four kinds of splat in one boot: a WARN_ON(1), a byte
# written into a kmalloc'ed object's right red zone (slub_debug FZ checks
# it at free), a GFP_KERNEL allocation under a spinlock
# (DEBUG_ATOMIC_SLEEP) and a leaked kmalloc'ed object (the guest init's
# kmemleak scan after the test). The harness must catch each of them
# (vm-expect-each), not only one. The same kinds one per boot are
# harness_splat_warn, _redzone, _atomic_sleep and _kmemleak (manual);
# lockdep's report turns lockdep off and the hung task stays hung, so
# harness_splat_lockdep and harness_splat_hung keep a boot each.
# vm-expect: splat
# vm-expect-each: WARNING:|Redzone overwritten|sleeping function called from invalid context|unreferenced object
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

[ -w /sys/kernel/debug/kmemleak ] || die "kmemleak is not available in this kernel"
provoke warn
expect_dmesg 'WARNING: .*bufcache_splat'
provoke redzone
expect_dmesg 'Redzone overwritten'
provoke atomic_sleep
expect_dmesg 'BUG: sleeping function called from invalid context'
provoke leak
