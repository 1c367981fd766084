// SPDX-License-Identifier: GPL-2.0

//! The cache's own I/O to the origin: a bio set (mempool) and [`IoBatch`],
//! a set of bios submitted under one plug and waited for together.

use core::cell::Cell;

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::Completion;
use kernel::types::Opaque;

use crate::sys::{self, bindings};

use super::cgroup::Css;
use super::{BlkStatus, BlockBuf, DmDev, OwnedBio};

/// A `struct bio_set`: a mempool of bios, so that the cache's own I/O
/// (fills, writeback) always makes progress under memory pressure.
///
/// # Invariants
///
/// `bs` is initialised by `bioset_init()` for the life of the object.
#[pin_data(PinnedDrop)]
pub(crate) struct BioSet {
    #[pin]
    bs: Opaque<bindings::bio_set>,
}

// SAFETY: a bio_set is used concurrently by design (mempool locking).
unsafe impl Send for BioSet {}
// SAFETY: as above.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// A bio set with `pool` bios in reserve.
    pub(crate) fn new(pool: u32) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            bs <- Opaque::try_ffi_init(move |slot: *mut bindings::bio_set| {
                // SAFETY: `slot` is valid for writes and pinned. `bioset_init`
                // (through `mempool_init`) expects a zeroed `bio_set`, as
                // callers embed it in zeroed allocations; ours is not.
                unsafe {
                    core::ptr::write_bytes(slot, 0, 1);
                    kernel::error::to_result(bindings::bioset_init(
                        slot,
                        pool,
                        0,
                        bindings::BIOSET_NEED_BVECS as i32,
                    ))
                }
            }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for BioSet {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: initialised by the invariants; all bios allocated from it
        // have been freed (every batch waits for its bios).
        unsafe { bindings::bioset_exit(self.bs.get()) };
    }
}

/// Most bios in one [`IoBatch`].
pub(crate) const BATCH_MAX: usize = 32;

/// Alignment of an [`IoBatch`]: a bio's `bi_private` carries the batch's
/// address with the bio's index in the low bits, so no per-bio slot array
/// sits in the batch (it lives on its caller's stack, under the origin's
/// whole submission path).
const BATCH_ALIGN: usize = 32;
const _: () = assert!(BATCH_MAX <= BATCH_ALIGN && BATCH_MAX <= u32::BITS as usize);

