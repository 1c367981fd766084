// SPDX-License-Identifier: GPL-2.0

//! A workqueue owned by a target.
//!
//! The kernel crate can enqueue work on any [`Queue`] but only offers the
//! system queues. The cache's workers sit in the I/O path of memory
//! reclaim (writeback frees memory), so they need their own queue with
//! `WQ_MEM_RECLAIM`, whose rescuer thread guarantees progress when no new
//! worker thread can be created.

use core::ptr::NonNull;

use kernel::prelude::*;
use kernel::workqueue::Queue;

use crate::sys::{self, bindings};

/// A workqueue from `alloc_workqueue()`, destroyed (after draining) on drop.
///
/// # Invariants
///
/// `wq` is a live workqueue owned by this object.
pub(crate) struct OwnedQueue {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: workqueues are used from any thread by design.
unsafe impl Send for OwnedQueue {}
// SAFETY: as above.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// An unbound `WQ_MEM_RECLAIM` workqueue named `name`, running at most
    /// `max_active` items at once.
    pub(crate) fn new(name: &CStr, max_active: i32) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; the format copies it.
        let wq = unsafe {
            sys::bufcache_alloc_workqueue(
                name.as_char_ptr(),
                sys::BUFCACHE_WQ_MEM_RECLAIM | sys::BUFCACHE_WQ_UNBOUND,
                max_active,
            )
        };
        // INVARIANT: a non-null result is a live workqueue we own.
        NonNull::new(wq).map(|wq| Self { wq }).ok_or(ENOMEM)
    }

    /// The queue, to enqueue work items on.
    pub(crate) fn queue(&self) -> &Queue {
        // SAFETY: the workqueue lives as long as `self`.
        unsafe { Queue::from_raw(self.wq.as_ptr()) }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: we own the live workqueue; `destroy_workqueue` drains it.
        unsafe { bindings::destroy_workqueue(self.wq.as_ptr()) };
    }
}
