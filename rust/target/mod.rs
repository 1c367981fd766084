// SPDX-License-Identifier: GPL-2.0

//! The `bufcache` target.
//!
//! For now a pass-through: every bio is remapped to the origin. The table
//! line and status are documented in `Documentation/bufcache.rst`.

#![forbid(unsafe_code)]

use core::fmt::Write;

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

use crate::cache::table;
use crate::dm::{
    self, BioOp, CtrError, DmDev, MapBio, MapResult, QueueLimits, StatusKind, StatusWriter,
    TargetCtr, TargetInfo,
};

/// Target version reported to DM (`dmsetup targets`).
const VERSION: [u32; 3] = [0, 1, 0];

/// Registers the `bufcache` target type.
pub(crate) fn register(
    module: &'static ThisModule,
) -> impl PinInit<dm::Registration<Bufcache>, Error> {
    dm::Registration::new(c"bufcache", VERSION, 0, module)
}

/// Counters of bios mapped, by kind.
struct Counters {
    reads: Atomic<u64>,
    writes: Atomic<u64>,
    flushes: Atomic<u64>,
    discards: Atomic<u64>,
}

/// One `bufcache` target instance.
pub(crate) struct Bufcache {
    origin: DmDev,
    block_size: u32,
    counters: Counters,
}

#[vtable]
impl dm::Target for Bufcache {
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
        let info = ti.info();
        if info.len() > origin.nr_sectors() {
            return Err(CtrError::inval(c"Origin device is smaller than the target"));
        }
        ti.set_num_flush_bios(1);
        ti.set_num_discard_bios(1);
        KBox::pin(
            Self {
                origin,
                block_size: t.block_size,
                counters: Counters {
                    reads: Atomic::new(0),
                    writes: Atomic::new(0),
                    flushes: Atomic::new(0),
                    discards: Atomic::new(0),
                },
            },
            GFP_KERNEL,
        )
        .map_err(|_| CtrError {
            errno: ENOMEM,
            msg: c"Cannot allocate memory",
        })
    }

    fn map(&self, ti: &TargetInfo, bio: MapBio<'_>) -> MapResult {
        let c = &self.counters;
        if bio.is_preflush() {
            c.flushes.add(1, Relaxed);
        }
        match bio.op() {
            BioOp::Read => c.reads.add(1, Relaxed),
            BioOp::Write if bio.size() > 0 => c.writes.add(1, Relaxed),
            BioOp::Discard => c.discards.add(1, Relaxed),
            _ => {}
        }
        // Empty flushes carry no sector: `bi_sector` is 0 relative to the
        // mapped device, which is fine to pass through unchanged.
        let sector = if bio.size() > 0 {
            ti.target_offset(bio.sector())
        } else {
            0
        };
        bio.remap(&self.origin, sector)
    }

    fn status(&self, _ti: &TargetInfo, kind: StatusKind, out: &mut StatusWriter<'_>) {
        let c = &self.counters;
        let _ = match kind {
            StatusKind::Info => write!(
                out,
                "{} {} {} {}",
                c.reads.load(Relaxed),
                c.writes.load(Relaxed),
                c.flushes.load(Relaxed),
                c.discards.load(Relaxed)
            ),
            StatusKind::Table => match self.origin.name().to_str() {
                Ok(name) => table::format(out, name, self.block_size),
                Err(_) => Ok(()),
            },
            StatusKind::Ima => write!(
                out,
                "origin_name={},block_size={};",
                self.origin.name().to_str().unwrap_or("?"),
                self.block_size
            ),
        };
    }

    fn iterate_devices(&self, ti: &TargetInfo, f: &dm::target::IterateDevices<'_>) -> i32 {
        f.call(&self.origin, 0, ti.len())
    }

    fn io_hints(&self, _ti: &TargetInfo, limits: &mut QueueLimits<'_>) {
        limits.raise_io_min_opt(self.block_size);
    }
}
