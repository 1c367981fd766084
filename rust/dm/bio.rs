// SPDX-License-Identifier: GPL-2.0

//! Bios as a DM target sees them.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::prelude::*;

use crate::sys::{self, bindings};

use super::cgroup::CssRef;
use super::memalloc::MemallocFlags;
use super::{BlockBuf, DmDev};

/// The operation of a bio (`bio_op()`), reduced to what a target handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BioOp {
    /// `REQ_OP_READ`.
    Read,
    /// `REQ_OP_WRITE` (possibly empty, with `REQ_PREFLUSH`, for a flush).
    Write,
    /// `REQ_OP_FLUSH` (only seen by request-based drivers; listed for
    /// completeness).
    Flush,
    /// `REQ_OP_DISCARD`.
    Discard,
    /// `REQ_OP_WRITE_ZEROES`.
    WriteZeroes,
    /// `REQ_OP_SECURE_ERASE`.
    SecureErase,
    /// Anything else (zoned operations, driver private).
    Other(u32),
}

impl BioOp {
    fn from_opf(opf: u32) -> Self {
        match opf & sys::BUFCACHE_REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => Self::Read,
            bindings::req_op_REQ_OP_WRITE => Self::Write,
            bindings::req_op_REQ_OP_FLUSH => Self::Flush,
            bindings::req_op_REQ_OP_DISCARD => Self::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Self::WriteZeroes,
            bindings::req_op_REQ_OP_SECURE_ERASE => Self::SecureErase,
            other => Self::Other(other),
        }
    }
}

const REQ_FUA: u32 = sys::BUFCACHE_REQ_FUA;
const REQ_PREFLUSH: u32 = sys::BUFCACHE_REQ_PREFLUSH;
const REQ_NOWAIT: u32 = sys::BUFCACHE_REQ_NOWAIT;

/// What `map` did with the bio; returned to DM.
///
/// Only the methods of [`MapBio`] create values of this type, so a `map`
/// implementation cannot return one without having disposed of its bio.
#[must_use]
pub(crate) struct MapResult(u32);

impl MapResult {
    /// The `DM_MAPIO_*` value for DM.
    pub(super) fn into_raw(self) -> core::ffi::c_int {
        // `DM_MAPIO_*` values are small positive constants.
        self.0 as core::ffi::c_int
    }
}

/// The bio DM hands to a target's `map`: a clone that the target owns until
/// it disposes of it through one of the consuming methods.
///
/// # Invariants
///
/// `bio` points to a valid bio that DM passed to `map` and that nobody else
/// touches until this object is consumed; `'a` does not outlive the `map`
/// call.
pub(crate) struct MapBio<'a> {
    bio: NonNull<bindings::bio>,
    /// The target reserved per-bio data for a captured memalloc scope.
    scope: bool,
    _p: PhantomData<&'a mut bindings::bio>,
}

