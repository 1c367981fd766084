#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Everything needed before `make`: host tools, kernel source, test kernel.
# Idempotent and cached outside the work tree (see scripts/lib.sh); a second
# run takes seconds.
. "$(dirname "$0")/lib.sh"

start=$SECONDS
step "setup 1/4: host tools"
"$REPO_ROOT/scripts/setup-host.sh"
step "setup 2/4: kernel source"
"$REPO_ROOT/scripts/fetch-kernel.sh"
step "setup 3/4: test kernel"
"$REPO_ROOT/scripts/build-kernel.sh"
step "setup 4/4: the guest's fio"
"$REPO_ROOT/scripts/build-fio.sh" >/dev/null
kernel_paths
log "setup done in $((SECONDS - start))s: kernel $(cat "$KBUILD_OUT/include/config/kernel.release") at $KBUILD_OUT"
