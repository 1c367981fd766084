// SPDX-License-Identifier: GPL-2.0

//! Memory allocation scopes (`memalloc_noio_save()` and friends).
//!
//! The kernel crate's allocation flags have no `GFP_NOIO`. Allocations on an
//! I/O path therefore run inside a NOIO scope, where the page allocator
//! strips `__GFP_IO` and `__GFP_FS` from every request of the task, whatever
//! flags the caller passed: a `GFP_KERNEL` allocation inside [`noio`]
//! behaves as `GFP_NOIO`.
//!
//! Scopes are closures, so save and restore are strictly nested by
//! construction: a scope cannot end before one opened inside it, and
//! cannot move to another task.

use crate::sys;

/// The memalloc scope flags of a task (`PF_MEMALLOC_NOIO`,
/// `PF_MEMALLOC_NOFS`), captured to be replayed elsewhere, e.g. in a
/// worker that does I/O on behalf of the submitter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemallocFlags(u32);

impl MemallocFlags {
    /// No scope.
    pub(crate) const NONE: Self = Self(0);

    /// The scope flags of the current task.
    pub(crate) fn current() -> Self {
        // SAFETY: reads `current->flags`; always valid in task context.
        Self(unsafe { sys::bufcache_current_memalloc_flags() })
    }

    /// Raw bits.
    pub(crate) fn bits(self) -> u32 {
        self.0
    }

    /// From raw bits, keeping only the scope flags.
    pub(crate) fn from_bits(bits: u32) -> Self {
        Self(bits & (sys::BUFCACHE_PF_MEMALLOC_NOIO | sys::BUFCACHE_PF_MEMALLOC_NOFS))
    }

    /// Whether every scope flag of `other` is set in `self`.
    pub(crate) fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Runs `f` in a `memalloc_noio` scope.
pub(crate) fn noio<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: saves the current task's flags; restored below on the same
    // task before returning, after every inner scope has ended (`f`'s own
    // scopes are closures that end inside `f`).
    let old = unsafe { sys::bufcache_memalloc_noio_save() };
    let r = f();
    // SAFETY: restores what the matching save returned, on the same task.
    unsafe { sys::bufcache_memalloc_noio_restore(old) };
    r
}

/// Runs `f` in a `memalloc_nofs` scope.
#[expect(
    dead_code,
    reason = "part of the scope API of Documentation/reclaim.rst; every I/O path needs NOIO"
)]
pub(crate) fn nofs<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: as in `noio`.
    let old = unsafe { sys::bufcache_memalloc_nofs_save() };
    let r = f();
    // SAFETY: as in `noio`.
    unsafe { sys::bufcache_memalloc_nofs_restore(old) };
    r
}

/// Runs `f` with `flags` added to the current task's scope flags: replays
/// a scope captured with [`MemallocFlags::current`] in another context.
pub(crate) fn with_flags<R>(flags: MemallocFlags, f: impl FnOnce() -> R) -> R {
    // SAFETY: as in `noio`; `memalloc_flags_save` only sets scope bits.
    let old = unsafe { sys::bufcache_memalloc_flags_save(flags.0) };
    let r = f();
    // SAFETY: as in `noio`.
    unsafe { sys::bufcache_memalloc_flags_restore(old) };
    r
}
