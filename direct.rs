// SPDX-License-Identifier: GPL-2.0

//! `O_DIRECT` reads and writes that never wait for a device queue inside
//! `io_submit`.
//!
//! fs/aio.c calls `read_iter`/`write_iter` without `IOCB_NOWAIT`: when the
//! device queue is full, `submit_bio` sleeps for a request tag inside
//! `io_submit`.  Ours, for `O_DIRECT` requests to regular files and block
//! devices that support `IOCB_NOWAIT` (mirroring io_uring's
//! `REQ_F_REISSUE`):
//!
//! 1. The first attempt runs inside `io_submit` with `IOCB_NOWAIT`, so its
//!    bios carry `REQ_NOWAIT` and the block layer fails them with `-EAGAIN`
//!    instead of sleeping (file systems, too, return `-EAGAIN` rather than
//!    take a contended lock or allocate blocks).
//! 2. An `-EAGAIN` (or `-EOPNOTSUPP`: a device or a fallback that cannot do
//!    `IOCB_NOWAIT` at all, which io_uring treats the same way) hands the
//!    request to the bounded worker pool (`worker.rs`), which reissues it
//!    from the start without `IOCB_NOWAIT`, in the submitter's address space
//!    and with its credentials.  It may come three ways: returned by the
//!    method; passed to `ki_complete` during the submission (a bio failed
//!    in `submit_bio`, the method then returns `-EIOCBQUEUED`); or passed to
//!    `ki_complete` later, from any context, when one bio of several found
//!    no tag.  Such a completion comes only once every bio of the attempt
//!    has ended.  The reissue starts from the saved iterator and position: a
//!    reissued read reads the same range again, a reissued write writes the
//!    same bytes to the same place.  A file system that falls back to
//!    buffered I/O (ext4 with `data=journal`, say) clears `IOCB_DIRECT` and
//!    may return a short count under `IOCB_NOWAIT`: that, too, is reissued.
//!    A write gives its freeze protection back while it waits for the pool.
//! 3. A request the user marked `RWF_NOWAIT` does not take this path: its
//!    `-EAGAIN` is its event, as in C.

use crate::kiocb::{AioKiocb, Op};
use crate::rw;
use crate::worker;
use kernel::cred::Credential;
use kernel::fs::kiocb::{flags, RwType};
use kernel::fs::File;
use kernel::iov::IovIterState;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Acquire, Atomic, Full, Relaxed};
use kernel::sync::{Arc, SetOnce};
use kernel::task::Task;

/// No attempt with `IOCB_NOWAIT` of ours is under way: a completion is
/// final.
const FINAL: i32 = 0;
/// The first attempt is being submitted, inside `io_submit`.
const SUBMITTING: i32 = 1;
/// The first attempt was queued by the method and has not completed.
const QUEUED: i32 = 2;
/// The first attempt completed refused while being submitted: the
/// submitter hands the request to the pool.
const REISSUE: i32 = 3;

/// The retry state of an `O_DIRECT` request, in its request.
pub(crate) struct DirectRetry {
    /// Where the first attempt is (`FINAL`, `SUBMITTING`, `QUEUED`,
    /// `REISSUE`).
    phase: Atomic<i32>,
    /// The submitter, set for requests of this module only: its
    /// credentials when the request is handed to the pool from interrupt
    /// context.
    submitter: SetOnce<ARef<Task>>,
    /// The credentials of the reissue, as they were at the handoff.
    creds: SetOnce<ARef<Credential>>,
    /// The iterator and the file position before the first attempt.
    start: SetOnce<IovIterState>,
    start_pos: Atomic<i64>,
}

impl DirectRetry {
    pub(crate) fn new() -> Self {
        Self {
            phase: Atomic::new(FINAL),
            submitter: SetOnce::new(),
            creds: SetOnce::new(),
            start: SetOnce::new(),
            start_pos: Atomic::new(0),
        }
    }

    /// Whether the request takes the path of this module.
    pub(crate) fn active(&self) -> bool {
        self.submitter.as_ref().is_some()
    }
}

/// Whether a request to `file` with `kiocb`'s flags takes the path of this
/// module: `O_DIRECT` to a regular file or block device that supports
/// `IOCB_NOWAIT`, which the user did not mark `RWF_NOWAIT`.
pub(crate) fn eligible(file: &File, kiocb_flags: i32) -> bool {
    kiocb_flags & (flags::DIRECT | flags::NOWAIT) == flags::DIRECT
        && (file.is_regular() || file.is_block_device())
        && file.supports_nowait()
}

/// Whether `ret` refuses an `IOCB_NOWAIT` attempt (it may not fail so
/// without it).
fn refused(ret: isize) -> bool {
    ret == EAGAIN.to_errno() as isize || ret == EOPNOTSUPP.to_errno() as isize
}

