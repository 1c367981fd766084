// SPDX-License-Identifier: GPL-2.0

//! Background writeback: the age timer and the high watermark start one
//! writeback lane per cgroup with dirty data due; suspend and shutdown stop
//! them (invariant B of [`super::writeback`]).

use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, SpinLock};

use crate::cache::status::Field;
use crate::cache::table::Mode;
use crate::dm::{self, memalloc};

use super::super::knobs;
use super::writeback::{WbRound, WbSelect};
use super::Inner;

/// Most background writeback lanes (cgroups written back in parallel).
const MAX_LANES: usize = 8;
/// A free lane slot.
const LANE_FREE: u32 = u32::MAX;
/// The lane of every owner at once (test_single_writeback_lane).
const LANE_ALL: u32 = u32::MAX - 1;
/// Longest back-off of background writeback after failed rounds.
const BACKOFF_MAX_MS: u64 = 5000;

/// Background writeback's own state: the lanes running, and the back-off
/// after failed rounds.
///
/// # Invariants
///
/// A lane slot is [`LANE_FREE`] or holds the owner whose lane runs (or
/// [`LANE_ALL`]); no owner holds two slots (looked up and claimed in one
/// hold of the lock). `retry_at` is 0 or a time of the target's clock
/// (`Inner::now_ms`) before which background writeback and the reserve's
/// refill write nothing; `fail_streak` counts the rounds in a row that
/// failed and wrote nothing, and a round that wrote resets both. Both are
/// Relaxed: racing rounds only move the retry time.
#[pin_data]
pub(super) struct Background {
    /// Owners whose writeback lane is running (spinlock `bufcache:lanes`).
    #[pin]
    lanes: SpinLock<[u32; MAX_LANES]>,
    /// Writeback rounds in a row that failed and wrote nothing. Relaxed.
    fail_streak: Atomic<u32>,
    /// Background writeback backs off until then (ms, `now_ms`). Relaxed.
    retry_at: Atomic<u64>,
}

impl Background {
    /// No lane running, no back-off.
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            lanes <- new_spinlock!([LANE_FREE; MAX_LANES], "bufcache:lanes"),
            fail_streak: Atomic::new(0),
            retry_at: Atomic::new(0),
        })
    }

    /// Takes a lane slot for `owner`, unless its lane runs already or no
    /// slot is free.
    fn claim(&self, owner: u32) -> bool {
        let mut lanes = self.lanes.lock();
        if lanes.contains(&owner) {
            return false;
        }
        let Some(slot) = lanes.iter().position(|&l| l == LANE_FREE) else {
            return false;
        };
        lanes[slot] = owner;
        true
    }

    /// Frees the lane slot of `owner`.
    fn release(&self, owner: u32) {
        let mut lanes = self.lanes.lock();
        if let Some(l) = lanes.iter_mut().find(|l| **l == owner) {
            *l = LANE_FREE;
        }
    }

    /// Waits until no writeback lane runs.
    pub(super) fn wait_idle(&self) {
        while self.lanes.lock().iter().any(|&l| l != LANE_FREE) {
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(5));
        }
    }

    /// Records how a round went, for the back-off of background writeback;
    /// `now` is the target's clock, read only after a failed round.
    pub(super) fn note_round(&self, r: &WbRound, now: impl FnOnce() -> u64) {
        if r.written > 0 {
            self.fail_streak.store(0, Relaxed);
            self.retry_at.store(0, Relaxed);
        } else if r.errors > 0 {
            let k = self.fail_streak.fetch_add(1, Relaxed).min(10);
            let delay = (100u64 << k).min(BACKOFF_MAX_MS);
            self.retry_at.store(now() + delay, Relaxed);
        }
    }

    /// Whether background writeback is backing off after failed rounds at
    /// time `now` (ms, `now_ms`).
    pub(super) fn backing_off(&self, now: u64) -> bool {
        now < self.retry_at.load(Relaxed)
    }
}

impl Inner {
    /// What background writeback should write now, if anything: oldest
    /// first while dirty data is above the low watermark (it starts above
    /// the high one), else what is older than `max_age_ms`.
    pub(super) fn background_select(&self) -> Option<WbSelect> {
        if self.mode() == Mode::Writeback {
            let low = u64::from(self.settings.low_watermark());
            if self.shards.dirty_blocks() * 100 > low * self.cap_blocks() {
                return Some(WbSelect::Oldest);
            }
        }
        let age = self.settings.max_age_ms();
        if age == 0 {
            return None;
        }
        self.now_ms().checked_sub(age).map(WbSelect::DirtyBy)
    }

    /// Whether background writeback must not run now (invariant B).
    pub(super) fn background_stopped(&self) -> bool {
        self.queue.dying() || self.queue.suspended()
    }

