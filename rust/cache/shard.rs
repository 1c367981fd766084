// SPDX-License-Identifier: GPL-2.0

//! Metadata of one cache shard: the block index, the per-block state
//! machine, the clean LRU and dirty FIFO lists, and memory accounting.
//!
//! A target splits its cache into shards by block number (see
//! [`shard_of`]) so that lookups on different CPUs do not serialise on one
//! lock; each shard is protected by its own lock in the kernel. This type
//! holds no data buffers and does no I/O: the kernel side keeps one buffer
//! per slot in a parallel array and acts on what these methods decide.
//!
//! # Slots and states
//!
//! A shard has a fixed number of slots (its capacity in blocks, chosen at
//! construction), of which at most `cap` hold memory at any time. A slot is
//! in exactly one of these conditions:
//!
//! - *unused*: no block, no memory (on the `unused` stack);
//! - *free*: no block, memory attached (on the `free` stack);
//! - indexed under a block number, with memory, in one of the [`State`]s:
//!
//! ```text
//!            alloc()                fill_done(ok)          write_hit()/unpin_write()
//!  free/unused ----> Filling ------------------> Clean ---------------------> Dirty
//!                      |  fill_done_dirty()        ^  end_writeback(ok)         |
//!                      +---------------------------|-------------------> Dirty  |
//!                      | abort_fill()              |                            | begin_writeback()
//!                      v                           +----------- Writing <-------+
//!                  free/unused                       (redirty or error: back to Dirty)
//! ```
//!
//! - `Filling`: just allocated for a miss; one worker owns it and fills it
//!   (from the origin, or with a full-block write). Others that look the
//!   block up wait for the fill to end: concurrent misses share one fill.
//! - `Clean`: same data as the origin; on the clean LRU; evictable when no
//!   reader or writer has it pinned.
//! - `Dirty`: newer than the origin; on the dirty FIFO, oldest first.
//! - `Writing`: being written back; readable and writable. A write that lands
//!   meanwhile sets `redirty`, so the block stays dirty after the writeback
//!   and the write is not lost.
//!
//! # Write generations
//!
//! Every dirtying event (a write landing in a block) takes the next value of
//! the shard's generation counter ([`Shard::generation`]). A dirty block
//! remembers the generation of its oldest modification that is not yet
//! known to be on the origin ([`Shard::dirty_gen`]). A successful writeback
//! moves that to the first modification that landed during the writeback
//! (or makes the block clean); a failed one keeps it. So "every write up to
//! generation `g` is on the origin" is exactly "no block in `Dirty` or
//! `Writing` has a dirty generation `<= g`" ([`Shard::pending_upto`]): the
//! predicate the flush and FUA protocols wait for (see the kernel side's
//! `writeback` module).
//!
//! Readers and writers pin a slot while they copy data outside the lock.
//! A writer marks the slot dirty both when it starts (`write_hit`) and when
//! it ends (`unpin_write`), and writeback does not start while a writer is
//! copying, so a writeback never snapshots half a write and then calls the
//! block clean.

use core::ops::DerefMut;

/// "No slot": end of a list or hash chain.
pub const NIL: u32 = u32::MAX;

/// Block number, in units of the cache block size.
pub type Block = u64;

/// Index of a slot in its shard.
pub type SlotId = u32;

/// State of an indexed slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Allocated for a miss, exclusively owned by the filler.
    Filling,
    /// Same as the origin.
    Clean,
    /// Newer than the origin.
    Dirty,
    /// Being written back.
    Writing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    Unused,
    Free,
    Indexed(State),
}

/// Which list a slot is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListId {
    None,
    Unused,
    Free,
    Clean,
    Dirty,
    Writing,
}

/// Per-slot metadata. Kept small: a shard has one per potential block.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    block: Block,
    /// Time (caller's clock, e.g. milliseconds) the block became dirty.
    dirty_since: u64,
    /// Generation of the oldest modification not known to be on the origin
    /// (meaningful in `Dirty` and `Writing`).
    gen: u64,
    /// Generation of the first modification during a writeback (`Writing`
    /// with `redirty`).
    regen: u64,
    /// Opaque owner tag set by the caller (the cgroup association).
    owner: u32,
    hnext: u32,
    prev: u32,
    next: u32,
    readers: u16,
    writers: u16,
    cond: Cond,
    list: ListId,
    redirty: bool,
    /// Last writeback of this block failed.
    failed: bool,
}

