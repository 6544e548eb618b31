// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_POLL` (fs/aio.c's `aio_poll`): a one-shot poll whose result is
//! an event in the ring.
//!
//! The request sits on the file's wait queue until it completes, so that no
//! wake-up is ever missed (libaio's 23.t).  Who may look at the file and
//! complete the request is decided by the ownership word of
//! [`crate::poll_refs`] instead of fs/aio.c's flags under two locks: a
//! wake-up, `io_cancel` or `POLLFREE` leaves a reference, and only the one
//! that takes the word from zero acts, inline when the wake-up carries the
//! events, otherwise from a work item.
//!
//! Lock order: wait-queue head, then the context's cancel list, then its
//! completion lock.  Cancellation never takes a wait-queue lock.

use crate::abi::Iocb;
use crate::cancel::Canceller;
use crate::ffi;
use crate::kiocb::AioKiocb;
use crate::poll_refs::{PollOutcome, PollRefs, PollWord};
use kernel::bindings;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Full, Release};
use kernel::sync::{rcu, Arc, ArcBorrow};
use kernel::types::Opaque;
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};

/// `EPOLLERR`, `EPOLLHUP` and `POLLFREE` (uapi/linux/eventpoll.h; bindgen
/// cannot evaluate the `__force` casts, aio_glue.c checks the values).
const EPOLLERR: u32 = 0x0008;
const EPOLLHUP: u32 = 0x0010;
const POLLFREE: u32 = 0x4000;

/// The kernel's atomic as the word of the ownership protocol.
pub(crate) struct KernelWord(Atomic<u32>);

impl PollWord for KernelWord {
    fn load(&self) -> u32 {
        self.0.load(Acquire)
    }
    fn fetch_add(&self, v: u32) -> u32 {
        self.0.fetch_add(v, Full)
    }
    fn fetch_sub(&self, v: u32) -> u32 {
        self.0.fetch_sub(v, Full)
    }
    fn cmpxchg(&self, old: u32, new: u32) -> Result<u32, u32> {
        self.0.cmpxchg(old, new, Full)
    }
}

/// An `IOCB_CMD_POLL` in flight.
///
/// # Invariants
///
/// `req` is a live request whose completion reference this poll holds until
/// it completes.  While the request is armed, one reference to the `Arc` is
/// owned by the request itself (taken with `Arc::into_raw` in [`arm`],
/// given back by [`PollRequest::finish`]).  `wait` is on the queue `head`
/// points to, or on no queue at all; `head` is NULL once `POLLFREE` took
/// the entry off a queue that is about to be freed.
#[pin_data]
pub(crate) struct PollRequest {
    #[pin]
    wait: Opaque<bindings::wait_queue_entry>,
    head: Atomic<*mut bindings::wait_queue_head>,
    /// The events asked for, `EPOLLERR | EPOLLHUP` included.
    events: u32,
    refs: PollRefs<KernelWord>,
    #[pin]
    work: Work<PollRequest>,
    req: *mut AioKiocb,
}

// SAFETY: The request may be completed from any thread; every shared field
// is atomic or only used by the owner (see the module documentation).
unsafe impl Send for PollRequest {}
// SAFETY: As above.
unsafe impl Sync for PollRequest {}

impl_has_work! {
    impl HasWork<Self> for PollRequest { self.work }
}

/// The poll table handed to `vfs_poll` while arming, fs/aio.c's
/// `aio_poll_table`.
#[repr(C)]
struct ArmTable {
    pt: bindings::poll_table_struct,
    poll: *const PollRequest,
    queued: bool,
    error: c_int,
}

impl PollRequest {
    fn wait_entry(&self) -> *mut bindings::wait_queue_entry {
        self.wait.get()
    }

    /// Polls the file for the events asked for, without queueing.
    fn poll_file(&self) -> u32 {
        let mut pt = bindings::poll_table_struct {
            _qproc: None,
            _key: self.events,
        };
        let pt = (&raw mut pt).cast();
        // SAFETY: The request holds a reference to its file (type invariant).
        let mask = unsafe { ffi::aio_rs_vfs_poll((*self.req).file_ptr().cast(), pt) };
        mask & self.events
    }

