// SPDX-License-Identifier: GPL-2.0

//! Test-only knobs (module parameters read once at load). Both are off by
//! default and exist so that the test suite can show that its reclaim tests
//! fail when the hazard they guard against is reintroduced (negative
//! controls). Never set them on a system you care about.

use kernel::sync::atomic::{Atomic, Relaxed};

static UNSAFE_SHRINKER_WRITEBACK: Atomic<u32> = Atomic::new(0);
static SKIP_SCOPE_REPLAY: Atomic<u32> = Atomic::new(0);
static CGROUP_KNOBS: Atomic<u32> = Atomic::new(0);

/// Records the parameters at module load.
pub(crate) fn init(unsafe_shrinker_writeback: u32, skip_scope_replay: u32, cgroup_knobs: u32) {
    UNSAFE_SHRINKER_WRITEBACK.store(unsafe_shrinker_writeback, Relaxed);
    SKIP_SCOPE_REPLAY.store(skip_scope_replay, Relaxed);
    CGROUP_KNOBS.store(cgroup_knobs, Relaxed);
}

/// `test_cgroup_knobs`: allows the `test_hold_cgroup_mutex` message.
pub(crate) fn cgroup_knobs() -> bool {
    CGROUP_KNOBS.load(Relaxed) != 0
}

/// `test_unsafe_shrinker_writeback`: the shrinker writes back and waits for
/// the I/O whenever `__GFP_IO` is set, ignoring `__GFP_FS` (the deadlock).
pub(crate) fn unsafe_shrinker_writeback() -> bool {
    UNSAFE_SHRINKER_WRITEBACK.load(Relaxed) != 0
}

/// `test_skip_scope_replay`: workers do not re-apply the submitter's
/// memalloc scope.
pub(crate) fn skip_scope_replay() -> bool {
    SKIP_SCOPE_REPLAY.load(Relaxed) != 0
}