impl Slot {
    /// An unused slot, for filling the caller's storage.
    pub const EMPTY: Slot = Slot {
        block: 0,
        dirty_since: 0,
        gen: 0,
        regen: 0,
        owner: 0,
        hnext: NIL,
        prev: NIL,
        next: NIL,
        readers: 0,
        writers: 0,
        cond: Cond::Unused,
        list: ListId::None,
        redirty: false,
        failed: false,
    };
}

#[derive(Clone, Copy, Debug, Default)]
struct List {
    head: u32,
    tail: u32,
    len: u32,
}

impl List {
    const fn new() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

/// Counts of a shard, for status and watermarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Blocks in the index (any state).
    pub cached: u32,
    /// Clean blocks.
    pub clean: u32,
    /// Dirty blocks, including those being written back with `redirty`.
    pub dirty: u32,
    /// Blocks being written back.
    pub writing: u32,
    /// Blocks being filled.
    pub filling: u32,
    /// Slots holding memory (indexed or free).
    pub with_mem: u32,
}

/// What [`Shard::alloc`] found for a missing block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alloc {
    /// A slot with memory, now indexed under the block in state `Filling`.
    Ready(SlotId),
    /// A slot without memory, now indexed in state `Filling` and counted as
    /// holding memory: the caller allocates a buffer outside the lock, then
    /// calls [`Shard::attach_mem`] or, if that failed, [`Shard::abort_fill`].
    NeedMemory(SlotId),
    /// A clean block was evicted to make room; its slot (memory attached) is
    /// now indexed under the new block in state `Filling`. `old_owner` was
    /// the evicted block's owner tag.
    Evicted {
        /// The slot reused.
        id: SlotId,
        /// The evicted block number.
        old_block: Block,
        /// Owner tag of the evicted block.
        old_owner: u32,
    },
    /// The shard is at its cap and nothing is evictable: write back dirty
    /// blocks (or wait for readers) and retry.
    Full,
}

/// Why an operation did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// The slot is pinned by readers or writers.
    Pinned,
    /// The slot is in a state that does not allow the operation.
    State(State),
}

/// How a slot counts for its owner: the unit of per-owner (per-cgroup)
/// accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    /// Owner tag of the slot (0: none).
    pub owner: u32,
    /// The slot caches a block.
    pub cached: bool,
    /// The block is dirty.
    pub dirty: bool,
    /// The block is being filled, is dirty or is being written back: the
    /// owner's association (its cgroup reference) must stay alive.
    pub active: bool,
}

/// Receives every change of a slot's [`Tag`], under the shard's lock, so
/// that per-owner totals (cached, dirty, active blocks) stay exact.
pub trait Accountant {
    /// A slot's tag changed from `before` to `after`.
    fn account(&mut self, before: Tag, after: Tag);
}

/// No per-owner accounting.
impl Accountant for () {
    fn account(&mut self, _before: Tag, _after: Tag) {}
}

/// One cache shard's metadata over caller-provided storage.
///
/// `S` holds one [`Slot`] per potential block (its length is the shard's
/// capacity), `B` the hash buckets (a power-of-two length, ideally at least
/// the capacity). In the kernel both are `KVec`s, on the host `Vec`s. `A`
/// is told of every change of a slot's owner accounting ([`Accountant`]).
pub struct Shard<S, B, A = ()> {
    slots: S,
    buckets: B,
    bucket_shift: u32,
    unused: List,
    free: List,
    clean: List,
    dirty: List,
    /// Blocks being written back (no order).
    writing: List,
    /// Last generation handed out (see the module documentation).
    gen: u64,
    counts: Counts,
    cap: u32,
    acct: A,
}

