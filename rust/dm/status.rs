// SPDX-License-Identifier: GPL-2.0

//! Bounded output for `status` and `message` results.

use core::fmt;
use core::marker::PhantomData;

/// What DM asks `status` for (`status_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusKind {
    /// `STATUSTYPE_INFO`: `dmsetup status`.
    Info,
    /// `STATUSTYPE_TABLE`: `dmsetup table`, must reload as-is.
    Table,
    /// `STATUSTYPE_IMA`: measurement for IMA.
    Ima,
}

/// A writer into the result buffer DM passes to `status` and `message`.
///
/// Like the C `DMEMIT()` macro, output that does not fit is silently
/// truncated; the buffer is always NUL-terminated.
///
/// # Invariants
///
/// - `buf` points to `cap` writable bytes that stay valid and are not
///   accessed by anyone else for `'a`, and `cap >= 1`.
/// - `len < cap` and `buf[len] == 0`.
pub(crate) struct StatusWriter<'a> {
    buf: *mut u8,
    cap: usize,
    len: usize,
    _p: PhantomData<&'a mut [u8]>,
}

impl<'a> StatusWriter<'a> {
    /// Creates a writer over the `maxlen` bytes at `result`, or `None` if
    /// there is no room even for the terminating NUL.
    ///
    /// # Safety
    ///
    /// `result` must point to `maxlen` writable bytes that nothing else
    /// accesses for `'a`.
    pub(crate) unsafe fn from_raw(result: *mut u8, maxlen: usize) -> Option<Self> {
        if result.is_null() || maxlen == 0 {
            return None;
        }
        // SAFETY: `maxlen >= 1`, so byte 0 is within the buffer the caller
        // vouched for.
        unsafe { *result = 0 };
        // INVARIANT: checked above; `len = 0` and `buf[0] == 0`.
        Some(Self {
            buf: result,
            cap: maxlen,
            len: 0,
            _p: PhantomData,
        })
    }
}

impl fmt::Write for StatusWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.cap - 1 - self.len;
        let n = s.len().min(room);
        // SAFETY: by the invariants `buf[len..cap]` is ours to write, and
        // `len + n + 1 <= cap`. `s` cannot overlap the buffer: we hold the
        // only access to it.
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), n);
            *self.buf.add(self.len + n) = 0;
        }
        // INVARIANT: `len + n < cap` and the byte at the new `len` is NUL.
        self.len += n;
        Ok(())
    }
}
