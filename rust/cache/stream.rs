// SPDX-License-Identifier: GPL-2.0

//! Sequential streams and their bypass of the cache: the decision,
//! without the target's state (the engine keeps a [`Stream`] for reads and
//! one for writes in atomics, and asks the shards whether a block is
//! cached).
//!
//! DM hands `map` bios that cross block boundaries. A bio that stays in
//! the cache keeps only the part within its first block (DM maps the rest
//! as a new bio). Reads (or writes) that continue one another form a
//! stream; once a stream has run `sequential_cutoff` bytes (bcache's knob,
//! same default), the run of uncached blocks at the start of each of its
//! bios (at least two) goes to the origin as one bio, uncached: a bypassed
//! read, or a write-around. A large sequential read or write then costs
//! the origin's time, not one fill or copy per block, and it does not
//! evict what the cache holds. A read's run also covers clean cached
//! blocks (the origin has the same data); a dirty one is still served by
//! the cache, and a write to a cached block stays a write into the cache.
//!
//! One read stream and one write stream per target: interleaved streams
//! restart each other's run, so they stay in the cache (the conservative
//! side). Updates of a stream are racy with other submitters by design: a
//! lost update only restarts a run.
//!
//! A `REQ_NOWAIT` write never writes around (the write-around waits for
//! the origin in a worker); like a `REQ_NOWAIT` read that stays in the
//! cache, it leaves the stream as it is.
//!
//! A `REQ_NOWAIT` bio that would stay in the cache leaves the stream as it
//! is: it may complete with "would block", and the submitter then retries
//! without `REQ_NOWAIT` from the same place, which must still continue the
//! stream. One that bypasses advances the stream and remembers where it
//! started, so that its retry (after "would block" from `map`, whose
//! non-blocking association failed, or from the origin, which may refuse
//! to split a `REQ_NOWAIT` bio) continues the stream too.

/// "No sector".
pub const NONE: u64 = u64::MAX;

/// What a target remembers of its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The sector (relative to the target) where its last bio ended.
    pub next: u64,
    /// Bytes it has run.
    pub run: u64,
    /// Where its last `REQ_NOWAIT` bypass started, or [`NONE`].
    pub retry: u64,
}

impl Stream {
    /// No stream yet.
    pub const fn new() -> Self {
        Self {
            next: NONE,
            run: 0,
            retry: NONE,
        }
    }
}

impl Default for Stream {
    fn default() -> Self {
        Self::new()
    }
}

/// A read or write with data, as `map` sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// First sector, relative to the target.
    pub sector: u64,
    /// Length in sectors (at least 1).
    pub sectors: u64,
    /// A read (else a write).
    pub read: bool,
    /// `REQ_NOWAIT`.
    pub nowait: bool,
}

/// What `map` does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Sectors to keep in this bio (DM maps the rest as a new bio).
    pub keep: u64,
    /// The kept part goes to the origin, uncached.
    pub bypass: bool,
    /// The stream's new state, if it changes.
    pub stream: Option<Stream>,
}

