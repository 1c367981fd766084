// SPDX-License-Identifier: GPL-2.0

//! The `bufcache` target: table line, `map`, status and messages. The
//! cache itself is in [`engine`]; the module-wide memory budget in
//! [`budget`]. The user interface is documented in
//! `Documentation/bufcache.rst`.

#![forbid(unsafe_code)]

pub(crate) mod budget;
mod cgroup;
mod counters;
mod engine;
pub(crate) mod knobs;

use core::fmt::Write;

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::cache::message::{self, Message};
use crate::cache::table;
use crate::dm::{
    self, memalloc, BioOp, CtrError, MapBio, MapResult, QueueLimits, StatusKind, StatusWriter,
    TargetCtr, TargetInfo,
};

use engine::{Geometry, Inner, MAX_IO_SECTORS};

/// The shrinker's `seeks` and `batch` (see `dm::shrinker::Shrinker`).
const SHRINKER_SEEKS: i32 = 1;
const SHRINKER_BATCH: isize = 32;

/// Target version reported to DM (`dmsetup targets`).
const VERSION: [u32; 3] = [1, 0, 0];

/// Registers the `bufcache` target type.
pub(crate) fn register(
    module: &'static ThisModule,
) -> impl PinInit<dm::Registration<Bufcache>, Error> {
    // REQ_NOWAIT bios are served when they hit and completed with "would
    // block" otherwise.
    dm::Registration::new(c"bufcache", VERSION, dm::Features::NOWAIT, module)
}

/// One `bufcache` target instance: the private data DM keeps in
/// `ti->private`.
pub(crate) struct Bufcache {
    /// Dropped first (in `drop`): `shrinker_free` waits for running scans.
    shrinker: Option<dm::shrinker::Shrinker<Inner>>,
    inner: Arc<Inner>,
}

/// An allocation of the constructor failed; `what` says which one.
fn nomem(what: &'static CStr) -> CtrError {
    CtrError {
        errno: ENOMEM,
        msg: what,
    }
}

/// The target's I/O limits and flush and discard support.
fn set_limits(ti: &mut TargetCtr, block_size: u32) -> Result<(), CtrError> {
    // Bios of up to 1 MiB; `map` keeps the part in the first block of each
    // (DM maps the rest as a new bio), or a bypassed run (engine::stream).
    ti.set_max_io_len(MAX_IO_SECTORS.max(block_size >> dm::SECTOR_SHIFT))
        .map_err(|e| CtrError {
            errno: e,
            msg: c"Cannot set the maximum I/O size",
        })?;
    ti.set_num_flush_bios(1);
    ti.set_flush_supported(true);
    // Discards always reach us (to drop cached blocks); they are passed
    // down only if the origin supports them.
    ti.set_num_discard_bios(1);
    ti.set_discards_supported(true);
    Ok(())
}

/// Registers the shrinker of a new target; shuts `inner` down if that
/// fails.
fn register_shrinker(inner: &Arc<Inner>) -> Result<dm::shrinker::Shrinker<Inner>, CtrError> {
    // Like dm-bufio, one seek per buffer (a clean buffer costs one read
    // to get back), and small batches so that reclaim asks us often,
    // from whichever context is reclaiming, rather than saving up.
    match dm::shrinker::Shrinker::register(
        inner.origin().name(),
        inner.clone(),
        SHRINKER_SEEKS,
        SHRINKER_BATCH,
    ) {
        Ok(s) => Ok(s),
        Err(_) => {
            if !knobs::ctor_arms_timer() {
                inner.shutdown();
            }
            Err(nomem(c"Cannot register the shrinker"))
        }
    }
}

#[vtable]
impl dm::Target for Bufcache {
    const CAPTURE_SCOPE: bool = true;

