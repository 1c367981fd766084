// SPDX-License-Identifier: GPL-2.0

//! Moving bios: the map-time fast path (hits, and full-block write misses
//! that need no blocking allocation; never sleeps), and the workers that
//! drain the deferred queue inside a NOIO scope and serve reads, writes,
//! flushes and discards.

use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

use crate::cache::shard::State;
use crate::cache::status::Field;
use crate::cache::table::Mode;
use crate::dm::memalloc::MemallocFlags;
use crate::dm::{self, memalloc, BioOp, BlkStatus, IoBatch, OwnedBio};

use super::super::cgroup::CgEntry;
use super::super::knobs;
use super::alloc::{Access, Got};
use super::shard::pin_write;
use super::Inner;

impl Inner {
    // ---- map-time fast path (never sleeps) ----

    /// Serves a read hit or a writeback-mode write hit inline. Gives the bio
    /// back if it needs the workers.
    pub(crate) fn try_fast(
        self: &Arc<Self>,
        bio: OwnedBio,
        who: &CgEntry,
        hits_only: bool,
    ) -> Option<OwnedBio> {
        let (blk, off) = self.locate(self.rel_sector(&bio));
        let si = self.shard_index(blk);
        let write = bio.op() == BioOp::Write;
        if write && (self.mode() != Mode::Writeback || bio.is_fua()) {
            return Some(bio);
        }
        let now = self.now_ms();
        let mut g = self.shards.lock(si);
        match g.meta.lookup(blk) {
            Some(id) => {
                let pinned = if write {
                    pin_write(&mut g, id, now, who.id)
                } else {
                    g.meta.pin_read(id)
                };
                if pinned.is_err() {
                    return Some(bio);
                }
                let Some(buf) = g.bufs[id as usize].clone() else {
                    // Not reached: an indexed slot holds memory. Never
                    // leave the pin behind (a flush would wait for it).
                    if write {
                        g.meta.unpin_write(id, now);
                    } else {
                        g.meta.unpin_read(id);
                    }
                    return Some(bio);
                };
                drop(g);
                if write {
                    bio.copy_to_buf(&buf, off);
                    let mut g = self.shards.lock(si);
                    g.meta.unpin_write(id, now);
                    drop(g);
                    self.shards.notify(si);
                    self.stats.inc(Field::WriteHits);
                    who.hits.add(1, Relaxed);
                    bio.endio(BlkStatus::OK);
                    self.after_dirtying();
                    self.arm_timer();
                } else {
                    bio.copy_from_buf(&buf, off);
                    self.shards.lock(si).meta.unpin_read(id);
                    self.stats.inc(Field::ReadHits);
                    who.hits.add(1, Relaxed);
                    bio.endio(BlkStatus::OK);
                }
                None
            }
            None if write && off == 0 && bio.size() == self.layout.block_size && !hits_only => {
                // A full-block write miss needs no read; take it inline if a
                // slot with memory is at hand without blocking.
                drop(g);
                let Some((id, buf)) = self.alloc_nowait(si, blk, who.id) else {
                    return Some(bio);
                };
                bio.copy_to_buf(&buf, 0);
                let mut g = self.shards.lock(si);
                g.meta.fill_done_dirty(id, now);
                drop(g);
                self.shards.notify(si);
                self.stats.inc(Field::WriteMisses);
                who.misses.add(1, Relaxed);
                bio.endio(BlkStatus::OK);
                self.after_dirtying();
                self.arm_timer();
                None
            }
            None => Some(bio),
        }
    }

    /// Sends an empty flush (`REQ_PREFLUSH`) to the origin from `map`, as
    /// dm-linear does, when no block is dirty or being written back
    /// ([`Inner::nothing_unwritten`], invariant F of `writeback`): the
    /// origin's flush, issued after that look, is then all the flush owes.
    /// Gives the bio back (for the workers' `flush_all`) otherwise, or if
    /// its cgroup association would block. Never sleeps.
    pub(crate) fn try_flush_fast(&self, bio: OwnedBio) -> Option<OwnedBio> {
        // The negative control skips the origin flush in `flush_all`.
        if knobs::skip_origin_flush() || !(knobs::flush_fast_always() || self.nothing_unwritten()) {
            return Some(bio);
        }
        // An empty bio: its sector does not matter (DM's empty flush may
        // carry none inside this target).
        match bio.remap_submit_nowait(&self.origin.dev, 0) {
            Ok(()) => {
                self.stats.inc(Field::Flushes);
                None
            }
            Err(bio) => Some(bio),
        }
    }