/// Hands the request to the pool, with the operation's reference; `creds`
/// are those of the reissue.  From any context.
fn to_pool(op: Arc<AioKiocb>, creds: ARef<Credential>) {
    let rw = op.rw();
    // The phase, then the handoff: the reissue's completion is final.
    rw.direct().phase.store(FINAL, Relaxed);
    rw.direct().creds.populate(creds);
    rw.end_write();
    worker::queue(op);
}

/// The first attempt, inside `io_submit`, with the operation's reference
/// `op` (a write holds the freeze protection).
pub(crate) fn start(op: Arc<AioKiocb>, rw_type: RwType) {
    let req = op.clone();
    let rw = req.rw();
    let direct = rw.direct();
    let current: &Task = kernel::current!();
    direct.submitter.populate(ARef::from(current));
    direct.start.populate(rw.iter().save_state());
    direct.start_pos.store(rw.kiocb().pos(), Relaxed);
    let count = rw.iter().count();
    direct.phase.store(SUBMITTING, Relaxed);
    // SAFETY: The request is not submitted yet: nobody else uses its kiocb.
    unsafe { rw.kiocb().update_flags(flags::NOWAIT, 0) };
    match rw::submit(op, rw_type) {
        None => {
            // `Full`: pairs with the completion's, which hands the
            // operation's reference over with `REISSUE`.
            if direct.phase.cmpxchg(SUBMITTING, QUEUED, Full).is_err() {
                // SAFETY: `REISSUE`: the completion gave the operation's
                // reference up for us (`complete_refused`).
                to_pool(unsafe { rw::take_back(&req) }, current.cred());
            }
        }
        Some((op, ret)) => {
            direct.phase.store(FINAL, Relaxed);
            // A file system that fell back to buffered I/O may stop short
            // under `IOCB_NOWAIT`.
            let fell_back = rw.kiocb().flags() & flags::DIRECT == 0;
            if refused(ret) || (fell_back && ret >= 0 && (ret as usize) < count) {
                to_pool(op, current.cred());
            } else {
                rw::complete(op, rw::sync_result(ret));
            }
        }
    }
}

/// `ki_complete` refusing (`-EAGAIN`, `-EOPNOTSUPP`) a request, with the
/// operation's reference: `None` if the request goes to the pool instead
/// (the completion is not final), else `op` back for the event.
pub(crate) fn complete_refused(op: Arc<AioKiocb>) -> Option<Arc<AioKiocb>> {
    let direct = op.rw().direct();
    match direct.phase.load(Acquire) {
        SUBMITTING => {
            if direct.phase.cmpxchg(SUBMITTING, REISSUE, Full).is_ok() {
                // The submitter takes the operation's reference back.
                let _ = Arc::into_raw(op);
                return None;
            }
            // The submitter has moved on to `QUEUED`: a later completion.
            late_refusal(op);
            None
        }
        QUEUED => {
            late_refusal(op);
            None
        }
        _ => Some(op),
    }
}

/// A refusal after `io_submit` moved on, possibly in interrupt context: the
/// submitter's credentials as they are now.
fn late_refusal(op: Arc<AioKiocb>) {
    let creds = op.rw().direct().submitter.as_ref().map(|task| task.cred());
    match creds {
        Some(creds) => to_pool(op, creds),
        None => rw::complete(op, ECANCELED.to_errno() as isize),
    }
}

/// The pool's reissue, with the operation's reference: blocking for a
/// request tag if it must, then completing from the device as any request.
pub(crate) fn run_worker(op: Arc<AioKiocb>) {
    let req = op.clone();
    let (rw, ctx) = (req.rw(), req.ctx());
    let direct = rw.direct();
    let rw_type = match req.op() {
        Op::Write { .. } => RwType::Write,
        _ => RwType::Read,
    };
    let Some(creds) = direct.creds.as_ref() else {
        return rw::complete(op, ECANCELED.to_errno() as isize);
    };
    if let Some(start) = direct.start.as_ref() {
        // SAFETY: Nothing uses the iterator: the attempt has ended.
        unsafe { rw.iter().restore(start) };
    }
    // SAFETY: As above, nothing uses the kiocb.
    unsafe {
        rw.kiocb().set_pos(direct.start_pos.load(Relaxed));
        rw.kiocb().update_flags(flags::DIRECT, flags::NOWAIT);
    }
    let reissue = |op: Arc<AioKiocb>| {
        if rw_type == RwType::Write {
            op.rw().begin_write();
        }
        if let Some((op, ret)) = rw::submit(op, rw_type) {
            rw::complete(op, rw::sync_result(ret));
        }
    };
    if let Err(op) = worker::as_submitter(ctx, creds, op, reissue) {
        // The process has gone: nobody will read the event.
        rw::complete(op, ECANCELED.to_errno() as isize);
    }
}
