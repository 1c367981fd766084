// SPDX-License-Identifier: GPL-2.0

//! The slot lists (unused, free, probation and protected LRUs, dirty FIFO,
//! writing), the block index (hash chains), and iterators over a list.

use core::ops::DerefMut;

use super::*;

impl<S, B, A> Shard<S, B, A>
where
    S: DerefMut<Target = [Slot]>,
    B: DerefMut<Target = [u32]>,
    A: Accountant,
{
    // ---- lists ----

    pub(super) fn list_mut(&mut self, l: ListId) -> &mut List {
        match l {
            ListId::Unused => &mut self.unused,
            ListId::Free => &mut self.free,
            ListId::Probation => &mut self.probation,
            ListId::Protected => &mut self.protected,
            ListId::Dirty => &mut self.dirty,
            ListId::Writing => &mut self.writing,
            ListId::None => unreachable!("no list"),
        }
    }

    pub(super) fn unlink(&mut self, id: SlotId) {
        let s = self.slots[id as usize];
        if s.list == ListId::None {
            return;
        }
        if s.prev != NIL {
            self.slots[s.prev as usize].next = s.next;
        } else {
            self.list_mut(s.list).head = s.next;
        }
        if s.next != NIL {
            self.slots[s.next as usize].prev = s.prev;
        } else {
            self.list_mut(s.list).tail = s.prev;
        }
        self.list_mut(s.list).len -= 1;
        let s = &mut self.slots[id as usize];
        s.prev = NIL;
        s.next = NIL;
        s.list = ListId::None;
    }

    pub(super) fn push_head(&mut self, l: ListId, id: SlotId) {
        debug_assert_eq!(self.slots[id as usize].list, ListId::None);
        let head = self.list_mut(l).head;
        {
            let s = &mut self.slots[id as usize];
            s.prev = NIL;
            s.next = head;
            s.list = l;
        }
        if head != NIL {
            self.slots[head as usize].prev = id;
        }
        let list = self.list_mut(l);
        list.head = id;
        if list.tail == NIL {
            list.tail = id;
        }
        list.len += 1;
    }

    pub(super) fn push_tail(&mut self, l: ListId, id: SlotId) {
        debug_assert_eq!(self.slots[id as usize].list, ListId::None);
        let tail = self.list_mut(l).tail;
        {
            let s = &mut self.slots[id as usize];
            s.next = NIL;
            s.prev = tail;
            s.list = l;
        }
        if tail != NIL {
            self.slots[tail as usize].next = id;
        }
        let list = self.list_mut(l);
        list.tail = id;
        if list.head == NIL {
            list.head = id;
        }
        list.len += 1;
    }

    // ---- index ----

    pub(super) fn index_insert(&mut self, id: SlotId, block: Block) {
        let b = hash(block, self.bucket_shift);
        let s = &mut self.slots[id as usize];
        s.block = block;
        s.hnext = self.buckets[b];
        self.buckets[b] = id;
        self.counts.cached += 1;
    }

    pub(super) fn index_remove(&mut self, id: SlotId) {
        let block = self.slots[id as usize].block;
        let b = hash(block, self.bucket_shift);
        let mut cur = self.buckets[b];
        let mut prev = NIL;
        while cur != NIL {
            if cur == id {
                let nxt = self.slots[cur as usize].hnext;
                if prev == NIL {
                    self.buckets[b] = nxt;
                } else {
                    self.slots[prev as usize].hnext = nxt;
                }
                self.slots[id as usize].hnext = NIL;
                self.counts.cached -= 1;
                return;
            }
            prev = cur;
            cur = self.slots[cur as usize].hnext;
        }
        unreachable!("slot {id} not in index");
    }
}

/// Iterator over a list, head to tail.
pub struct ListIter<'a> {
    pub(super) slots: &'a [Slot],
    pub(super) cur: u32,
}

impl Iterator for ListIter<'_> {
    type Item = SlotId;
    fn next(&mut self) -> Option<SlotId> {
        if self.cur == NIL {
            return None;
        }
        let id = self.cur;
        self.cur = self.slots[id as usize].next;
        Some(id)
    }
}

/// Iterator over a list, tail to head.
pub struct ListIterRev<'a> {
    pub(super) slots: &'a [Slot],
    pub(super) cur: u32,
}

impl Iterator for ListIterRev<'_> {
    type Item = SlotId;
    fn next(&mut self) -> Option<SlotId> {
        if self.cur == NIL {
            return None;
        }
        let id = self.cur;
        self.cur = self.slots[id as usize].prev;
        Some(id)
    }
}