impl MapBio<'_> {
    /// # Safety
    ///
    /// `bio` must be the bio DM passed to the target's `map` callback, and
    /// the object must not outlive that call. If `scope`, the target must
    /// have set `per_io_data_size` to at least `size_of::<u32>()`.
    pub(super) unsafe fn from_raw(bio: NonNull<bindings::bio>, scope: bool) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            bio,
            scope,
            _p: PhantomData,
        }
    }

    /// The css of the cgroup that caused this I/O: the blkcg of DM's
    /// original bio (the clone carries none).
    pub(crate) fn orig_css(&self) -> Option<CssRef<'_>> {
        orig_css(self.bio)
    }

    /// Records the submitting task's memalloc scope (`PF_MEMALLOC_NOIO`,
    /// `PF_MEMALLOC_NOFS`) with the bio, for a worker to re-apply. A no-op
    /// unless the target asked for it ([`super::Target::CAPTURE_SCOPE`]).
    pub(crate) fn capture_scope(&mut self) {
        if !self.scope {
            return;
        }
        let flags = MemallocFlags::current();
        // SAFETY: DM reserved `per_io_data_size >= 4` bytes of per-bio
        // data for this target (from_raw's contract), which the clone owns.
        unsafe {
            let p = sys::dm_per_bio_data(self.bio.as_ptr(), core::mem::size_of::<u32>());
            p.cast::<u32>().write(flags.bits());
        }
    }

    fn raw(&self) -> &bindings::bio {
        // SAFETY: by the type invariants the bio is valid and we have
        // exclusive use of it.
        unsafe { self.bio.as_ref() }
    }

    /// The raw operation and flags (`bi_opf`).
    pub(crate) fn opf(&self) -> u32 {
        self.raw().bi_opf
    }

    /// The operation.
    pub(crate) fn op(&self) -> BioOp {
        BioOp::from_opf(self.opf())
    }

    /// Whether the bio carries `REQ_NOWAIT`.
    pub(crate) fn is_nowait(&self) -> bool {
        self.opf() & REQ_NOWAIT != 0
    }

    /// The first sector of the bio (in the mapped device).
    pub(crate) fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// The size of the bio in bytes.
    pub(crate) fn size(&self) -> u32 {
        self.raw().bi_iter.bi_size
    }

    /// Keeps only the first `sectors` sectors of a read or write bio; DM
    /// sends the rest to `map` as a new bio (`dm_accept_partial_bio`).
    /// `EINVAL` (and the bio unchanged) for a bio DM does not allow it for
    /// (not a read or write with data, `REQ_PREFLUSH`, `REQ_ATOMIC`) or a
    /// count of 0 or more than the bio has.
    pub(crate) fn accept_partial(&mut self, sectors: u32) -> Result {
        let opf = self.opf();
        let rw = matches!(self.op(), BioOp::Read | BioOp::Write);
        let bad_flags = opf & (REQ_PREFLUSH | sys::BUFCACHE_REQ_ATOMIC) != 0;
        if !rw || bad_flags || sectors == 0 || sectors > self.size() >> super::SECTOR_SHIFT {
            return Err(EINVAL);
        }
        // SAFETY: we are in the target's `map` (type invariants) with a
        // read or write bio that DM split for us (not a duplicate: those
        // are flushes and abnormal I/O), without REQ_PREFLUSH or
        // REQ_ATOMIC, and `sectors` is within the bio: every condition of
        // `dm_accept_partial_bio` (drivers/md/dm.c). Our targets are never
        // zoned (no DM_TARGET_ZONED_HM).
        unsafe { sys::dm_accept_partial_bio(self.bio.as_ptr(), sectors) };
        Ok(())
    }

    /// Takes the bio over: the target now owns it and must complete it
    /// (through [`OwnedBio`]); DM is told `DM_MAPIO_SUBMITTED`.
    pub(crate) fn take(self) -> (OwnedBio, MapResult) {
        // INVARIANT: DM hands the bio to the target for good when `map`
        // returns `DM_MAPIO_SUBMITTED`.
        (
            OwnedBio {
                bio: self.bio,
                scope: self.scope,
            },
            MapResult(sys::DM_MAPIO_SUBMITTED),
        )
    }
}

fn orig_css<'a>(clone: NonNull<bindings::bio>) -> Option<CssRef<'a>> {
    // SAFETY: `clone` is a DM clone (from `map`), embedded in a
    // `dm_target_io`; the shim reads its original bio's blkcg css.
    let css = NonNull::new(unsafe { sys::bufcache_orig_bio_css(clone.as_ptr()) })?;
    // SAFETY: the original bio holds its blkg (and so the css) until every
    // clone, including this one, completed; callers borrow it no longer
    // than they own the clone.
    Some(unsafe { CssRef::from_raw(css) })
}

/// Completion status of a bio (`blk_status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlkStatus(u8);

impl BlkStatus {
    /// `BLK_STS_OK`.
    pub(crate) const OK: Self = Self(sys::BUFCACHE_BLK_STS_OK);
    /// `BLK_STS_IOERR`.
    pub(crate) const IOERR: Self = Self(sys::BUFCACHE_BLK_STS_IOERR);
    /// `BLK_STS_NOTSUPP`.
    pub(crate) const NOTSUPP: Self = Self(sys::BUFCACHE_BLK_STS_NOTSUPP);

    /// A status as the block layer gave it (`blk_status_t`).
    pub(super) fn from_raw(v: u8) -> Self {
        Self(v)
    }
}

/// A bio the target took over from `map`: it must be completed exactly
/// once, with [`OwnedBio::endio`] or [`OwnedBio::remap_submit`]. Dropping
/// it without that completes it with an I/O error (and warns), so a bug
/// cannot leave a bio hanging forever.
///
/// # Invariants
///
/// `bio` is a valid bio owned by the target: nobody else touches it until
/// it is completed or resubmitted by this object.
pub(crate) struct OwnedBio {
    bio: NonNull<bindings::bio>,
    /// Per-bio data holds a captured memalloc scope.
    scope: bool,
}