    /// Completes a `REQ_NOWAIT` bio that would have to wait with "would
    /// block" (`BLK_STS_AGAIN`), and counts it.
    pub(crate) fn would_block(&self, bio: OwnedBio) {
        self.cg.stats.inc(Field::NowaitAgain);
        bio.wouldblock();
    }

    /// Sends a bypassed read (a run of uncached or clean blocks of a
    /// sequential stream, see `stream`) to the origin from `map`, if its
    /// association with the cgroup of the original bio needs no sleep.
    /// Otherwise (counted in `assoc_again`): "would block" for a
    /// `REQ_NOWAIT` bio, else a worker associates (which may sleep) and
    /// submits it. Never charged to the root cgroup instead.
    pub(crate) fn bypass_nowait(self: &Arc<Self>, bio: OwnedBio, nowait: bool) {
        let rel = self.rel_sector(&bio);
        match bio.remap_submit_nowait(&self.origin.dev, rel) {
            Ok(()) => self.stats.inc(Field::BypassedReads),
            Err(bio) => {
                self.cg.stats.inc(Field::AssocAgain);
                if nowait {
                    self.would_block(bio);
                } else {
                    self.defer(bio);
                }
            }
        }
    }

    /// Queues a bio whose cgroup association would block in `map`: the
    /// worker associates it. Counted.
    pub(crate) fn defer_association(self: &Arc<Self>, bio: OwnedBio) {
        self.cg.stats.inc(Field::CgDeferred);
        self.defer(bio);
    }

    // ---- workers (NOIO scope) ----

    /// Serves the deferred bios, each in its submitter's memalloc scope
    /// plus NOIO.
    pub(super) fn drain_deferred(self: &Arc<Self>) {
        // Write-arounds and other bios in turn: a long write stream must
        // not hold up others' misses and flushes (nor they its fences).
        let mut around_first = true;
        loop {
            let wa = |this: &Self| this.fences.pop_queued().map(|b| (b, true));
            let other = |this: &Self| this.queue.pop().map(|b| (b, false));
            let next = if around_first {
                wa(self).or_else(|| other(self))
            } else {
                other(self).or_else(|| wa(self))
            };
            let Some((bio, around)) = next else { break };
            around_first = !around;
            // More bios wait: get another worker to them (`enqueue_workers`
            // wakes one per bio), so they do not wait for this one's I/O.
            if self.queue.has_deferred() || self.fences.has_queued() {
                self.enqueue_workers();
            }
            // Re-apply the submitter's memalloc scope (captured in `map`),
            // then add NOIO for our own I/O path.
            let scope = bio.captured_scope();
            let replay = if knobs::skip_scope_replay() {
                MemallocFlags::NONE
            } else {
                scope
            };
            memalloc::with_flags(replay, || {
                if scope != MemallocFlags::NONE {
                    self.stats.inc(Field::ScopeCaptured);
                    if MemallocFlags::current().contains(scope) {
                        self.stats.inc(Field::ScopeReplayed);
                    }
                }
                memalloc::noio(|| {
                    if around {
                        self.write_around(bio);
                        self.fences.queued_done();
                    } else {
                        self.process(bio);
                    }
                });
            });
        }
    }

    // Out of line: inlined, its locals and write_around's would add up in
    // drain_deferred's frame (over 512 bytes; scripts/stack-frames.sh).
    #[inline(never)]
    pub(super) fn process(self: &Arc<Self>, bio: OwnedBio) {
        // Sleepable association (we are a worker, in a NOIO scope).
        let who = self.cg.get(bio.orig_css());
        match bio.op() {
            BioOp::Write if bio.size() == 0 => {
                let st = match self.flush() {
                    Ok(()) => BlkStatus::OK,
                    Err(_) => BlkStatus::IOERR,
                };
                bio.endio(st);
            }
            BioOp::Read => self.do_read(bio, &who),
            BioOp::Write => self.do_write(bio, &who),
            BioOp::Discard => self.do_discard(bio, &who),
            _ => bio.endio(BlkStatus::NOTSUPP),
        }
    }