    fn ctr(
        ti: &mut TargetCtr,
        args: &dm::target::CtrArgs<'_>,
    ) -> Result<Pin<KBox<Self>>, CtrError> {
        let t = table::parse(args.strs()).map_err(|e| CtrError::inval(e.msg()))?;
        // `parse` succeeded, so argument 0 exists.
        let path = args
            .cstr(0)
            .ok_or(CtrError::inval(table::TableError::MissingArgs.msg()))?;
        let origin = ti.get_device(path).map_err(|e| CtrError {
            errno: e,
            msg: c"Origin device lookup failed",
        })?;
        table::check_block_size_vs_origin(t.block_size, origin.logical_block_size())
            .map_err(|e| CtrError::inval(e.msg()))?;
        let (begin, len) = (ti.info().begin(), ti.info().len());
        if len > origin.nr_sectors() {
            return Err(CtrError::inval(c"Origin device is smaller than the target"));
        }
        let spb = u64::from(t.block_size >> dm::SECTOR_SHIFT);
        if len & (spb - 1) != 0 {
            return Err(CtrError::inval(
                c"Target length must be a multiple of the block size",
            ));
        }
        if t.opts
            .given_cache_size()
            .is_some_and(|c| c > dm::totalram_bytes())
        {
            return Err(CtrError::inval(
                c"cache_size is larger than the machine's RAM",
            ));
        }
        let cap_bytes = t.opts.given_cache_size().unwrap_or_else(budget::budget);
        if (cap_bytes >> t.block_size.trailing_zeros()) < table::MIN_CACHE_BLOCKS {
            return Err(CtrError::inval(
                c"Module budget (max_cache_size_bytes) too small for 16 blocks",
            ));
        }
        // The index is allocated whole at load: it may take at most an
        // eighth of RAM (a cap of all RAM in 512-byte blocks would not).
        if engine::index_bytes(cap_bytes, t.block_size) > dm::totalram_bytes() / 8 {
            return Err(CtrError::inval(
                c"Cache index too large for the machine's RAM",
            ));
        }
        set_limits(ti, t.block_size)?;
        let geo = Geometry {
            begin,
            block_size: t.block_size,
            nr_blocks: len >> spb.trailing_zeros(),
            cap_bytes,
            opts: t.opts,
        };
        let inner =
            Inner::new(origin, geo).map_err(|_| nomem(c"Cannot allocate memory for the cache"))?;
        // `inner` drops (and with it the origin) if anything below fails;
        // it has no background work running yet.
        if knobs::ctor_arms_timer() {
            inner.arm_timer();
        }
        pr_info!(
            "{}: {} byte blocks, cap {} bytes, module budget {} of {} bytes in use\n",
            inner.origin().name().to_str().unwrap_or("?"),
            inner.block_size(),
            cap_bytes,
            budget::used(),
            budget::budget()
        );
        if let Some(c) = t.opts.given_cache_size().filter(|&c| c > budget::budget()) {
            pr_warn!(
                "{}: cache_size {} is larger than the module budget of {} bytes (max_cache_size_bytes, shared by all targets): the cache holds at most that; cap_bytes in the status shows it\n",
                inner.origin().name().to_str().unwrap_or("?"),
                c,
                budget::budget()
            );
        }
        let shrinker = register_shrinker(&inner)?;
        // Background writeback starts at the first resume.
        KBox::pin(
            Bufcache {
                shrinker: Some(shrinker),
                inner,
            },
            GFP_KERNEL,
        )
        .map_err(|_| nomem(c"Cannot allocate the target"))
    }

