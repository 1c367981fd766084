// SPDX-License-Identifier: GPL-2.0

//! Scan resistance of [`crate::shard::Shard`] (host only): a hot set read
//! a few times, then one sequential pass over four times more blocks than
//! the shard holds, then the hot set again. With one LRU list the pass
//! evicts the whole hot set (0 of 64 hits); with the probation and
//! protected segments the hot set must survive it.
//!
//! The pass is replayed the way the kernel side makes it: a read miss
//! allocates and fills the block and the reader copies from it before the
//! fill ends (no pin, no hit); readahead fills the next blocks with
//! [`Shard::fill_done_ahead`] and the stream then hits them once; a stream
//! reading a block in pieces hits it again right after; a write stream
//! dirties blocks that writeback cleans from the default high watermark
//! (half the cap) down to the low one (a quarter).

use super::shard::{Alloc, Shard, Slot};

type Sh = Shard<Vec<Slot>, Vec<u32>>;

const SLOTS: usize = 256;
const HOT: u64 = 64;
const SCAN_FROM: u64 = 10_000;
const SCAN: u64 = 1_024;

fn shard() -> Sh {
    Shard::new(
        vec![Slot::EMPTY; SLOTS],
        vec![0u32; SLOTS * 2],
        SLOTS as u32,
    )
}

/// Allocates a slot for uncached `b`, writing dirty blocks back if the
/// shard is full of them.
fn alloc(s: &mut Sh, b: u64) -> u32 {
    loop {
        match s.alloc(b, 0, true) {
            Alloc::Ready(id) | Alloc::Evicted { id, .. } => return id,
            Alloc::NeedMemory(id) => {
                s.attach_mem(id);
                return id;
            }
            Alloc::Full => writeback_all(s),
        }
    }
}

fn writeback_all(s: &mut Sh) {
    writeback(s, 0);
}

/// Writes the oldest dirty blocks back until `keep` remain.
fn writeback(s: &mut Sh, keep: usize) {
    let dirty: Vec<u32> = s.dirty_iter().collect();
    assert!(!dirty.is_empty(), "full without dirty blocks");
    let n = dirty.len().saturating_sub(keep);
    for id in dirty.into_iter().take(n) {
        s.begin_writeback(id).unwrap();
        assert!(s.end_writeback(id, true));
    }
}

/// A demand read of `b`: a pinned and unpinned hit, or a miss filled from
/// the origin. Returns whether it hit.
fn read(s: &mut Sh, b: u64) -> bool {
    match s.lookup(b) {
        Some(id) => {
            s.pin_read(id).unwrap();
            s.unpin_read(id);
            true
        }
        None => {
            let id = alloc(s, b);
            s.fill_done(id);
            false
        }
    }
}

/// A demand write of `b` (a hit, or a full-block write miss), with
/// background writeback at the default watermarks.
fn write(s: &mut Sh, b: u64, now: u64) {
    if s.counts().dirty >= s.cap() / 2 {
        writeback(s, s.cap() as usize / 4);
    }
    match s.lookup(b) {
        Some(id) => {
            s.write_hit(id, now, 0).unwrap();
            s.unpin_write(id, now);
        }
        None => {
            let id = alloc(s, b);
            s.fill_done_dirty(id, now);
        }
    }
}

/// Reads the hot set `passes` times; returns the fraction of the last pass
/// that hit.
fn hot_pass(s: &mut Sh, passes: u32) -> f64 {
    let mut hits = 0;
    for _ in 0..passes {
        hits = (0..HOT).filter(|&b| read(s, b)).count();
        s.check_invariants();
    }
    hits as f64 / HOT as f64
}

/// How the sequential pass touches its blocks.
#[derive(Clone, Copy, Debug)]
enum Scan {
    /// One read miss per block.
    Plain,
    /// Read misses with readahead of 8 blocks, the stream then hits those.
    Readahead,
    /// Each block read in 4 pieces: a miss, then 3 hits right after it.
    Pieces,
    /// Each block written in 4 pieces; writeback cleans them as needed.
    Writes,
}

fn scan(s: &mut Sh, how: Scan) {
    let mut b = SCAN_FROM;
    while b < SCAN_FROM + SCAN {
        match how {
            Scan::Plain => {
                read(s, b);
                b += 1;
            }
            Scan::Readahead => {
                // The miss takes its slot first, then the readahead slots;
                // the readahead fills end before the missed block's.
                let main = alloc(s, b);
                let ahead: Vec<u32> = (1..=8).map(|i| alloc(s, b + i)).collect();
                for id in ahead {
                    s.fill_done_ahead(id);
                }
                s.fill_done(main);
                for i in 1..=8 {
                    assert!(read(s, b + i), "read ahead block {} missed", b + i);
                }
                b += 9;
            }
            Scan::Pieces => {
                assert!(!read(s, b));
                for _ in 0..3 {
                    assert!(read(s, b));
                }
                b += 1;
            }
            Scan::Writes => {
                for _ in 0..4 {
                    write(s, b, b);
                }
                b += 1;
            }
        }
        s.check_invariants();
    }
    if matches!(how, Scan::Writes) {
        writeback_all(s);
    }
}

