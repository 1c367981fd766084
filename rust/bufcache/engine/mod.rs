// SPDX-License-Identifier: GPL-2.0

//! The kernel side of the cache: shards under locks, block buffers, and the
//! I/O that fills and writes back blocks. Decisions about states, lists and
//! accounting are made by [`crate::cache::shard::Shard`]; this module moves
//! bios, buffers and work items.
//!
//! Locking: one kernel `SpinLock` per shard, never two at once, never held
//! across I/O or a sleeping allocation. A `CondVar` per shard wakes those
//! who wait for a fill or a writeback to end. `map()` serves hits (and
//! full-block write misses that need no blocking allocation) inline; all
//! else is queued for the workers, which run inside a NOIO scope.
//!
//! One concept per file, each with its methods in an `impl Inner` and its
//! state in a type of its own, with private fields, that [`Inner`] holds
//! (named in brackets); only this file's `impl Inner` reaches into more
//! than one concept's state:
//!
//! - this file: [`Inner`], its construction, geometry ([`Layout`]), the
//!   origin ([`Origin`]), the work items and shutdown; [`queue`]: the work
//!   queue, the deferred bios and the flags that stop background work
//!   ([`queue::Queue`]);
//! - [`shard`]: the shard lock, the shards with their totals
//!   ([`shard::Shards`]) and [`shard::ShardGuard`];
//! - [`io`]: the map-time fast path and the workers' read, write, flush and
//!   discard;
//! - [`alloc`]: buffer allocation (the fallback order of `get_block`) and
//!   the target's share of the memory budget ([`alloc::Share`]);
//! - [`fill`]: fills and readahead ([`fill::Readahead`]);
//! - [`stream`]: sequential streams, and their bypass of the cache
//!   ([`stream::Streams`]); [`fence`]: write-arounds, and the fence that
//!   keeps their blocks out of the cache while they are in flight
//!   ([`fence::Fences`]);
//! - [`writeback`]: writeback rounds, flush, FUA and writethrough writes,
//!   with the durability invariants; [`round`]: the steps of one round
//!   ([`round::Spares`]); [`background`]: the background writeback lanes,
//!   their back-off and their stop on suspend
//!   ([`background::Background`]);
//! - [`reclaim`]: the shrinker ([`reclaim::ShrinkCursor`]), resize and
//!   invalidate;
//! - [`settings`]: the options and the cap ([`settings::Settings`]);
//! - [`stats`]: the counters and the status line.

use kernel::new_work;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::{msecs_to_jiffies, Instant, Monotonic};
use kernel::workqueue::{impl_has_delayed_work, impl_has_work, DelayedWork, Work, WorkItem};

use crate::cache::shard::shard_of;
use crate::cache::table::{Mode, Options};
use crate::dm::{self, BioSet, DmDev, OwnedBio};

use super::budget::{self, Buf};
use super::cgroup::{CgEntry, CgTable};
use super::counters::Counters;
use super::knobs;

mod alloc;
mod background;
mod fence;
mod fill;
mod io;
mod queue;
mod reclaim;
mod round;
mod settings;
mod shard;
mod stats;
mod stream;
mod writeback;

use round::Spares;
use settings::Settings;
use shard::Shards;
pub(crate) use stream::MAX_IO_SECTORS;

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

/// How long a request waits for a slot without any progress (no slot, no
/// memory, no writeback of its shard making room) before it gives up as
/// after [`NOSLOT_ERROR_ROUNDS`]: a read goes to the origin, a write fails
/// with EIO. Not reached while the target's own reserve can be refilled
/// (`refill_reserve` writes back other shards' blocks if it must), so
/// only when every block of the target is pinned or unwritable, or its
/// memory is held by requests that themselves wait.
const NOSLOT_WAIT_MS: u64 = 10_000;

/// The css a bio issued for `who` is charged to.
fn assoc(who: &CgEntry) -> Option<&crate::dm::cgroup::Css> {
    if knobs::skip_association() {
        None
    } else {
        Some(&who.css)
    }
}