/// A set of bios that the cache issues to the origin (fills, readahead,
/// writeback), submitted under one plug so neighbours merge, then waited
/// for. Made and waited for by [`IoBatch::run`].
///
/// Each bio is submitted as soon as it is added, never held back (except
/// under the test flavour's `hold_bios`, a negative control): the rule
/// of `bio_alloc_bioset()` (block/bio.c) is that a task must not allocate a
/// second bio from a bio_set while it holds an unsubmitted one, since the
/// mempool's reserve only comes back when submitted bios complete. Several
/// batches (workers, writeback lanes, a flush) share one bio_set, so a
/// batch holding up to `BATCH_MAX` unsubmitted bios could empty the pool
/// and wait for memory that only this cache's own I/O would free. The plug
/// is flushed whenever the task sleeps (for instance in the mempool), so
/// submitted bios always make progress.
///
/// Buffers added to the batch must outlive it (`'a`).
///
/// # Invariants
///
/// - `pending` is 1 (the batch's own bias, dropped in [`IoBatch::wait`])
///   plus the number of submitted bios that have not completed.
/// - Bio `i` of the batch (`i < n`) has `bi_private` = the batch's address
///   plus `i` (the batch is aligned to `BATCH_ALIGN > i`). Once `n > 0`
///   the batch is pinned and only accessed through shared references
///   (completions on other CPUs touch `pending`, `failed` and `done`); `n`,
///   `waited` and `plugged` are touched by the owning task only.
/// - Bit `i` of `failed` is set, once, by the completion of bio `i` if it
///   failed, before that completion drops its count in `pending`; so is
///   `first_err` (the `blk_status_t` of the first failure, 0 if none),
///   by the first failing completion.
/// - `plugged` is true while `plug` is started on the owning task.
#[pin_data(PinnedDrop)]
#[repr(C, align(32))]
pub(crate) struct IoBatch<'a> {
    bs: &'a BioSet,
    pending: Atomic<i32>,
    failed: Atomic<u32>,
    first_err: Atomic<u32>,
    #[pin]
    done: Completion,
    n: Cell<usize>,
    waited: Cell<bool>,
    plugged: Cell<bool>,
    #[cfg(bufcache_test)]
    atomic_assoc: Cell<bool>,
    /// Test only: bios added are held (linked through `bi_next`, oldest
    /// first) and submitted only by `finish` (see [`IoBatch::hold_bios`]).
    #[cfg(bufcache_test)]
    hold: Cell<bool>,
    #[cfg(bufcache_test)]
    held: Cell<(*mut bindings::bio, *mut bindings::bio)>,
    #[pin]
    plug: Opaque<bindings::blk_plug>,
    #[pin]
    _pin: core::marker::PhantomPinned,
}
const _: () = assert!(core::mem::align_of::<IoBatch<'static>>() == BATCH_ALIGN);

/// What a bio of a batch is made of: an operation and buffers, or a clone
/// of a bio the target owns.
#[derive(Clone, Copy)]
enum Source<'a, 'b> {
    Bufs(u32, &'b [&'a BlockBuf]),
    CloneOf(&'a OwnedBio),
}

/// What became of each bio of a batch, in the order they were added.
pub(crate) struct BatchResult {
    /// Bit `i` set: bio `i` failed.
    failed: u32,
    /// The status of the first failure (0: none).
    first_err: u32,
    n: usize,
}

impl BatchResult {
    /// Whether bio `i` completed successfully.
    pub(crate) fn ok(&self, i: usize) -> bool {
        i < self.n && self.failed & (1 << i) == 0
    }

    /// The status to complete a bio with whose whole data was bio `i`
    /// (a write-around, a discard): `OK`, the first failure's status, or
    /// an I/O error if bio `i` was never submitted.
    pub(crate) fn status(&self, i: Option<usize>) -> BlkStatus {
        match i {
            Some(i) if self.ok(i) => BlkStatus::OK,
            Some(_) if self.first_err != 0 => BlkStatus::from_raw(self.first_err as u8),
            _ => BlkStatus::IOERR,
        }
    }
}

/// # Safety
///
/// Only the block layer calls it, once per bio of a submitted batch, whose
/// `bi_private` is that batch's address plus the bio's index (see the
/// invariants of [`IoBatch`]).
unsafe extern "C" fn batch_end_io(bio: *mut bindings::bio) {
    // SAFETY: the bio is ours until we put it.
    let tag = unsafe { sys::bufcache_bio_private(bio) } as usize;
    let i = tag & (BATCH_ALIGN - 1);
    // SAFETY: as above.
    let status = unsafe { sys::bufcache_bio_status(bio) };
    let failed = status != sys::BUFCACHE_BLK_STS_OK;
    // SAFETY: each batch bio holds one reference, dropped here.
    unsafe { bindings::bio_put(bio) };
    // SAFETY: by the caller's contract, `tag` less its index is the address
    // of the submitting batch, which waits until every bio completed
    // before it goes away; only its `failed`, `first_err`, `pending` and
    // `done` are touched, which are shared by design.
    let b = unsafe { &*((tag & !(BATCH_ALIGN - 1)) as *const IoBatch<'static>) };
    if failed {
        // Each bit is set once (one completion per bio), so adding is or.
        b.failed.add(1u32 << i, Relaxed);
        let _ = b.first_err.cmpxchg(0, u32::from(status), Relaxed);
    }
    // Full: orders the store to `failed` before the waiter sees 0.
    if b.pending.fetch_sub(1, kernel::sync::atomic::Full) == 1 {
        b.done.complete_all();
    }
}

impl<'a> IoBatch<'a> {
    /// Runs `f` with a new, empty batch allocating from `bs`, then waits for
    /// every bio `f` submitted (if `f` did not call [`IoBatch::wait`]).
    pub(crate) fn run<R>(bs: &'a BioSet, f: impl FnOnce(Pin<&mut IoBatch<'a>>) -> R) -> R {
        pin_init::stack_pin_init!(let batch = pin_init!(IoBatch {
            bs,
            pending: Atomic::new(1),
            failed: Atomic::new(0),
            first_err: Atomic::new(0),
            done <- Completion::new(),
            n: Cell::new(0),
            waited: Cell::new(false),
            plugged: Cell::new(false),
            #[cfg(bufcache_test)]
            atomic_assoc: Cell::new(false),
            #[cfg(bufcache_test)]
            hold: Cell::new(false),
            #[cfg(bufcache_test)]
            held: Cell::new((core::ptr::null_mut(), core::ptr::null_mut())),
            plug: Opaque::uninit(),
            _pin: core::marker::PhantomPinned,
        }));
        f(batch)
    }

    /// Test only (negative control of the association contract): from now
    /// on, associate this batch's bios under a spinlock, that is, from
    /// atomic context. A kernel where association may sleep must report it.
    #[cfg(bufcache_test)]
    pub(crate) fn associate_atomically(&self) {
        self.atomic_assoc.set(true);
    }

    /// Test only (negative control of bio_set exhaustion): from now on,
    /// hold this batch's bios unsubmitted until it waits, which breaks
    /// `bio_alloc_bioset()`'s rule (see the type's doc): with slab
    /// allocations failing and more bios in the batch than the bio_set has
    /// in reserve, the batch waits for ever for its own bios.
    #[cfg(bufcache_test)]
    pub(crate) fn hold_bios(&self) {
        self.hold.set(true);
    }

    /// Test only: submits the bios `hold_bios` kept back, oldest first.
    #[cfg(bufcache_test)]
    fn submit_held(&self) {
        let (mut bio, _) = self
            .held
            .replace((core::ptr::null_mut(), core::ptr::null_mut()));
        while !bio.is_null() {
            // SAFETY: every bio on the list was allocated, set up and
            // counted in `pending` by `add_bio` and not submitted; `bi_next`
            // links the list and is cleared before submission.
            unsafe {
                let next = (*bio).bi_next;
                (*bio).bi_next = core::ptr::null_mut();
                bindings::submit_bio(bio);
                bio = next;
            }
        }
    }

    /// Number of bios added.
    pub(crate) fn len(&self) -> usize {
        self.n.get()
    }

    /// Whether no more bios fit.
    pub(crate) fn is_full(&self) -> bool {
        self.n.get() == BATCH_MAX
    }

    fn add(
        self: Pin<&mut Self>,
        dev: &DmDev,
        sector: u64,
        opf: u32,
        bufs: &[&'a BlockBuf],
        css: Option<&Css>,
    ) -> Option<usize> {
        if bufs.is_empty() || bufs.len() > usize::from(u16::MAX) {
            return None;
        }
        self.add_bio(dev, sector, Source::Bufs(opf, bufs), css)
    }

    /// Allocates, fills and submits one bio of the batch.
    fn add_bio(
        self: Pin<&mut Self>,
        dev: &DmDev,
        sector: u64,
        src: Source<'a, '_>,
        css: Option<&Css>,
    ) -> Option<usize> {
        if self.waited.get() || self.is_full() {
            return None;
        }
        // Shared access only (see the invariants).
        let this: &Self = self.into_ref().get_ref();
        if !this.plugged.get() {
            // SAFETY: the plug lives in the pinned batch, which finishes it
            // (in `wait` or on drop) before it goes away, on this task.
            unsafe { bindings::blk_start_plug(this.plug.get()) };
            this.plugged.set(true);
        }
        // SAFETY: `bs` is initialised; GFP_NOIO may sleep but, with a
        // mempool, never fails; the caller runs in process context. This
        // task holds no unsubmitted bio from `bs` (every earlier one was
        // submitted), as `bio_alloc_bioset` requires; except in the test
        // flavour after `hold_bios`, a negative control that breaks the
        // rule on purpose (it can wait for ever, never corrupt memory).
        //
        // For a clone: `bio_src` is a live bio whose data outlives the
        // batch (see `add_clone`); the clone shares its pages.
        let bio = unsafe {
            match src {
                Source::Bufs(opf, bufs) => bindings::bio_alloc_bioset(
                    dev.bdev_ptr(),
                    bufs.len() as u16,
                    opf,
                    sys::BUFCACHE_GFP_NOIO,
                    this.bs.bs.get(),
                ),
                Source::CloneOf(b) => bindings::bio_alloc_clone(
                    dev.bdev_ptr(),
                    b.as_ptr(),
                    sys::BUFCACHE_GFP_NOIO,
                    this.bs.bs.get(),
                ),
            }
        };
        if bio.is_null() {
            return None;
        }
        let i = this.n.get();
        // INVARIANT: counted before submission, so `pending` never reaches
        // 0 while a bio is in flight.
        this.pending.fetch_add(1, kernel::sync::atomic::Full);
        this.n.set(i + 1);
        // SAFETY: `bio` is a new bio with room for `bufs.len()` segments;
        // every buffer lives for `'a`, longer than the batch. Association
        // may sleep in future kernels (blkg creation under a mutex): we are
        // in process context with no spinlock held (callers are workers).
        // The batch outlives the bio's completion (we wait for it before
        // the batch goes away); `i < BATCH_MAX <= BATCH_ALIGN`, so the tag
        // keeps the batch's address intact (invariants).
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            if let Source::CloneOf(_) = src {
                // We wait for the clone ourselves: nobody would poll it
                // (`bio_clear_polled`), and the flags for the driver and
                // for not waiting were the submitter's, not ours.
                (*bio).bi_opf &=
                    !(sys::BUFCACHE_REQ_POLLED | sys::BUFCACHE_REQ_DRV | sys::BUFCACHE_REQ_NOWAIT);
            }
            match css {
                #[cfg(bufcache_test)]
                Some(css) if this.atomic_assoc.get() => {
                    sys::bufcache_test_associate_atomic(bio, css.as_ptr());
                }
                Some(css) => bindings::bio_associate_blkg_from_css(bio, css.as_ptr()),
                None => {}
            }
            if let Source::Bufs(_, bufs) = src {
                for b in bufs {
                    sys::bufcache_bio_add_buf(bio, b.as_ptr().cast(), b.size());
                }
            }
            sys::bufcache_bio_set_end_io(
                bio,
                Some(batch_end_io),
                (core::ptr::from_ref(this) as usize | i) as *mut core::ffi::c_void,
            );
        }
        #[cfg(bufcache_test)]
        if this.hold.get() {
            let (head, tail) = this.held.get();
            // SAFETY: `bio` is set up and not submitted; `tail`, if not
            // null, is the last bio held (not submitted either, see
            // `submit_held`).
            unsafe {
                (*bio).bi_next = core::ptr::null_mut();
                if !tail.is_null() {
                    (*tail).bi_next = bio;
                }
            }
            this.held
                .set((if head.is_null() { bio } else { head }, bio));
            return Some(i);
        }
        // SAFETY: `bio` is set up above and ours to submit.
        unsafe { bindings::submit_bio(bio) };
        Some(i)
    }

    /// Adds (and submits) a read of `buf.size()` bytes from `sector` of
    /// `dev` into `buf`, charged to `css`. `readahead` marks it
    /// `REQ_RAHEAD`.
    pub(crate) fn add_read(
        self: Pin<&mut Self>,
        dev: &DmDev,
        sector: u64,
        buf: &'a BlockBuf,
        readahead: bool,
        css: Option<&Css>,
    ) -> Option<usize> {
        let mut opf = bindings::req_op_REQ_OP_READ;
        if readahead {
            opf |= sys::BUFCACHE_REQ_RAHEAD;
        }
        self.add(dev, sector, opf, &[buf], css)
    }

    /// Adds (and submits) a write of `bufs` (adjacent blocks, in order) to
    /// `sector` of `dev`, charged to `css`; `fua` makes it `REQ_FUA`.
    pub(crate) fn add_write(
        self: Pin<&mut Self>,
        dev: &DmDev,
        sector: u64,
        bufs: &[&'a BlockBuf],
        fua: bool,
        css: Option<&Css>,
    ) -> Option<usize> {
        let mut opf = bindings::req_op_REQ_OP_WRITE | sys::BUFCACHE_REQ_SYNC;
        if fua {
            opf |= sys::BUFCACHE_REQ_FUA;
        }
        self.add(dev, sector, opf, bufs, css)
    }

    /// Adds (and submits) a clone of `bio` (same operation, flags and
    /// data, its pages shared) at `sector` of `dev`, charged to `css`: a
    /// write-around. `bio` must not be completed before the batch has
    /// been waited for (it is borrowed for the batch's life).
    pub(crate) fn add_clone(
        self: Pin<&mut Self>,
        dev: &DmDev,
        sector: u64,
        bio: &'a OwnedBio,
        css: Option<&Css>,
    ) -> Option<usize> {
        self.add_bio(dev, sector, Source::CloneOf(bio), css)
    }

    /// Ends the plug and waits for every bio submitted so far. Nothing can
    /// be added afterwards.
    pub(crate) fn wait(self: Pin<&mut Self>) -> BatchResult {
        let this: &Self = self.into_ref().get_ref();
        this.finish();
        // Every completion has run (`finish` waited for `pending` to drop
        // to 0, with full ordering), so `failed` is final.
        BatchResult {
            failed: this.failed.load(Relaxed),
            first_err: this.first_err.load(Relaxed),
            n: this.n.get(),
        }
    }

    fn finish(&self) {
        #[cfg(bufcache_test)]
        self.submit_held();
        if self.plugged.get() {
            // SAFETY: started on this task by `add`.
            unsafe { bindings::blk_finish_plug(self.plug.get()) };
            self.plugged.set(false);
        }
        if !self.waited.get() {
            self.waited.set(true);
            // Drop the bias; the last completion (or we) completes `done`.
            if self.pending.fetch_sub(1, kernel::sync::atomic::Full) != 1 {
                self.done.wait_for_completion();
            }
        }
    }
}

#[pinned_drop]
impl PinnedDrop for IoBatch<'_> {
    fn drop(self: Pin<&mut Self>) {
        // Bios still in flight point into this batch: wait for them.
        self.into_ref().get_ref().finish();
    }
}
