#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job: does all the set-up, builds the module, boots the test VM
# and shows what the cache is for (tests/vm/demo.sh): over a slow origin
# (dm-delay, 1 ms), a cold pass, a hot pass and a scan, each next to
# dm-linear over the same origin, with the speed-up and hit ratio; then
# `dmsetup status` field by field.
. "$(dirname "$0")/lib.sh"

"$REPO_ROOT/scripts/setup.sh"
step "building dm_bufcache.ko"
make -C "$REPO_ROOT" >/dev/null
rc=0
"$REPO_ROOT/scripts/vm-run.sh" --keep demo || rc=$?
res="$REPO_ROOT/.vm-results/latest/demo.results.log"
if [ -f "$res" ]; then
	echo
	echo "==== output of the demo in the VM"
	sed -n '/==== OUTPUT BEGIN/,/==== OUTPUT END/p' "$res" | sed '1d;$d'
fi
exit "$rc"
