#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness negative check (run by scripts/vm-selftest.sh): makes the CPU
# triple-fault, which resets the VM without a kernel message. vm-run.sh
# must report the test as FAILED and say that the guest triple-faulted.
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 60
# vm-kmemleak: no
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke triple_fault
die "provoke triple_fault returned"