/// Plans `req` for a target of blocks of `1 << shift` sectors, whose
/// stream is `st`, with a cutoff of `cutoff` bytes (0: never bypass).
/// `bypassable(block)` says whether a block may be bypassed (the origin
/// has its latest data: for a write, it is not in the cache); it is asked
/// about the request's blocks in order, and no more once one is not.
pub fn plan(
    st: Stream,
    req: Request,
    shift: u32,
    cutoff: u64,
    mut bypassable: impl FnMut(u64) -> bool,
) -> Plan {
    let spb = 1u64 << shift;
    let to_block_end = spb - (req.sector & (spb - 1));
    let first = req.sectors.min(to_block_end);
    if cutoff == 0 || (!req.read && req.nowait) {
        return Plan {
            keep: first,
            bypass: false,
            stream: None,
        };
    }
    let run = if st.next == req.sector || st.retry == req.sector {
        st.run
    } else {
        0
    };
    let mut keep = first;
    let mut bypass = false;
    if run >= cutoff && req.sectors > first {
        let b0 = req.sector >> shift;
        let last = (req.sector + req.sectors - 1) >> shift;
        let mut b = b0;
        while b <= last && bypassable(b) {
            b += 1;
        }
        // At least two blocks, so the workers tell a bypassed bio from a
        // cached one (which never leaves its first block).
        if b - b0 >= 2 {
            bypass = true;
            keep = if b > last {
                req.sectors
            } else {
                (b << shift) - req.sector
            };
        }
    }
    let stream = (!req.nowait || bypass).then(|| Stream {
        next: req.sector + keep,
        run: run + (keep << 9),
        retry: if req.nowait { req.sector } else { NONE },
    });
    Plan {
        keep,
        bypass,
        stream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4 KiB blocks.
    const SHIFT: u32 = 3;
    const MIB: u64 = 2048;

    /// Reads `sectors` from `sector` the way DM maps a bio: plan, keep,
    /// map the rest as a new bio. Returns the bypassed sectors and the
    /// sectors kept in the cache path.
    fn read(
        st: &mut Stream,
        sector: u64,
        sectors: u64,
        nowait: bool,
        cutoff: u64,
        cached: &dyn Fn(u64) -> bool,
    ) -> (u64, u64) {
        let req = Request {
            sector,
            sectors,
            read: true,
            nowait,
        };
        map_bios(st, req, cutoff, cached)
    }

    /// Writes `sectors` from `sector` as DM maps a bio (see [`read`]), 1 MiB
    /// cutoff.
    fn write(
        st: &mut Stream,
        sector: u64,
        sectors: u64,
        cached: &dyn Fn(u64) -> bool,
    ) -> (u64, u64) {
        let req = Request {
            sector,
            sectors,
            read: false,
            nowait: false,
        };
        map_bios(st, req, MIB * 512, cached)
    }

    /// `req` planned bio by bio, as DM maps it (see [`read`]).
    fn map_bios(
        st: &mut Stream,
        req: Request,
        cutoff: u64,
        cached: &dyn Fn(u64) -> bool,
    ) -> (u64, u64) {
        let (mut s, end) = (req.sector, req.sector + req.sectors);
        let (mut byp, mut kept) = (0, 0);
        while s < end {
            let r = Request {
                sector: s,
                sectors: end - s,
                ..req
            };
            let p = plan(*st, r, SHIFT, cutoff, |b| !cached(b));
            assert!(p.keep >= 1 && p.keep <= end - s);
            if let Some(n) = p.stream {
                *st = n;
            }
            if p.bypass {
                byp += p.keep;
            } else {
                kept += p.keep;
            }
            s += p.keep;
        }
        (byp, kept)
    }

    #[test]
    fn nowait_writes_and_no_cutoff_keep_the_first_block() {
        let st = Stream {
            next: 5,
            run: u64::MAX / 2,
            retry: NONE,
        };
        let w = Request {
            sector: 5,
            sectors: MIB,
            read: false,
            nowait: true,
        };
        let p = plan(st, w, SHIFT, MIB * 512, |_| true);
        assert_eq!((p.keep, p.bypass, p.stream), (3, false, None));
        let r = Request { read: true, ..w };
        let p = plan(st, r, SHIFT, 0, |_| true);
        assert_eq!((p.keep, p.bypass, p.stream), (3, false, None));
        let w = Request { nowait: false, ..w };
        let p = plan(st, w, SHIFT, 0, |_| true);
        assert_eq!((p.keep, p.bypass, p.stream), (3, false, None));
    }

    #[test]
    fn a_write_stream_writes_around_after_its_cutoff() {
        let mut st = Stream::new();
        let none = |_| false;
        let (byp, kept) = write(&mut st, 0, MIB, &none);
        assert_eq!((byp, kept), (0, MIB), "the first MiB goes into the cache");
        let (byp, kept) = write(&mut st, MIB, 4 * MIB, &none);
        assert_eq!((byp, kept), (4 * MIB, 0), "then whole bios write around");
        // A cached block stops the write-around; the write goes into it.
        let cached = |b| b == (5 * MIB >> SHIFT) + 3;
        let (byp, kept) = write(&mut st, 5 * MIB, MIB, &cached);
        assert_eq!((byp, kept), (MIB - 8, 8));
        // A jump restarts the stream.
        let (byp, _) = write(&mut st, 100 * MIB, MIB, &none);
        assert_eq!(byp, 0);
    }

    #[test]
    fn a_stream_bypasses_after_its_cutoff() {
        let mut st = Stream::new();
        let none = |_| false;
        // 1 MiB cutoff: the first MiB stays in the cache, block by block.
        let (byp, kept) = read(&mut st, 0, MIB, false, MIB * 512, &none);
        assert_eq!((byp, kept), (0, MIB));
        assert_eq!(st.run, MIB * 512);
        // Then each bio goes to the origin whole.
        let (byp, kept) = read(&mut st, MIB, 4 * MIB, false, MIB * 512, &none);
        assert_eq!((byp, kept), (4 * MIB, 0));
    }

    #[test]
    fn cached_blocks_stop_the_bypass() {
        let mut st = Stream {
            next: 0,
            run: u64::MAX / 2,
            retry: NONE,
        };
        // Block 10 cached: blocks 0-9 bypass, 10 is served by the cache,
        // the rest bypasses again.
        let cached = |b| b == 10;
        let (byp, kept) = read(&mut st, 0, 32 * 8, false, 1, &cached);
        assert_eq!((byp, kept), (31 * 8, 8));
        // A lone uncached block between cached ones is not bypassed.
        let mut st = Stream {
            next: 0,
            run: u64::MAX / 2,
            retry: NONE,
        };
        let cached = |b| b != 1;
        let (byp, kept) = read(&mut st, 0, 4 * 8, false, 1, &cached);
        assert_eq!((byp, kept), (0, 32));
    }

    #[test]
    fn a_jump_restarts_the_stream() {
        let mut st = Stream::new();
        let none = |_| false;
        read(&mut st, 0, 2 * MIB, false, MIB * 512, &none);
        let (byp, kept) = read(&mut st, 100 * MIB, MIB, false, MIB * 512, &none);
        assert_eq!((byp, kept), (0, MIB), "a new stream starts cached");
    }

    #[test]
    fn nowait_reads_in_the_cache_leave_the_stream_alone() {
        let mut st = Stream::new();
        let none = |_| false;
        read(&mut st, 0, MIB / 2, false, MIB * 512, &none);
        let before = st;
        // Below the cutoff: kept in the cache, may "would block".
        let (byp, _) = read(&mut st, MIB / 2, 8, true, MIB * 512, &none);
        assert_eq!(byp, 0);
        assert_eq!(st, before);
    }

    #[test]
    fn the_retry_of_a_nowait_bypass_continues_the_stream() {
        let mut st = Stream::new();
        let none = |_| false;
        read(&mut st, 0, MIB, false, MIB * 512, &none);
        // A REQ_NOWAIT bypass of the next MiB...
        let p = plan(
            st,
            Request {
                sector: MIB,
                sectors: MIB,
                read: true,
                nowait: true,
            },
            SHIFT,
            MIB * 512,
            |_| true,
        );
        assert!(p.bypass && p.keep == MIB);
        st = p.stream.unwrap();
        assert_eq!((st.next, st.retry), (2 * MIB, MIB));
        // ... would block; the retry without REQ_NOWAIT from the same
        // place still bypasses, and the stream goes on from there.
        let (byp, kept) = read(&mut st, MIB, MIB, false, MIB * 512, &none);
        assert_eq!((byp, kept), (MIB, 0));
        assert_eq!((st.next, st.retry), (2 * MIB, NONE));
        let (byp, _) = read(&mut st, 2 * MIB, MIB, false, MIB * 512, &none);
        assert_eq!(byp, MIB);
    }

    #[test]
    fn bios_that_start_inside_a_block() {
        let st = Stream {
            next: 3,
            run: u64::MAX / 2,
            retry: NONE,
        };
        // Sectors 3..20: blocks 0, 1 and 2.
        let req = Request {
            sector: 3,
            sectors: 17,
            read: true,
            nowait: false,
        };
        // All uncached: one bypass.
        let p = plan(st, req, SHIFT, 1, |_| true);
        assert_eq!((p.keep, p.bypass), (17, true));
        // Block 1 cached: only the rest of block 0 is kept, in the cache.
        let p = plan(st, req, SHIFT, 1, |b| b != 1);
        assert_eq!((p.keep, p.bypass), (5, false));
    }
}
