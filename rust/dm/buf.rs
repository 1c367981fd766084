// SPDX-License-Identifier: GPL-2.0

//! Memory for one cache block.

use core::ptr::NonNull;

use crate::sys;

/// Allocation flags for block buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gfp {
    /// `GFP_NOWAIT | __GFP_NORETRY | __GFP_NOMEMALLOC | __GFP_NOWARN`:
    /// never sleeps, never enters direct reclaim, fails quietly. The first
    /// thing to try. `__GFP_NOMEMALLOC`, as in dm-bufio: a reclaimer
    /// (`PF_MEMALLOC`: kswapd, or a task swapping to a file on this device)
    /// must not fill the cache from the emergency reserves.
    NowaitQuiet,
    /// `GFP_NOIO | __GFP_NORETRY | __GFP_NOMEMALLOC | __GFP_NOWARN`, dm-bufio's
    /// blocking allocation: may sleep and reclaim, never starts I/O, and
    /// fails rather than looping in the allocator (plain `GFP_NOIO` of a
    /// small order never fails and never OOM-kills: the worker would stay
    /// there); the caller then waits for memory to come back and retries.
    NoioQuiet,
    /// `GFP_KERNEL`: process context outside any I/O path (table load).
    Kernel,
}

impl Gfp {
    fn raw(self) -> sys::bindings::gfp_t {
        match self {
            Self::NowaitQuiet => {
                sys::BUFCACHE_GFP_NOWAIT
                    | sys::BUFCACHE___GFP_NORETRY
                    | sys::BUFCACHE___GFP_NOMEMALLOC
                    | sys::BUFCACHE___GFP_NOWARN
            }
            Self::NoioQuiet => {
                sys::BUFCACHE_GFP_NOIO
                    | sys::BUFCACHE___GFP_NORETRY
                    | sys::BUFCACHE___GFP_NOMEMALLOC
                    | sys::BUFCACHE___GFP_NOWARN
            }
            Self::Kernel => sys::BUFCACHE_GFP_KERNEL,
        }
    }
}

/// A buffer holding one cache block.
///
/// # Invariants
///
/// `ptr` points to `size` bytes obtained from `bufcache_buf_alloc(size, _)`
/// and owned by this object. `size` is a power of two from 512 to 65536.
///
/// The contents are only read or written by the C copy helpers and by the
/// block layer (as bio data); Rust never creates a reference to them. Two
/// bios writing the same block concurrently leave unspecified bytes, as on
/// any block device, but that is not undefined behaviour for Rust.
pub(crate) struct BlockBuf {
    ptr: NonNull<u8>,
    size: u32,
}

// SAFETY: the buffer is plain kernel memory, usable from any thread; see the
// invariants on concurrent access.
unsafe impl Send for BlockBuf {}
// SAFETY: as above; `&self` methods only copy through the C helpers.
unsafe impl Sync for BlockBuf {}

impl BlockBuf {
    /// Allocates a buffer of `size` bytes (a power of two, 512..=65536).
    pub(crate) fn alloc(size: u32, gfp: Gfp) -> Option<Self> {
        if !size.is_power_of_two() || !(512..=65536).contains(&size) {
            return None;
        }
        // SAFETY: any size and flags may be passed; NULL means failure.
        let p = unsafe { sys::bufcache_buf_alloc(size, gfp.raw()) };
        // INVARIANT: a non-null result owns `size` bytes.
        NonNull::new(p.cast()).map(|ptr| Self { ptr, size })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// Raw pointer for the bio helpers of this module.
    pub(super) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Zeroes `len` bytes from `off` (clamped to the buffer).
    pub(crate) fn zero(&self, off: u32, len: u32) {
        let off = off.min(self.size);
        let len = len.min(self.size - off);
        // SAFETY: `off + len <= size` bytes of our buffer.
        unsafe { sys::bufcache_buf_zero(self.ptr.as_ptr().cast(), off, len) };
    }
}

impl Drop for BlockBuf {
    fn drop(&mut self) {
        // SAFETY: by the invariants we own the allocation of this size.
        unsafe { sys::bufcache_buf_free(self.ptr.as_ptr().cast(), self.size) };
    }
}
