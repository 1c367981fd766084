// SPDX-License-Identifier: GPL-2.0

//! Buffer allocation: finding or making the slot of a block, following
//! dm-bufio's fallback order (non-blocking allocation, eviction, the
//! target's reserve, a blocking NOIO allocation), and the target's share
//! of the module-wide memory budget.

use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, SpinLock};

use crate::cache::shard::{Alloc, SlotId};
use crate::cache::status::Field;
use crate::dm::{memalloc, Gfp};

use super::super::budget::{self, Buf};
use super::super::cgroup::CgEntry;
use super::super::knobs;
use super::shard::{pin_write, ShardGuard};
use super::writeback::WbSelect;
use super::{Inner, NOSLOT_ERROR_ROUNDS, NOSLOT_WAIT_MS};

/// How a block was obtained by [`Inner::get_block`].
pub(super) enum Got {
    /// Cached: pinned for the requested access; unpin when done.
    Hit(SlotId, Arc<Buf>),
    /// Not cached: a `Filling` slot now owned by the caller, who fills it
    /// (or overwrites it whole) and then publishes it.
    Miss(SlotId, Arc<Buf>),
    /// Not cached, and no slot can be had (the shard is full of dirty
    /// blocks that the origin refuses): reads go straight to the origin,
    /// which holds the block's latest data (it is not cached).
    Bypass,
}

/// Where [`Inner::get_block`] is in the allocation order (see
/// [`Inner::next_stage`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AllocStage {
    /// New memory from a non-blocking allocation (if the budget allows).
    Nowait,
    /// Reuse a clean idle block's memory (no new memory).
    Evict,
    /// A buffer of the target's reserve.
    Reserve,
    /// A blocking NOIO allocation, with no lock held.
    Blocking,
}

/// What one pass of [`Inner::get_block`] came to.
enum Pass {
    /// The answer.
    Done(Result<Got>),
    /// Try again at the same stage.
    Again,
    /// Try again at this stage.
    Next(AllocStage),
}

