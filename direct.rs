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
//! 2. An `-EAGAIN` hands the request to the bounded worker pool
//!    (`worker.rs`), which reissues it from the start without `IOCB_NOWAIT`,
//!    in the submitter's address space and with its credentials.  It may
//!    come three ways: returned by the method; passed to `ki_complete`
//!    during the submission (a bio failed in `submit_bio`, the method then
//!    returns `-EIOCBQUEUED`); or passed to `ki_complete` later, from any
//!    context, when one bio of several found no tag.  An `-EAGAIN`
//!    completion comes only once every bio of the attempt has ended, and
//!    the methods move neither `ki_pos` nor the data's meaning on failure:
//!    a reissued read reads the same range again, a reissued write writes
//!    the same bytes to the same place.
//! 3. A request the user marked `RWF_NOWAIT` does not take this path: its
//!    `-EAGAIN` is its event, as in C.

use crate::kiocb::AioKiocb;
use crate::rw;
use crate::worker;
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
/// The first attempt completed with `-EAGAIN` while being submitted: the
/// submitter hands the request to the pool.
const REISSUE: i32 = 3;

/// The retry state of an `O_DIRECT` request, in its request.
pub(crate) struct DirectRetry {
    /// Where the first attempt is (`FINAL`, `SUBMITTING`, `QUEUED`,
    /// `REISSUE`).
    phase: Atomic<i32>,
    /// The submitter, as whom the pool reissues.
    submitter: SetOnce<ARef<Task>>,
    /// The iterator before the first attempt.
    start: SetOnce<IovIterState>,
}

impl DirectRetry {
    pub(crate) fn new() -> Self {
        Self {
            phase: Atomic::new(FINAL),
            submitter: SetOnce::new(),
            start: SetOnce::new(),
        }
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

/// The first attempt, inside `io_submit`, with the operation's reference
/// `op` (a write already holds the freeze protection).
pub(crate) fn start(op: Arc<AioKiocb>, rw_type: RwType) {
    let req = op.clone();
    let rw = req.rw();
    let direct = rw.direct();
    let current: &Task = kernel::current!();
    direct.submitter.populate(ARef::from(current));
    direct.start.populate(rw.iter().save_state());
    direct.phase.store(SUBMITTING, Relaxed);
    // SAFETY: The request is not submitted yet: nobody else uses its kiocb.
    unsafe { rw.kiocb().update_flags(flags::NOWAIT, 0) };
    match rw::submit(op, rw_type) {
        None => {
            // `Full`: pairs with the completion's, which hands the
            // operation's reference over with `REISSUE`.
            if direct.phase.cmpxchg(SUBMITTING, QUEUED, Full).is_err() {
                direct.phase.store(FINAL, Relaxed);
                // SAFETY: `REISSUE`: the completion gave the operation's
                // reference up for us (`complete_eagain`).
                worker::queue(unsafe { rw::take_back(&req) });
            }
        }
        Some((op, ret)) => {
            direct.phase.store(FINAL, Relaxed);
            if ret == EAGAIN.to_errno() as isize {
                worker::queue(op);
            } else {
                rw::complete(op, rw::sync_result(ret));
            }
        }
    }
}

/// `ki_complete` with `-EAGAIN` for a request of this module, with the
/// operation's reference: whether the completion is not final, because the
/// request goes to the pool, and what to do with `op` then.
pub(crate) fn complete_eagain(op: Arc<AioKiocb>) -> Option<Arc<AioKiocb>> {
    let phase = &op.rw().direct().phase;
    match phase.load(Acquire) {
        SUBMITTING => {
            if phase.cmpxchg(SUBMITTING, REISSUE, Full).is_ok() {
                // The submitter takes the operation's reference back.
                let _ = Arc::into_raw(op);
                return None;
            }
            // The submitter has moved to `QUEUED`: a later completion.
            phase.store(FINAL, Relaxed);
            worker::queue(op);
            None
        }
        QUEUED => {
            phase.store(FINAL, Relaxed);
            worker::queue(op);
            None
        }
        _ => Some(op),
    }
}

/// The pool's reissue, with the operation's reference: blocking for a
/// request tag if it must, then completing from the device as any request.
pub(crate) fn run_worker(op: Arc<AioKiocb>) {
    let req = op.clone();
    let (rw, ctx) = (req.rw(), req.ctx());
    let rw_type = match req.op() {
        crate::kiocb::Op::Write { .. } => RwType::Write,
        _ => RwType::Read,
    };
    let Some(submitter) = rw.direct().submitter.as_ref() else {
        return rw::complete(op, ECANCELED.to_errno() as isize);
    };
    if let Some(start) = rw.direct().start.as_ref() {
        // SAFETY: Nothing uses the iterator: the attempt has ended.
        unsafe { rw.iter().restore(start) };
    }
    // SAFETY: As above, nothing uses the kiocb.
    unsafe { rw.kiocb().update_flags(0, flags::NOWAIT) };
    let reissue = |op| {
        if let Some((op, ret)) = rw::submit(op, rw_type) {
            rw::complete(op, rw::sync_result(ret));
        }
    };
    if let Err(op) = worker::as_submitter(ctx, submitter, op, reissue) {
        // The process has gone: nobody will read the event.
        rw::complete(op, ECANCELED.to_errno() as isize);
    }
}
