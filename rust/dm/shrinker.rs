// SPDX-License-Identifier: GPL-2.0

//! A shrinker (`shrinker_alloc`/`shrinker_register`/`shrinker_free`) whose
//! callbacks go to a Rust object, and the reclaim-context helpers that go
//! with it.

use core::ptr::NonNull;

use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

use crate::sys::{self, bindings};

/// What the reclaim context that called a shrinker allows
/// (`struct shrink_control`).
pub(crate) struct ShrinkControl {
    gfp: u32,
    nr_to_scan: u64,
}

impl ShrinkControl {
    /// Whether the caller may enter the filesystem (`__GFP_FS`).
    pub(crate) fn may_fs(&self) -> bool {
        self.gfp & sys::BUFCACHE___GFP_FS != 0
    }

    /// Whether the caller may start I/O (`__GFP_IO`).
    pub(crate) fn may_io(&self) -> bool {
        self.gfp & sys::BUFCACHE___GFP_IO != 0
    }

    /// How many objects reclaim asks to scan.
    pub(crate) fn nr_to_scan(&self) -> u64 {
        self.nr_to_scan
    }
}

/// The result of a scan.
pub(crate) enum ScanResult {
    /// This many objects were freed.
    Freed(u64),
    /// No progress is possible in this context (`SHRINK_STOP`).
    Stop,
}

/// The callbacks of a shrinker. Both run in reclaim context: they must not
/// sleep on locks the allocating task may hold, and must not wait for I/O.
pub(crate) trait ShrinkerOps: Send + Sync + Sized {
    /// Number of objects that could be freed now (cheap, lock-free).
    fn count(this: ArcBorrow<'_, Self>, sc: &ShrinkControl) -> u64;
    /// Frees up to `sc.nr_to_scan()` objects.
    fn scan(this: ArcBorrow<'_, Self>, sc: &ShrinkControl) -> ScanResult;
}

/// A registered shrinker calling into `T`.
///
/// # Invariants
///
/// `shrinker` was allocated by `shrinker_alloc()` and registered; its
/// `private_data` holds a reference to `T` obtained from
/// `Arc::into_raw`, released after `shrinker_free()` in `drop`.
/// `shrinker_free()` waits for every running callback, so no callback can
/// see `private_data` after it was released.
pub(crate) struct Shrinker<T: ShrinkerOps> {
    shrinker: NonNull<bindings::shrinker>,
    data: *const T,
}

// SAFETY: the shrinker is only touched in `drop`, and `T` is `Send + Sync`.
unsafe impl<T: ShrinkerOps> Send for Shrinker<T> {}
// SAFETY: no `&self` methods touch the shrinker.
unsafe impl<T: ShrinkerOps> Sync for Shrinker<T> {}

fn control(sc: *mut bindings::shrink_control) -> ShrinkControl {
    // SAFETY: reclaim passes a valid shrink_control for the call.
    let sc = unsafe { &*sc };
    ShrinkControl {
        gfp: sc.gfp_mask,
        nr_to_scan: sc.nr_to_scan as u64,
    }
}

/// `count_objects` trampoline.
///
/// # Safety
///
/// Only the shrinker core may call it, for a shrinker registered by
/// [`Shrinker::register`] for `T` and not yet freed.
unsafe extern "C" fn count_cb<T: ShrinkerOps>(
    s: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: `private_data` came from `Arc::into_raw` and holds its
    // reference until `shrinker_free` returned, which waits for this call.
    let t = unsafe { ArcBorrow::from_raw((*s).private_data.cast::<T>()) };
    match T::count(t, &control(sc)) {
        0 => c_ulong::MAX - 1, // SHRINK_EMPTY
        n => n as c_ulong,
    }
}

/// `scan_objects` trampoline.
///
/// # Safety
///
/// As for `count_cb`.
unsafe extern "C" fn scan_cb<T: ShrinkerOps>(
    s: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: as in `count_cb`.
    let t = unsafe { ArcBorrow::from_raw((*s).private_data.cast::<T>()) };
    match T::scan(t, &control(sc)) {
        ScanResult::Freed(n) => n as c_ulong,
        ScanResult::Stop => c_ulong::MAX, // SHRINK_STOP
    }
}

impl<T: ShrinkerOps> Shrinker<T> {
    /// Registers a shrinker named `bufcache-<name>` (it shows under
    /// /sys/kernel/debug/shrinker with CONFIG_SHRINKER_DEBUG) that calls
    /// into `data`. `seeks` is the cost of recreating an object relative
    /// to a page (the kernel's default is 2; lower means reclaim asks this
    /// shrinker for more), `batch` how many objects a scan is asked for at
    /// least (0: the kernel's default of 128).
    pub(crate) fn register(name: &CStr, data: Arc<T>, seeks: i32, batch: isize) -> Result<Self> {
        // SAFETY: the format consumes one string argument, `name`.
        let s = unsafe {
            bindings::shrinker_alloc(0, c"bufcache-%s".as_char_ptr(), name.as_char_ptr())
        };
        let s = NonNull::new(s).ok_or(ENOMEM)?;
        let data = data.into_raw();
        // SAFETY: `s` is a new, unregistered shrinker that we own; the
        // callbacks match its `private_data`, which stays valid until
        // `drop` (type invariants).
        unsafe {
            let p = s.as_ptr();
            (*p).count_objects = Some(count_cb::<T>);
            (*p).scan_objects = Some(scan_cb::<T>);
            (*p).seeks = seeks;
            (*p).batch = batch;
            (*p).private_data = data.cast_mut().cast();
            bindings::shrinker_register(p);
        }
        // INVARIANT: registered above, with the reference in `data`.
        Ok(Self { shrinker: s, data })
    }
}

impl<T: ShrinkerOps> Drop for Shrinker<T> {
    fn drop(&mut self) {
        // SAFETY: ours and registered; `shrinker_free` waits for running
        // callbacks, so none uses `data` after it returns.
        unsafe { bindings::shrinker_free(self.shrinker.as_ptr()) };
        // SAFETY: `data` came from `Arc::into_raw` in `register`, and no
        // one else uses it now.
        drop(unsafe { Arc::from_raw(self.data) });
    }
}

/// Tells lockdep that whatever `f` locks may be taken inside memory
/// reclaim, by running it inside `fs_reclaim_acquire(GFP_KERNEL)`, as
/// block/blk-core.c does for its own locks. A blocking allocation under one
/// of those locks then becomes a lockdep report instead of a rare deadlock.
pub(crate) fn as_if_in_reclaim(f: impl FnOnce()) {
    // SAFETY: plain lockdep annotations (no-ops without lockdep), paired
    // on the same task.
    unsafe { sys::bufcache_fs_reclaim_acquire() };
    f();
    // SAFETY: as above.
    unsafe { sys::bufcache_fs_reclaim_release() };
}
