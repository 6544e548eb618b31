// SPDX-License-Identifier: GPL-2.0

//! Buffered reads that never wait for the device inside `io_submit`.
//!
//! fs/aio.c calls `read_iter` synchronously: a read that misses the page
//! cache waits for the device inside `io_submit`.  Ours, for buffered reads
//! of regular files and block devices (mirroring io_uring's `__io_read()`):
//!
//! 1. The first attempt runs inside `io_submit` with `IOCB_NOWAIT`: a page
//!    cache hit completes there, as before.
//! 2. On `-EAGAIN`, or a partial read, the request goes on from where it
//!    stopped with `IOCB_WAITQ` armed (files with `FOP_BUFFER_RASYNC`): the
//!    page cache starts the device read and, instead of sleeping on the
//!    folio, queues the request's [`PageWaiter`] on it and returns
//!    `-EIOCBQUEUED`.
//! 3. The waiter's wake function lets only its folio and bit through, and
//!    queues the next pass as task work on the submitter: the pass copies
//!    into the submitter's memory, so it runs in the submitter's context
//!    (on its way back to user space, or in `io_getevents`, which runs task
//!    work rather than returning `EINTR` for it).
//! 4. Where task work cannot run (the submitting thread exits, the context
//!    is dying, a kernel-thread submitter), where it would run in another
//!    address space (after the submitter's exec, or its exit), or a file cannot wait
//!    asynchronously (no `FOP_BUFFER_RASYNC`, or `-EAGAIN` even with
//!    `IOCB_WAITQ`), the bounded worker pool (`worker.rs`) does a blocking
//!    pass in the submitter's address space with its credentials.  A file
//!    without `IOCB_NOWAIT` skips step 1: all of its read is the pool's.
//!
//! The one event's `res` is what a synchronous `pread` of the range
//! returns: the bytes of all passes, short at end of file, an error only if
//! nothing was read.
//!
//! Ownership: the operation's reference (`rw.rs`) goes with the read: to
//! the page waiter while it is queued, then to the task work or the worker,
//! which continues or completes it.

use crate::context::Kioctx;
use crate::kiocb::AioKiocb;
use crate::read_passes::{after_nowait, after_waitq, read_result, AfterPass};
use crate::rw::{self, RwState};
use crate::waitbit::PageWaiter;
use crate::worker;
use core::ptr::NonNull;
use kernel::cred::Credential;
use kernel::fs::kiocb::{flags, RwType};
use kernel::fs::File;
use kernel::iov::IovIterState;
use kernel::list::ListArc;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Atomic, Full, Relaxed};
use kernel::sync::wait::{WaitQueueEntry, WakeFunction, WakeUp};
use kernel::sync::{Arc, SetOnce};
use kernel::task::Task;
use kernel::task_work::{Notify, TaskWork};

/// The retry state of a buffered read, in its request.
#[pin_data]
pub(crate) struct ReadRetry {
    #[pin]
    waiter: PageWaiter,
    /// The next pass (`AioKiocb`'s `TaskWorkItem`).
    #[pin]
    pub(crate) task_work: TaskWork,
    /// Bytes that earlier passes read.
    done: Atomic<usize>,
    /// `io_cancel` or the context's death: no more passes.
    cancelled: Atomic<bool>,
    /// The submitter, on whom later passes run (or as whom a worker runs
    /// them), recorded when the read first goes asynchronous.
    submitter: SetOnce<ARef<Task>>,
    /// Its credentials when the read went asynchronous.
    creds: SetOnce<ARef<Credential>>,
}

impl ReadRetry {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            waiter <- PageWaiter::new::<PageReady>(),
            task_work <- TaskWork::new(),
            done: Atomic::new(0),
            cancelled: Atomic::new(false),
            submitter: SetOnce::new(),
            creds: SetOnce::new(),
        })
    }

    /// Whether the read went on asynchronously (and is on the cancel list).
    pub(crate) fn went_async(&self) -> bool {
        self.submitter.as_ref().is_some()
    }

    /// `io_cancel`: the read ends at its next step, with the bytes read so
    /// far, or `ECANCELED` (fs/aio.c cannot cancel buffered reads at all:
    /// they are over when `io_submit` returns).
    pub(crate) fn cancel(&self) {
        // Ordered before the canceller's look at the submitter's queued
        // work, as `queue_next_pass` orders its queueing before its look
        // at this flag: one of the two takes the pass back.
        self.cancelled.xchg(true, Full);
    }

    /// The thread on which the passes of a read that went asynchronous
    /// run.
    pub(crate) fn submitter(&self) -> Option<&Task> {
        self.submitter.as_ref().map(|task| &**task)
    }

    /// The event's `res` of a read whose last pass returned `ret`.
    pub(crate) fn result(&self, ret: isize) -> isize {
        read_result(self.done.load(Relaxed), ret)
    }
}

