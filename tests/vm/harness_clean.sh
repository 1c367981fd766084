#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness self-test: a boot whose test does nothing wrong. It must pass
# (and its time is the harness's fixed cost per test).
. "$(dirname "$0")/lib/common.sh"

log "kernel $(uname -r), boot $BOOT of $BOOTS, DM_DISABLE_UDEV=$DM_DISABLE_UDEV"
assert_eq "$DM_DISABLE_UDEV" 1 "DM_DISABLE_UDEV"
