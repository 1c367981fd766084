// SPDX-License-Identifier: GPL-2.0

//! Buffer allocation: finding or making the slot of a block, following
//! dm-bufio's fallback order (non-blocking allocation, eviction, the
//! target's reserve, a blocking NOIO allocation), and the target's share
//! of the module-wide memory budget.

use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

use crate::cache::shard::{Alloc, SlotId};
use crate::cache::status::Field;
use crate::dm::{memalloc, Gfp};

use super::super::budget::{self, Buf};
use super::super::cgroup::CgEntry;
use super::shard::pin_write;
use super::writeback::WbSelect;
use super::{Inner, NOSLOT_ERROR_ROUNDS};

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

/// Where [`Inner::get_block`] is in the allocation order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AllocStage {
    Nowait,
    Evict,
    Reserve,
    Blocking,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

impl Inner {
    /// Makes a `Filling` slot for uncached `blk` without ever sleeping:
    /// a free slot, new memory from a non-blocking allocation (if the cap
    /// and the budget allow), or an evicted clean block. `None` if `blk` is
    /// cached already or nothing is available right now.
    pub(super) fn alloc_nowait(
        &self,
        si: usize,
        blk: u64,
        owner: u32,
    ) -> Option<(SlotId, Arc<Buf>)> {
        let mut g = self.lock_shard(si);
        if g.meta.lookup(blk).is_some() {
            return None;
        }
        // Like `may_grow`, without marking this target starving: readahead
        // and map-time misses are optional.
        let grow = budget::has_room(u64::from(self.block_size))
            && !(budget::contended() && self.mem_bytes() >= budget::fair_share());
        match g.meta.alloc(blk, owner, grow) {
            Alloc::Ready(id) => g.bufs[id as usize].clone().map(|b| (id, b)),
            Alloc::Evicted { id, .. } => {
                self.stats.inc(Field::Evictions);
                g.bufs[id as usize].clone().map(|b| (id, b))
            }
            Alloc::NeedMemory(id) => {
                drop(g);
                let buf = Buf::alloc(self.block_size, Gfp::NowaitQuiet)
                    .and_then(|b| Arc::new(b, GFP_NOWAIT | __GFP_NOWARN).ok());
                let mut g = self.lock_shard(si);
                match buf {
                    Some(b) => {
                        g.meta.attach_mem(id);
                        g.bufs[id as usize] = Some(b.clone());
                        Some((id, b))
                    }
                    None => {
                        g.meta.abort_fill(id, false);
                        drop(g);
                        self.notify(si);
                        None
                    }
                }
            }
            Alloc::Full => None,
        }
    }

    /// Returns memory to the reserve if it is short, else frees it.
    pub(super) fn release_buf(&self, b: Arc<Buf>) {
        let mut r = self.reserve.lock();
        if r.len() < self.reserve_target {
            let _ = r.push_within_capacity(b);
        }
    }

