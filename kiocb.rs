// SPDX-License-Identifier: GPL-2.0

//! One AIO request (fs/aio.c's `struct aio_kiocb`): from `io_submit` to its
//! event in the ring.
//!
//! A request starts with two references: one for the submitting task, one
//! for the completion (`ki_complete`, possibly from interrupt context, or the
//! fsync work).  Whoever drops the last one publishes the event and frees the
//! request, so a completion that races with the end of `io_submit` never
//! frees what the submitter still uses.

use crate::abi::{IoEvent, Iocb};
use crate::cancel::Canceller;
use crate::Kioctx;
use core::cell::Cell;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_long};
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Release};
use kernel::sync::{Arc, Refcount};
use kernel::types::Opaque;
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};

/// `IOCB_FLAG_IOPRIO`: `aio_reqprio` is an I/O priority.
const IOCB_FLAG_IOPRIO: u32 = bindings::IOCB_FLAG_IOPRIO;

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
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) };
    }
}

/// A counted `struct file` reference.
///
/// # Invariants
///
/// `self.0` holds one reference to a valid file.
struct FileRef(NonNull<bindings::file>);

// SAFETY: File references may be used and dropped from any thread; `fput`
// defers the final release when called from interrupt context.
unsafe impl Send for FileRef {}
// SAFETY: As above.
unsafe impl Sync for FileRef {}

impl FileRef {
    fn get(fd: u32) -> Result<Self> {
        // SAFETY: No preconditions; returns a counted reference or NULL.
        let file = unsafe { bindings::fget(fd) };
        // INVARIANT: `fget` returned a reference.
        Ok(Self(NonNull::new(file).ok_or(EBADF)?))
    }

    fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// What a request does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Fsync { datasync: bool },
    Poll,
}

/// An in-flight request.
///
/// # Invariants
///
/// `rw` is only initialised for reads and writes; `refs` counts the
/// references described in the module documentation.  A request lives in a
/// `KBox` that whoever drops the last reference frees.  `cancel_link` is an
/// initialised list entry from the moment the request is boxed; it and
/// `canceller` belong to the context's cancel list.
#[repr(C)]
pub(crate) struct AioKiocb {
    /// The VFS I/O control block of reads and writes; `ki_complete` finds the
    /// request back from it.
    rw: Opaque<bindings::kiocb>,
    ctx: Arc<Kioctx>,
    file: FileRef,
    eventfd: Option<EventFd>,
    /// The event this request will post.
    res: IoEvent,
    op: Op,
    refs: Refcount,
    /// The entry on the context's cancel list (fs/aio.c's `ki_list`).
    cancel_link: Opaque<bindings::list_head>,
    canceller: Cell<Option<Canceller>>,
    /// Whether a driver made this read or write cancellable: its
    /// completion must then unlink it.
    driver_cancel: Atomic<bool>,
}

impl AioKiocb {
    /// Drops one reference; the last one posts the event and frees `req`.
    ///
    /// # Safety
    ///
    /// `req` is a live request and the caller owns one of its references.
    pub(crate) unsafe fn put(req: *mut AioKiocb) {
        // SAFETY: `req` is live (caller).
        if !unsafe { &(*req).refs }.dec_and_test() {
            return;
        }
        // SAFETY: That was the last reference: we own the box now.
        let req = unsafe { KBox::from_raw(req) };
        req.ctx.complete(&req.res, req.eventfd.as_ref());
        Self::release(req);
    }

    /// Puts what the request holds, then lets `io_destroy` go on, in
    /// fs/aio.c's order (`iocb_destroy`).
    fn release(req: KBox<AioKiocb>) {
        let AioKiocb {
            ctx, file, eventfd, ..
        } = KBox::into_inner(req);
        drop(eventfd);
        drop(file);
        ctx.put_inflight();
    }

    /// Frees a request whose operation never started; no event is posted.
    ///
    /// # Safety
    ///
    /// `req` is live and nothing but the caller references it any more.
    unsafe fn destroy(req: *mut AioKiocb) {
        // SAFETY: As documented.
        Self::release(unsafe { KBox::from_raw(req) });
    }

