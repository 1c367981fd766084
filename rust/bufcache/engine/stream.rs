// SPDX-License-Identifier: GPL-2.0

//! Sequential streams and their bypass of the cache: the engine's
//! side. The decision is [`crate::cache::stream::plan`] (host-tested); the
//! target keeps its stream in atomics and tells it which blocks are
//! cached. DM hands `map` bios of up to [`MAX_IO_SECTORS`].
//!
//! # Correctness
//!
//! A bypassed read covers only blocks that, when `map` looked, were not in
//! the cache or were in it clean ([`Inner::origin_current`]; a block
//! dirty, being filled or being written back stops the run). The origin
//! holds the latest acknowledged write of every block not in the cache
//! (invariant E of [`super::writeback`]), and the same data as a clean
//! copy: a block becomes clean only by a fill from the origin or by a
//! successful writeback with no write since, and a write makes it dirty
//! before it completes. A write acknowledged before the read was
//! submitted is therefore either found dirty in the cache, which stops
//! the bypass at that block, or on the origin. A write that lands after
//! the look is concurrent with the read, which may return the old or the
//! new data, as from any block device.
//!
//! A write-around likewise covers only blocks not in the cache when `map`
//! looked, after fencing them; see [`super::fence`] for why no block then
//! enters the cache with older data.

use kernel::sync::atomic::{Atomic, Relaxed};

use crate::cache::shard::State;
use crate::cache::stream::{self, Request, Stream};
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

/// The target's sequential streams: where the current read stream and
/// write stream continue, how far each has run, and where the read
/// stream's last `REQ_NOWAIT` bypass started.
///
/// # Invariants
///
/// Every field is a Relaxed atomic, read and written by `map` without a
/// lock: concurrent submitters may race on them, which is harmless by
/// design (see `crate::cache::stream`): a lost update only misjudges
/// whether the next bio continues a stream, never which blocks are
/// cached. The write stream has no retry (`stream::NONE`).
pub(super) struct Streams {
    /// The sector (relative to the target) where the current sequential
    /// read stream continues (`u64::MAX`: none). Relaxed, no lock.
    seq_next: Atomic<u64>,
    /// How many bytes the read stream has run. Relaxed, no lock.
    seq_run: Atomic<u64>,
    /// Where the stream's last `REQ_NOWAIT` bypass started (`u64::MAX`:
    /// none): its retry continues the stream. Relaxed, no lock.
    seq_retry: Atomic<u64>,
    /// The sequential write stream (never a retry): where it continues.
    /// Relaxed, no lock.
    wseq_next: Atomic<u64>,
    /// How many bytes the write stream has run. Relaxed, no lock.
    wseq_run: Atomic<u64>,
}

impl Streams {
    /// No stream yet.
    pub(super) fn new() -> Self {
        Self {
            seq_next: Atomic::new(u64::MAX),
            seq_run: Atomic::new(0),
            seq_retry: Atomic::new(u64::MAX),
            wseq_next: Atomic::new(u64::MAX),
            wseq_run: Atomic::new(0),
        }
    }

    /// The read (`read`) or write stream as it is now.
    fn load(&self, read: bool) -> Stream {
        let (next, run, retry) = self.fields(read);
        Stream {
            next: next.load(Relaxed),
            run: run.load(Relaxed),
            retry: if read {
                retry.load(Relaxed)
            } else {
                stream::NONE
            },
        }
    }

    /// Records where the read (`read`) or write stream goes on. Racy with
    /// other submitters by design (see `crate::cache::stream`).
    fn store(&self, read: bool, n: Stream) {
        let (next, run, retry) = self.fields(read);
        next.store(n.next, Relaxed);
        run.store(n.run, Relaxed);
        if read {
            retry.store(n.retry, Relaxed);
        }
    }

    fn fields(&self, read: bool) -> (&Atomic<u64>, &Atomic<u64>, &Atomic<u64>) {
        if read {
            (&self.seq_next, &self.seq_run, &self.seq_retry)
        } else {
            (&self.wseq_next, &self.wseq_run, &self.seq_retry)
        }
    }
}

impl Inner {
    /// Sectors from `sector` (relative to the target) to the end of its
    /// block.
    fn to_block_end(&self, sector: u64) -> u64 {
        let spb = 1u64 << self.layout.shift;
        spb - (sector & (spb - 1))
    }

    /// Decides, in `map`, how much of a bio of `size` bytes at `sector`
    /// (of the mapped device) to keep and whether that part bypasses the
    /// cache (see [`crate::cache::stream`]): a bypassed read, or a
    /// write-around, whose blocks it fences first (`super::fence`, F1).
    /// Never sleeps.
    pub(crate) fn plan(&self, sector: u64, size: u32, read: bool, nowait: bool) -> Plan {
        let st = self.streams.load(read);
        let req = Request {
            sector: sector - self.layout.begin,
            sectors: u64::from(size >> dm::SECTOR_SHIFT),
            read,
            nowait,
        };
        let cutoff = self.settings.sequential_cutoff();
        // A write-around's blocks are fenced before they are looked up
        // (`fence`, F1), on the first look.
        let mut fence: Option<Option<usize>> = None;
        let last = (req.sector + req.sectors - 1) >> self.layout.shift;
        let p = stream::plan(st, req, self.layout.shift, cutoff, |b| {
            if read {
                return knobs::bypass_cached() || self.origin_current(b);
            }
            let slot = *fence.get_or_insert_with(|| self.fences.take(b, last + 1));
            slot.is_some() && !self.is_cached(b)
        });
        if let Some(Some(i)) = fence {
            // Keep the fence on the blocks written around, if any.
            let end = if p.bypass {
                (req.sector + p.keep - 1) >> self.layout.shift
            } else {
                req.sector >> self.layout.shift
            };
            self.fences.trim(i, end + u64::from(p.bypass));
        }
        // Racy with other submitters by design (see `crate::cache::stream`).
        if let Some(n) = p.stream {
            self.streams.store(read, n);
        }
        Plan {
            keep: p.keep as u32,
            bypass: p.bypass,
        }
    }

    fn is_cached(&self, blk: u64) -> bool {
        self.shards
            .lock(self.shard_index(blk))
            .meta
            .lookup(blk)
            .is_some()
    }

    /// Whether the origin holds `blk`'s latest data, so a bypassed read
    /// may cover it: it is not cached, or cached clean (see the module's
    /// correctness argument). Bypassing clean blocks keeps a stream over
    /// a range the cache partly holds in whole origin bios, as the split
    /// at each of them would not.
    fn origin_current(&self, blk: u64) -> bool {
        let g = self.shards.lock(self.shard_index(blk));
        match g.meta.lookup(blk) {
            None => true,
            Some(id) => g.meta.state(id) == Some(State::Clean),
        }
    }

    /// Whether a read bio at `rel` (relative to the target) of `size`
    /// bytes spans more than one block: `map` chose to bypass the cache
    /// for it ([`Inner::plan`]).
    pub(super) fn is_bypass(&self, rel: u64, size: u32) -> bool {
        u64::from(size >> dm::SECTOR_SHIFT) > self.to_block_end(rel)
    }
}
