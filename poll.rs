// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_POLL` (fs/aio.c's `aio_poll`): a one-shot poll whose result is
//! an event in the ring.
//!
//! The request sits on the file's wait queue until it completes, so that no
//! wake-up is ever missed (libaio's 23.t).  Who may look at the file and
//! complete the request is decided by the ownership word of
//! [`crate::poll_refs`] instead of fs/aio.c's flags under two locks: a
//! wake-up, `io_cancel` or `POLLFREE` leaves a reference, and only the one
//! that takes the word from zero acts: inline when the wake-up carries the
//! events (the result is then the wake-up's events, as in fs/aio.c),
//! otherwise from the request's work item.
//!
//! While armed, the request holds a reference to itself (the operation's
//! reference of `kiocb.rs`), kept in [`ArmedRef`] from [`arm`] until
//! [`finish`].  Acting on the request takes an [`Owner`], which only the
//! ownership protocol hands out.
//!
//! Lock order: wait-queue head, then the context's cancel list, then its
//! completion lock.  Cancellation never takes a wait-queue lock.

use crate::abi::Iocb;
use crate::kiocb::{self, AioKiocb, Op};
use crate::poll_refs::{PollOutcome, PollRefs, PollWord};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::eventfd::EventFdCtx;
use kernel::ffi::c_int;
use kernel::list::ListArc;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Full, Relaxed, Release};
use kernel::sync::wait::{WaitQueueEntry, WaitQueueHead, WakeFunction, WakeUp};
use kernel::sync::{rcu, Arc, ArcBorrow};

const EPOLLERR: u32 = bindings::EPOLLERR;
const EPOLLHUP: u32 = bindings::EPOLLHUP;
const POLLFREE: u32 = bindings::POLLFREE;

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

/// The state of a poll request.
///
/// # Invariants
///
/// `wait` is on the queue `head` points to, or on no queue at all; `head`
/// is NULL once `POLLFREE` took the entry off a queue that is about to be
/// freed.  `key_mask` is non-zero only once the owner took the entry off
/// its queue to complete with those events.
#[pin_data]
pub(crate) struct PollState {
    #[pin]
    wait: WaitQueueEntry,
    head: Atomic<*const WaitQueueHead>,
    /// The events asked for, `EPOLLERR | EPOLLHUP` included.
    events: u32,
    refs: PollRefs<KernelWord>,
    /// The events of a wake-up whose completion had to be deferred.
    key_mask: Atomic<u32>,
    armed: ArmedRef,
}

/// The reference an armed request holds to itself.
///
/// # Invariants
///
/// `self.0` is NULL or a pointer from `Arc::into_raw` of the request whose
/// state holds it, whose reference `self` owns.
struct ArmedRef(Atomic<*const AioKiocb>);

impl ArmedRef {
    fn set(&self, req: Arc<AioKiocb>) {
        // INVARIANT: The reference is ours from now on.
        self.0.store(Arc::into_raw(req), Relaxed);
    }

    /// Gives the reference up (once).
    fn take(&self) -> Option<Arc<AioKiocb>> {
        let ptr = self.0.xchg(core::ptr::null(), Relaxed);
        // SAFETY: A non-NULL pointer is a reference we own (type invariant),
        // and `xchg` hands it to one caller only.
        (!ptr.is_null()).then(|| unsafe { Arc::from_raw(ptr) })
    }
}

/// The right to act on a poll request: look at the file, take the entry
/// off its queue, complete the request.  Only the ownership protocol hands
/// one out (the arming submitter, and whoever takes the ownership word from
/// zero), so there is at most one at a time.
struct Owner<'a>(&'a AioKiocb);

impl<'a> Owner<'a> {
    fn poll(&self) -> &'a PollState {
        self.0.poll()
    }

    /// An owned reference for the work item, which takes the ownership on.
    fn to_arc(&self) -> Arc<AioKiocb> {
        // SAFETY: The request is armed, so alive: its armed reference is
        // only dropped by `finish`, which needs this ownership.
        unsafe { ArcBorrow::from_raw(self.0) }.into()
    }
}

// SAFETY: The state may be used from any thread: the head is atomic, and
// the wait entry is only changed under its queue's lock or by the owner.
unsafe impl Send for PollState {}
// SAFETY: As above.
unsafe impl Sync for PollState {}

