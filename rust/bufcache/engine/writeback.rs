// SPDX-License-Identifier: GPL-2.0

//! Writeback and the durability protocols: flush, FUA and writethrough
//! writes, background writeback lanes, and their stop on suspend.
//!
//! # Invariants
//!
//! - **(G) Generations.** Every write that lands in a block takes the next
//!   write generation of its shard, under the shard lock, before its bio is
//!   completed. A block in `Dirty` or `Writing` carries the generation of
//!   its oldest modification not yet known to be on the origin; only a
//!   successful write that *started after* a modification moves the block
//!   past it (`Shard::end_writeback`). "Nothing pending up to `g`"
//!   (`Shard::pending_upto(g) == (0, 0)`) therefore means: every write of
//!   generation `<= g` has completed on the origin, by a write that
//!   completed successfully. A writeback in flight counts as pending until
//!   its completion, whoever started it.
//! - **(E) Eviction.** A block leaves the cache only when clean (eviction,
//!   reclaim) or when discarded, so the origin holds an uncached block's
//!   latest acknowledged write.
//! - **(S) Stable pages.** A writer never copies into a block in `Writing`:
//!   it waits for that writeback to end (`shard::pin_write`). The buffer of
//!   a write bio is not modified while the bio is in flight.
//! - **(F) Flush.** A `REQ_PREFLUSH`, the `flush` message and every suspend
//!   take a snapshot of every shard's generation when they start (after
//!   every write acknowledged before them). They write back, or wait for
//!   the writebacks in flight of, every block pending up to the snapshot
//!   until nothing is pending (their first round takes the covered
//!   blocks of every shard in one batch, `wb_flush_round`; then each
//!   shard's rounds, `write_upto`, finish and check that nothing is
//!   pending); only then do they flush the origin. They
//!   succeed only if all that and the origin flush succeeded. If one of
//!   their own writes fails they go on writing the other covered blocks,
//!   each tried at least once, then fail (`EIO`); the failed blocks stay
//!   dirty (G), so a later flush retries them. Waiting for others'
//!   writebacks in flight is not bounded: they end with their bios.
//! - **(U) FUA and writethrough.** Such a write takes its generation `g`
//!   when its data is in the buffer. It completes successfully only once
//!   nothing of that block is pending up to `g`: its own write (with
//!   `REQ_FUA` if asked) succeeded, or another write that started after the
//!   copy did; in the latter case a FUA write then flushes the origin. A
//!   failed write leaves the block dirty in the cache: another writer's
//!   newer data in the same block is never dropped.
//! - **(B) Background.** Lanes, the age timer's writeback and the kicked
//!   writeback work never run while the target is suspended or going
//!   away: `quiesce` sets the flag, then waits for the timer, the kicked
//!   work item and every lane before the suspend's flush, so no write of
//!   an old table reaches the origin after its last suspend. (While
//!   suspended, the timer's tick only frees clean blocks for a starving
//!   sibling: no I/O.) After failed rounds,
//!   background writeback backs off (doubling, up to `BACKOFF_MAX_MS`).

use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

use crate::cache::shard::State;
use crate::cache::status::Field;
use crate::dm::IoBatch;

use super::super::knobs;
use super::{assoc, Inner, MAX_SHARDS};

/// Which dirty blocks a writeback round takes.
#[derive(Clone, Copy)]
pub(super) enum WbSelect {
    /// Every dirty block that became dirty at or before this time.
    DirtyBy(u64),
    /// Every dirty block with unwritten data up to this generation.
    Upto(u64),
    /// The oldest ones, up to the round size.
    Oldest,
}

#[derive(Default)]
pub(super) struct WbRound {
    pub(super) written: u32,
    pub(super) errors: u32,
    /// Dirty blocks skipped because a writer had them pinned.
    pub(super) busy: u32,
    /// Dirty blocks left that match the selection.
    pub(super) more: bool,
}

