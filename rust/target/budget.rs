// SPDX-License-Identifier: GPL-2.0

//! The module-wide memory budget shared by all bufcache targets.
//!
//! Every block buffer is charged to the budget when allocated and uncharged
//! when freed ([`Buf`]), so the sum over all targets never exceeds it. The
//! budget is set at module load from the `max_cache_size_bytes` parameter;
//! 0 (the default) means 2% of RAM, dm-bufio's default share.

use kernel::sync::atomic::{Atomic, Relaxed};

use crate::dm::{BlockBuf, Gfp};

static BUDGET: Atomic<u64> = Atomic::new(0);
static USED: Atomic<u64> = Atomic::new(0);

/// Percentage of RAM used as the default budget.
pub(crate) const DEFAULT_PERCENT: u64 = 2;

/// Sets the budget at module load; 0 selects the default.
pub(crate) fn init(param_bytes: u64) {
    let b = if param_bytes == 0 {
        crate::dm::totalram_bytes() * DEFAULT_PERCENT / 100
    } else {
        param_bytes
    };
    BUDGET.store(b, Relaxed);
}

/// The budget in bytes.
pub(crate) fn budget() -> u64 {
    BUDGET.load(Relaxed)
}

/// Bytes charged by all targets.
pub(crate) fn used() -> u64 {
    USED.load(Relaxed)
}

/// Whether `bytes` more would fit (a hint; [`Buf::alloc`] decides).
pub(crate) fn has_room(bytes: u64) -> bool {
    used() + bytes <= budget()
}

fn try_charge(bytes: u64) -> bool {
    let mut cur = USED.load(Relaxed);
    loop {
        if cur + bytes > budget() {
            return false;
        }
        match USED.cmpxchg(cur, cur + bytes, Relaxed) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
}

/// A block buffer charged to the budget.
pub(crate) struct Buf {
    buf: BlockBuf,
}

impl Buf {
    /// Allocates and charges a buffer of `size` bytes; `None` if the budget
    /// is exhausted or the allocation fails.
    pub(crate) fn alloc(size: u32, gfp: Gfp) -> Option<Self> {
        if !try_charge(u64::from(size)) {
            return None;
        }
        match BlockBuf::alloc(size, gfp) {
            Some(buf) => Some(Self { buf }),
            None => {
                USED.fetch_sub(u64::from(size), Relaxed);
                None
            }
        }
    }
}

impl core::ops::Deref for Buf {
    type Target = BlockBuf;
    fn deref(&self) -> &BlockBuf {
        &self.buf
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        USED.fetch_sub(u64::from(self.buf.size()), Relaxed);
    }
}
