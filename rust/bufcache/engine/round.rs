// SPDX-License-Identifier: GPL-2.0

//! One writeback round of one shard, in steps: select the blocks under the
//! shard lock, submit their bios in batches, record the outcome. Driven by
//! [`Inner::writeback_shard`] (see the invariants in [`super::writeback`]).

use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;

use crate::cache::shard::{Busy, SlotId};
use crate::cache::status::Field;
use crate::dm::{self, BlockBuf, IoBatch};

use super::super::budget::Buf;
use super::super::cgroup::CgEntry;
use super::writeback::{WbRound, WbSelect};
use super::{assoc, Inner};

/// Most blocks written back per round of one shard (see [`Round`]).
pub(super) const WB_ROUND: usize = 32;
/// Most adjacent blocks merged into one writeback bio.
const WB_MERGE: usize = 16;
/// No bio could be made for a span (an entry of a batch's bio indices).
const NO_BIO: u8 = u8::MAX;
const _: () = assert!(WB_ROUND < NO_BIO as usize);
const _: () = assert!(WB_ROUND <= u8::MAX as usize);
const _: () = assert!(dm::batch::BATCH_MAX < NO_BIO as usize);

/// The blocks of one writeback round of one shard, taken under the shard
/// lock (`Writing`, so their buffers are stable: invariant S).
///
/// It lives on the stack of [`Inner::writeback_shard`], under the origin's
/// submission path (a kernel stack is 16 KiB): `WB_ROUND` bounds it.
pub(super) struct Round {
    n: usize,
    ids: [SlotId; WB_ROUND],
    blks: [u64; WB_ROUND],
    owners: [u32; WB_ROUND],
    bufs: [Option<Arc<Buf>>; WB_ROUND],
    /// `0..n` sorted by owner, then block number.
    order: [u8; WB_ROUND],
    /// Whether each block's write succeeded.
    ok: [bool; WB_ROUND],
}

impl Round {
    pub(super) fn new() -> Self {
        Self {
            n: 0,
            ids: [0; WB_ROUND],
            blks: [0; WB_ROUND],
            owners: [0; WB_ROUND],
            bufs: core::array::from_fn(|_| None),
            order: [0; WB_ROUND],
            ok: [false; WB_ROUND],
        }
    }

    /// Number of blocks in the round.
    pub(super) fn len(&self) -> usize {
        self.n
    }

    /// Counts every write of the round as successful (the negative
    /// control `test_drop_failed_writeback`).
    pub(super) fn mark_all_ok(&mut self) {
        self.ok.iter_mut().take(self.n).for_each(|o| *o = true);
    }

    /// The block at position `k` of the sorted order.
    fn at(&self, k: usize) -> usize {
        usize::from(self.order[k])
    }

    /// Sorts by owner, then block number, so neighbours of one owner merge
    /// into one bio; blocks of different owners never share a bio (each
    /// bio is charged to one cgroup).
    pub(super) fn sort(&mut self) {
        let n = self.n;
        for (i, o) in self.order.iter_mut().enumerate().take(n) {
            *o = i as u8;
        }
        let (owners, blks) = (&self.owners, &self.blks);
        self.order[..n].sort_unstable_by_key(|&i| (owners[usize::from(i)], blks[usize::from(i)]));
    }

    /// End (exclusive) of the bio that starts at sorted position `start`:
    /// adjacent blocks of one owner, at most `WB_MERGE`.
    fn span_end(&self, start: usize) -> usize {
        let mut end = start + 1;
        while end < self.n
            && end - start < WB_MERGE
            && self.owners[self.at(end)] == self.owners[self.at(start)]
            && self.blks[self.at(end)] == self.blks[self.at(end - 1)] + 1
        {
            end += 1;
        }
        end
    }
}