fn hash(block: Block, shift: u32) -> usize {
    // Fibonacci hashing; `shift` is 64 - log2(buckets).
    (block.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// The shard a block belongs to. Runs of 16 adjacent blocks share a shard,
/// so writeback can merge neighbours.
pub fn shard_of(block: Block, nr_shards: u32) -> usize {
    let h = ((block >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
    h.checked_rem(nr_shards as usize).unwrap_or(0)
}

impl<S, B> Shard<S, B, ()>
where
    S: DerefMut<Target = [Slot]>,
    B: DerefMut<Target = [u32]>,
{
    /// Builds an empty shard without per-owner accounting; see
    /// [`Shard::with_accountant`].
    pub fn new(slots: S, buckets: B, cap: u32) -> Self {
        Shard::with_accountant(slots, buckets, cap, ())
    }
}

impl<S, B, A> Shard<S, B, A>
where
    S: DerefMut<Target = [Slot]>,
    B: DerefMut<Target = [u32]>,
    A: Accountant,
{
    /// Builds an empty shard. `slots` must have at most `NIL - 1` entries and
    /// `buckets` a power-of-two length; `cap` is the number of slots that
    /// may hold memory (clamped to the number of slots).
    pub fn with_accountant(mut slots: S, mut buckets: B, cap: u32, acct: A) -> Self {
        assert!(buckets.len().is_power_of_two() && buckets.len() >= 2);
        assert!(slots.len() < NIL as usize);
        buckets.iter_mut().for_each(|b| *b = NIL);
        let n = slots.len() as u32;
        let mut unused = List::new();
        for (i, s) in slots.iter_mut().enumerate() {
            *s = Slot::EMPTY;
            s.list = ListId::Unused;
            s.prev = if i == 0 { NIL } else { i as u32 - 1 };
            s.next = if i as u32 + 1 == n { NIL } else { i as u32 + 1 };
        }
        if n > 0 {
            unused = List {
                head: 0,
                tail: n - 1,
                len: n,
            };
        }
        let bucket_shift = 64 - buckets.len().trailing_zeros();
        Self {
            slots,
            buckets,
            bucket_shift,
            unused,
            free: List::new(),
            clean: List::new(),
            dirty: List::new(),
            writing: List::new(),
            gen: 0,
            counts: Counts::default(),
            cap: cap.min(n),
            acct,
        }
    }

    /// The accountant.
    pub fn accountant(&self) -> &A {
        &self.acct
    }

    /// The accounting tag of a slot.
    pub fn tag(&self, id: SlotId) -> Tag {
        let s = &self.slots[id as usize];
        match s.cond {
            Cond::Indexed(st) => Tag {
                owner: s.owner,
                cached: true,
                dirty: self.is_dirty(id),
                active: st != State::Clean,
            },
            _ => Tag {
                owner: s.owner,
                ..Tag::default()
            },
        }
    }

    /// Runs `f`, then reports the change of slot `id`'s tag, if any.
    fn tagged<R>(&mut self, id: SlotId, f: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.tag(id);
        let r = f(self);
        let after = self.tag(id);
        if before.cached != after.cached
            || before.dirty != after.dirty
            || before.active != after.active
            || (before.owner != after.owner && (before.cached || after.cached))
        {
            self.acct.account(before, after);
        }
        r
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Maximum number of slots holding memory.
    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Current counts.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    // ---- lists ----

    fn list_mut(&mut self, l: ListId) -> &mut List {
        match l {
            ListId::Unused => &mut self.unused,
            ListId::Free => &mut self.free,
            ListId::Clean => &mut self.clean,
            ListId::Dirty => &mut self.dirty,
            ListId::Writing => &mut self.writing,
            ListId::None => unreachable!("no list"),
        }
    }

    fn unlink(&mut self, id: SlotId) {
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

    fn push_head(&mut self, l: ListId, id: SlotId) {
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

    fn push_tail(&mut self, l: ListId, id: SlotId) {
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

    fn index_insert(&mut self, id: SlotId, block: Block) {
        let b = hash(block, self.bucket_shift);
        let s = &mut self.slots[id as usize];
        s.block = block;
        s.hnext = self.buckets[b];
        self.buckets[b] = id;
        self.counts.cached += 1;
    }

    fn index_remove(&mut self, id: SlotId) {
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
            || (matches!(s.cond, Cond::Indexed(State::Writing)) && s.redirty)
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

    fn next_gen(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    fn set_state(&mut self, id: SlotId, new: Option<State>) {
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
            self.slots[id as usize].redirty = false;
        }
        let is_dirty = new.is_some() && self.is_dirty(id);
        match (was_dirty, is_dirty) {
            (false, true) => self.counts.dirty += 1,
            (true, false) => self.counts.dirty -= 1,
            _ => {}
        }
    }

    // ---- allocation ----

    /// Makes room for `block` (which must not be indexed) and indexes it in
    /// state `Filling`, with `owner` as its owner tag. Prefers a free slot
    /// with memory, then (if `grow`) a slot without memory while under the
    /// cap, then evicting the least recently used clean, unpinned block.
    pub fn alloc(&mut self, block: Block, owner: u32, grow: bool) -> Alloc {
        debug_assert!(self.lookup(block).is_none());
        let id = if self.free.head != NIL {
            self.free.head
        } else if grow && self.counts.with_mem < self.cap && self.unused.head != NIL {
            self.unused.head
        } else {
            let mut cur = self.clean.tail;
            while cur != NIL && self.is_pinned(cur) {
                cur = self.slots[cur as usize].prev;
            }
            if cur == NIL {
                return Alloc::Full;
            }
            cur
        };
        self.tagged(id, |sh| sh.alloc_slot(id, block, owner))
    }

    fn alloc_slot(&mut self, id: SlotId, block: Block, owner: u32) -> Alloc {
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
        s.failed = false;
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
    fn abort_fill_inner(&mut self, id: SlotId, has_mem: bool) {
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

    /// Ends a fill from the origin: the block is clean.
    pub fn fill_done(&mut self, id: SlotId) {
        self.tagged(id, |sh| sh.fill_done_inner(id))
    }

    // Untagged body of [`Shard::fill_done`].
    fn fill_done_inner(&mut self, id: SlotId) {
        debug_assert_eq!(self.state(id), Some(State::Filling));
        self.set_state(id, Some(State::Clean));
        self.push_head(ListId::Clean, id);
    }

    /// Ends a fill by a write (full-block write, or read-modify-write): the
    /// block is dirty as of `now`.
    pub fn fill_done_dirty(&mut self, id: SlotId, now: u64) {
        self.tagged(id, |sh| sh.fill_done_dirty_inner(id, now))
    }

    // Untagged body of [`Shard::fill_done_dirty`].
    fn fill_done_dirty_inner(&mut self, id: SlotId, now: u64) {
        debug_assert_eq!(self.state(id), Some(State::Filling));
        let g = self.next_gen();
        self.slots[id as usize].dirty_since = now;
        self.slots[id as usize].gen = g;
        self.set_state(id, Some(State::Dirty));
        self.push_tail(ListId::Dirty, id);
    }

    // ---- hits ----

    /// Pins a readable slot (`Clean`, `Dirty` or `Writing`) for a reader and
    /// marks it recently used. Fails for a `Filling` slot: wait for the fill.
    pub fn pin_read(&mut self, id: SlotId) -> Result<(), Busy> {
        match self.state(id) {
            Some(State::Filling) => Err(Busy::State(State::Filling)),
            Some(State::Clean) => {
                self.unlink(id);
                self.push_head(ListId::Clean, id);
                self.slots[id as usize].readers += 1;
                Ok(())
            }
            Some(_) => {
                self.slots[id as usize].readers += 1;
                Ok(())
            }
            None => unreachable!("pin_read on a slot without a block"),
        }
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
    fn write_hit_inner(&mut self, id: SlotId, now: u64) -> Result<(), Busy> {
        match self.state(id) {
            Some(State::Filling) => return Err(Busy::State(State::Filling)),
            None => unreachable!("write_hit on a slot without a block"),
            _ => {}
        }
        self.slots[id as usize].writers += 1;
        self.mark_dirty(id, now);
        Ok(())
    }

    fn mark_dirty(&mut self, id: SlotId, now: u64) {
        let g = self.next_gen();
        match self.state(id) {
            Some(State::Clean) => {
                self.unlink(id);
                self.slots[id as usize].dirty_since = now;
                self.slots[id as usize].gen = g;
                self.set_state(id, Some(State::Dirty));
                self.push_tail(ListId::Dirty, id);
            }
            Some(State::Writing) if !self.slots[id as usize].redirty => {
                self.slots[id as usize].redirty = true;
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
    fn unpin_write_inner(&mut self, id: SlotId, now: u64) {
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
    fn begin_writeback_inner(&mut self, id: SlotId) -> Result<(), Busy> {
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
    fn end_writeback_inner(&mut self, id: SlotId, ok: bool) -> bool {
        debug_assert_eq!(self.state(id), Some(State::Writing));
        self.unlink(id);
        let redirty = self.slots[id as usize].redirty;
        self.slots[id as usize].failed = !ok;
        if ok && redirty {
            // The writeback carried everything before the redirty; what is
            // unwritten now starts there.
            self.slots[id as usize].gen = self.slots[id as usize].regen;
        }
        if ok && !redirty {
            self.set_state(id, Some(State::Clean));
            self.push_head(ListId::Clean, id);
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
        self.slots[id as usize].failed
    }

    /// Dirty slots, oldest first.
    pub fn dirty_iter(&self) -> ListIter<'_> {
        ListIter {
            slots: &self.slots,
            cur: self.dirty.head,
        }
    }

    /// Clean slots, least recently used first.
    pub fn clean_lru_iter(&self) -> ListIterRev<'_> {
        ListIterRev {
            slots: &self.slots,
            cur: self.clean.tail,
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
    fn invalidate_inner(&mut self, id: SlotId) -> Result<State, Busy> {
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

    /// Takes one slot's memory away: a free slot first, else the least
    /// recently used clean unpinned block (evicted). Returns the slot whose
    /// buffer the caller must now free, and the evicted block's owner if a
    /// block was evicted. `None` if nothing can be freed without I/O.
    pub fn reclaim_one(&mut self) -> Option<(SlotId, Option<u32>)> {
        let id = if self.free.head != NIL {
            self.free.head
        } else {
            let mut cur = self.clean.tail;
            while cur != NIL && self.is_pinned(cur) {
                cur = self.slots[cur as usize].prev;
            }
            if cur == NIL {
                return None;
            }
            cur
        };
        Some((id, self.tagged(id, |sh| sh.reclaim_slot(id))))
    }

    fn reclaim_slot(&mut self, id: SlotId) -> Option<u32> {
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
        self.free.len + self.clean.len
    }

    /// Changes the cap. Slots over the new cap keep their memory until
    /// reclaimed ([`Shard::over_cap`] tells how many).
    pub fn set_cap(&mut self, cap: u32) {
        self.cap = cap.min(self.capacity());
    }

    /// How many slots hold memory beyond the cap.
    pub fn over_cap(&self) -> u32 {
        self.counts.with_mem.saturating_sub(self.cap)
    }

    /// Checks every invariant; for tests. Panics on the first violation.
    pub fn check_invariants(&self) {
        let mut c = Counts::default();
        let mut on = [0u32; 6];
        for (i, s) in self.slots.iter().enumerate() {
            let li = match s.list {
                ListId::None => 0,
                ListId::Unused => 1,
                ListId::Free => 2,
                ListId::Clean => 3,
                ListId::Dirty => 4,
                ListId::Writing => 5,
            };
            on[li] += 1;
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
                        State::Clean => ListId::Clean,
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
                            if s.redirty {
                                c.dirty += 1;
                            }
                        }
                        State::Filling => c.filling += 1,
                    }
                    if st != State::Writing {
                        assert!(!s.redirty, "slot {i}");
                    }
                    if matches!(st, State::Dirty | State::Writing) {
                        assert!(s.gen <= self.gen, "slot {i} generation from the future");
                    }
                    if st == State::Writing && s.redirty {
                        assert!(s.gen <= s.regen, "slot {i} redirty before its write");
                    }
                }
            }
        }
        assert_eq!(c, self.counts);
        assert_eq!(on[1], self.unused.len);
        assert_eq!(on[2], self.free.len);
        assert_eq!(on[3], self.clean.len);
        assert_eq!(on[4], self.dirty.len);
        assert_eq!(on[5], self.writing.len);
        for l in [
            &self.unused,
            &self.free,
            &self.clean,
            &self.dirty,
            &self.writing,
        ] {
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
}

/// Iterator over a list, head to tail.
pub struct ListIter<'a> {
    slots: &'a [Slot],
    cur: u32,
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
    slots: &'a [Slot],
    cur: u32,
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