/// The origin device, and the bio set that the cache's own bios to it
/// (fills, readahead, writebacks, and the clones of write-arounds and
/// discards) are allocated from.
///
/// # Invariants
///
/// Both fixed at construction and used without a lock (the bio set's
/// mempool has its own); the bio set lives as long as the target, so no
/// bio of it outlives it (every batch waits for its bios).
#[pin_data]
struct Origin {
    /// The origin device. Fixed at construction.
    dev: DmDev,
    /// The bio set of the cache's own I/O to the origin. Fixed at
    /// construction.
    #[pin]
    bioset: BioSet,
}

/// Bios in reserve in a target's bio set: two spare writeback rounds'
/// worth (`round::Spares`, `dm::batch::BATCH_MAX` each).
const BIOSET_POOL: u32 = 64;

impl Origin {
    fn new(dev: DmDev) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            dev,
            bioset <- BioSet::new(knobs::bioset_pool().unwrap_or(BIOSET_POOL)),
        }? Error)
    }
}

/// Where the target's blocks are, and the epoch of its clock.
///
/// # Invariants
///
/// Fixed at construction and never written again: read by every file of
/// the engine without a lock. `block_size` is a power of two of at least
/// a sector, and `shift` is log2 of its sectors.
struct Layout {
    /// Bytes per block.
    block_size: u32,
    /// First sector of the target in the mapped device.
    begin: u64,
    /// log2 of sectors per block.
    shift: u32,
    /// When the target was built: the epoch of [`Inner::now_ms`].
    created: Instant<Monotonic>,
}

/// The shared state of one target, referenced by the target's private data
/// and by queued work items.
///
/// Each concept of the engine owns its state in a type of its own file
/// (private fields, a small API, its invariants and locks documented
/// there); `Inner` holds one of each, and only this file's `impl Inner`
/// reaches into more than one. The fields are grouped by what protects
/// them, as in dm-bufio's `struct dm_bufio_client`.
///
/// # Invariants
///
/// Each concept's state changes only through its type's methods, which
/// keep the invariants documented with the type. `origin` and `layout`
/// never change after construction. The work items are queued only through
/// `queue`, while it still holds a workqueue: after [`Inner::shutdown`]
/// (but for its negative control `shutdown_leaves_timer`) no work item
/// holds a reference to the target.
#[pin_data]
pub(crate) struct Inner {
    // ---- Fixed at construction: read without a lock ----
    /// The origin and the bio set of the cache's own bios to it (the bio
    /// set's mempool has its own lock).
    #[pin]
    origin: Origin,
    /// Block size, place in the mapped device, clock epoch.
    layout: Layout,

    // ---- Read on every bio without a lock; changed under their own ----
    /// Options, watermarks, mode and cap: the options under the mutex
    /// `bufcache:opts`, mirrored for `map` and the workers in Relaxed
    /// atomics; changes of the cap serialised by the mutex
    /// `bufcache:resizing` (`settings`).
    #[pin]
    settings: Settings,
    /// The status line's counters (of sources `Counter` and `Kept`):
    /// Relaxed atomics, no lock.
    stats: Counters,
    /// cgroup association of the cache's own I/O: entries in an XArray,
    /// created and removed under the mutex `bufcache:cgroup_create`
    /// (`super::cgroup`).
    pub(crate) cg: Arc<CgTable>,

    // ---- The cache: shard locks, and the target's memory ----
    /// The shards, each under its spinlock `bufcache:shard` (one at a
    /// time), and their dirty and memory totals: Relaxed atomics that
    /// the shard guards keep (`shard`).
    shards: Shards,
    /// The reserve, under the spinlock `bufcache:reserve`, and the
    /// starving flags, Relaxed atomics changed by exchange: this target's
    /// part of the module budget (`alloc`).
    #[pin]
    share: alloc::Share,