/// Whether a read of `file` with `kiocb`'s flags takes the path of this
/// module: a buffered read of a regular file or a block device (files that
/// wait for a device or a server; a pipe or a socket may wait for ever, and
/// keeps C's path), which the user did not ask to fail rather than wait
/// (`RWF_NOWAIT` gets its `-EAGAIN` event, as in C).
///
/// Without `IOCB_NOWAIT` (9p, FUSE, NFS opened for writing), no attempt can
/// tell a hit from a miss without blocking: the whole read goes to the pool,
/// within its context's share, if the file's pages have a backing store
/// that it may wait for (a device or a server).  Files without one (tmpfs,
/// whose pages are in memory, swap aside; procfs, sysfs; FunctionFS, whose
/// reads wait for a USB host and are cancelled by its driver) keep C's path.
pub(crate) fn eligible(file: &File, kiocb_flags: i32) -> bool {
    kiocb_flags & (flags::DIRECT | flags::NOWAIT) == 0
        && (file.is_regular() || file.is_block_device())
        && (file.supports_nowait() || file.mapping_can_writeback())
}

/// The operation's reference of a buffered read (see the module
/// documentation), and with it the use of the request's kiocb and iterator
/// between passes.
///
/// # Invariants
///
/// `self.0` is a read request whose kiocb is in no method call and has no
/// completion pending, and whose iterator nobody else uses.
struct ReadOp(Arc<AioKiocb>);

impl ReadOp {
    fn rw(&self) -> &RwState {
        self.0.rw()
    }

    /// Sets and clears kiocb flags.
    fn update_flags(&self, set: i32, clear: i32) {
        // SAFETY: Nobody else uses the kiocb (type invariant).
        unsafe { self.rw().kiocb().update_flags(set, clear) };
    }

    /// Arms `IOCB_WAITQ` with the request's page waiter.
    fn arm_page_wait(&self) {
        let rw = self.rw();
        // The waiter is on no queue: its wake function took it off, or it
        // never was on one.
        // SAFETY: Nobody else uses the kiocb (type invariant); the waiter
        // lives in the request.
        unsafe { rw.kiocb().arm_page_wait(rw.retry().waiter.as_raw()) };
    }

    /// Puts the iterator where `consumed` bytes after `state` are: a failed
    /// or partial pass may have moved it by any amount.
    fn rewind(&self, state: &IovIterState, consumed: usize) {
        let iter = self.rw().iter();
        // SAFETY: Nobody else uses the iterator (type invariant).
        unsafe {
            iter.restore(state);
            iter.advance(consumed);
        }
    }

    /// Runs one pass, and returns the operation with its result, or `None`
    /// if the method queued the read (the page waiter or the completion has
    /// the operation now).
    fn pass(self) -> Option<(Self, isize)> {
        // INVARIANT: The method did not queue the read: the kiocb and the
        // iterator are the operation's again.
        rw::submit(self.0, RwType::Read).map(|(op, ret)| (Self(op), ret))
    }

    fn cancelled(&self) -> bool {
        cancelled(&self.0)
    }

    /// Ends the read with the result `ret` of its last pass.
    fn complete(self, ret: isize) {
        rw::complete(self.0, ret);
    }
}

/// The first attempt, inside `io_submit`, with the operation's reference
/// `op`: a cache hit completes at once; anything else goes on
/// asynchronously.
pub(crate) fn start(op: Arc<AioKiocb>) {
    // INVARIANT: The request is not submitted yet.
    let op = ReadOp(op);
    if !op.0.file().supports_nowait() {
        // No attempt can avoid blocking (`eligible`).
        return go_async(op);
    }
    let state = op.rw().iter().save_state();
    let left = op.rw().iter().count();
    op.update_flags(flags::NOWAIT, 0);
    let Some((op, ret)) = op.pass() else { return };
    op.update_flags(0, flags::NOWAIT);
    // A file system that cannot do this read under `IOCB_NOWAIT` at all
    // says so; io_uring, too, takes that as "would block".
    let ret = if ret == EOPNOTSUPP.to_errno() as isize {
        EAGAIN.to_errno() as isize
    } else {
        ret
    };
    match after_nowait(ret, left, EAGAIN.to_errno() as isize) {
        AfterPass::GoOn { consumed } => {
            op.rewind(&state, consumed);
            op.rw().retry().done.store(consumed, Relaxed);
            go_async(op);
        }
        AfterPass::Complete(ret) => op.complete(ret),
        AfterPass::Worker => to_worker(op),
    }
}