// SAFETY: a bio owned by the target may be completed from any thread.
unsafe impl Send for OwnedBio {}

impl OwnedBio {
    fn raw(&self) -> &bindings::bio {
        // SAFETY: valid and exclusively ours by the type invariants.
        unsafe { self.bio.as_ref() }
    }

    /// The bio, for the DM layer's own use (it stays owned by `self`).
    pub(super) fn as_ptr(&self) -> *mut bindings::bio {
        self.bio.as_ptr()
    }

    /// The raw operation and flags (`bi_opf`).
    pub(crate) fn opf(&self) -> u32 {
        self.raw().bi_opf
    }

    /// The operation.
    pub(crate) fn op(&self) -> BioOp {
        BioOp::from_opf(self.opf())
    }

    /// Whether the bio carries `REQ_FUA`.
    pub(crate) fn is_fua(&self) -> bool {
        self.opf() & REQ_FUA != 0
    }

    /// First sector, relative to the start of the mapped device.
    pub(crate) fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// Remaining size in bytes.
    pub(crate) fn size(&self) -> u32 {
        self.raw().bi_iter.bi_size
    }

    /// The css of the cgroup that caused this I/O (see
    /// [`MapBio::orig_css`]).
    pub(crate) fn orig_css(&self) -> Option<CssRef<'_>> {
        orig_css(self.bio)
    }

    /// The memalloc scope of the task that submitted the bio, if the target
    /// captured it in `map` ([`MapBio::capture_scope`]); else none.
    pub(crate) fn captured_scope(&self) -> MemallocFlags {
        if !self.scope {
            return MemallocFlags::NONE;
        }
        // SAFETY: as in `MapBio::capture_scope`; the data lives as long as
        // the clone, which we own.
        let bits = unsafe {
            sys::dm_per_bio_data(self.bio.as_ptr(), core::mem::size_of::<u32>())
                .cast::<u32>()
                .read()
        };
        MemallocFlags::from_bits(bits)
    }

    /// Copies the bio's data (all of it, at most the room in `buf` after
    /// `off`) into `buf` at byte offset `off`.
    pub(crate) fn copy_to_buf(&self, buf: &BlockBuf, off: u32) {
        let off = off.min(buf.size());
        let len = self.size().min(buf.size() - off);
        // SAFETY: the bio is ours; `buf` has `len` bytes from `off`.
        unsafe {
            sys::bufcache_bio_copy_to_buf(
                self.bio.as_ptr(),
                buf.as_ptr().add(off as usize).cast(),
                len,
            )
        };
    }

    /// Fills the bio's data from `buf` at byte offset `off`.
    pub(crate) fn copy_from_buf(&self, buf: &BlockBuf, off: u32) {
        let off = off.min(buf.size());
        let len = self.size().min(buf.size() - off);
        // SAFETY: as in `copy_to_buf`.
        unsafe {
            sys::bufcache_bio_copy_from_buf(
                self.bio.as_ptr(),
                buf.as_ptr().add(off as usize).cast(),
                len,
            )
        };
    }

    /// Completes the bio with `status`.
    pub(crate) fn endio(self, status: BlkStatus) {
        let bio = self.bio.as_ptr();
        core::mem::forget(self);
        // SAFETY: the bio is ours and completed exactly once (we forgot
        // `self`, so `Drop` does not complete it again).
        unsafe { sys::bufcache_bio_endio_status(bio, status.0) };
    }

    /// Completes a `REQ_NOWAIT` bio with `BLK_STS_AGAIN` ("would block").
    pub(crate) fn wouldblock(self) {
        let bio = self.bio.as_ptr();
        core::mem::forget(self);
        // SAFETY: as in `endio`.
        unsafe { sys::bufcache_bio_wouldblock_error(bio) };
    }

    /// Points the bio at `sector` of `dev` and submits it there; its
    /// completion completes the original I/O.
    pub(crate) fn remap_submit(self, dev: &DmDev, sector: u64) {
        let bio = self.bio.as_ptr();
        let css = orig_css(self.bio);
        core::mem::forget(self);
        // SAFETY: the bio is ours; DM's `dm_submit_bio_remap` takes it over
        // and accounts it to the mapped device. The clone is charged to the
        // cgroup of the original bio (it has no blkg of its own); `css` is
        // alive while the clone is.
        unsafe {
            sys::bufcache_bio_set_dev(bio, dev.bdev_ptr());
            (*bio).bi_iter.bi_sector = sector;
            if let Some(css) = css {
                bindings::bio_associate_blkg_from_css(bio, css.as_raw());
            }
            sys::dm_submit_bio_remap(bio, core::ptr::null_mut());
        }
    }
}

