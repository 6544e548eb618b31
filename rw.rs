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
use crate::kiocb::{AioKiocb, CancelFn, Op};
use kernel::bindings;
use kernel::error::{code, to_result};
use kernel::ffi::{c_int, c_long};
use kernel::iov::{Direction, UserBuffer, UserIovIter};
use kernel::list::ListArc;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::Opaque;
use kernel::uaccess::UserPtr;

/// The VFS side of a read or write.
///
/// # Invariants
///
/// For a read or write request, `kiocb` is prepared (fs/aio.c's
/// `aio_prep_rw`) with `ki_filp` the request's file and `ki_complete`
/// [`complete`], and `iter` covers the user's buffers.
#[pin_data]
pub(crate) struct RwState {
    #[pin]
    kiocb: Opaque<bindings::kiocb>,
    #[pin]
    iter: UserIovIter,
    /// The file's `read_iter` or `write_iter`, and whether it is a regular
    /// file, read once when the request is prepared.
    file: Option<FileFacts>,
}

/// What a read or write needs to know about its file.
#[derive(Clone, Copy)]
struct FileFacts {
    mode: bindings::fmode_t,
    iocb_flags: c_int,
    method: Option<IterMethod>,
    /// Writes to regular files hold the superblock's freeze protection
    /// while in flight.
    regular: bool,
}

impl FileFacts {
    /// # Safety
    ///
    /// `file` is a valid file.
    unsafe fn of(file: *mut bindings::file, dir: Direction) -> Self {
        // SAFETY: A valid file has a valid `f_op` and `f_inode` (caller).
        let (file, fop, i_mode) = unsafe { (&*file, &*(*file).f_op, (*(*file).f_inode).i_mode) };
        Self {
            mode: file.f_mode,
            iocb_flags: file.f_iocb_flags as c_int,
            method: match dir {
                Direction::Dest => fop.read_iter,
                Direction::Source => fop.write_iter,
            },
            regular: u32::from(i_mode) & bindings::S_IFMT == bindings::S_IFREG,
        }
    }
}

// SAFETY: The kiocb and the iterator are handed to one driver call at a time
// (the submitter's, then the completion's); they may be used from any thread.
unsafe impl Send for RwState {}
// SAFETY: As above.
unsafe impl Sync for RwState {}

impl RwState {
    /// The state of a read or write of `file` as `iocb` describes it, in
    /// fs/aio.c's order of checks: the kiocb flags and priority, the file's
    /// mode and method, the user buffers.  Other opcodes get an unused one.
    pub(crate) fn new(
        op: Op,
        file: *mut bindings::file,
        iocb: &Iocb,
        compat: bool,
    ) -> impl PinInit<Self, Error> {
        let (dir, vectored) = match op {
            Op::Read { vectored } => (Some(Direction::Dest), vectored),
            Op::Write { vectored } => (Some(Direction::Source), vectored),
            Op::Fsync { .. } | Op::Poll => (None, false),
        };
        let buffer = dir.map(|dir| UserBuffer {
            dir,
            buf: UserPtr::from_addr(iocb.aio_buf as usize),
            len: iocb.aio_nbytes as usize,
            vectored,
            compat,
        });
        // SAFETY: `file` is the request's counted file.
        let facts = dir.map(|dir| unsafe { FileFacts::of(file, dir) });
        let iocb = *iocb;
        try_pin_init!(Self {
            kiocb <- Opaque::try_ffi_init(move |ki: *mut bindings::kiocb| {
                // SAFETY: `ki` is ours to initialise; zeroes are a valid
                // kiocb to start from.
                unsafe { ki.write_bytes(0, 1) };
                match (dir, facts) {
                    // SAFETY: As above; `file` is the request's file.
                    (Some(dir), Some(facts)) => unsafe { prep(ki, file, facts, &iocb, dir) },
                    _ => Ok(()),
                }
            }),
            iter <- UserIovIter::new(buffer),
            file: facts,
        }? Error)
    }

    /// The kiocb, as drivers see it.
    pub(crate) fn kiocb(&self) -> *mut bindings::kiocb {
        self.kiocb.get()
    }

    /// The `RwState` whose kiocb is `kiocb`.
    ///
    /// # Safety
    ///
    /// `kiocb` is the `kiocb` field of an `RwState`.
    unsafe fn from_kiocb(kiocb: *mut bindings::kiocb) -> *const Self {
        // SAFETY: As documented: both pointers are inside the state.
        unsafe { kernel::container_of!(kiocb.cast::<Opaque<bindings::kiocb>>(), Self, kiocb) }
    }
}

/// fs/aio.c's `aio_prep_rw`, then the mode and method checks of
/// `aio_read`/`aio_write`.
///
/// # Safety
///
/// `ki` is a zeroed kiocb being initialised; `file` a valid file, and
/// `facts` its facts.
unsafe fn prep(
    ki: *mut bindings::kiocb,
    file: *mut bindings::file,
    facts: FileFacts,
    iocb: &Iocb,
    dir: Direction,
) -> Result {
    let mode = match dir {
        Direction::Dest => bindings::FMODE_READ,
        Direction::Source => bindings::FMODE_WRITE,
    };
    // SAFETY: As documented.
    unsafe {
        (*ki).ki_filp = file;
        (*ki).ki_complete = Some(complete);
        (*ki).ki_pos = iocb.aio_offset;
        (*ki).ki_flags = facts.iocb_flags | bindings::IOCB_AIO_RW as c_int;
        if iocb.aio_flags & IOCB_FLAG_RESFD != 0 {
            (*ki).ki_flags |= bindings::IOCB_EVENTFD as c_int;
        }
        if iocb.aio_flags & IOCB_FLAG_IOPRIO != 0 {
            to_result(bindings::ioprio_check_cap(c_int::from(iocb.aio_reqprio)))?;
            (*ki).ki_ioprio = iocb.aio_reqprio as u16;
        } else {
            (*ki).ki_ioprio = bindings::get_current_ioprio() as u16;
        }
        to_result(bindings::kiocb_set_rw_flags(
            ki,
            iocb.aio_rw_flags as bindings::rwf_t,
            rw_type(dir),
        ))?;
        // No one is going to poll for this I/O.
        (*ki).ki_flags &= !(bindings::IOCB_HIPRI as c_int);
    }
    if facts.mode & mode == 0 {
        return Err(EBADF);
    }
    if facts.method.is_none() {
        return Err(EINVAL);
    }
    Ok(())
}