impl Inner {
    /// Takes up to `WB_ROUND` dirty blocks of shard `si` that match `sel`
    /// and `owner` into `r`, marking them `Writing`.
    pub(super) fn wb_select(
        &self,
        si: usize,
        sel: WbSelect,
        owner: Option<u32>,
        r: &mut Round,
        out: &mut WbRound,
    ) {
        let mut g = self.lock_shard(si);
        let mut cands = [0 as SlotId; WB_ROUND];
        let mut nc = 0;
        for id in g.meta.dirty_iter() {
            let ok = match sel {
                WbSelect::DirtyBy(t) => g.meta.dirty_since(id) <= t,
                WbSelect::Upto(gen) => g.meta.dirty_gen(id) <= gen,
                WbSelect::Oldest => true,
            } && owner.is_none_or(|o| g.meta.owner(id) == o);
            if !ok {
                continue;
            }
            if nc == WB_ROUND {
                out.more = true;
                break;
            }
            cands[nc] = id;
            nc += 1;
        }
        for &id in cands.iter().take(nc) {
            match g.meta.begin_writeback(id) {
                Ok(()) => {
                    let Some(b) = g.bufs[id as usize].clone() else {
                        // Cannot happen: indexed slots hold memory.
                        g.meta.end_writeback(id, false);
                        continue;
                    };
                    let n = r.n;
                    r.ids[n] = id;
                    r.blks[n] = g.meta.block(id);
                    r.owners[n] = g.meta.owner(id);
                    r.bufs[n] = Some(b);
                    r.n += 1;
                }
                Err(Busy::Pinned) => out.busy += 1,
                Err(Busy::State(_)) => {}
            }
        }
    }

    /// Submits one batch of the round's bios from sorted position `start`
    /// on (each submitted as it is added), waits for them and records in
    /// `r.ok` how each block's write went. Returns where the next batch
    /// starts.
    ///
    /// A bio covers a span of the sorted order ([`Round::span_end`]);
    /// the spans are walked again after the batch, so only each bio's
    /// index and cgroup entry are kept meanwhile (small: this frame sits
    /// under the origin's whole submission path).
    pub(super) fn wb_submit(&self, r: &mut Round, start: usize) -> usize {
        let mut bios = [NO_BIO; dm::batch::BATCH_MAX];
        let mut whos: [Option<Arc<CgEntry>>; dm::batch::BATCH_MAX] = core::array::from_fn(|_| None);
        let rr: &Round = r;
        let (res, ns, next) = IoBatch::run(&self.bioset, |mut batch| {
            let (mut ns, mut s) = (0, start);
            while s < rr.n && !batch.is_full() && ns < dm::batch::BATCH_MAX {
                let end = rr.span_end(s);
                let who = self.cg.by_owner(rr.owners[rr.at(s)]);
                let idx = match rr.bufs[rr.at(s)].as_deref() {
                    Some(first) => {
                        let first: &BlockBuf = first;
                        let mut list: [&BlockBuf; WB_MERGE] = [first; WB_MERGE];
                        for k in s..end {
                            if let Some(b) = rr.bufs[rr.at(k)].as_deref() {
                                list[k - s] = b;
                            }
                        }
                        batch.as_mut().add_write(
                            &self.origin,
                            self.block_sector(rr.blks[rr.at(s)]),
                            &list[..end - s],
                            false,
                            assoc(&who),
                        )
                    }
                    None => None,
                };
                bios[ns] = idx.map_or(NO_BIO, |i| i as u8);
                whos[ns] = Some(who);
                ns += 1;
                s = end;
            }
            (batch.wait(), ns, s)
        });
        self.stats.add(Field::WritebackBios, ns as u64);
        let mut s = start;
        for (&bio, who) in bios.iter().zip(whos.iter_mut()).take(ns) {
            let end = r.span_end(s);
            let good = bio != NO_BIO && res.ok(usize::from(bio));
            for k in s..end {
                let i = r.at(k);
                r.ok[i] = good;
            }
            let who = who.take();
            if let Some(who) = who.filter(|_| good) {
                who.writeback_bytes
                    .add((end - s) as u64 * u64::from(self.block_size), Relaxed);
            }
            s = end;
        }
        next
    }

    /// Ends the round's writebacks under the shard lock: written blocks
    /// become clean (unless written again since: invariant G), failed ones
    /// stay dirty.
    pub(super) fn wb_complete(&self, si: usize, r: &Round, out: &mut WbRound) {
        let mut g = self.lock_shard(si);
        for i in 0..r.n {
            g.meta.end_writeback(r.ids[i], r.ok[i]);
            if r.ok[i] {
                out.written += 1;
            } else {
                out.errors += 1;
            }
        }
        drop(g);
        self.notify(si);
        self.stats.add(Field::Writebacks, u64::from(out.written));
        self.stats
            .add(Field::WritebackErrors, u64::from(out.errors));
        self.note_round(out);
    }
}
