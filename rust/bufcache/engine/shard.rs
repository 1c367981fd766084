// SPDX-License-Identifier: GPL-2.0

//! The shard lock: a shard's metadata and buffers under one spinlock, the
//! condition variable its waiters sleep on, [`Shards`], a target's shards
//! with their dirty and memory totals, and [`ShardGuard`], which keeps
//! those totals in step with the shard.
//!
//! Locking: one shard lock at a time, never held across I/O or a sleeping
//! allocation.

use core::convert::Infallible;
use core::ops::{Deref, DerefMut};

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::lock::spinlock::SpinLockBackend;
use kernel::sync::lock::Guard;
use kernel::sync::{Arc, CondVar, SpinLock};
use kernel::time::msecs_to_jiffies;
use kernel::{new_condvar, new_spinlock};

use crate::cache::shard::{Busy, Shard, Slot, SlotId, State};

use super::super::budget::Buf;
use super::super::cgroup::{CgAcct, CgTable};
use super::super::knobs;

/// Pins `id` for a writer, unless it is being written back: then the
/// writer waits (stable pages, invariant S of [`writeback`]). The knob
/// `test_write_while_writing` lets it in (the hazard, for a negative
/// control).
pub(super) fn pin_write(
    g: &mut ShardGuard<'_>,
    id: SlotId,
    now: u64,
    owner: u32,
) -> Result<(), Busy> {
    if g.meta.state(id) == Some(State::Writing) && !knobs::write_while_writing() {
        return Err(Busy::State(State::Writing));
    }
    g.meta.write_hit(id, now, owner)
}

/// Metadata and buffers of one shard.
pub(crate) struct ShardState {
    pub(super) meta: Shard<KVVec<Slot>, KVVec<u32>, CgAcct>,
    pub(super) bufs: KVVec<Option<Arc<Buf>>>,
}

/// A shard: its state under a spinlock, and a condition variable for
/// those waiting on a fill or a writeback of one of its blocks.
///
/// # Invariants
///
/// `state` is reached only through a [`ShardGuard`] (from [`Shards`]; but
/// for a lock and unlock that primes lockdep), which keeps the target's
/// totals in step with it.
#[pin_data]
pub(crate) struct ShardLock {
    /// The shard's metadata and buffers (spinlock `bufcache:shard`).
    #[pin]
    state: SpinLock<ShardState>,
    /// Signalled on state changes of the shard; waited on with `state`
    /// held (released while asleep).
    #[pin]
    cv: CondVar,
}

impl ShardLock {
    /// A shard of `slots` slots holding at most `cap` blocks. Not inlined,
    /// so that the constructor looping over shards does not carry its
    /// frame.
    ///
    /// The frame holds the shard's state (200 bytes) once: the vectors are
    /// allocated first (the part that can fail), and the lock's data
    /// initialiser builds the state from them once the box exists,
    /// capturing only a reference to them. A state built first and moved
    /// into the initialiser was held twice, with pin-init's copy (528
    /// bytes of frame on 7.3, against 416).
    #[inline(never)]
    pub(super) fn new(slots: u32, cap: u32, cg: &Arc<CgTable>) -> Result<Pin<KBox<Self>>> {
        let mut vecs = Vecs::new(slots)?;
        // A reference: `pin_init!` moves what it captures, and copies of
        // the vectors in its closures cost frame.
        let v = &mut vecs;
        let state = pin_init::pin_init_scope(|| Ok::<_, Infallible>(v.state(cap, cg)));
        KBox::pin_init(
            pin_init!(Self {
                state <- new_spinlock!(state, "bufcache:shard"),
                cv <- new_condvar!("bufcache:shard_cv"),
            }),
            GFP_KERNEL,
        )
    }
}

/// The vectors of a new shard, allocated before the shard (the part of
/// its construction that can fail). Empty once taken by [`Vecs::state`].
#[derive(Default)]
struct Vecs {
    slots: KVVec<Slot>,
    buckets: KVVec<u32>,
    bufs: KVVec<Option<Arc<Buf>>>,
}

impl Vecs {
    /// Vectors for `slots` slots, every slot free. Not inlined: out of
    /// [`ShardLock::new`]'s frame.
    #[inline(never)]
    fn new(slots: u32) -> Result<Self> {
        let n = slots as usize;
        let mut s = KVVec::with_capacity(n, GFP_KERNEL)?;
        let mut bufs = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            s.push(Slot::EMPTY, GFP_KERNEL)?;
            bufs.push(None, GFP_KERNEL)?;
        }
        let nb = (n * 2).next_power_of_two().max(2);
        let mut buckets = KVVec::with_capacity(nb, GFP_KERNEL)?;
        for _ in 0..nb {
            buckets.push(0u32, GFP_KERNEL)?;
        }
        Ok(Self {
            slots: s,
            buckets,
            bufs,
        })
    }

    /// The shard's state, holding at most `cap` blocks, built from the
    /// vectors (which are left empty). Not inlined: out of
    /// [`ShardLock::new`]'s frame.
    #[inline(never)]
    fn state(&mut self, cap: u32, cg: &Arc<CgTable>) -> ShardState {
        let v = core::mem::take(self);
        let acct = CgAcct { table: cg.clone() };
        ShardState {
            meta: Shard::with_accountant(v.slots, v.buckets, cap, acct),
            bufs: v.bufs,
        }
    }
}

