// SPDX-License-Identifier: GPL-2.0

//! Statistics: the counters of the status line and the status line itself.

use kernel::sync::atomic::{Atomic, Relaxed};

use crate::cache::status::Status;

use super::Inner;

/// Counters reported in the status line.
pub(crate) struct Counters {
    pub(crate) read_hits: Atomic<u64>,
    pub(crate) read_misses: Atomic<u64>,
    pub(crate) write_hits: Atomic<u64>,
    pub(crate) write_misses: Atomic<u64>,
    pub(crate) writebacks: Atomic<u64>,
    pub(crate) evictions: Atomic<u64>,
    pub(crate) readahead: Atomic<u64>,
    pub(crate) writeback_bios: Atomic<u64>,
    pub(crate) writeback_errors: Atomic<u64>,
    pub(crate) fill_errors: Atomic<u64>,
    pub(crate) flushes: Atomic<u64>,
    pub(crate) discards: Atomic<u64>,
    pub(crate) full_waits: Atomic<u64>,
    pub(crate) shrink_scans: Atomic<u64>,
    pub(crate) shrink_freed: Atomic<u64>,
    pub(crate) shrink_skip_gfp: Atomic<u64>,
    pub(crate) shrink_skip_lock: Atomic<u64>,
    pub(crate) blocking_allocs: Atomic<u64>,
    pub(crate) shrink_scans_nofs: Atomic<u64>,
    pub(crate) shrink_scans_noio: Atomic<u64>,
    pub(crate) scope_captured: Atomic<u64>,
    pub(crate) scope_replayed: Atomic<u64>,
    pub(crate) noslot_errors: Atomic<u64>,
    pub(crate) unwritten_at_suspend: Atomic<u64>,
}

impl Counters {
    pub(super) fn new() -> Self {
        Self {
            read_hits: Atomic::new(0),
            read_misses: Atomic::new(0),
            write_hits: Atomic::new(0),
            write_misses: Atomic::new(0),
            writebacks: Atomic::new(0),
            evictions: Atomic::new(0),
            readahead: Atomic::new(0),
            writeback_bios: Atomic::new(0),
            writeback_errors: Atomic::new(0),
            fill_errors: Atomic::new(0),
            flushes: Atomic::new(0),
            discards: Atomic::new(0),
            full_waits: Atomic::new(0),
            shrink_scans: Atomic::new(0),
            shrink_freed: Atomic::new(0),
            shrink_skip_gfp: Atomic::new(0),
            shrink_skip_lock: Atomic::new(0),
            blocking_allocs: Atomic::new(0),
            shrink_scans_nofs: Atomic::new(0),
            shrink_scans_noio: Atomic::new(0),
            scope_captured: Atomic::new(0),
            scope_replayed: Atomic::new(0),
            noslot_errors: Atomic::new(0),
            unwritten_at_suspend: Atomic::new(0),
        }
    }

    pub(super) fn clear(&self) {
        for c in [
            &self.read_hits,
            &self.read_misses,
            &self.write_hits,
            &self.write_misses,
            &self.writebacks,
            &self.evictions,
            &self.readahead,
            &self.writeback_bios,
            &self.writeback_errors,
            &self.fill_errors,
            &self.flushes,
            &self.discards,
            &self.full_waits,
            &self.shrink_scans,
            &self.shrink_freed,
            &self.shrink_skip_gfp,
            &self.shrink_skip_lock,
            &self.blocking_allocs,
            &self.shrink_scans_nofs,
            &self.shrink_scans_noio,
            &self.scope_captured,
            &self.scope_replayed,
            &self.noslot_errors,
        ] {
            c.store(0, Relaxed);
        }
    }
}

pub(super) fn inc(c: &Atomic<u64>) {
    c.add(1, Relaxed);
}

impl Inner {
    /// Resets the counters.
    pub(crate) fn clear_stats(&self) {
        self.stats.clear();
    }

    /// The status line's values.
    pub(crate) fn status(&self) -> Status {
        let mut cached = 0u64;
        let mut writing = 0u64;
        let mut dirty = 0u64;
        let mut mem = 0u64;
        for si in 0..self.nshards() {
            let c = self.lock_shard(si).meta.counts();
            cached += u64::from(c.cached);
            writing += u64::from(c.writing);
            dirty += u64::from(c.dirty);
            mem += u64::from(c.with_mem);
        }
        let reserve = self.reserve.lock().len() as u64;
        let s = &self.stats;
        let c = &self.cg.stats;
        let wb_err = s.writeback_errors.load(Relaxed);
        let fill_err = s.fill_errors.load(Relaxed);
        Status {
            blocks_cached: cached,
            dirty_blocks: dirty,
            bytes_used: (mem + reserve) * u64::from(self.block_size),
            cap_bytes: self.tun.cap_bytes.load(Relaxed),
            read_hits: s.read_hits.load(Relaxed),
            read_misses: s.read_misses.load(Relaxed),
            write_hits: s.write_hits.load(Relaxed),
            write_misses: s.write_misses.load(Relaxed),
            writebacks: s.writebacks.load(Relaxed),
            evictions: s.evictions.load(Relaxed),
            readahead: s.readahead.load(Relaxed),
            errors: wb_err + fill_err,
            mode: self.mode(),
            writeback_bios: s.writeback_bios.load(Relaxed),
            writeback_errors: wb_err,
            fill_errors: fill_err,
            flushes: s.flushes.load(Relaxed),
            discards: s.discards.load(Relaxed),
            writing_blocks: writing,
            full_waits: s.full_waits.load(Relaxed),
            shrink_scans: s.shrink_scans.load(Relaxed),
            shrink_freed: s.shrink_freed.load(Relaxed),
            shrink_skip_gfp: s.shrink_skip_gfp.load(Relaxed),
            shrink_skip_lock: s.shrink_skip_lock.load(Relaxed),
            reserve_in_use: (self.reserve_target as u64).saturating_sub(reserve),
            blocking_allocs: s.blocking_allocs.load(Relaxed),
            shrink_scans_nofs: s.shrink_scans_nofs.load(Relaxed),
            shrink_scans_noio: s.shrink_scans_noio.load(Relaxed),
            scope_captured: s.scope_captured.load(Relaxed),
            scope_replayed: s.scope_replayed.load(Relaxed),
            cg_entries: self.cg.len(),
            cg_found: c.found.load(Relaxed),
            cg_created_locked: c.created_locked.load(Relaxed),
            cg_created_trylock: c.created_trylock.load(Relaxed),
            cg_trylock_contended: c.trylock_contended.load(Relaxed),
            cg_atomic_failed: c.atomic_failed.load(Relaxed),
            cg_deferred: c.deferred.load(Relaxed),
            cg_root_fallback: c.root_fallback.load(Relaxed),
            nowait_again: c.nowait_again.load(Relaxed),
            noslot_errors: s.noslot_errors.load(Relaxed),
            unwritten_at_suspend: s.unwritten_at_suspend.load(Relaxed),
        }
    }
}
