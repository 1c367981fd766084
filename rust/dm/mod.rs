// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions for writing a device-mapper target in Rust.
//!
//! This module and [`crate::sys`] are the only places in the crate that
//! contain `unsafe` code. Everything above them (the cache core in
//! `crate::cache` and the target in `crate::target`) is safe Rust and is
//! compiled with `#![forbid(unsafe_code)]`.
//!
//! The pieces:
//!
//! - [`target`]: registration of a `struct target_type` ([`target::Registration`])
//!   and the [`target::Target`] trait whose methods DM calls (`ctr`, `dtr`,
//!   `map`, `status`, `message`, `iterate_devices`, `io_hints`, suspend and
//!   resume hooks). The target's private data is owned by `ti->private` as a
//!   `Pin<KBox<T>>` ([`kernel::types::ForeignOwnable`]); `map` runs
//!   concurrently on many CPUs, so every callback but the constructor gets a
//!   shared reference.
//! - [`dev`]: [`dev::DmDev`], an owned `dm_get_device()` reference that calls
//!   `dm_put_device()` when dropped.
//! - [`bio`]: the bio handed to `map` ([`bio::MapBio`]), which must be
//!   disposed of exactly once.
//! - [`status`]: a bounded writer for status and message output, with the
//!   semantics of the C `DMEMIT()` macro.

pub(crate) mod bio;
pub(crate) mod dev;
pub(crate) mod status;
pub(crate) mod target;

pub(crate) use bio::{BioOp, MapBio, MapResult};
pub(crate) use dev::DmDev;
pub(crate) use status::{StatusKind, StatusWriter};
pub(crate) use target::{CtrError, QueueLimits, Registration, Target, TargetCtr, TargetInfo};

/// Sector size shift: DM and the block layer count in 512-byte sectors.
pub(crate) const SECTOR_SHIFT: u32 = 9;
