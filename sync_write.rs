// SPDX-License-Identifier: GPL-2.0

//! Writes with synchronous semantics (`O_SYNC`, `O_DSYNC`, `RWF_SYNC`,
//! `RWF_DSYNC`) to buffered files that never wait for the device inside
//! `io_submit`.
//!
//! fs/aio.c calls `write_iter`, which copies into the page cache and then
//! syncs the range (`generic_write_sync()`: writeback, wait, metadata,
//! cache flush), all inside `io_submit`.  Ours, for such writes to regular
//! files, in steps:
//!
//! 1. Copy: the kiocb's `IOCB_DSYNC`/`IOCB_SYNC` are cleared, so that
//!    `write_iter` only copies.  Inside `io_submit` with `IOCB_NOWAIT` where
//!    the file system supports it (`FOP_BUFFER_WASYNC`: XFS, btrfs; not
//!    ext4), in the worker pool otherwise or for what is left, as the
//!    submitter (its memory, its credentials).
//! 2. Writeback: the pool starts writeback of the range written
//!    (`filemap_fdatawrite_range()`), then no thread waits for it: the
//!    request's [`PageWaiter`] is queued on the first folio of the range
//!    under writeback (`filemap_fdatawait_range_async()`); its wake function
//!    lets only that folio's `PG_writeback` through and queues the next look
//!    at the range, until no folio in it is under writeback.
//! 3. Sync: the pool calls `vfs_fsync_range()` on the range with the
//!    submitter's credentials, as `generic_write_sync()` would.  The data
//!    is on the device by then: what is left is the metadata (all of it for
//!    `O_SYNC`; what finding the data needs, such as a new size or new
//!    blocks, for `O_DSYNC`), the device cache flush, and the writeback
//!    error check.  So the event comes once the data (and the metadata, for
//!    `O_SYNC`) is as durable as a synchronous write would have made it.
//!
//! The one event's `res` is what `write_iter` with the sync flags returns:
//! the bytes written, the sync's error if it failed, or the copy's error if
//! nothing was written.  A writeback error recorded in the file's mapping
//! since the write was submitted fails it too: `fsync` reports such an
//! error to one open file once, so with several writes in flight it could
//! go to another write than the one whose data it concerns.
//!
//! An append is copied in one pass (in the pool), so that no other append
//! lands inside it.  Writes that the submitter's `RLIMIT_FSIZE` could cut
//! short keep C's path (`worker::write_limits_allow`).

use crate::kiocb::AioKiocb;
use crate::rw;
use crate::waitbit::PageWaiter;
use crate::worker;
use crate::write_steps::{after_copy, write_result, AfterCopy};
use core::ptr::NonNull;
use kernel::cred::Credential;
use kernel::fs::kiocb::{flags, RwType};
use kernel::fs::File;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use kernel::sync::wait::{WaitQueueEntry, WakeFunction, WakeUp};
use kernel::sync::{Arc, SetOnce};
use kernel::task::Task;

/// The next step is the copy (or the rest of it), in the pool.
const COPY: i32 = 0;
/// The next step looks for folios of the range under writeback.
const WAIT: i32 = 1;

/// The state of a write with synchronous semantics, in its request.
#[pin_data]
pub(crate) struct SyncWrite {
    /// Queued on a folio under writeback (step 2).
    #[pin]
    waiter: PageWaiter,
    /// `COPY` or `WAIT`: what the pool does next.
    step: Atomic<i32>,
    /// Bytes copied so far.
    written: Atomic<usize>,
    /// Whether writeback of the range was started.
    writeback_started: Atomic<bool>,
    /// Where the wait goes on (`filemap_fdatawait_range_async()` moves it).
    wait_pos: Atomic<i64>,
    /// `O_DSYNC` semantics rather than `O_SYNC`.
    datasync: Atomic<bool>,
    /// The mapping's writeback error state when the write was submitted.
    wb_err: Atomic<u32>,
    /// The submitter's credentials, as whom the pool copies and syncs; set
    /// for requests of this module only.
    creds: SetOnce<ARef<Credential>>,
}

