// SPDX-License-Identifier: GPL-2.0

//! Write-around: a write of a sequential stream past its cutoff, over
//! blocks that are not cached, goes to the origin whole, uncached (see
//! [`crate::cache::stream`]), and a fence keeps the cache from caching
//! those blocks until it is done. A discard passed down to the origin
//! takes a fence the same way, for the same hazard (pre-discard data
//! cached after the discard): see `Inner::do_discard`; F1 and F2 below
//! hold for it with "discard" for "write-around" (it fences before it
//! drops the blocks, in place of `map`'s look).
//!
//! # The hazard
//!
//! While a write-around is in flight, a fill of one of its blocks (a read
//! miss, a partial write's read-modify-write, readahead) could read the
//! origin's older data and cache it as clean: every later read would then
//! return data older than an acknowledged write. A full-block write taken
//! into the cache meanwhile would be written back in any order with the
//! write-around, so the cache and the origin could end up disagreeing.
//!
//! # Invariants
//!
//! - F1 (fence before look). A write-around's range (in blocks) is in
//!   [`Fences`] before `map` looks up whether its blocks are cached, and
//!   stays there until its write has completed. The range is trimmed to
//!   the blocks found uncached, never grown.
//! - F2 (look after insert). Whoever puts a block into the index (every
//!   path through `Shard::alloc`) asks [`Inner::fenced`] afterwards, and
//!   until the block's fence is gone it neither reads the block from the
//!   origin nor publishes it: a worker waits ([`Inner::await_fence`]), a
//!   non-blocking path (readahead, a map-time write miss) takes the block
//!   out of the index again.
//!
//! Both looks are made under the shard lock of the block, so for every
//! block of a write-around either `map` saw it cached (and trimmed the
//! write-around before it), or its insertion came later, and then (F1,
//! lock order) its inserter sees the fence. So no block enters the cache
//! with data read, or written back, while a write-around of it is in
//! flight: what the cache holds is never older than the origin.
//!
//! Progress: a worker waiting for a fence runs queued write-arounds itself
//! (they wait only for the origin), so even with every worker waiting, the
//! write-around they wait for is either running or gets run.

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::lock::spinlock::SpinLockBackend;
use kernel::sync::lock::Guard;
use kernel::sync::{Arc, CondVar, SpinLock};
use kernel::{new_condvar, new_spinlock};

use crate::cache::status::Field;
use crate::dm::{BioList, BlkStatus, IoBatch, OwnedBio};

use super::super::knobs;
use super::{assoc, Inner};

/// The fence slots, locked.
type SlotsGuard<'a> = Guard<'a, Slots, SpinLockBackend>;

/// Most write-arounds in flight per target; another one stays in the cache.
pub(super) const FENCE_SLOTS: usize = 8;

/// Most workers running a write-around from the queue at once (of
/// [`super::NR_WORKERS`]).
const WA_WORKERS: u32 = 2;

/// The ranges of blocks written around right now, and the write-arounds
/// waiting for a worker.
///
/// # Invariants
///
/// A slot `(s, e)` with `s < e` is a fenced range `[s, e)` (F1); `s == e`
/// is free. All of it is under the spinlock `bufcache:fences` (it is what
/// [`Fences`] locks).
struct Slots {
    /// The fenced ranges, in blocks.
    ranges: [(u64, u64); FENCE_SLOTS],
    /// Write-arounds waiting for a worker (their ranges are fenced).
    queued: BioList,
    /// Workers running a write-around they took from `queued` in their
    /// drain loop.
    running: u32,
}

impl Slots {
    fn new() -> Self {
        Self {
            ranges: [(0, 0); FENCE_SLOTS],
            queued: BioList::new(true),
            running: 0,
        }
    }

    fn covers(&self, blk: u64) -> bool {
        self.ranges.iter().any(|&(s, e)| s <= blk && blk < e)
    }
}

/// The target's fences (F1, F2): the fenced ranges and the queued
/// write-arounds under one spinlock, a count of taken slots for a look
/// without the lock, and the condition variable their waiters sleep on.
///
/// # Invariants
///
/// `active` is the number of taken slots of `slots` (`s < e`): it is
/// raised and lowered only under the `slots` lock, together with the
/// slot. So `active == 0` read after an insertion under a shard lock
/// (which `map` took after raising it, F1) means no fence covers the
/// block; otherwise the lock is taken to look. Every freed or trimmed
/// slot and every queued write-around is followed by a `cv` broadcast.
#[pin_data]
pub(super) struct Fences {
    /// Write-arounds in flight and queued (spinlock `bufcache:fences`).
    #[pin]
    slots: SpinLock<Slots>,
    /// Raised and lowered under `slots`: whether any slot is taken.
    /// Relaxed.
    active: Atomic<i32>,
    /// Wakes workers waiting for a fence (or for a queued write-around);
    /// waited on with `slots` held.
    #[pin]
    cv: CondVar,
}

