// SPDX-License-Identifier: GPL-2.0

//! Test-only knobs. In the test flavour of the module (`--cfg
//! bufcache_test`: `make BUFCACHE_TEST=1`, which `scripts/test.sh` builds)
//! they are module parameters read once at load, all off by default; they
//! exist so that the test suite can show that its tests fail when the
//! hazard they guard against is reintroduced (negative controls,
//! `scripts/negative-controls.sh`), or can force rare paths. In the plain
//! module every knob is a constant "off" and its checks compile away.

/// The knob table, the one place where a knob is written. For each knob:
/// its doc and attributes (they go to its reader), the static that holds
/// its value, its reader, its module parameter and the parameter's modinfo
/// description. Passes the table to the macro `$cb`: `knobs!` below makes
/// the statics, the readers and `init` from it, `bufcache_test_module!` in
/// `rust/dm_bufcache.rs` the test flavour's module parameters. A knob that
/// takes a value (`test_race_delay_ms`, `test_reserve_blocks`,
/// `test_bioset_pool`) has here a reader of whether it is set, and a reader
/// of the value after the table.
macro_rules! for_each_knob {
    ($cb:ident) => {
        $cb! {
            /// `test_unsafe_shrinker_writeback`: the shrinker writes back and waits
            /// for the I/O whenever `__GFP_IO` is set, ignoring `__GFP_FS` (the
            /// deadlock).
            UNSAFE_SHRINKER_WRITEBACK: fn unsafe_shrinker_writeback() -> bool,
                test_unsafe_shrinker_writeback,
                "TEST ONLY, UNSAFE: shrinker writes back and waits on __GFP_IO alone";
            /// `test_skip_scope_replay`: workers do not re-apply the submitter's
            /// memalloc scope.
            SKIP_SCOPE_REPLAY: fn skip_scope_replay() -> bool,
                test_skip_scope_replay,
                "TEST ONLY: workers do not re-apply the submitter's memalloc scope";
            /// `test_cgroup_knobs`: allows the `test_hold_cgroup_mutex` message.
            #[cfg_attr(not(bufcache_test), allow(dead_code))]
            CGROUP_KNOBS: fn cgroup_knobs() -> bool,
                test_cgroup_knobs,
                "TEST ONLY: allow the test_hold_cgroup_mutex message";
            /// `test_skip_association`: the cache's own bios are not associated
            /// with the cgroup that caused them (what other caching targets do).
            SKIP_ASSOCIATION: fn skip_association() -> bool,
                test_skip_association,
                "TEST ONLY: do not charge the cache's own bios to the causing cgroup";
            /// `test_single_writeback_lane`: background writeback runs all cgroups
            /// in one lane, so a throttled cgroup holds up the others.
            SINGLE_LANE: fn single_lane() -> bool,
                test_single_writeback_lane,
                "TEST ONLY: background writeback in one lane for all cgroups";
            /// `test_race_delay_ms` is set (see [`race_delay`]).
            #[cfg_attr(not(bufcache_test), allow(dead_code))]
            RACE_DELAY_MS: fn race_delay_on() -> bool,
                test_race_delay_ms,
                "TEST ONLY: sleep this long in the write/flush protocols' race windows";
            /// `test_skip_origin_flush`: a flush (`REQ_PREFLUSH`, the `flush`
            /// message, a suspend) writes back but never flushes the origin, so
            /// acknowledged data may sit in the origin's volatile cache (the
            /// power-cut hazard).
            SKIP_ORIGIN_FLUSH: fn skip_origin_flush() -> bool,
                test_skip_origin_flush,
                "TEST ONLY, UNSAFE: flushes complete without flushing the origin";
            /// `test_noflush_keeps_dirty`: a `--noflush` suspend stops background
            /// work but writes nothing back (data-safety defect 4: the next table
            /// reads stale data, and the dirty blocks are lost with this table).
            NOFLUSH_KEEPS_DIRTY: fn noflush_keeps_dirty() -> bool,
                test_noflush_keeps_dirty,
                "TEST ONLY, UNSAFE: a noflush suspend does not write back";
            /// `test_drop_failed_writeback`: a writeback that fails marks its blocks
            /// clean, as if written (data-safety defect 3's kind: data the cache
            /// accepted is gone once the origin heals).
            DROP_FAILED_WRITEBACK: fn drop_failed_writeback() -> bool,
                test_drop_failed_writeback,
                "TEST ONLY, UNSAFE: a failed writeback marks its blocks clean";
            /// `test_bypass_cached`: a sequential stream past its cutoff bypasses
            /// the cache even over cached blocks (dirty ones included), so a read
            /// returns the origin's older data.
            BYPASS_CACHED: fn bypass_cached() -> bool,
                test_bypass_cached,
                "TEST ONLY, UNSAFE: sequential reads bypass the cache over cached blocks";
            /// `test_atomic_association`: fill bios are associated with their
            /// cgroup under a spinlock (atomic context), as if under the shard lock.
            /// On a kernel where association may sleep (config/patches) that is a
            /// "sleeping function called from invalid context".
            #[cfg_attr(not(bufcache_test), allow(dead_code))]
            ATOMIC_ASSOCIATION: fn atomic_association() -> bool,
                test_atomic_association,
                "TEST ONLY, UNSAFE: fill bios are associated under a spinlock";
            /// `test_no_write_fence`: fills and writes into the cache ignore the
            /// fence of a write-around in flight (engine `fence`), so a fill can
            /// cache the origin's older data.
            NO_WRITE_FENCE: fn no_write_fence() -> bool,
                test_no_write_fence,
                "TEST ONLY, UNSAFE: fills ignore write-arounds in flight";
            /// `test_no_discard_fence`: a discard passed down to the origin is not
            /// fenced (data-safety defect 3): a fill during it can cache the
            /// origin's pre-discard data.
            NO_DISCARD_FENCE: fn no_discard_fence() -> bool,
                test_no_discard_fence,
                "TEST ONLY, UNSAFE: discards passed down are not fenced";
            /// `test_no_refill_writeback`: a miss that finds the reserve empty
            /// only evicts other shards' clean blocks, never writes back their
            /// dirty ones, and waits without bound (the code before data-safety
            /// defect 1 was fixed): it can wait for ever.
            NO_REFILL_WRITEBACK: fn no_refill_writeback() -> bool,
                test_no_refill_writeback,
                "TEST ONLY, UNSAFE: a miss never writes back other shards and waits without bound";
            /// `test_flush_ignores_writing`: a flush stops waiting once no covered block is
            /// dirty, ignoring writebacks in flight that others started (a failing one
            /// leaves its blocks dirty after the flush reported success); so does the
            /// look of the empty-flush fast path (`Inner::nothing_unwritten`).
            FLUSH_IGNORES_WRITING: fn flush_ignores_writing() -> bool,
                test_flush_ignores_writing,
                "TEST ONLY, UNSAFE: a flush ignores writebacks started by others";
            /// `test_durable_any_write`: a FUA or writethrough write that finds its block
            /// being written back by someone else completes when that writeback ends,
            /// whatever it wrote and however it ended (completing on someone else's write).
            DURABLE_ANY_WRITE: fn durable_any_write() -> bool,
                test_durable_any_write,
                "TEST ONLY, UNSAFE: FUA/writethrough completes on any writeback of its block";
            /// `test_wt_error_drops_block`: a failed FUA or writethrough write drops its
            /// block from the cache, with any newer data another writer put there (that
            /// writer then finds the block gone, "written", and reports success).
            WT_ERROR_DROPS: fn wt_error_drops() -> bool,
                test_wt_error_drops_block,
                "TEST ONLY, UNSAFE: a failed writethrough write drops its block";
            /// `test_noslot_unbounded`: a request whose shard is full of blocks the origin
            /// refuses to take retries the writeback for ever (the error retry loop),
            /// instead of giving up after `NOSLOT_ERROR_ROUNDS`.
            NOSLOT_UNBOUNDED: fn noslot_unbounded() -> bool,
                test_noslot_unbounded,
                "TEST ONLY, UNSAFE: a full shard over a failing origin retries for ever";
            /// `test_write_while_writing`: a writer copies into a block that is being
            /// written back instead of waiting for that writeback to end (invariant S
            /// broken: the data of a write bio in flight changes under it).
            WRITE_WHILE_WRITING: fn write_while_writing() -> bool,
                test_write_while_writing,
                "TEST ONLY, UNSAFE: writers copy into blocks being written back";
            /// `test_ctor_arms_timer`: the constructor arms the age timer (before
            /// the target is live), and a load that fails in the shrinker's
            /// registration drops the target without stopping it (the code before
            /// the fix): the timer outlives the failed load, and the module.
            CTOR_ARMS_TIMER: fn ctor_arms_timer() -> bool,
                test_ctor_arms_timer,
                "TEST ONLY, UNSAFE: the constructor arms the writeback timer";
            /// `test_shutdown_leaves_timer`: `shutdown` neither marks the target dying nor
            /// waits for its timer, so a pending timer outlives the work queue it queues
            /// on.
            SHUTDOWN_LEAVES_TIMER: fn shutdown_leaves_timer() -> bool,
                test_shutdown_leaves_timer,
                "TEST ONLY, UNSAFE: shutdown leaves the writeback timer pending";
            /// `test_no_fair_share`: a target takes whatever the module budget has room for
            /// and never marks itself starving, so no sibling gives memory back (budget
            /// starvation).
            NO_FAIR_SHARE: fn no_fair_share() -> bool,
                test_no_fair_share,
                "TEST ONLY, UNSAFE: no fair share of the module budget";
            /// `test_reserve_blocks` is set (see [`reserve_blocks`]).
            #[cfg_attr(not(bufcache_test), allow(dead_code))]
            RESERVE_BLOCKS: fn reserve_blocks_on() -> bool,
                test_reserve_blocks,
                "TEST ONLY: a reserve of this many blocks per target (fewer than its shards)";
            /// `test_batch_holds_bios`: fills and writeback rounds keep their bios
            /// unsubmitted until they wait for them (bio_set exhaustion: a batch
            /// holding bios nobody will submit while it allocates more).
            #[cfg_attr(not(bufcache_test), allow(dead_code))]
            BATCH_HOLDS_BIOS: fn batch_holds_bios() -> bool,
                test_batch_holds_bios,
                "TEST ONLY, UNSAFE: batches hold their bios until they wait";
            /// `test_flush_fast_always`: an empty flush goes to the origin from
            /// `map` even with blocks dirty or being written back (the fast path
            /// without its look, `Inner::nothing_unwritten`).
            FLUSH_FAST_ALWAYS: fn flush_fast_always() -> bool,
                test_flush_fast_always,
                "TEST ONLY, UNSAFE: flushes skip writeback";
            /// `test_bioset_pool` is set (see [`bioset_pool`]).
            #[cfg_attr(not(bufcache_test), allow(dead_code))]
            BIOSET_POOL: fn bioset_pool_on() -> bool,
                test_bioset_pool,
                "TEST ONLY: targets' bio_sets have this many bios in reserve (not 64)";
        }
    };
}
#[cfg(bufcache_test)]
pub(crate) use for_each_knob;