/// The hot set's hit ratio after one scan.
fn hot_after(how: Scan) -> f64 {
    let mut s = shard();
    assert_eq!(hot_pass(&mut s, 3), 1.0);
    scan(&mut s, how);
    let r = hot_pass(&mut s, 1);
    s.check_invariants();
    println!("{how:?}: hot set hit ratio after the scan {r:.3}");
    r
}

#[test]
fn plain_scan_keeps_hot_set() {
    assert!(hot_after(Scan::Plain) >= 0.9);
}

#[test]
fn readahead_scan_keeps_hot_set() {
    assert!(hot_after(Scan::Readahead) >= 0.9);
}

#[test]
fn scan_in_pieces_keeps_hot_set() {
    assert!(hot_after(Scan::Pieces) >= 0.9);
}

#[test]
fn write_scan_keeps_hot_set() {
    assert!(hot_after(Scan::Writes) >= 0.9);
}

/// A new hot set can still take over: blocks referenced twice are
/// promoted, and the old hot set is demoted (not evicted) beyond the
/// protected bound, then evicted from probation as it goes cold.
#[test]
fn new_hot_set_replaces_old() {
    let mut s = shard();
    hot_pass(&mut s, 3);
    // A second hot set of 192 blocks, read three times.
    for _ in 0..3 {
        for b in 1_000..1_192 {
            read(&mut s, b);
        }
        s.check_invariants();
    }
    assert_eq!(s.protected_iter().count() as u32, s.protected_max());
    let hits = (1_000..1_192).filter(|&b| read(&mut s, b)).count();
    assert_eq!(hits, 192);
}

/// A hot block that is dirtied and written back returns to the protected
/// segment; a block seen once returns to probation.
#[test]
fn writeback_returns_block_to_its_segment() {
    let mut s = shard();
    read(&mut s, 1);
    read(&mut s, 2);
    read(&mut s, 1); // hot
    write(&mut s, 1, 1);
    write(&mut s, 3, 2); // seen once
    writeback_all(&mut s);
    let hot = s.lookup(1).unwrap();
    let once = s.lookup(3).unwrap();
    assert!(s.protected_iter().any(|id| id == hot));
    assert!(s.probation_iter().any(|id| id == once));
    // Eviction order: probation (least recently used first), then protected.
    let order: Vec<u32> = s.clean_lru_iter().collect();
    assert_eq!(order.last(), Some(&hot));
    s.check_invariants();
}

/// Shrinking the cap demotes the protected blocks over the new bound.
#[test]
fn smaller_cap_demotes() {
    let mut s = shard();
    for _ in 0..2 {
        for b in 0..200 {
            read(&mut s, b);
        }
    }
    assert_eq!(s.protected_iter().count(), 192);
    s.set_cap(100);
    assert_eq!(s.protected_iter().count(), 75);
    s.check_invariants();
    while s.over_cap() > 0 {
        s.reclaim_one().unwrap();
    }
    s.check_invariants();
    // What was evicted came from probation: the protected blocks remain.
    assert_eq!(s.protected_iter().count(), 75);
}

/// A write hit takes the block off the clean lists: it must not first
/// move it into a full protected segment, which would demote a hot block
/// for nothing.
#[test]
fn write_hit_demotes_nothing() {
    let mut s = shard();
    // A full protected segment: 192 blocks read twice.
    for _ in 0..2 {
        for b in 0..192 {
            read(&mut s, b);
        }
    }
    assert_eq!(s.protected_iter().count() as u32, s.protected_max());
    // A block read once, then read again by someone else (it is hot
    // now), then written.
    read(&mut s, 500);
    read(&mut s, 0);
    read(&mut s, 500);
    let before = s.protected_iter().count();
    write(&mut s, 500, 1);
    let after = s.protected_iter().count();
    // Block 500 went to protected on its second read (demoting one), and
    // left it when written: one place free, nothing else demoted.
    assert_eq!(after, before - 1);
    s.check_invariants();
    // Full again (block 600 made hot), then a block seen once and
    // written: it becomes hot, but leaves the clean lists, so nothing is
    // demoted (moving it to protected first demoted one hot block).
    read(&mut s, 600);
    read(&mut s, 0);
    read(&mut s, 600);
    assert_eq!(s.protected_iter().count() as u32, s.protected_max());
    read(&mut s, 501);
    read(&mut s, 0);
    let hot: Vec<u32> = s.protected_iter().collect();
    write(&mut s, 501, 2);
    assert_eq!(s.protected_iter().collect::<Vec<u32>>(), hot);
    s.check_invariants();
}
