// SPDX-License-Identifier: GPL-2.0

//! A device-mapper target type, in one place: the [`Target`] trait whose
//! methods DM calls, the safe types those methods get, the registration
//! of a `struct target_type` ([`Registration`]), and the `extern "C"`
//! callbacks it installs, each of which turns DM's raw arguments into the
//! safe types and calls the [`Target`] method (the vtable and the trait it
//! calls are one concept).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::error::{to_result, VTABLE_DEFAULT_ERROR};
use kernel::prelude::*;
use kernel::types::{ForeignOwnable, Opaque};

use crate::sys::{self, bindings};

use super::{DmDev, MapBio, MapResult, StatusKind, StatusWriter};

/// Error returned by a target constructor: the errno for DM and the
/// message DM prints for the user ("device-mapper: table: 253:0: bufcache:
/// <msg>") and that `dmsetup` reports.
#[derive(Debug)]
pub(crate) struct CtrError {
    /// The error code returned to DM.
    pub(crate) errno: Error,
    /// The message stored in `ti->error`.
    pub(crate) msg: &'static CStr,
}

impl CtrError {
    /// An `EINVAL` with `msg`.
    pub(crate) fn inval(msg: &'static CStr) -> Self {
        Self { errno: EINVAL, msg }
    }
}

/// The arguments of a table line after the target name.
pub(crate) struct CtrArgs<'a> {
    strs: &'a [&'a str],
    cstrs: &'a [&'a CStr],
}

impl<'a> CtrArgs<'a> {
    /// The arguments, as UTF-8 strings and as DM gave them (same order).
    pub(super) fn new(strs: &'a [&'a str], cstrs: &'a [&'a CStr]) -> Self {
        Self { strs, cstrs }
    }

    /// The arguments as UTF-8 strings.
    pub(crate) fn strs(&self) -> &'a [&'a str] {
        self.strs
    }

    /// Argument `i` as the NUL-terminated string DM gave us.
    pub(crate) fn cstr(&self, i: usize) -> Option<&'a CStr> {
        self.cstrs.get(i).copied()
    }
}

/// A device-mapper target implementation.
///
/// DM serialises `ctr` and `dtr` against everything else for one target
/// instance, but `map` runs concurrently on many CPUs and may race with
/// `status`, `message` and the suspend hooks; so all callbacks except the
/// constructor get a shared reference to the target's private data.
#[vtable]
pub(crate) trait Target: Send + Sync + Sized {
    /// Whether `map` records the submitter's memalloc scope with each bio
    /// ([`MapBio::capture_scope`]); reserves per-bio data for it.
    const CAPTURE_SCOPE: bool = false;