    pub(super) fn do_read(self: &Arc<Self>, bio: OwnedBio, who: &CgEntry) {
        let rel = self.rel_sector(&bio);
        if self.is_bypass(rel, bio.size()) {
            // A sequential stream past its cutoff: blocks uncached or
            // clean only, so the origin has their latest data (see
            // `stream`).
            self.stats.inc(Field::BypassedReads);
            bio.remap_submit(&self.origin.dev, rel);
            return;
        }
        let (blk, off) = self.locate(rel);
        let si = self.shard_index(blk);
        match self.get_block(blk, Access::Read, who) {
            Ok(Got::Hit(id, buf)) => {
                bio.copy_from_buf(&buf, off);
                self.shards.lock(si).meta.unpin_read(id);
                self.stats.inc(Field::ReadHits);
                who.hits.add(1, Relaxed);
                bio.endio(BlkStatus::OK);
            }
            Ok(Got::Bypass) => {
                // Not cached, so the origin has the latest data.
                self.stats.inc(Field::ReadMisses);
                let sector = self.rel_sector(&bio);
                bio.remap_submit(&self.origin.dev, sector);
            }
            Ok(Got::Miss(id, buf)) => {
                self.stats.inc(Field::ReadMisses);
                who.misses.add(1, Relaxed);
                if self.fill(blk, &buf, true, who) {
                    bio.copy_from_buf(&buf, off);
                    self.end_fill(blk, id, true, false);
                    bio.endio(BlkStatus::OK);
                } else {
                    self.end_fill(blk, id, false, false);
                    bio.endio(BlkStatus::IOERR);
                }
            }
            Err(_) => bio.endio(BlkStatus::IOERR),
        }
    }

    pub(super) fn do_write(self: &Arc<Self>, bio: OwnedBio, who: &CgEntry) {
        let (blk, off) = self.locate(self.rel_sector(&bio));
        let si = self.shard_index(blk);
        let full = off == 0 && bio.size() == self.layout.block_size;
        // The generation of this write (invariant G of `writeback`).
        let gen = match self.get_block(blk, Access::Write, who) {
            Ok(Got::Hit(id, buf)) => {
                bio.copy_to_buf(&buf, off);
                let mut g = self.shards.lock(si);
                g.meta.unpin_write(id, self.now_ms());
                let gen = g.meta.generation();
                drop(g);
                self.shards.notify(si);
                self.stats.inc(Field::WriteHits);
                who.hits.add(1, Relaxed);
                gen
            }
            Ok(Got::Miss(id, buf)) => {
                self.stats.inc(Field::WriteMisses);
                who.misses.add(1, Relaxed);
                if !full && !self.fill(blk, &buf, false, who) {
                    self.end_fill(blk, id, false, false);
                    bio.endio(BlkStatus::IOERR);
                    return;
                }
                bio.copy_to_buf(&buf, off);
                let mut g = self.shards.lock(si);
                g.meta.fill_done_dirty(id, self.now_ms());
                let gen = g.meta.generation();
                drop(g);
                self.shards.notify(si);
                gen
            }
            Ok(Got::Bypass) | Err(_) => {
                bio.endio(BlkStatus::IOERR);
                return;
            }
        };
        let through = self.mode() == Mode::Writethrough;
        if through || bio.is_fua() {
            // On failure the block stays dirty in the cache (invariant U):
            // the origin may hold neither version, and another writer's
            // newer data in this block must not be dropped.
            let ok = self.write_durable(si, blk, gen, bio.is_fua());
            bio.endio(if ok { BlkStatus::OK } else { BlkStatus::IOERR });
        } else {
            bio.endio(BlkStatus::OK);
        }
        self.after_dirtying();
        self.arm_timer();
    }

    /// Discards cached `blk` once nobody uses it: drops it, or with `part`
    /// (bytes `[off, off + len)` of it) zeroes that part of a cached copy,
    /// which stays (or becomes) dirty under its owner, so no stale data can
    /// come back. With `skip_filling`, a block being filled is left alone
    /// (its filler may be waiting for the caller's fence): returns whether
    /// one was. With `clean_only` (the pass after the origin completed the
    /// discard), a clean copy is dropped, partial or not, and a dirty one
    /// kept (written concurrently with the discard: either order is right).
    fn discard_block(
        &self,
        si: usize,
        blk: u64,
        part: Option<(u32, u32)>,
        skip_filling: bool,
        clean_only: bool,
    ) -> bool {
        let now = self.now_ms();
        let mut g = self.shards.lock(si);
        let mut skipped = false;
        while let Some(id) = g.meta.lookup(blk) {
            let st = g.meta.state(id);
            if skip_filling && st == Some(State::Filling) {
                skipped = true;
                break;
            }
            if clean_only && st == Some(State::Dirty) {
                break;
            }
            let Some((off, len)) = part.filter(|_| !clean_only) else {
                match g.meta.invalidate(id) {
                    Ok(_) => break,
                    Err(_) => {
                        g.wait();
                        continue;
                    }
                }
            };
            // The block keeps its owner: the cgroup that dirtied it is
            // charged for its writeback, not root. Its entry is held
            // (`CgRef`) while the block is tagged, so `prune` cannot drop
            // it meanwhile (a clean block does not keep its entry alive:
            // if it is gone, the block goes to root, never to a new
            // cgroup that reused the id).
            let who = self.cg.by_owner(g.meta.owner(id));
            match pin_write(&mut g, id, now, who.id) {
                Ok(()) => {
                    if let Some(b) = g.bufs[id as usize].clone() {
                        drop(g);
                        b.zero(off, len);
                        g = self.shards.lock(si);
                    }
                    g.meta.unpin_write(id, now);
                    break;
                }
                Err(_) => g.wait(),
            }
        }
        drop(g);
        self.shards.notify(si);
        skipped
    }

