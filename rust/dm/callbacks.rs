// SPDX-License-Identifier: GPL-2.0

//! The callbacks DM makes into a target of type `T` (installed in its
//! `struct target_type` by [`super::target::Registration`]): each turns
//! DM's raw arguments into the safe types of [`super::target`] and calls
//! the [`Target`] method.

use core::ptr::NonNull;

use kernel::prelude::*;
use kernel::types::ForeignOwnable;

use crate::sys::{self, bindings};

use super::target::{
    CtrArgs, CtrError, IterateDevices, QueueLimits, Target, TargetCtr, TargetInfo,
};
use super::{MapBio, StatusKind, StatusWriter};

/// Borrows the private data of `ti`.
///
/// # Safety
///
/// `ti->private` must have been set by `ctr_callback::<T>` and not yet
/// released by `dtr_callback::<T>`, and the borrow must end before `dtr`.
unsafe fn private<'a, T: Target>(ti: *mut sys::dm_target) -> Pin<&'a T> {
    // SAFETY: by the caller, `private` came from `Pin<KBox<T>>::into_foreign`
    // and is still live; `dtr` cannot run concurrently with other callbacks.
    unsafe { <Pin<KBox<T>> as ForeignOwnable>::borrow((*ti).private) }
}

/// Collects `argc` C strings from `argv`.
///
/// # Safety
///
/// `argv` must point to `argc` valid NUL-terminated strings that live for
/// `'a`.
unsafe fn collect_args<'a>(argc: c_uint, argv: *mut *mut c_char) -> Result<KVec<&'a CStr>> {
    let n = argc as usize;
    let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
    for i in 0..n {
        // SAFETY: `i < argc`, so `argv[i]` is a valid string by the caller.
        let s = unsafe { CStr::from_char_ptr(*argv.add(i)) };
        v.push(s, GFP_KERNEL)?;
    }
    Ok(v)
}

fn to_strs<'a>(cstrs: &[&'a CStr]) -> Result<KVec<&'a str>, CtrError> {
    let mut v = KVec::with_capacity(cstrs.len(), GFP_KERNEL).map_err(|_| CtrError {
        errno: ENOMEM,
        msg: c"Cannot allocate memory for the arguments",
    })?;
    for s in cstrs {
        let s = s
            .to_str()
            .map_err(|_| CtrError::inval(c"Invalid argument: not UTF-8"))?;
        v.push(s, GFP_KERNEL).map_err(|_| CtrError {
            errno: ENOMEM,
            msg: c"Cannot allocate memory for the arguments",
        })?;
    }
    Ok(v)
}

/// DM's `ctr` for targets of type `T`.
///
/// # Safety
///
/// Only DM may call it, with a target under construction and `argc` valid
/// strings at `argv`.
pub(super) unsafe extern "C" fn ctr_callback<T: Target>(
    ti: *mut sys::dm_target,
    argc: c_uint,
    argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: DM passes `argc` valid strings that live through `ctr`.
    let res = unsafe { collect_args(argc, argv) }
        .map_err(|_| CtrError {
            errno: ENOMEM,
            msg: c"Cannot allocate memory for the arguments",
        })
        .and_then(|cstrs| {
            let strs = to_strs(&cstrs)?;
            let args = CtrArgs::new(&strs, &cstrs);
            if T::CAPTURE_SCOPE {
                // SAFETY: `ti` is ours during `ctr`; DM reads the size once
                // the table is complete.
                unsafe { (*ti).per_io_data_size = core::mem::size_of::<u32>() as u32 };
            }
            // SAFETY: `ti` is the target under construction, ours during
            // `ctr`.
            T::ctr(unsafe { TargetCtr::from_raw(ti) }, &args)
        });
    match res {
        Ok(p) => {
            // SAFETY: `ti` is valid; `private` is released in `dtr`.
            unsafe { (*ti).private = p.into_foreign() };
            0
        }
        Err(e) => {
            // SAFETY: `ti` is valid; DM only reads `error` (a static string).
            unsafe { (*ti).error = e.msg.as_char_ptr().cast_mut() };
            e.errno.to_errno()
        }
    }
}

/// DM's `dtr`: drops the private data set by `ctr_callback`.
///
/// # Safety
///
/// Only DM may call it, once, after a successful `ctr_callback::<T>` on
/// `ti`, when no other callback runs on `ti`.
pub(super) unsafe extern "C" fn dtr_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: `ctr` succeeded (DM only calls `dtr` then), so `private` holds
    // our `Pin<KBox<T>>`; DM calls nothing else on `ti` after `dtr`.
    drop(unsafe { <Pin<KBox<T>> as ForeignOwnable>::from_foreign((*ti).private) });
}