    pub(crate) fn kiocb(&self) -> *mut bindings::kiocb {
        self.rw.get()
    }

    pub(crate) fn ctx(&self) -> &Arc<Kioctx> {
        &self.ctx
    }

    pub(crate) fn file_ptr(&self) -> *mut bindings::file {
        self.file.as_ptr()
    }

    pub(crate) fn has_eventfd(&self) -> bool {
        self.eventfd.is_some()
    }

    /// The user's iocb pointer, as the event's `obj` will carry it.
    pub(crate) fn user_iocb(&self) -> u64 {
        self.res.obj
    }

    /// Sets the result the event will carry.
    ///
    /// # Safety
    ///
    /// The caller owns the completion reference, and nothing else writes
    /// the result.
    pub(crate) unsafe fn set_result(req: *mut AioKiocb, res: i64) {
        // SAFETY: As documented.
        unsafe { (*req).res.res = res };
    }

    /// The entry on the context's cancel list.
    pub(crate) fn cancel_link(&self) -> *mut bindings::list_head {
        self.cancel_link.get()
    }

    /// The request whose `cancel_link` is `link`.
    ///
    /// # Safety
    ///
    /// `link` is the `cancel_link` of a request.
    pub(crate) unsafe fn from_cancel_link(link: *mut bindings::list_head) -> *mut AioKiocb {
        // SAFETY: As documented: both pointers are inside the request.
        unsafe {
            kernel::container_of!(
                link.cast::<Opaque<bindings::list_head>>(),
                AioKiocb,
                cancel_link
            )
        }
    }

    /// Records how to cancel the request; the cancel list calls it with its
    /// lock held, before linking.
    pub(crate) fn set_canceller(&self, canceller: Canceller) {
        if matches!(canceller, Canceller::Driver(_)) {
            self.driver_cancel.store(true, Release);
        }
        self.canceller.set(Some(canceller));
    }

    /// How the request is cancelled, once linked.
    pub(crate) fn canceller(&self) -> Option<Canceller> {
        self.canceller.get()
    }
}

/// Whether `file` is a regular file (writes to those hold the superblock's
/// freeze protection while in flight).
///
/// # Safety
///
/// `file` is a valid file.
unsafe fn is_regular(file: *mut bindings::file) -> bool {
    // SAFETY: A valid file has a valid inode.
    let mode = u32::from(unsafe { (*(*file).f_inode).i_mode });
    mode & bindings::S_IFMT == bindings::S_IFREG
}

/// `ki_complete` of our reads and writes: runs in any context, interrupts
/// included.
///
/// # Safety
///
/// `kiocb` is the `rw` field of a live [`AioKiocb`] whose completion
/// reference the caller passes on.
unsafe extern "C" fn aio_complete_rw(kiocb: *mut bindings::kiocb, res: c_long) {
    // `rw` is the first field of the `repr(C)` request.
    let req = kiocb.cast::<AioKiocb>();
    // SAFETY: The request is live (caller); nothing else touches `res` now.
    unsafe {
        if (*req).driver_cancel.load(Acquire) {
            (*req).ctx.cancel.unlink(req);
        }
        if (*req).op == Op::Write && is_regular((*kiocb).ki_filp) {
            bindings::kiocb_end_write(kiocb);
        }
        (*req).res.res = res as i64;
        (*req).res.res2 = 0;
        AioKiocb::put(req);
    }
}

/// `kiocb_set_cancel_fn` for one of our reads or writes.
pub(crate) fn set_driver_cancel(
    kiocb: *mut bindings::kiocb,
    cancel: unsafe extern "C" fn(*mut bindings::kiocb) -> c_int,
) {
    // `IOCB_AIO_RW` kiocbs are the `rw` field, first in our `repr(C)`
    // request, and the driver calls this before completing it.
    let req = kiocb.cast::<AioKiocb>();
    // SAFETY: The request is live until its completion, which unlinks it.
    unsafe {
        if (*req).canceller().is_some() {
            kernel::pr_warn_once!("aio: kiocb_set_cancel_fn called twice\n");
            return;
        }
        (*req).ctx.cancel.link(req, Canceller::Driver(cancel));
    }
}

