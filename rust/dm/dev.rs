// SPDX-License-Identifier: GPL-2.0

//! An owned reference to an underlying device of a target.

use core::ptr::NonNull;

use kernel::prelude::*;

use crate::sys::{self, bindings};

/// A device opened with `dm_get_device()`; dropping it calls
/// `dm_put_device()`.
///
/// # Invariants
///
/// - `dev` was returned by a successful `dm_get_device(ti, ...)` and has not
///   been put yet; this object owns that reference.
/// - `ti` is the `dm_target` it was obtained for. A `DmDev` is only created
///   by [`super::TargetCtr::get_device`] and must be dropped before that
///   target's `dtr` returns: the target keeps it in its private data, which
///   [`super::target`] drops inside `dtr` (or on a failed `ctr`). Work that
///   the target queues must be flushed before its private data is dropped.
pub(crate) struct DmDev {
    ti: NonNull<sys::dm_target>,
    dev: NonNull<sys::dm_dev>,
}

// SAFETY: a `dm_dev` is immutable after `dm_get_device()` and DM allows it
// to be used from any thread; `dm_put_device()` may be called from any
// process context, which is where `Drop` runs (the target's `dtr`).
unsafe impl Send for DmDev {}
// SAFETY: all methods taking `&self` only read immutable fields or call
// thread-safe block layer queries.
unsafe impl Sync for DmDev {}

impl DmDev {
    /// Wraps a device returned by `dm_get_device()`.
    ///
    /// # Safety
    ///
    /// `dev` must come from a successful `dm_get_device(ti, ...)` whose
    /// reference is transferred to the new object, and the invariants above
    /// about the lifetime of `ti` must hold.
    pub(super) unsafe fn from_raw(ti: NonNull<sys::dm_target>, dev: NonNull<sys::dm_dev>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { ti, dev }
    }

    /// The `struct block_device` of this device.
    pub(crate) fn bdev_ptr(&self) -> *mut bindings::block_device {
        // SAFETY: `dev` is a live `dm_dev` by the type invariants; `bdev` is
        // set by `dm_get_device()` and never changes.
        unsafe { (*self.dev.as_ptr()).bdev }
    }

    /// The raw `dm_dev`, for `iterate_devices` callouts.
    pub(super) fn as_raw(&self) -> *mut sys::dm_dev {
        self.dev.as_ptr()
    }

    /// The device name as DM prints it in table lines ("major:minor").
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: `name` is a NUL-terminated array filled in by
        // `dm_get_device()` (via `format_dev_t`) and never changes while
        // the reference is held.
        unsafe { CStr::from_char_ptr((*self.dev.as_ptr()).name.as_ptr()) }
    }

    /// Size of the device in 512-byte sectors.
    pub(crate) fn nr_sectors(&self) -> u64 {
        // SAFETY: `bdev_ptr()` is a live block device while we hold the
        // reference.
        unsafe { sys::bufcache_bdev_nr_sectors(self.bdev_ptr()) }
    }

    /// Logical block size of the device in bytes.
    pub(crate) fn logical_block_size(&self) -> u32 {
        // SAFETY: as in `nr_sectors`.
        unsafe { sys::bufcache_bdev_logical_block_size(self.bdev_ptr()) }
    }

    /// Largest discard the device accepts, in sectors; 0 if it does not
    /// support discard.
    pub(crate) fn max_discard_sectors(&self) -> u32 {
        // SAFETY: as in `nr_sectors`.
        unsafe { sys::bufcache_bdev_max_discard_sectors(self.bdev_ptr()) }
    }
}

impl DmDev {
    /// Flushes the device's volatile write cache (`blkdev_issue_flush`).
    pub(crate) fn issue_flush(&self) -> Result {
        // SAFETY: live block device; may sleep, callers are in process
        // context.
        kernel::error::to_result(unsafe { bindings::blkdev_issue_flush(self.bdev_ptr()) })
    }
}

impl Drop for DmDev {
    fn drop(&mut self) {
        // SAFETY: by the type invariants we own one `dm_get_device()`
        // reference on `dev` for the still-live target `ti`.
        unsafe { sys::dm_put_device(self.ti.as_ptr(), self.dev.as_ptr()) };
    }
}