/// DM's `map`.
///
/// # Safety
///
/// Only DM may call it, on a target between successful `ctr` and `dtr`,
/// with a bio that belongs to the target until the call returns.
pub(super) unsafe extern "C" fn map_callback<T: Target>(
    ti: *mut sys::dm_target,
    bio: *mut bindings::bio,
) -> c_int {
    let Some(bio) = NonNull::new(bio) else {
        return sys::DM_MAPIO_KILL as c_int;
    };
    // SAFETY: DM calls `map` only between a successful `ctr` and `dtr`, with
    // a valid target and a bio that is ours until we return it.
    unsafe {
        private::<T>(ti)
            .map(
                TargetInfo::from_raw(ti),
                MapBio::from_raw(bio, T::CAPTURE_SCOPE),
            )
            .into_raw()
    }
}

/// DM's `status`.
///
/// # Safety
///
/// Only DM may call it, on a live target, with `maxlen` writable bytes at
/// `result`.
pub(super) unsafe extern "C" fn status_callback<T: Target>(
    ti: *mut sys::dm_target,
    type_: sys::status_type_t,
    _status_flags: c_uint,
    result: *mut c_char,
    maxlen: c_uint,
) {
    let kind = match type_ {
        sys::status_type_t_STATUSTYPE_INFO => StatusKind::Info,
        sys::status_type_t_STATUSTYPE_TABLE => StatusKind::Table,
        _ => StatusKind::Ima,
    };
    // SAFETY: DM gives us `maxlen` writable bytes at `result` for this call.
    let Some(mut out) = (unsafe { StatusWriter::from_raw(result.cast(), maxlen as usize) }) else {
        return;
    };
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).status(TargetInfo::from_raw(ti), kind, &mut out) };
}

/// DM's `message`.
///
/// # Safety
///
/// Only DM may call it, on a live target, with `argc` valid strings at
/// `argv` and `maxlen` writable bytes at `result`.
pub(super) unsafe extern "C" fn message_callback<T: Target>(
    ti: *mut sys::dm_target,
    argc: c_uint,
    argv: *mut *mut c_char,
    result: *mut c_char,
    maxlen: c_uint,
) -> c_int {
    // SAFETY: DM passes `argc` valid strings for this call.
    let cstrs = match unsafe { collect_args(argc, argv) } {
        Ok(v) => v,
        Err(e) => return e.to_errno(),
    };
    let strs = match to_strs(&cstrs) {
        Ok(v) => v,
        Err(e) => return e.errno.to_errno(),
    };
    // SAFETY: DM gives us `maxlen` writable bytes at `result` for this call.
    let Some(mut out) = (unsafe { StatusWriter::from_raw(result.cast(), maxlen as usize) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: as in `map_callback`.
    let r = unsafe { private::<T>(ti).message(TargetInfo::from_raw(ti), &strs, &mut out) };
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// DM's `iterate_devices`.
///
/// # Safety
///
/// Only DM may call it, on a live target, with a callout and its data.
pub(super) unsafe extern "C" fn iterate_devices_callback<T: Target>(
    ti: *mut sys::dm_target,
    f: sys::iterate_devices_callout_fn,
    data: *mut c_void,
) -> c_int {
    // SAFETY: DM passed `f` and `data` for `ti`; `it` lives only during
    // this call.
    let it = unsafe { IterateDevices::new(ti, f, data) };
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).iterate_devices(TargetInfo::from_raw(ti), &it) }
}

/// DM's `io_hints`.
///
/// # Safety
///
/// Only DM may call it, on a live target, with limits it owns for the
/// duration of the call.
pub(super) unsafe extern "C" fn io_hints_callback<T: Target>(
    ti: *mut sys::dm_target,
    limits: *mut bindings::queue_limits,
) {
    // SAFETY: DM passes limits it owns for the duration of the call.
    let mut limits = QueueLimits(unsafe { &mut *limits });
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).io_hints(TargetInfo::from_raw(ti), &mut limits) };
}

/// Whether the suspend in progress on `ti` is a noflush suspend.
///
/// # Safety
///
/// `ti` must be a valid target.
unsafe fn noflush(ti: *mut sys::dm_target) -> bool {
    // SAFETY: `dm_noflush_suspending` reads the mapped device of a valid
    // target.
    unsafe { sys::dm_noflush_suspending(ti) != 0 }
}

/// DM's `presuspend`.
///
/// # Safety
///
/// Only DM may call it, on a live target.
pub(super) unsafe extern "C" fn presuspend_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).presuspend(TargetInfo::from_raw(ti), noflush(ti)) };
}

/// DM's `postsuspend`.
///
/// # Safety
///
/// Only DM may call it, on a live target.
pub(super) unsafe extern "C" fn postsuspend_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).postsuspend(TargetInfo::from_raw(ti), noflush(ti)) };
}

/// DM's `preresume`.
///
/// # Safety
///
/// Only DM may call it, on a live target.
pub(super) unsafe extern "C" fn preresume_callback<T: Target>(ti: *mut sys::dm_target) -> c_int {
    // SAFETY: as in `map_callback`.
    match unsafe { private::<T>(ti).preresume(TargetInfo::from_raw(ti)) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// DM's `resume`.
///
/// # Safety
///
/// Only DM may call it, on a live target.
pub(super) unsafe extern "C" fn resume_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).resume(TargetInfo::from_raw(ti)) };
}