    /// Drops (or, for a partly covered block, zeroes the covered part of)
    /// the cached blocks of sectors `[start, end)`. `skip_filling`: the
    /// pass made under the discard's fence (blocks being filled are
    /// skipped, their fillers may wait for the fence; returns the range of
    /// those skipped). `clean_only`: the pass after the origin completed
    /// the discard, which drops what such a fill cached.
    fn discard_pass(
        &self,
        start: u64,
        end: u64,
        skip_filling: bool,
        clean_only: bool,
    ) -> Option<(u64, u64)> {
        let spb = 1u64 << self.layout.shift;
        let mut skipped: Option<(u64, u64)> = None;
        let mut s = start;
        while s < end {
            let (blk, off) = self.locate(s);
            let blk_end = self.block_sector(blk) + spb;
            let e = end.min(blk_end);
            let si = self.shard_index(blk);
            let part =
                (off != 0 || e != blk_end).then(|| (off, ((e - s) << dm::SECTOR_SHIFT) as u32));
            let was_filling = self.discard_block(si, blk, part, skip_filling, clean_only);
            if was_filling {
                let (lo, _) = skipped.unwrap_or((s, e));
                skipped = Some((lo, e));
            }
            s = e;
            // A huge discard walks many blocks: let others run.
            dm::cond_resched();
        }
        skipped
    }

    /// A discard (see "Discard" in `bufcache.rst`).
    ///
    /// The hazard: a fill of a block of the range that reads the origin
    /// before the discard reaches it, and publishes after the discard
    /// dropped the block, would cache pre-discard data while the origin
    /// then reads zeroes (or anything else). So a discard passed down is
    /// fenced like a write-around (`fence`, F1/F2): its range is fenced
    /// before its blocks are dropped and until the origin has completed
    /// it, so a fill that inserts a block afterwards waits and reads the
    /// origin after the discard. A fill already in progress when the
    /// discard looked (its slot `Filling`) is not waited for (its filler
    /// may be waiting for this very fence): once the discard completed
    /// and the fence is gone, the blocks of that part of the range are
    /// looked at again and clean ones dropped. A block dirty by then was
    /// written concurrently with the discard, and either order is right.
    pub(super) fn do_discard(self: &Arc<Self>, bio: OwnedBio, who: &CgEntry) {
        self.stats.inc(Field::Discards);
        let start = self.rel_sector(&bio);
        let sectors = u64::from(bio.size()) >> dm::SECTOR_SHIFT;
        let end = start + sectors;
        if self.origin.dev.max_discard_sectors() == 0 || knobs::no_discard_fence() {
            // Negative control: the pass, then the origin, no fence.
            if self.origin.dev.max_discard_sectors() > 0 {
                let _ = self.discard_pass(start, end, false, false);
                bio.remap_submit(&self.origin.dev, start);
                return;
            }
            // Nothing changes on the origin: dropping is enough.
            let _ = self.discard_pass(start, end, false, false);
            bio.endio(BlkStatus::OK);
            return;
        }
        let (fs, fe) = self.fence_discard(start, sectors);
        let skipped = self.discard_pass(start, end, true, false);
        knobs::race_delay();
        let st = IoBatch::run(&self.origin.bioset, |mut batch| {
            let i = batch
                .as_mut()
                .add_clone(&self.origin.dev, start, &bio, super::assoc(who));
            batch.wait().status(i)
        });
        self.fences.release(fs, fe);
        if let Some((s, e)) = skipped {
            let _ = self.discard_pass(s, e, false, true);
        }
        if st != BlkStatus::OK {
            self.stats.inc(Field::WritebackErrors);
        }
        // The origin's status: `EOPNOTSUPP` stays that, not `EIO`.
        bio.endio(st);
    }
}