impl Fences {
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            slots <- new_spinlock!(Slots::new(), "bufcache:fences"),
            active: Atomic::new(0),
            cv <- new_condvar!("bufcache:fence_cv"),
        })
    }

    /// Fences blocks `[start, end)` for a write-around about to be planned
    /// (F1). `None`: every slot is taken (the write stays in the cache).
    pub(super) fn take(&self, start: u64, end: u64) -> Option<usize> {
        let mut f = self.slots.lock();
        let i = f.ranges.iter().position(|&(s, e)| s == e)?;
        f.ranges[i] = (start, end);
        self.active.add(1, Relaxed);
        Some(i)
    }

    /// Trims fence `i` to `[start, end)`, the blocks found uncached; an
    /// empty range frees it.
    pub(super) fn trim(&self, i: usize, end: u64) {
        let mut f = self.slots.lock();
        let (s, e) = f.ranges[i];
        let end = end.clamp(s, e);
        f.ranges[i] = (s, end);
        if s == end {
            self.active.add(-1, Relaxed);
        }
        drop(f);
        // Fills of the blocks trimmed off may go on.
        self.cv.notify_all();
    }

    /// Frees the fence of the write-around of blocks `[start, end)`.
    pub(super) fn release(&self, start: u64, end: u64) {
        let mut f = self.slots.lock();
        if let Some(r) = f.ranges.iter_mut().find(|r| **r == (start, end)) {
            *r = (0, 0);
            self.active.add(-1, Relaxed);
        }
        drop(f);
        self.cv.notify_all();
    }

    /// Fences blocks `[start, end)`, waiting for a free slot and running
    /// queued write-arounds with `run` meanwhile (see
    /// [`Inner::fence_discard`]).
    fn take_waiting(&self, start: u64, end: u64, run: &impl Fn(OwnedBio)) -> (u64, u64) {
        let mut f = self.slots.lock();
        loop {
            if let Some(i) = f.ranges.iter().position(|&(s, e)| s == e) {
                f.ranges[i] = (start, end);
                self.active.add(1, Relaxed);
                return (start, end);
            }
            f = self.help_or_wait(f, run);
        }
    }

    /// One step of waiting for a fence to go: runs a queued write-around
    /// with `run` (it waits only for the origin, so waiters never all wait
    /// for one nobody runs), else sleeps until a fence is freed. Returns
    /// the lock held again.
    fn help_or_wait<'a>(
        &'a self,
        mut f: SlotsGuard<'a>,
        run: &impl Fn(OwnedBio),
    ) -> SlotsGuard<'a> {
        if let Some(bio) = f.queued.pop() {
            drop(f);
            run(bio);
            self.slots.lock()
        } else {
            self.cv.wait(&mut f);
            f
        }
    }

    /// Whether a fence covers `blk` (F2), looking under the lock only when
    /// a slot is taken.
    fn covers(&self, blk: u64) -> bool {
        // Read after the caller's insertion under the shard lock, which
        // `map` took after raising it (F1): it cannot miss that fence.
        self.active.load(Relaxed) != 0 && self.slots.lock().covers(blk)
    }

    /// Waits until no fence covers `blk`, running queued write-arounds
    /// with `run` meanwhile (F2, progress).
    fn wait_uncovered(&self, blk: u64, run: &impl Fn(OwnedBio)) {
        let mut f = self.slots.lock();
        while f.covers(blk) {
            f = self.help_or_wait(f, run);
        }
    }

    /// Queues a write-around planned by `map` (its range fenced) for a
    /// worker.
    fn queue(&self, bio: OwnedBio) {
        self.slots.lock().queued.push(bio);
        // A worker waiting for a fence may run it.
        self.cv.notify_all();
    }

    /// Takes a queued write-around, for a worker, unless
    /// [`WA_WORKERS`] workers run one already (each waits for the origin;
    /// the others serve other bios, a throttled writer's included). A
    /// worker that finishes one looks again, and fills that wait for one
    /// run it themselves ([`Inner::await_fence`]), so none is left behind.
    pub(super) fn pop_queued(&self) -> Option<OwnedBio> {
        if self.active.load(Relaxed) == 0 {
            return None;
        }
        let mut f = self.slots.lock();
        if f.running >= WA_WORKERS {
            return None;
        }
        let bio = f.queued.pop()?;
        f.running += 1;
        Some(bio)
    }

    /// Whether a write-around waits in the queue for a worker.
    pub(super) fn has_queued(&self) -> bool {
        self.active.load(Relaxed) != 0 && !self.slots.lock().queued.is_empty()
    }

    /// A worker is done with a write-around it took with
    /// [`Fences::pop_queued`].
    pub(super) fn queued_done(&self) {
        self.slots.lock().running -= 1;
    }
}

