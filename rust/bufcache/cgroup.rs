// SPDX-License-Identifier: GPL-2.0

//! Association of the cache's own I/O with the cgroup that caused it.
//!
//! Each target keeps a table of entries keyed by blkcg css id. An entry
//! holds a css reference and per-cgroup counters. A block's owner tag (in
//! the core's slot metadata) is the css id of the cgroup whose I/O filled or
//! last wrote it; the writeback, fill and readahead bios for that block are
//! associated with that css (`bio_associate_blkg_from_css`) in the workers.
//!
//! The contract, mirroring where blk-cgroup is heading (blkg creation under
//! `q->blkcg_mutex`, which may sleep):
//!
//! - sleepable context ([`CgTable::get`], the workers): look up, else create
//!   under the table's `Mutex` with a normal allocation (inside the
//!   workers' NOIO scope);
//! - non-blocking context ([`CgTable::get_nowait`], `map`): look up under
//!   the xarray's spinlock; else `try_lock` the mutex and create with
//!   `GFP_ATOMIC`; else never sleep: the caller completes a `REQ_NOWAIT`
//!   bio with "would block", or defers the bio to a worker.
//!
//! Entries live while their cgroup is online, or while any of their blocks
//! is filling, dirty or being written back ("active", counted exactly by
//! the core's [`Accountant`] hook). [`CgTable::prune`] drops the others, so
//! a removed cgroup's css is released once its dirty data is written back.

use core::fmt::Write;

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, Mutex};
use kernel::xarray::{AllocKind, XArray};
use kernel::{new_mutex, try_pin_init};

use crate::cache::shard::{Accountant, Tag};
use crate::cache::status::Field;
use crate::dm::cgroup::{Css, CssRef};
use crate::dm::StatusWriter;

use super::counters::Counters;

/// One cgroup's association state.
pub(crate) struct CgEntry {
    pub(crate) css: Css,
    pub(crate) id: u32,
    cached: Atomic<i64>,
    dirty: Atomic<i64>,
    active: Atomic<i64>,
    /// Live [`CgRef`]s: a worker holding one may still tag blocks with
    /// this entry's id, so `prune` keeps it. Raised under the map lock.
    users: Atomic<i64>,
    pub(crate) hits: Atomic<u64>,
    pub(crate) misses: Atomic<u64>,
    pub(crate) writeback_bytes: Atomic<u64>,
    pub(crate) fill_bytes: Atomic<u64>,
}

impl CgEntry {
    fn new(css: Css) -> Self {
        let id = css.id();
        Self {
            css,
            id,
            cached: Atomic::new(0),
            dirty: Atomic::new(0),
            active: Atomic::new(0),
            users: Atomic::new(0),
            hits: Atomic::new(0),
            misses: Atomic::new(0),
            writeback_bytes: Atomic::new(0),
            fill_bytes: Atomic::new(0),
        }
    }

    fn apply(&self, t: Tag, sign: i64) {
        if t.cached {
            self.cached.add(sign, Relaxed);
        }
        if t.dirty {
            self.dirty.add(sign, Relaxed);
        }
        if t.active {
            self.active.add(sign, Relaxed);
        }
    }
}

/// An entry looked up for a bio: while it lives, [`CgTable::prune`] keeps
/// the entry in the table, so blocks tagged with its id meanwhile are
/// accounted to it and their writeback charged to its cgroup, never to
/// root or to a later cgroup that reuses the css id.
///
/// # Invariants
///
/// `e.users` counts this reference (raised when it was made).
pub(crate) struct CgRef {
    e: Arc<CgEntry>,
}

impl CgRef {
    fn new(e: &Arc<CgEntry>) -> Self {
        e.users.add(1, Relaxed);
        Self { e: e.clone() }
    }
}

impl core::ops::Deref for CgRef {
    type Target = CgEntry;
    fn deref(&self) -> &CgEntry {
        &self.e
    }
}

impl Drop for CgRef {
    fn drop(&mut self) {
        self.e.users.add(-1, Relaxed);
    }
}

