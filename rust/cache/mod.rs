// SPDX-License-Identifier: GPL-2.0

//! The cache core of dm-bufcache: everything that can be decided without
//! touching a kernel object.
//!
//! It is compiled twice: into the kernel module (as `crate::cache`) and as
//! the host crate `bufcache-core` (`rust/cache/Cargo.toml`), where
//! `cargo test` runs its unit and model tests. So it uses only `core`: no
//! kernel types, no `std`, no allocation (callers hand it their buffers).

#![forbid(unsafe_code)]

pub mod message;
pub mod shard;
pub mod status;
pub mod stream;
pub mod table;

#[cfg(test)]
mod model_test;

#[cfg(test)]
mod fields_test;

#[cfg(test)]
mod fuzz_test;

#[cfg(test)]
mod table_test;

#[cfg(test)]
mod scan_test;

#[cfg(test)]
mod errors_test;

#[cfg(test)]
mod options_test;
