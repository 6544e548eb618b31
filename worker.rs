// SPDX-License-Identifier: GPL-2.0

//! The bounded worker pool: the steps of requests that may block on a
//! device, taken out of `io_submit`.
//!
//! Buffered reads of files that cannot wait for the page cache
//! asynchronously (`retry.rs`), the copy and sync of writes with synchronous
//! semantics (`sync_write.rs`) and `O_DIRECT` requests that found the device
//! queue full (`direct.rs`) block here instead of in `io_submit`.  fsync and
//! poll work keep the system queue, as in fs/aio.c.
//!
//! The pool is one unbound work queue, shared by every context, and each
//! context has a bounded share of it ([`PoolShare`]): at most four steps per
//! CPU queued at once (io_uring bounds the workers of each ring the same
//! way), and never more than a sixteenth of the pool, the rest waiting in
//! order on the context's list.  A file whose server never answers (FUSE)
//! thus holds at most its own context's share, and other contexts' requests
//! still reach a worker.  The queue's `max_active` bounds the threads of
//! all contexts together: enough contexts stuck at once (1024 divided by
//! the share: 128 with 2 CPUs, 16 with 16 or more) still fill it, since
//! nothing accounts the pool per user; io_uring avoids that with a pool per
//! ring.
//!
//! A worker acts as the submitter: in the context's address space (the
//! submitter's: contexts are found through `current->mm`), which it holds
//! for the step so that the process cannot tear it down meanwhile, and with
//! the submitter's credentials (as they were when the request left it).

use crate::context::Kioctx;
use crate::kiocb::{AioKiocb, POOL_LIST};
use kernel::bindings;
use kernel::cred::Credential;
use kernel::list::{List, ListArc};
use kernel::mm::MmWithUser;
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, Arc, SetOnce, SpinLockIrq};
use kernel::workqueue::{self, OwnedQueue, Queue};

/// A context's share of the pool, per possible CPU.
const SHARE_PER_CPU: u32 = 4;
/// The threads of all contexts together: the work queue default
/// (`WQ_DFL_ACTIVE`).
const MAX_WORKERS: u32 = 1024;
/// No context's share exceeds this part of the pool, however many CPUs.
const MAX_SHARE: u32 = MAX_WORKERS / 16;

/// The pool, made at boot.
static POOL: SetOnce<OwnedQueue> = SetOnce::new();

/// Makes the pool (the initcall, which panics if this fails, as fs/aio.c
/// does when it cannot make its caches).
pub(crate) fn init() -> Result {
    let max_active = MAX_WORKERS;
    let queue = OwnedQueue::new(c"aio_rs", workqueue::flags::UNBOUND, max_active)?;
    POOL.populate(queue);
    Ok(())
}

fn pool() -> &'static Queue {
    match POOL.as_ref() {
        Some(queue) => queue as &Queue,
        // Only before the initcall, when nothing can submit.
        None => workqueue::system_unbound(),
    }
}

/// Whether the current task's limits leave a write free to go to the pool:
/// a worker's own limits are not the submitter's, so a write that the
/// submitter's `RLIMIT_FSIZE` could cut short keeps C's path.
pub(crate) fn write_limits_allow() -> bool {
    let current = kernel::current!();
    current.rlimit(bindings::RLIMIT_FSIZE) == bindings::RLIM_INFINITY as usize
}

/// How many steps of one context may be queued on the pool at once.
fn share_limit() -> u32 {
    SHARE_PER_CPU
        .saturating_mul(kernel::cpu::nr_cpu_ids())
        .min(MAX_SHARE)
}

/// The steps of one context's requests on the pool.
///
/// # Invariants
///
/// `pending` is empty unless `queued` is the share's limit: a step that
/// ends ([`run`]) queues the first pending request in its place, so none
/// waits for ever (or keeps its context alive: a pending request holds it).
struct PoolShareInner {
    /// Steps queued on the pool and not ended yet.
    queued: u32,
    /// Requests waiting for the share, each with its operation's reference.
    pending: List<AioKiocb, POOL_LIST>,
}

/// A context's bounded share of the pool.
#[pin_data]
pub(crate) struct PoolShare {
    #[pin]
    inner: SpinLockIrq<PoolShareInner>,
}

impl PoolShare {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // IRQ-safe: `O_DIRECT` requests come from `ki_complete`.
            inner <- new_spinlock_irq!(
                PoolShareInner { queued: 0, pending: List::new() },
                "PoolShare::inner"
            ),
        })
    }

    /// Takes a place in the share for `op`, or parks it: `op` back if it
    /// may go to the pool now.
    fn enter(&self, op: Arc<AioKiocb>) -> Option<Arc<AioKiocb>> {
        let mut inner = self.inner.lock();
        if inner.queued >= share_limit() {
            // A request has one step at a time, so it is on no list of this
            // id; if it were, the step goes over the share rather than wait.
            match ListArc::try_from_arc(op) {
                Ok(link) => {
                    inner.pending.push_back(link);
                    return None;
                }
                Err(op) => {
                    inner.queued += 1;
                    return Some(op);
                }
            }
        }
        inner.queued += 1;
        Some(op)
    }

    /// A step ended: the first pending request takes its place.
    fn leave(&self) -> Option<Arc<AioKiocb>> {
        let mut inner = self.inner.lock();
        let next = inner.pending.pop_front();
        if next.is_none() {
            inner.queued -= 1;
        }
        next.map(ListArc::into_arc)
    }
}

/// Hands a request to the pool, with the operation's reference, for
/// `rw::run_worker`; from any context.  It waits for its context's share.
pub(crate) fn queue(op: Arc<AioKiocb>) {
    // The share is the context's; the request moves onto its list.
    let ctx = op.ctx_ref();
    if let Some(op) = ctx.pool_share().enter(op) {
        // A request queues its work item for one step at a time.
        let _ = pool().enqueue(op);
    }
}

/// The pool's work item: runs `step` on `op`, then gives the place in the
/// share to the context's next request.
pub(crate) fn run(op: Arc<AioKiocb>, step: impl FnOnce(Arc<AioKiocb>)) {
    // The step may free the request, and with it the last reference to the
    // context.
    let ctx = op.ctx_ref();
    step(op);
    if let Some(next) = ctx.pool_share().leave() {
        let _ = pool().enqueue(next);
    }
}

/// Runs `step` on `arg` in `ctx`'s address space with the submitter's
/// credentials `creds` (as they were when the request left the submitter),
/// or gives `arg` back if the address space is gone (the process exited:
/// nobody will read the event).
pub(crate) fn as_submitter<T>(
    ctx: &Kioctx,
    creds: &Credential,
    arg: T,
    step: impl FnOnce(T),
) -> Result<(), T> {
    let Some(mm) = ctx.mm().mmget_not_zero() else {
        return Err(arg);
    };
    let mut arg = Some(arg);
    // Only fails in a task that is not a worker, and then `arg` is left.
    let _ = mm.kthread_use(|| creds.with_override(|| arg.take().map(step)));
    // If the process exited meanwhile, its teardown (`exit_aio`) waits for
    // requests that may be queued behind us: not here.
    MmWithUser::put_async(mm);
    match arg {
        Some(arg) => Err(arg),
        None => Ok(()),
    }
}