impl PollState {
    /// The state of a poll as `iocb` describes it (`EINVAL` for events
    /// outside the 16-bit mask and for fields poll does not use); an unused
    /// one for other opcodes.
    pub(crate) fn new(op: Op, iocb: &Iocb) -> impl PinInit<Self, Error> {
        let events = if op != Op::Poll {
            Ok(0)
        } else if u64::from(iocb.aio_buf as u16) != iocb.aio_buf
            || iocb.aio_offset != 0
            || iocb.aio_nbytes != 0
            || iocb.aio_rw_flags != 0
        {
            Err(EINVAL)
        } else {
            // SAFETY: No preconditions.
            Ok(unsafe { bindings::demangle_poll(iocb.aio_buf as u16) } | EPOLLERR | EPOLLHUP)
        };
        try_pin_init!(Self {
            wait <- WaitQueueEntry::new::<PollWake>(),
            head: Atomic::new(core::ptr::null()),
            events: events?,
            // The submitter owns the request while it arms it: wake-ups
            // meanwhile only leave references.
            refs: PollRefs(KernelWord(Atomic::new(PollRefs::<KernelWord>::ARMING))),
            key_mask: Atomic::new(0),
            armed: ArmedRef(Atomic::new(core::ptr::null())),
        }? Error)
    }

    /// The request of this state.
    fn request(&self) -> &AioKiocb {
        // SAFETY: Every `PollState` is the `poll` field of a request, which
        // outlives the borrow of its field.
        unsafe { &*AioKiocb::from_poll(self) }
    }

    /// Polls the file for the events asked for, without queueing.
    fn poll_file(&self) -> u32 {
        let mut pt = bindings::poll_table_struct {
            _qproc: None,
            _key: self.events,
        };
        // SAFETY: The request holds its file; `pt` lives across the call.
        let mask = unsafe { bindings::vfs_poll(self.request().file().as_ptr(), &mut pt) };
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
            // SAFETY: `head` is live (above); the entry is on it or on none.
            unsafe { self.wait.remove_from(&*head) };
        }
    }
}

/// Completes the request with `mask`; the entry is off its queue.  Returns
/// the armed reference, which may be the last one: the caller drops it
/// where no reference to the request is held as an argument.
#[must_use]
fn finish(owner: Owner<'_>, mask: u32) -> Option<Arc<AioKiocb>> {
    let req = owner.0;
    req.ctx().cancel_list().unlink(req);
    // SAFETY: No preconditions.
    req.finish(i64::from(unsafe { bindings::mangle_poll(mask) }));
    owner.poll().armed.take()
}

/// The owner's work: polls until there is a result or ownership could be
/// given back (the request then stays armed).  Its callers hold a reference
/// of their own, so dropping the armed one here frees nothing.
fn run_owner(owner: Owner<'_>) {
    let poll = owner.poll();
    let key_mask = poll.key_mask.load(Relaxed);
    let mask = if key_mask != 0 {
        // A wake-up took the entry off and left its events for us.
        key_mask
    } else {
        let mask = match poll.refs.check(|| poll.poll_file()) {
            PollOutcome::Armed => return,
            PollOutcome::Ready(mask) => mask,
            PollOutcome::Cancelled => 0,
        };
        poll.dequeue();
        mask
    };
    drop(finish(owner, mask));
}

/// Hands ownership to the request's work item (the owner may be in atomic
/// context, or must not signal an eventfd where it is).
fn queue_owner_work(owner: Owner<'_>) {
    // Only the owner queues, so the work cannot be pending already.
    let _ = kiocb::work_queue().enqueue(owner.to_arc());
}

/// The work item of a poll request: whoever queued it passed ownership on.
pub(crate) fn run_work(req: Arc<AioKiocb>) {
    run_owner(Owner(&req));
}

/// `io_cancel` or context teardown (fs/aio.c's `aio_poll_cancel`): the poll
/// completes with no events.  Called while the request is (or just was)
/// linked on its context's cancel list, under that list's lock: it is
/// armed, so alive.
pub(crate) fn cancel(req: &AioKiocb) {
    if req.poll().refs.cancel() {
        queue_owner_work(Owner(req));
    }
}

/// The wake function of our wait entry (fs/aio.c's `aio_poll_wake`).  Runs
/// with the queue's lock held, possibly with interrupts off.
struct PollWake;

