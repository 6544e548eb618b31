// SPDX-License-Identifier: GPL-2.0

//! One AIO request (fs/aio.c's `struct aio_kiocb`): from `io_submit` to its
//! event in the ring.
//!
//! A request is one allocation from a slab cache of its own ([`AioKiocb::alloc`],
//! fs/aio.c's `kiocb_cachep`) that owns everything its operation needs: the
//! file, the eventfd, and the state of its opcode (the VFS `kiocb` and the
//! user iterator of a read or write, the wait entry of a poll, the
//! credentials of an fsync), plus one work item and the link on its
//! context's cancel list.
//!
//! References are those of the `Arc`: the submitter holds one while it
//! issues the operation, and the operation holds one until it finishes (the
//! driver's `ki_complete`, the fsync or poll work, the armed poll).  As in
//! fs/aio.c (`iocb_put`), whoever drops the last one posts the event and
//! releases the request, so a completion that races with the end of
//! `io_submit` never frees what the submitter still uses, and the event is
//! never posted before the submission is done with the request.  When that
//! last reference is the submitter's, `io_submit` posts the event together
//! with the others of its batch (`batch.rs`).

use crate::abi::{IoEvent, Iocb};
use crate::batch::SubmitBatch;
use crate::context::{InflightRef, Kioctx};
use crate::fsync::{self, FsyncState};
use crate::poll::{self, PollState};
use crate::retry;
use crate::rw::{self, RwState};
use crate::worker;
use core::mem::MaybeUninit;
use kernel::bindings;
use kernel::error::to_result;
use kernel::eventfd::EventFdCtx;
use kernel::fs::File;
use kernel::list::{AtomicTracker, ListLinks, TryNewListArc};
use kernel::prelude::*;
use kernel::slab;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, ArcCache, SetOnce, UniqueArc};
use kernel::task::Task;
use kernel::task_work::TaskWorkItem;
use kernel::uapi;
use kernel::workqueue::{impl_has_work, new_work, Queue, Work, WorkItem};

/// A driver's cancel function (`kiocb_cancel_fn`).
pub(crate) type CancelFn = unsafe extern "C" fn(*mut bindings::kiocb) -> kernel::ffi::c_int;

/// What a request does, from `aio_lio_opcode`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read { vectored: bool },
    Write { vectored: bool },
    Fsync { datasync: bool },
    Poll,
}

impl Op {
    /// `EINVAL` for an opcode fs/aio.c does not know.
    pub(crate) fn from_opcode(opcode: u16) -> Result<Self> {
        Ok(match u32::from(opcode) {
            uapi::IOCB_CMD_PREAD => Op::Read { vectored: false },
            uapi::IOCB_CMD_PREADV => Op::Read { vectored: true },
            uapi::IOCB_CMD_PWRITE => Op::Write { vectored: false },
            uapi::IOCB_CMD_PWRITEV => Op::Write { vectored: true },
            uapi::IOCB_CMD_FSYNC => Op::Fsync { datasync: false },
            uapi::IOCB_CMD_FDSYNC => Op::Fsync { datasync: true },
            uapi::IOCB_CMD_POLL => Op::Poll,
            _ => return Err(EINVAL),
        })
    }
}

/// An in-flight request.
///
/// # Invariants
///
/// Only the state of `op` is in use (`rw` for reads and writes, `poll`,
/// `fsync`); the others hold nothing.  `finished` is set at most once, by
/// the operation, before it drops its reference.
#[pin_data(PinnedDrop)]
pub(crate) struct AioKiocb {
    op: Op,
    /// `aio_data` and the user's iocb pointer: the event's `data` and `obj`.
    data: u64,
    obj: u64,
    /// The event's `res`, valid once `finished` is set.
    res: Atomic<i64>,
    finished: Atomic<bool>,
    #[pin]
    rw: RwState,
    #[pin]
    poll: PollState,
    fsync: FsyncState,
    /// The fsync, the poll's owner when it may not act where it is, or a
    /// read's or write's step in the worker pool.
    #[pin]
    work: Work<AioKiocb>,
    /// The link on the context's cancel list (fs/aio.c's `ki_list`).
    #[pin]
    cancel_links: ListLinks,
    #[pin]
    cancel_tracker: AtomicTracker,
    /// The link on the context's list of requests waiting for their share
    /// of the worker pool (`worker.rs`).
    #[pin]
    pool_links: ListLinks<POOL_LIST>,
    #[pin]
    pool_tracker: AtomicTracker<POOL_LIST>,
    /// What a driver registered with `kiocb_set_cancel_fn`.
    driver_cancel: SetOnce<CancelFn>,
    eventfd: Option<EventFdCtx>,
    file: ARef<File>,
    /// Last, so that it goes last: `io_destroy` waits for it, and by then
    /// the file and the eventfd are released, as in fs/aio.c.
    ctx: InflightRef,
}

