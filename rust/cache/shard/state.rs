// SPDX-License-Identifier: GPL-2.0

//! Queries of a shard (lookup, per-block facts, write generations) and
//! the one place a slot changes state.

use core::ops::DerefMut;

use super::*;

impl<S, B, A> Shard<S, B, A>
where
    S: DerefMut<Target = [Slot]>,
    B: DerefMut<Target = [u32]>,
    A: Accountant,
{
    /// The slot caching `block`, if any.
    pub fn lookup(&self, block: Block) -> Option<SlotId> {
        let mut cur = self.buckets[hash(block, self.bucket_shift)];
        while cur != NIL {
            let s = &self.slots[cur as usize];
            if s.block == block {
                return Some(cur);
            }
            cur = s.hnext;
        }
        None
    }

    /// State of an indexed slot (`None` if the slot is unused or free).
    pub fn state(&self, id: SlotId) -> Option<State> {
        match self.slots[id as usize].cond {
            Cond::Indexed(st) => Some(st),
            _ => None,
        }
    }

    /// Block number of an indexed slot.
    pub fn block(&self, id: SlotId) -> Block {
        self.slots[id as usize].block
    }

    /// Owner tag of a slot.
    pub fn owner(&self, id: SlotId) -> u32 {
        self.slots[id as usize].owner
    }

    /// Sets the owner tag of an indexed slot; returns the previous one.
    pub fn set_owner(&mut self, id: SlotId, owner: u32) -> u32 {
        self.tagged(id, |sh| {
            core::mem::replace(&mut sh.slots[id as usize].owner, owner)
        })
    }

    /// When the slot became dirty (meaningful for dirty slots).
    pub fn dirty_since(&self, id: SlotId) -> u64 {
        self.slots[id as usize].dirty_since
    }

    /// Whether the slot is pinned by anyone.
    pub fn is_pinned(&self, id: SlotId) -> bool {
        let s = &self.slots[id as usize];
        s.readers > 0 || s.writers > 0
    }

    /// Whether the block counts as dirty (state `Dirty`, or `Writing` with a
    /// write that landed during the writeback).
    pub fn is_dirty(&self, id: SlotId) -> bool {
        let s = &self.slots[id as usize];
        matches!(s.cond, Cond::Indexed(State::Dirty))
            || (matches!(s.cond, Cond::Indexed(State::Writing)) && s.has(REDIRTY))
    }

    /// The last write generation handed out in this shard: every write that
    /// has landed so far has a generation `<=` this.
    pub fn generation(&self) -> u64 {
        self.gen
    }

    /// Generation of the oldest modification of a `Dirty` or `Writing` slot
    /// that is not known to be on the origin.
    pub fn dirty_gen(&self, id: SlotId) -> u64 {
        self.slots[id as usize].gen
    }

    /// Whether a slot holds a modification of generation `<= g` that is not
    /// known to be on the origin yet (being written back counts: that write
    /// has not completed).
    pub fn unwritten_upto(&self, id: SlotId, g: u64) -> bool {
        let s = &self.slots[id as usize];
        matches!(s.cond, Cond::Indexed(State::Dirty | State::Writing)) && s.gen <= g
    }

    /// Blocks holding modifications of generation `<= g` that are not on the
    /// origin yet: `(dirty, writing)`, those waiting for a writeback and
    /// those being written back. Both zero means every write up to `g` has
    /// completed on the origin.
    pub fn pending_upto(&self, g: u64) -> (u32, u32) {
        let count = |it: ListIter<'_>| it.filter(|&id| self.slots[id as usize].gen <= g).count();
        let d = count(self.dirty_iter());
        let w = count(ListIter {
            slots: &self.slots,
            cur: self.writing.head,
        });
        (d as u32, w as u32)
    }

    pub(super) fn next_gen(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    pub(super) fn set_state(&mut self, id: SlotId, new: Option<State>) {
        let old = self.state(id);
        let was_dirty = self.is_dirty(id);
        match old {
            Some(State::Clean) => self.counts.clean -= 1,
            Some(State::Writing) => self.counts.writing -= 1,
            Some(State::Filling) => self.counts.filling -= 1,
            _ => {}
        }
        match new {
            Some(State::Clean) => self.counts.clean += 1,
            Some(State::Writing) => self.counts.writing += 1,
            Some(State::Filling) => self.counts.filling += 1,
            _ => {}
        }
        if let Some(st) = new {
            self.slots[id as usize].cond = Cond::Indexed(st);
        }
        if new != Some(State::Writing) {
            self.slots[id as usize].set_flag(REDIRTY, false);
        }
        let is_dirty = new.is_some() && self.is_dirty(id);
        match (was_dirty, is_dirty) {
            (false, true) => self.counts.dirty += 1,
            (true, false) => self.counts.dirty -= 1,
            _ => {}
        }
    }
}
