// SPDX-License-Identifier: GPL-2.0

//! System-wide accounting of AIO events: `fs.aio-nr` against `fs.aio-max-nr`.
//!
//! Both counters are the sysctl's own `unsigned long`s (defined in the C
//! glue).  `aio-nr` changes only here, by compare-and-exchange, so no lock is
//! needed; `aio-max-nr` is written by the sysctl handler and only read here.

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

fn aio_nr() -> &'static Atomic<usize> {
    // `aio_rs_nr` is an aligned, static `unsigned long` (same layout as `usize`).
    // SAFETY: Other than here it is only read (by the sysctl handler).
    unsafe { Atomic::from_ptr(core::ptr::addr_of_mut!(bindings::aio_rs_nr).cast::<usize>()) }
}

/// The current `aio-max-nr`.
pub(crate) fn max_nr() -> usize {
    let max = core::ptr::addr_of_mut!(bindings::aio_rs_max_nr).cast::<usize>();
    // SAFETY: As in `aio_nr()`; the sysctl handler's writes are plain stores
    // of a whole word, as in fs/aio.c.
    unsafe { Atomic::from_ptr(max) }.load(Relaxed)
}

/// Events charged to `aio-nr`, given back when dropped unless
/// [`Charge::keep`] hands them over to a context.
pub(crate) struct Charge(u32);

impl Charge {
    /// The context returns the charge when it dies.
    pub(crate) fn keep(self) {
        core::mem::forget(self);
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        uncharge(self.0);
    }
}

/// Charges `nr` events to `aio-nr`; `EAGAIN` if that would pass
/// `aio-max-nr` (or overflow).
pub(crate) fn charge(nr: u32) -> Result<Charge> {
    let counter = aio_nr();
    let mut cur = counter.load(Relaxed);
    loop {
        let new = match cur.checked_add(nr as usize) {
            Some(new) if new <= max_nr() => new,
            _ => return Err(EAGAIN),
        };
        match counter.cmpxchg(cur, new, Relaxed) {
            Ok(_) => return Ok(Charge(nr)),
            Err(seen) => cur = seen,
        }
    }
}

/// Returns `nr` events charged by [`charge`].
pub(crate) fn uncharge(nr: u32) {
    let counter = aio_nr();
    let mut cur = counter.load(Relaxed);
    loop {
        let new = cur.checked_sub(nr as usize);
        kernel::warn_on!(new.is_none());
        match counter.cmpxchg(cur, new.unwrap_or(0), Relaxed) {
            Ok(_) => return,
            Err(seen) => cur = seen,
        }
    }
}
