// SPDX-License-Identifier: GPL-2.0

//! Fills: reading a missed block from the origin, with readahead of the
//! blocks that follow it when misses are sequential.

use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::Arc;

use crate::cache::shard::SlotId;
use crate::cache::status::Field;
use crate::dm::{BatchResult, IoBatch};

use super::super::budget::Buf;
use super::super::cgroup::CgEntry;
#[cfg(bufcache_test)]
use super::super::knobs;
use super::{assoc, Inner, RA_MAX};

/// A block read ahead with a fill: its distance from the missed block,
/// and the `Filling` slot taken for it (small: a fill's worth of these
/// sits on the stack under the origin's submission path).
struct RaSlot {
    off: u8,
    id: SlotId,
    buf: Arc<Buf>,
}

/// No bio could be made for a readahead block.
const NO_BIO: u8 = u8::MAX;
const _: () = assert!(RA_MAX < NO_BIO as usize);
const _: () = assert!(crate::dm::batch::BATCH_MAX < NO_BIO as usize);

/// When a fill reads ahead: whether its miss continues the previous one,
/// and where the target ends.
///
/// # Invariants
///
/// `nr_blocks` is fixed at construction: readahead never reads a block at
/// or past it. `last_read_miss` is only exchanged, without a lock
/// (Relaxed): concurrent misses race on it by design, which only decides
/// whether a fill reads ahead, never what a block holds.
pub(super) struct Readahead {
    /// Blocks of the target (its length); fixed at construction.
    nr_blocks: u64,
    /// The block of the last read miss that may read ahead (`u64::MAX -
    /// 1` at first: no block follows it). Relaxed, no lock.
    last_read_miss: Atomic<u64>,
}

impl Readahead {
    /// A target of `nr_blocks` blocks, with no miss yet.
    pub(super) fn new(nr_blocks: u64) -> Self {
        Self {
            nr_blocks,
            last_read_miss: Atomic::new(u64::MAX - 1),
        }
    }

    /// Whether a miss of `blk` continues a sequential run of misses; it is
    /// recorded as the last miss if `may_readahead`.
    fn continues(&self, blk: u64, may_readahead: bool) -> bool {
        let prev = if may_readahead {
            self.last_read_miss.xchg(blk, Relaxed)
        } else {
            u64::MAX - 1
        };
        prev.wrapping_add(1) == blk
    }

    /// Whether `blk` is a block of the target.
    fn contains(&self, blk: u64) -> bool {
        blk < self.nr_blocks
    }
}

impl Inner {
    /// Publishes a slot filled from the origin, or drops it on error. A
    /// block read `ahead` enters the cache as not yet referenced, so the
    /// stream's first hit on it does not promote it out of probation (see
    /// `cache::shard`).
    #[inline(never)]
    pub(super) fn end_fill(&self, blk: u64, id: SlotId, ok: bool, ahead: bool) {
        let si = self.shard_index(blk);
        let mut g = self.shards.lock(si);
        if ok && ahead {
            g.meta.fill_done_ahead(id);
        } else if ok {
            g.meta.fill_done(id);
        } else {
            g.meta.abort_fill(id, true);
        }
        drop(g);
        self.shards.notify(si);
    }

    /// Reads `blk` into the `Filling` slot's buffer, with readahead of
    /// following blocks when the miss continues a sequential run.
    pub(super) fn fill(
        self: &Arc<Self>,
        blk: u64,
        buf: &Arc<Buf>,
        may_readahead: bool,
        who: &CgEntry,
    ) -> bool {
        let mut ra: [Option<RaSlot>; RA_MAX] = [const { None }; RA_MAX];
        let n_ra = self.take_readahead(blk, may_readahead, who, &mut ra);
        let mut idx = [NO_BIO; RA_MAX];
        let (main, res) = self.fill_io(blk, buf, &ra[..n_ra], &mut idx, who);
        for (i, s) in ra.iter().take(n_ra).enumerate() {
            if let Some(s) = s {
                let ok = idx[i] != NO_BIO && res.ok(usize::from(idx[i]));
                if ok {
                    self.stats.inc(Field::Readahead);
                }
                self.end_fill(blk + u64::from(s.off), s.id, ok, true);
            }
        }
        match main {
            Some(i) if res.ok(i) => true,
            _ => {
                self.stats.inc(Field::FillErrors);
                false
            }
        }
    }

    /// Reads `blk` into `buf` and each block of `ra` into its slot's
    /// buffer in one batch, and waits for them. Returns the index of the
    /// read of `blk` in the batch and the batch's outcome; `idx[i]` is the
    /// index of `ra[i]`'s read (or `NO_BIO`).
    ///
    /// Not inlined: the batch and the readahead slots would share one
    /// frame under the origin's submission path.
    #[inline(never)]
    fn fill_io(
        &self,
        blk: u64,
        buf: &Buf,
        ra: &[Option<RaSlot>],
        idx: &mut [u8; RA_MAX],
        who: &CgEntry,
    ) -> (Option<usize>, BatchResult) {
        let css = assoc(who);
        let (main, nbios, res) = IoBatch::run(&self.origin.bioset, |mut batch| {
            #[cfg(bufcache_test)]
            if knobs::atomic_association() {
                batch.associate_atomically();
            }
            #[cfg(bufcache_test)]
            if knobs::batch_holds_bios() {
                batch.hold_bios();
            }
            let main =
                batch
                    .as_mut()
                    .add_read(&self.origin.dev, self.block_sector(blk), buf, false, css);
            for (i, s) in ra.iter().enumerate() {
                if let Some(s) = s {
                    let b = blk + u64::from(s.off);
                    if let Some(j) = batch.as_mut().add_read(
                        &self.origin.dev,
                        self.block_sector(b),
                        &s.buf,
                        true,
                        css,
                    ) {
                        idx[i] = j as u8;
                    }
                }
            }
            let nbios = batch.len() as u64;
            (main, nbios, batch.wait())
        });
        who.fill_bytes
            .add(nbios * u64::from(self.layout.block_size), Relaxed);
        (main, res)
    }

    /// Takes `Filling` slots for the blocks after `blk` to read ahead with
    /// it, if the miss continues a sequential run (and `may_readahead`).
    /// Returns how many entries of `ra` it filled.
    // Not inlined: its shard guard stays out of `fill`'s frame.
    #[inline(never)]
    fn take_readahead(
        &self,
        blk: u64,
        may_readahead: bool,
        who: &CgEntry,
        ra: &mut [Option<RaSlot>; RA_MAX],
    ) -> usize {
        let want = if self.readahead.continues(blk, may_readahead) {
            (self.settings.readahead() as usize).min(RA_MAX)
        } else {
            0
        };
        let mut n = 0;
        for i in 1..=want as u64 {
            let b = blk + i;
            if !self.readahead.contains(b) {
                break;
            }
            let si = self.shard_index(b);
            if self.shards.lock(si).meta.lookup(b).is_some() {
                continue;
            }
            // Readahead never waits and never takes the reserve.
            let Some((id, buf)) = self.alloc_nowait(si, b, who.id) else {
                break;
            };
            ra[n] = Some(RaSlot {
                off: i as u8,
                id,
                buf,
            });
            n += 1;
        }
        n
    }
}
