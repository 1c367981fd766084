// SPDX-License-Identifier: GPL-2.0

//! One writeback round of one shard, in steps: select the blocks under the
//! shard lock, submit their bios in batches, record the outcome. Driven by
//! [`Inner::writeback_shard`] (see the invariants in [`super::writeback`]).
//! A round lives on the heap, or in one of the target's spares when that
//! allocation fails ([`Inner::with_round`]).

use kernel::alloc::flags::{__GFP_NOWARN, GFP_NOWAIT};
use kernel::init::InPlaceInit;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, Mutex};

use crate::cache::shard::{Busy, SlotId};
use crate::cache::status::Field;
use crate::dm::{self, BlockBuf, IoBatch};

use super::super::budget::Buf;
use super::super::cgroup::CgRef;
use super::super::knobs;
use super::writeback::{WbRound, WbSelect};
use super::{assoc, Inner, MAX_SHARDS};

/// Most blocks written back per round of one shard (see [`Round`]).
pub(super) const WB_ROUND: usize = 32;
/// Rounds kept by each target for when one cannot be allocated.
const ROUND_SPARES: usize = 4;
/// Most adjacent blocks merged into one writeback bio.
const WB_MERGE: usize = 16;
/// No bio could be made for a span (an entry of a batch's bio indices).
const NO_BIO: u8 = u8::MAX;
const _: () = assert!(WB_ROUND < NO_BIO as usize);
const _: () = assert!(WB_ROUND <= u32::BITS as usize);
const _: () = assert!(dm::batch::BATCH_MAX < NO_BIO as usize);

/// One block of a [`Round`].
struct Entry {
    blk: u64,
    buf: Option<Arc<Buf>>,
    id: SlotId,
    owner: u32,
}

/// The blocks of one writeback round of one shard (of several for a
/// flush's first round, [`Inner::wb_flush_round`]), taken under their
/// shard's lock (`Writing`, so their buffers are stable: invariant S), and
/// the bios of the batch in flight.
///
/// About 1 KiB: it lives on the heap ([`Inner::with_round`]), not on the
/// stack of [`Inner::writeback_shard`], which runs under the origin's
/// whole submission path (a kernel stack is 16 KiB).
pub(super) struct Round {
    n: usize,
    /// `0..n`, sorted by owner, then block number (see [`Round::sort`]).
    e: [Entry; WB_ROUND],
    /// Bit `i` set: the write of `e[i]` succeeded.
    ok: u32,
    /// Per bio of the batch in flight: its index in the batch, or `NO_BIO`.
    bios: [u8; dm::batch::BATCH_MAX],
    /// Per bio of the batch in flight: the cgroup it is charged to.
    whos: [Option<CgRef>; dm::batch::BATCH_MAX],
}

impl Round {
    /// An empty round, made in place (on the heap).
    pub(super) fn new() -> impl Init<Self> {
        init!(Self {
            n: 0,
            e <- pin_init::init_array_from_fn(|_| Entry {
                blk: 0,
                buf: None,
                id: 0,
                owner: 0,
            }),
            ok: 0,
            bios: [NO_BIO; dm::batch::BATCH_MAX],
            whos <- pin_init::init_array_from_fn(|_| None),
        })
    }

    /// Empties a round used before (the spare), dropping what it holds.
    fn clear(&mut self) {
        self.n = 0;
        self.ok = 0;
        self.e.iter_mut().for_each(|e| e.buf = None);
        self.whos.iter_mut().for_each(|w| *w = None);
    }

    /// Number of blocks in the round.
    pub(super) fn len(&self) -> usize {
        self.n
    }

    /// Counts every write of the round as successful (the negative
    /// control `test_drop_failed_writeback`).
    pub(super) fn mark_all_ok(&mut self) {
        self.ok = u32::MAX;
    }

    /// Sorts by owner, then block number, so neighbours of one owner merge
    /// into one bio; blocks of different owners never share a bio (each
    /// bio is charged to one cgroup).
    ///
    /// An insertion sort: at most `WB_ROUND` blocks, and unlike the slice
    /// sorts it needs no scratch copy of the entries on the stack.
    pub(super) fn sort(&mut self) {
        let e = &mut self.e[..self.n];
        for i in 1..e.len() {
            let mut j = i;
            while j > 0 && (e[j - 1].owner, e[j - 1].blk) > (e[j].owner, e[j].blk) {
                e.swap(j - 1, j);
                j -= 1;
            }
        }
    }
}