impl SyncWrite {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            waiter <- PageWaiter::new::<WritebackEnded>(),
            step: Atomic::new(COPY),
            written: Atomic::new(0),
            writeback_started: Atomic::new(false),
            wait_pos: Atomic::new(0),
            datasync: Atomic::new(true),
            wb_err: Atomic::new(0),
            creds: SetOnce::new(),
        })
    }

    /// Whether the request takes the path of this module.
    pub(crate) fn active(&self) -> bool {
        self.creds.as_ref().is_some()
    }
}

/// Whether a write to `file` with `kiocb`'s flags takes the path of this
/// module: buffered, with synchronous semantics, to a regular file, and not
/// marked `RWF_NOWAIT` (which keeps C's path and its `-EAGAIN`).  A file
/// without `FOP_BUFFER_WASYNC` (9p, FUSE, NFS) is copied in the pool,
/// within its context's share; files whose pages have no backing store
/// (tmpfs) keep C's path, as their reads do (`retry.rs`): their sync waits
/// for nothing.
pub(crate) fn eligible(file: &File, kiocb_flags: i32) -> bool {
    kiocb_flags & (flags::DIRECT | flags::NOWAIT | flags::DSYNC) == flags::DSYNC
        && file.is_regular()
        && (file.supports_nowait() || file.mapping_can_writeback())
}

/// Step 1 inside `io_submit`, with the operation's reference (the freeze
/// protection is held, as for any write, until the event).
pub(crate) fn start(op: Arc<AioKiocb>) {
    let rw = op.rw();
    let state = rw.sync_write();
    let current: &Task = kernel::current!();
    state.creds.populate(current.cred());
    state
        .datasync
        .store(rw.kiocb().flags() & flags::SYNC == 0, Relaxed);
    let file = op.file();
    state.wb_err.store(file.wb_err_sample(), Relaxed);
    // An append copied in two passes could have another writer's append
    // land between them: an append is copied in one pass, in the pool.
    let inline = file.has_buffer_wasync() && rw.kiocb().flags() & flags::APPEND == 0;
    let set = if inline { flags::NOWAIT } else { 0 };
    // SAFETY: The request is not submitted yet: nobody else uses its kiocb.
    unsafe { rw.kiocb().update_flags(set, flags::DSYNC | flags::SYNC) };
    if !inline {
        // The pool's copy takes the freeze protection again.
        rw.end_write();
        return worker::queue(op);
    }
    if let Some((op, ret)) = rw::submit(op, RwType::Write) {
        // SAFETY: The method returned: nobody else uses the kiocb.
        unsafe { op.rw().kiocb().update_flags(0, flags::NOWAIT) };
        copied(op, ret, true);
    }
}

/// The copy returned `ret` (or completed with it, from `ki_complete`):
/// records it and moves on, from any context.  After an `IOCB_NOWAIT` copy
/// (`nowait`), what is left is copied by the pool.
pub(crate) fn copied(op: Arc<AioKiocb>, ret: isize, nowait: bool) {
    let rw = op.rw();
    let state = rw.sync_write();
    if ret > 0 {
        state.written.fetch_add(ret as usize, Relaxed);
    }
    let written = state.written.load(Relaxed);
    // The copy is over: the rest does not need the freeze protection (a
    // synchronous write's sync runs under it, but `fsync` needs none), and
    // a copy in the pool takes it again.
    rw.end_write();
    match after_copy(ret, rw.iter().count(), written, nowait) {
        AfterCopy::CopyInPool => state.step.store(COPY, Release),
        AfterCopy::Complete(ret) => return rw::complete(op, rw::sync_result(ret)),
        AfterCopy::Sync => state.step.store(WAIT, Release),
    }
    worker::queue(op);
}

