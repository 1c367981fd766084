// SPDX-License-Identifier: GPL-2.0

//! Counters of the status line, indexed by [`Field`]: the field table in
//! `cache::status` names and orders them, and says which ones
//! `clear_stats` resets. The engine keeps the target's counters here, the
//! cgroup table its association counters; each updates only the fields of
//! its own [`Source`].

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

use crate::cache::status::{Field, Source};

/// One atomic counter per status field (fields that are not counters stay
/// 0).
pub(crate) struct Counters {
    c: [Atomic<u64>; Field::COUNT],
}

impl Counters {
    /// All zero, initialised in place (a value of this size would be built
    /// on the constructor's stack first).
    pub(crate) fn init() -> impl Init<Self> {
        init!(Self {
            c <- pin_init::init_array_from_fn(|_| Atomic::new(0)),
        })
    }

    /// Counts one event.
    pub(crate) fn inc(&self, f: Field) {
        self.add(f, 1);
    }

    /// Counts `n` events.
    pub(crate) fn add(&self, f: Field, n: u64) {
        self.c[f.index()].add(n, Relaxed);
    }

    /// Sets a value (for fields that are not event counts).
    pub(crate) fn store(&self, f: Field, v: u64) {
        self.c[f.index()].store(v, Relaxed);
    }

    pub(crate) fn get(&self, f: Field) -> u64 {
        self.c[f.index()].load(Relaxed)
    }

    /// Resets the counters that `clear_stats` resets ([`Source::Counter`]).
    pub(crate) fn clear(&self) {
        for f in Field::ALL {
            if f.source() == Source::Counter {
                self.store(f, 0);
            }
        }
    }
}