/// The shards of one target, and the totals their guards keep.
///
/// # Invariants
///
/// `dirty` and `mem_blocks` are the sums over the shards of their dirty
/// blocks and of their slots holding memory, as each shard's lock last
/// left them: a [`ShardGuard`] adds its shard's changes whenever it
/// releases the lock or waits. Read without a lock, they may lag the
/// holder of a shard lock.
pub(super) struct Shards {
    /// Each shard under its own spinlock (`bufcache:shard`): one shard
    /// lock at a time, never held across I/O or a sleeping allocation.
    locks: KVec<Pin<KBox<ShardLock>>>,
    /// Dirty blocks over all shards. Relaxed; changed only by shard guards.
    dirty: Atomic<i64>,
    /// Slots holding memory over all shards. Relaxed; changed only by
    /// shard guards.
    mem_blocks: Atomic<i64>,
}

impl Shards {
    /// `n` shards of `per` slots each, every slot free.
    // Cold (table load): kept out of `Inner::new`'s frame.
    #[inline(never)]
    pub(super) fn new(n: usize, per: u32, cg: &Arc<CgTable>) -> Result<Self> {
        let mut locks = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            locks.push(ShardLock::new(per, per, cg)?, GFP_KERNEL)?;
        }
        Ok(Self {
            locks,
            dirty: Atomic::new(0),
            mem_blocks: Atomic::new(0),
        })
    }

    /// Number of shards.
    pub(super) fn len(&self) -> usize {
        self.locks.len()
    }

    /// Dirty blocks over all shards, from the total the shard guards keep
    /// (no lock).
    pub(super) fn dirty_blocks(&self) -> u64 {
        self.dirty.load(Relaxed).max(0) as u64
    }

    /// Slots holding memory over all shards, from the total the shard
    /// guards keep (no lock).
    pub(super) fn mem_blocks(&self) -> u64 {
        self.mem_blocks.load(Relaxed).max(0) as u64
    }

    /// Teaches lockdep that the shard locks are taken inside memory
    /// reclaim (the shrinker).
    pub(super) fn prime_lockdep(&self) {
        for si in 0..self.len() {
            crate::dm::shrinker::as_if_in_reclaim(|| drop(self.locks[si].state.lock()));
        }
    }

    pub(super) fn lock(&self, si: usize) -> ShardGuard<'_> {
        let sh = &*self.locks[si];
        let g = sh.state.lock();
        let c = g.meta.counts();
        ShardGuard {
            g: Some(g),
            sh,
            shards: self,
            dirty0: c.dirty,
            mem0: c.with_mem,
        }
    }

    /// Locks shard `si` only if that needs no waiting (reclaim context).
    pub(super) fn try_lock(&self, si: usize) -> Option<ShardGuard<'_>> {
        let sh = &*self.locks[si];
        let g = sh.state.try_lock()?;
        let c = g.meta.counts();
        Some(ShardGuard {
            g: Some(g),
            sh,
            shards: self,
            dirty0: c.dirty,
            mem0: c.with_mem,
        })
    }

    pub(super) fn notify(&self, si: usize) {
        self.locks[si].cv.notify_all();
    }
}

/// A locked shard. Keeps the target's dirty and memory totals in step with
/// the shard's counts whenever the lock is released or waited on.
pub(super) struct ShardGuard<'a> {
    /// Always `Some`, except inside [`ShardGuard::wait`].
    g: Option<Guard<'a, ShardState, SpinLockBackend>>,
    sh: &'a ShardLock,
    shards: &'a Shards,
    dirty0: u32,
    mem0: u32,
}

impl ShardGuard<'_> {
    fn settle(&mut self) {
        let c = self.meta.counts();
        let dd = i64::from(c.dirty) - i64::from(self.dirty0);
        let dm = i64::from(c.with_mem) - i64::from(self.mem0);
        if dd != 0 {
            self.shards.dirty.add(dd, Relaxed);
        }
        if dm != 0 {
            self.shards.mem_blocks.add(dm, Relaxed);
        }
        self.dirty0 = c.dirty;
        self.mem0 = c.with_mem;
    }

    /// Sleeps until another thread signals a state change in this shard,
    /// or 10 ms pass (reader unpins do not signal, to keep hits cheap).
    ///
    /// Never a busy loop: a task with a signal pending (a `dmsetup message`
    /// that was interrupted) sleeps 10 ms without the lock instead, since
    /// the interruptible wait would return at once.
    pub(super) fn wait(&mut self) {
        self.settle();
        if let Some(g) = self.g.as_mut() {
            let r = self
                .sh
                .cv
                .wait_interruptible_timeout(g, msecs_to_jiffies(10));
            if matches!(r, kernel::sync::CondVarTimeoutResult::Signal { .. }) {
                drop(self.g.take());
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
                self.g = Some(self.sh.state.lock());
            }
        }
        let c = self.meta.counts();
        self.dirty0 = c.dirty;
        self.mem0 = c.with_mem;
    }
}

impl Deref for ShardGuard<'_> {
    type Target = ShardState;
    fn deref(&self) -> &ShardState {
        // `g` is only `None` inside `wait`, which does not deref.
        self.g.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut ShardState {
        self.g.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        self.settle();
    }
}
