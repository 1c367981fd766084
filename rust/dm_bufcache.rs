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

#[cfg(bufcache_test)]
bufcache_module! {
        test_unsafe_shrinker_writeback: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: shrinker writes back and waits on __GFP_IO alone",
        },
        test_skip_scope_replay: u32 {
            default: 0,
            description: "TEST ONLY: workers do not re-apply the submitter's memalloc scope",
        },
        test_cgroup_knobs: u32 {
            default: 0,
            description: "TEST ONLY: allow the test_hold_cgroup_mutex message",
        },
        test_skip_association: u32 {
            default: 0,
            description: "TEST ONLY: do not charge the cache's own bios to the causing cgroup",
        },
        test_single_writeback_lane: u32 {
            default: 0,
            description: "TEST ONLY: background writeback in one lane for all cgroups",
        },
        test_race_delay_ms: u32 {
            default: 0,
            description: "TEST ONLY: sleep this long in the write/flush protocols' race windows",
        },
        test_skip_origin_flush: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: flushes complete without flushing the origin",
        },
        test_noflush_keeps_dirty: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: a noflush suspend does not write back",
        },
        test_drop_failed_writeback: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: a failed writeback marks its blocks clean",
        },
        test_bypass_cached: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: sequential reads bypass the cache over cached blocks",
        },
        test_atomic_association: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: fill bios are associated under a spinlock",
        },
        test_no_write_fence: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: fills ignore write-arounds in flight",
        },
        test_no_discard_fence: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: discards passed down are not fenced",
        },
        test_no_refill_writeback: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: a miss never writes back other shards and waits without bound",
        },
        test_flush_ignores_writing: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: a flush ignores writebacks started by others",
        },
        test_durable_any_write: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: FUA/writethrough completes on any writeback of its block",
        },
        test_wt_error_drops_block: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: a failed writethrough write drops its block",
        },
        test_noslot_unbounded: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: a full shard over a failing origin retries for ever",
        },
        test_ctor_arms_timer: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: the constructor arms the writeback timer",
        },
        test_shutdown_leaves_timer: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: shutdown leaves the writeback timer pending",
        },
        test_no_fair_share: u32 {
            default: 0,
            description: "TEST ONLY, UNSAFE: no fair share of the module budget",
        },
        test_reserve_blocks: u32 {
            default: 0,
            description: "TEST ONLY: a reserve of this many blocks per target (fewer than its shards)",
        },
}

/// A module parameter's value: `value()` returns a reference in 7.2 and the
/// value itself in 7.3.
#[cfg(bufcache_test)]
fn param(v: impl core::borrow::Borrow<u32>) -> u32 {
    *v.borrow()
}

#[pin_data]
struct BufcacheModule {
    #[pin]
    registration: dm::Registration<bufcache::Bufcache>,
}

impl kernel::InPlaceModule for BufcacheModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        #[cfg(bufcache_test)]
        bufcache::knobs::init(bufcache::knobs::Knobs {
            unsafe_shrinker_writeback: param(
                module_parameters::test_unsafe_shrinker_writeback.value(),
            ),
            skip_scope_replay: param(module_parameters::test_skip_scope_replay.value()),
            cgroup_knobs: param(module_parameters::test_cgroup_knobs.value()),
            skip_association: param(module_parameters::test_skip_association.value()),
            single_lane: param(module_parameters::test_single_writeback_lane.value()),
            race_delay_ms: param(module_parameters::test_race_delay_ms.value()),
            skip_origin_flush: param(module_parameters::test_skip_origin_flush.value()),
            noflush_keeps_dirty: param(module_parameters::test_noflush_keeps_dirty.value()),
            drop_failed_writeback: param(module_parameters::test_drop_failed_writeback.value()),
            bypass_cached: param(module_parameters::test_bypass_cached.value()),
            atomic_association: param(module_parameters::test_atomic_association.value()),
            no_write_fence: param(module_parameters::test_no_write_fence.value()),
            no_discard_fence: param(module_parameters::test_no_discard_fence.value()),
            no_refill_writeback: param(module_parameters::test_no_refill_writeback.value()),
            flush_ignores_writing: param(module_parameters::test_flush_ignores_writing.value()),
            durable_any_write: param(module_parameters::test_durable_any_write.value()),
            wt_error_drops: param(module_parameters::test_wt_error_drops_block.value()),
            noslot_unbounded: param(module_parameters::test_noslot_unbounded.value()),
            ctor_arms_timer: param(module_parameters::test_ctor_arms_timer.value()),
            shutdown_leaves_timer: param(module_parameters::test_shutdown_leaves_timer.value()),
            no_fair_share: param(module_parameters::test_no_fair_share.value()),
            reserve_blocks: param(module_parameters::test_reserve_blocks.value()),
        });
        try_pin_init!(Self {
            registration <- bufcache::register(module),
        })
    }
}