    // ---- Work: queued and stopped under the `wq` lock ----
    /// The workqueue under the spinlock `bufcache:wq`, the deferred bios
    /// under `bufcache:deferred`, and the flags that stop background
    /// work, set under `bufcache:wq` (`queue`).
    #[pin]
    queue: queue::Queue,
    /// The workers draining the deferred bios and queued write-arounds:
    /// queued under the `wq` lock (`enqueue_workers`), each at most once
    /// at a time, so four items for four workers.
    #[pin]
    work0: Work<Inner, 0>,
    /// As `work0`.
    #[pin]
    work1: Work<Inner, 1>,
    /// As `work0`.
    #[pin]
    work2: Work<Inner, 2>,
    /// As `work0`.
    #[pin]
    work3: Work<Inner, 3>,
    /// Background writeback kicked over the high watermark or by the
    /// shrinker: queued under the `wq` lock; flushed by a suspend.
    #[pin]
    wb_now: Work<Inner, 10>,
    /// The age timer: armed under the `wq` lock unless the target is
    /// dying ([`Inner::arm_timer`]); flushed by a suspend and `shutdown`.
    #[pin]
    wb_timer: DelayedWork<Inner, 11>,
    /// The running writeback lanes, under the spinlock `bufcache:lanes`,
    /// and the back-off after failed rounds, Relaxed atomics
    /// (`background`).
    #[pin]
    background: background::Background,

    // ---- Per concept, each under its own lock or ordering ----
    /// Write-arounds and discards in flight, and queued write-arounds,
    /// under the spinlock `bufcache:fences` with its condition variable;
    /// a count of taken slots, raised and lowered under it, read
    /// Relaxed without it (`fence`).
    #[pin]
    fences: fence::Fences,
    /// The sequential read and write streams: Relaxed atomics, racy by
    /// design, no lock (`stream`).
    streams: stream::Streams,
    /// Where the last read miss was, for readahead: a Relaxed atomic,
    /// exchanged without a lock (`fill`).
    readahead: fill::Readahead,
    /// Writeback rounds used when a round cannot be allocated, each under
    /// its own mutex `bufcache:round_spare` (`round`).
    spares: Spares,
    /// Where the shrinker's next scan starts: a Relaxed atomic, no lock
    /// (`reclaim`).
    shrink_cursor: reclaim::ShrinkCursor,
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
        this.share.expire_starving();
        if this.queue.suspended() {
            // Suspended: no writeback, no I/O; only clean memory is given
            // back to a starving sibling (`give_back_budget`).
            dm::memalloc::noio(|| this.give_back_budget());
        } else {
            this.background_writeback();
        }
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

/// Bytes of the slot index of a target whose cap is `cap_bytes` in blocks
/// of `block_size`: per slot its metadata, its buffer pointer and up to
/// four hash buckets (`ShardLock::new` makes the next power of two above
/// twice the slots). Saturates.
pub(crate) fn index_bytes(cap_bytes: u64, block_size: u32) -> u64 {
    let per_slot = core::mem::size_of::<crate::cache::shard::Slot>()
        + core::mem::size_of::<Option<Arc<Buf>>>()
        + 4 * core::mem::size_of::<u32>();
    (cap_bytes >> block_size.trailing_zeros())
        .max(1)
        .saturating_mul(per_slot as u64)
}

impl Inner {
    /// Builds the cache for `origin`.
    pub(crate) fn new(origin: DmDev, geo: Geometry) -> Result<Arc<Self>> {
        let bs = geo.block_size;
        let cap_blocks = (geo.cap_bytes >> bs.trailing_zeros()).max(1);
        let nshards = (cap_blocks / 64).clamp(1, MAX_SHARDS as u64) as usize;
        // At least one block per shard (nshards <= cap / 64 <= cap / 8, and
        // both are at most 16): every shard can get memory of its own
        // whatever the other targets hold. Concurrent misses of a pinned
        // block can still spend it in one shard; `refill_reserve` then
        // writes back another shard.
        let reserve_target = knobs::reserve_blocks()
            .unwrap_or((cap_blocks / 8).clamp(1, 16) as usize)
            .max(1);
        let cg = CgTable::new()?;
        // At least one slot per shard (a shard without one could never
        // serve a miss); the caller checked the index fits in RAM
        // (`index_bytes`), so this never saturates in practice.
        let per = u32::try_from(cap_blocks.div_ceil(nshards as u64))
            .unwrap_or(u32::MAX)
            .max(1);
        let shards = Shards::new(nshards, per, &cg)?;
        let reserve = alloc::Share::fill_reserve(reserve_target, bs)?;
        let spares = Spares::new()?;
        let wq = dm::OwnedQueue::new(c"bufcache", NR_WORKERS as i32 + 2)?;
        let inner = Self::pin_init_arc(try_pin_init!(Self {
                origin <- Origin::new(origin),
                shards,
                cg,
                share <- alloc::Share::new(reserve),
                queue <- queue::Queue::new(wq),
                work0 <- new_work!("bufcache:worker0"),
                work1 <- new_work!("bufcache:worker1"),
                work2 <- new_work!("bufcache:worker2"),
                work3 <- new_work!("bufcache:worker3"),
                wb_now <- new_work!("bufcache:writeback"),
                background <- background::Background::new(),
                wb_timer <- kernel::new_delayed_work!("bufcache:writeback_timer"),
                settings <- Settings::new(geo.opts, u64::from(per) * nshards as u64),
                stats <- Counters::init(),
                readahead: fill::Readahead::new(geo.nr_blocks),
                streams: stream::Streams::new(),
                fences <- fence::Fences::new(),
                shrink_cursor: reclaim::ShrinkCursor::new(),
                spares,
                layout: Layout {
                    block_size: bs,
                    begin: geo.begin,
                    shift: (bs >> dm::SECTOR_SHIFT).trailing_zeros(),
                    created: Instant::<Monotonic>::now(),
                },
            }? Error))?;
        inner.set_cap(geo.cap_bytes);
        inner.prime_lockdep();
        // Uncounted in `shutdown`, which every constructed target reaches.
        budget::target_added(inner.reserve_bytes());
        Ok(inner)
    }

