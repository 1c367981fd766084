// SPDX-License-Identifier: GPL-2.0

//! References to blkcg cgroup states (`struct cgroup_subsys_state`), to
//! charge the cache's own I/O to the cgroup that caused it.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::sys::{self, bindings};

/// A borrowed css: valid for `'a`, no reference held (for example the css
/// of the original bio of a clone the target is handling).
///
/// # Invariants
///
/// `css` is a live css for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct CssRef<'a> {
    css: NonNull<bindings::cgroup_subsys_state>,
    _p: PhantomData<&'a bindings::cgroup_subsys_state>,
}

impl<'a> CssRef<'a> {
    /// # Safety
    ///
    /// `css` must stay alive for `'a`.
    pub(super) unsafe fn from_raw(css: NonNull<bindings::cgroup_subsys_state>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            css,
            _p: PhantomData,
        }
    }

    /// The css id, unique among live blkcg csses (ids are reused only after
    /// a css is freed).
    pub(crate) fn id(&self) -> u32 {
        // SAFETY: live by the type invariants; `id` is set at creation.
        unsafe { (*self.css.as_ptr()).id as u32 }
    }

    /// The raw pointer, for bio association in this module.
    pub(super) fn as_raw(&self) -> *mut bindings::cgroup_subsys_state {
        self.css.as_ptr()
    }

    /// Takes a reference.
    pub(crate) fn get(&self) -> Css {
        // SAFETY: live by the type invariants, so a reference can be taken.
        unsafe { sys::bufcache_css_get(self.css.as_ptr()) };
        // INVARIANT: we now own the reference taken above.
        Css { css: self.css }
    }
}

/// A counted reference to a css (`css_get`/`css_put`).
///
/// # Invariants
///
/// `css` is a live css on which this object owns one reference.
pub(crate) struct Css {
    css: NonNull<bindings::cgroup_subsys_state>,
}

// SAFETY: css references may be taken and dropped from any context.
unsafe impl Send for Css {}
// SAFETY: `&self` methods only read immutable fields or call thread-safe
// helpers.
unsafe impl Sync for Css {}

impl Css {
    /// The root blkcg's css.
    pub(crate) fn root() -> Self {
        // SAFETY: the root css always exists; we take a reference on it.
        let css = unsafe { sys::bufcache_blkcg_root_css() };
        let css = NonNull::new(css).expect("blkcg_root_css");
        // SAFETY: the root css lives forever.
        unsafe { CssRef::from_raw(css) }.get()
    }

    /// A borrowed view.
    pub(crate) fn as_ref(&self) -> CssRef<'_> {
        // SAFETY: we hold a reference for the borrow's life.
        unsafe { CssRef::from_raw(self.css) }
    }

    /// The css id.
    pub(crate) fn id(&self) -> u32 {
        self.as_ref().id()
    }

    /// Whether the cgroup is being removed (offline, waiting for its last
    /// references to go).
    pub(crate) fn is_dying(&self) -> bool {
        // SAFETY: live css.
        unsafe { sys::bufcache_css_is_dying(self.css.as_ptr()) }
    }

    /// The cgroup's path (e.g. "/a/b") written into `buf`.
    pub(crate) fn path<'b>(&self, buf: &'b mut [u8]) -> &'b str {
        // SAFETY: live css; `buf` is writable for its length.
        let n = unsafe {
            sys::bufcache_css_path(self.css.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        if n < 0 {
            return "?";
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        core::str::from_utf8(&buf[..end]).unwrap_or("?")
    }

    /// The raw pointer, for bio association in this module.
    pub(super) fn as_ptr(&self) -> *mut bindings::cgroup_subsys_state {
        self.css.as_ptr()
    }
}

impl Clone for Css {
    fn clone(&self) -> Self {
        self.as_ref().get()
    }
}

impl Drop for Css {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::bufcache_css_put(self.css.as_ptr()) };
    }
}