    fn map(&self, _ti: &TargetInfo, mut bio: MapBio<'_>) -> MapResult {
        let op = bio.op();
        let nowait = bio.is_nowait();
        // Whatever goes to a worker runs with the submitter's scope.
        bio.capture_scope();
        let inner = &self.inner;
        let mut bypass = false;
        if matches!(op, BioOp::Read | BioOp::Write) && bio.size() > 0 {
            // DM hands us up to 1 MiB; keep the first block, or a bypassed
            // run of uncached blocks, clean ones too for a read
            // (engine::stream, engine::fence).
            let plan = inner.plan(bio.sector(), bio.size(), op == BioOp::Read, nowait);
            bypass = plan.bypass;
            if plan.keep < bio.size() >> dm::SECTOR_SHIFT && bio.accept_partial(plan.keep).is_err()
            {
                // Not reached: DM allows it for every read and write with
                // data that reaches `map`. Never handle part of a bio
                // silently.
                if bypass && op == BioOp::Write {
                    inner.cancel_write_around(bio.sector(), u64::from(plan.keep));
                }
                let (bio, res) = bio.take();
                bio.endio(dm::BlkStatus::IOERR);
                return res;
            }
        }
        // Non-blocking association with the cgroup that caused the bio.
        let who = inner.cg.get_nowait(bio.orig_css());
        let (bio, res) = bio.take();
        let again = |bio: dm::OwnedBio| inner.would_block(bio);
        match op {
            // To the origin from here if its association needs no sleep,
            // else from a worker (or "would block").
            BioOp::Read if bypass => inner.bypass_nowait(bio, nowait),
            // A write-around, its blocks fenced: a worker writes it.
            BioOp::Write if bypass => inner.queue_write_around(bio),
            BioOp::Read | BioOp::Write if bio.size() > 0 => match who {
                Some(who) => {
                    if let Some(bio) = inner.try_fast(bio, &who, nowait) {
                        if nowait {
                            again(bio);
                        } else {
                            inner.defer(bio);
                        }
                    }
                }
                None if nowait => again(bio),
                None => {
                    // Association would block here: the worker does it.
                    inner.defer_association(bio);
                }
            },
            // An empty flush: to the origin from here when nothing is
            // dirty or being written back, else the workers write back.
            // (DM fails a REQ_NOWAIT flush before any map, dm_submit_bio:
            // the `nowait` arm is defensive only.)
            BioOp::Write => match inner.try_flush_fast(bio) {
                None => {}
                Some(bio) if nowait => again(bio),
                Some(bio) => inner.defer(bio),
            },
            BioOp::Discard if nowait => again(bio),
            BioOp::Discard => inner.defer(bio),
            _ => bio.endio(dm::BlkStatus::NOTSUPP),
        }
        res
    }

    fn status(&self, _ti: &TargetInfo, kind: StatusKind, out: &mut StatusWriter<'_>) {
        let inner = &self.inner;
        let name = inner.origin().name().to_str().unwrap_or("?");
        let _ = match kind {
            StatusKind::Info => inner.write_status(out),
            StatusKind::Table => table::format(out, name, inner.block_size(), &inner.options()),
            StatusKind::Ima => write!(
                out,
                "origin_name={},block_size={},mode={};",
                name,
                inner.block_size(),
                inner.mode().name()
            ),
        };
    }

    fn message(&self, _ti: &TargetInfo, args: &[&str], out: &mut StatusWriter<'_>) -> Result {
        let inner = &self.inner;
        let m = parse_message(args, inner.block_size())?;
        memalloc::noio(|| match m {
            Message::Flush => inner.flush().inspect_err(|_| {
                pr_err!("flush: writeback or origin flush failed\n");
            }),
            Message::Invalidate => inner.invalidate_clean().inspect_err(|_| {
                pr_err!("invalidate: dirty blocks remain; send 'flush' first\n");
            }),
            Message::CacheSize(bytes) => cache_size_message(inner, bytes),
            Message::Mode(mode) => inner.set_mode(mode).inspect_err(|_| {
                pr_err!("mode: writeback before writethrough failed\n");
            }),
            Message::Watermarks(high, low) => {
                inner.set_watermarks(high, low);
                Ok(())
            }
            Message::ClearStats => {
                inner.clear_stats();
                Ok(())
            }
            Message::CgroupStats => {
                inner.cg.report(out, inner.block_size());
                Ok(())
            }
            #[cfg(bufcache_test)]
            Message::TestHoldCgroupMutex(ms) => {
                if !knobs::cgroup_knobs() {
                    pr_err!(
                        "test_hold_cgroup_mutex: needs the test flavour of the module (make BUFCACHE_TEST=1) loaded with test_cgroup_knobs=1\n"
                    );
                    return Err(EPERM);
                }
                inner.cg.hold_mutex(ms);
                Ok(())
            }
        })
    }

