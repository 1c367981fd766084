// SPDX-License-Identifier: GPL-2.0

//! The `dmsetup status` line.
//!
//! Fields are space separated, in a fixed order that only ever grows at the
//! end (scripts parse them by position). `Documentation/bufcache.rst`
//! describes each field; [`FIELDS`] names them in order.

use core::fmt;

use super::table::Mode;

/// Names of the status fields, in order (also the documentation's order).
pub const FIELDS: [&str; 41] = [
    "blocks_cached",
    "dirty_blocks",
    "bytes_used",
    "cap_bytes",
    "read_hits",
    "read_misses",
    "write_hits",
    "write_misses",
    "writebacks",
    "evictions",
    "readahead",
    "errors",
    "mode",
    "writeback_bios",
    "writeback_errors",
    "fill_errors",
    "flushes",
    "discards",
    "writing_blocks",
    "full_waits",
    "shrink_scans",
    "shrink_freed",
    "shrink_skip_gfp",
    "shrink_skip_lock",
    "reserve_in_use",
    "blocking_allocs",
    "shrink_scans_nofs",
    "shrink_scans_noio",
    "scope_captured",
    "scope_replayed",
    "cg_entries",
    "cg_found",
    "cg_created_locked",
    "cg_created_trylock",
    "cg_trylock_contended",
    "cg_atomic_failed",
    "cg_deferred",
    "cg_root_fallback",
    "nowait_again",
    "noslot_errors",
    "unwritten_at_suspend",
];

/// Everything the status line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Blocks in the cache (any state).
    pub blocks_cached: u64,
    /// Dirty blocks (including ones rewritten while being written back).
    pub dirty_blocks: u64,
    /// Bytes of block memory the target holds (cached, free and reserve).
    pub bytes_used: u64,
    /// The target's current cap in bytes.
    pub cap_bytes: u64,
    /// Reads served from the cache.
    pub read_hits: u64,
    /// Reads that needed a fill from the origin.
    pub read_misses: u64,
    /// Writes to a block already cached.
    pub write_hits: u64,
    /// Writes to a block not cached.
    pub write_misses: u64,
    /// Blocks written back to the origin.
    pub writebacks: u64,
    /// Clean blocks evicted to make room or free memory.
    pub evictions: u64,
    /// Blocks read ahead.
    pub readahead: u64,
    /// I/O errors from the origin (fills and writebacks).
    pub errors: u64,
    /// Current mode.
    pub mode: Mode,
    /// Writeback bios issued (fewer than `writebacks` when merged).
    pub writeback_bios: u64,
    /// Failed block writebacks (the block stays dirty and is retried).
    pub writeback_errors: u64,
    /// Failed fills (the read fails, nothing is cached).
    pub fill_errors: u64,
    /// Flush requests handled (REQ_PREFLUSH bios and `flush` messages).
    pub flushes: u64,
    /// Discard bios handled.
    pub discards: u64,
    /// Blocks being written back right now.
    pub writing_blocks: u64,
    /// Times an allocation had to wait for writeback because the cache was
    /// full of dirty or busy blocks.
    pub full_waits: u64,
    /// Shrinker scans (calls of `scan_objects`).
    pub shrink_scans: u64,
    /// Buffers the shrinker freed (or returned to the reserve).
    pub shrink_freed: u64,
    /// Scans that found dirty data but whose gfp mask forbade starting
    /// writeback (no `__GFP_FS` or no `__GFP_IO`).
    pub shrink_skip_gfp: u64,
    /// Shards skipped by a scan because their lock was taken.
    pub shrink_skip_lock: u64,
    /// Reserve buffers currently in use.
    pub reserve_in_use: u64,
    /// Blocking (`GFP_NOIO`) buffer allocations.
    pub blocking_allocs: u64,
    /// Scans from a context with `__GFP_IO` but without `__GFP_FS` (NOFS).
    pub shrink_scans_nofs: u64,
    /// Scans from a context without `__GFP_IO` (NOIO).
    pub shrink_scans_noio: u64,
    /// Deferred bios whose submitter ran in a NOIO or NOFS scope.
    pub scope_captured: u64,
    /// Of those, bios whose worker ran with that scope re-applied.
    pub scope_replayed: u64,
    /// cgroup association entries (besides the root's).
    pub cg_entries: u64,
    /// Associations that found an existing entry.
    pub cg_found: u64,
    /// Entries created under the mutex in sleepable context.
    pub cg_created_locked: u64,
    /// Entries created under `try_lock` with `GFP_ATOMIC`.
    pub cg_created_trylock: u64,
    /// Non-blocking associations that found the mutex taken.
    pub cg_trylock_contended: u64,
    /// Non-blocking associations whose `GFP_ATOMIC` allocation failed.
    pub cg_atomic_failed: u64,
    /// Bios deferred to a worker because association would have blocked.
    pub cg_deferred: u64,
    /// I/O charged to the root cgroup because association failed.
    pub cg_root_fallback: u64,
    /// `REQ_NOWAIT` bios completed with "would block" (`BLK_STS_AGAIN`).
    pub nowait_again: u64,
    /// Requests that found no slot because their shard was full of dirty
    /// blocks the origin would not take (reads then bypassed the cache,
    /// writes failed with `EIO`).
    pub noslot_errors: u64,
    /// Dirty blocks the last suspend could not write back (0 when it
    /// succeeded); lost if the table is then replaced or removed.
    pub unwritten_at_suspend: u64,
}