    /// Takes the entry off its wait queue, if it is still on one
    /// (fs/aio.c's `poll_iocb_lock_wq` and `list_del_init`).
    fn dequeue(&self) {
        // A queue freed under `POLLFREE` is freed after an RCU grace period,
        // and `head` is cleared before that: under the read lock, a non-NULL
        // head is safe to lock.
        let _rcu = rcu::read_lock();
        let head = self.head.load(Acquire);
        if !head.is_null() {
            // SAFETY: `head` is a live wait queue (above); the entry is ours.
            unsafe { ffi::aio_rs_wait_dequeue(head, self.wait_entry()) };
        }
    }

    /// Completes the request with `mask` and drops the reference the armed
    /// request held.  Only the owner calls it, once the entry is off its
    /// queue.
    ///
    /// # Safety
    ///
    /// `this` is the pointer [`arm`] got from `Arc::into_raw`; the caller
    /// owns the request and gives up that reference.
    unsafe fn finish(this: *const PollRequest, mask: u32) {
        // SAFETY: The armed reference keeps `this` alive until the end.
        let poll = unsafe { &*this };
        let req = poll.req;
        // SAFETY: `req` is live (type invariant); we own its completion
        // reference and pass it on.
        unsafe {
            (*req).ctx().cancel.unlink(req);
            AioKiocb::set_result(req, i64::from(ffi::aio_rs_mangle_poll(mask)));
            AioKiocb::put(req);
            drop(Arc::from_raw(this));
        }
    }

    /// The owner's work: polls until there is a result or ownership could
    /// be given back (the request then stays armed).
    ///
    /// # Safety
    ///
    /// The caller owns the request, and `this` is the armed pointer.
    unsafe fn run_owner(this: *const PollRequest) {
        // SAFETY: Armed, so alive (type invariant).
        let poll = unsafe { &*this };
        let mask = match poll.refs.check(|| poll.poll_file()) {
            PollOutcome::Armed => return,
            PollOutcome::Ready(mask) => mask,
            PollOutcome::Cancelled => 0,
        };
        poll.dequeue();
        // SAFETY: We own the request.
        unsafe { Self::finish(this, mask) };
    }

    /// Hands ownership to a work item (the owner may be in atomic context,
    /// or must not signal an eventfd under a wait-queue lock).
    ///
    /// # Safety
    ///
    /// The caller owns the request, and `this` is the armed pointer.
    unsafe fn queue_owner_work(this: *const PollRequest) {
        // SAFETY: Armed, so alive: the work gets a reference of its own.
        let work: Arc<PollRequest> = unsafe { ArcBorrow::from_raw(this) }.into();
        // Only the owner queues, so the work cannot be pending already.
        let _ = workqueue::system().enqueue(work);
    }

    /// `io_cancel` or context teardown (fs/aio.c's `aio_poll_cancel`).
    /// Returns 0: a cancelled poll completes with no events.
    ///
    /// # Safety
    ///
    /// `this` is the armed pointer of a request that is still linked on its
    /// context's cancel list (whose lock the caller holds).
    pub(crate) unsafe fn cancel(this: *const PollRequest) -> c_int {
        // SAFETY: Linked, so armed and alive.
        if unsafe { (*this).refs.cancel() } {
            // SAFETY: We became the owner.
            unsafe { Self::queue_owner_work(this) };
        }
        0
    }
}

impl WorkItem for PollRequest {
    type Pointer = Arc<PollRequest>;

    fn run(this: Arc<PollRequest>) {
        // SAFETY: Whoever queued the work owned the request and passed
        // ownership on; the armed reference is still held by the request.
        unsafe { Self::run_owner(&*this) };
    }
}

