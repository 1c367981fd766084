// SPDX-License-Identifier: GPL-2.0

//! The module-wide memory budget shared by all bufcache targets.
//!
//! Every block buffer is charged to the budget when allocated and uncharged
//! when freed ([`Buf`]), so the sum over all targets never exceeds it. The
//! budget is the `max_cache_size_bytes` parameter, read whenever it is
//! needed (it can be written at run time, as dm-bufio's can); 0 (the
//! default) means 2% of RAM, dm-bufio's default share.
//!
//! Sharing: each target's reserve (up to 16 blocks, at least one per
//! shard, allocated at construction) is its own minimum, charged even
//! beyond the budget, so a target always progresses (a miss that finds it
//! spent writes back and takes a block of another of its shards:
//! `refill_reserve`; after 10 s with nothing in flight it gives up:
//! `get_block`) and a warm table reload never fails for want of budget.
//! The budget is at most RAM (the parameter refuses more) and every sum
//! over it saturates. Beyond that, targets grow into the budget as they need; when a
//! target under its fair share (budget / live targets) finds it used up, it
//! is *starving*, and the others give back memory above their fair share
//! (clean blocks first, at their next background pass, within a second; a
//! suspended target too, from clean blocks only) and
//! stop growing beyond it until no target starves. The same happens while
//! the budget is overdrawn (lowered below what the targets hold): every
//! target gives back what it holds above its fair share.

use kernel::sync::atomic::{Atomic, Relaxed};

use crate::dm::{BlockBuf, Gfp};

static USED: Atomic<u64> = Atomic::new(0);
/// Live targets (constructed, not yet shut down).
static TARGETS: Atomic<u64> = Atomic::new(0);
/// Bytes of the live targets' reserves, charged beyond the budget.
static RESERVES: Atomic<u64> = Atomic::new(0);
/// Targets under their fair share that found the budget used up.
static STARVING: Atomic<u64> = Atomic::new(0);

/// Percentage of RAM used as the default budget.
pub(crate) const DEFAULT_PERCENT: u64 = 2;

/// The budget in bytes: `max_cache_size_bytes`, or 2% of RAM if it is 0;
/// never more than RAM (the parameter refuses more; this bound keeps every
/// sum below from overflowing whatever the parameter holds).
pub(crate) fn budget() -> u64 {
    let ram = crate::dm::totalram_bytes();
    match crate::dm::max_cache_size_param() {
        0 => ram / 100 * DEFAULT_PERCENT,
        b => b.min(ram),
    }
}

/// Bytes charged by all targets.
pub(crate) fn used() -> u64 {
    USED.load(Relaxed)
}

/// Whether `bytes` more would fit (a hint; [`Buf::alloc`] decides).
pub(crate) fn has_room(bytes: u64) -> bool {
    used().saturating_add(bytes) <= budget()
}

/// Counts a new target, whose reserve is `reserve` bytes.
pub(crate) fn target_added(reserve: u64) {
    TARGETS.add(1, Relaxed);
    RESERVES.add(reserve, Relaxed);
}

/// Uncounts a target that went away, with its reserve of `reserve` bytes.
pub(crate) fn target_removed(reserve: u64) {
    let _ = TARGETS.fetch_sub(1, Relaxed);
    let _ = RESERVES.fetch_sub(reserve, Relaxed);
}

/// The share of the budget each live target may keep while another one is
/// starving.
pub(crate) fn fair_share() -> u64 {
    budget() / TARGETS.load(Relaxed).max(1)
}

/// Whether some target is starving, or the targets hold more than the
/// budget and their reserves (the budget was lowered): targets above their
/// fair share then give back (see the module documentation). Reserves
/// alone never overdraw it.
pub(crate) fn contended() -> bool {
    STARVING.load(Relaxed) > 0 || used() > budget().saturating_add(RESERVES.load(Relaxed))
}

/// A target starts (`true`) or stops starving. Callers report transitions
/// only.
pub(crate) fn set_starving(on: bool) {
    if on {
        STARVING.add(1, Relaxed);
    } else {
        let _ = STARVING.fetch_sub(1, Relaxed);
    }
}

fn try_charge(bytes: u64) -> bool {
    let mut cur = USED.load(Relaxed);
    loop {
        if cur.saturating_add(bytes) > budget() {
            return false;
        }
        match USED.cmpxchg(cur, cur + bytes, Relaxed) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
}

/// A block buffer charged to the budget.
pub(crate) struct Buf {
    buf: BlockBuf,
}

impl Buf {
    /// Allocates and charges a buffer of `size` bytes; `None` if the budget
    /// is exhausted or the allocation fails.
    pub(crate) fn alloc(size: u32, gfp: Gfp) -> Option<Self> {
        if !try_charge(u64::from(size)) {
            return None;
        }
        match BlockBuf::alloc(size, gfp) {
            Some(buf) => Some(Self { buf }),
            None => {
                USED.fetch_sub(u64::from(size), Relaxed);
                None
            }
        }
    }
}

impl Buf {
    /// Allocates and charges a buffer of a target's reserve: charged even
    /// beyond the budget (the reserve is the target's guaranteed minimum).
    pub(crate) fn alloc_reserve(size: u32, gfp: Gfp) -> Option<Self> {
        USED.add(u64::from(size), Relaxed);
        match BlockBuf::alloc(size, gfp) {
            Some(buf) => Some(Self { buf }),
            None => {
                let _ = USED.fetch_sub(u64::from(size), Relaxed);
                None
            }
        }
    }
}

impl core::ops::Deref for Buf {
    type Target = BlockBuf;
    fn deref(&self) -> &BlockBuf {
        &self.buf
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        USED.fetch_sub(u64::from(self.buf.size()), Relaxed);
    }
}
