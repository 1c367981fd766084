// SPDX-License-Identifier: GPL-2.0

//! Reclaim: the shrinker, giving memory back to the module budget, cap
//! changes (resize) and the `invalidate` message. The shrinker only ever
//! try-locks a shard: the task in reclaim may hold that lock.

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, ArcBorrow};

use crate::cache::status::Field;
use crate::dm::shrinker::{ScanResult, ShrinkControl, ShrinkerOps};

use super::super::budget;
use super::super::knobs;
use super::writeback::WbSelect;
use super::Inner;

/// Where the shrinker's next scan starts, so that successive scans spread
/// over the shards.
///
/// # Invariants
///
/// Only ever incremented (wrapping), Relaxed and without a lock: racing
/// scans may start at the same shard, which is harmless (each only
/// try-locks it).
pub(super) struct ShrinkCursor {
    /// Scans started so far (the first shard of the next is this modulo
    /// the shards). Relaxed, no lock.
    next: Atomic<u32>,
}

impl ShrinkCursor {
    pub(super) fn new() -> Self {
        Self {
            next: Atomic::new(0),
        }
    }

    /// Where a scan starts (taken modulo the shards), moving the cursor
    /// on.
    fn advance(&self) -> usize {
        self.next.fetch_add(1, Relaxed) as usize
    }
}

impl Inner {
    /// Gives memory back to the budget while another target is starving
    /// and this one holds more than its fair share: frees clean blocks and,
    /// if that is not enough, starts writeback so that more become clean.
    /// A suspended target only frees clean blocks (no I/O while
    /// suspended; its suspend wrote its dirty blocks back): called by its
    /// timer, which keeps ticking while it is suspended for this alone.
    pub(super) fn give_back_budget(self: &Arc<Self>) {
        if !budget::contended() {
            return;
        }
        let fair = budget::fair_share();
        let mem = self.mem_bytes();
        if mem <= fair {
            return;
        }
        // Blocks above the fair share (the block size is a power of two).
        let mut want = u32::try_from((mem - fair) >> self.layout.block_size.trailing_zeros())
            .unwrap_or(u32::MAX);
        let n = self.nshards();
        for k in 0..n {
            if want == 0 || self.queue.dying() {
                return;
            }
            let share = want.div_ceil(((n - k) as u32).max(1));
            want -= self.shrink_shard(k, share).min(want);
        }
        if want > 0 && self.shards.dirty_blocks() > 0 {
            for si in 0..n {
                if self.background_stopped() {
                    return;
                }
                let _ = self.writeback_shard(si, WbSelect::Oldest, None);
            }
        }
    }

    /// Puts one buffer of another shard of this target (a free one, or the
    /// next clean block to evict's) into the empty reserve, for a
    /// shard that has no memory of its own. If the other shards hold only
    /// dirty blocks (`low_watermark 100`, `max_age_ms 0`, and the budget
    /// held by other targets, which may be suspended and give nothing
    /// back), writes back the oldest of one and takes it: the target's
    /// reserve is its own, so it always progresses on it, whatever the
    /// others hold. Workers only (writeback waits for the origin).
    pub(super) fn refill_reserve(&self, si: usize) {
        let n = self.nshards();
        for k in 1..n {
            if self.shrink_shard((si + k) % n, 1) > 0 {
                return;
            }
        }
        // After failed writebacks, as often as background writeback retries
        // (the back-off of `Background::note_round`): over a failing origin
        // every waiter would otherwise write every shard each 10 ms.
        if knobs::no_refill_writeback() || self.background.backing_off(self.now_ms()) {
            return;
        }
        for k in 1..n {
            let other = (si + k) % n;
            let r = self.writeback_shard(other, WbSelect::Oldest, None);
            self.background.note_round(&r, || self.now_ms());
            if r.written > 0 && self.shrink_shard(other, 1) > 0 {
                return;
            }
            if r.errors > 0 {
                return;
            }
        }
    }

    /// Teaches lockdep that the locks the shrinker takes are taken inside
    /// memory reclaim.
    pub(super) fn prime_lockdep(&self) {
        self.shards.prime_lockdep();
        self.share.prime_lockdep();
        self.queue.prime_lockdep();
        self.cg.prime_lockdep();
    }

