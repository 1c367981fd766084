#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness negative check (run by scripts/vm-selftest.sh): exits 0 but
# provokes a WARN, WITHOUT "vm-expect: splat". vm-run.sh must report it as
# FAILED because of the splat.
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 120
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke warn
log "the test itself succeeds"