/// The pool's step, with the operation's reference.
pub(crate) fn run_worker(op: Arc<AioKiocb>) {
    let req = op.clone();
    let state = req.rw().sync_write();
    let Some(creds) = state.creds.as_ref() else {
        return rw::complete(op, ECANCELED.to_errno() as isize);
    };
    if state.step.load(Acquire) == COPY {
        let copy = |op: Arc<AioKiocb>| {
            op.rw().begin_write();
            if let Some((op, ret)) = rw::submit(op, RwType::Write) {
                copied(op, ret, false);
            }
        };
        if let Err(op) = worker::as_submitter(req.ctx(), creds, op, copy) {
            // The process has gone: what was copied stays, unsynced, as
            // after a plain write; nobody will read the event.
            rw::complete(op, ECANCELED.to_errno() as isize);
        }
        return;
    }
    // The range written: `write_iter` moved `ki_pos` past it.
    let written = state.written.load(Relaxed) as i64;
    let end = req.rw().kiocb().pos() - 1;
    let start = end + 1 - written;
    if !state.writeback_started.load(Relaxed) {
        state.writeback_started.store(true, Relaxed);
        state.wait_pos.store(start, Relaxed);
        if let Err(e) = req.file().fdatawrite_range(start, end) {
            return rw::complete(op, e.to_errno() as isize);
        }
    }
    // Our own reference (`req`) keeps the request alive while the waiter
    // holds the operation's.
    let raw = Arc::into_raw(op);
    // The waiter is on no queue: its wake function took it off, or it never
    // was on one.
    // SAFETY: The waiter lives in the request, as long as the operation's
    // reference it takes over; `wait_pos` is ours until the wake function runs.
    let queued = unsafe {
        req.file()
            .fdatawait_range_async(state.wait_pos.as_ptr(), end, state.waiter.as_raw())
    };
    if queued {
        return;
    }
    // SAFETY: Not queued: the operation's reference is ours again.
    let op = unsafe { Arc::from_raw(raw) };
    let datasync = state.datasync.load(Relaxed);
    let res = creds.with_override(|| req.file().fsync_range(start, end, datasync));
    // `fsync` reports a writeback error once per open file: to whichever
    // write of the file syncs first.  A write whose own writeback failed
    // must not look durable, so any error since its submission fails it.
    let res = res.and_then(|()| req.file().wb_err_since(state.wb_err.load(Relaxed)));
    let sync = res.map_or_else(|e| e.to_errno() as isize, |()| 0);
    rw::complete(op, write_result(written as usize, sync));
}

/// The wake function of the writeback waiter.  Runs under the folio
/// queue's lock, possibly in interrupt context.
struct WritebackEnded;

impl WakeFunction for WritebackEnded {
    fn wake(entry: NonNull<WaitQueueEntry>, wake: &WakeUp) -> bool {
        // SAFETY: Only queued writeback waiters of our writes get here, and
        // a queued waiter holds its request's operation reference.
        let waiter = unsafe { PageWaiter::from_entry(entry) };
        if !waiter.matches(wake) {
            return false;
        }
        // SAFETY: We hold the queue's lock.
        unsafe { waiter.remove_locked() };
        // SAFETY: As above; the reference is the queued waiter's, ours now.
        let op = unsafe { Arc::from_raw(request_of_waiter(waiter)) };
        worker::queue(op);
        true
    }
}

/// The request whose sync-write state holds `waiter`.
///
/// # Safety
///
/// `waiter` is the waiter of a live request's sync-write state.
unsafe fn request_of_waiter(waiter: &PageWaiter) -> *const AioKiocb {
    let waiter = core::ptr::from_ref(waiter);
    // SAFETY: As documented; all the pointers are inside the request.
    unsafe { rw::RwState::request_of_sync_write(kernel::container_of!(waiter, SyncWrite, waiter)) }
}