    /// Drops every clean block and frees its memory. `EBUSY` while dirty
    /// blocks remain.
    // Cold (a message): kept out of the message handler's frame.
    #[inline(never)]
    pub(crate) fn invalidate_clean(&self) -> Result {
        if self.shards.dirty_blocks() > 0 {
            return Err(EBUSY);
        }
        for si in 0..self.nshards() {
            self.shrink_shard(si, u32::MAX);
        }
        if self.shards.dirty_blocks() > 0 {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Frees up to `max` slots' memory in shard `si` (free slots first,
    /// then clean blocks in eviction order). Returns how many were freed.
    pub(super) fn shrink_shard(&self, si: usize, max: u32) -> u32 {
        let mut freed = 0;
        while freed < max {
            let mut g = self.shards.lock(si);
            let Some((id, evicted)) = g.meta.reclaim_one() else {
                break;
            };
            let b = g.bufs[id as usize].take();
            drop(g);
            if evicted.is_some() {
                self.stats.inc(Field::Evictions);
            }
            if let Some(b) = b {
                self.share.give_back(b);
            }
            freed += 1;
        }
        freed
    }

    /// Applies a new cap, evicting (and writing back as needed) to get
    /// under it.
    pub(crate) fn resize(&self, bytes: u64) -> Result {
        if bytes > self.capacity_bytes() {
            return Err(EINVAL);
        }
        self.set_cap(bytes);
        for si in 0..self.nshards() {
            let mut tries = 0;
            loop {
                let over = self.shards.lock(si).meta.over_cap();
                if over == 0 {
                    break;
                }
                if self.shrink_shard(si, over) < over {
                    let r = self.writeback_shard(si, WbSelect::Oldest, None);
                    if r.written == 0 {
                        tries += 1;
                        if tries > 100 {
                            return Err(EBUSY);
                        }
                        self.shards.lock(si).wait();
                    }
                }
            }
        }
        Ok(())
    }
}

impl ShrinkerOps for Inner {
    fn count(this: ArcBorrow<'_, Self>, _sc: &ShrinkControl) -> u64 {
        let this: &Inner = &this;
        // Clean and free blocks, from the totals kept in step by every
        // shard lock holder: no lock here.
        let mem = this.shards.mem_blocks();
        mem.saturating_sub(this.shards.dirty_blocks())
    }

    fn scan(this: ArcBorrow<'_, Self>, sc: &ShrinkControl) -> ScanResult {
        let me: &Inner = &this;
        me.shrink(sc, || Arc::from(this).kick_writeback())
    }
}

impl Inner {
    /// The shrinker's scan: frees clean and free blocks with try-locks
    /// only; `kick` starts background writeback (asynchronously).
    pub(super) fn shrink(&self, sc: &ShrinkControl, kick: impl FnOnce()) -> ScanResult {
        self.stats.inc(Field::ShrinkScans);
        if !sc.may_io() {
            self.stats.inc(Field::ShrinkScansNoio);
        } else if !sc.may_fs() {
            self.stats.inc(Field::ShrinkScansNofs);
        }
        // Test-only negative control: write back and wait for it whenever
        // __GFP_IO is set, ignoring __GFP_FS. This is the deadlock the
        // real code avoids; see Documentation/reclaim.rst.
        if knobs::unsafe_shrinker_writeback() && sc.may_io() && self.shards.dirty_blocks() > 0 {
            for si in 0..self.nshards() {
                let _ = self.writeback_shard(si, WbSelect::Oldest, None);
            }
        }
        let want = sc.nr_to_scan().max(1);
        let mut freed = 0u64;
        let mut contended = 0;
        let n = self.nshards();
        let start = self.shrink_cursor.advance();
        for k in 0..n {
            if freed >= want {
                break;
            }
            let si = (start + k) % n;
            // Only ever try-lock: the task in reclaim may hold this lock.
            let Some(mut g) = self.shards.try_lock(si) else {
                contended += 1;
                continue;
            };
            while freed < want {
                let Some((id, evicted)) = g.meta.reclaim_one() else {
                    break;
                };
                let b = g.bufs[id as usize].take();
                if evicted.is_some() {
                    self.stats.inc(Field::Evictions);
                }
                // Freeing under the spinlock would be fine too; the buffer
                // is dropped (or kept in the reserve) right after.
                drop(g);
                if let Some(b) = b {
                    self.share.give_back(b);
                }
                freed += 1;
                g = match self.shards.try_lock(si) {
                    Some(g) => g,
                    None => break,
                };
            }
        }
        if contended > 0 {
            self.stats.add(Field::ShrinkSkipLock, contended);
        }
        self.stats.add(Field::ShrinkFreed, freed);
        if freed < want && self.shards.dirty_blocks() > 0 {
            // Dirty memory can only be freed after writeback. Start it
            // asynchronously, and only where reclaim may both do I/O and
            // enter filesystems: a loop device below us can re-enter the
            // very filesystem that is allocating.
            if sc.may_io() && sc.may_fs() {
                if self.above_low_watermark() {
                    kick();
                }
            } else {
                self.stats.inc(Field::ShrinkSkipGfp);
            }
        }
        if freed == 0 && contended == n as u64 {
            return ScanResult::Stop;
        }
        ScanResult::Freed(freed)
    }
}
