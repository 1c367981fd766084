#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness negative check (run by scripts/vm-selftest.sh): sleeps past its
# timeout. vm-run.sh must report it as FAILED by timeout (killed in the
# guest).
# vm-manual: yes
# vm-timeout: 10
# vm-kmemleak: no
. "$(dirname "$0")/lib/common.sh"

log "sleeping 600 s with a 10 s timeout"
sleep 600
