// SPDX-License-Identifier: GPL-2.0

//! The `dmsetup status` line.
//!
//! Fields are space separated, in a fixed order that only ever grows at the
//! end (scripts parse them by position). `Documentation/bufcache.rst`
//! describes each field. The table in this file is the one place that
//! names them: it defines [`Field`] (the order), each field's name and its
//! [`Source`] (who keeps the value, and whether `clear_stats` resets it).
//! The status line, `clear_stats`, the counters of the kernel side and the
//! documentation checks all come from it.

use core::fmt;

use super::table::Mode;

/// Where the value of a status field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cache's state when the status is taken (never reset).
    State,
    /// An event counter of the target, reset by `clear_stats`.
    Counter,
    /// A sum of counters (so it is reset with them).
    Sum,
    /// A value kept by the target that `clear_stats` leaves alone.
    Kept,
    /// A counter of the target's cgroup association table (never reset).
    Cgroup,
}

impl Source {
    /// Whether `clear_stats` resets fields from this source.
    pub const fn cleared(self) -> bool {
        matches!(self, Source::Counter | Source::Sum)
    }
}

/// Defines [`Field`] from the table below: one variant per status field, in
/// status line order, with its name and [`Source`].
macro_rules! status_fields {
    ($($(#[doc = $doc:literal])* $field:ident = $name:literal, $src:ident;)*) => {
        /// A field of the status line, in the line's order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Field {
            $($(#[doc = $doc])* $field,)*
        }

        impl Field {
            /// Number of fields.
            pub const COUNT: usize = [$($name),*].len();
            /// Every field, in order.
            pub const ALL: [Field; Field::COUNT] = [$(Field::$field),*];
            /// The fields' names, in order (also the documentation's).
            pub const NAMES: [&'static str; Field::COUNT] = [$($name),*];
            const SOURCES: [Source; Field::COUNT] = [$(Source::$src),*];
        }
    };
}

status_fields! {
    /// Blocks in the cache (any state).
    BlocksCached = "blocks_cached", State;
    /// Dirty blocks (including ones rewritten while being written back).
    DirtyBlocks = "dirty_blocks", State;
    /// Bytes of block memory the target holds (cached, free and reserve).
    BytesUsed = "bytes_used", State;
    /// The most the target can hold now, in bytes: its cap (`cache_size`,
    /// or the module budget at load), within the module budget.
    CapBytes = "cap_bytes", State;
    /// Reads served from the cache.
    ReadHits = "read_hits", Counter;
    /// Reads that needed a fill from the origin.
    ReadMisses = "read_misses", Counter;
    /// Writes to a block already cached.
    WriteHits = "write_hits", Counter;
    /// Writes to a block not cached.
    WriteMisses = "write_misses", Counter;
    /// Blocks written back to the origin.
    Writebacks = "writebacks", Counter;
    /// Clean blocks evicted to make room or free memory.
    Evictions = "evictions", Counter;
    /// Blocks read ahead.
    Readahead = "readahead", Counter;
    /// I/O errors from the origin (fills and writebacks).
    Errors = "errors", Sum;
    /// Current mode (printed by name).
    Mode = "mode", State;
    /// Writeback bios issued (fewer than `writebacks` when merged).
    WritebackBios = "writeback_bios", Counter;
    /// Failed block writebacks (the block stays dirty and is retried).
    WritebackErrors = "writeback_errors", Counter;
    /// Failed fills (the read fails, nothing is cached).
    FillErrors = "fill_errors", Counter;
    /// Flush requests handled (REQ_PREFLUSH bios and `flush` messages).
    Flushes = "flushes", Counter;
    /// Discard bios handled.
    Discards = "discards", Counter;
    /// Blocks being written back right now.
    WritingBlocks = "writing_blocks", State;
    /// Times an allocation had to wait for writeback because the cache was
    /// full of dirty or busy blocks.
    FullWaits = "full_waits", Counter;
    /// Shrinker scans (calls of `scan_objects`).
    ShrinkScans = "shrink_scans", Counter;
    /// Buffers the shrinker freed (or returned to the reserve).
    ShrinkFreed = "shrink_freed", Counter;
    /// Scans that found dirty data but whose gfp mask forbade starting
    /// writeback (no `__GFP_FS` or no `__GFP_IO`).
    ShrinkSkipGfp = "shrink_skip_gfp", Counter;
    /// Shards skipped by a scan because their lock was taken.
    ShrinkSkipLock = "shrink_skip_lock", Counter;
    /// Reserve buffers currently in use.
    ReserveInUse = "reserve_in_use", State;
    /// Blocking (`GFP_NOIO`) buffer allocations.
    BlockingAllocs = "blocking_allocs", Counter;
    /// Scans from a context with `__GFP_IO` but without `__GFP_FS` (NOFS).
    ShrinkScansNofs = "shrink_scans_nofs", Counter;
    /// Scans from a context without `__GFP_IO` (NOIO).
    ShrinkScansNoio = "shrink_scans_noio", Counter;
    /// Deferred bios whose submitter ran in a NOIO or NOFS scope.
    ScopeCaptured = "scope_captured", Counter;
    /// Of those, bios whose worker ran with that scope re-applied.
    ScopeReplayed = "scope_replayed", Counter;
    /// cgroup association entries (besides the root's).
    CgEntries = "cg_entries", State;
    /// Associations that found an existing entry.
    CgFound = "cg_found", Cgroup;
    /// Entries created under the mutex in sleepable context.
    CgCreatedLocked = "cg_created_locked", Cgroup;
    /// Entries created under `try_lock` with `GFP_ATOMIC`.
    CgCreatedTrylock = "cg_created_trylock", Cgroup;
    /// Non-blocking associations that found the mutex taken.
    CgTrylockContended = "cg_trylock_contended", Cgroup;
    /// Non-blocking associations whose `GFP_ATOMIC` allocation failed.
    CgAtomicFailed = "cg_atomic_failed", Cgroup;
    /// Bios deferred to a worker because association would have blocked.
    CgDeferred = "cg_deferred", Cgroup;
    /// I/O charged to the root cgroup because association failed.
    CgRootFallback = "cg_root_fallback", Cgroup;
    /// `REQ_NOWAIT` bios completed with "would block" (`BLK_STS_AGAIN`).
    NowaitAgain = "nowait_again", Cgroup;
    /// Requests that found no slot because their shard was full of dirty
    /// blocks the origin would not take (reads then bypassed the cache,
    /// writes failed with `EIO`).
    NoslotErrors = "noslot_errors", Counter;
    /// Dirty blocks the last suspend could not write back (0 when it
    /// succeeded); lost if the table is then replaced or removed.
    UnwrittenAtSuspend = "unwritten_at_suspend", Kept;
    /// Writeback rounds that ran in one of the target's spare rounds
    /// because their own could not be allocated (memory pressure).
    SpareRounds = "spare_rounds", Counter;
    /// Reads of a sequential stream past `sequential_cutoff` sent to the
    /// origin whole, uncached.
    BypassedReads = "bypassed_reads", Counter;
    /// Bios that `map` sends to the origin itself (bypassed reads) whose
    /// non-blocking cgroup association failed (no blkg yet, or the kernel
    /// has no non-blocking association): deferred to a worker, or
    /// completed with "would block" (`REQ_NOWAIT`). Never charged to root.
    AssocAgain = "assoc_again", Cgroup;
    /// Writes of a sequential stream past `sequential_cutoff` sent to the
    /// origin whole, uncached (write-around), that completed.
    BypassedWrites = "bypassed_writes", Counter;
    /// Times a worker had to wait for a write-around of the block it was
    /// about to fill or write (see the engine's `fence`).
    FenceWaits = "fence_waits", Counter;
    /// Times a flush, a FUA or a writethrough write waited because a block
    /// it must see on the origin was being written back by someone else
    /// (or pinned by a writer).
    DurableWaits = "durable_waits", Counter;
}

impl Field {
    /// The field's position in the line (from 0).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The field's name (as documented).
    pub const fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// Who keeps the field's value.
    pub const fn source(self) -> Source {
        Self::SOURCES[self.index()]
    }
}

/// Everything the status line reports: a value per [`Field`], and the mode
/// (the one field printed as a word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    values: [u64; Field::COUNT],
    /// Current mode.
    pub mode: Mode,
}

impl Status {
    /// A status with every value 0.
    pub const fn new(mode: Mode) -> Self {
        Self {
            values: [0; Field::COUNT],
            mode,
        }
    }

    /// The value of `f` (0 for [`Field::Mode`]).
    pub fn get(&self, f: Field) -> u64 {
        self.values[f.index()]
    }

    /// Sets the value of `f`.
    pub fn set(&mut self, f: Field, v: u64) {
        self.values[f.index()] = v;
    }

    /// Writes the fields in order, separated by single spaces.
    #[inline(never)]
    pub fn format(&self, w: &mut impl fmt::Write) -> fmt::Result {
        for (i, &f) in Field::ALL.iter().enumerate() {
            if i > 0 {
                w.write_char(' ')?;
            }
            if f == Field::Mode {
                w.write_str(self.mode.name())?;
            } else {
                write!(w, "{}", self.values[i])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field `i` (from 0) set to `i + 1`, the mode writethrough.
    fn numbered() -> Status {
        let mut s = Status::new(Mode::Writethrough);
        for (i, &f) in Field::ALL.iter().enumerate() {
            s.set(f, i as u64 + 1);
        }
        s
    }

    #[test]
    fn field_count_matches_names() {
        let mut out = String::new();
        numbered().format(&mut out).unwrap();
        let words: Vec<&str> = out.split(' ').collect();
        assert_eq!(words.len(), Field::COUNT);
        assert_eq!(words[Field::Mode.index()], "writethrough");
        for (i, w) in words.iter().enumerate() {
            if Field::ALL[i] != Field::Mode {
                assert_eq!(w.parse::<usize>().unwrap(), i + 1, "{}", Field::NAMES[i]);
            }
        }
    }

    /// The line as the hand-written format printed it before the table.
    #[test]
    fn line_is_unchanged() {
        let mut out = String::new();
        numbered().format(&mut out).unwrap();
        assert_eq!(
            out,
            "1 2 3 4 5 6 7 8 9 10 11 12 writethrough 14 15 16 17 18 19 20 \
             21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47"
        );
    }

    #[test]
    fn names_and_sources_line_up() {
        assert_eq!(Field::COUNT, 47);
        for (i, &f) in Field::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
            assert_eq!(f.name(), Field::NAMES[i]);
        }
        assert_eq!(Field::Mode.name(), "mode");
        assert_eq!(Field::UnwrittenAtSuspend.source(), Source::Kept);
    }
}
