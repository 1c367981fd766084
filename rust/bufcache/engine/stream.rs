// SPDX-License-Identifier: GPL-2.0

//! Sequential read streams and their bypass of the cache.
//!
//! DM hands `map` bios of up to [`MAX_IO_SECTORS`]. A write, or a read that
//! stays in the cache, keeps only the part within its first block
//! (`dm_accept_partial_bio`; DM maps the rest as a new bio). Reads that
//! continue one another form a stream; once a stream has run
//! `sequential_cutoff` bytes (bcache's knob, same default), the run of
//! uncached blocks at the start of each of its bios (at least two) goes to
//! the origin as one bio, uncached. A large sequential read then costs the
//! origin's time, not one fill per block, and it does not evict what the
//! cache holds. Cached blocks of a stream are still served by the cache.
//!
//! # Correctness
//!
//! A bypassed read covers only blocks that were not in the cache when
//! `map` looked (a block being filled or written back is in the cache).
//! The origin holds the latest acknowledged write of every block not in
//! the cache (invariant E of [`super::writeback`]). A write acknowledged
//! before the read was submitted is therefore either found in the cache,
//! which stops the bypass at that block, or on the origin. A write that
//! lands after the look is concurrent with the read, which may return the
//! old or the new data, as from any block device.
//!
//! One stream per target: interleaved streams restart each other's run, so
//! they stay in the cache (the conservative side).

use kernel::sync::atomic::Relaxed;

use crate::dm;

use super::super::knobs;
use super::Inner;

/// Largest bio DM hands to `map` (`max_io_len`): 1 MiB, or one block if
/// larger. Bios never cross a multiple of it (from the target's start);
/// they do cross block boundaries, and may start inside a block.
pub(crate) const MAX_IO_SECTORS: u32 = 2048;

/// What `map` does with a read or write with data.
pub(crate) struct Plan {
    /// Sectors to keep in this bio (DM maps the rest as a new bio).
    pub(crate) keep: u32,
    /// The kept part goes to the origin, uncached.
    pub(crate) bypass: bool,
}

impl Inner {
    /// Sectors from `sector` (relative to the target) to the end of its
    /// block.
    fn to_block_end(&self, sector: u64) -> u64 {
        let spb = 1u64 << self.shift;
        spb - (sector & (spb - 1))
    }

    /// Decides, in `map`, how much of a bio of `size` bytes at `sector`
    /// (of the mapped device) to keep and whether that part bypasses the
    /// cache (reads only; see the module documentation). Never sleeps.
    ///
    /// A `REQ_NOWAIT` bio that would stay in the cache leaves the stream as
    /// it is: it may complete with "would block", and the submitter then
    /// retries without `REQ_NOWAIT` from the same place, which must still
    /// continue the stream. One that bypasses advances it, and remembers
    /// where it started, so that its retry (after "would block" from `map`
    /// or from the origin, which may refuse to split a `REQ_NOWAIT` bio)
    /// continues the stream too.
    pub(crate) fn plan(&self, sector: u64, size: u32, read: bool, nowait: bool) -> Plan {
        let rel = sector - self.begin;
        let sectors = u64::from(size >> dm::SECTOR_SHIFT);
        let first = sectors.min(self.to_block_end(rel));
        let cutoff = self.settings.sequential_cutoff();
        if !read || cutoff == 0 {
            return Plan {
                keep: first as u32,
                bypass: false,
            };
        }
        // A read where the stream's last bio ended continues it; so does
        // the retry of its last `REQ_NOWAIT` bypass, which may have
        // completed with "would block" (here, or from the origin).
        let run = if self.seq_next.load(Relaxed) == rel || self.seq_retry.load(Relaxed) == rel {
            self.seq_run.load(Relaxed)
        } else {
            0
        };
        let mut keep = first;
        let mut bypass = false;
        if run >= cutoff && sectors > first {
            let (b0, _) = self.locate(rel);
            let (last, _) = self.locate(rel + sectors - 1);
            let mut b = b0;
            while b <= last && (knobs::bypass_cached() || !self.is_cached(b)) {
                b += 1;
            }
            // At least two blocks, so the workers tell a bypassed bio
            // from a cached one (which never leaves its first block).
            if b - b0 >= 2 {
                bypass = true;
                keep = if b > last {
                    sectors
                } else {
                    self.block_sector(b) - rel
                };
            }
        }
        // Racy with other readers by design: a lost update only restarts
        // a run (see the module documentation).
        if !nowait || bypass {
            self.seq_next.store(rel + keep, Relaxed);
            self.seq_run
                .store(run + (keep << dm::SECTOR_SHIFT), Relaxed);
            self.seq_retry
                .store(if nowait { rel } else { u64::MAX }, Relaxed);
        }
        Plan {
            keep: keep as u32,
            bypass,
        }
    }

    fn is_cached(&self, blk: u64) -> bool {
        self.lock_shard(self.shard_index(blk))
            .meta
            .lookup(blk)
            .is_some()
    }

    /// Whether a read bio at `rel` (relative to the target) of `size`
    /// bytes spans more than one block: `map` chose to bypass the cache
    /// for it ([`Inner::plan`]).
    pub(super) fn is_bypass(&self, rel: u64, size: u32) -> bool {
        u64::from(size >> dm::SECTOR_SHIFT) > self.to_block_end(rel)
    }
}