    /// Allocates and initialises the target's state. Not inlined: the
    /// initialiser's frame stays out of [`Inner::new`]'s.
    #[inline(never)]
    fn pin_init_arc(init: impl PinInit<Self, Error>) -> Result<Arc<Self>> {
        Arc::pin_init(init, GFP_KERNEL)
    }

    // ---- clock, geometry and totals ----

    /// The origin device.
    pub(crate) fn origin(&self) -> &DmDev {
        &self.origin.dev
    }

    /// Bytes per block.
    pub(crate) fn block_size(&self) -> u32 {
        self.layout.block_size
    }

    /// Milliseconds since the target was built (the cache's clock).
    fn now_ms(&self) -> u64 {
        (Instant::<Monotonic>::now() - self.layout.created)
            .as_millis()
            .max(0) as u64
    }

    /// Bytes of the target's reserve (its guaranteed minimum).
    fn reserve_bytes(&self) -> u64 {
        self.share.reserve_target() as u64 * u64::from(self.layout.block_size)
    }

    fn nshards(&self) -> usize {
        self.shards.len()
    }

    fn shard_index(&self, blk: u64) -> usize {
        shard_of(blk, self.nshards() as u32)
    }

    /// The sector of `bio` relative to the target.
    fn rel_sector(&self, bio: &OwnedBio) -> u64 {
        bio.sector() - self.layout.begin
    }

    /// Splits a sector (relative to the target) into block and byte offset.
    pub(crate) fn locate(&self, sector: u64) -> (u64, u32) {
        let blk = sector >> self.layout.shift;
        let off = ((sector & ((1u64 << self.layout.shift) - 1)) << dm::SECTOR_SHIFT) as u32;
        (blk, off)
    }

