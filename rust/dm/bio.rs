// SPDX-License-Identifier: GPL-2.0

//! Bios as a DM target sees them.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::sys::{self, bindings};

use super::DmDev;

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
    _p: PhantomData<&'a mut bindings::bio>,
}

impl MapBio<'_> {
    /// # Safety
    ///
    /// `bio` must be the bio DM passed to the target's `map` callback, and
    /// the object must not outlive that call.
    pub(super) unsafe fn from_raw(bio: NonNull<bindings::bio>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            bio,
            _p: PhantomData,
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

    /// Whether the bio carries `REQ_PREFLUSH`.
    pub(crate) fn is_preflush(&self) -> bool {
        self.opf() & REQ_PREFLUSH != 0
    }

    /// Whether the bio carries `REQ_FUA`.
    pub(crate) fn is_fua(&self) -> bool {
        self.opf() & REQ_FUA != 0
    }

    /// Whether the bio carries `REQ_NOWAIT`.
    pub(crate) fn is_nowait(&self) -> bool {
        self.opf() & REQ_NOWAIT != 0
    }

    /// First sector, relative to the start of the mapped device.
    pub(crate) fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// Remaining size in bytes.
    pub(crate) fn size(&self) -> u32 {
        self.raw().bi_iter.bi_size
    }

    /// Points the bio at `dev`, starting at `sector` of that device, and
    /// lets DM submit it (`DM_MAPIO_REMAPPED`).
    pub(crate) fn remap(self, dev: &DmDev, sector: u64) -> MapResult {
        let bio = self.bio.as_ptr();
        // SAFETY: the bio is ours (type invariants) and `dev` holds a live
        // block device reference for at least as long as the table.
        unsafe {
            sys::bufcache_bio_set_dev(bio, dev.bdev_ptr());
            (*bio).bi_iter.bi_sector = sector;
        }
        MapResult(sys::DM_MAPIO_REMAPPED)
    }

    /// Fails the bio with `DM_MAPIO_KILL` (DM completes it with an I/O
    /// error).
    pub(crate) fn kill(self) -> MapResult {
        MapResult(sys::DM_MAPIO_KILL)
    }
}