    /// Finds or makes the slot for `blk`. Waits for fills in progress and,
    /// when the shard is full of dirty blocks, writes some back.
    ///
    /// Allocation follows dm-bufio's order: (0) new memory without
    /// blocking, (1) reuse a clean idle buffer, (2) the target's reserve
    /// (refilled from its other shards if need be), (3) a blocking NOIO
    /// allocation with no lock held; then wait for a change and start
    /// over. Every target always progresses on its own reserve, whatever
    /// the others hold. The only way out without a slot is a shard full of
    /// dirty blocks whose writebacks keep failing: then a read bypasses the
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
        let mut err_rounds = 0u32;
        loop {
            let now = self.now_ms();
            let mut g = self.lock_shard(si);
            if let Some(id) = g.meta.lookup(blk) {
                let r = match access {
                    Access::Read => g.meta.pin_read(id),
                    Access::Write => pin_write(&mut g, id, now, who.id),
                };
                match r {
                    Ok(()) => {
                        let buf = g.bufs[id as usize].clone().ok_or(EIO)?;
                        return Ok(Got::Hit(id, buf));
                    }
                    Err(_) => {
                        g.wait();
                        continue;
                    }
                }
            }
            let grow = match stage {
                AllocStage::Nowait | AllocStage::Blocking => self.may_grow(),
                AllocStage::Evict => false,
                AllocStage::Reserve => !self.reserve.lock().is_empty(),
            };
            let id = match g.meta.alloc(blk, who.id, grow) {
                Alloc::Ready(id) => {
                    let buf = g.bufs[id as usize].clone().ok_or(EIO)?;
                    return Ok(Got::Miss(id, buf));
                }
                Alloc::Evicted { id, .. } => {
                    self.stats.inc(Field::Evictions);
                    let buf = g.bufs[id as usize].clone().ok_or(EIO)?;
                    return Ok(Got::Miss(id, buf));
                }
                Alloc::NeedMemory(id) => id,
                Alloc::Full => {
                    drop(g);
                    self.stats.inc(Field::FullWaits);
                    let r = self.writeback_shard(si, WbSelect::Oldest, None);
                    if r.written > 0 {
                        err_rounds = 0;
                        stage = AllocStage::Nowait;
                        continue;
                    }
                    if r.errors > 0 {
                        // The origin refuses writes: back off, then give up.
                        err_rounds += 1;
                        if err_rounds >= NOSLOT_ERROR_ROUNDS {
                            self.stats.inc(Field::NoslotErrors);
                            return match access {
                                Access::Read => Ok(Got::Bypass),
                                Access::Write => Err(EIO),
                            };
                        }
                        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(
                            10i64 << err_rounds,
                        ));
                        continue;
                    }
                    // Nothing free, clean or writable here: the budget is
                    // held by others, or every block is pinned, filling or
                    // being written.
                    stage = match stage {
                        AllocStage::Nowait | AllocStage::Evict => AllocStage::Reserve,
                        AllocStage::Reserve => AllocStage::Blocking,
                        AllocStage::Blocking => {
                            if self.reserve.lock().is_empty() {
                                self.refill_reserve(si);
                            }
                            self.lock_shard(si).wait();
                            AllocStage::Nowait
                        }
                    };
                    continue;
                }
            };
            let buf = match stage {
                AllocStage::Nowait => {
                    drop(g);
                    let b = Buf::alloc(self.block_size, Gfp::NowaitQuiet)
                        .and_then(|b| Arc::new(b, GFP_NOWAIT | __GFP_NOWARN).ok());
                    g = self.lock_shard(si);
                    b
                }
                AllocStage::Evict => None,
                AllocStage::Reserve => self.reserve.lock().pop(),
                AllocStage::Blocking => {
                    drop(g);
                    self.stats.inc(Field::BlockingAllocs);
                    let b = memalloc::noio(|| {
                        let b = Buf::alloc(self.block_size, Gfp::NoioQuiet)?;
                        // Not GFP_KERNEL: inside the NOIO scope a small
                        // allocation that may block never fails and could
                        // keep the worker in the allocator; failing here
                        // only means waiting and trying again.
                        Arc::new(b, GFP_NOWAIT | __GFP_NOWARN).ok()
                    });
                    g = self.lock_shard(si);
                    b
                }
            };
            if let Some(buf) = buf {
                g.meta.attach_mem(id);
                g.bufs[id as usize] = Some(buf.clone());
                return Ok(Got::Miss(id, buf));
            }
            g.meta.abort_fill(id, false);
            drop(g);
            self.notify(si);
            stage = match stage {
                AllocStage::Nowait => AllocStage::Evict,
                AllocStage::Evict | AllocStage::Reserve => AllocStage::Blocking,
                AllocStage::Blocking => {
                    // The blocking allocation failed: like dm-bufio, wait for memory
                    // to come back (writeback, reclaim, the reserve
                    // refilling) and start over.
                    self.lock_shard(si).wait();
                    AllocStage::Nowait
                }
            };
        }
    }

    /// Whether a miss may take new memory from the budget: there is room,
    /// and no other target is starving while this one holds more than its
    /// fair share. Marks this target starving when it is under its share
    /// and the budget is used up.
    pub(super) fn may_grow(&self) -> bool {
        let bs = u64::from(self.block_size);
        let over = self.mem_bytes() >= budget::fair_share();
        if budget::has_room(bs) {
            self.set_starving(false);
            return !(over && budget::contended());
        }
        if !over {
            self.starve_seen.store(1, Relaxed);
        }
        self.set_starving(!over);
        false
    }

    /// Called by the background timer: a target that has not starved since
    /// the last tick stops counting as starving.
    pub(super) fn expire_starving(&self) {
        if self.starve_seen.xchg(0, Relaxed) == 0 {
            self.set_starving(false);
        }
    }

    pub(super) fn set_starving(&self, on: bool) {
        let v = u32::from(on);
        if self.starving.xchg(v, Relaxed) != v {
            budget::set_starving(on);
        }
    }

    /// Bytes in this target's slots (not counting its reserve).
    pub(super) fn mem_bytes(&self) -> u64 {
        self.mem_blocks.load(Relaxed).max(0) as u64 * u64::from(self.block_size)
    }
}