impl WakeFunction for PollWake {
    fn wake(entry: NonNull<WaitQueueEntry>, wake: &WakeUp) -> bool {
        // SAFETY: Only the `wait` field of a `PollState` has this function,
        // and only an armed request's entry is on a queue.
        let poll = unsafe { &*kernel::container_of!(entry.as_ptr(), PollState, wait) };
        let req = poll.request();
        let mask = wake.key() as u32;
        if mask != 0 && mask & poll.events == 0 {
            return false;
        }
        let owner = poll.refs.get_ownership();
        if owner && mask != 0 {
            // The events came with the wake-up: complete with them all, as
            // fs/aio.c does (for `POLLFREE` too, whose key carries `EPOLLHUP`;
            // `mangle_poll` drops `POLLFREE` itself).
            // SAFETY: We hold the queue's lock.
            unsafe { poll.wait.remove_locked() };
            if req.has_eventfd() && !EventFdCtx::signal_allowed() {
                // Signalling the eventfd here could recurse into an eventfd's
                // own wake-up: the work posts the event instead.
                poll.key_mask.store(mask, Relaxed);
                queue_owner_work(Owner(req));
            } else {
                // Possibly the last reference: dropped here, in the wake
                // function's own frame, and nothing touches the request after.
                drop(finish(Owner(req), mask));
            }
            return true;
        }
        if mask & POLLFREE != 0 {
            // The queue is about to be freed: leave it for good, and cancel.
            poll.refs.cancel();
            // SAFETY: We hold the queue's lock and the entry is on it.
            unsafe { poll.wait.remove_locked() };
            if owner {
                // The work takes its own reference before `head` is cleared.
                queue_owner_work(Owner(req));
            }
            // Last: once `head` is NULL, the owner may free the request.
            poll.head.store(core::ptr::null(), Release);
            return true;
        }
        if owner {
            queue_owner_work(Owner(req));
        }
        true
    }
}

/// The poll table handed to `vfs_poll` while arming, fs/aio.c's
/// `aio_poll_table`.
#[repr(C)]
struct ArmTable {
    pt: bindings::poll_table_struct,
    poll: *const PollState,
    queued: bool,
    error: c_int,
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
    // SAFETY: `pt` is the first field of the `repr(C)` table (caller).
    let table = unsafe { &mut *pt.cast::<ArmTable>() };
    if table.queued {
        // Several wait queues per file are not supported.
        table.error = EINVAL.to_errno();
        return;
    }
    table.queued = true;
    table.error = 0;
    // SAFETY: The table's request is being armed, so alive.
    let poll = unsafe { &*table.poll };
    // SAFETY: `head` is live until it is freed after `POLLFREE` (caller).
    let head = unsafe { WaitQueueHead::from_raw(head) };
    poll.head.store(head, Release);
    // SAFETY: The entry is on no queue yet and its request stays alive
    // until the entry is off `head` again.
    unsafe { poll.wait.add_to(head) };
}

/// Arms a poll for `req` (fs/aio.c's `aio_poll`).
pub(crate) fn arm(req: Arc<AioKiocb>) -> Result {
    let poll = req.poll();
    let mut table = ArmTable {
        pt: bindings::poll_table_struct {
            _qproc: Some(queue_proc),
            _key: poll.events,
        },
        poll,
        queued: false,
        // What a file without a wait queue (no IOCB_CMD_POLL support) gets.
        error: EINVAL.to_errno(),
    };
    // The armed reference (see the module documentation).
    poll.armed.set(req.clone());
    // The submitter owns the request while it arms it (`ARMING`).
    let owner = Owner(&req);
    // SAFETY: The request holds its file; `table.pt` is the first field.
    let mask = unsafe { bindings::vfs_poll(req.file().as_ptr(), &mut table.pt) } & poll.events;
    if table.queued && table.error == 0 && mask == 0 {
        // Waiting for an event: make it cancellable, then let go.
        let linked = match ListArc::try_from_arc(req.clone()) {
            Ok(link) => req.ctx().cancel_list().link_unless_dead(link).is_ok(),
            Err(_) => false,
        };
        if !linked {
            // The context is being killed: cancel it ourselves.
            poll.refs.cancel();
        }
        if poll.refs.disarm_submitter() {
            // Wake-ups or a cancel came in while arming: still ours.
            run_owner(owner);
        }
        return Ok(());
    }
    // Ready at once, or an error: nobody else can own it, since we never
    // let go; take it off the queue (if any) before completing or freeing.
    poll.dequeue();
    if mask != 0 {
        drop(finish(owner, mask));
        return Ok(());
    }
    // Off every queue and never linked: nothing was posted.
    drop(poll.armed.take());
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
            assert_eq!(bindings::demangle_poll(0x10) & EPOLLHUP, EPOLLHUP);
            assert_eq!(bindings::mangle_poll(EPOLLERR | POLLFREE), 0x8);
        }
    }
}
