// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_PREAD`, `PWRITE`, `PREADV` and `PWRITEV` (fs/aio.c's
//! `aio_read`, `aio_write`): the file's `read_iter`/`write_iter` with a
//! kiocb whose `ki_complete` posts the event, from any context.
//!
//! A driver may make its reads and writes cancellable with
//! `kiocb_set_cancel_fn` (USB FunctionFS does); io_uring's kiocbs reach
//! that function too, so the `IOCB_AIO_RW` test comes before the kiocb is
//! taken for ours (the lesson of CVE-2024-26764 and CVE-2024-35815).

use crate::abi::{Iocb, IOCB_FLAG_IOPRIO, IOCB_FLAG_RESFD};
use crate::batch::SubmitBatch;
use crate::direct::{self, DirectRetry};
use crate::kiocb::{AioKiocb, CancelFn, Op};
use crate::retry::{self, ReadRetry};
use crate::sync_write::{self, SyncWrite};
use crate::worker;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::code;
use kernel::fs::kiocb::{flags, IoComplete, IoKiocb, RwType};
use kernel::fs::File;
use kernel::iov::{Direction, UserBuffer, UserIovIter};
use kernel::list::ListArc;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, ArcBorrow};
use kernel::uaccess::UserPtr;

/// The VFS side of a read or write.
///
/// # Invariants
///
/// For a read or write request, `kiocb` is prepared (fs/aio.c's
/// `aio_prep_rw`) for the request's file with [`RwComplete`], and `iter`
/// covers the user's buffers.  Other opcodes carry a kiocb they never
/// submit (a request is one allocation holding every opcode's state).
#[pin_data]
pub(crate) struct RwState {
    #[pin]
    kiocb: IoKiocb,
    #[pin]
    iter: UserIovIter,
    /// Whether the file is a regular one, whose writes hold the
    /// superblock's freeze protection while in flight.
    regular: bool,
    /// Whether a write holds the freeze protection now: from its issue to
    /// its completion, except while it waits for the worker pool (io_uring
    /// too gives it back when it punts), so that writes queued behind a
    /// frozen file system's never hold up freezing another.
    write_held: Atomic<bool>,
    /// Buffered reads that go on asynchronously (`retry.rs`); reached by
    /// `AioKiocb`'s `impl_has_task_work!`.
    #[pin]
    pub(crate) retry: ReadRetry,
    /// `O_DIRECT` requests that found the device queue full (`direct.rs`).
    direct: DirectRetry,
    /// Writes with synchronous semantics (`sync_write.rs`).
    #[pin]
    sync_write: SyncWrite,
}

impl RwState {
    /// The state of a read or write of `file` as `iocb` describes it, in
    /// fs/aio.c's order of checks: the kiocb flags and priority, the file's
    /// mode and method, the user buffers.
    pub(crate) fn new(op: Op, file: &File, iocb: &Iocb, compat: bool) -> impl PinInit<Self, Error> {
        let (rw, vectored) = match op {
            Op::Read { vectored } => (Some(RwType::Read), vectored),
            Op::Write { vectored } => (Some(RwType::Write), vectored),
            Op::Fsync { .. } | Op::Poll => (None, false),
        };
        let buffer = rw.map(|rw| UserBuffer {
            dir: match rw {
                RwType::Read => Direction::Dest,
                RwType::Write => Direction::Source,
            },
            buf: UserPtr::from_addr(iocb.aio_buf as usize),
            len: iocb.aio_nbytes as usize,
            vectored,
            compat,
        });
        let mode_ok = match rw {
            None => Ok(()),
            Some(RwType::Read) if !file.is_readable() => Err(EBADF),
            Some(RwType::Write) if !file.is_writable() => Err(EBADF),
            Some(RwType::Read) if !file.has_read_iter() => Err(EINVAL),
            Some(RwType::Write) if !file.has_write_iter() => Err(EINVAL),
            Some(_) => Ok(()),
        };
        // fs/aio.c's `aio_prep_rw`; other opcodes get a plain kiocb.
        let (rw_type, pos, mut extra_flags, ioprio, rw_flags) = match rw {
            Some(rw) => (
                rw,
                iocb.aio_offset,
                flags::AIO_RW,
                (iocb.aio_flags & IOCB_FLAG_IOPRIO != 0).then_some(i32::from(iocb.aio_reqprio)),
                iocb.aio_rw_flags,
            ),
            None => (RwType::Read, 0, 0, None, 0),
        };
        if rw.is_some() && iocb.aio_flags & IOCB_FLAG_RESFD != 0 {
            extra_flags |= flags::EVENTFD;
        }
        // SAFETY: The request holds its file for as long as it lives.
        let kiocb = unsafe {
            IoKiocb::new::<RwComplete>(file, rw_type, pos, extra_flags, ioprio, rw_flags)
        };
        let regular = file.is_regular();
        try_pin_init!(Self {
            // `aio_prep_rw`, then the mode and method checks of
            // `aio_read`/`aio_write`, then the buffers.
            kiocb <- kiocb,
            _: { mode_ok? },
            iter <- UserIovIter::new(buffer),
            regular,
            write_held: Atomic::new(false),
            retry <- ReadRetry::new(),
            direct: DirectRetry::new(),
            sync_write <- SyncWrite::new(),
        }? Error)
    }