    fn iterate_devices(&self, ti: &TargetInfo, f: &dm::target::IterateDevices<'_>) -> i32 {
        f.call(self.inner.origin(), 0, ti.len())
    }

    fn io_hints(&self, _ti: &TargetInfo, limits: &mut QueueLimits<'_>) {
        limits.raise_io_min_opt(self.inner.block_size());
        limits.raise_discard_granularity(self.inner.block_size());
        // Over an origin without discard support the stacked limit is 0,
        // and DM would refuse every discard: take them anyway (they drop
        // cached blocks; do_discard does not pass them down).
        if limits.max_hw_discard_sectors() == 0 {
            limits.set_max_hw_discard_sectors(u32::MAX);
        }
    }

    /// Every suspend, with `--noflush` too, stops background writeback and
    /// writes back all dirty data: the cache is volatile and cannot hand
    /// dirty blocks to the next table, which would read stale data from
    /// the origin, and whose newer writes this table's destructor would
    /// later overwrite. DM calls this before any table is replaced or
    /// removed, with no I/O in the target.
    fn postsuspend(&self, _ti: &TargetInfo, noflush: bool) {
        if noflush && knobs::noflush_keeps_dirty() {
            self.inner.suspend_without_writeback();
            return;
        }
        match memalloc::noio(|| self.inner.suspend_writeback()) {
            Ok(()) => {}
            Err(0) => pr_err!(
                "suspend: every dirty block was written back, but the origin flush failed: they may not be durable\n"
            ),
            Err(left) => pr_err!(
                "suspend: writeback failed; {} dirty blocks stay cached, and are lost if this table is replaced or removed\n",
                left
            ),
        }
    }

    fn resume(&self, _ti: &TargetInfo) {
        self.inner.resume_background();
    }
}

impl Drop for Bufcache {
    fn drop(&mut self) {
        // Table unload (`dmsetup remove`, or the old table of a reload):
        // unregister the shrinker (waits for running scans) and stop
        // background work. Nothing is written here: the last suspend
        // (which DM always runs before destroying a table that had I/O)
        // wrote back what it could, and a new table may own the origin by
        // now, so a late write from this one could overwrite newer data.
        drop(self.shrinker.take());
        self.inner.shutdown();
        let dirty = self.inner.dirty_blocks_now();
        if dirty > 0 {
            pr_err!(
                "unload: {} dirty blocks could not be written back and are lost\n",
                dirty
            );
        }
    }
}

/// Parses a message to the target (block size `bs`); a refusal is logged
/// with its reason. Not inlined into `message`: the parser and the option
/// table's value parsers would add to its frame.
#[inline(never)]
fn parse_message(args: &[&str], bs: u32) -> Result<Message> {
    message::parse(args, bs).map_err(|e| {
        pr_err!("message refused: {}\n", e.msg().to_str().unwrap_or("?"));
        EINVAL
    })
}

/// The `cache_size` message, whose value the parser has checked as the
/// table line's (at least 16 blocks). Not inlined into `message`, whose
/// frame would otherwise carry this arm's formatting too.
#[inline(never)]
fn cache_size_message(inner: &Inner, bytes: u64) -> Result {
    if bytes > inner.capacity_bytes() {
        pr_err!(
            "cache_size: cannot grow beyond {} bytes without a table reload\n",
            inner.capacity_bytes()
        );
        return Err(EINVAL);
    }
    if bytes > budget::budget() {
        pr_warn!(
            "cache_size: {} is larger than the module budget of {} bytes (max_cache_size_bytes): the cache holds at most that\n",
            bytes,
            budget::budget()
        );
    }
    inner.set_cache_size(bytes)
}
