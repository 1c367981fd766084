#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test: leaks a kmalloc'ed object. The guest init's kmemleak
# scan after the test must report it. Passes only if the harness sees the
# "unreferenced object" report.
# vm-expect: splat
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

[ -w /sys/kernel/debug/kmemleak ] || die "kmemleak is not available in this kernel"
provoke leak