type IterMethod = unsafe extern "C" fn(*mut bindings::kiocb, *mut bindings::iov_iter) -> isize;

/// The VFS `READ`/`WRITE` of a transfer direction.
fn rw_type(dir: Direction) -> c_int {
    match dir {
        Direction::Dest => bindings::READ as c_int,
        Direction::Source => bindings::WRITE as c_int,
    }
}

/// Starts a prepared read or write (the rest of `aio_read`/`aio_write`).
pub(crate) fn issue(req: Arc<AioKiocb>) -> Result {
    let dir = match req.op() {
        Op::Write { .. } => Direction::Source,
        _ => Direction::Dest,
    };
    let rw = req.rw();
    let ki = rw.kiocb();
    let file = req.file();
    // `prep` checked that the file has the method.
    let Some(FileFacts {
        method: Some(method),
        regular,
        ..
    }) = rw.file
    else {
        return Err(EINVAL);
    };
    // SAFETY: The file and the kiocb are the request's.
    to_result(unsafe {
        bindings::rw_verify_area(
            rw_type(dir),
            file.as_ptr(),
            &raw mut (*ki).ki_pos,
            rw.iter.count(),
        )
    })?;
    if dir == Direction::Source {
        if regular {
            // SAFETY: A prepared write kiocb; `complete` ends the write.
            unsafe { bindings::kiocb_start_write(ki) };
        }
        // SAFETY: The kiocb is ours until the method has it.
        unsafe { (*ki).ki_flags |= bindings::IOCB_WRITE as c_int };
    }
    // The operation's reference: `ki_complete` takes it back.
    let _ = Arc::into_raw(req.clone());
    // SAFETY: The kiocb is prepared and its iterator imported; from here
    // the operation's reference belongs to `ki_complete`.
    let ret = unsafe { method(ki, rw.iter.as_raw()) };
    if ret == code::EIOCBQUEUED.to_errno() as isize {
        return Ok(());
    }
    // fs/aio.c's `aio_rw_done`: a synchronous result completes at once.
    let interrupted = [
        code::ERESTARTSYS,
        code::ERESTARTNOINTR,
        code::ERESTARTNOHAND,
        code::ERESTART_RESTARTBLOCK,
    ]
    .iter()
    .any(|e| ret == e.to_errno() as isize);
    // Other requests may be running: the call cannot be restarted.
    let ret = if interrupted {
        EINTR.to_errno() as isize
    } else {
        ret
    };
    // SAFETY: `ki` is the kiocb of a live request whose operation reference
    // the method did not take: we pass it on.
    unsafe { complete(ki, ret as c_long) };
    Ok(())
}

/// `ki_complete` of our reads and writes: runs in any context, interrupts
/// included.
///
/// # Safety
///
/// `kiocb` is the kiocb of a live request whose operation reference the
/// caller passes on.
unsafe extern "C" fn complete(kiocb: *mut bindings::kiocb, res: c_long) {
    // SAFETY: As documented: the reference came from `Arc::into_raw`.
    let req = unsafe { Arc::from_raw(AioKiocb::from_rw(RwState::from_kiocb(kiocb))) };
    if req.driver_cancellable() {
        req.ctx().cancel_list().unlink(&req);
    }
    let regular = req.rw().file.is_some_and(|f| f.regular);
    if matches!(req.op(), Op::Write { .. }) && regular {
        // SAFETY: Started by `issue`.
        unsafe { bindings::kiocb_end_write(kiocb) };
    }
    req.finish(res as i64);
}

/// `kiocb_set_cancel_fn`: a driver makes a read or write cancellable.
///
/// # Safety
///
/// `kiocb` is a valid kiocb whose `ki_complete` has not run yet.
pub(crate) unsafe fn set_driver_cancel(kiocb: *mut bindings::kiocb, cancel: Option<CancelFn>) {
    // The flag first: a kiocb without it is not ours (io_uring's, or a
    // synchronous one) and must not be converted.
    // SAFETY: `kiocb` is valid (caller).
    if unsafe { (*kiocb).ki_flags } & bindings::IOCB_AIO_RW as c_int == 0 {
        return;
    }
    let Some(cancel) = cancel else { return };
    // SAFETY: An `IOCB_AIO_RW` kiocb is one of our requests' kiocbs, alive
    // until `complete` (not run yet) drops the operation's reference.
    let req = unsafe { ArcBorrow::from_raw(AioKiocb::from_rw(RwState::from_kiocb(kiocb))) };
    if !req.set_driver_cancel(cancel) {
        kernel::pr_warn_once!("kiocb_set_cancel_fn called twice for one request\n");
        return;
    }
    if let Some(linked) = ListArc::try_from_arc_borrow(req) {
        req.ctx().cancel_list().link_driver(linked);
    }
}