/// Submits one request (fs/aio.c's `io_submit_one` after the iocb was
/// copied in): every check in C's order, then the operation.  On error
/// nothing was started and no event will be posted.
pub(crate) fn submit(ctx: &Arc<Kioctx>, iocb: &Iocb, user_iocb: usize, compat: bool) -> Result {
    if !ctx.get_req_slot() {
        return Err(EAGAIN);
    }
    let res = submit_with_slot(ctx, iocb, user_iocb, compat);
    if res.is_err() {
        ctx.put_req_slots(1);
    }
    res
}

fn submit_with_slot(ctx: &Arc<Kioctx>, iocb: &Iocb, user_iocb: usize, compat: bool) -> Result {
    let file = FileRef::get(iocb.aio_fildes)?;
    let eventfd = if iocb.aio_flags & crate::abi::IOCB_FLAG_RESFD != 0 {
        Some(EventFd::get(iocb.aio_resfd)?)
    } else {
        None
    };
    crate::write_iocb_key(user_iocb)?;
    let op = match u32::from(iocb.aio_lio_opcode) {
        bindings::IOCB_CMD_PREAD | bindings::IOCB_CMD_PREADV => Op::Read,
        bindings::IOCB_CMD_PWRITE | bindings::IOCB_CMD_PWRITEV => Op::Write,
        bindings::IOCB_CMD_FSYNC => Op::Fsync { datasync: false },
        bindings::IOCB_CMD_FDSYNC => Op::Fsync { datasync: true },
        bindings::IOCB_CMD_POLL => Op::Poll,
        _ => return Err(EINVAL),
    };
    if !ctx.get_inflight() {
        return Err(EINVAL);
    }
    let req = KBox::new(
        AioKiocb {
            rw: Opaque::zeroed(),
            ctx: ctx.clone(),
            file,
            eventfd,
            res: IoEvent {
                data: iocb.aio_data,
                obj: user_iocb as u64,
                res: 0,
                res2: 0,
            },
            op,
            refs: Refcount::new(2),
            cancel_link: Opaque::uninit(),
            canceller: Cell::new(None),
            driver_cancel: Atomic::new(false),
        },
        GFP_KERNEL,
    )
    .inspect_err(|_| ctx.put_inflight())?;
    let req = KBox::into_raw(req);
    // SAFETY: The request is in its final place; the link is initialised
    // before anything can see it.
    unsafe { bindings::INIT_LIST_HEAD((*req).cancel_link()) };
    // SAFETY: `req` is live and we own both references until `issue` hands
    // the completion one on (or fails without doing so).
    let res = unsafe { issue(req, iocb, compat) };
    match res {
        // SAFETY: We own the submission reference.
        Ok(()) => unsafe { AioKiocb::put(req) },
        // SAFETY: Nothing started: both references are ours.
        Err(_) => unsafe { AioKiocb::destroy(req) },
    }
    res
}

/// Starts the operation of `req`.
///
/// # Safety
///
/// `req` is live and its two references are the caller's.  On `Ok` the
/// completion reference has been passed on; on `Err` nothing started.
unsafe fn issue(req: *mut AioKiocb, iocb: &Iocb, compat: bool) -> Result {
    // SAFETY: `req` is live (caller).
    let op = unsafe { (*req).op };
    match op {
        // SAFETY: As for `issue`.
        Op::Read | Op::Write => unsafe { issue_rw(req, iocb, op == Op::Write, compat) },
        // SAFETY: As for `issue`.
        Op::Fsync { datasync } => unsafe { issue_fsync(req, iocb, datasync) },
        // SAFETY: As for `issue`.
        Op::Poll => unsafe { crate::poll::arm(req, iocb) },
    }
}