    /// Background writeback: starts one writeback lane per cgroup (owner)
    /// with dirty data due, so that a throttled cgroup (io.max) only slows
    /// its own writeback, not everyone's.
    pub(super) fn background_writeback(self: &Arc<Self>) {
        if self.background_stopped() {
            return;
        }
        memalloc::noio(|| {
            self.cg.prune();
            self.give_back_budget();
            if self.background.backing_off(self.now_ms()) {
                // Backing off after failed rounds.
                return;
            }
            let wm = self.mode() == Mode::Writeback && self.above_high_watermark();
            let age = self.settings.max_age_ms();
            let aged = if age > 0 {
                self.now_ms().checked_sub(age)
            } else {
                None
            };
            if !wm && aged.is_none() {
                return;
            }
            // Owners of the oldest dirty blocks of each shard.
            let mut owners = [LANE_FREE; MAX_LANES];
            let mut n = 0;
            for si in 0..self.nshards() {
                let g = self.shards.lock(si);
                for id in g.meta.dirty_iter().take(256) {
                    if !wm && aged.is_some_and(|t| g.meta.dirty_since(id) > t) {
                        break;
                    }
                    let o = g.meta.owner(id);
                    if n < MAX_LANES && !owners[..n].contains(&o) {
                        owners[n] = o;
                        n += 1;
                    }
                }
            }
            if knobs::single_lane() {
                // Negative control: one lane for everyone.
                self.start_lane(LANE_ALL);
                return;
            }
            for &o in owners.iter().take(n) {
                self.start_lane(o);
            }
        });
    }

    /// Starts the writeback lane of `owner` unless it runs already: a work
    /// item of its own, or inline if none could be queued.
    pub(super) fn start_lane(self: &Arc<Self>, owner: u32) {
        if !self.background.claim(owner) {
            return;
        }
        let me = self.clone();
        let queued = self
            .queue
            .with(|wq| {
                // Under a spinlock: the work item is allocated without
                // sleeping.
                wq.queue()
                    .try_spawn(GFP_NOWAIT | __GFP_NOWARN, move || me.run_lane(owner))
                    .is_ok()
            })
            .unwrap_or(false);
        if !queued && !self.background_stopped() {
            self.clone().run_lane(owner);
        } else if !queued {
            self.background.release(owner);
        }
    }

    /// One owner's writeback lane: writes back that owner's due blocks
    /// until none are left, background writeback has nothing more to do,
    /// or the target is suspended.
    pub(super) fn run_lane(self: Arc<Self>, owner: u32) {
        memalloc::noio(|| {
            while !self.background_stopped() {
                let Some(sel) = self.background_select() else {
                    break;
                };
                let mut progress = false;
                let only = (owner != LANE_ALL).then_some(owner);
                for si in 0..self.nshards() {
                    if self.background_stopped() {
                        break;
                    }
                    let r = self.writeback_shard(si, sel, only);
                    progress |= r.written > 0;
                }
                if !progress {
                    break;
                }
            }
        });
        self.background.release(owner);
    }

    /// Stops background writeback for a suspend (invariant B): no
    /// writeback lane runs after this returns, and the timer does no I/O,
    /// until [`Inner::resume_background`]. (The timer keeps ticking: a
    /// suspended target gives clean memory back to a starving sibling.)
    pub(crate) fn quiesce(&self) {
        self.queue.set_suspended();
        // Runs a pending timer now; it sees `suspended` and writes nothing
        // (its next ticks neither). Then the kicked writeback, which may
        // have passed its check before the flag was set, and the lanes.
        dm::flush_delayed_work(&self.wb_timer);
        dm::flush_work(&self.wb_now);
        self.background.wait_idle();
        // A suspended target asks nothing of the budget.
        self.share.set_starving(false);
    }

    /// Restarts background writeback after a suspend.
    pub(crate) fn resume_background(self: &Arc<Self>) {
        self.queue.clear_suspended();
        self.arm_timer();
    }

    /// Test-only (`test_noflush_keeps_dirty`): a suspend that stops
    /// background work and writes nothing back.
    pub(crate) fn suspend_without_writeback(&self) {
        self.quiesce();
    }

    /// The suspend's writeback (invariant F): everything dirty goes to the
    /// origin before the table can be replaced. Returns how many dirty
    /// blocks are left (0 on success, and also when every block was
    /// written but the origin flush failed: then `Err(0)`; a failed
    /// writeback leaves its blocks dirty, so `Err(n)` has `n > 0`).
    pub(crate) fn suspend_writeback(&self) -> Result<(), u64> {
        self.quiesce();
        let r = self.flush_all();
        let left = self.shards.dirty_blocks();
        self.stats.store(Field::UnwrittenAtSuspend, left);
        match r {
            Ok(()) => Ok(()),
            Err(_) => Err(left),
        }
    }
}