/// How long [`Inner::get_block`] has tried (see [`NOSLOT_ERROR_ROUNDS`]
/// and [`NOSLOT_WAIT_MS`]).
#[derive(Default)]
struct Tries {
    /// Writeback rounds of the block's shard that failed in a row.
    err_rounds: u32,
    /// When (the target's clock, ms) the request first waited after a full
    /// round of the allocation order; reset when a writeback made room.
    waiting_since: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

/// This target's part of the module budget: the reserve it always holds,
/// and whether it is starving for more.
///
/// # Invariants
///
/// The reserve holds at most `reserve_target` buffers; they are charged
/// to the budget from construction to `shutdown` whoever holds the rest,
/// and taken back by no one. `starving` is 1 exactly while this target is
/// counted in the budget's starving targets: it changes only by exchange,
/// so the budget's count moves once per change.
#[pin_data]
pub(super) struct Share {
    /// Buffers only this target allocates from (spinlock
    /// `bufcache:reserve`).
    #[pin]
    reserve: SpinLock<KVec<Arc<Buf>>>,
    /// Buffers the reserve holds when full. Fixed at construction.
    reserve_target: usize,
    /// This target counts in the budget's starving targets. Relaxed,
    /// exchanged.
    starving: Atomic<u32>,
    /// This target starved since the last background tick. Relaxed,
    /// exchanged.
    starve_seen: Atomic<u32>,
}

impl Share {
    /// A full reserve of `reserve_target` buffers of `block_size` bytes,
    /// for [`Share::new`].
    // Cold (table load): kept out of `Inner::new`'s frame.
    #[inline(never)]
    pub(super) fn fill_reserve(reserve_target: usize, block_size: u32) -> Result<KVec<Arc<Buf>>> {
        let mut reserve = KVec::with_capacity(reserve_target, GFP_KERNEL)?;
        for _ in 0..reserve_target {
            // The reserve is the target's own minimum: charged to the
            // budget even when others hold all of it (a warm reload must
            // not fail), and taken back by no one.
            let b = Buf::alloc_reserve(block_size, Gfp::Kernel).ok_or(ENOMEM)?;
            reserve.push(Arc::new(b, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(reserve)
    }

    /// The share of a target whose reserve is `reserve` (full), not
    /// starving.
    pub(super) fn new(reserve: KVec<Arc<Buf>>) -> impl PinInit<Self> {
        let reserve_target = reserve.len();
        pin_init!(Self {
            reserve <- new_spinlock!(reserve, "bufcache:reserve"),
            reserve_target,
            starving: Atomic::new(0),
            starve_seen: Atomic::new(0),
        })
    }

    /// Buffers the reserve holds when full.
    pub(super) fn reserve_target(&self) -> usize {
        self.reserve_target
    }

    /// Buffers in the reserve now.
    pub(super) fn reserve_len(&self) -> usize {
        self.reserve.lock().len()
    }

    fn reserve_is_empty(&self) -> bool {
        self.reserve.lock().is_empty()
    }

    /// A buffer of the reserve, if any is left.
    fn reserve_take(&self) -> Option<Arc<Buf>> {
        self.reserve.lock().pop()
    }

    /// Returns memory to the reserve if it is short, else frees it.
    pub(super) fn give_back(&self, b: Arc<Buf>) {
        let mut r = self.reserve.lock();
        if r.len() < self.reserve_target {
            let _ = r.push_within_capacity(b);
        }
    }

    /// Teaches lockdep that the reserve's lock is taken inside memory
    /// reclaim (by the shrinker, through [`Share::give_back`]).
    pub(super) fn prime_lockdep(&self) {
        crate::dm::shrinker::as_if_in_reclaim(|| drop(self.reserve.lock()));
    }

    /// Called by the background timer: a target that has not starved since
    /// the last tick stops counting as starving.
    pub(super) fn expire_starving(&self) {
        if self.starve_seen.xchg(0, Relaxed) == 0 {
            self.set_starving(false);
        }
    }

    /// Records that this target starved (since the last background tick).
    fn note_starved(&self) {
        self.starve_seen.store(1, Relaxed);
    }

    pub(super) fn set_starving(&self, on: bool) {
        let v = u32::from(on);
        if self.starving.xchg(v, Relaxed) != v {
            budget::set_starving(on);
        }
    }
}

impl Inner {
    /// Makes a `Filling` slot for uncached `blk` without ever sleeping:
    /// a free slot, new memory from a non-blocking allocation (if the cap
    /// and the budget allow), or an evicted clean block. `None` if `blk` is
    /// cached already, nothing is available right now, or a write-around
    /// of `blk` is in flight (`fence`, F2: the slot is taken back).
    pub(super) fn alloc_nowait(
        &self,
        si: usize,
        blk: u64,
        owner: u32,
    ) -> Option<(SlotId, Arc<Buf>)> {
        let (id, buf) = self.alloc_nowait_slot(si, blk, owner)?;
        if self.fenced(blk) {
            let mut g = self.shards.lock(si);
            g.meta.abort_fill(id, true);
            drop(g);
            self.shards.notify(si);
            return None;
        }
        Some((id, buf))
    }

    /// [`Inner::alloc_nowait`] before the fence is looked at.
    fn alloc_nowait_slot(&self, si: usize, blk: u64, owner: u32) -> Option<(SlotId, Arc<Buf>)> {
        let mut g = self.shards.lock(si);
        if g.meta.lookup(blk).is_some() {
            return None;
        }
        // Like `may_grow`, without marking this target starving: readahead
        // and map-time misses are optional.
        let grow = budget::has_room(u64::from(self.layout.block_size))
            && !(budget::contended() && self.mem_bytes() >= budget::fair_share());
        match g.meta.alloc(blk, owner, grow) {
            Alloc::Ready(id) => Self::slot_buf(&mut g, id).map(|b| (id, b)),
            Alloc::Evicted { id, .. } => {
                self.stats.inc(Field::Evictions);
                Self::slot_buf(&mut g, id).map(|b| (id, b))
            }
            Alloc::NeedMemory(id) => {
                drop(g);
                let buf = Buf::alloc(self.layout.block_size, Gfp::NowaitQuiet)
                    .and_then(|b| Arc::new(b, GFP_NOWAIT | __GFP_NOWARN).ok());
                let mut g = self.shards.lock(si);
                match buf {
                    Some(b) => {
                        g.meta.attach_mem(id);
                        g.bufs[id as usize] = Some(b.clone());
                        Some((id, b))
                    }
                    None => {
                        g.meta.abort_fill(id, false);
                        drop(g);
                        self.shards.notify(si);
                        None
                    }
                }
            }
            Alloc::Full => None,
        }
    }

    /// The memory of `Filling` slot `id`, which `Shard::alloc` gave with
    /// memory. `None` is not reached (a slot with memory has a buffer);
    /// if it were, the slot is abandoned, never left `Filling` (a flush
    /// or a reader of the block would wait for it for ever); its waiters
    /// see that at their next look (they wait 10 ms at most).
    fn slot_buf(g: &mut ShardGuard<'_>, id: SlotId) -> Option<Arc<Buf>> {
        let b = g.bufs[id as usize].clone();
        if b.is_none() {
            g.meta.abort_fill(id, false);
        }
        b
    }

    /// Finds or makes the slot for `blk`. Waits for fills in progress and,
    /// when the shard is full of dirty blocks, writes some back.
    ///
    /// Allocation follows dm-bufio's order ([`AllocStage`], one pass per
    /// stage in [`Inner::alloc_pass`]): (0) new memory without blocking,
    /// (1) reuse a clean idle buffer, (2) the target's reserve (refilled
    /// from its other shards if need be), (3) a blocking NOIO allocation
    /// with no lock held; then wait for a change and start over. Every
    /// target always progresses on its own reserve, whatever the others
    /// hold. The only way out without a slot is a shard full of dirty
    /// blocks whose writebacks keep failing: then a read bypasses the
    /// cache ([`Got::Bypass`]) and a write fails with `EIO`, after
    /// `NOSLOT_ERROR_ROUNDS` rounds with back-off.
    pub(super) fn get_block(
        self: &Arc<Self>,
        blk: u64,
        access: Access,
        who: &CgEntry,
    ) -> Result<Got> {
        let si = self.shard_index(blk);
        let mut stage = AllocStage::Nowait;
        let mut tries = Tries::default();
        loop {
            match self.alloc_pass(si, blk, access, who, stage, &mut tries) {
                Pass::Done(Ok(Got::Miss(id, buf))) => {
                    // Neither filled nor written until no write-around of
                    // it is in flight (`fence`, F2).
                    self.await_fence(blk);
                    return Ok(Got::Miss(id, buf));
                }
                Pass::Done(r) => return r,
                Pass::Again => {}
                Pass::Next(s) => {
                    if stage == AllocStage::Blocking && self.gave_up(&mut tries) {
                        // Bounded: no slot after NOSLOT_WAIT_MS without
                        // progress. Fail cleanly, as after write errors.
                        self.stats.inc(Field::NoslotErrors);
                        return match access {
                            Access::Read => Ok(Got::Bypass),
                            Access::Write => Err(EIO),
                        };
                    }
                    stage = s
                }
            }
        }
    }

    /// After a full round of the allocation order that ended in a wait
    /// ([`Inner::next_stage`]): whether the request has waited
    /// [`NOSLOT_WAIT_MS`] without getting a slot while nothing could
    /// change. Any fill or writeback in flight in the target (a slow or
    /// stalled origin, a throttled cgroup's lane) restarts the clock: it
    /// will free or clean a block when it completes.
    fn gave_up(&self, tries: &mut Tries) -> bool {
        if knobs::no_refill_writeback() {
            return false;
        }
        let now = self.now_ms();
        match tries.waiting_since {
            Some(t) if !self.io_in_flight() => now.saturating_sub(t) >= NOSLOT_WAIT_MS,
            _ => {
                tries.waiting_since = Some(now);
                false
            }
        }
    }

    /// Whether any block of the target is being filled or written back.
    fn io_in_flight(&self) -> bool {
        (0..self.nshards()).any(|si| {
            let c = self.shards.lock(si).meta.counts();
            c.filling > 0 || c.writing > 0
        })
    }

    /// One pass of [`Inner::get_block`] at `stage`: a hit, a slot with
    /// memory, or where to go next.
    fn alloc_pass(
        &self,
        si: usize,
        blk: u64,
        access: Access,
        who: &CgEntry,
        stage: AllocStage,
        tries: &mut Tries,
    ) -> Pass {
        let now = self.now_ms();
        let mut g = self.shards.lock(si);
        if let Some(id) = g.meta.lookup(blk) {
            let r = match access {
                Access::Read => g.meta.pin_read(id),
                Access::Write => pin_write(&mut g, id, now, who.id),
            };
            if r.is_err() {
                g.wait();
                return Pass::Again;
            }
            let Some(b) = g.bufs[id as usize].clone() else {
                // Not reached: an indexed slot holds memory. Never leave
                // the pin behind (a flush would wait for it).
                match access {
                    Access::Read => g.meta.unpin_read(id),
                    Access::Write => g.meta.unpin_write(id, now),
                }
                return Pass::Done(Err(EIO));
            };
            return Pass::Done(Ok(Got::Hit(id, b)));
        }
        let grow = match stage {
            AllocStage::Nowait | AllocStage::Blocking => self.may_grow(),
            AllocStage::Evict => false,
            AllocStage::Reserve => !self.share.reserve_is_empty(),
        };
        let id = match g.meta.alloc(blk, who.id, grow) {
            Alloc::Ready(id) => {
                return Pass::Done(
                    Self::slot_buf(&mut g, id)
                        .ok_or(EIO)
                        .map(|b| Got::Miss(id, b)),
                )
            }
            Alloc::Evicted { id, .. } => {
                self.stats.inc(Field::Evictions);
                return Pass::Done(
                    Self::slot_buf(&mut g, id)
                        .ok_or(EIO)
                        .map(|b| Got::Miss(id, b)),
                );
            }
            Alloc::NeedMemory(id) => id,
            Alloc::Full => {
                drop(g);
                return self.shard_full(si, access, stage, tries);
            }
        };
        let (mut g, buf) = self.stage_memory(g, si, stage);
        if let Some(buf) = buf {
            g.meta.attach_mem(id);
            g.bufs[id as usize] = Some(buf.clone());
            return Pass::Done(Ok(Got::Miss(id, buf)));
        }
        g.meta.abort_fill(id, false);
        drop(g);
        self.shards.notify(si);
        Pass::Next(self.next_stage(si, stage, false))
    }

    /// The memory of `stage` for a new slot: `g` is dropped while
    /// allocating (and taken again).
    fn stage_memory<'a>(
        &'a self,
        g: ShardGuard<'a>,
        si: usize,
        stage: AllocStage,
    ) -> (ShardGuard<'a>, Option<Arc<Buf>>) {
        match stage {
            AllocStage::Nowait => {
                drop(g);
                let b = Buf::alloc(self.layout.block_size, Gfp::NowaitQuiet)
                    .and_then(|b| Arc::new(b, GFP_NOWAIT | __GFP_NOWARN).ok());
                (self.shards.lock(si), b)
            }
            AllocStage::Evict => (g, None),
            AllocStage::Reserve => {
                let b = self.share.reserve_take();
                (g, b)
            }
            AllocStage::Blocking => {
                drop(g);
                self.stats.inc(Field::BlockingAllocs);
                let b = memalloc::noio(|| {
                    let b = Buf::alloc(self.layout.block_size, Gfp::NoioQuiet)?;
                    // Not GFP_KERNEL: inside the NOIO scope a small
                    // allocation that may block never fails and could
                    // keep the worker in the allocator; failing here
                    // only means waiting and trying again.
                    Arc::new(b, GFP_NOWAIT | __GFP_NOWARN).ok()
                });
                (self.shards.lock(si), b)
            }
        }
    }

    /// The shard has no slot to give (`Alloc::Full`): writes back its
    /// oldest dirty blocks, then starts over, backs off after failed
    /// writebacks (giving up after `NOSLOT_ERROR_ROUNDS`), or moves on.
    fn shard_full(&self, si: usize, access: Access, stage: AllocStage, tries: &mut Tries) -> Pass {
        self.stats.inc(Field::FullWaits);
        let r = self.writeback_shard(si, WbSelect::Oldest, None);
        if r.written > 0 {
            *tries = Tries::default();
            return Pass::Next(AllocStage::Nowait);
        }
        if r.errors > 0 {
            // The origin refuses writes: back off, then give up.
            tries.err_rounds += 1;
            let err_rounds = tries.err_rounds;
            if err_rounds >= NOSLOT_ERROR_ROUNDS && !knobs::noslot_unbounded() {
                self.stats.inc(Field::NoslotErrors);
                return Pass::Done(match access {
                    Access::Read => Ok(Got::Bypass),
                    Access::Write => Err(EIO),
                });
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(
                10i64 << err_rounds.min(NOSLOT_ERROR_ROUNDS),
            ));
            return Pass::Again;
        }
        // Nothing free, clean or writable here: the budget is held by
        // others, or every block is pinned, filling or being written.
        Pass::Next(self.next_stage(si, stage, true))
    }

    /// The allocation order, stage by stage: where to go after `stage`
    /// found the shard `full` (no slot at all), or a slot but no memory.
    /// After the last stage, waits for a change in the shard (writeback,
    /// reclaim, the reserve refilling; like dm-bufio) and starts over.
    fn next_stage(&self, si: usize, stage: AllocStage, full: bool) -> AllocStage {
        match (stage, full) {
            (AllocStage::Nowait, false) => AllocStage::Evict,
            (AllocStage::Nowait | AllocStage::Evict, true) => AllocStage::Reserve,
            (AllocStage::Evict | AllocStage::Reserve, false) => AllocStage::Blocking,
            (AllocStage::Reserve, true) => AllocStage::Blocking,
            (AllocStage::Blocking, _) => {
                if self.share.reserve_is_empty() {
                    self.refill_reserve(si);
                }
                self.shards.lock(si).wait();
                AllocStage::Nowait
            }
        }
    }

    /// Whether a miss may take new memory from the budget: there is room,
    /// and no other target is starving while this one holds more than its
    /// fair share. Marks this target starving when it is under its share
    /// and the budget is used up.
    pub(super) fn may_grow(&self) -> bool {
        let bs = u64::from(self.layout.block_size);
        if knobs::no_fair_share() {
            return budget::has_room(bs);
        }
        let over = self.mem_bytes() >= budget::fair_share();
        if budget::has_room(bs) {
            self.share.set_starving(false);
            return !(over && budget::contended());
        }
        if !over {
            self.share.note_starved();
        }
        self.share.set_starving(!over);
        false
    }

    /// Bytes in this target's slots (not counting its reserve).
    pub(super) fn mem_bytes(&self) -> u64 {
        self.shards.mem_blocks() * u64::from(self.layout.block_size)
    }
}
