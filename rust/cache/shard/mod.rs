// SPDX-License-Identifier: GPL-2.0

//! Metadata of one cache shard: the block index, the per-block state
//! machine, the clean LRU segments and dirty FIFO list, and memory
//! accounting.
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
//! - `Clean`: same data as the origin; in one of the two clean LRU
//!   segments (below); evictable when no reader or writer has it pinned.
//! - `Dirty`: newer than the origin; on the dirty FIFO, oldest first.
//! - `Writing`: being written back; readable and writable. A write that lands
//!   meanwhile sets `redirty`, so the block stays dirty after the writeback
//!   and the write is not lost.
//!
//! # Clean segments: scan resistance
//!
//! One LRU list of clean blocks lets a single sequential pass over more
//! blocks than the cache holds evict everything, the hot set included.
//! So the clean blocks are split into two LRU lists (a segmented LRU, as in
//! 2Q and SLRU), each with its most recently used block at the head:
//!
//! - *probation*: blocks referenced once. A fill from the origin ends here,
//!   readahead included.
//! - *protected*: blocks referenced at least twice. At most
//!   [`Shard::protected_max`] (three quarters of the cap) long: when a
//!   promotion or a smaller cap makes it longer, its least recently used
//!   blocks are *demoted* to the head of probation (not evicted).
//!
//! Eviction ([`Shard::victim`], for [`Shard::alloc`] and
//! [`Shard::reclaim_one`]) takes the least recently used unpinned block of
//! probation, and of protected only when probation has none. A pass over
//! new blocks therefore only cycles probation, and the protected blocks
//! stay.
//!
//! Each slot keeps its *heat* in every state ([`Shard::hit`]): a block read
//! ahead and not yet asked for (`Ahead`), referenced once (`Once`: the
//! miss that brought it in, or demoted), or hot (`Hot`). A read pin or a
//! write hit moves `Ahead` to `Once` and `Once` to `Hot`, except when the
//! block is also the shard's previous reference: a stream that reads or
//! writes a block in pieces (a 4 KiB reader of 64 KiB blocks) hits it
//! again at once, and those hits are one reference. Without these two
//! rules every block of a sequential read with readahead, or of a
//! piecewise one, would be promoted by the stream itself. A clean hot block
//! is in protected, any other clean block in probation; a hit moves a
//! clean block to the head of its (new) segment. A dirty or writing block
//! is on the dirty FIFO or writing list, not in a segment; it keeps its
//! heat, and when a writeback makes it clean it goes back to the segment
//! its heat says.
//!
//! The segment state costs no memory per slot: the heat byte and the
//! `redirty`/`failed` flags byte fit where two `bool`s were (56 bytes per
//! slot on 64-bit machines, before and after); the shard holds one more
//! list head and the slot of its latest reference.
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

mod check;
mod lists;
mod ops;
mod state;

pub use lists::{ListIter, ListIterRev};

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
    /// Clean, referenced at most once since it entered the cache (or
    /// demoted from `Protected`).
    Probation,
    /// Clean, referenced at least twice (`Heat::Hot`).
    Protected,
    Dirty,
    Writing,
}

/// How often a cached block has been referenced: decides which clean
/// segment it belongs to. Kept in every state, so a block that was hot
/// before it was dirtied is hot again when its writeback ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Heat {
    /// Read ahead, not yet asked for.
    Ahead,
    /// Referenced once: by the miss that brought it in, by the first hit
    /// on a block read ahead, or demoted from the protected segment.
    Once,
    /// Referenced again after that: belongs to the protected segment.
    Hot,
}

/// [`Slot::flags`]: a write landed during the writeback (`Writing` only).
const REDIRTY: u8 = 1;
/// [`Slot::flags`]: the last writeback of this block failed.
const FAILED: u8 = 2;

/// Per-slot metadata. Kept small: a shard has one per potential block
/// (56 bytes on 64-bit machines; checked at build time below).
///
/// # Invariants
///
/// See [`Shard::check_invariants`]: `list` matches `cond` (and, for a
/// clean block, `heat`: `Protected` exactly when `Hot`); `prev`/`next`
/// link the slot into that list; `flags` holds `REDIRTY` only in
/// `Writing`.
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
    /// `REDIRTY` and `FAILED`.
    flags: u8,
    /// References seen (meaningful while indexed).
    heat: Heat,
}

// The segmented LRU packs its per-slot state into the bytes two `bool`s
// used before: the slot does not grow.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Slot>() == 56);

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
        flags: 0,
        heat: Heat::Once,
    };

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
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
    /// Clean blocks seen once, most recently used at the head: evicted
    /// first.
    probation: List,
    /// Clean blocks seen at least twice, most recently used at the head;
    /// at most [`Shard::protected_max`] long.
    protected: List,
    dirty: List,
    /// Blocks being written back (no order).
    writing: List,
    /// Last generation handed out (see the module documentation).
    gen: u64,
    /// The slot of the shard's latest reference (a hit, or the end of a
    /// demand fill), or `NIL`: a hit on it again is not a second reference.
    last: u32,
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
            probation: List::new(),
            protected: List::new(),
            dirty: List::new(),
            writing: List::new(),
            gen: 0,
            last: NIL,
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
}