/// The wake function of our wait entry (fs/aio.c's `aio_poll_wake`).  Runs
/// with the queue's lock held, possibly with interrupts off.
///
/// # Safety
///
/// `wait` is the `wait` field of an armed [`PollRequest`].
unsafe extern "C" fn poll_wake(
    wait: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    key: *mut c_void,
) -> c_int {
    // SAFETY: `wait` is the `wait` field of a `PollRequest` (caller).
    let this = unsafe {
        kernel::container_of!(
            wait.cast::<Opaque<bindings::wait_queue_entry>>(),
            PollRequest,
            wait
        )
    };
    // SAFETY: Armed, so alive while its entry is on the queue (caller).
    let poll = unsafe { &*this };
    let mask = key as usize as u32;
    if mask != 0 && mask & poll.events == 0 {
        return 0;
    }
    let owner = poll.refs.get_ownership();
    // SAFETY: The request is live.
    let has_eventfd = unsafe { (*poll.req).has_eventfd() };
    if owner && mask != 0 && !has_eventfd {
        // The events came with the wake-up: complete inline with them all,
        // as fs/aio.c does (for `POLLFREE` too, whose key carries
        // `EPOLLHUP`; `mangle_poll` drops `POLLFREE` itself).  An
        // eventfd signal could feed back into this very queue through
        // epoll, so those complete from the work.
        // SAFETY: We hold the queue's lock; we own the request.
        unsafe {
            ffi::aio_rs_wait_del_locked(wait);
            PollRequest::finish(this, mask);
        }
        return 1;
    }
    if mask & POLLFREE != 0 {
        // The queue is about to be freed: leave it for good, and cancel.
        poll.refs.cancel();
        // SAFETY: We hold the queue's lock and the entry is on it.
        unsafe { ffi::aio_rs_wait_del_locked(wait) };
        if owner {
            // SAFETY: We own the request; the work takes its own reference
            // before `head` is cleared.
            unsafe { PollRequest::queue_owner_work(this) };
        }
        // Last: once `head` is NULL, the owner may free the request.
        poll.head.store(core::ptr::null_mut(), Release);
        return 1;
    }
    if owner {
        // SAFETY: We own the request.
        unsafe { PollRequest::queue_owner_work(this) };
    }
    1
}

/// `vfs_poll`'s queue callback while arming (fs/aio.c's
/// `aio_poll_queue_proc`): one wait queue per request.
///
/// # Safety
///
/// `pt` is the `pt` field of an [`ArmTable`]; `head` a live wait queue.
unsafe extern "C" fn queue_proc(
    _file: *mut bindings::file,
    head: *mut bindings::wait_queue_head,
    pt: *mut bindings::poll_table_struct,
) {
    let table = pt.cast::<ArmTable>();
    // SAFETY: `pt` is the first field of the `repr(C)` table (caller).
    unsafe {
        if (*table).queued {
            // Several wait queues per file are not supported.
            (*table).error = EINVAL.to_errno();
            return;
        }
        (*table).queued = true;
        (*table).error = 0;
        let poll = &*(*table).poll;
        poll.head.store(head, Release);
        bindings::add_wait_queue(head, poll.wait_entry());
    }
}

