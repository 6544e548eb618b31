// SPDX-License-Identifier: GPL-2.0

//! The bounded worker pool: the steps of requests that may block on a
//! device, taken out of `io_submit`.
//!
//! Buffered reads of files that cannot wait for the page cache
//! asynchronously (`retry.rs`) and `O_DIRECT` requests that found the device
//! queue full (`direct.rs`) block here instead of in `io_submit`.  The pool
//! is one unbound work queue whose `max_active` bounds the threads that such
//! requests can take (io_uring's io-wq bounds its workers the same way, by
//! four per CPU); the rest wait in the queue.  fsync and poll work keep the
//! system queue, as in fs/aio.c.
//!
//! A worker acts as the submitter: in the context's address space (the
//! submitter's: contexts are found through `current->mm`), which it holds
//! for the step so that the process cannot tear it down meanwhile, and with
//! the submitter's credentials (as they were when the request left it).

use crate::context::Kioctx;
use crate::kiocb::AioKiocb;
use kernel::bindings;
use kernel::cred::Credential;
use kernel::mm::MmWithUser;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::sync::SetOnce;
use kernel::workqueue::{self, OwnedQueue, Queue};

/// Workers per possible CPU.
const WORKERS_PER_CPU: u32 = 4;
/// At most what a work queue takes without a warning (`WQ_MAX_ACTIVE`).
const MAX_WORKERS: u32 = 2048;

/// The pool, made at boot.
static POOL: SetOnce<OwnedQueue> = SetOnce::new();

/// Makes the pool (the initcall, which panics if this fails, as fs/aio.c
/// does when it cannot make its caches).
pub(crate) fn init() -> Result {
    let max_active = WORKERS_PER_CPU
        .saturating_mul(kernel::cpu::nr_cpu_ids())
        .min(MAX_WORKERS);
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

/// Hands a request to the pool, with the operation's reference, for
/// `rw::run_worker`.
pub(crate) fn queue(op: Arc<AioKiocb>) {
    // A request queues its work item for one step at a time.
    let _ = pool().enqueue(op);
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
