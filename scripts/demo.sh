#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job: does all the set-up, builds the module, boots the test VM
# and shows what the cache is for (tests/vm/demo.sh): over a slow origin
# (null_blk, 1 ms a request), a cold pass, a hot pass, random writes and a scan, each next to
# dm-linear over the same origin, with the speed-up and hit ratio; then the
# flush (dirty blocks written back) and the status fields that changed.
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