/// Whether the read `req` is cancelled, or its context is dying (whose
/// killer may take the pass back before it got to cancel the read).
fn cancelled(req: &AioKiocb) -> bool {
    req.rw().retry().cancelled.load(Relaxed) || req.ctx().is_dead()
}

/// Records where later passes run, then runs the next one.  In the
/// submitter's context.
fn go_async(op: ReadOp) {
    let retry = op.rw().retry();
    if retry.submitter.as_ref().is_none() {
        let current: &Task = kernel::current!();
        retry.submitter.populate(ARef::from(current));
        retry.creds.populate(current.cred());
        // Cancellable from now on; a dying context links nothing.
        let ctx = op.0.ctx();
        let linked = match ListArc::try_from_arc(op.0.clone()) {
            Ok(link) => ctx.cancel_list().link_unless_dead(link).is_ok(),
            Err(_) => false,
        };
        if !linked {
            retry.cancel();
        }
    }
    if op.0.file().has_buffer_rasync() {
        continue_read(op);
    } else {
        to_worker(op);
    }
}

/// Passes with `IOCB_WAITQ` armed until the read is done or waits for a
/// folio.  In the submitter's context.
fn continue_read(mut op: ReadOp) {
    loop {
        if op.cancelled() {
            return op.complete(ECANCELED.to_errno() as isize);
        }
        let state = op.rw().iter().save_state();
        let left = op.rw().iter().count();
        op.arm_page_wait();
        let Some((next, ret)) = op.pass() else { return };
        op = next;
        op.update_flags(0, flags::WAITQ | flags::NOWAIT);
        match after_waitq(ret, left, EAGAIN.to_errno() as isize) {
            AfterPass::GoOn { consumed } => {
                op.rewind(&state, consumed);
                op.rw().retry().done.fetch_add(consumed, Relaxed);
            }
            AfterPass::Complete(ret) => return op.complete(ret),
            // The page cache could not even start the read without blocking
            // (no memory for readahead, say).
            AfterPass::Worker => {
                op.rewind(&state, 0);
                return to_worker(op);
            }
        }
    }
}

/// A pass that may block, where it is.
fn blocking_pass(op: ReadOp) {
    op.update_flags(0, flags::WAITQ | flags::NOWAIT);
    if let Some((op, ret)) = op.pass() {
        op.complete(ret);
    }
}

/// Hands the read to the pool.
fn to_worker(op: ReadOp) {
    worker::queue(op.0);
}

/// The pool's pass, with the operation's reference: blocking, in the
/// submitter's address space and with its credentials.  If the address
/// space is gone (the process exited), the read ends with what it has, or
/// `ECANCELED`.
pub(crate) fn run_worker(op: Arc<AioKiocb>) {
    // INVARIANT: Only a read's operation queues its work item.
    let op = ReadOp(op);
    let req = op.0.clone();
    let creds = req.rw().retry().creds.as_ref();
    let op = match creds {
        Some(creds) if !op.cancelled() => {
            match worker::as_submitter(req.ctx(), creds, op, blocking_pass) {
                Ok(()) => return,
                Err(op) => op,
            }
        }
        _ => op,
    };
    op.complete(ECANCELED.to_errno() as isize);
}

/// The request whose retry state holds `waiter`'s entry.
///
/// # Safety
///
/// `entry` is the entry of the waiter of a live request's retry state.
unsafe fn request_of_entry(entry: NonNull<WaitQueueEntry>) -> *const AioKiocb {
    // SAFETY: As documented; all the pointers are inside the request.
    unsafe {
        let waiter = PageWaiter::from_entry(entry);
        let retry = kernel::container_of!(core::ptr::from_ref(waiter), ReadRetry, waiter);
        RwState::request_of_retry(retry)
    }
}

/// The wake function of the page waiter.  Runs under the folio queue's
/// lock, possibly in interrupt context.
struct PageReady;