/// The per-target association table.
#[pin_data]
pub(crate) struct CgTable {
    #[pin]
    map: XArray<Arc<CgEntry>>,
    /// Held to create or remove entries; holds the ids in the table.
    #[pin]
    create: Mutex<KVec<u32>>,
    root: Arc<CgEntry>,
    /// The association counters (fields of source `Cgroup`).
    pub(crate) stats: Counters,
}

impl CgTable {
    /// A table with only the root cgroup's entry (which is never pruned
    /// and is not in the map).
    pub(crate) fn new() -> Result<Arc<Self>> {
        let root = Arc::new(CgEntry::new(Css::root()), GFP_KERNEL)?;
        Arc::pin_init(
            try_pin_init!(Self {
                map <- XArray::new(AllocKind::Alloc),
                create <- new_mutex!(KVec::new(), "bufcache:cgroup_create"),
                root,
                stats <- Counters::init(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The entry for css id `id`, if there is one; never sleeps. Held
    /// under the map lock, as `prune` checks `users` under it.
    fn lookup(&self, id: u32) -> Option<CgRef> {
        if id == self.root.id {
            return Some(CgRef::new(&self.root));
        }
        let g = self.map.lock();
        g.get(id as usize).map(|e| CgRef::new(&Arc::from(e)))
    }

    /// Non-blocking association: an existing entry, or one created under
    /// `try_lock` with `GFP_ATOMIC`. `None` if that would block or fails:
    /// the caller must not sleep (would-block, or defer to a worker).
    pub(crate) fn get_nowait(&self, css: Option<CssRef<'_>>) -> Option<CgRef> {
        let Some(css) = css else {
            return Some(CgRef::new(&self.root));
        };
        if let Some(e) = self.lookup(css.id()) {
            self.stats.inc(Field::CgFound);
            return Some(e);
        }
        let Some(mut ids) = self.create.try_lock() else {
            self.stats.inc(Field::CgTrylockContended);
            return None;
        };
        if let Some(e) = self.lookup(css.id()) {
            self.stats.inc(Field::CgFound);
            return Some(e);
        }
        match self.insert(&mut ids, css, GFP_ATOMIC) {
            Some(e) => {
                self.stats.inc(Field::CgCreatedTrylock);
                Some(e)
            }
            None => {
                self.stats.inc(Field::CgAtomicFailed);
                None
            }
        }
    }

    /// Sleepable association: an existing entry, or one created under the
    /// mutex with a normal allocation (callers run in a NOIO scope). Falls
    /// back to the root entry if even that allocation fails.
    pub(crate) fn get(&self, css: Option<CssRef<'_>>) -> CgRef {
        let Some(css) = css else {
            return CgRef::new(&self.root);
        };
        if let Some(e) = self.lookup(css.id()) {
            self.stats.inc(Field::CgFound);
            return e;
        }
        let mut ids = self.create.lock();
        if let Some(e) = self.lookup(css.id()) {
            self.stats.inc(Field::CgFound);
            return e;
        }
        match self.insert(&mut ids, css, GFP_KERNEL) {
            Some(e) => {
                self.stats.inc(Field::CgCreatedLocked);
                e
            }
            None => {
                self.stats.inc(Field::CgRootFallback);
                CgRef::new(&self.root)
            }
        }
    }

    /// Creates and stores an entry; the caller holds the mutex (which
    /// `prune` holds too, so the new entry's reference is made before
    /// `prune` can look at it).
    fn insert(
        &self,
        ids: &mut KVec<u32>,
        css: CssRef<'_>,
        gfp: kernel::alloc::Flags,
    ) -> Option<CgRef> {
        let id = css.id();
        let e = Arc::new(CgEntry::new(css.get()), gfp).ok()?;
        ids.push(id, gfp).ok()?;
        let r = CgRef::new(&e);
        let stored = self.map.lock().store(id as usize, e, gfp);
        if stored.is_err() {
            ids.pop();
            return None;
        }
        Some(r)
    }

    /// The entry of a block's owner (its writeback is charged there); the
    /// root entry for blocks without one.
    pub(crate) fn by_owner(&self, owner: u32) -> CgRef {
        if owner == 0 {
            return CgRef::new(&self.root);
        }
        match self.lookup(owner) {
            Some(e) => e,
            None => {
                self.stats.inc(Field::CgRootFallback);
                CgRef::new(&self.root)
            }
        }
    }

    /// Drops the entries of removed cgroups that have no active blocks, so
    /// their css can be freed. Process context.
    pub(crate) fn prune(&self) {
        let mut ids = self.create.lock();
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i];
            // Checked and removed under the map lock, which the accounting
            // hook holds while it applies a change (`account`): an entry
            // cannot gain an active block between the check and the
            // removal, so a removed cgroup never has dirty or in-flight
            // blocks that writeback would charge to root or to a new
            // cgroup reusing the id.
            let mut g = self.map.lock();
            // Nor can one be looked up meanwhile (`lookup` raises
            // `users` under the map lock): an entry a worker holds stays,
            // since that worker may still tag blocks with its id.
            let drop_it = match g.get(id as usize) {
                Some(e) => {
                    e.active.load(Relaxed) <= 0 && e.users.load(Relaxed) <= 0 && e.css.is_dying()
                }
                None => true,
            };
            if drop_it {
                let old = g.remove(id as usize);
                drop(g);
                // The css reference goes when the last user of the entry
                // does (in-flight I/O may still hold one).
                drop(old);
                let last = ids.len() - 1;
                ids.swap(i, last);
                ids.pop();
            } else {
                drop(g);
                i += 1;
            }
        }
    }

    /// Applies an accounting change to owner `id`'s entry, under the map
    /// lock (see `prune`).
    fn account(&self, id: u32, t: Tag, sign: i64) {
        if id == self.root.id {
            self.root.apply(t, sign);
            return;
        }
        let g = self.map.lock();
        if let Some(e) = g.get(id as usize) {
            e.apply(t, sign);
        }
    }

    /// Teaches lockdep that the mutex may be taken inside reclaim (the
    /// non-blocking path may run there); a blocking allocation under it
    /// then shows up as a lockdep report.
    pub(crate) fn prime_lockdep(&self) {
        crate::dm::shrinker::as_if_in_reclaim(|| drop(self.create.lock()));
    }

    /// Holds the creation mutex for `ms` milliseconds (test-only message,
    /// to force the try-lock fallback).
    #[cfg(bufcache_test)]
    pub(crate) fn hold_mutex(&self, ms: u64) {
        let _g = self.create.lock();
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(ms as i64));
    }

    /// Number of entries (the root not counted).
    pub(crate) fn len(&self) -> u64 {
        self.create.lock().len() as u64
    }

    /// Writes one line per cgroup with blocks or traffic.
    // Out of line, for the message handler's frame (scripts/stack-frames.sh).
    #[inline(never)]
    pub(crate) fn report(&self, out: &mut StatusWriter<'_>, block_size: u32) {
        let ids = self.create.lock();
        let mut path = [0u8; 128];
        let bs = i64::from(block_size);
        let mut line = |e: &CgEntry, path: &str| {
            let hits = e.hits.load(Relaxed);
            let misses = e.misses.load(Relaxed);
            let ratio = (hits * 100).checked_div(hits + misses).unwrap_or(0);
            let _ = writeln!(
                out,
                "{} {} cached_bytes={} dirty_bytes={} hits={} misses={} hit_ratio={}% writeback_bytes={} fill_bytes={}",
                e.id,
                path,
                e.cached.load(Relaxed).max(0) * bs,
                e.dirty.load(Relaxed).max(0) * bs,
                hits,
                misses,
                ratio,
                e.writeback_bytes.load(Relaxed),
                e.fill_bytes.load(Relaxed)
            );
        };
        line(&self.root, "/");
        for &id in ids.iter() {
            if let Some(e) = self.lookup(id) {
                let p = e.css.path(&mut path);
                line(&e, p);
            }
        }
    }
}

/// The per-owner accounting hook of the shards: keeps every entry's
/// cached, dirty and active block counts exact. Runs under a shard lock;
/// takes only the xarray's spinlock.
pub(crate) struct CgAcct {
    pub(crate) table: Arc<CgTable>,
}

impl Accountant for CgAcct {
    fn account(&mut self, before: Tag, after: Tag) {
        if before.owner != 0 {
            self.table.account(before.owner, before, -1);
        }
        if after.owner != 0 {
            self.table.account(after.owner, after, 1);
        }
    }
}
