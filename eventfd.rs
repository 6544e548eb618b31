// SPDX-License-Identifier: GPL-2.0

//! The eventfd of `IOCB_FLAG_RESFD`: signalled once per completion.

use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// An eventfd context reference from `eventfd_ctx_fdget`.
///
/// # Invariants
///
/// `self.0` is a counted eventfd context reference.
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: eventfd contexts are reference counted and may be signalled and
// released from any context, interrupts included.
unsafe impl Send for EventFd {}
// SAFETY: As above.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd behind file descriptor `fd` (`EBADF`, or `EINVAL` if it is
    /// not an eventfd).
    pub(crate) fn get(fd: u32) -> Result<Self> {
        // SAFETY: No preconditions; returns a reference or an `ERR_PTR`.
        let ctx = kernel::error::from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd as c_int) })?;
        // INVARIANT: A successful `eventfd_ctx_fdget` returns a reference.
        Ok(Self(NonNull::new(ctx).ok_or(EBADF)?))
    }

    /// Adds one to the counter.
    pub(crate) fn signal(&self) {
        // SAFETY: The context is valid (type invariant); callable from IRQs.
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }

    /// Whether this task may signal an eventfd now: not from inside another
    /// eventfd's wake-up (`eventfd_signal_allowed()`), which could recurse.
    pub(crate) fn signal_allowed() -> bool {
        // SAFETY: No preconditions.
        unsafe { bindings::eventfd_signal_allowed() }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) };
    }
}