impl Inner {
    /// Frees the fence of a write-around that `map` could not keep (the
    /// bio is failed instead): sectors `[sector, sector + sectors)` of
    /// the mapped device.
    pub(crate) fn cancel_write_around(&self, sector: u64, sectors: u64) {
        let (start, end) = self.fence_range(sector - self.layout.begin, sectors);
        self.fences.release(start, end);
    }

    /// The blocks `[start, end)` of sectors `[sector, sector + sectors)`.
    fn fence_range(&self, sector: u64, sectors: u64) -> (u64, u64) {
        (
            sector >> self.layout.shift,
            ((sector + sectors.max(1) - 1) >> self.layout.shift) + 1,
        )
    }

    /// Fences the blocks of sectors `[sector, sector + sectors)` for a
    /// discard passed down to the origin (see [`Inner::do_discard`]),
    /// waiting for a free slot and running queued write-arounds meanwhile
    /// (every slot is held by a write-around, which waits only for the
    /// origin, or by another discard, which waits for no fence). Returns
    /// the blocks fenced, for [`Fences::release`].
    pub(super) fn fence_discard(self: &Arc<Self>, sector: u64, sectors: u64) -> (u64, u64) {
        let (start, end) = self.fence_range(sector, sectors);
        self.fences
            .take_waiting(start, end, &|bio| self.write_around(bio))
    }

    /// Whether a write-around or a discard of `blk` is in flight (F2).
    pub(super) fn fenced(&self, blk: u64) -> bool {
        if knobs::no_write_fence() {
            return false;
        }
        self.fences.covers(blk)
    }

    /// Waits (a worker, holding `blk`'s `Filling` slot) until no
    /// write-around of `blk` is in flight, running queued write-arounds
    /// meanwhile (F2, progress).
    pub(super) fn await_fence(self: &Arc<Self>, blk: u64) {
        if !self.fenced(blk) {
            return;
        }
        self.stats.inc(Field::FenceWaits);
        self.fences
            .wait_uncovered(blk, &|bio| self.write_around(bio));
    }

    /// Queues a write-around planned by `map` (its range fenced) for a
    /// worker.
    pub(crate) fn queue_write_around(self: &Arc<Self>, bio: OwnedBio) {
        self.fences.queue(bio);
        self.enqueue_workers();
    }

    /// Writes a write-around bio to the origin (a clone of it, charged to
    /// the cgroup that caused it), waits for it, frees its fence and
    /// completes it with the outcome. Workers only: association and the
    /// wait may sleep.
    // Out of line, for drain_deferred's frame (see `process`).
    #[inline(never)]
    pub(super) fn write_around(self: &Arc<Self>, bio: OwnedBio) {
        let rel = self.rel_sector(&bio);
        let sectors = u64::from(bio.size() >> crate::dm::SECTOR_SHIFT);
        let (start, end) = self.fence_range(rel, sectors);
        let who = self.cg.get(bio.orig_css());
        knobs::race_delay();
        let st = IoBatch::run(&self.origin.bioset, |mut batch| {
            let i = batch
                .as_mut()
                .add_clone(&self.origin.dev, rel, &bio, assoc(&who));
            batch.wait().status(i)
        });
        let ok = st == BlkStatus::OK;
        if ok {
            self.stats.inc(Field::BypassedWrites);
            who.writeback_bytes
                .add(sectors << crate::dm::SECTOR_SHIFT, Relaxed);
        } else {
            self.stats.inc(Field::WritebackErrors);
        }
        self.fences.release(start, end);
        bio.endio(st);
    }
}
