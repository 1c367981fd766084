// SPDX-License-Identifier: GPL-2.0

//! The operations of a shard: allocation and fills, hits, writeback,
//! removal (invalidate, reclaim) and the cap.

use core::ops::DerefMut;

use super::*;

impl<S, B, A> Shard<S, B, A>
where
    S: DerefMut<Target = [Slot]>,
    B: DerefMut<Target = [u32]>,
    A: Accountant,
{
    // ---- allocation ----

    /// Makes room for `block` (which must not be indexed) and indexes it in
    /// state `Filling`, with `owner` as its owner tag. Prefers a free slot
    /// with memory, then (if `grow`) a slot without memory while under the
    /// cap, then evicting a clean, unpinned block ([`Shard::victim`]).
    pub fn alloc(&mut self, block: Block, owner: u32, grow: bool) -> Alloc {
        debug_assert!(self.lookup(block).is_none());
        let id = if self.free.head != NIL {
            self.free.head
        } else if grow && self.counts.with_mem < self.cap && self.unused.head != NIL {
            self.unused.head
        } else {
            match self.victim() {
                Some(id) => id,
                None => return Alloc::Full,
            }
        };
        self.tagged(id, |sh| sh.alloc_slot(id, block, owner))
    }

    /// The clean block to evict: the least recently used unpinned block of
    /// the probation segment, else of the protected segment.
    pub fn victim(&self) -> Option<SlotId> {
        [self.probation.tail, self.protected.tail]
            .into_iter()
            .find_map(|mut cur| {
                while cur != NIL && self.is_pinned(cur) {
                    cur = self.slots[cur as usize].prev;
                }
                (cur != NIL).then_some(cur)
            })
    }

    pub(super) fn alloc_slot(&mut self, id: SlotId, block: Block, owner: u32) -> Alloc {
        let res = match self.slots[id as usize].list {
            ListId::Free => {
                self.unlink(id);
                Alloc::Ready(id)
            }
            ListId::Unused => {
                self.unlink(id);
                self.counts.with_mem += 1;
                Alloc::NeedMemory(id)
            }
            _ => {
                let old_block = self.slots[id as usize].block;
                let old_owner = self.slots[id as usize].owner;
                self.unlink(id);
                self.index_remove(id);
                self.set_state(id, None);
                Alloc::Evicted {
                    id,
                    old_block,
                    old_owner,
                }
            }
        };
        let s = &mut self.slots[id as usize];
        s.owner = owner;
        s.set_flag(FAILED, false);
        // The miss that allocates is the block's first reference.
        s.heat = Heat::Once;
        if self.last == id {
            self.last = NIL;
        }
        s.readers = 0;
        s.writers = 0;
        s.cond = Cond::Indexed(State::Filling);
        self.counts.filling += 1;
        self.index_insert(id, block);
        res
    }

    /// Confirms that memory was attached to a slot returned by
    /// [`Alloc::NeedMemory`]. (Accounting already counted it; this exists to
    /// make the protocol explicit at the call site.)
    pub fn attach_mem(&mut self, id: SlotId) {
        debug_assert_eq!(self.state(id), Some(State::Filling));
    }

    /// Abandons a `Filling` slot: the fill failed, or memory for it could
    /// not be allocated (`has_mem == false`). The block leaves the index.
    pub fn abort_fill(&mut self, id: SlotId, has_mem: bool) {
        self.tagged(id, |sh| sh.abort_fill_inner(id, has_mem))
    }

    // Untagged body of [`Shard::abort_fill`].
    pub(super) fn abort_fill_inner(&mut self, id: SlotId, has_mem: bool) {
        debug_assert_eq!(self.state(id), Some(State::Filling));
        self.index_remove(id);
        self.set_state(id, None);
        let s = &mut self.slots[id as usize];
        s.cond = if has_mem { Cond::Free } else { Cond::Unused };
        if has_mem {
            self.push_head(ListId::Free, id);
        } else {
            self.counts.with_mem -= 1;
            self.push_head(ListId::Unused, id);
        }
    }

    /// Ends a fill from the origin: the block is clean, on probation.
    pub fn fill_done(&mut self, id: SlotId) {
        self.tagged(id, |sh| sh.fill_done_inner(id))
    }

    /// Ends a fill from the origin of a block read ahead, which nobody
    /// asked for yet: like [`Shard::fill_done`], but its first hit only
    /// counts as its first reference (it stays on probation).
    pub fn fill_done_ahead(&mut self, id: SlotId) {
        self.slots[id as usize].heat = Heat::Ahead;
        self.tagged(id, |sh| sh.fill_done_inner(id))
    }

    // Untagged body of [`Shard::fill_done`] and [`Shard::fill_done_ahead`].
    pub(super) fn fill_done_inner(&mut self, id: SlotId) {
        debug_assert_eq!(self.state(id), Some(State::Filling));
        if self.slots[id as usize].heat != Heat::Ahead {
            // The miss's reference, as of when its data arrived: readers
            // of the same block waiting for it are the same burst.
            self.last = id;
        }
        self.set_state(id, Some(State::Clean));
        self.push_clean(id);
    }

    /// Ends a fill by a write (full-block write, or read-modify-write): the
    /// block is dirty as of `now`.
    pub fn fill_done_dirty(&mut self, id: SlotId, now: u64) {
        self.tagged(id, |sh| sh.fill_done_dirty_inner(id, now))
    }

    // Untagged body of [`Shard::fill_done_dirty`].
    pub(super) fn fill_done_dirty_inner(&mut self, id: SlotId, now: u64) {
        debug_assert_eq!(self.state(id), Some(State::Filling));
        let g = self.next_gen();
        self.slots[id as usize].dirty_since = now;
        self.slots[id as usize].gen = g;
        // The write miss's reference (see `Shard::hit`).
        self.last = id;
        self.set_state(id, Some(State::Dirty));
        self.push_tail(ListId::Dirty, id);
    }

    // ---- hits and the LRU segments ----

    /// Pins a readable slot (`Clean`, `Dirty` or `Writing`) for a reader and
    /// counts a reference ([`Shard::hit`]). Fails for a `Filling` slot: wait
    /// for the fill.
    pub fn pin_read(&mut self, id: SlotId) -> Result<(), Busy> {
        match self.state(id) {
            Some(State::Filling) => Err(Busy::State(State::Filling)),
            Some(_) => {
                self.hit(id);
                self.slots[id as usize].readers += 1;
                Ok(())
            }
            None => unreachable!("pin_read on a slot without a block"),
        }
    }

    /// Counts a reference (a read pin or a write hit) to an indexed block
    /// that is not being filled. A block read ahead becomes referenced
    /// once; a block referenced once becomes hot, unless it was also the
    /// shard's previous reference (`last`): a repeat there is the
    /// same burst of accesses (a stream reading or writing a block in
    /// pieces), not a second reference. A clean block moves to the head of
    /// its segment: a hot one to protected.
    pub(super) fn hit(&mut self, id: SlotId) {
        self.note_ref(id);
        if matches!(
            self.slots[id as usize].list,
            ListId::Probation | ListId::Protected
        ) {
            self.unlink(id);
            self.push_clean(id);
        }
    }

    /// The bookkeeping of [`Shard::hit`] without moving the block: for a
    /// write hit, which takes the block off the clean lists anyway (moving
    /// it to protected first could demote another block for nothing).
    pub(super) fn note_ref(&mut self, id: SlotId) {
        let s = self.slots[id as usize];
        self.slots[id as usize].heat = match s.heat {
            Heat::Ahead => Heat::Once,
            Heat::Once if self.last == id => Heat::Once,
            _ => Heat::Hot,
        };
        self.last = id;
    }

    /// Puts a clean block that is on no list at the head of its segment
    /// (protected if hot, else probation), and keeps the protected segment
    /// within its bound.
    pub(super) fn push_clean(&mut self, id: SlotId) {
        if self.slots[id as usize].heat == Heat::Hot {
            self.push_head(ListId::Protected, id);
            self.balance();
        } else {
            self.push_head(ListId::Probation, id);
        }
    }

    /// Demotes the least recently used protected blocks to the head of
    /// probation (as referenced once) while the protected segment is
    /// longer than [`Shard::protected_max`]. Nothing is evicted.
    pub(super) fn balance(&mut self) {
        while self.protected.len > self.protected_max() {
            let id = self.protected.tail;
            self.unlink(id);
            self.slots[id as usize].heat = Heat::Once;
            self.push_head(ListId::Probation, id);
        }
    }

    /// The bound of the protected segment: three quarters of the cap, so
    /// at least a quarter of the cache is left for new blocks to prove
    /// themselves on probation.
    pub fn protected_max(&self) -> u32 {
        (u64::from(self.cap) * 3 / 4) as u32
    }

    /// Drops a reader pin.
    pub fn unpin_read(&mut self, id: SlotId) {
        let s = &mut self.slots[id as usize];
        debug_assert!(s.readers > 0);
        s.readers -= 1;
    }

    /// Pins a slot for a writer and marks the block dirty as of `now` (a
    /// block being written back is flagged to stay dirty). The writer,
    /// `owner`, becomes the block's owner (a dirty block belongs to its last
    /// writer). Fails for a `Filling` slot.
    pub fn write_hit(&mut self, id: SlotId, now: u64, owner: u32) -> Result<(), Busy> {
        self.tagged(id, |sh| {
            sh.write_hit_inner(id, now)?;
            sh.slots[id as usize].owner = owner;
            Ok(())
        })
    }

    // Untagged body of [`Shard::write_hit`].
    pub(super) fn write_hit_inner(&mut self, id: SlotId, now: u64) -> Result<(), Busy> {
        match self.state(id) {
            Some(State::Filling) => return Err(Busy::State(State::Filling)),
            None => unreachable!("write_hit on a slot without a block"),
            _ => {}
        }
        self.note_ref(id);
        self.slots[id as usize].writers += 1;
        self.mark_dirty(id, now);
        Ok(())
    }

    pub(super) fn mark_dirty(&mut self, id: SlotId, now: u64) {
        let g = self.next_gen();
        match self.state(id) {
            Some(State::Clean) => {
                self.unlink(id);
                self.slots[id as usize].dirty_since = now;
                self.slots[id as usize].gen = g;
                self.set_state(id, Some(State::Dirty));
                self.push_tail(ListId::Dirty, id);
            }
            Some(State::Writing) if !self.slots[id as usize].has(REDIRTY) => {
                self.slots[id as usize].set_flag(REDIRTY, true);
                self.slots[id as usize].regen = g;
                // The age restarts (flushes go by generation, not age).
                self.slots[id as usize].dirty_since = now;
                self.counts.dirty += 1;
            }
            _ => {}
        }
    }

    /// Drops a writer pin; the block is (still) dirty.
    pub fn unpin_write(&mut self, id: SlotId, now: u64) {
        self.tagged(id, |sh| sh.unpin_write_inner(id, now))
    }

    // Untagged body of [`Shard::unpin_write`].
    pub(super) fn unpin_write_inner(&mut self, id: SlotId, now: u64) {
        let s = &mut self.slots[id as usize];
        debug_assert!(s.writers > 0);
        s.writers -= 1;
        self.mark_dirty(id, now);
    }

    // ---- writeback ----

    /// Starts writing back a dirty block. Fails while a writer is copying
    /// into it, or if it is not dirty.
    pub fn begin_writeback(&mut self, id: SlotId) -> Result<(), Busy> {
        self.tagged(id, |sh| sh.begin_writeback_inner(id))
    }

    // Untagged body of [`Shard::begin_writeback`].
    pub(super) fn begin_writeback_inner(&mut self, id: SlotId) -> Result<(), Busy> {
        let s = self.slots[id as usize];
        match s.cond {
            Cond::Indexed(State::Dirty) => {}
            Cond::Indexed(st) => return Err(Busy::State(st)),
            _ => unreachable!("begin_writeback on a slot without a block"),
        }
        if s.writers > 0 {
            return Err(Busy::Pinned);
        }
        self.unlink(id);
        self.set_state(id, Some(State::Writing));
        self.push_tail(ListId::Writing, id);
        Ok(())
    }

    /// Ends a writeback. On success the block is clean unless a write
    /// landed meanwhile; on failure it stays dirty (flagged as failed) for a
    /// retry. Returns whether the block is clean now.
    pub fn end_writeback(&mut self, id: SlotId, ok: bool) -> bool {
        self.tagged(id, |sh| sh.end_writeback_inner(id, ok))
    }

    // Untagged body of [`Shard::end_writeback`].
    pub(super) fn end_writeback_inner(&mut self, id: SlotId, ok: bool) -> bool {
        debug_assert_eq!(self.state(id), Some(State::Writing));
        self.unlink(id);
        let redirty = self.slots[id as usize].has(REDIRTY);
        self.slots[id as usize].set_flag(FAILED, !ok);
        if ok && redirty {
            // The writeback carried everything before the redirty; what is
            // unwritten now starts there.
            self.slots[id as usize].gen = self.slots[id as usize].regen;
        }
        if ok && !redirty {
            // Back to the segment its references earned it.
            self.set_state(id, Some(State::Clean));
            self.push_clean(id);
            true
        } else {
            // Keep the time of the first dirtying for a failed write, so age
            // based writeback retries it; a redirtied block restarts its age.
            self.set_state(id, Some(State::Dirty));
            self.push_tail(ListId::Dirty, id);
            false
        }
    }

    /// Whether the last writeback of this slot failed.
    pub fn failed(&self, id: SlotId) -> bool {
        self.slots[id as usize].has(FAILED)
    }

    // ---- list walks ----

    /// Dirty slots, oldest first.
    pub fn dirty_iter(&self) -> ListIter<'_> {
        ListIter {
            slots: &self.slots,
            cur: self.dirty.head,
        }
    }

    /// Clean slots in eviction order: the probation segment, then the
    /// protected segment, each least recently used first.
    pub fn clean_lru_iter(&self) -> core::iter::Chain<ListIterRev<'_>, ListIterRev<'_>> {
        self.probation_iter().chain(ListIterRev {
            slots: &self.slots,
            cur: self.protected.tail,
        })
    }

    /// Clean slots on probation, least recently used first.
    pub fn probation_iter(&self) -> ListIterRev<'_> {
        ListIterRev {
            slots: &self.slots,
            cur: self.probation.tail,
        }
    }

    /// Clean slots in the protected segment, least recently used first.
    pub fn protected_iter(&self) -> ListIterRev<'_> {
        ListIterRev {
            slots: &self.slots,
            cur: self.protected.tail,
        }
    }

    // ---- removal ----

    /// Drops a block from the cache, clean or dirty (for discard, and for
    /// `invalidate` of clean blocks). Its slot keeps its memory. Fails if
    /// the block is pinned, being filled or being written back.
    pub fn invalidate(&mut self, id: SlotId) -> Result<State, Busy> {
        self.tagged(id, |sh| sh.invalidate_inner(id))
    }

    // Untagged body of [`Shard::invalidate`].
    pub(super) fn invalidate_inner(&mut self, id: SlotId) -> Result<State, Busy> {
        let st = match self.state(id) {
            Some(st @ (State::Clean | State::Dirty)) => st,
            Some(st) => return Err(Busy::State(st)),
            None => unreachable!("invalidate on a slot without a block"),
        };
        if self.is_pinned(id) {
            return Err(Busy::Pinned);
        }
        self.unlink(id);
        self.index_remove(id);
        self.set_state(id, None);
        self.slots[id as usize].cond = Cond::Free;
        self.push_head(ListId::Free, id);
        Ok(st)
    }

    /// Takes one slot's memory away: a free slot first, else a clean
    /// unpinned block ([`Shard::victim`], evicted). Returns the slot whose
    /// buffer the caller must now free, and the evicted block's owner if a
    /// block was evicted. `None` if nothing can be freed without I/O.
    pub fn reclaim_one(&mut self) -> Option<(SlotId, Option<u32>)> {
        let id = if self.free.head != NIL {
            self.free.head
        } else {
            self.victim()?
        };
        Some((id, self.tagged(id, |sh| sh.reclaim_slot(id))))
    }

    pub(super) fn reclaim_slot(&mut self, id: SlotId) -> Option<u32> {
        let owner = if self.slots[id as usize].list == ListId::Free {
            self.unlink(id);
            None
        } else {
            self.unlink(id);
            self.index_remove(id);
            self.set_state(id, None);
            Some(self.slots[id as usize].owner)
        };
        self.slots[id as usize].cond = Cond::Unused;
        self.counts.with_mem -= 1;
        self.push_head(ListId::Unused, id);
        owner
    }

    /// Number of slots whose memory [`Shard::reclaim_one`] could free now.
    pub fn reclaimable(&self) -> u32 {
        // Pinned clean slots are rare and short-lived; counting them keeps
        // this O(1), as a shrinker's `count` must be cheap.
        self.free.len + self.counts.clean
    }

    // ---- cap ----

    /// Changes the cap. Slots over the new cap keep their memory until
    /// reclaimed ([`Shard::over_cap`] tells how many). A smaller cap
    /// demotes protected blocks over the new bound to probation at once:
    /// list moves only, about three quarters of the drop in the cap at
    /// most, under the lock (the caller is about to evict that many).
    pub fn set_cap(&mut self, cap: u32) {
        self.cap = cap.min(self.capacity());
        self.balance();
    }

    /// How many slots hold memory beyond the cap.
    pub fn over_cap(&self) -> u32 {
        self.counts.with_mem.saturating_sub(self.cap)
    }
}
