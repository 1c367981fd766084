// SPDX-License-Identifier: GPL-2.0

//! Test-only knobs. In the test flavour of the module (`--cfg
//! bufcache_test`: `make BUFCACHE_TEST=1`, which `scripts/test.sh` builds)
//! they are module parameters read once at load, all off by default; they
//! exist so that the test suite can show that its tests fail when the
//! hazard they guard against is reintroduced (negative controls,
//! `scripts/negative-controls.sh`), or can force rare paths. In the plain
//! module every knob is a constant "off" and its checks compile away.

/// Declares the knobs: for each, a `u32` field of [`Knobs`] (the module
/// parameter's value) and a reader that is constant in the plain module.
macro_rules! knobs {
    ($($(#[$doc:meta])* $field:ident / $stat:ident: fn $get:ident() -> bool;)*) => {
        /// The test-only module parameters.
        #[cfg(bufcache_test)]
        pub(crate) struct Knobs {
            $(pub(crate) $field: u32,)*
        }

        #[cfg(bufcache_test)]
        mod store {
            use kernel::sync::atomic::Atomic;
            $(pub(super) static $stat: Atomic<u32> = Atomic::new(0);)*
        }

        /// Records the parameters at module load.
        #[cfg(bufcache_test)]
        pub(crate) fn init(k: Knobs) {
            use kernel::sync::atomic::Relaxed;
            $(store::$stat.store(k.$field, Relaxed);)*
        }

        $(
            $(#[$doc])*
            #[inline(always)]
            pub(crate) fn $get() -> bool {
                #[cfg(bufcache_test)]
                {
                    store::$stat.load(kernel::sync::atomic::Relaxed) != 0
                }
                #[cfg(not(bufcache_test))]
                {
                    false
                }
            }
        )*
    };
}

knobs! {
    /// `test_unsafe_shrinker_writeback`: the shrinker writes back and waits
    /// for the I/O whenever `__GFP_IO` is set, ignoring `__GFP_FS` (the
    /// deadlock).
    unsafe_shrinker_writeback / UNSAFE_SHRINKER_WRITEBACK: fn unsafe_shrinker_writeback() -> bool;
    /// `test_skip_scope_replay`: workers do not re-apply the submitter's
    /// memalloc scope.
    skip_scope_replay / SKIP_SCOPE_REPLAY: fn skip_scope_replay() -> bool;
    /// `test_cgroup_knobs`: allows the `test_hold_cgroup_mutex` message.
    #[cfg_attr(not(bufcache_test), allow(dead_code))]
    cgroup_knobs / CGROUP_KNOBS: fn cgroup_knobs() -> bool;
    /// `test_skip_association`: the cache's own bios are not associated
    /// with the cgroup that caused them (what other caching targets do).
    skip_association / SKIP_ASSOCIATION: fn skip_association() -> bool;
    /// `test_single_writeback_lane`: background writeback runs all cgroups
    /// in one lane, so a throttled cgroup holds up the others.
    single_lane / SINGLE_LANE: fn single_lane() -> bool;
    /// `test_race_delay_ms` is set (see [`race_delay`]).
    #[cfg_attr(not(bufcache_test), allow(dead_code))]
    race_delay_ms / RACE_DELAY_MS: fn race_delay_on() -> bool;
    /// `test_skip_origin_flush`: a flush (`REQ_PREFLUSH`, the `flush`
    /// message, a suspend) writes back but never flushes the origin, so
    /// acknowledged data may sit in the origin's volatile cache (the
    /// power-cut hazard).
    skip_origin_flush / SKIP_ORIGIN_FLUSH: fn skip_origin_flush() -> bool;
    /// `test_noflush_keeps_dirty`: a `--noflush` suspend stops background
    /// work but writes nothing back (data-safety defect 4: the next table
    /// reads stale data, and the dirty blocks are lost with this table).
    noflush_keeps_dirty / NOFLUSH_KEEPS_DIRTY: fn noflush_keeps_dirty() -> bool;
    /// `test_drop_failed_writeback`: a writeback that fails marks its blocks
    /// clean, as if written (data-safety defect 3's kind: data the cache
    /// accepted is gone once the origin heals).
    drop_failed_writeback / DROP_FAILED_WRITEBACK: fn drop_failed_writeback() -> bool;
    /// `test_bypass_cached`: a sequential stream past its cutoff bypasses
    /// the cache even over cached blocks (dirty ones included), so a read
    /// returns the origin's older data.
    bypass_cached / BYPASS_CACHED: fn bypass_cached() -> bool;
    /// `test_atomic_association`: fill bios are associated with their
    /// cgroup under a spinlock (atomic context), as if under the shard lock.
    /// On a kernel where association may sleep (config/patches) that is a
    /// "sleeping function called from invalid context".
    #[cfg_attr(not(bufcache_test), allow(dead_code))]
    atomic_association / ATOMIC_ASSOCIATION: fn atomic_association() -> bool;
    /// `test_no_write_fence`: fills and writes into the cache ignore the
    /// fence of a write-around in flight (engine `fence`), so a fill can
    /// cache the origin's older data.
    no_write_fence / NO_WRITE_FENCE: fn no_write_fence() -> bool;
    /// `test_no_discard_fence`: a discard passed down to the origin is not
    /// fenced (data-safety defect 3): a fill during it can cache the
    /// origin's pre-discard data.
    no_discard_fence / NO_DISCARD_FENCE: fn no_discard_fence() -> bool;
    /// `test_no_refill_writeback`: a miss that finds the reserve empty
    /// only evicts other shards' clean blocks, never writes back their
    /// dirty ones, and waits without bound (the code before data-safety
    /// defect 1 was fixed): it can wait for ever.
    no_refill_writeback / NO_REFILL_WRITEBACK: fn no_refill_writeback() -> bool;
    /// `test_flush_ignores_writing`: a flush stops waiting once no covered block is
    /// dirty, ignoring writebacks in flight that others started (a failing one
    /// leaves its blocks dirty after the flush reported success).
    flush_ignores_writing / FLUSH_IGNORES_WRITING: fn flush_ignores_writing() -> bool;
    /// `test_durable_any_write`: a FUA or writethrough write that finds its block
    /// being written back by someone else completes when that writeback ends,
    /// whatever it wrote and however it ended (completing on someone else's write).
    durable_any_write / DURABLE_ANY_WRITE: fn durable_any_write() -> bool;
    /// `test_wt_error_drops_block`: a failed FUA or writethrough write drops its
    /// block from the cache, with any newer data another writer put there (that
    /// writer then finds the block gone, "written", and reports success).
    wt_error_drops / WT_ERROR_DROPS: fn wt_error_drops() -> bool;
    /// `test_noslot_unbounded`: a request whose shard is full of blocks the origin
    /// refuses to take retries the writeback for ever (the error retry loop),
    /// instead of giving up after `NOSLOT_ERROR_ROUNDS`.
    noslot_unbounded / NOSLOT_UNBOUNDED: fn noslot_unbounded() -> bool;
    /// `test_ctor_arms_timer`: the constructor arms the age timer (before
    /// the target is live), and a load that fails in the shrinker's
    /// registration drops the target without stopping it (the code before
    /// the fix): the timer outlives the failed load, and the module.
    ctor_arms_timer / CTOR_ARMS_TIMER: fn ctor_arms_timer() -> bool;
    /// `test_shutdown_leaves_timer`: `shutdown` neither marks the target dying nor
    /// waits for its timer, so a pending timer outlives the work queue it queues
    /// on.
    shutdown_leaves_timer / SHUTDOWN_LEAVES_TIMER: fn shutdown_leaves_timer() -> bool;
    /// `test_no_fair_share`: a target takes whatever the module budget has room for
    /// and never marks itself starving, so no sibling gives memory back (budget
    /// starvation).
    no_fair_share / NO_FAIR_SHARE: fn no_fair_share() -> bool;
    /// `test_reserve_blocks` is set (see [`reserve_blocks`]).
    #[cfg_attr(not(bufcache_test), allow(dead_code))]
    reserve_blocks / RESERVE_BLOCKS: fn reserve_blocks_on() -> bool;
}

/// `test_reserve_blocks`: targets built from now on have a reserve of
/// this many blocks instead of up to 16 (one per shard at least). With
/// fewer reserve blocks than shards, a shard can find the reserve empty
/// and every other shard's memory dirty, as it can when concurrent misses
/// of pinned blocks have spent the reserve: the path where `get_block`
/// must write back another shard to make progress (data-safety defect 1).
#[inline(always)]
pub(crate) fn reserve_blocks() -> Option<usize> {
    #[cfg(bufcache_test)]
    if reserve_blocks_on() {
        return Some(store::RESERVE_BLOCKS.load(kernel::sync::atomic::Relaxed) as usize);
    }
    None
}

/// `test_race_delay_ms`: sleeps this long in the race windows of the write
/// and flush protocols (between a FUA or writethrough write's copy and its
/// write to the origin), so that tests can make another worker or a
/// writeback lane run there. Workers only (they may sleep).
#[inline(always)]
pub(crate) fn race_delay() {
    #[cfg(bufcache_test)]
    if race_delay_on() {
        let ms = store::RACE_DELAY_MS.load(kernel::sync::atomic::Relaxed);
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(i64::from(ms)));
    }
}