impl OwnedBio {
    /// Like [`OwnedBio::remap_submit`], but never blocks: for `map`. The
    /// bio is associated with the cgroup of the original bio only if that
    /// needs no sleep (the blkg exists); else it is handed back untouched,
    /// to be completed with "would block" or remapped from a worker. Never
    /// falls back to the root cgroup. Kernels without a non-blocking
    /// association API always hand it back (see the shim).
    pub(crate) fn remap_submit_nowait(self, dev: &DmDev, sector: u64) -> Result<(), Self> {
        let bio = self.bio.as_ptr();
        let css = orig_css(self.bio).map_or(core::ptr::null_mut(), |c| c.as_raw());
        // SAFETY: the bio is ours; `css` (or null: the root) is alive while
        // the clone is (see `orig_css`); `dev` is open. The shim neither
        // sleeps nor, on failure, changes the bio.
        if unsafe { sys::bufcache_bio_remap_nowait(bio, dev.bdev_ptr(), css) } != 0 {
            return Err(self);
        }
        core::mem::forget(self);
        // SAFETY: the bio is ours and points at `dev`, associated; DM's
        // `dm_submit_bio_remap` takes it over. Its own re-association with
        // the same css drops our reference and looks the blkg up again: it
        // finds it unless the blkg was destroyed in between (the cgroup
        // removed, or the origin going away), when it would create one, as
        // every DM target's remap does.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            sys::dm_submit_bio_remap(bio, core::ptr::null_mut());
        }
        Ok(())
    }
}

impl Drop for OwnedBio {
    fn drop(&mut self) {
        pr_warn!("dm-bufcache: bio dropped without completion; failing it\n");
        // SAFETY: the bio is ours and was not completed (the completing
        // methods forget `self`).
        unsafe { sys::bufcache_bio_endio_status(self.bio.as_ptr(), BlkStatus::IOERR.0) };
    }
}

/// A FIFO of owned bios, linked through `bi_next` (like `struct bio_list`).
///
/// # Invariants
///
/// `head..tail` is a `bi_next` chain of `len` bios, each owned by the list
/// as an [`OwnedBio`] would own it; `tail.bi_next` is NULL.
pub(crate) struct BioList {
    head: *mut bindings::bio,
    tail: *mut bindings::bio,
    len: usize,
    /// Whether the bios carry a captured scope (same for the whole list).
    scope: bool,
}

// SAFETY: the list owns its bios, which may move between threads.
unsafe impl Send for BioList {}

impl BioList {
    /// An empty list, for bios of a target that does (`scope`) or does
    /// not capture memalloc scopes.
    pub(crate) const fn new(scope: bool) -> Self {
        Self {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
            len: 0,
            scope,
        }
    }

    /// Appends a bio.
    pub(crate) fn push(&mut self, bio: OwnedBio) {
        debug_assert_eq!(bio.scope, self.scope);
        let b = bio.bio.as_ptr();
        core::mem::forget(bio);
        // SAFETY: `b` is ours (moved in); `tail`, if any, is on the list.
        unsafe {
            (*b).bi_next = core::ptr::null_mut();
            if self.tail.is_null() {
                self.head = b;
            } else {
                (*self.tail).bi_next = b;
            }
        }
        self.tail = b;
        self.len += 1;
    }

    /// Whether the list holds no bio.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Removes the oldest bio.
    pub(crate) fn pop(&mut self) -> Option<OwnedBio> {
        let b = NonNull::new(self.head)?;
        // SAFETY: `b` is the list's head, owned by the list.
        unsafe {
            self.head = (*b.as_ptr()).bi_next;
            (*b.as_ptr()).bi_next = core::ptr::null_mut();
        }
        if self.head.is_null() {
            self.tail = core::ptr::null_mut();
        }
        self.len -= 1;
        // INVARIANT: ownership moves from the list to the new object. The
        // scope flag is not kept on the list: bios on one list all come
        // from one target, which tells with `scope`.
        Some(OwnedBio {
            bio: b,
            scope: self.scope,
        })
    }
}

impl Drop for BioList {
    fn drop(&mut self) {
        // Fails whatever is left (through `OwnedBio`'s drop).
        while self.pop().is_some() {}
    }
}
