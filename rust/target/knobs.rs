// SPDX-License-Identifier: GPL-2.0

//! Test-only knobs (module parameters read once at load). All are off by
//! default and exist so that the test suite can show that its tests fail
//! when the hazard they guard against is reintroduced (negative controls,
//! `scripts/negative-controls.sh`), or can force rare paths. Never set them
//! on a system you care about.

use kernel::sync::atomic::{Atomic, Relaxed};

static UNSAFE_SHRINKER_WRITEBACK: Atomic<u32> = Atomic::new(0);
static SKIP_SCOPE_REPLAY: Atomic<u32> = Atomic::new(0);
static CGROUP_KNOBS: Atomic<u32> = Atomic::new(0);
static SKIP_ASSOCIATION: Atomic<u32> = Atomic::new(0);
static SINGLE_LANE: Atomic<u32> = Atomic::new(0);
static RACE_DELAY_MS: Atomic<u32> = Atomic::new(0);
static SKIP_ORIGIN_FLUSH: Atomic<u32> = Atomic::new(0);
static NOFLUSH_KEEPS_DIRTY: Atomic<u32> = Atomic::new(0);
static DROP_FAILED_WRITEBACK: Atomic<u32> = Atomic::new(0);

/// The test-only module parameters.
pub(crate) struct Knobs {
    pub(crate) unsafe_shrinker_writeback: u32,
    pub(crate) skip_scope_replay: u32,
    pub(crate) cgroup_knobs: u32,
    pub(crate) skip_association: u32,
    pub(crate) single_lane: u32,
    pub(crate) race_delay_ms: u32,
    pub(crate) skip_origin_flush: u32,
    pub(crate) noflush_keeps_dirty: u32,
    pub(crate) drop_failed_writeback: u32,
}

/// Records the parameters at module load.
pub(crate) fn init(k: Knobs) {
    UNSAFE_SHRINKER_WRITEBACK.store(k.unsafe_shrinker_writeback, Relaxed);
    SKIP_SCOPE_REPLAY.store(k.skip_scope_replay, Relaxed);
    CGROUP_KNOBS.store(k.cgroup_knobs, Relaxed);
    SKIP_ASSOCIATION.store(k.skip_association, Relaxed);
    SINGLE_LANE.store(k.single_lane, Relaxed);
    RACE_DELAY_MS.store(k.race_delay_ms, Relaxed);
    SKIP_ORIGIN_FLUSH.store(k.skip_origin_flush, Relaxed);
    NOFLUSH_KEEPS_DIRTY.store(k.noflush_keeps_dirty, Relaxed);
    DROP_FAILED_WRITEBACK.store(k.drop_failed_writeback, Relaxed);
}

/// `test_skip_association`: the cache's own bios are not associated with
/// the cgroup that caused them (what other caching targets do).
pub(crate) fn skip_association() -> bool {
    SKIP_ASSOCIATION.load(Relaxed) != 0
}

/// `test_single_writeback_lane`: background writeback runs all cgroups in
/// one lane, so a throttled cgroup holds up the others.
pub(crate) fn single_lane() -> bool {
    SINGLE_LANE.load(Relaxed) != 0
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

/// `test_race_delay_ms`: sleeps this long in the race windows of the
/// write and flush protocols (between a FUA or writethrough write's copy
/// and its write to the origin), so that tests can make another worker or
/// a writeback lane run there. Workers only (they may sleep).
pub(crate) fn race_delay() {
    let ms = RACE_DELAY_MS.load(Relaxed);
    if ms != 0 {
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(i64::from(ms)));
    }
}

/// `test_skip_origin_flush`: a flush (`REQ_PREFLUSH`, the `flush` message,
/// a suspend) writes back but never flushes the origin, so acknowledged
/// data may sit in the origin's volatile cache (the power-cut hazard).
pub(crate) fn skip_origin_flush() -> bool {
    SKIP_ORIGIN_FLUSH.load(Relaxed) != 0
}

/// `test_noflush_keeps_dirty`: a `--noflush` suspend stops background work
/// but writes nothing back (data-safety defect 4: the next table reads
/// stale data, and the dirty blocks are lost with this table).
pub(crate) fn noflush_keeps_dirty() -> bool {
    NOFLUSH_KEEPS_DIRTY.load(Relaxed) != 0
}

/// `test_drop_failed_writeback`: a writeback that fails marks its blocks
/// clean, as if written (data-safety defect 3's kind: data the cache
/// accepted is gone once the origin heals).
pub(crate) fn drop_failed_writeback() -> bool {
    DROP_FAILED_WRITEBACK.load(Relaxed) != 0
}
