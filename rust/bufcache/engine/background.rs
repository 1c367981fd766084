// SPDX-License-Identifier: GPL-2.0

//! Background writeback: the age timer and the high watermark start one
//! writeback lane per cgroup with dirty data due; suspend and shutdown stop
//! them (invariant B of [`super::writeback`]).

use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

use crate::cache::status::Field;
use crate::cache::table::Mode;
use crate::dm::{self, memalloc};

use super::super::knobs;
use super::writeback::{WbSelect, LANE_ALL, LANE_FREE, MAX_LANES};
use super::Inner;

impl Inner {
    /// What background writeback should write now, if anything: oldest
    /// first while dirty data is above the low watermark (it starts above
    /// the high one), else what is older than `max_age_ms`.
    pub(super) fn background_select(&self) -> Option<WbSelect> {
        if self.mode() == Mode::Writeback {
            let low = self.settings.low();
            if self.dirty_blocks() * 100 > low * self.cap_blocks() {
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
        self.dying.load(Relaxed) != 0 || self.suspended.load(Relaxed) != 0
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
            if self.now_ms() < self.wb_retry_at.load(Relaxed) {
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
                let g = self.lock_shard(si);
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
        {
            let mut lanes = self.lanes.lock();
            if lanes.contains(&owner) {
                return;
            }
            let Some(slot) = lanes.iter().position(|&l| l == LANE_FREE) else {
                return;
            };
            lanes[slot] = owner;
        }
        let me = self.clone();
        let queued = match self.wq.lock().as_ref() {
            // Under a spinlock: the work item is allocated without sleeping.
            Some(wq) => wq
                .queue()
                .try_spawn(GFP_NOWAIT | __GFP_NOWARN, move || me.run_lane(owner))
                .is_ok(),
            None => false,
        };
        if !queued && !self.background_stopped() {
            self.clone().run_lane(owner);
        } else if !queued {
            self.end_lane(owner);
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
        self.end_lane(owner);
    }

    pub(super) fn end_lane(&self, owner: u32) {
        let mut lanes = self.lanes.lock();
        if let Some(l) = lanes.iter_mut().find(|l| **l == owner) {
            *l = LANE_FREE;
        }
    }

    /// Waits until no writeback lane runs.
    pub(super) fn wait_lanes_idle(&self) {
        while self.lanes.lock().iter().any(|&l| l != LANE_FREE) {
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(5));
        }
    }

    /// Stops background writeback for a suspend (invariant B): no
    /// writeback lane runs after this returns, and the timer does no I/O,
    /// until [`Inner::resume_background`]. (The timer keeps ticking: a
    /// suspended target gives clean memory back to a starving sibling.)
    pub(crate) fn quiesce(&self) {
        {
            let _wq = self.wq.lock();
            self.suspended.store(1, Relaxed);
        }
        // Runs a pending timer now; it sees `suspended` and writes nothing
        // (its next ticks neither). Then the kicked writeback, which may
        // have passed its check before the flag was set, and the lanes.
        dm::flush_delayed_work(&self.wb_timer);
        dm::flush_work(&self.wb_now);
        self.wait_lanes_idle();
        // A suspended target asks nothing of the budget.
        self.set_starving(false);
    }

    /// Restarts background writeback after a suspend.
    pub(crate) fn resume_background(self: &Arc<Self>) {
        self.suspended.store(0, Relaxed);
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
        let left = self.dirty_blocks();
        self.stats.store(Field::UnwrittenAtSuspend, left);
        match r {
            Ok(()) => Ok(()),
            Err(_) => Err(left),
        }
    }
}
