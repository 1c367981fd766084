// SPDX-License-Identifier: GPL-2.0

//! Raw FFI: module-local bindgen output and the C shims of `helpers.c`.
//!
//! `bindings_generated.rs` is produced at build time by the `BINDGEN` rule in
//! `Kbuild` from `bindings_helper.h`. It only holds the items defined in
//! `linux/device-mapper.h`, `uapi/linux/dm-ioctl.h` and `helpers.h`; the types
//! they mention (`bio`, `block_device`, ...) resolve to the kernel crate's
//! `kernel::bindings`, so values pass between the two without casts.
//!
//! Nothing outside `crate::dm` uses this module directly.

#[allow(
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    improper_ctypes,
    unnecessary_transmutes,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::cast_lossless,
    clippy::as_underscore,
    clippy::ptr_cast_constness
)]
mod generated {
    use kernel::bindings::*;
    use kernel::ffi;
    use pin_init::MaybeZeroable;
    include!("bindings_generated.rs");
}

pub(crate) use generated::*;
pub(crate) use kernel::bindings;