/// fs/aio.c's `aio_prep_rw`.
///
/// # Safety
///
/// `req` is a live read or write request.
unsafe fn prep_rw(req: *mut AioKiocb, iocb: &Iocb, rw_type: c_int) -> Result {
    // SAFETY: `req` is live (caller); its `rw` is ours to initialise.
    unsafe {
        let ki = (*req).kiocb();
        let file = (*req).file.as_ptr();
        (*ki).ki_filp = file;
        (*ki).ki_write_stream = 0;
        (*ki).ki_complete = Some(aio_complete_rw);
        (*ki).private = core::ptr::null_mut();
        (*ki).ki_pos = iocb.aio_offset;
        (*ki).ki_flags = (*file).f_iocb_flags as c_int | bindings::IOCB_AIO_RW as c_int;
        if iocb.aio_flags & crate::abi::IOCB_FLAG_RESFD != 0 {
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
            rw_type,
        ))?;
        // No one is going to poll for this I/O.
        (*ki).ki_flags &= !(bindings::IOCB_HIPRI as c_int);
    }
    Ok(())
}

/// fs/aio.c's `aio_read` and `aio_write`.
///
/// # Safety
///
/// As for [`issue`].
unsafe fn issue_rw(req: *mut AioKiocb, iocb: &Iocb, write: bool, compat: bool) -> Result {
    let (rw_type, iter_dir, mode) = if write {
        (
            bindings::WRITE,
            bindings::ITER_SOURCE,
            bindings::FMODE_WRITE,
        )
    } else {
        (bindings::READ, bindings::ITER_DEST, bindings::FMODE_READ)
    };
    // SAFETY: As for `issue`.
    unsafe { prep_rw(req, iocb, rw_type as c_int)? };
    // SAFETY: `req` is live; its file is a counted reference.
    let (ki, file) = unsafe { ((*req).kiocb(), (*req).file.as_ptr()) };
    // SAFETY: `file` is valid; `f_op` of an open file is valid.
    let (f_mode, fop) = unsafe { ((*file).f_mode, &*(*file).f_op) };
    if f_mode & mode == 0 {
        return Err(EBADF);
    }
    let method = if write { fop.write_iter } else { fop.read_iter };
    let method = method.ok_or(EINVAL)?;

    let vectored = matches!(
        u32::from(iocb.aio_lio_opcode),
        bindings::IOCB_CMD_PREADV | bindings::IOCB_CMD_PWRITEV
    );
    let mut iter = core::mem::MaybeUninit::<bindings::iov_iter>::uninit();
    let mut inline_vecs = [const { core::mem::MaybeUninit::<bindings::iovec>::uninit() };
        bindings::UIO_FASTIOV as usize];
    let mut iovec: *mut bindings::iovec = inline_vecs.as_mut_ptr().cast();
    let buf = iocb.aio_buf as usize as *mut kernel::ffi::c_void;
    let len = iocb.aio_nbytes as usize;
    let imported = if vectored {
        // SAFETY: `iovec` points to UIO_FASTIOV entries; on return it is
        // NULL or a kmalloc'ed array that we free below.
        unsafe {
            bindings::__import_iovec(
                iter_dir as c_int,
                buf.cast(),
                // Truncated to `unsigned int` segments, as in fs/aio.c.
                len as kernel::ffi::c_uint,
                bindings::UIO_FASTIOV,
                &mut iovec,
                iter.as_mut_ptr(),
                compat,
            )
        }
    } else {
        iovec = core::ptr::null_mut();
        // SAFETY: `iter` is valid memory for the iterator.
        unsafe { bindings::import_ubuf(iter_dir as c_int, buf, len, iter.as_mut_ptr()) as isize }
    };
    if imported < 0 {
        return Err(Error::from_errno(imported as c_int));
    }
    // SAFETY: The import succeeded: `iter` is initialised, and `count` is
    // valid for the user-backed iterators it makes (`iov_iter_count()`).
    let count = unsafe {
        (*iter.as_ptr())
            .__bindgen_anon_1
            .__bindgen_anon_1
            .as_ref()
            .count
    };
    // SAFETY: `file` and `ki_pos` are valid.
    let ret = unsafe { bindings::rw_verify_area(rw_type as c_int, file, &(*ki).ki_pos, count) };
    if ret == 0 {
        // SAFETY: The request is prepared; from here on the completion
        // reference belongs to `aio_rw_done` / `ki_complete`.
        unsafe {
            if write {
                if is_regular(file) {
                    bindings::kiocb_start_write(ki);
                }
                (*ki).ki_flags |= bindings::IOCB_WRITE as c_int;
            }
            rw_done(ki, method(ki, iter.as_mut_ptr()));
        }
    }
    if !iovec.is_null() && iovec != inline_vecs.as_mut_ptr().cast() {
        // SAFETY: `__import_iovec` allocated it.
        unsafe { bindings::kfree(iovec.cast()) };
    }
    to_result(ret)
}