kernel::list::impl_list_arc_safe! {
    impl ListArcSafe<0> for AioKiocb { tracked_by cancel_tracker: AtomicTracker; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for AioKiocb { using ListLinks { self.cancel_links }; }
}
/// The list id of [`AioKiocb`]'s place on its context's pool list.
pub(crate) const POOL_LIST: u64 = 1;
kernel::list::impl_list_arc_safe! {
    impl ListArcSafe<POOL_LIST> for AioKiocb { tracked_by pool_tracker: AtomicTracker<POOL_LIST>; }
}
kernel::list::impl_list_item! {
    impl ListItem<POOL_LIST> for AioKiocb { using ListLinks { self.pool_links }; }
}
impl_has_work! {
    impl HasWork<Self> for AioKiocb { self.work }
}
kernel::task_work::impl_has_task_work! {
    impl HasTaskWork<Self> for AioKiocb { self.rw.retry.task_work }
}

/// A buffered read's next pass (`retry.rs`), the only task work.
impl TaskWorkItem for AioKiocb {
    fn run(this: Arc<Self>) {
        retry::next_pass(this);
    }
}

/// Memory for a request that is not initialised yet.
pub(crate) type UninitKiocb = UniqueArc<MaybeUninit<AioKiocb>>;

/// The requests' slab cache, made at boot (fs/aio.c's `kiocb_cachep`, with
/// its flags: requests are charged to the submitter's memory cgroup).
static CACHE: SetOnce<ArcCache<AioKiocb>> = SetOnce::new();

/// Makes the requests' cache (the initcall, which panics if this fails, as
/// fs/aio.c does when it cannot make its caches).
pub(crate) fn init_cache() -> Result {
    let flags = slab::flags::ACCOUNT | slab::flags::HWCACHE_ALIGN;
    CACHE.populate(ArcCache::new(c"aio_rs_kiocb", flags)?);
    Ok(())
}

impl AioKiocb {
    /// Allocates a request before anything of the iocb is looked at, as
    /// fs/aio.c's `aio_get_req`, whose failure is `EAGAIN`.
    pub(crate) fn alloc() -> Result<UninitKiocb> {
        // The cache exists before anything can submit (initcall).
        let cache = CACHE.as_ref().ok_or(EAGAIN)?;
        UniqueArc::new_uninit_from(cache, GFP_KERNEL).map_err(|_| EAGAIN)
    }

    /// Fills in a request for `iocb` (at user address `obj`): the checks of
    /// its opcode, in fs/aio.c's order.
    pub(crate) fn new(
        ctx: InflightRef,
        file: ARef<File>,
        eventfd: Option<EventFdCtx>,
        iocb: &Iocb,
        obj: u64,
        op: Op,
        compat: bool,
    ) -> impl PinInit<Self, Error> {
        // Only the opcode's own state does anything (and can fail).
        let rw = RwState::new(op, &file, iocb, compat);
        let poll = PollState::new(op, iocb);
        let fsync = FsyncState::new(op, &file, iocb);
        let data = iocb.aio_data;
        try_pin_init!(Self {
            op,
            data,
            obj,
            res: Atomic::new(0),
            finished: Atomic::new(false),
            rw <- rw,
            poll <- poll,
            fsync: fsync?,
            work <- new_work!("AioKiocb::work"),
            cancel_links <- ListLinks::new(),
            cancel_tracker <- AtomicTracker::new(),
            pool_links <- ListLinks::new(),
            pool_tracker <- AtomicTracker::new(),
            driver_cancel: SetOnce::new(),
            eventfd,
            file,
            ctx,
        }? Error)
    }

    /// Starts the operation, which takes a reference of its own; `req` is
    /// the submitter's, and `batch` holds the requests it submitted before.
    /// On `Ok` the operation will finish and post its event; on `Err` it
    /// never started, and dropping the request posts nothing.
    pub(crate) fn issue(req: &Arc<Self>, batch: &mut SubmitBatch<'_>) -> Result {
        match req.op {
            // Fsync and poll never wait here (a work item, `vfs_poll`).
            Op::Read { .. } | Op::Write { .. } => rw::issue(req, batch),
            Op::Fsync { .. } => fsync::issue(req.clone()),
            Op::Poll => poll::arm(req.clone()),
        }
    }

    /// Records the operation's result; the event is posted when the last
    /// reference goes.
    pub(crate) fn finish(&self, res: i64) {
        self.res.store(res, Relaxed);
        self.finished.store(true, Relaxed);
    }

    pub(crate) fn op(&self) -> Op {
        self.op
    }

    /// The event of a finished operation.
    pub(crate) fn event(&self) -> IoEvent {
        IoEvent {
            data: self.data,
            obj: self.obj,
            res: self.res.load(Relaxed),
            res2: 0,
        }
    }

    /// Takes the posting of the event over from the last reference's drop:
    /// whether the operation finished (and so has an event to post).  Only
    /// the holder of the last reference calls it.
    pub(crate) fn take_finished(&self) -> bool {
        self.finished.xchg(false, Relaxed)
    }

    /// The eventfd that the event signals (`IOCB_FLAG_RESFD`).
    pub(crate) fn eventfd(&self) -> Option<&EventFdCtx> {
        self.eventfd.as_ref()
    }

    pub(crate) fn ctx(&self) -> &Kioctx {
        &self.ctx
    }

    /// Another reference to the context, which may outlive the request.
    pub(crate) fn ctx_ref(&self) -> InflightRef {
        self.ctx.clone()
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn has_eventfd(&self) -> bool {
        self.eventfd.is_some()
    }

    /// The user's iocb pointer, as the event's `obj` will carry it.
    pub(crate) fn user_iocb(&self) -> u64 {
        self.obj
    }

    pub(crate) fn rw(&self) -> &RwState {
        &self.rw
    }

    pub(crate) fn poll(&self) -> &PollState {
        &self.poll
    }

    pub(crate) fn fsync(&self) -> &FsyncState {
        &self.fsync
    }

    /// The request whose `rw` is `rw`.
    ///
    /// # Safety
    ///
    /// `rw` is the `rw` field of an [`AioKiocb`].
    pub(crate) unsafe fn from_rw(rw: *const RwState) -> *const Self {
        // SAFETY: As documented: both pointers are inside the request.
        unsafe { kernel::container_of!(rw, Self, rw) }
    }

    /// The request whose `poll` is `poll`.
    ///
    /// # Safety
    ///
    /// `poll` is the `poll` field of an [`AioKiocb`].
    pub(crate) unsafe fn from_poll(poll: *const PollState) -> *const Self {
        // SAFETY: As documented: both pointers are inside the request.
        unsafe { kernel::container_of!(poll, Self, poll) }
    }

    /// Records a driver's cancel function; `false` if one was already set.
    pub(crate) fn set_driver_cancel(&self, cancel: CancelFn) -> bool {
        self.driver_cancel.populate(cancel)
    }

    /// Whether a driver made this request cancellable.
    pub(crate) fn driver_cancellable(&self) -> bool {
        self.driver_cancel.as_ref().is_some()
    }

    /// Cancels the request: the poll is told to finish with no events, the
    /// driver's cancel function is called.  Runs under the cancel list's
    /// lock, while the request is (or just was) linked.
    pub(crate) fn cancel(&self) -> Result {
        if self.op == Op::Poll {
            poll::cancel(self);
            return Ok(());
        }
        match self.driver_cancel.as_ref() {
            // SAFETY: The driver's function for this kiocb, not completed yet:
            // its completion unlinks the request under our caller's lock.
            Some(cancel) => to_result(unsafe { cancel(self.rw.kiocb_raw()) }),
            // Only reads waiting for the page cache are linked otherwise.
            None => {
                self.rw.retry().cancel();
                Ok(())
            }
        }
    }

    /// The submitter of a read that went asynchronous, on which its passes
    /// run as task work.
    fn read_submitter(&self) -> Option<&Task> {
        match self.op {
            Op::Read { .. } if !self.driver_cancellable() => self.rw.retry().submitter(),
            _ => None,
        }
    }

    /// After [`Self::cancel`] by `io_cancel`: a read whose next pass waits
    /// on its submitter thread ends without it.  Outside the cancel list's
    /// lock (`task_work_cancel` takes the task's lock).
    pub(crate) fn hurry_cancelled(&self) {
        if let Some(task) = self.read_submitter() {
            retry::take_back_pass(self, task);
        }
    }

    /// After [`Self::cancel`] of a dying context's request: if it is a read,
    /// every read of the context whose pass waits on its submitter ends
    /// without it, unless `drained` is that submitter, whose passes were taken back for
    /// an earlier request already (a submitter's requests tend to be next
    /// to each other on the list).  Outside the cancel list's lock.
    pub(crate) fn hurry_dying(&self, drained: &mut Option<ARef<Task>>) {
        let Some(task) = self.read_submitter() else {
            return;
        };
        let done = drained.as_deref().is_some_and(|t| core::ptr::eq(t, task));
        if done {
            return;
        }
        retry::take_back_context_passes(self.ctx(), task);
        *drained = Some(ARef::from(task));
    }
}

/// The queue of `schedule_work()`, which fs/aio.c uses for the same work
/// (7.3 deprecates `system_wq`, which `workqueue::system()` still returns).
pub(crate) fn work_queue() -> &'static Queue {
    // SAFETY: `system_percpu_wq` is a C global, always available.
    unsafe { Queue::from_raw(bindings::system_percpu_wq) }
}

impl WorkItem for AioKiocb {
    type Pointer = Arc<AioKiocb>;

    fn run(this: Arc<AioKiocb>) {
        match this.op {
            Op::Fsync { .. } => fsync::run(this),
            Op::Poll => poll::run_work(this),
            Op::Read { .. } | Op::Write { .. } => worker::run(this, rw::run_worker),
        }
    }
}

#[pinned_drop]
impl PinnedDrop for AioKiocb {
    fn drop(self: Pin<&mut Self>) {
        // The last reference: post the event of an operation that ran (in
        // fs/aio.c's order, before the file and the eventfd are put).
        if self.finished.load(Relaxed) {
            self.ctx.post(&self.event(), self.eventfd.as_ref());
        }
    }
}