/// End (exclusive) of the bio that starts at position `start` of the sorted
/// blocks `e`: adjacent blocks of one owner, at most `WB_MERGE`.
fn span_end(e: &[Entry], start: usize) -> usize {
    let mut end = start + 1;
    while end < e.len()
        && end - start < WB_MERGE
        && e[end].owner == e[start].owner
        && e[end].blk == e[end - 1].blk + 1
    {
        end += 1;
    }
    end
}

/// The rounds a target keeps for when one cannot be allocated, as a
/// mempool keeps elements ([`Inner::with_round`]).
///
/// # Invariants
///
/// There are `ROUND_SPARES` spares, each under its own mutex, held by one
/// round from its selection to its completion; a spare is empty (holds no
/// buffer nor cgroup entry) whenever its mutex is free.
pub(super) struct Spares {
    /// Writeback rounds used when a round cannot be allocated; each under
    /// its own mutex (`bufcache:round_spare`).
    rounds: KVec<Pin<KBox<Mutex<Round>>>>,
    /// Which spare a round waits for when all are taken. Relaxed.
    cursor: Atomic<u32>,
}

impl Spares {
    /// `ROUND_SPARES` empty spares.
    // Cold (table load): kept out of `Inner::new`'s frame.
    #[inline(never)]
    pub(super) fn new() -> Result<Self> {
        let mut rounds = KVec::with_capacity(ROUND_SPARES, GFP_KERNEL)?;
        for _ in 0..ROUND_SPARES {
            let m = KBox::pin_init(new_mutex!(Round::new(), "bufcache:round_spare"), GFP_KERNEL)?;
            rounds.push(m, GFP_KERNEL)?;
        }
        Ok(Self {
            rounds,
            cursor: Atomic::new(0),
        })
    }

    /// Runs `f` with a free spare, or waits for one if all are taken.
    fn with<R>(&self, f: impl FnOnce(&mut Round) -> R) -> R {
        let spares = &self.rounds;
        let mut g = match spares.iter().find_map(|m| m.try_lock()) {
            Some(g) => g,
            None => {
                let k = self.cursor.fetch_add(1, Relaxed) as usize;
                spares[k % spares.len()].lock()
            }
        };
        let res = f(&mut g);
        // Drops the buffers and cgroup entries it still holds.
        g.clear();
        res
    }
}

impl Inner {
    /// Runs `f` with an empty round: a new one on the heap or, when that
    /// allocation fails, one of the target's `ROUND_SPARES` spares (waiting
    /// for one if all are taken), as a mempool would. Deadlock-free: a
    /// round holds its spare only while it selects, writes and completes
    /// its blocks, which waits for nothing but its own bios and shard
    /// spinlocks, never for another round or spare; the shrinker never
    /// writes back (`Documentation/reclaim.rst`).
    pub(super) fn with_round<R>(&self, f: impl FnOnce(&mut Round) -> R) -> R {
        // Never sleeps nor reclaims: the spares are the fallback.
        if let Ok(mut r) = KBox::init(Round::new(), GFP_NOWAIT | __GFP_NOWARN) {
            return f(&mut r);
        }
        self.stats.inc(Field::SpareRounds);
        self.spares.with(f)
    }