/// fs/aio.c's `aio_rw_done`: a synchronous result completes at once.
///
/// # Safety
///
/// `ki` belongs to a live request whose completion reference the caller
/// passes on.
unsafe fn rw_done(ki: *mut bindings::kiocb, ret: isize) {
    let mut ret = ret;
    if ret == -(bindings::EIOCBQUEUED as isize) {
        return;
    }
    if [
        bindings::ERESTARTSYS,
        bindings::ERESTARTNOINTR,
        bindings::ERESTARTNOHAND,
        bindings::ERESTART_RESTARTBLOCK,
    ]
    .iter()
    .any(|&e| ret == -(e as isize))
    {
        // Other requests may be running: the call cannot be restarted.
        ret = -(bindings::EINTR as isize);
    }
    // SAFETY: As documented.
    unsafe { aio_complete_rw(ki, ret as c_long) };
}

/// The work item that runs an fsync for a request.
#[pin_data]
struct FsyncWork {
    #[pin]
    work: Work<FsyncWork>,
    req: *mut AioKiocb,
    creds: *const bindings::cred,
    datasync: bool,
}

// SAFETY: The request and the credentials may be used from any thread.
unsafe impl Send for FsyncWork {}

impl_has_work! {
    impl HasWork<Self> for FsyncWork { self.work }
}

impl WorkItem for FsyncWork {
    type Pointer = Pin<KBox<FsyncWork>>;

    fn run(this: Pin<KBox<FsyncWork>>) {
        let req = this.req;
        // SAFETY: The work owns the request's completion reference and the
        // credentials reference.
        unsafe {
            let old = bindings::override_creds(this.creds);
            let ret = bindings::vfs_fsync((*req).file.as_ptr(), c_int::from(this.datasync));
            bindings::revert_creds(old);
            bindings::put_cred(this.creds);
            (*req).res.res = ret.into();
            AioKiocb::put(req);
        }
    }
}

/// fs/aio.c's `aio_fsync`: the sync runs from the system workqueue with the
/// submitter's credentials.
///
/// # Safety
///
/// As for [`issue`].
unsafe fn issue_fsync(req: *mut AioKiocb, iocb: &Iocb, datasync: bool) -> Result {
    if iocb.aio_buf != 0 || iocb.aio_offset != 0 || iocb.aio_nbytes != 0 || iocb.aio_rw_flags != 0 {
        return Err(EINVAL);
    }
    // SAFETY: `req` is live; an open file's `f_op` is valid.
    if unsafe { (*(*(*req).file.as_ptr()).f_op).fsync }.is_none() {
        return Err(EINVAL);
    }
    // SAFETY: No preconditions.
    let creds: *const bindings::cred = unsafe { bindings::prepare_creds() };
    if creds.is_null() {
        return Err(ENOMEM);
    }
    let work = KBox::pin_init(
        pin_init!(FsyncWork {
            work <- new_work!("AioKiocb::fsync"),
            req,
            creds,
            datasync,
        }),
        GFP_KERNEL,
    );
    match work {
        Ok(work) => {
            workqueue::system().enqueue(work);
            Ok(())
        }
        Err(e) => {
            // SAFETY: We own the reference `prepare_creds` gave us.
            unsafe { bindings::put_cred(creds) };
            Err(e)
        }
    }
}
