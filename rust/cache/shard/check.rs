// SPDX-License-Identifier: GPL-2.0

//! The shard's consistency check, for tests.

use core::ops::DerefMut;

use super::*;

impl<S, B, A> Shard<S, B, A>
where
    S: DerefMut<Target = [Slot]>,
    B: DerefMut<Target = [u32]>,
    A: Accountant,
{
    /// Checks every invariant; for tests. Panics on the first violation.
    pub fn check_invariants(&self) {
        let mut c = Counts::default();
        let mut on = [0u32; 7];
        for (i, s) in self.slots.iter().enumerate() {
            let li = match s.list {
                ListId::None => 0,
                ListId::Unused => 1,
                ListId::Free => 2,
                ListId::Probation => 3,
                ListId::Protected => 4,
                ListId::Dirty => 5,
                ListId::Writing => 6,
            };
            on[li] += 1;
            assert_eq!(s.flags & !(REDIRTY | FAILED), 0, "slot {i} flags");
            match s.cond {
                Cond::Unused => {
                    assert_eq!(s.list, ListId::Unused, "slot {i}");
                }
                Cond::Free => {
                    c.with_mem += 1;
                    assert_eq!(s.list, ListId::Free, "slot {i}");
                }
                Cond::Indexed(st) => {
                    c.with_mem += 1;
                    c.cached += 1;
                    assert_eq!(self.lookup(s.block), Some(i as u32), "slot {i}");
                    let want = match st {
                        // The segment follows the references.
                        State::Clean if s.heat == Heat::Hot => ListId::Protected,
                        State::Clean => ListId::Probation,
                        State::Dirty => ListId::Dirty,
                        State::Writing => ListId::Writing,
                        State::Filling => ListId::None,
                    };
                    assert_eq!(s.list, want, "slot {i} state {st:?}");
                    match st {
                        State::Clean => c.clean += 1,
                        State::Dirty => c.dirty += 1,
                        State::Writing => {
                            c.writing += 1;
                            if s.has(REDIRTY) {
                                c.dirty += 1;
                            }
                        }
                        State::Filling => c.filling += 1,
                    }
                    if st != State::Writing {
                        assert!(!s.has(REDIRTY), "slot {i}");
                    }
                    if matches!(st, State::Dirty | State::Writing) {
                        assert!(s.gen <= self.gen, "slot {i} generation from the future");
                    }
                    if st == State::Writing && s.has(REDIRTY) {
                        assert!(s.gen <= s.regen, "slot {i} redirty before its write");
                    }
                }
            }
        }
        assert_eq!(c, self.counts);
        assert_eq!(on[1], self.unused.len);
        assert_eq!(on[2], self.free.len);
        assert_eq!(on[3], self.probation.len);
        assert_eq!(on[4], self.protected.len);
        assert_eq!(on[5], self.dirty.len);
        assert_eq!(on[6], self.writing.len);
        // The segments together are the clean blocks; protected is within
        // its bound exactly (every change of it or of the cap rebalances).
        assert_eq!(self.probation.len + self.protected.len, self.counts.clean);
        assert!(self.protected.len <= self.protected_max());
        assert!(self.last == NIL || (self.last as usize) < self.slots.len());
        for l in [
            &self.unused,
            &self.free,
            &self.probation,
            &self.protected,
            &self.dirty,
            &self.writing,
        ] {
            self.check_list(l);
        }
    }

    /// Checks that list `l` is well linked and as long as it says.
    fn check_list(&self, l: &List) {
        let mut n = 0;
        let mut prev = NIL;
        let mut cur = l.head;
        while cur != NIL {
            assert_eq!(self.slots[cur as usize].prev, prev);
            prev = cur;
            cur = self.slots[cur as usize].next;
            n += 1;
            assert!(n <= l.len);
        }
        assert_eq!(prev, l.tail);
        assert_eq!(n, l.len);
    }
}