    /// The kiocb, as drivers see it.
    pub(crate) fn kiocb_raw(&self) -> *mut bindings::kiocb {
        self.kiocb.as_raw()
    }

    pub(crate) fn kiocb(&self) -> &IoKiocb {
        &self.kiocb
    }

    /// Takes the freeze protection for a write's attempt; may sleep.
    pub(crate) fn begin_write(&self) {
        self.kiocb.start_write(self.regular);
        self.write_held.store(true, Relaxed);
    }

    /// [`Self::begin_write`] unless it would wait for a frozen file system.
    fn try_begin_write(&self) -> bool {
        let held = self.kiocb.try_start_write(self.regular);
        if held {
            self.write_held.store(true, Relaxed);
        }
        held
    }

    /// Gives the freeze protection back, if the write holds it: before it
    /// waits for the pool, and when it completes.
    pub(crate) fn end_write(&self) {
        if self.write_held.xchg(false, Relaxed) {
            self.kiocb.end_write(self.regular);
        }
    }

    pub(crate) fn iter(&self) -> &UserIovIter {
        &self.iter
    }

    pub(crate) fn retry(&self) -> &ReadRetry {
        &self.retry
    }

    pub(crate) fn direct(&self) -> &DirectRetry {
        &self.direct
    }

    pub(crate) fn sync_write(&self) -> &SyncWrite {
        &self.sync_write
    }

    /// The request whose sync-write state is `state`.
    ///
    /// # Safety
    ///
    /// `state` is the `sync_write` field of an `RwState`, which is the `rw`
    /// field of a request.
    pub(crate) unsafe fn request_of_sync_write(state: *const SyncWrite) -> *const AioKiocb {
        // SAFETY: As documented: all the pointers are inside the request.
        unsafe { AioKiocb::from_rw(kernel::container_of!(state, Self, sync_write)) }
    }

    /// The request whose read retry state is `retry`.
    ///
    /// # Safety
    ///
    /// `retry` is the `retry` field of an `RwState`, which is the `rw`
    /// field of a request.
    pub(crate) unsafe fn request_of_retry(retry: *const ReadRetry) -> *const AioKiocb {
        // SAFETY: As documented: all the pointers are inside the request.
        unsafe { AioKiocb::from_rw(kernel::container_of!(retry, Self, retry)) }
    }
}

/// Starts a prepared read or write (the rest of `aio_read`/`aio_write`).
/// `req` is the submitter's reference, held until the method returns; the
/// operation takes a reference of its own.  Before anything that may wait
/// for others (a frozen file system, a file's method), the events of the
/// requests that completed earlier in `batch` are posted, as fs/aio.c has
/// them in the ring by then: what it waits for may be one of them (a read
/// of the eventfd an earlier request signals).
pub(crate) fn issue(req: &Arc<AioKiocb>, batch: &mut SubmitBatch<'_>) -> Result {
    let rw_type = match req.op() {
        Op::Write { .. } => RwType::Write,
        _ => RwType::Read,
    };
    let rw = req.rw();
    rw.kiocb.verify_area(rw_type, rw.iter.count())?;
    if rw_type == RwType::Write && !rw.try_begin_write() {
        batch.post();
        rw.begin_write();
    }
    let kiocb_flags = rw.kiocb.flags();
    let pool_ok = rw_type == RwType::Read || worker::write_limits_allow();
    if pool_ok && direct::eligible(req.file(), kiocb_flags) {
        direct::start(req.clone(), rw_type);
    } else if rw_type == RwType::Write && pool_ok && sync_write::eligible(req.file(), kiocb_flags) {
        sync_write::start(req.clone());
    } else if rw_type == RwType::Read && retry::eligible(req.file(), kiocb_flags) {
        retry::start(req.clone());
    } else {
        // Files without these paths' `IOCB_NOWAIT` attempts: the method may
        // wait for anything (a pipe, a socket, an eventfd).
        batch.post();
        if let Some((op, ret)) = submit_held(req, rw_type) {
            complete(op, sync_result(ret));
        }
    }
    Ok(())
}

/// Calls the file's method with the operation's reference `op`: `None` if
/// the method queued the request (its completion has the reference now),
/// else the reference back with the method's result.
pub(crate) fn submit(op: Arc<AioKiocb>, rw_type: RwType) -> Option<(Arc<AioKiocb>, isize)> {
    // `op` becomes our own reference for the call (a queued request may
    // complete on another CPU before the method returns), and the method
    // gets another.
    submit_held(&op, rw_type)
}

/// Calls the file's method with a new operation's reference, while `req`
/// (the caller's) keeps the request alive until the method returns: `None`
/// if the method queued the request, else the operation's reference back
/// with the method's result.
fn submit_held(req: &Arc<AioKiocb>, rw_type: RwType) -> Option<(Arc<AioKiocb>, isize)> {
    let rw = req.rw();
    let _ = Arc::into_raw(req.clone());
    // SAFETY: Kiocb and iterator are prepared, in the request, which the
    // operation's reference keeps alive until completion, `req` till we return.
    let ret = unsafe { rw.kiocb.submit(rw_type, rw.iter.as_raw()) };
    if ret == code::EIOCBQUEUED.to_errno() as isize {
        return None;
    }
    // SAFETY: The method did not take the operation's reference: it is ours.
    Some((unsafe { take_back(req) }, ret))
}