impl Inner {
    /// Writes back one round of dirty blocks of shard `si` (of `owner`
    /// only, if given). Blocks pinned by a writer are skipped (counted in
    /// `busy`).
    ///
    /// Three steps: select the blocks and mark them `Writing` under the
    /// shard lock, submit their bios without it and wait for them, then
    /// record the outcome under the lock again.
    pub(super) fn writeback_shard(&self, si: usize, sel: WbSelect, owner: Option<u32>) -> WbRound {
        let mut out = WbRound::default();
        self.with_round(|r| {
            self.wb_select(si, sel, owner, r, &mut out);
            if r.len() == 0 {
                return;
            }
            r.sort();
            let mut start = 0;
            while start < r.len() {
                start = self.wb_submit(r, start);
            }
            if knobs::drop_failed_writeback() {
                r.mark_all_ok();
            }
            self.wb_complete(r, &mut out);
        });
        out
    }

    /// Writes back, or waits for the writebacks in flight of, every block
    /// of shard `si` with unwritten data up to generation `upto`, until
    /// none is left (invariant F). After a failed write it goes on with the
    /// other covered blocks (failed blocks go to the tail of the dirty
    /// list, so the rounds reach every block) and stops once it has tried
    /// as many blocks as were pending, then fails.
    ///
    /// `pending_upto` walks the shard's dirty and writing lists under its
    /// lock: it is asked at the start and whenever a round leaves no
    /// covered dirty block behind it, not once per round (a flush of D
    /// dirty blocks makes D / 32 rounds: walking every list each time
    /// was quadratic in D).
    ///
    /// `failed_before`: covered blocks of this shard whose write already
    /// failed in this flush (its first round, `wb_flush_round`). They are
    /// still pending, so they count as tried: the flush fails, and they
    /// are not retried unless the blocks not yet tried need more rounds,
    /// as after a failure in this loop.
    fn write_upto(&self, si: usize, upto: u64, failed_before: u32) -> Result {
        let (d0, w0) = self.shards.lock(si).meta.pending_upto(upto);
        let quota = u64::from(d0) + u64::from(w0);
        let mut tried = u64::from(failed_before);
        let mut failed = failed_before > 0;
        // The last round wrote (or failed) blocks and saw more covered
        // dirty blocks than it took.
        let mut more = false;
        loop {
            if failed && tried >= quota {
                break;
            }
            let dirty = if more {
                1
            } else {
                let (dirty, writing) = self.shards.lock(si).meta.pending_upto(upto);
                if dirty == 0 && (writing == 0 || knobs::flush_ignores_writing()) {
                    break;
                }
                dirty
            };
            more = false;
            if dirty > 0 {
                let r = self.writeback_shard(si, WbSelect::Upto(upto), None);
                tried += u64::from(r.written + r.errors);
                if r.errors > 0 {
                    // Failed blocks stay dirty for a later retry; this
                    // flush cannot claim durability.
                    failed = true;
                }
                if r.written + r.errors > 0 {
                    more = r.more;
                    continue;
                }
            }
            // A covered block is being written back by someone else, or a
            // writer has it pinned: wait for that to end (notified by
            // `writeback_shard`, or 10 ms).
            let mut g = self.shards.lock(si);
            if g.meta.pending_upto(upto) != (0, 0) {
                self.stats.inc(Field::DurableWaits);
                g.wait();
            }
        }
        if failed {
            Err(EIO)
        } else {
            Ok(())
        }
    }

    /// Whether no block of any shard is dirty or being written back, each
    /// shard looked at under its lock. Then every write acknowledged
    /// before the look is on the origin (invariant F's premise): a write
    /// leaves its block `Dirty` before it completes (writeback mode), or
    /// completes after its own write did (FUA, writethrough, write-around);
    /// a `Dirty` block only becomes clean through `Writing` and a write
    /// that completed successfully (G), and only a clean block leaves
    /// the cache (E). A flush whose look finds this needs only an origin
    /// flush issued after the look.
    pub(super) fn nothing_unwritten(&self) -> bool {
        if self.shards.dirty_blocks() > 0 {
            return false;
        }
        (0..self.nshards()).all(|si| {
            let c = self.shards.lock(si).meta.counts();
            c.dirty == 0 && (c.writing == 0 || knobs::flush_ignores_writing())
        })
    }

