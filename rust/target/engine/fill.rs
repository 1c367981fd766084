// SPDX-License-Identifier: GPL-2.0

//! Fills: reading a missed block from the origin, with readahead of the
//! blocks that follow it when misses are sequential.

use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

use crate::cache::shard::SlotId;
use crate::cache::status::Field;
use crate::dm::IoBatch;

use super::super::budget::Buf;
use super::super::cgroup::CgEntry;
use super::{assoc, Inner, RA_MAX};

impl Inner {
    /// Publishes a slot filled from the origin, or drops it on error.
    pub(super) fn end_fill(&self, blk: u64, id: SlotId, ok: bool) {
        let si = self.shard_index(blk);
        let mut g = self.lock_shard(si);
        if ok {
            g.meta.fill_done(id);
        } else {
            g.meta.abort_fill(id, true);
        }
        drop(g);
        self.notify(si);
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
        let prev = if may_readahead {
            self.last_read_miss.xchg(blk, Relaxed)
        } else {
            u64::MAX - 1
        };
        let ra = if prev.wrapping_add(1) == blk {
            (self.settings.readahead() as usize).min(RA_MAX)
        } else {
            0
        };
        let mut ra_slots: [Option<(u64, SlotId, Arc<Buf>)>; RA_MAX] =
            core::array::from_fn(|_| None);
        let mut n_ra = 0;
        for i in 1..=ra as u64 {
            let b = blk + i;
            if b >= self.nr_blocks {
                break;
            }
            let si = self.shard_index(b);
            if self.lock_shard(si).meta.lookup(b).is_some() {
                continue;
            }
            // Readahead never waits and never takes the reserve.
            let Some((id, buf)) = self.alloc_nowait(si, b, who.id) else {
                break;
            };
            ra_slots[n_ra] = Some((b, id, buf));
            n_ra += 1;
        }
        let css = assoc(who);
        let mut idx = [usize::MAX; RA_MAX];
        let (main, nbios, res) = IoBatch::run(&self.bioset, |mut batch| {
            let main =
                batch
                    .as_mut()
                    .add_read(&self.origin, self.block_sector(blk), buf, false, css);
            for (i, s) in ra_slots.iter().take(n_ra).enumerate() {
                if let Some((b, _, rb)) = s {
                    if let Some(j) =
                        batch
                            .as_mut()
                            .add_read(&self.origin, self.block_sector(*b), rb, true, css)
                    {
                        idx[i] = j;
                    }
                }
            }
            let nbios = batch.len() as u64;
            (main, nbios, batch.wait())
        });
        who.fill_bytes
            .add(nbios * u64::from(self.block_size), Relaxed);
        for (i, s) in ra_slots.iter().take(n_ra).enumerate() {
            if let Some((b, id, _)) = s {
                let ok = idx[i] != usize::MAX && res.ok(idx[i]);
                if ok {
                    self.stats.inc(Field::Readahead);
                }
                self.end_fill(*b, *id, ok);
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
}