    /// Takes dirty blocks of shard `si` that match `sel` and `owner` into
    /// `r`, marking them `Writing`, until `r` holds `WB_ROUND` (it may
    /// hold another shard's already: [`Inner::wb_flush_round`]).
    #[inline(never)]
    pub(super) fn wb_select(
        &self,
        si: usize,
        sel: WbSelect,
        owner: Option<u32>,
        r: &mut Round,
        out: &mut WbRound,
    ) {
        let mut g = self.shards.lock(si);
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
            if r.n + nc == WB_ROUND {
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
                    r.e[r.n] = Entry {
                        blk: g.meta.block(id),
                        buf: Some(b),
                        id,
                        owner: g.meta.owner(id),
                    };
                    r.n += 1;
                }
                Err(Busy::Pinned) => out.busy += 1,
                Err(Busy::State(_)) => {}
            }
        }
    }

    /// Submits one batch of the round's bios from position `start` on
    /// (each submitted as it is added), waits for them and records in
    /// `r.ok` how each block's write went. Returns where the next batch
    /// starts.
    ///
    /// A bio covers a span of the sorted blocks ([`Round::span_end`]);
    /// the spans are walked again after the batch, so only each bio's
    /// index and cgroup entry are kept meanwhile (in the round).
    #[inline(never)]
    pub(super) fn wb_submit(&self, r: &mut Round, start: usize) -> usize {
        let Round {
            n, e, bios, whos, ..
        } = r;
        let e = &e[..*n];
        let (res, ns, next) = IoBatch::run(&self.origin.bioset, |mut batch| {
            #[cfg(bufcache_test)]
            if knobs::batch_holds_bios() {
                batch.hold_bios();
            }
            let (mut ns, mut s) = (0, start);
            while s < e.len() && !batch.is_full() && ns < dm::batch::BATCH_MAX {
                let end = span_end(e, s);
                let who = self.cg.by_owner(e[s].owner);
                let idx = match e[s].buf.as_deref() {
                    Some(first) => {
                        let first: &BlockBuf = first;
                        let mut list: [&BlockBuf; WB_MERGE] = [first; WB_MERGE];
                        for k in s..end {
                            if let Some(b) = e[k].buf.as_deref() {
                                list[k - s] = b;
                            }
                        }
                        batch.as_mut().add_write(
                            &self.origin.dev,
                            self.block_sector(e[s].blk),
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
        for k in 0..ns {
            let end = span_end(&r.e[..r.n], s);
            let good = r.bios[k] != NO_BIO && res.ok(usize::from(r.bios[k]));
            if good {
                r.ok |= (((1u64 << (end - s)) - 1) as u32) << s;
            }
            if let Some(who) = r.whos[k].take().filter(|_| good) {
                who.writeback_bytes.add(
                    (end - s) as u64 * u64::from(self.layout.block_size),
                    Relaxed,
                );
            }
            s = end;
        }
        next
    }

    /// A flush's first round, over every shard: the blocks of each shard
    /// `si` with unwritten data up to `snap[si]`, in shard order until the
    /// round is full, written in one batch and waited for once (one
    /// origin round trip where a round per shard made one each). Counts
    /// in `failed[si]` the blocks of shard `si` whose write failed (they
    /// stay dirty: invariant G). The flush's per-shard rounds
    /// (`write_upto`) follow and do the rest, so invariant F does not rest
    /// on this round.
    ///
    /// Not inlined: its frame stays out of `flush_all`'s, under which the
    /// per-shard rounds run.
    #[inline(never)]
    pub(super) fn wb_flush_round(&self, snap: &[u64], failed: &mut [u8; MAX_SHARDS]) {
        let mut out = WbRound::default();
        self.with_round(|r| {
            for (si, &upto) in snap.iter().enumerate() {
                if r.n == WB_ROUND {
                    break;
                }
                self.wb_select(si, WbSelect::Upto(upto), None, r, &mut out);
            }
            if r.n == 0 {
                return;
            }
            r.sort();
            let mut start = 0;
            while start < r.n {
                start = self.wb_submit(r, start);
            }
            if knobs::drop_failed_writeback() {
                r.mark_all_ok();
            }
            for (i, e) in r.e.iter().enumerate().take(r.n) {
                if r.ok & (1 << i) == 0 {
                    failed[self.shard_index(e.blk)] += 1;
                }
            }
            self.wb_complete(r, &mut out);
        });
    }

    /// Ends the round's writebacks, each under its block's shard lock (a
    /// round holds one shard's blocks, or several shards' for a flush):
    /// written blocks become clean (unless written again since:
    /// invariant G), failed ones stay dirty.
    pub(super) fn wb_complete(&self, r: &Round, out: &mut WbRound) {
        // Bit `i`: `e[i]` ended.
        let mut done = 0u32;
        for i in 0..r.n {
            if done & (1 << i) != 0 {
                continue;
            }
            let si = self.shard_index(r.e[i].blk);
            let mut g = self.shards.lock(si);
            for (j, e) in r.e.iter().enumerate().take(r.n).skip(i) {
                if done & (1 << j) != 0 || self.shard_index(e.blk) != si {
                    continue;
                }
                done |= 1 << j;
                let ok = r.ok & (1 << j) != 0;
                g.meta.end_writeback(e.id, ok);
                if ok {
                    out.written += 1;
                } else {
                    out.errors += 1;
                }
            }
            drop(g);
            self.shards.notify(si);
        }
        self.stats.add(Field::Writebacks, u64::from(out.written));
        self.stats
            .add(Field::WritebackErrors, u64::from(out.errors));
        self.background.note_round(out, || self.now_ms());
    }
}
