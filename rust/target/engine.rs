// SPDX-License-Identifier: GPL-2.0

//! The kernel side of the cache: shards under locks, block buffers, and the
//! I/O that fills and writes back blocks. Decisions about states, lists and
//! accounting are made by [`crate::cache::shard::Shard`]; this file moves
//! bios, buffers and work items.
//!
//! Locking: one kernel `SpinLock` per shard, never two at once, never held
//! across I/O or a sleeping allocation. A `CondVar` per shard wakes those
//! who wait for a fill or a writeback to end. `map()` serves hits (and
//! full-block write misses that need no blocking allocation) inline; all
//! else is queued for the workers, which run inside a NOIO scope.

use core::ops::{Deref, DerefMut};

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::lock::spinlock::SpinLockBackend;
use kernel::sync::lock::Guard;
use kernel::sync::{Arc, ArcBorrow, CondVar, Mutex, SpinLock};
use kernel::time::{msecs_to_jiffies, Instant, Monotonic};
use kernel::workqueue::{impl_has_delayed_work, impl_has_work, DelayedWork, Work, WorkItem};
use kernel::{new_condvar, new_mutex, new_spinlock, new_work};

use crate::cache::shard::{shard_of, Alloc, Busy, Shard, Slot, SlotId, State};
use crate::cache::status::Status;
use crate::cache::table::{Mode, Options};
use crate::dm::memalloc::MemallocFlags;
use crate::dm::shrinker::{ScanResult, ShrinkControl, ShrinkerOps};
use crate::dm::{self, memalloc, BioList, BioOp, BioSet, BlkStatus, DmDev, Gfp, IoBatch, OwnedBio};

use super::budget::{self, Buf};
use super::cgroup::{CgAcct, CgEntry, CgTable};
use super::knobs;

mod writeback;

use writeback::{WbSelect, LANE_FREE, MAX_LANES};

/// Workers draining the deferred bio queue.
pub(crate) const NR_WORKERS: usize = 4;
/// Most shards of one target.
const MAX_SHARDS: usize = 16;
/// Most readahead blocks per fill.
const RA_MAX: usize = 15;
/// Failed writeback rounds after which a request that needs a slot, in a
/// shard full of dirty blocks that cannot be written, gives up: a read
/// then goes straight to the origin, a write fails with EIO.
const NOSLOT_ERROR_ROUNDS: u32 = 4;

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
    fn new() -> Self {
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

    fn clear(&self) {
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

fn inc(c: &Atomic<u64>) {
    c.add(1, Relaxed);
}

/// Pins `id` for a writer, unless it is being written back: then the
/// writer waits (stable pages, invariant S of [`writeback`]).
fn pin_write(g: &mut ShardGuard<'_>, id: SlotId, now: u64, owner: u32) -> Result<(), Busy> {
    if g.meta.state(id) == Some(State::Writing) {
        return Err(Busy::State(State::Writing));
    }
    g.meta.write_hit(id, now, owner)
}

/// The css a bio issued for `who` is charged to.
fn assoc(who: &CgEntry) -> Option<&crate::dm::cgroup::Css> {
    if knobs::skip_association() {
        None
    } else {
        Some(&who.css)
    }
}

/// Metadata and buffers of one shard.
pub(crate) struct ShardState {
    meta: Shard<KVVec<Slot>, KVVec<u32>, CgAcct>,
    bufs: KVVec<Option<Arc<Buf>>>,
}

/// A shard: its state under a spinlock, and a condition variable for
/// those waiting on a fill or a writeback of one of its blocks.
#[pin_data]
pub(crate) struct ShardLock {
    #[pin]
    state: SpinLock<ShardState>,
    #[pin]
    cv: CondVar,
}

impl ShardLock {
    fn new(slots: u32, cap: u32, cg: &Arc<CgTable>) -> Result<Pin<KBox<Self>>> {
        let n = slots as usize;
        let mut s = KVVec::with_capacity(n, GFP_KERNEL)?;
        let mut bufs = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            s.push(Slot::EMPTY, GFP_KERNEL)?;
            bufs.push(None, GFP_KERNEL)?;
        }
        let nb = (n * 2).next_power_of_two().max(2);
        let mut b = KVVec::with_capacity(nb, GFP_KERNEL)?;
        for _ in 0..nb {
            b.push(0u32, GFP_KERNEL)?;
        }
        let st = ShardState {
            meta: Shard::with_accountant(s, b, cap, CgAcct { table: cg.clone() }),
            bufs,
        };
        KBox::pin_init(
            pin_init!(Self {
                state <- new_spinlock!(st, "bufcache:shard"),
                cv <- new_condvar!("bufcache:shard_cv"),
            }),
            GFP_KERNEL,
        )
    }
}

/// A locked shard. Keeps the target's dirty and memory totals in step with
/// the shard's counts whenever the lock is released or waited on.
struct ShardGuard<'a> {
    /// Always `Some`, except inside [`ShardGuard::wait`].
    g: Option<Guard<'a, ShardState, SpinLockBackend>>,
    sh: &'a ShardLock,
    inner: &'a Inner,
    dirty0: u32,
    mem0: u32,
}

