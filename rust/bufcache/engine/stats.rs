// SPDX-License-Identifier: GPL-2.0

//! Statistics: the status line's values, from the counters (indexed by the
//! field table of [`crate::cache::status`]) and the shards' state.

use crate::cache::status::{Field, Source, Status};

use super::Inner;

/// The shards' counts, summed over the target.
#[derive(Default)]
struct Totals {
    cached: u64,
    writing: u64,
    dirty: u64,
    mem: u64,
}

impl Inner {
    /// Resets the counters (the fields the field table marks as reset by
    /// `clear_stats`).
    pub(crate) fn clear_stats(&self) {
        self.stats.clear();
    }

    /// Counts a flush request (a `REQ_PREFLUSH` bio or a `flush` message)
    /// and carries it out ([`Inner::flush_all`]).
    pub(crate) fn flush(&self) -> kernel::error::Result {
        self.stats.inc(Field::Flushes);
        self.flush_all()
    }

    /// Sums the shards' counts, each shard under its lock.
    fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for si in 0..self.nshards() {
            let c = self.shards.lock(si).meta.counts();
            t.cached += u64::from(c.cached);
            t.writing += u64::from(c.writing);
            t.dirty += u64::from(c.dirty);
            t.mem += u64::from(c.with_mem);
        }
        t
    }

    /// Dirty blocks, counted under the shard locks.
    pub(crate) fn dirty_blocks_now(&self) -> u64 {
        self.totals().dirty
    }

    /// Writes the status line (its values taken now).
    pub(crate) fn write_status(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let mut s = Status::new(self.mode());
        self.fill_status(&mut s);
        s.format(out)
    }

    /// Sets every value of `s` (not inlined: its work stays out of the
    /// frame that holds `s`).
    #[inline(never)]
    fn fill_status(&self, s: &mut Status) {
        let t = self.totals();
        let reserve = self.share.reserve_len() as u64;
        for f in Field::ALL {
            match f.source() {
                Source::Counter | Source::Kept => s.set(f, self.stats.get(f)),
                Source::Cgroup => s.set(f, self.cg.stats.get(f)),
                Source::State | Source::Sum => {}
            }
        }
        s.set(Field::BlocksCached, t.cached);
        s.set(Field::DirtyBlocks, t.dirty);
        s.set(
            Field::BytesUsed,
            (t.mem + reserve) * u64::from(self.layout.block_size),
        );
        s.set(Field::CapBytes, self.effective_cap_bytes());
        s.set(
            Field::Errors,
            s.get(Field::WritebackErrors) + s.get(Field::FillErrors),
        );
        s.set(Field::WritingBlocks, t.writing);
        s.set(
            Field::ReserveInUse,
            (self.share.reserve_target() as u64).saturating_sub(reserve),
        );
        s.set(Field::CgEntries, self.cg.len());
    }
}