impl Status {
    /// Writes the fields in order.
    pub fn format(&self, w: &mut impl fmt::Write) -> fmt::Result {
        write!(
            w,
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} \
             {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.blocks_cached,
            self.dirty_blocks,
            self.bytes_used,
            self.cap_bytes,
            self.read_hits,
            self.read_misses,
            self.write_hits,
            self.write_misses,
            self.writebacks,
            self.evictions,
            self.readahead,
            self.errors,
            self.mode.name(),
            self.writeback_bios,
            self.writeback_errors,
            self.fill_errors,
            self.flushes,
            self.discards,
            self.writing_blocks,
            self.full_waits,
            self.shrink_scans,
            self.shrink_freed,
            self.shrink_skip_gfp,
            self.shrink_skip_lock,
            self.reserve_in_use,
            self.blocking_allocs,
            self.shrink_scans_nofs,
            self.shrink_scans_noio,
            self.scope_captured,
            self.scope_replayed,
            self.cg_entries,
            self.cg_found,
            self.cg_created_locked,
            self.cg_created_trylock,
            self.cg_trylock_contended,
            self.cg_atomic_failed,
            self.cg_deferred,
            self.cg_root_fallback,
            self.nowait_again,
            self.noslot_errors,
            self.unwritten_at_suspend,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_count_matches_names() {
        let s = Status {
            blocks_cached: 1,
            dirty_blocks: 2,
            bytes_used: 3,
            cap_bytes: 4,
            read_hits: 5,
            read_misses: 6,
            write_hits: 7,
            write_misses: 8,
            writebacks: 9,
            evictions: 10,
            readahead: 11,
            errors: 12,
            mode: Mode::Writethrough,
            writeback_bios: 14,
            writeback_errors: 15,
            fill_errors: 16,
            flushes: 17,
            discards: 18,
            writing_blocks: 19,
            full_waits: 20,
            shrink_scans: 21,
            shrink_freed: 22,
            shrink_skip_gfp: 23,
            shrink_skip_lock: 24,
            reserve_in_use: 25,
            blocking_allocs: 26,
            shrink_scans_nofs: 27,
            shrink_scans_noio: 28,
            scope_captured: 29,
            scope_replayed: 30,
            cg_entries: 31,
            cg_found: 32,
            cg_created_locked: 33,
            cg_created_trylock: 34,
            cg_trylock_contended: 35,
            cg_atomic_failed: 36,
            cg_deferred: 37,
            cg_root_fallback: 38,
            nowait_again: 39,
            noslot_errors: 40,
            unwritten_at_suspend: 41,
        };
        let mut out = String::new();
        s.format(&mut out).unwrap();
        let words: Vec<&str> = out.split(' ').collect();
        assert_eq!(words.len(), FIELDS.len());
        assert_eq!(
            words[FIELDS.iter().position(|f| *f == "mode").unwrap()],
            "writethrough"
        );
        for (i, w) in words.iter().enumerate() {
            if FIELDS[i] != "mode" {
                assert_eq!(w.parse::<usize>().unwrap(), i + 1, "{}", FIELDS[i]);
            }
        }
    }
}