impl ShardGuard<'_> {
    fn settle(&mut self) {
        let c = self.meta.counts();
        let dd = i64::from(c.dirty) - i64::from(self.dirty0);
        let dm = i64::from(c.with_mem) - i64::from(self.mem0);
        if dd != 0 {
            self.inner.dirty.add(dd, Relaxed);
        }
        if dm != 0 {
            self.inner.mem_blocks.add(dm, Relaxed);
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
    fn wait(&mut self) {
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

/// Tunables that `map` reads on every bio; changed by messages.
struct Tunables {
    mode: Atomic<u32>,
    high: Atomic<u32>,
    low: Atomic<u32>,
    max_age_ms: Atomic<u64>,
    readahead: Atomic<u32>,
    cap_bytes: Atomic<u64>,
}

/// How a block was obtained by [`Inner::get_block`].
enum Got {
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
enum AllocStage {
    Nowait,
    Evict,
    Reserve,
    Blocking,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// The shared state of one target, referenced by the target's private data
/// and by queued work items.
#[pin_data]
pub(crate) struct Inner {
    pub(crate) origin: DmDev,
    pub(crate) block_size: u32,
    /// First sector of the target in the mapped device.
    begin: u64,
    /// log2 of sectors per block.
    shift: u32,
    nr_blocks: u64,
    shards: KVec<Pin<KBox<ShardLock>>>,
    /// cgroup association of the cache's own I/O.
    pub(crate) cg: Arc<CgTable>,
    /// Capacity of all shards together, in blocks (the most the cap can be
    /// raised to without a table reload).
    capacity_blocks: u64,
    #[pin]
    deferred: SpinLock<BioList>,
    #[pin]
    reserve: SpinLock<KVec<Arc<Buf>>>,
    reserve_target: usize,
    #[pin]
    wq: SpinLock<Option<dm::OwnedQueue>>,
    #[pin]
    bioset: BioSet,
    #[pin]
    work0: Work<Inner, 0>,
    #[pin]
    work1: Work<Inner, 1>,
    #[pin]
    work2: Work<Inner, 2>,
    #[pin]
    work3: Work<Inner, 3>,
    #[pin]
    wb_now: Work<Inner, 10>,
    /// Owners whose writeback lane is running.
    #[pin]
    lanes: SpinLock<[u32; MAX_LANES]>,
    #[pin]
    wb_timer: DelayedWork<Inner, 11>,
    /// Options as set by the table and messages (for the table line).
    #[pin]
    pub(crate) opts: Mutex<Options>,
    tun: Tunables,
    pub(crate) stats: Counters,
    /// Dirty blocks over all shards.
    dirty: Atomic<i64>,
    /// Slots holding memory over all shards.
    mem_blocks: Atomic<i64>,
    last_read_miss: Atomic<u64>,
    shrink_cursor: Atomic<u32>,
    /// Set (under the `wq` lock) when the target goes away; no timer is
    /// armed and no lane runs after that.
    dying: Atomic<u32>,
    /// Set (under the `wq` lock) between a suspend and the next resume:
    /// background writeback is stopped.
    suspended: Atomic<u32>,
    /// Writeback rounds in a row that failed and wrote nothing.
    wb_fail_streak: Atomic<u32>,
    /// Background writeback backs off until then (ms, `now_ms`).
    wb_retry_at: Atomic<u64>,
    /// This target counts in the budget's starving targets.
    starving: Atomic<u32>,
    /// This target starved since the last background tick.
    starve_seen: Atomic<u32>,
    created: Instant<Monotonic>,
}

impl_has_work! {
    impl HasWork<Self, 0> for Inner { self.work0 }
    impl HasWork<Self, 1> for Inner { self.work1 }
    impl HasWork<Self, 2> for Inner { self.work2 }
    impl HasWork<Self, 3> for Inner { self.work3 }
    impl HasWork<Self, 10> for Inner { self.wb_now }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 11> for Inner { self.wb_timer }
}

macro_rules! worker_item {
    ($($id:literal),*) => {$(
        impl WorkItem<$id> for Inner {
            type Pointer = Arc<Inner>;
            fn run(this: Arc<Inner>) {
                this.drain_deferred();
            }
        }
    )*};
}
worker_item!(0, 1, 2, 3);

impl WorkItem<10> for Inner {
    type Pointer = Arc<Inner>;
    fn run(this: Arc<Inner>) {
        this.background_writeback();
    }
}

impl WorkItem<11> for Inner {
    type Pointer = Arc<Inner>;
    fn run(this: Arc<Inner>) {
        this.expire_starving();
        this.background_writeback();
        this.arm_timer();
    }
}

/// Parameters for [`Inner::new`].
pub(crate) struct Geometry {
    pub(crate) begin: u64,
    pub(crate) block_size: u32,
    pub(crate) nr_blocks: u64,
    pub(crate) cap_bytes: u64,
    pub(crate) opts: Options,
}

fn mode_to_u32(m: Mode) -> u32 {
    match m {
        Mode::Writeback => 0,
        Mode::Writethrough => 1,
    }
}

impl Inner {
    /// Builds the cache for `origin`.
    pub(crate) fn new(origin: DmDev, geo: Geometry) -> Result<Arc<Self>> {
        let bs = geo.block_size;
        let cap_blocks = (geo.cap_bytes >> bs.trailing_zeros()).max(1);
        let nshards = (cap_blocks / 64).clamp(1, MAX_SHARDS as u64) as usize;
        let reserve_target = (cap_blocks / 8).clamp(1, 16) as usize;
        let cg = CgTable::new()?;
        let mut shards = KVec::with_capacity(nshards, GFP_KERNEL)?;
        let per = cap_blocks.div_ceil(nshards as u64) as u32;
        for _ in 0..nshards {
            shards.push(ShardLock::new(per, per, &cg)?, GFP_KERNEL)?;
        }
        let mut reserve = KVec::with_capacity(reserve_target, GFP_KERNEL)?;
        for _ in 0..reserve_target {
            // The reserve is the target's own minimum: charged to the
            // budget even when others hold all of it (a warm reload must
            // not fail), and taken back by no one.
            let b = Buf::alloc_reserve(bs, Gfp::Kernel).ok_or(ENOMEM)?;
            reserve.push(Arc::new(b, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let wq = dm::OwnedQueue::new(c"bufcache", NR_WORKERS as i32 + 2)?;
        let o = geo.opts;
        let inner = Arc::pin_init(
            try_pin_init!(Self {
                origin,
                block_size: bs,
                begin: geo.begin,
                shift: (bs >> dm::SECTOR_SHIFT).trailing_zeros(),
                nr_blocks: geo.nr_blocks,
                shards,
                cg,
                capacity_blocks: u64::from(per) * nshards as u64,
                deferred <- new_spinlock!(BioList::new(true), "bufcache:deferred"),
                reserve <- new_spinlock!(reserve, "bufcache:reserve"),
                reserve_target,
                wq <- new_spinlock!(Some(wq), "bufcache:wq"),
                bioset <- BioSet::new(64),
                work0 <- new_work!("bufcache:worker0"),
                work1 <- new_work!("bufcache:worker1"),
                work2 <- new_work!("bufcache:worker2"),
                work3 <- new_work!("bufcache:worker3"),
                wb_now <- new_work!("bufcache:writeback"),
                lanes <- new_spinlock!([LANE_FREE; MAX_LANES], "bufcache:lanes"),
                wb_timer <- kernel::new_delayed_work!("bufcache:writeback_timer"),
                opts <- new_mutex!(o, "bufcache:opts"),
                tun: Tunables {
                    mode: Atomic::new(mode_to_u32(o.mode)),
                    high: Atomic::new(u32::from(o.high_watermark)),
                    low: Atomic::new(u32::from(o.low_watermark)),
                    max_age_ms: Atomic::new(o.max_age_ms),
                    readahead: Atomic::new(o.readahead),
                    cap_bytes: Atomic::new(0),
                },
                stats: Counters::new(),
                dirty: Atomic::new(0),
                mem_blocks: Atomic::new(0),
                last_read_miss: Atomic::new(u64::MAX - 1),
                shrink_cursor: Atomic::new(0),
                dying: Atomic::new(0),
                // Until the first resume.
                suspended: Atomic::new(1),
                wb_fail_streak: Atomic::new(0),
                wb_retry_at: Atomic::new(0),
                starving: Atomic::new(0),
                starve_seen: Atomic::new(0),
                created: Instant::<Monotonic>::now(),
            }? Error),
            GFP_KERNEL,
        )?;
        inner.set_cap(geo.cap_bytes);
        inner.prime_lockdep();
        // Uncounted in `shutdown`, which every constructed target reaches.
        budget::target_added();
        Ok(inner)
    }

    fn now_ms(&self) -> u64 {
        (Instant::<Monotonic>::now() - self.created)
            .as_millis()
            .max(0) as u64
    }

    pub(crate) fn mode(&self) -> Mode {
        if self.tun.mode.load(Relaxed) == 1 {
            Mode::Writethrough
        } else {
            Mode::Writeback
        }
    }

    fn nshards(&self) -> usize {
        self.shards.len()
    }

    fn shard_index(&self, blk: u64) -> usize {
        shard_of(blk, self.nshards() as u32)
    }

    fn lock_shard(&self, si: usize) -> ShardGuard<'_> {
        let sh = &*self.shards[si];
        let g = sh.state.lock();
        let c = g.meta.counts();
        ShardGuard {
            g: Some(g),
            sh,
            inner: self,
            dirty0: c.dirty,
            mem0: c.with_mem,
        }
    }

    /// Locks shard `si` only if that needs no waiting (reclaim context).
    fn try_lock_shard(&self, si: usize) -> Option<ShardGuard<'_>> {
        let sh = &*self.shards[si];
        let g = sh.state.try_lock()?;
        let c = g.meta.counts();
        Some(ShardGuard {
            g: Some(g),
            sh,
            inner: self,
            dirty0: c.dirty,
            mem0: c.with_mem,
        })
    }

    fn notify(&self, si: usize) {
        self.shards[si].cv.notify_all();
    }

    /// The sector of `bio` relative to the target.
    fn rel_sector(&self, bio: &OwnedBio) -> u64 {
        bio.sector() - self.begin
    }

    /// Splits a sector (relative to the target) into block and byte offset.
    pub(crate) fn locate(&self, sector: u64) -> (u64, u32) {
        let blk = sector >> self.shift;
        let off = ((sector & ((1u64 << self.shift) - 1)) << dm::SECTOR_SHIFT) as u32;
        (blk, off)
    }

    fn block_sector(&self, blk: u64) -> u64 {
        blk << self.shift
    }

    /// Sets the cap in bytes (clamped to the capacity) and spreads it over
    /// the shards, minus the reserve.
    pub(crate) fn set_cap(&self, cap_bytes: u64) -> u64 {
        let bs = u64::from(self.block_size);
        let cap_blocks = (cap_bytes >> self.block_size.trailing_zeros()).min(self.capacity_blocks);
        let n = self.nshards() as u64;
        // Every shard holds at least one block: a shard with no slot could
        // never serve a miss (its bios would wait for ever). The smallest
        // cap (16 blocks) can be below shards plus reserve; the cap is then
        // exceeded by at most a block per shard.
        let usable = cap_blocks.saturating_sub(self.reserve_target as u64).max(n);
        for i in 0..self.nshards() {
            let share = usable.checked_div(n).unwrap_or(0)
                + u64::from((i as u64) < usable.checked_rem(n).unwrap_or(0));
            self.lock_shard(i).meta.set_cap(share as u32);
        }
        self.tun.cap_bytes.store(cap_blocks * bs, Relaxed);
        cap_blocks * bs
    }

    /// Largest cap in bytes that needs no table reload.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.capacity_blocks * u64::from(self.block_size)
    }

    // ---- work queue ----

    fn enqueue_workers(self: &Arc<Self>) {
        let guard = self.wq.lock();
        let Some(wq) = guard.as_ref() else { return };
        let q = wq.queue();
        let _ = q.enqueue::<Arc<Inner>, 0>(self.clone());
        let _ = q.enqueue::<Arc<Inner>, 1>(self.clone());
        let _ = q.enqueue::<Arc<Inner>, 2>(self.clone());
        let _ = q.enqueue::<Arc<Inner>, 3>(self.clone());
    }

    fn kick_writeback(self: &Arc<Self>) {
        let guard = self.wq.lock();
        if let Some(wq) = guard.as_ref() {
            let _ = wq.queue().enqueue::<Arc<Inner>, 10>(self.clone());
        }
    }

    /// Arms the background writeback timer (age-based writeback).
    pub(crate) fn arm_timer(self: &Arc<Self>) {
        let age = self.tun.max_age_ms.load(Relaxed);
        let period = if age == 0 {
            1000
        } else {
            (age / 2).clamp(50, 1000)
        };
        let guard = self.wq.lock();
        // Checked under the lock that `shutdown` and `quiesce` set them
        // under, so no timer is armed after those.
        if self.dying.load(Relaxed) != 0 || self.suspended.load(Relaxed) != 0 {
            return;
        }
        if let Some(wq) = guard.as_ref() {
            let _ = wq
                .queue()
                .enqueue_delayed::<Arc<Inner>, 11>(self.clone(), msecs_to_jiffies(period as u32));
        }
    }

    /// Queues a bio for the workers.
    pub(crate) fn defer(self: &Arc<Self>, bio: OwnedBio) {
        self.deferred.lock().push(bio);
        self.enqueue_workers();
    }

    fn dirty_blocks(&self) -> u64 {
        self.dirty.load(Relaxed).max(0) as u64
    }

    fn cap_blocks(&self) -> u64 {
        self.tun.cap_bytes.load(Relaxed) >> self.block_size.trailing_zeros()
    }

    fn above_high_watermark(&self) -> bool {
        self.dirty_blocks() * 100 >= u64::from(self.tun.high.load(Relaxed)) * self.cap_blocks()
    }

    fn after_dirtying(self: &Arc<Self>) {
        if self.mode() == Mode::Writeback && self.above_high_watermark() {
            self.kick_writeback();
        }
    }

    // ---- map-time fast paths (never sleep) ----

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
        let mut g = self.lock_shard(si);
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
                let buf = g.bufs[id as usize].clone()?;
                drop(g);
                if write {
                    bio.copy_to_buf(&buf, off);
                    let mut g = self.lock_shard(si);
                    g.meta.unpin_write(id, now);
                    drop(g);
                    self.notify(si);
                    inc(&self.stats.write_hits);
                    inc(&who.hits);
                    bio.endio(BlkStatus::OK);
                    self.after_dirtying();
                    self.arm_timer();
                } else {
                    bio.copy_from_buf(&buf, off);
                    self.lock_shard(si).meta.unpin_read(id);
                    inc(&self.stats.read_hits);
                    inc(&who.hits);
                    bio.endio(BlkStatus::OK);
                }
                None
            }
            None if write && off == 0 && bio.size() == self.block_size && !hits_only => {
                // A full-block write miss needs no read; take it inline if a
                // slot with memory is at hand without blocking.
                drop(g);
                let Some((id, buf)) = self.alloc_nowait(si, blk, who.id) else {
                    return Some(bio);
                };
                bio.copy_to_buf(&buf, 0);
                let mut g = self.lock_shard(si);
                g.meta.fill_done_dirty(id, now);
                drop(g);
                self.notify(si);
                inc(&self.stats.write_misses);
                inc(&who.misses);
                bio.endio(BlkStatus::OK);
                self.after_dirtying();
                self.arm_timer();
                None
            }
            None => Some(bio),
        }
    }

    // ---- workers ----

    fn drain_deferred(self: &Arc<Self>) {
        loop {
            let bio = self.deferred.lock().pop();
            let Some(bio) = bio else { break };
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
                    inc(&self.stats.scope_captured);
                    if MemallocFlags::current().contains(scope) {
                        inc(&self.stats.scope_replayed);
                    }
                }
                memalloc::noio(|| self.process(bio));
            });
        }
    }

    fn process(self: &Arc<Self>, bio: OwnedBio) {
        // Sleepable association (we are a worker, in a NOIO scope).
        let who = self.cg.get(bio.orig_css());
        match bio.op() {
            BioOp::Write if bio.size() == 0 => {
                inc(&self.stats.flushes);
                let st = match self.flush_all() {
                    Ok(()) => BlkStatus::OK,
                    Err(_) => BlkStatus::IOERR,
                };
                bio.endio(st);
            }
            BioOp::Read => self.do_read(bio, &who),
            BioOp::Write => self.do_write(bio, &who),
            BioOp::Discard => self.do_discard(bio),
            _ => bio.endio(BlkStatus::NOTSUPP),
        }
    }

    /// Makes a `Filling` slot for uncached `blk` without ever sleeping:
    /// a free slot, new memory from a non-blocking allocation (if the cap
    /// and the budget allow), or an evicted clean block. `None` if `blk` is
    /// cached already or nothing is available right now.
    fn alloc_nowait(&self, si: usize, blk: u64, owner: u32) -> Option<(SlotId, Arc<Buf>)> {
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
                inc(&self.stats.evictions);
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
    fn release_buf(&self, b: Arc<Buf>) {
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
    fn get_block(self: &Arc<Self>, blk: u64, access: Access, who: &CgEntry) -> Result<Got> {
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
                    inc(&self.stats.evictions);
                    let buf = g.bufs[id as usize].clone().ok_or(EIO)?;
                    return Ok(Got::Miss(id, buf));
                }
                Alloc::NeedMemory(id) => id,
                Alloc::Full => {
                    drop(g);
                    inc(&self.stats.full_waits);
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
                            inc(&self.stats.noslot_errors);
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
                    inc(&self.stats.blocking_allocs);
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
    fn may_grow(&self) -> bool {
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
    fn expire_starving(&self) {
        if self.starve_seen.xchg(0, Relaxed) == 0 {
            self.set_starving(false);
        }
    }

    fn set_starving(&self, on: bool) {
        let v = u32::from(on);
        if self.starving.xchg(v, Relaxed) != v {
            budget::set_starving(on);
        }
    }

    /// Bytes in this target's slots (not counting its reserve).
    fn mem_bytes(&self) -> u64 {
        self.mem_blocks.load(Relaxed).max(0) as u64 * u64::from(self.block_size)
    }

    /// Gives memory back to the budget while another target is starving
    /// and this one holds more than its fair share: frees clean blocks and,
    /// if that is not enough, starts writeback so that more become clean.
    fn give_back_budget(self: &Arc<Self>) {
        if !budget::contended() {
            return;
        }
        let fair = budget::fair_share();
        let bs = u64::from(self.block_size);
        let mem = self.mem_bytes();
        if mem <= fair {
            return;
        }
        let mut want = ((mem - fair) / bs) as u32;
        let n = self.nshards();
        for k in 0..n {
            if want == 0 || self.background_stopped() {
                return;
            }
            let share = want.div_ceil((n - k) as u32);
            want -= self.shrink_shard(k, share).min(want);
        }
        if want > 0 && self.dirty_blocks() > 0 {
            for si in 0..n {
                if self.background_stopped() {
                    return;
                }
                let _ = self.writeback_shard(si, WbSelect::Oldest, None);
            }
        }
    }

    /// Puts one buffer of another shard of this target (a free one, or the
    /// least recently used clean block's) into the empty reserve, for a
    /// shard that has no memory of its own.
    fn refill_reserve(&self, si: usize) {
        for k in 1..self.nshards() {
            let other = (si + k) % self.nshards();
            if self.shrink_shard(other, 1) > 0 {
                return;
            }
        }
    }

    /// Publishes a slot filled from the origin, or drops it on error.
    fn end_fill(&self, blk: u64, id: SlotId, ok: bool) {
        let si = self.shard_index(blk);
        let mut g = self.lock_shard(si);
        if ok {
            g.meta.fill_done(id);
        } else {
            g.meta.abort_fill(id, true);
        }
        drop(g);
        self.notify(si);
    }

    /// Reads `blk` into the `Filling` slot's buffer, with readahead of
    /// following blocks when the miss continues a sequential run.
    fn fill(
        self: &Arc<Self>,
        blk: u64,
        buf: &Arc<Buf>,
        may_readahead: bool,
        who: &CgEntry,
    ) -> bool {
        let prev = if may_readahead {
            self.last_read_miss.xchg(blk, Relaxed)
        } else {
            u64::MAX - 1
        };
        let ra = if prev.wrapping_add(1) == blk {
            (self.tun.readahead.load(Relaxed) as usize).min(RA_MAX)
        } else {
            0
        };
        let mut ra_slots: [Option<(u64, SlotId, Arc<Buf>)>; RA_MAX] =
            core::array::from_fn(|_| None);
        let mut n_ra = 0;
        for i in 1..=ra as u64 {
            let b = blk + i;
            if b >= self.nr_blocks {
                break;
            }
            let si = self.shard_index(b);
            if self.lock_shard(si).meta.lookup(b).is_some() {
                continue;
            }
            // Readahead never waits and never takes the reserve.
            let Some((id, buf)) = self.alloc_nowait(si, b, who.id) else {
                break;
            };
            ra_slots[n_ra] = Some((b, id, buf));
            n_ra += 1;
        }
        let css = assoc(who);
        let mut idx = [usize::MAX; RA_MAX];
        let (main, nbios, res) = IoBatch::run(&self.bioset, |mut batch| {
            let main =
                batch
                    .as_mut()
                    .add_read(&self.origin, self.block_sector(blk), buf, false, css);
            for (i, s) in ra_slots.iter().take(n_ra).enumerate() {
                if let Some((b, _, rb)) = s {
                    if let Some(j) =
                        batch
                            .as_mut()
                            .add_read(&self.origin, self.block_sector(*b), rb, true, css)
                    {
                        idx[i] = j;
                    }
                }
            }
            let nbios = batch.len() as u64;
            (main, nbios, batch.wait())
        });
        who.fill_bytes
            .add(nbios * u64::from(self.block_size), Relaxed);
        for (i, s) in ra_slots.iter().take(n_ra).enumerate() {
            if let Some((b, id, _)) = s {
                let ok = idx[i] != usize::MAX && res.ok(idx[i]);
                if ok {
                    inc(&self.stats.readahead);
                }
                self.end_fill(*b, *id, ok);
            }
        }
        match main {
            Some(i) if res.ok(i) => true,
            _ => {
                inc(&self.stats.fill_errors);
                false
            }
        }
    }

    fn do_read(self: &Arc<Self>, bio: OwnedBio, who: &CgEntry) {
        let (blk, off) = self.locate(self.rel_sector(&bio));
        let si = self.shard_index(blk);
        match self.get_block(blk, Access::Read, who) {
            Ok(Got::Hit(id, buf)) => {
                bio.copy_from_buf(&buf, off);
                self.lock_shard(si).meta.unpin_read(id);
                inc(&self.stats.read_hits);
                inc(&who.hits);
                bio.endio(BlkStatus::OK);
            }
            Ok(Got::Bypass) => {
                // Not cached, so the origin has the latest data.
                inc(&self.stats.read_misses);
                let sector = self.rel_sector(&bio);
                bio.remap_submit(&self.origin, sector);
            }
            Ok(Got::Miss(id, buf)) => {
                inc(&self.stats.read_misses);
                inc(&who.misses);
                if self.fill(blk, &buf, true, who) {
                    bio.copy_from_buf(&buf, off);
                    self.end_fill(blk, id, true);
                    bio.endio(BlkStatus::OK);
                } else {
                    self.end_fill(blk, id, false);
                    bio.endio(BlkStatus::IOERR);
                }
            }
            Err(_) => bio.endio(BlkStatus::IOERR),
        }
    }

    fn do_write(self: &Arc<Self>, bio: OwnedBio, who: &CgEntry) {
        let (blk, off) = self.locate(self.rel_sector(&bio));
        let si = self.shard_index(blk);
        let full = off == 0 && bio.size() == self.block_size;
        // The generation of this write (invariant G of `writeback`).
        let gen = match self.get_block(blk, Access::Write, who) {
            Ok(Got::Hit(id, buf)) => {
                bio.copy_to_buf(&buf, off);
                let mut g = self.lock_shard(si);
                g.meta.unpin_write(id, self.now_ms());
                let gen = g.meta.generation();
                drop(g);
                self.notify(si);
                inc(&self.stats.write_hits);
                inc(&who.hits);
                gen
            }
            Ok(Got::Miss(id, buf)) => {
                inc(&self.stats.write_misses);
                inc(&who.misses);
                if !full && !self.fill(blk, &buf, false, who) {
                    self.end_fill(blk, id, false);
                    bio.endio(BlkStatus::IOERR);
                    return;
                }
                bio.copy_to_buf(&buf, off);
                let mut g = self.lock_shard(si);
                g.meta.fill_done_dirty(id, self.now_ms());
                let gen = g.meta.generation();
                drop(g);
                self.notify(si);
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

    /// Drops `blk` from the cache once nobody uses it.
    fn drop_block(&self, si: usize, blk: u64) {
        let mut g = self.lock_shard(si);
        while let Some(id) = g.meta.lookup(blk) {
            match g.meta.invalidate(id) {
                Ok(_) => break,
                Err(_) => g.wait(),
            }
        }
        drop(g);
        self.notify(si);
    }

    fn do_discard(self: &Arc<Self>, bio: OwnedBio) {
        inc(&self.stats.discards);
        let start = self.rel_sector(&bio);
        let end = start + (u64::from(bio.size()) >> dm::SECTOR_SHIFT);
        let spb = 1u64 << self.shift;
        let mut s = start;
        while s < end {
            let (blk, off) = self.locate(s);
            let blk_end = self.block_sector(blk) + spb;
            let e = end.min(blk_end);
            let si = self.shard_index(blk);
            if off == 0 && e == blk_end {
                self.drop_block(si, blk);
            } else {
                // Partial block: zero the discarded part of a cached copy,
                // which stays dirty, so no stale data can come back.
                let len = ((e - s) << dm::SECTOR_SHIFT) as u32;
                let now = self.now_ms();
                let mut g = self.lock_shard(si);
                while let Some(id) = g.meta.lookup(blk) {
                    match pin_write(&mut g, id, now, 0) {
                        Ok(()) => {
                            if let Some(b) = g.bufs[id as usize].clone() {
                                drop(g);
                                b.zero(off, len);
                                g = self.lock_shard(si);
                            }
                            g.meta.unpin_write(id, now);
                            drop(g);
                            self.notify(si);
                            g = self.lock_shard(si);
                            break;
                        }
                        Err(_) => g.wait(),
                    }
                }
                drop(g);
                self.notify(si);
            }
            s = e;
            // A huge discard walks many blocks: let others run.
            dm::cond_resched();
        }
        if self.origin.max_discard_sectors() > 0 {
            bio.remap_submit(&self.origin, start);
        } else {
            bio.endio(BlkStatus::OK);
        }
    }

    // ---- reclaim ----

    /// Teaches lockdep that the locks the shrinker takes are taken inside
    /// memory reclaim.
    fn prime_lockdep(&self) {
        for si in 0..self.nshards() {
            dm::shrinker::as_if_in_reclaim(|| drop(self.shards[si].state.lock()));
        }
        dm::shrinker::as_if_in_reclaim(|| drop(self.reserve.lock()));
        dm::shrinker::as_if_in_reclaim(|| drop(self.wq.lock()));
        self.cg.prime_lockdep();
    }

    // ---- messages and lifecycle ----

    /// Drops every clean block and frees its memory. `EBUSY` while dirty
    /// blocks remain.
    pub(crate) fn invalidate_clean(&self) -> Result {
        if self.dirty_blocks() > 0 {
            return Err(EBUSY);
        }
        for si in 0..self.nshards() {
            self.shrink_shard(si, u32::MAX);
        }
        if self.dirty_blocks() > 0 {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Frees up to `max` slots' memory in shard `si` (free slots first,
    /// then clean LRU blocks). Returns how many were freed.
    fn shrink_shard(&self, si: usize, max: u32) -> u32 {
        let mut freed = 0;
        while freed < max {
            let mut g = self.lock_shard(si);
            let Some((id, evicted)) = g.meta.reclaim_one() else {
                break;
            };
            let b = g.bufs[id as usize].take();
            drop(g);
            if evicted.is_some() {
                inc(&self.stats.evictions);
            }
            if let Some(b) = b {
                self.release_buf(b);
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
                let over = self.lock_shard(si).meta.over_cap();
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
                        self.lock_shard(si).wait();
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets the mode; switching to writethrough writes back first.
    pub(crate) fn set_mode(&self, m: Mode) -> Result {
        self.tun.mode.store(mode_to_u32(m), Relaxed);
        if m == Mode::Writethrough {
            self.flush_all()?;
        }
        Ok(())
    }

    /// Sets the watermarks.
    pub(crate) fn set_watermarks(self: &Arc<Self>, high: u8, low: u8) {
        self.tun.high.store(u32::from(high), Relaxed);
        self.tun.low.store(u32::from(low), Relaxed);
        self.after_dirtying();
    }

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

    /// Stops background work and drains the workers; after this, no work
    /// item holds a reference to `self`. Dirty data is left for the caller
    /// to write back.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        {
            // Under the lock `arm_timer` checks `dying` under: no timer
            // can be armed after this.
            let _wq = self.wq.lock();
            self.dying.store(1, Relaxed);
        }
        // Runs a pending timer now (it does not re-arm), then waits for
        // the lanes, which see `dying` and stop.
        dm::flush_delayed_work(&self.wb_timer);
        self.wait_lanes_idle();
        let wq = self.wq.lock().take();
        // Destroying the queue drains every queued item.
        drop(wq);
        self.set_starving(false);
        budget::target_removed();
    }
}

impl ShrinkerOps for Inner {
    fn count(this: ArcBorrow<'_, Self>, _sc: &ShrinkControl) -> u64 {
        let this: &Inner = &this;
        // Clean and free blocks, from the totals kept in step by every
        // shard lock holder: no lock here.
        let mem = this.mem_blocks.load(Relaxed).max(0) as u64;
        mem.saturating_sub(this.dirty_blocks())
    }

    fn scan(this: ArcBorrow<'_, Self>, sc: &ShrinkControl) -> ScanResult {
        let me: &Inner = &this;
        me.shrink(sc, || Arc::from(this).kick_writeback())
    }
}

impl Inner {
    /// The shrinker's scan: frees clean and free blocks with try-locks
    /// only; `kick` starts background writeback (asynchronously).
    fn shrink(&self, sc: &ShrinkControl, kick: impl FnOnce()) -> ScanResult {
        inc(&self.stats.shrink_scans);
        if !sc.may_io() {
            inc(&self.stats.shrink_scans_noio);
        } else if !sc.may_fs() {
            inc(&self.stats.shrink_scans_nofs);
        }
        // Test-only negative control: write back and wait for it whenever
        // __GFP_IO is set, ignoring __GFP_FS. This is the deadlock the
        // real code avoids; see Documentation/reclaim.rst.
        if knobs::unsafe_shrinker_writeback() && sc.may_io() && self.dirty_blocks() > 0 {
            for si in 0..self.nshards() {
                let _ = self.writeback_shard(si, WbSelect::Oldest, None);
            }
        }
        let want = sc.nr_to_scan().max(1);
        let mut freed = 0u64;
        let mut contended = 0;
        let n = self.nshards();
        let start = self.shrink_cursor.fetch_add(1, Relaxed) as usize;
        for k in 0..n {
            if freed >= want {
                break;
            }
            let si = (start + k) % n;
            // Only ever try-lock: the task in reclaim may hold this lock.
            let Some(mut g) = self.try_lock_shard(si) else {
                contended += 1;
                continue;
            };
            while freed < want {
                let Some((id, evicted)) = g.meta.reclaim_one() else {
                    break;
                };
                let b = g.bufs[id as usize].take();
                if evicted.is_some() {
                    inc(&self.stats.evictions);
                }
                // Freeing under the spinlock would be fine too; the buffer
                // is dropped (or kept in the reserve) right after.
                drop(g);
                if let Some(b) = b {
                    self.release_buf(b);
                }
                freed += 1;
                g = match self.try_lock_shard(si) {
                    Some(g) => g,
                    None => break,
                };
            }
        }
        if contended > 0 {
            self.stats.shrink_skip_lock.add(contended, Relaxed);
        }
        self.stats.shrink_freed.add(freed, Relaxed);
        if freed < want && self.dirty_blocks() > 0 {
            // Dirty memory can only be freed after writeback. Start it
            // asynchronously, and only where reclaim may both do I/O and
            // enter filesystems: a loop device below us can re-enter the
            // very filesystem that is allocating.
            if sc.may_io() && sc.may_fs() {
                let low = u64::from(self.tun.low.load(Relaxed));
                if self.dirty_blocks() * 100 >= low * self.cap_blocks() {
                    kick();
                }
            } else {
                inc(&self.stats.shrink_skip_gfp);
            }
        }
        if freed == 0 && contended == n as u64 {
            return ScanResult::Stop;
        }
        ScanResult::Freed(freed)
    }
}
