// SPDX-License-Identifier: GPL-2.0

//! The requests of a context that `io_cancel` can reach (fs/aio.c's
//! `active_reqs`): armed polls, and reads or writes whose driver called
//! `kiocb_set_cancel_fn`.  Killing the context cancels them all, so that
//! `io_destroy` and process exit never wait for a poll that nothing will
//! ever wake.

use crate::kiocb::AioKiocb;
use crate::poll::PollRequest;
use core::cell::Cell;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, SpinLockIrq};
use kernel::types::Opaque;

/// How a linked request is cancelled.
#[derive(Clone, Copy)]
pub(crate) enum Canceller {
    /// An armed `IOCB_CMD_POLL`.
    Poll(*const PollRequest),
    /// A driver's `ki_cancel`, called with the request's `kiocb`.
    Driver(unsafe extern "C" fn(*mut bindings::kiocb) -> kernel::ffi::c_int),
}

/// The list and its state, under one IRQ-safe lock (cancellation runs from
/// `io_cancel` and context teardown, unlinking from completions in any
/// context).
///
/// # Invariants
///
/// `head` is an initialised list of the `cancel_link` fields of live
/// requests of this context.
#[pin_data]
struct CancelListInner {
    #[pin]
    head: Opaque<bindings::list_head>,
    /// Set when the context is killed: nothing may be linked any more.
    dead: Cell<bool>,
}

/// The cancellable requests of one context.
#[pin_data]
pub(crate) struct CancelList {
    #[pin]
    inner: SpinLockIrq<CancelListInner>,
}

// SAFETY: The raw list is only touched with the lock held.
unsafe impl Send for CancelListInner {}

impl CancelList {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_spinlock_irq!(
                pin_init!(CancelListInner {
                    head <- Opaque::ffi_init(|p| {
                        // SAFETY: `p` is the list head being initialised.
                        unsafe { bindings::INIT_LIST_HEAD(p) }
                    }),
                    dead: Cell::new(false),
                }),
                "CancelList::inner"
            ),
        })
    }

    /// Links `req` so that `io_cancel` finds it.  Returns `false`, linking
    /// nothing, once the context is being killed: the caller cancels the
    /// request itself.
    ///
    /// # Safety
    ///
    /// `req` is a live request of this context, not linked, and stays live
    /// until [`Self::unlink`] was called for it.
    pub(crate) unsafe fn link(&self, req: *mut AioKiocb, canceller: Canceller) -> bool {
        let inner = self.inner.lock();
        if inner.dead.get() {
            return false;
        }
        // SAFETY: `req` is live (caller); the list is ours under the lock.
        unsafe {
            (*req).set_canceller(canceller);
            bindings::list_add_tail((*req).cancel_link(), inner.head.get());
        }
        true
    }

    /// Unlinks `req` if it is linked.
    ///
    /// # Safety
    ///
    /// `req` is a live request of this context.
    pub(crate) unsafe fn unlink(&self, req: *mut AioKiocb) {
        let _inner = self.inner.lock();
        // SAFETY: `req` is live (caller) and its link initialised; the lock
        // is held.
        unsafe { crate::ffi::aio_rs_list_del_init((*req).cancel_link()) };
    }

    /// `io_cancel`: cancels the first linked request whose event would carry
    /// `obj` (the user's iocb pointer).  `EINVAL` if there is none.
    pub(crate) fn cancel(&self, obj: u64) -> Result {
        let inner = self.inner.lock();
        let head = inner.head.get();
        // SAFETY: The list holds live requests (type invariant) and the lock
        // is held, so no entry can be unlinked and freed meanwhile.
        unsafe {
            let mut pos = (*head).next;
            while pos != head {
                let req = AioKiocb::from_cancel_link(pos);
                if (*req).user_iocb() == obj {
                    let ret = Self::call(req);
                    crate::ffi::aio_rs_list_del_init(pos);
                    return kernel::error::to_result(ret);
                }
                pos = (*pos).next;
            }
        }
        Err(EINVAL)
    }

    /// Context teardown (fs/aio.c's `free_ioctx_users`): cancels every
    /// linked request and refuses new links.
    pub(crate) fn kill(&self) {
        let inner = self.inner.lock();
        inner.dead.set(true);
        let head = inner.head.get();
        // SAFETY: As in `cancel`.
        unsafe {
            loop {
                // Each round unlinks the first entry.
                let pos = (*head).next;
                if pos == head {
                    break;
                }
                let req = AioKiocb::from_cancel_link(pos);
                Self::call(req);
                crate::ffi::aio_rs_list_del_init(pos);
            }
        }
    }

    /// Runs the canceller of a linked request.
    ///
    /// # Safety
    ///
    /// `req` is linked and the lock is held.
    unsafe fn call(req: *mut AioKiocb) -> kernel::ffi::c_int {
        // SAFETY: `req` is live while linked (caller).
        match unsafe { (*req).canceller() } {
            // SAFETY: A linked poll request is armed, so alive.
            Some(Canceller::Poll(poll)) => unsafe { PollRequest::cancel(poll) },
            // SAFETY: The driver registered it for this very kiocb.
            Some(Canceller::Driver(f)) => unsafe { f((*req).kiocb()) },
            // Linking always sets a canceller.
            None => 0,
        }
    }
}
