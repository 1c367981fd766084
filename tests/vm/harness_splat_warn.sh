#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test: provokes WARN_ON(1) with the bufcache_splat module.
# The test itself succeeds; it passes only if the harness sees the splat.
# vm-expect: splat
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke warn
expect_dmesg 'WARNING: .*bufcache_splat'
