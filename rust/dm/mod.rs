// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions for writing a device-mapper target in Rust.
//!
//! This module and [`crate::sys`] are the only places in the crate that
//! contain `unsafe` code. Everything above them (the cache core in
//! `crate::cache` and the target in `crate::bufcache`) is safe Rust and is
//! compiled with `#![forbid(unsafe_code)]`.
//!
//! The pieces:
//!
//! - [`target`]: registration of a `struct target_type` ([`target::Registration`])
//!   and the [`target::Target`] trait whose methods DM calls (`ctr`, `dtr`,
//!   `map`, `status`, `message`, `iterate_devices`, `io_hints`, suspend and
//!   resume hooks). The target's private data is owned by `ti->private` as a
//!   `Pin<KBox<T>>` ([`kernel::types::ForeignOwnable`]); `map` runs
//!   concurrently on many CPUs, so every callback but the constructor gets a
//!   shared reference. The `extern "C"` callbacks that DM calls, which
//!   turn its raw arguments into those types, are in the same file.
//! - [`dev`]: [`dev::DmDev`], an owned `dm_get_device()` reference that calls
//!   `dm_put_device()` when dropped.
//! - [`bio`]: the bio handed to `map` ([`bio::MapBio`]), which must be
//!   disposed of exactly once.
//! - [`status`]: a bounded writer for status and message output, with the
//!   semantics of the C `DMEMIT()` macro.
//! - [`buf`]: [`buf::BlockBuf`], the memory of one cache block, whose
//!   contents only C copy helpers and the block layer touch.
//! - [`bio`] also has [`bio::OwnedBio`] (a bio taken over from `map`) and
//!   [`bio::BioList`].
//! - [`batch`]: [`batch::BioSet`] and [`batch::IoBatch`] (the cache's own
//!   fills and writebacks, submitted under a plug and waited for).
//! - [`memalloc`]: `memalloc_noio`/`memalloc_nofs` scopes as closures, and
//!   capture and replay of a task's scope flags.
//! - [`wq`]: an owned `WQ_MEM_RECLAIM` workqueue.
//! - [`cgroup`]: counted and borrowed blkcg css references; the original
//!   bio's css of a DM clone; bio association ([`batch::IoBatch`]).
//! - [`shrinker`]: a shrinker calling into a Rust object, torn down
//!   race-free against running scans, and lockdep's reclaim annotation.

pub(crate) mod batch;
pub(crate) mod bio;
pub(crate) mod buf;
pub(crate) mod cgroup;
pub(crate) mod dev;
pub(crate) mod memalloc;
pub(crate) mod shrinker;
pub(crate) mod status;
pub(crate) mod target;
pub(crate) mod wq;

pub(crate) use batch::{BatchResult, BioSet, IoBatch};
pub(crate) use bio::{BioList, BioOp, BlkStatus, MapBio, MapResult, OwnedBio};
pub(crate) use buf::{BlockBuf, Gfp};
pub(crate) use dev::DmDev;
pub(crate) use status::{StatusKind, StatusWriter};
pub(crate) use target::{
    CtrError, Features, QueueLimits, Registration, Target, TargetCtr, TargetInfo,
};
pub(crate) use wq::OwnedQueue;

/// Sector size shift: DM and the block layer count in 512-byte sectors.
pub(crate) const SECTOR_SHIFT: u32 = 9;

/// Total RAM of the machine in bytes (`totalram_pages() << PAGE_SHIFT`).
pub(crate) fn totalram_bytes() -> u64 {
    // SAFETY: reads a global counter; callable from any context.
    unsafe { crate::sys::bufcache_totalram_bytes() as u64 }
}

/// The `max_cache_size_bytes` module parameter, as last written (at load or
/// through sysfs; 0 selects the default budget). It is declared in the C
/// shims: the kernel crate's module parameters cannot be written at run
/// time.
pub(crate) fn max_cache_size_param() -> u64 {
    // SAFETY: reads a u64 with READ_ONCE; callable from any context.
    unsafe { crate::sys::bufcache_max_cache_size_param() }
}

/// Lets other tasks run if this one has used its time (`cond_resched`).
/// Process context only.
pub(crate) fn cond_resched() {
    // SAFETY: callable from any sleepable context; callers are workers.
    unsafe { crate::sys::bufcache_cond_resched() }
}

/// Waits until the last queueing of a work item has run (`flush_work`).
/// The item stays usable; whatever pointer it holds is released by its
/// `run`.
pub(crate) fn flush_work<T: ?Sized, const ID: u64>(w: &kernel::workqueue::Work<T, ID>) {
    // SAFETY: `w` is a live, initialised `Work`; `raw_get` only computes
    // the address of the `work_struct` it wraps.
    let p = unsafe { kernel::workqueue::Work::raw_get(w) };
    // SAFETY: `p` is an initialised `work_struct`, alive for the call.
    unsafe { crate::sys::bindings::flush_work(p) };
}

/// Whether a work item is neither queued nor running (`work_busy()` is 0).
/// A snapshot that may be stale at once: use it only to choose which item
/// to queue, never to skip queueing.
pub(crate) fn work_idle<T: ?Sized, const ID: u64>(w: &kernel::workqueue::Work<T, ID>) -> bool {
    // SAFETY: `w` is a live, initialised `Work`; `raw_get` only computes
    // the address of the `work_struct` it wraps.
    let p = unsafe { kernel::workqueue::Work::raw_get(w) };
    // SAFETY: `p` is an initialised `work_struct`, alive for the call;
    // `work_busy` only reads it (under the pool's lock) from any context.
    unsafe { crate::sys::bindings::work_busy(p) == 0 }
}

/// Forces a pending delayed work item to run now and waits for it
/// (`flush_delayed_work`). The item runs normally, so whatever pointer it
/// holds is released by its `run`.
pub(crate) fn flush_delayed_work<T: ?Sized, const ID: u64>(
    dw: &kernel::workqueue::DelayedWork<T, ID>,
) {
    let p = core::ptr::from_ref(dw)
        .cast::<crate::sys::bindings::delayed_work>()
        .cast_mut();
    // SAFETY: `DelayedWork` is `repr(transparent)` over
    // `Opaque<delayed_work>`, so `p` is the initialised `delayed_work` it
    // wraps, alive for the duration of the call.
    unsafe { crate::sys::bindings::flush_delayed_work(p) };
}