    fn block_sector(&self, blk: u64) -> u64 {
        blk << self.layout.shift
    }

    // ---- work queue: workers, writeback kicks and the timer ----

    /// Gets a worker to the queued bios: the first idle one, or all four
    /// when none is idle (pending ones stay queued once, running ones run
    /// again). One bio needs one worker: waking all four for each (an
    /// unbound pool wakes a kworker for every item queued) made three of
    /// them find nothing. No bio is left behind: after the caller's push,
    /// every item queued here, or found pending, runs the drain loop. A
    /// worker that takes a bio and sees more queued calls this again
    /// (`drain_deferred`), so bios queued meanwhile are served in parallel.
    fn enqueue_workers(self: &Arc<Self>) {
        self.queue.with(|wq| {
            let q = wq.queue();
            if dm::work_idle(&self.work0) {
                let _ = q.enqueue::<Arc<Inner>, 0>(self.clone());
            } else if dm::work_idle(&self.work1) {
                let _ = q.enqueue::<Arc<Inner>, 1>(self.clone());
            } else if dm::work_idle(&self.work2) {
                let _ = q.enqueue::<Arc<Inner>, 2>(self.clone());
            } else if dm::work_idle(&self.work3) {
                let _ = q.enqueue::<Arc<Inner>, 3>(self.clone());
            } else {
                let _ = q.enqueue::<Arc<Inner>, 0>(self.clone());
                let _ = q.enqueue::<Arc<Inner>, 1>(self.clone());
                let _ = q.enqueue::<Arc<Inner>, 2>(self.clone());
                let _ = q.enqueue::<Arc<Inner>, 3>(self.clone());
            }
        });
    }

    fn kick_writeback(self: &Arc<Self>) {
        self.queue.with(|wq| {
            let _ = wq.queue().enqueue::<Arc<Inner>, 10>(self.clone());
        });
    }

    /// Arms the background writeback timer (age-based writeback).
    pub(crate) fn arm_timer(self: &Arc<Self>) {
        let age = self.settings.max_age_ms();
        let period = if age == 0 {
            1000
        } else {
            (age / 2).clamp(50, 1000)
        };
        // Not once the target is going away (`dying`, checked under the
        // lock that `shutdown` sets it under), so no timer is armed after
        // that. A suspended target keeps its timer (once resumed at least
        // once: the constructor arms none): its tick then only gives clean
        // memory back (invariant B holds: no writeback while suspended).
        self.queue.with_live(|wq| {
            let _ = wq
                .queue()
                .enqueue_delayed::<Arc<Inner>, 11>(self.clone(), msecs_to_jiffies(period as u32));
        });
    }

    /// Queues a bio for the workers.
    pub(crate) fn defer(self: &Arc<Self>, bio: OwnedBio) {
        self.queue.push(bio);
        self.enqueue_workers();
    }

    /// Kicks background writeback when a write took dirty data over the
    /// high watermark.
    fn after_dirtying(self: &Arc<Self>) {
        if self.mode() == Mode::Writeback && self.above_high_watermark() {
            self.kick_writeback();
        }
    }

    // ---- lifecycle ----

    /// Stops background work and drains the workers; after this, no work
    /// item holds a reference to `self`. Dirty data is left for the caller
    /// to write back.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        if knobs::shutdown_leaves_timer() {
            self.background.wait_idle();
            let wq = self.queue.take();
            drop(wq);
            self.share.set_starving(false);
            budget::target_removed(self.reserve_bytes());
            return;
        }
        // Under the lock `arm_timer` checks `dying` under: no timer
        // can be armed after this.
        self.queue.set_dying();
        // Runs a pending timer now (it does not re-arm), then waits for
        // the lanes, which see `dying` and stop.
        dm::flush_delayed_work(&self.wb_timer);
        self.background.wait_idle();
        let wq = self.queue.take();
        // Destroying the queue drains every queued item.
        drop(wq);
        self.share.set_starving(false);
        budget::target_removed(self.reserve_bytes());
    }
}
