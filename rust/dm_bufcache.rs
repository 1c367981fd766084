// SPDX-License-Identifier: GPL-2.0

//! dm-bufcache: a device-mapper target that keeps a RAM block cache in
//! front of an origin block device, in the manner of dm-bufio.
//!
//! Layers, from the bottom:
//!
//! - [`sys`]: generated bindings for headers the kernel crate does not cover
//!   and the C shims for static inline functions (`sys/helpers.c`).
//! - [`dm`]: safe abstractions (target registration and callbacks, devices,
//!   bios, status output). All `unsafe` code of the crate lives in `sys` and
//!   `dm`.
//! - [`cache`]: the pure cache core (table parsing, ...), which also builds
//!   as a host crate for `cargo test`.
//! - [`bufcache`]: the `bufcache` target itself, in safe Rust.
//!
//! See `Documentation/bufcache.rst` for the user interface.

use kernel::prelude::*;

mod bufcache;
#[path = "cache/mod.rs"]
pub mod cache;
mod dm;
mod sys;

/// The `module!` invocation, with the module's one parameter and the given
/// extra ones: none in the plain module, the test-only knobs of
/// `bufcache::knobs` in the test flavour (`--cfg bufcache_test`, see
/// Kbuild).
macro_rules! bufcache_module {
    ($($extra:tt)*) => {
        module! {
            type: BufcacheModule,
            name: "dm_bufcache",
            authors: ["dm-bufcache developers"],
            description: "device-mapper RAM block cache (bufcache target)",
            license: "GPL v2",
            alias: ["dm-bufcache"],
            // max_cache_size_bytes, writable at run time, is declared in
            // rust/sys/helpers.c.
            params: {
                $($extra)*
            },
        }
    };
}

#[cfg(not(bufcache_test))]
bufcache_module!();

/// The test flavour's `module!` invocation: the module parameters of the
/// knob table (`for_each_knob!` in `rust/bufcache/knobs.rs`), all `u32`,
/// 0 by default. The name and the description go to `module!` as plain
/// tokens (`ident`, `tt`), which its parser needs.
#[cfg(bufcache_test)]
macro_rules! bufcache_test_module {
    ($(
        $(#[$attr:meta])*
        $stat:ident: fn $get:ident() -> bool,
        $param:ident,
        $desc:tt;
    )*) => {
        bufcache_module! {
            $(
                $param: u32 {
                    default: 0,
                    description: $desc,
                },
            )*
        }
    };
}

#[cfg(bufcache_test)]
bufcache::knobs::for_each_knob!(bufcache_test_module);

#[pin_data]
struct BufcacheModule {
    #[pin]
    registration: dm::Registration<bufcache::Bufcache>,
}

impl kernel::InPlaceModule for BufcacheModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        #[cfg(bufcache_test)]
        bufcache::knobs::init();
        try_pin_init!(Self {
            registration <- bufcache::register(module),
        })
    }
}
