// SPDX-License-Identifier: GPL-2.0

//! The requests of a context that `io_cancel` can reach (fs/aio.c's
//! `active_reqs`): armed polls, and reads or writes whose driver called
//! `kiocb_set_cancel_fn`.  Killing the context cancels them all, so that
//! `io_destroy` and process exit never wait for I/O that nothing will ever
//! complete.
//!
//! A linked request is held by the list (a `ListArc`).  Cancellers run with
//! the list's lock held, as in fs/aio.c: a completion unlinks its request
//! under the same lock before it may free anything the canceller uses (a
//! driver's cancel function looks at the driver's private request).

use crate::kiocb::AioKiocb;
use kernel::list::{List, ListArc};
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, SpinLockIrq};

/// The list and its state, under one IRQ-safe lock: cancellation runs from
/// `io_cancel` and context teardown, unlinking from completions in any
/// context.
struct CancelListInner {
    list: List<AioKiocb>,
    /// Set when the context is killed: polls may not be linked any more.
    dead: bool,
}

/// The cancellable requests of one context.
#[pin_data]
pub(crate) struct CancelList {
    #[pin]
    inner: SpinLockIrq<CancelListInner>,
}

impl CancelList {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_spinlock_irq!(
                CancelListInner { list: List::new(), dead: false },
                "CancelList::inner"
            ),
        })
    }

    /// Links an armed poll, or a read waiting for the page cache, so that
    /// `io_cancel` finds it.  Once the context is being killed it links
    /// nothing and gives the request back: the caller cancels it itself.
    pub(crate) fn link_unless_dead(&self, req: ListArc<AioKiocb>) -> Result<(), ListArc<AioKiocb>> {
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(req);
        }
        inner.list.push_back(req);
        Ok(())
    }

    /// Links a read or write whose driver made it cancellable.  As in
    /// fs/aio.c this also happens while the context dies (the driver is
    /// called from inside `io_submit`): the submitter cancels what was linked
    /// late once it is done ([`Self::cancel_all`]).
    pub(crate) fn link_driver(&self, req: ListArc<AioKiocb>) {
        self.inner.lock().list.push_back(req);
    }

    /// Unlinks `req` if it is linked (its completion is under way).
    pub(crate) fn unlink(&self, req: &AioKiocb) {
        let removed = {
            let mut inner = self.inner.lock();
            // SAFETY: A request is only ever linked on its own context's list.
            unsafe { inner.list.remove(req) }
        };
        // The list's reference may be the last: drop it without the lock.
        drop(removed);
    }

    /// `io_cancel`: cancels the first linked request whose event would carry
    /// `obj` (the user's iocb pointer); the canceller's error, or `EINVAL` if
    /// there is no such request.
    pub(crate) fn cancel(&self, obj: u64) -> Result {
        let (ret, removed) = {
            let mut inner = self.inner.lock();
            let mut cursor = inner.list.cursor_front();
            loop {
                let next = cursor.peek_next().ok_or(EINVAL)?;
                if next.user_iocb() == obj {
                    break (next.cancel(), next.remove());
                }
                cursor.move_next();
            }
        };
        removed.hurry_cancelled();
        // The list's reference may be the last: dropped without the lock.
        drop(removed);
        ret
    }

    /// Context teardown (fs/aio.c's `free_ioctx_users`): cancels every
    /// linked request; with `kill`, polls may not be linked any more.
    ///
    /// One request at a time: a cancelled request leaves the list before its
    /// canceller runs (under the lock, so its completion waits for the
    /// canceller), and the list's reference is dropped unlocked.  It must
    /// not be parked on another list meanwhile: its completion unlinks it
    /// from this one.
    pub(crate) fn cancel_all(&self, kill: bool) {
        // The last submitter whose queued passes were taken back.
        let mut drained = None;
        loop {
            let (cancelled, dead) = {
                let mut inner = self.inner.lock();
                if kill {
                    inner.dead = true;
                }
                let Some(req) = inner.list.pop_front() else {
                    return;
                };
                // What a canceller reports does not matter here.
                let _ = req.cancel();
                (req, inner.dead)
            };
            // The killer, or a submitter that found the context killed
            // (and may have taken requests from the killer's loop), must
            // not wait for the reads' submitter threads.
            if dead {
                cancelled.hurry_dying(&mut drained);
            } else {
                cancelled.hurry_cancelled();
            }
            drop(cancelled);
        }
    }
}