/// The operation's reference of `req`, given back by a method or a
/// completion.
///
/// # Safety
///
/// `req`'s operation's reference was given to a method by [`submit_held`], and
/// the method or the completion that held it gave it up.
pub(crate) unsafe fn take_back(req: &AioKiocb) -> Arc<AioKiocb> {
    // SAFETY: `submit_held` made the reference with `Arc::into_raw` (caller).
    unsafe { Arc::from_raw(req) }
}

/// The result of a method that did not queue its request (fs/aio.c's
/// `aio_rw_done`): other requests may be running, so an interrupted call
/// cannot be restarted.
pub(crate) fn sync_result(ret: isize) -> isize {
    let interrupted = [
        code::ERESTARTSYS,
        code::ERESTARTNOINTR,
        code::ERESTARTNOHAND,
        code::ERESTART_RESTARTBLOCK,
    ]
    .iter()
    .any(|e| ret == e.to_errno() as isize);
    if interrupted {
        EINTR.to_errno() as isize
    } else {
        ret
    }
}

/// The pool's step of a read or write (`worker.rs`), with the operation's
/// reference.
pub(crate) fn run_worker(op: Arc<AioKiocb>) {
    // Not the kiocb's `IOCB_DIRECT`: a file system that falls back to
    // buffered I/O clears it.
    if op.rw().direct.active() {
        direct::run_worker(op);
    } else if matches!(op.op(), Op::Write { .. }) {
        sync_write::run_worker(op);
    } else {
        retry::run_worker(op);
    }
}

/// The request of a kiocb of ours.
///
/// # Safety
///
/// `kiocb` is the kiocb of an `RwState`, which is the `rw` field of a live
/// request.
unsafe fn request_of(kiocb: *const IoKiocb) -> *const AioKiocb {
    // SAFETY: As documented: all three pointers are inside the request.
    unsafe { AioKiocb::from_rw(kernel::container_of!(kiocb, RwState, kiocb)) }
}

/// `ki_complete` of our reads and writes: runs in any context, interrupts
/// included, with the operation's reference that `issue` made.
struct RwComplete;

impl IoComplete for RwComplete {
    fn complete(kiocb: NonNull<IoKiocb>, res: isize) {
        // SAFETY: Only our requests' kiocbs complete here, and the
        // operation's reference came from `Arc::into_raw` in `submit`.
        let op = unsafe { Arc::from_raw(request_of(kiocb.as_ptr())) };
        if op.rw().sync_write.active() {
            // The copy of a write with synchronous semantics, queued by its
            // method (no file system of 7.3 with `FMODE_NOWAIT` queues a
            // buffered write, but one that did must not skip the sync).
            return sync_write::copied(op, res, false);
        }
        if res == EAGAIN.to_errno() as isize || res == EOPNOTSUPP.to_errno() as isize {
            // An `O_DIRECT` first attempt goes to the pool instead.
            if let Some(op) = direct::complete_refused(op) {
                complete(op, res);
            }
            return;
        }
        complete(op, res);
    }
}

/// Completes a read or write with the operation's reference `op`; `res` is
/// the result of its last pass (fs/aio.c's `aio_complete_rw`).
pub(crate) fn complete(op: Arc<AioKiocb>, res: isize) {
    if op.driver_cancellable() || op.rw().retry.went_async() {
        op.ctx().cancel_list().unlink(&op);
    }
    let rw = op.rw();
    rw.end_write();
    op.finish(rw.retry.result(res) as i64);
}

/// `kiocb_set_cancel_fn`: a driver makes a read or write cancellable.
///
/// # Safety
///
/// `kiocb` is a valid kiocb whose `ki_complete` has not run yet.
pub(crate) unsafe fn set_driver_cancel(kiocb: *mut bindings::kiocb, cancel: Option<CancelFn>) {
    // SAFETY: `kiocb` is valid (caller).
    let kiocb = unsafe { IoKiocb::from_raw(kiocb) };
    // The flag first: a kiocb without it is not ours (io_uring's, or a
    // synchronous one) and must not be converted.
    if kiocb.flags() & flags::AIO_RW == 0 {
        return;
    }
    let Some(cancel) = cancel else { return };
    // SAFETY: An `IOCB_AIO_RW` kiocb is one of our requests' kiocbs, alive
    // until its completion (not run yet) drops the operation's reference.
    let req = unsafe { ArcBorrow::from_raw(request_of(kiocb)) };
    if !req.set_driver_cancel(cancel) {
        kernel::pr_warn_once!("kiocb_set_cancel_fn called twice for one request\n");
        return;
    }
    if let Some(linked) = ListArc::try_from_arc_borrow(req) {
        req.ctx().cancel_list().link_driver(linked);
    }
}
