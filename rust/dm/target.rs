// SPDX-License-Identifier: GPL-2.0

//! Target type registration and the safe types of the callbacks DM makes
//! into a target (the callbacks themselves are in `callbacks.rs`).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::error::{to_result, VTABLE_DEFAULT_ERROR};
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::sys::{self, bindings};

use super::callbacks::{
    ctr_callback, dtr_callback, io_hints_callback, iterate_devices_callback, map_callback,
    message_callback, postsuspend_callback, preresume_callback, presuspend_callback,
    resume_callback, status_callback,
};
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