impl WakeFunction for PageReady {
    fn wake(entry: NonNull<WaitQueueEntry>, wake: &WakeUp) -> bool {
        // SAFETY: Only queued page waiters of reads get here, and a queued
        // waiter holds its request's operation reference.
        let waiter = unsafe { PageWaiter::from_entry(entry) };
        if !waiter.matches(wake) {
            return false;
        }
        // SAFETY: We hold the queue's lock.
        unsafe { waiter.remove_locked() };
        // INVARIANT: The waiter was queued instead of the read going on.
        // SAFETY: As above; the reference is the queued waiter's, ours now.
        let op = ReadOp(unsafe { Arc::from_raw(request_of_entry(entry)) });
        queue_next_pass(op);
        true
    }
}

/// Queues the next pass on the submitter, or on a worker where task work
/// cannot run.  From any context.
fn queue_next_pass(op: ReadOp) {
    // A reference of our own: once queued, the pass may run (and complete
    // the read) before we are done looking at the request.
    let req = op.0.clone();
    let task = req.rw().retry().submitter();
    let Some(task) = task.filter(|_| !op.cancelled()) else {
        return to_worker(op);
    };
    match TaskWork::queue(op.0, task, Notify::Signal) {
        // INVARIANT: Not queued: the operation is ours again.
        Err(op) => to_worker(ReadOp(op)),
        // A read cancelled or a context killed meanwhile may be waited for
        // by a task that does not run the submitter's task work: if the
        // work can still be taken back, a worker does the pass instead.
        // The canceller and the killer order their marks before they look
        // for queued work, and `task_work_add` orders the queueing before
        // this check.
        Ok(()) if cancelled(&req) => {
            if let Some(op) = TaskWork::cancel(&*req, task) {
                // INVARIANT: Cancelled: the operation is ours again.
                to_worker(ReadOp(op));
            }
        }
        Ok(()) => {}
    }
}

/// Takes back the passes still queued on `task` ([`end_taken_back`]): for
/// one who waits for its reads where `task` will not run them (it is
/// exiting).
pub(crate) fn take_back_passes(task: &Task) {
    while let Some(op) = TaskWork::cancel_first(task, &|_: &AioKiocb| true) {
        // INVARIANT: Only a read's operation queues its work, and it is
        // ours again.
        end_taken_back(ReadOp(op));
    }
}

/// Takes back the next pass of `req`, a read that went asynchronous on
/// `task`, if it is queued there ([`end_taken_back`]): after `io_cancel`,
/// whose event should not wait for a submitter thread that does not run
/// its task work (one stopped by a tracer, frozen, or in a killable
/// sleep).
pub(crate) fn take_back_pass(req: &AioKiocb, task: &Task) {
    if let Some(op) = TaskWork::cancel(req, task) {
        // INVARIANT: Only a read's operation queues its work, and it is
        // ours again.
        end_taken_back(ReadOp(op));
    }
}

/// Ends a read whose pass was taken back, in process context: a cancelled
/// one at once (its next step would only end it), another on a worker.
fn end_taken_back(op: ReadOp) {
    if op.cancelled() {
        op.complete(ECANCELED.to_errno() as isize);
    } else {
        to_worker(op);
    }
}

/// Takes back every pass of `ctx`'s reads queued on `task`
/// ([`end_taken_back`]): for the killer of `ctx`, who would otherwise wait
/// for that thread (fs/aio.c's `io_destroy` waits for no thread: its
/// buffered reads are over when `io_submit` returns).  Each walk of the
/// task's work stops at the first of them, so that passes queued together
/// cost one step each.
pub(crate) fn take_back_context_passes(ctx: &Kioctx, task: &Task) {
    let of_ctx = |req: &AioKiocb| core::ptr::eq(req.ctx(), ctx);
    while let Some(op) = TaskWork::cancel_first(task, &of_ctx) {
        // INVARIANT: As above.
        end_taken_back(ReadOp(op));
    }
}

/// The task work of the next pass, in the submitter's context, with the
/// operation's reference.
pub(crate) fn next_pass(op: Arc<AioKiocb>) {
    // INVARIANT: The pass was queued instead of the read going on.
    let op = ReadOp(op);
    // Task work survives exec and runs at the end of a thread's exit,
    // after its mm is gone: the pass copies into `current`'s address
    // space, so only the context's own will do (io_uring's
    // `io_should_terminate_tw()`); elsewhere a worker does it in that mm.
    let ctx_mm = op.0.ctx().mm().as_raw();
    let own_mm = kernel::current!()
        .mm()
        .is_some_and(|mm| core::ptr::eq(mm.as_raw(), ctx_mm));
    if !own_mm {
        return to_worker(op);
    }
    continue_read(op);
}
