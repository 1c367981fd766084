// SPDX-License-Identifier: GPL-2.0

//! The target's settings, in one place: the options of the table line and
//! of the messages that change them, and the cap in effect. The table line
//! prints them, the messages change them (through the setters below), and
//! `map` and the workers read them.

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, Mutex};

use crate::cache::table::{for_each_option, Mode, OptValue, Options};

use super::super::budget;
use super::Inner;

/// Defines [`Mirrors`] and the readers of [`Settings`] from the option
/// table (`for_each_option!` in `rust/cache/table.rs`): one atomic per
/// option, and a reader named after it, but for the options the table
/// marks `unmirrored` (whose live value the engine keeps elsewhere). A
/// reader nothing calls is a dead-code warning.
macro_rules! mirrors {
    // An option the table marks `unmirrored`: left out.
    (@pick [$($m:tt)*]
     [$(#[doc = $doc:literal])* $field:ident: $ty:ty, unmirrored $why:literal]
     $($rest:tt)*) => {
        mirrors!(@pick [$($m)*] $($rest)*);
    };
    // Any other: mirrored.
    (@pick [$($m:tt)*] [$(#[doc = $doc:literal])* $field:ident: $ty:ty] $($rest:tt)*) => {
        mirrors!(@pick [$($m)* [$(#[doc = $doc])* $field: $ty]] $($rest)*);
    };
    // The mirrored options.
    (@pick [$([$(#[doc = $doc:literal])* $field:ident: $ty:ty])*]) => {
        /// The options' values for the paths that read them on every bio:
        /// one `Atomic<u64>` per mirrored option ([`OptValue::to_bits`]).
        /// Relaxed, written under `Settings::opts`.
        struct Mirrors {
            $($field: Atomic<u64>,)*
        }

        impl Mirrors {
            fn new(o: &Options) -> Self {
                Self {
                    $($field: Atomic::new(o.$field.to_bits()),)*
                }
            }

            fn store(&self, o: &Options) {
                $(self.$field.store(o.$field.to_bits(), Relaxed);)*
            }
        }

        impl Settings {
            $($(#[doc = $doc])*
            pub(super) fn $field(&self) -> $ty {
                <$ty>::from_bits(self.mirrors.$field.load(Relaxed))
            })*
        }
    };
    // The option table.
    ($($(#[doc = $doc:literal])*
       $var:ident $field:ident: $ty:ty = $default:expr, $syntax:literal, $parse:expr
       $(, error $err:literal)? $(, message $msg:literal)?
       $(, unmirrored $why:literal)?;)*) => {
        mirrors!(@pick [] $([$(#[doc = $doc])* $field: $ty $(, unmirrored $why)?])*);
    };
}

for_each_option!(mirrors);

/// One target's settings.
///
/// # Invariants
///
/// `opts` is the source of truth: the options as the table and messages set
/// them, with which ones were given explicitly (the table line prints
/// those). `mirrors` mirror its values for the paths that read them on
/// every bio; they are written only by [`Settings::update`], under the
/// `opts` lock, together with `opts`. `cap_bytes` follows the cap in
/// effect (`Inner::set_cap`); changes of the cap are serialised by
/// `resizing`. `capacity_blocks` is fixed at construction, and the cap in
/// effect never exceeds it.
#[pin_data]
pub(crate) struct Settings {
    /// The source of truth (mutex `bufcache:opts`).
    #[pin]
    opts: Mutex<Options>,
    /// Held by a `cache_size` message from its new cap to its outcome
    /// (recorded, or the old cap restored): DM does not serialise
    /// messages, and a failing one must not restore its old cap over
    /// another's new one.
    #[pin]
    resizing: Mutex<()>,
    /// Mirrors of `opts`' values (Relaxed, written under `opts`); read
    /// through the readers named after the options. `cache_size` has
    /// none (the option table marks it `unmirrored`): `cap_bytes` is what
    /// the engine reads.
    mirrors: Mirrors,
    /// The cap in effect in bytes: the `cache_size` option (or the module
    /// budget) clamped to the target's capacity, in whole blocks. Relaxed;
    /// changes serialised by `resizing` (or at construction).
    cap_bytes: Atomic<u64>,
    /// Capacity of all shards together, in blocks (the most the cap can be
    /// raised to without a table reload). Fixed at construction.
    capacity_blocks: u64,
}

impl Settings {
    pub(super) fn new(o: Options, capacity_blocks: u64) -> impl PinInit<Self> {
        pin_init!(Self {
            opts <- new_mutex!(o, "bufcache:opts"),
            resizing <- new_mutex!((), "bufcache:resizing"),
            mirrors: Mirrors::new(&o),
            cap_bytes: Atomic::new(0),
            capacity_blocks,
        })
    }

    /// The options as the table line prints them.
    pub(super) fn options(&self) -> Options {
        *self.opts.lock()
    }

    pub(super) fn cap_bytes(&self) -> u64 {
        self.cap_bytes.load(Relaxed)
    }

    /// The most the cap can be raised to without a table reload, in blocks.
    fn capacity_blocks(&self) -> u64 {
        self.capacity_blocks
    }

    /// Changes options (a message): `f` sets them, and marks them given,
    /// under the `opts` lock; the mirrors follow.
    fn update(&self, f: impl FnOnce(&mut Options)) {
        let mut o = self.opts.lock();
        f(&mut o);
        self.mirrors.store(&o);
    }

    fn set_cap_bytes(&self, bytes: u64) {
        self.cap_bytes.store(bytes, Relaxed);
    }
}

/// The most a shard's cap drops in one hold of its lock (each block of
/// drop demotes at most one protected block: see `Shard::set_cap`).
const CAP_STEP: u32 = 1024;

impl Inner {
    /// The options as the table line prints them.
    pub(crate) fn options(&self) -> Options {
        self.settings.options()
    }

    pub(crate) fn mode(&self) -> Mode {
        self.settings.mode()
    }

    /// The cap in effect, in bytes (`cache_size`, or the budget at load).
    pub(super) fn cap_bytes(&self) -> u64 {
        self.settings.cap_bytes()
    }

    /// The most the target can hold, in bytes: its cap, within the module
    /// budget as it is now (`max_cache_size_bytes` can change at run time).
    /// The status line's `cap_bytes`; the watermarks are shares of it.
    pub(super) fn effective_cap_bytes(&self) -> u64 {
        self.cap_bytes().min(budget::budget())
    }

    /// [`Inner::effective_cap_bytes`] in blocks.
    pub(super) fn cap_blocks(&self) -> u64 {
        self.effective_cap_bytes() >> self.layout.block_size.trailing_zeros()
    }

    /// Largest cap in bytes that needs no table reload.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.settings.capacity_blocks() * u64::from(self.layout.block_size)
    }

    /// Sets shard `si`'s cap. A smaller cap demotes protected blocks over
    /// the new bound (list moves under the shard lock): a large drop goes
    /// in steps of [`CAP_STEP`] blocks, the lock dropped between steps, so
    /// that no single hold of the spinlock is long.
    fn set_shard_cap(&self, si: usize, cap: u32) {
        loop {
            let mut g = self.shards.lock(si);
            let cur = g.meta.cap();
            if cur <= cap.saturating_add(CAP_STEP) {
                g.meta.set_cap(cap);
                return;
            }
            g.meta.set_cap(cur - CAP_STEP);
        }
    }

    /// Sets the cap in bytes (clamped to the capacity) and spreads it over
    /// the shards, minus the reserve; returns the cap set, in bytes.
    pub(super) fn set_cap(&self, cap_bytes: u64) -> u64 {
        let bs = u64::from(self.layout.block_size);
        let cap_blocks = (cap_bytes >> self.layout.block_size.trailing_zeros())
            .min(self.settings.capacity_blocks());
        let n = self.nshards() as u64;
        // Every shard holds at least one block: a shard with no slot could
        // never serve a miss (its bios would wait for ever). The smallest
        // cap (16 blocks) can be below shards plus reserve; the cap is then
        // exceeded by at most a block per shard.
        let usable = cap_blocks
            .saturating_sub(self.share.reserve_target() as u64)
            .max(n);
        for i in 0..self.nshards() {
            let share = usable.checked_div(n).unwrap_or(0)
                + u64::from((i as u64) < usable.checked_rem(n).unwrap_or(0));
            self.set_shard_cap(i, share as u32);
        }
        self.settings.set_cap_bytes(cap_blocks * bs);
        cap_blocks * bs
    }

    /// The `cache_size` message: applies the new cap ([`Inner::resize`]),
    /// then records it as an explicit option. If the cache cannot get
    /// under a smaller cap (dirty blocks that cannot be written back), the
    /// old cap is restored and `EBUSY` returned: the cap in the status line
    /// and the table line's `cache_size` never disagree.
    // Cold (a message): kept out of the message handler's frame.
    #[inline(never)]
    pub(crate) fn set_cache_size(&self, bytes: u64) -> Result {
        let _resizing = self.settings.resizing.lock();
        let old = self.cap_bytes();
        if let Err(e) = self.resize(bytes) {
            self.set_cap(old);
            return Err(e);
        }
        self.settings.update(|o| {
            o.cache_size = bytes;
            o.given.cache_size = true;
        });
        Ok(())
    }

    /// Sets the mode; switching to writethrough writes back first.
    // Out of line, for the message handler's frame (scripts/stack-frames.sh).
    #[inline(never)]
    pub(crate) fn set_mode(&self, m: Mode) -> Result {
        self.settings.update(|o| {
            o.mode = m;
            o.given.mode = true;
        });
        if m == Mode::Writethrough {
            self.flush_all()?;
        }
        Ok(())
    }

    /// Sets the watermarks.
    pub(crate) fn set_watermarks(self: &Arc<Self>, high: u8, low: u8) {
        self.settings.update(|o| {
            o.high_watermark = high;
            o.low_watermark = low;
            o.given.high_watermark = true;
            o.given.low_watermark = true;
        });
        self.after_dirtying();
    }

    /// Whether dirty data is at or above the high watermark.
    pub(super) fn above_high_watermark(&self) -> bool {
        self.shards.dirty_blocks() * 100
            >= u64::from(self.settings.high_watermark()) * self.cap_blocks()
    }

    /// Whether dirty data is at or above the low watermark.
    pub(super) fn above_low_watermark(&self) -> bool {
        self.shards.dirty_blocks() * 100
            >= u64::from(self.settings.low_watermark()) * self.cap_blocks()
    }
}