/// Arms a poll for `req` (fs/aio.c's `aio_poll`).
///
/// # Safety
///
/// As for `kiocb::issue`: `req` is live and both its references are the
/// caller's; on `Ok` the completion reference has been passed on, on
/// `Err` nothing started.
pub(crate) unsafe fn arm(req: *mut AioKiocb, iocb: &Iocb) -> Result {
    // Unknown events outside the 16-bit mask, and fields poll does not use.
    if u64::from(iocb.aio_buf as u16) != iocb.aio_buf
        || iocb.aio_offset != 0
        || iocb.aio_nbytes != 0
        || iocb.aio_rw_flags != 0
    {
        return Err(EINVAL);
    }
    // SAFETY: No preconditions.
    let events = unsafe { ffi::aio_rs_demangle_poll(iocb.aio_buf as u16) } | EPOLLERR | EPOLLHUP;
    let poll = Arc::pin_init(
        pin_init!(PollRequest {
            // Initialised in place, as `init_waitqueue_func_entry` does,
            // with an empty list link so that "on a queue" can be told.
            wait <- Opaque::ffi_init(|w: *mut bindings::wait_queue_entry| {
                // SAFETY: `w` points to the entry being initialised.
                unsafe {
                    (*w).flags = 0;
                    (*w).private = core::ptr::null_mut();
                    (*w).func = Some(poll_wake);
                    bindings::INIT_LIST_HEAD(&raw mut (*w).entry);
                }
            }),
            head: Atomic::new(core::ptr::null_mut()),
            events,
            // The submitter owns the request while it arms it: wake-ups
            // meanwhile only leave references.
            refs: PollRefs(KernelWord(Atomic::new(PollRefs::<KernelWord>::ARMING))),
            work <- new_work!("PollRequest::work"),
            req,
        }),
        GFP_KERNEL,
    )?;
    // The request's own reference (type invariant), dropped by `finish`.
    let this = Arc::into_raw(poll);
    // SAFETY: Alive until that reference is dropped.
    let poll = unsafe { &*this };
    let mut table = ArmTable {
        pt: bindings::poll_table_struct {
            _qproc: Some(queue_proc),
            _key: events,
        },
        poll: this,
        queued: false,
        // What a file without a wait queue (no IOCB_CMD_POLL support) gets.
        error: EINVAL.to_errno(),
    };
    let pt = (&raw mut table.pt).cast();
    // SAFETY: The request holds its file; `table.pt` is the first field.
    let mask = unsafe { ffi::aio_rs_vfs_poll((*req).file_ptr().cast(), pt) } & events;
    if table.queued && table.error == 0 && mask == 0 {
        // Waiting for an event: make it cancellable, then let go.
        // SAFETY: `req` is live until the poll completes, which unlinks it.
        if !unsafe { (*req).ctx().cancel.link(req, Canceller::Poll(this)) } {
            // The context is being killed: cancel it ourselves.
            poll.refs.cancel();
        }
        if poll.refs.disarm_submitter() {
            // Wake-ups or a cancel came in while arming: still ours.
            // SAFETY: We own the request; `this` is the armed pointer.
            unsafe { PollRequest::run_owner(this) };
        }
        return Ok(());
    }
    // Ready at once, or an error: nobody else can own it, since we never
    // let go; take it off the queue (if any) before completing or freeing.
    poll.dequeue();
    if mask != 0 {
        // SAFETY: We own the request; `this` is the armed pointer.
        unsafe { PollRequest::finish(this, mask) };
        return Ok(());
    }
    // SAFETY: Off every queue and never linked: ours alone.
    drop(unsafe { Arc::from_raw(this) });
    Err(Error::from_errno(table.error))
}

#[cfg(CONFIG_AIO_RUST_KUNIT_TEST)]
#[kunit_tests(aio_rs_poll)]
mod tests {
    use super::*;
    use crate::poll_refs::POLL_CANCELLED;

    fn word(v: u32) -> PollRefs<KernelWord> {
        PollRefs(KernelWord(Atomic::new(v)))
    }

    #[test]
    fn ownership_on_the_kernel_atomic() {
        let refs = word(0);
        assert!(refs.get_ownership());
        assert!(!refs.get_ownership());
        // A wake-up came in before the owner polled: one poll covers both.
        let mut polls = 0;
        assert_eq!(
            refs.check(|| {
                polls += 1;
                0
            }),
            PollOutcome::Armed
        );
        assert_eq!(polls, 1);
        assert_eq!(refs.0.load(), 0);
    }

    #[test]
    fn submitter_and_cancel() {
        let refs = word(PollRefs::<KernelWord>::ARMING);
        assert!(!refs.cancel());
        assert_eq!(refs.0.load(), POLL_CANCELLED | 2);
        assert!(refs.disarm_submitter());
        assert_eq!(refs.check(|| EPOLLERR), PollOutcome::Cancelled);
    }

    #[test]
    fn poll_constants_match_uapi() {
        // SAFETY: Pure functions of their argument.
        unsafe {
            assert_eq!(ffi::aio_rs_demangle_poll(0x10) & EPOLLHUP, EPOLLHUP);
            assert_eq!(ffi::aio_rs_mangle_poll(EPOLLERR | POLLFREE), 0x8);
        }
    }
}