    /// Builds the target from its table line. On error nothing may be left
    /// behind: everything acquired so far is dropped.
    fn ctr(ti: &mut TargetCtr, args: &CtrArgs<'_>) -> Result<Pin<KBox<Self>>, CtrError>;

    /// Maps one bio. Called in the submitter's context, which may not sleep
    /// for `REQ_NOWAIT` bios.
    fn map(&self, ti: &TargetInfo, bio: MapBio<'_>) -> MapResult;

    /// Writes `dmsetup status` (Info) or `dmsetup table` (Table) output.
    fn status(&self, _ti: &TargetInfo, _kind: StatusKind, _out: &mut StatusWriter<'_>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `dmsetup message`; output written to `out` is returned to
    /// the caller.
    fn message(&self, _ti: &TargetInfo, _args: &[&str], _out: &mut StatusWriter<'_>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Calls `f` for each underlying device with the range the target uses.
    fn iterate_devices(&self, _ti: &TargetInfo, _f: &IterateDevices<'_>) -> i32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Adjusts the queue limits of the mapped device.
    fn io_hints(&self, _ti: &TargetInfo, _limits: &mut QueueLimits<'_>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called before the device is suspended; `noflush` is set for a
    /// `dmsetup suspend --noflush`.
    fn presuspend(&self, _ti: &TargetInfo, _noflush: bool) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called after the device is suspended and in-flight I/O has drained.
    fn postsuspend(&self, _ti: &TargetInfo, _noflush: bool) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called before resuming; an error aborts the resume.
    fn preresume(&self, _ti: &TargetInfo) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called when the device resumes.
    fn resume(&self, _ti: &TargetInfo) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A `struct dm_target` seen from a callback other than the constructor.
///
/// # Invariants
///
/// Only handed out by reference, built from the `ti` pointer DM passes to a
/// callback; it stays valid for the duration of that callback.
#[repr(transparent)]
pub(crate) struct TargetInfo(Opaque<sys::dm_target>);

impl TargetInfo {
    /// # Safety
    ///
    /// `ti` must be a valid target for `'a`.
    pub(super) unsafe fn from_raw<'a>(ti: *mut sys::dm_target) -> &'a Self {
        // SAFETY: `TargetInfo` is `repr(transparent)` over `Opaque<dm_target>`
        // which has the layout of `dm_target`; validity is the caller's
        // promise.
        unsafe { &*ti.cast::<Self>() }
    }

    fn raw(&self) -> *mut sys::dm_target {
        self.0.get()
    }

    /// First sector of the target in the mapped device.
    pub(crate) fn begin(&self) -> u64 {
        // SAFETY: valid by the type invariants; `begin` is set before `ctr`
        // and never changes.
        unsafe { (*self.raw()).begin }
    }

    /// Length of the target in sectors.
    pub(crate) fn len(&self) -> u64 {
        // SAFETY: as in `begin`.
        unsafe { (*self.raw()).len }
    }
}

/// A `struct dm_target` under construction.
///
/// # Invariants
///
/// Only handed out as `&mut`, built from the `ti` pointer DM passes to
/// `ctr`; valid and exclusively ours for the duration of `ctr`.
#[repr(transparent)]
pub(crate) struct TargetCtr(Opaque<sys::dm_target>);

impl TargetCtr {
    /// # Safety
    ///
    /// `ti` must be the target DM passed to `ctr`, valid for `'a`.
    pub(super) unsafe fn from_raw<'a>(ti: *mut sys::dm_target) -> &'a mut Self {
        // SAFETY: `repr(transparent)` as for `TargetInfo`; DM does not use
        // `ti` concurrently while `ctr` runs.
        unsafe { &mut *ti.cast::<Self>() }
    }

    fn raw(&mut self) -> *mut sys::dm_target {
        self.0.get()
    }

    /// The target's geometry and table.
    pub(crate) fn info(&self) -> &TargetInfo {
        // SAFETY: the same pointer, valid while `self` is.
        unsafe { TargetInfo::from_raw(self.0.get()) }
    }

    /// Opens `path` (a device path or "major:minor") with the table's mode.
    pub(crate) fn get_device(&mut self, path: &CStr) -> Result<DmDev> {
        let ti = self.raw();
        let mut dev: *mut sys::dm_dev = core::ptr::null_mut();
        // SAFETY: `ti` is the live target in `ctr`; `path` is NUL-terminated;
        // `dev` is a valid out pointer.
        to_result(unsafe {
            sys::dm_get_device(
                ti,
                path.as_char_ptr(),
                sys::dm_table_get_mode((*ti).table),
                &mut dev,
            )
        })?;
        let dev = NonNull::new(dev).ok_or(EINVAL)?;
        // SAFETY: `dm_get_device` succeeded and its reference moves into the
        // new `DmDev`; `ti` is non-null. The target keeps the `DmDev` in its
        // private data, dropped no later than `dtr`.
        Ok(unsafe { DmDev::from_raw(NonNull::new_unchecked(ti), dev) })
    }

    /// Number of empty flush bios DM sends to `map` per flush.
    pub(crate) fn set_num_flush_bios(&mut self, n: u32) {
        // SAFETY: plain field store into the target we own during `ctr`.
        unsafe { (*self.raw()).num_flush_bios = n };
    }

    /// Number of discard bios DM sends to `map` per discard.
    pub(crate) fn set_num_discard_bios(&mut self, n: u32) {
        // SAFETY: as above.
        unsafe { (*self.raw()).num_discard_bios = n };
    }

    /// Receive flushes even if the underlying devices do not need them.
    pub(crate) fn set_flush_supported(&mut self, v: bool) {
        // SAFETY: the shim stores a bitfield of the target we own.
        unsafe { sys::bufcache_ti_set_flush_supported(self.raw(), v) };
    }

    /// Receive discards even if the underlying devices do not support them.
    pub(crate) fn set_discards_supported(&mut self, v: bool) {
        // SAFETY: as above.
        unsafe { sys::bufcache_ti_set_discards_supported(self.raw(), v) };
    }

    /// Splits bios so none crosses a `len`-sector boundary.
    pub(crate) fn set_max_io_len(&mut self, len: u32) -> Result {
        // SAFETY: `ti` is the live target in `ctr`.
        to_result(unsafe { sys::dm_set_target_max_io_len(self.raw(), len.into()) })
    }
}

/// The `iterate_devices` callout, to be called once per underlying device.
pub(crate) struct IterateDevices<'a> {
    ti: *mut sys::dm_target,
    f: sys::iterate_devices_callout_fn,
    data: *mut c_void,
    _p: PhantomData<&'a ()>,
}

impl IterateDevices<'_> {
    /// The callout DM passed to `iterate_devices`.
    ///
    /// # Safety
    ///
    /// `f` and `data` must be what DM passed to `iterate_devices` for `ti`,
    /// and the result must not outlive that call.
    pub(super) unsafe fn new(
        ti: *mut sys::dm_target,
        f: sys::iterate_devices_callout_fn,
        data: *mut c_void,
    ) -> Self {
        Self {
            ti,
            f,
            data,
            _p: PhantomData,
        }
    }

    /// Calls the callout for `dev`, covering `len` sectors from `start`.
    pub(crate) fn call(&self, dev: &DmDev, start: u64, len: u64) -> i32 {
        match self.f {
            // SAFETY: DM gave us `f` and `data` for this `ti` and this call
            // of `iterate_devices`; `dev` is a live device of this target.
            Some(f) => unsafe { f(self.ti, dev.as_raw(), start, len, self.data) },
            None => 0,
        }
    }
}

/// The queue limits of the mapped device, offered to `io_hints`.
pub(crate) struct QueueLimits<'a>(pub(super) &'a mut bindings::queue_limits);

impl QueueLimits<'_> {
    /// Raises the minimum and optimal I/O sizes to at least `bytes`.
    pub(crate) fn raise_io_min_opt(&mut self, bytes: u32) {
        self.0.io_min = self.0.io_min.max(bytes);
        self.0.io_opt = self.0.io_opt.max(bytes);
    }

    /// Sets the discard granularity to at least `bytes`.
    pub(crate) fn raise_discard_granularity(&mut self, bytes: u32) {
        self.0.discard_granularity = self.0.discard_granularity.max(bytes);
    }

    /// Largest discard, in sectors, the stacked devices take; 0 if they take
    /// none (the origin does not support discard).
    pub(crate) fn max_hw_discard_sectors(&self) -> u32 {
        self.0.max_hw_discard_sectors
    }

    /// Lets the device take discards of up to `sectors` sectors, whatever
    /// the stacked devices support (as dm-zero and dm-thin do); with
    /// `discards_supported` set, DM keeps this limit.
    pub(crate) fn set_max_hw_discard_sectors(&mut self, sectors: u32) {
        self.0.max_hw_discard_sectors = sectors;
    }
}

/// A registered target type: `dm_register_target()` on creation,
/// `dm_unregister_target()` on drop.
///
/// # Invariants
///
/// `tt` is registered with DM for the whole life of the pinned object and
/// its callbacks are the trampolines for `T`.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: Target> {
    #[pin]
    tt: Opaque<sys::target_type>,
    _p: PhantomData<T>,
}

// SAFETY: after registration DM only touches `tt` under its own locks; we
// never touch it again until `dm_unregister_target()` in drop.
unsafe impl<T: Target> Sync for Registration<T> {}
// SAFETY: as above; dropping it from another thread is fine.
unsafe impl<T: Target> Send for Registration<T> {}

/// Feature flags of a target type (`DM_TARGET_*`), for [`Registration::new`].
#[derive(Clone, Copy)]
pub(crate) struct Features(u64);

impl Features {
    /// `DM_TARGET_NOWAIT`: the target serves `REQ_NOWAIT` bios.
    pub(crate) const NOWAIT: Self = Self(sys::DM_TARGET_NOWAIT as u64);
}

impl<T: Target> Registration<T> {
    /// Registers target type `name` (with `features`) for `module`.
    pub(crate) fn new(
        name: &'static CStr,
        version: [u32; 3],
        features: Features,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            tt <- Opaque::try_ffi_init(move |slot: *mut sys::target_type| {
                let mut tt: sys::target_type = pin_init::zeroed();
                tt.name = name.as_char_ptr();
                tt.module = module.as_ptr();
                tt.version = version;
                tt.features = features.0;
                tt.ctr = Some(ctr_callback::<T>);
                tt.dtr = Some(dtr_callback::<T>);
                tt.map = Some(map_callback::<T>);
                if T::HAS_STATUS {
                    tt.status = Some(status_callback::<T>);
                }
                if T::HAS_MESSAGE {
                    tt.message = Some(message_callback::<T>);
                }
                if T::HAS_ITERATE_DEVICES {
                    tt.iterate_devices = Some(iterate_devices_callback::<T>);
                }
                if T::HAS_IO_HINTS {
                    tt.io_hints = Some(io_hints_callback::<T>);
                }
                if T::HAS_PRESUSPEND {
                    tt.presuspend = Some(presuspend_callback::<T>);
                }
                if T::HAS_POSTSUSPEND {
                    tt.postsuspend = Some(postsuspend_callback::<T>);
                }
                if T::HAS_PRERESUME {
                    tt.preresume = Some(preresume_callback::<T>);
                }
                if T::HAS_RESUME {
                    tt.resume = Some(resume_callback::<T>);
                }
                // SAFETY: `slot` is valid for writes (pin-init contract) and
                // pinned, as DM links it into its target list.
                unsafe {
                    slot.write(tt);
                    to_result(sys::dm_register_target(slot))
                }
            }),
            _p: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T: Target> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered by the invariants. DM holds a module reference
        // while any target of this type exists, so none is left when the
        // module (and with it this registration) goes away.
        unsafe { sys::dm_unregister_target(self.tt.get()) };
    }
}

// ---- The callbacks DM makes into a target of type `T` ----
//
// Installed in its `struct target_type` by [`Registration::new`]: each
// turns DM's raw arguments into the safe types above and calls the
// [`Target`] method.

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
unsafe extern "C" fn ctr_callback<T: Target>(
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
unsafe extern "C" fn dtr_callback<T: Target>(ti: *mut sys::dm_target) {
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
unsafe extern "C" fn map_callback<T: Target>(
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
unsafe extern "C" fn status_callback<T: Target>(
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
unsafe extern "C" fn message_callback<T: Target>(
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
unsafe extern "C" fn iterate_devices_callback<T: Target>(
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
unsafe extern "C" fn io_hints_callback<T: Target>(
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
unsafe extern "C" fn presuspend_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).presuspend(TargetInfo::from_raw(ti), noflush(ti)) };
}

/// DM's `postsuspend`.
///
/// # Safety
///
/// Only DM may call it, on a live target.
unsafe extern "C" fn postsuspend_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).postsuspend(TargetInfo::from_raw(ti), noflush(ti)) };
}

/// DM's `preresume`.
///
/// # Safety
///
/// Only DM may call it, on a live target.
unsafe extern "C" fn preresume_callback<T: Target>(ti: *mut sys::dm_target) -> c_int {
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
unsafe extern "C" fn resume_callback<T: Target>(ti: *mut sys::dm_target) {
    // SAFETY: as in `map_callback`.
    unsafe { private::<T>(ti).resume(TargetInfo::from_raw(ti)) };
}