    /// Writes back every block dirty now, then flushes the origin
    /// (invariant F). Fails if any of those blocks could not be written or
    /// the flush failed.
    ///
    /// Not inlined: its snapshot would sit in its callers' frames.
    #[inline(never)]
    pub(crate) fn flush_all(&self) -> Result {
        let n = self.nshards();
        let mut snap = [0u64; MAX_SHARDS];
        for (si, s) in snap.iter_mut().enumerate().take(n) {
            *s = self.shards.lock(si).meta.generation();
        }
        let mut failed = false;
        // The covered blocks of several shards in one batch first (one
        // wait, not one per shard); then each shard's rounds as before,
        // which find nothing left where that batch wrote everything.
        let mut failed_in = [0u8; MAX_SHARDS];
        if n > 1 {
            self.wb_flush_round(&snap[..n], &mut failed_in);
        }
        for (si, &upto) in snap.iter().enumerate().take(n) {
            // Keep going after a failure: write what can be written.
            failed |= self.write_upto(si, upto, u32::from(failed_in[si])).is_err();
        }
        // Issued only now, after every covered write completed.
        let flushed = if knobs::skip_origin_flush() {
            Ok(())
        } else {
            self.origin.dev.issue_flush()
        };
        // Entries of removed cgroups whose blocks are now clean can go.
        self.cg.prune();
        if failed || flushed.is_err() {
            return Err(EIO);
        }
        Ok(())
    }

    /// Makes a FUA or writethrough write durable (invariant U): `blk` was
    /// written with generation `upto`. Returns whether it is on the origin.
    ///
    /// Not inlined: its I/O batch (about 200 bytes) stays out of the
    /// workers' frame, which also calls `fill`.
    #[inline(never)]
    pub(super) fn write_durable(
        self: &Arc<Self>,
        si: usize,
        blk: u64,
        upto: u64,
        fua: bool,
    ) -> bool {
        knobs::race_delay();
        // Test only: someone else's writeback was seen in flight.
        let mut saw_writing = false;
        let (id, buf, owner) = loop {
            let mut g = self.shards.lock(si);
            let covered = match g.meta.lookup(blk) {
                // Evicted (so written: invariant E) or discarded since.
                None => true,
                Some(id) => {
                    !g.meta.unwritten_upto(id, upto)
                        || (saw_writing && g.meta.state(id) != Some(State::Writing))
                }
            };
            if covered {
                drop(g);
                // Written by someone else's writeback, maybe without FUA.
                return !fua || self.origin.dev.issue_flush().is_ok();
            }
            if let Some(id) = g.meta.lookup(blk) {
                if g.meta.state(id) == Some(State::Dirty) && g.meta.begin_writeback(id).is_ok() {
                    match g.bufs[id as usize].clone() {
                        Some(b) => break (id, b, g.meta.owner(id)),
                        None => {
                            g.meta.end_writeback(id, false);
                            return false;
                        }
                    }
                }
            }
            // Someone else's writeback is in flight (it may have started
            // before our copy), or a writer has the block pinned: both end.
            if knobs::durable_any_write()
                && g.meta.lookup(blk).and_then(|id| g.meta.state(id)) == Some(State::Writing)
            {
                saw_writing = true;
            }
            self.stats.inc(Field::DurableWaits);
            g.wait();
        };
        let who = self.cg.by_owner(owner);
        let ok = IoBatch::run(&self.origin.bioset, |mut batch| {
            let i = batch.as_mut().add_write(
                &self.origin.dev,
                self.block_sector(blk),
                &[&**buf],
                fua,
                assoc(&who),
            );
            let res = batch.wait();
            i.is_some_and(|i| res.ok(i))
        });
        let mut g = self.shards.lock(si);
        g.meta.end_writeback(id, ok);
        if !ok && knobs::wt_error_drops() {
            let _ = g.meta.invalidate(id);
        }
        drop(g);
        self.shards.notify(si);
        self.stats.inc(Field::WritebackBios);
        self.background.note_round(
            &WbRound {
                written: u32::from(ok),
                errors: u32::from(!ok),
                ..WbRound::default()
            },
            || self.now_ms(),
        );
        if ok {
            self.stats.inc(Field::Writebacks);
            who.writeback_bytes
                .add(u64::from(self.layout.block_size), Relaxed);
        } else {
            self.stats.inc(Field::WritebackErrors);
        }
        ok
    }
}
