#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness negative check (run by scripts/vm-selftest.sh): freezes the whole
# VM (every CPU spinning with interrupts off), so nothing in the guest, not
# even its init's timeout, can end the test. The host must kill QEMU, and
# vm-run.sh must report the test as FAILED by timeout.
# vm-manual: yes
# vm-modules: bufcache_splat
# vm-timeout: 10
# vm-kmemleak: no
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/splat.sh"

provoke freeze
die "provoke freeze returned"
