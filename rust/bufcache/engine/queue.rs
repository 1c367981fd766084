// SPDX-License-Identifier: GPL-2.0

//! The target's work queue: the workqueue its workers, writeback kicks,
//! timer and lanes run on, the bios deferred to the workers, and the flags
//! that stop background work (invariant B of [`super::writeback`]). The
//! work items themselves are fields of [`super::Inner`] (the workqueue's
//! `HasWork` needs them there); `Inner` queues them through [`Queue::with`].

use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::SpinLock;

use crate::dm::{self, BioList, OwnedBio};

/// The work queue, the deferred bios, and whether the target is going away
/// or suspended.
///
/// # Invariants
///
/// `dying` goes from 0 to 1 once, under the `wq` lock, and the timer is
/// armed only under that lock after `dying` was read 0 there
/// ([`Queue::with_live`]): no timer is armed after `set_dying` returns.
/// `suspended` is set under the `wq` lock by a suspend and cleared by the
/// next resume; it is 1 from construction to the first resume. `wq` is
/// `None` only after `take`, once the queue has been drained.
#[pin_data]
pub(super) struct Queue {
    /// The workqueue (spinlock `bufcache:wq`); `None` after shutdown.
    #[pin]
    wq: SpinLock<Option<dm::OwnedQueue>>,
    /// Bios waiting for a worker (spinlock `bufcache:deferred`).
    #[pin]
    deferred: SpinLock<BioList>,
    /// Set (under the `wq` lock) when the target goes away; no timer is
    /// armed and no lane runs after that. Relaxed.
    dying: Atomic<u32>,
    /// Set (under the `wq` lock) between a suspend and the next resume:
    /// background writeback is stopped. Relaxed.
    suspended: Atomic<u32>,
}

impl Queue {
    /// A queue running on `wq`, suspended until the first resume.
    pub(super) fn new(wq: dm::OwnedQueue) -> impl PinInit<Self> {
        pin_init!(Self {
            wq <- new_spinlock!(Some(wq), "bufcache:wq"),
            deferred <- new_spinlock!(BioList::new(true), "bufcache:deferred"),
            dying: Atomic::new(0),
            // Until the first resume.
            suspended: Atomic::new(1),
        })
    }

    /// Runs `f` with the workqueue, under its lock, unless it is gone.
    pub(super) fn with<R>(&self, f: impl FnOnce(&dm::OwnedQueue) -> R) -> Option<R> {
        let guard = self.wq.lock();
        guard.as_ref().map(f)
    }

    /// [`Queue::with`], unless the target is going away: for arming the
    /// timer.
    pub(super) fn with_live<R>(&self, f: impl FnOnce(&dm::OwnedQueue) -> R) -> Option<R> {
        let guard = self.wq.lock();
        // Checked under the lock that `shutdown` sets it under, so no
        // timer is armed after that.
        if self.dying.load(Relaxed) != 0 {
            return None;
        }
        guard.as_ref().map(f)
    }

    /// Takes the workqueue away (destroying it drains every queued item).
    pub(super) fn take(&self) -> Option<dm::OwnedQueue> {
        self.wq.lock().take()
    }

    /// Marks the target as going away, under the lock [`Queue::with_live`]
    /// checks it under: no timer can be armed after this.
    pub(super) fn set_dying(&self) {
        let _wq = self.wq.lock();
        self.dying.store(1, Relaxed);
    }

    /// Stops background writeback for a suspend (under the `wq` lock).
    pub(super) fn set_suspended(&self) {
        let _wq = self.wq.lock();
        self.suspended.store(1, Relaxed);
    }

    /// Lets background writeback run again after a suspend.
    pub(super) fn clear_suspended(&self) {
        self.suspended.store(0, Relaxed);
    }

    /// Whether the target is going away.
    pub(super) fn dying(&self) -> bool {
        self.dying.load(Relaxed) != 0
    }

    /// Whether the target is suspended.
    pub(super) fn suspended(&self) -> bool {
        self.suspended.load(Relaxed) != 0
    }

    /// Queues a bio for the workers (the caller wakes them).
    pub(super) fn push(&self, bio: OwnedBio) {
        self.deferred.lock().push(bio);
    }

    /// The next deferred bio, for a worker.
    pub(super) fn pop(&self) -> Option<OwnedBio> {
        self.deferred.lock().pop()
    }

    /// Whether a deferred bio waits for a worker.
    pub(super) fn has_deferred(&self) -> bool {
        !self.deferred.lock().is_empty()
    }

    /// Teaches lockdep that the `wq` lock is taken inside memory reclaim
    /// (the shrinker kicks writeback).
    pub(super) fn prime_lockdep(&self) {
        dm::shrinker::as_if_in_reclaim(|| drop(self.wq.lock()));
    }
}