/// Declares the knobs of the table: for each, a static (the module
/// parameter's value, recorded by `init`) and a reader that is constant in
/// the plain module.
macro_rules! knobs {
    ($(
        $(#[$attr:meta])*
        $stat:ident: fn $get:ident() -> bool,
        $param:ident,
        $desc:tt;
    )*) => {
        #[cfg(bufcache_test)]
        mod store {
            use kernel::sync::atomic::Atomic;
            $(pub(super) static $stat: Atomic<u32> = Atomic::new(0);)*
        }

        /// Records the module parameters at module load (`module_parameters`
        /// is made by `module!` in `rust/dm_bufcache.rs`).
        #[cfg(bufcache_test)]
        pub(crate) fn init() {
            use kernel::sync::atomic::Relaxed;
            $(store::$stat.store(param(crate::module_parameters::$param.value()), Relaxed);)*
        }

        $(
            $(#[$attr])*
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

for_each_knob!(knobs);

/// A module parameter's value: `value()` returns a reference in 7.2 and the
/// value itself in 7.3.
#[cfg(bufcache_test)]
fn param(v: impl core::borrow::Borrow<u32>) -> u32 {
    *v.borrow()
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

/// `test_bioset_pool`: targets built from now on have a bio_set with this
/// many bios in reserve instead of 64, so that a test can show that the
/// cache's own I/O makes progress on a small reserve when every slab
/// allocation fails (each bio submitted before the next is allocated), and
/// its control (`test_batch_holds_bios`) that it does not otherwise.
#[inline(always)]
pub(crate) fn bioset_pool() -> Option<u32> {
    #[cfg(bufcache_test)]
    if bioset_pool_on() {
        return Some(store::BIOSET_POOL.load(kernel::sync::atomic::Relaxed));
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
