#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test: an AB-BA mutex order, taken serially by one thread, so
# lockdep reports it without a real deadlock. Passes only if the harness
# sees the splat.
# vm-expect: splat
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke lockdep
expect_dmesg 'WARNING: possible circular locking dependency detected'
