#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test: writes one byte past a kmalloc'ed object, into its
# right red zone, with the bufcache_splat module. The guest's slub_debug
# (FZ by default: red zones and the consistency checks that read them at
# free; Z alone writes red zones that nothing checks) must report it.
# Passes only if the harness sees the splat.
# vm-expect: splat
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke redzone
expect_dmesg 'Redzone overwritten'
