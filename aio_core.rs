// SPDX-License-Identifier: GPL-2.0

//! Native asynchronous I/O (`io_setup`, `io_destroy`, `io_submit`,
//! `io_cancel`, `io_getevents`, `io_pgetevents`) in Rust.
//!
//! This is the crate root: the module list and the system call entry points
//! that the C glue (`aio_glue.c`) calls, declared in `aio_glue.h` and checked
//! against it by `#[export]`.  Errors become errno values here and nowhere
//! else.  Every user-visible behaviour follows fs/aio.c, errno for errno;
//! README.md lists the places where we deliberately differ.
//!
//! Where things are:
//! - `context.rs`: the context (`struct kioctx`);
//! - `table.rs`: the per-mm context table and context lookup;
//! - `submit.rs`, `getevents.rs`: the `io_submit` and `io_getevents` bodies;
//! - `kiocb.rs`: one request, and per opcode `rw.rs`, `fsync.rs`, `poll.rs`;
//! - `retry.rs`, `read_passes.rs`: buffered reads that never wait for the
//!   device in `io_submit`; `direct.rs`: `O_DIRECT` that never waits for a
//!   full device queue; `sync_write.rs`: `O_SYNC`/`O_DSYNC` writes whose
//!   sync runs outside `io_submit`; `worker.rs`: the bounded pool they use;
//! - `cancel.rs`: the cancellable requests of a context;
//! - `ring.rs`, `ring_index.rs`, `slots.rs`: the mapped ring and its slots;
//! - `waitbit.rs`: filtered wake-ups (the `io_getevents` sleepers);
//! - `accounting.rs`, `abi.rs`: small pieces.
//!
//! What the kernel crate lacked lives in `rust/kernel` (patches/):
//! `sync::wait` (wait queues with own wake functions), `iov::UserIovIter`,
//! `eventfd`, and `Credential::prepare`/`with_override`.

use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use kernel::mm::Mm;
use kernel::prelude::*;
use kernel::uaccess::UserPtr;

mod abi;
mod accounting;
mod batch;
mod cancel;
mod claim;
mod context;
mod direct;
mod fsync;
mod getevents;
mod kiocb;
mod poll;
mod poll_refs;
mod promise;
mod read_passes;
mod retry;
mod ring;
mod ring_index;
mod rw;
mod slots;
mod submit;
mod sync_write;
mod table;
mod waitbit;
mod worker;
mod write_steps;

use abi::{IOCB_KEY_OFFSET, KIOCB_KEY};
use context::Kioctx;
use ring_index::{GeometryError, RingGeometry};

/// The prefix of our `pr_*` messages (a built-in crate has no `module!`).
const __LOG_PREFIX: &[u8] = b"aio\0";

/// `io_setup`.
fn setup(nr_events: u32, ctxp: UserPtr, compat: bool) -> Result {
    // get_user()/put_user() for *ctxp, as fs/aio.c.
    let old = if compat {
        u64::from(ctxp.get_u32()?)
    } else {
        ctxp.get_u64()?
    };
    if old != 0 || nr_events == 0 {
        return Err(EINVAL);
    }

    // SAFETY: No preconditions.
    let cpus = unsafe { bindings::num_possible_cpus() };
    let geometry = RingGeometry::for_request(nr_events, cpus, kernel::page::PAGE_SIZE).map_err(
        |e| match e {
            GeometryError::TooLarge => EINVAL,
            GeometryError::Zero => EAGAIN,
        },
    )?;
    if nr_events as usize > accounting::max_nr() {
        return Err(EAGAIN);
    }
    let current = kernel::current!();
    let mm: &Mm = current.mm().ok_or(EINVAL)?;

    let ctx = Kioctx::new(nr_events, &geometry, cpus, mm.into())?;
    let mapping = ctx.ring().map().map_err(|_| ENOMEM)?;
    let base = mapping.addr();
    ctx.set_mapping(base, ctx.ring().size());
    let charge = accounting::charge(nr_events)?;
    let contexts = table::current_contexts(true)?.ok_or(EINVAL)?;
    contexts.insert(&ctx)?;
    // From here on, killing the context undoes everything.
    charge.keep();
    mapping.keep();

    let res = if compat {
        // Truncating is fine: it is a 32-bit process's address.
        ctxp.put_u32(base as u32)
    } else {
        ctxp.put_u64(base as u64)
    };
    if let Err(e) = res {
        let _ = contexts.kill(&ctx);
        return Err(e);
    }
    Ok(())
}

/// `io_destroy`.
fn destroy(ctx_id: usize) -> Result {
    let ctx = table::lookup(ctx_id).ok_or(EINVAL)?;
    let dying = table::current_contexts(false)?.ok_or(EINVAL)?.kill(&ctx)?;
    drop(ctx);
    // The kernel must be done with user buffers before io_destroy returns.
    drop(dying);
    Ok(())
}

/// `io_cancel`: the key is checked before the context is looked up, as in
/// fs/aio.c.
fn cancel(ctx_id: usize, user_iocb: UserPtr) -> Result {
    let key = user_iocb.wrapping_byte_add(IOCB_KEY_OFFSET).get_u32()?;
    if key != KIOCB_KEY {
        return Err(EINVAL);
    }
    let ctx = table::lookup(ctx_id).ok_or(EINVAL)?;
    ctx.cancel_list()
        .cancel(user_iocb.as_const_ptr() as usize as u64)?;
    // The event of a cancelled request always arrives through the ring.
    Err(EINPROGRESS)
}

/// The errno edge: a count, or a negative errno.
fn to_ret(res: Result<usize>) -> c_long {
    match res {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// The initcall's part: the requests' slab cache and the worker pool.
///
/// # Safety
///
/// Called once, from the initcall.
#[export]
pub unsafe extern "C" fn aio_rs_init_requests() -> c_int {
    match kiocb::init_cache().and_then(|()| worker::init()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `io_setup`; `ctxp` points to a `u32` if `compat`, else to a `u64`.
///
/// # Safety
///
/// Called from the system call, in the calling task's context.
#[export]
pub unsafe extern "C" fn aio_rs_setup(
    nr_events: c_uint,
    ctxp: *mut c_void,
    compat: bool,
) -> c_long {
    to_ret(setup(nr_events, UserPtr::from_ptr(ctxp), compat).map(|()| 0))
}

/// `io_destroy`.
///
/// # Safety
///
/// Called from the system call, in the calling task's context.
#[export]
pub unsafe extern "C" fn aio_rs_destroy(ctx_id: c_ulong) -> c_long {
    to_ret(destroy(ctx_id).map(|()| 0))
}

/// `io_submit`; `iocbpp` is an array of 32-bit pointers if `compat`.
///
/// # Safety
///
/// Called from the system call, in the calling task's context.
#[export]
pub unsafe extern "C" fn aio_rs_submit(
    ctx_id: c_ulong,
    nr: c_long,
    iocbpp: *mut c_void,
    compat: bool,
) -> c_long {
    to_ret(submit::submit(
        ctx_id,
        nr,
        UserPtr::from_ptr(iocbpp),
        compat,
    ))
}

/// `io_cancel`.
///
/// # Safety
///
/// Called from the system call, in the calling task's context.
#[export]
pub unsafe extern "C" fn aio_rs_cancel(ctx_id: c_ulong, iocb: *mut bindings::iocb) -> c_long {
    to_ret(cancel(ctx_id, UserPtr::from_ptr(iocb.cast())).map(|()| 0))
}

/// The core of `io_getevents` and `io_pgetevents`: `until` is the relative
/// timeout in ns, `KTIME_MAX` for none.
///
/// # Safety
///
/// Called from the system call, in the calling task's context.
#[export]
pub unsafe extern "C" fn aio_rs_getevents(
    ctx_id: c_ulong,
    min_nr: c_long,
    nr: c_long,
    events: *mut bindings::io_event,
    until: bindings::ktime_t,
) -> c_long {
    to_ret(getevents::getevents(
        ctx_id,
        min_nr,
        nr,
        UserPtr::from_ptr(events.cast()),
        until,
    ))
}

/// `kiocb_set_cancel_fn`: a driver makes one of our reads or writes
/// cancellable.  Other kiocbs are ignored, as in fs/aio.c.
///
/// # Safety
///
/// `kiocb` is a valid kiocb whose `ki_complete` has not run yet.
#[export]
pub unsafe extern "C" fn aio_rs_set_cancel_fn(
    kiocb: *mut bindings::kiocb,
    cancel: bindings::kiocb_cancel_fn,
) {
    // SAFETY: As documented.
    unsafe { rw::set_driver_cancel(kiocb, cancel) };
}

/// `vm_ops->mremap` of a ring mapping: the context id follows the ring.
///
/// # Safety
///
/// `mm` is the valid mm of the VMA being moved, and `file` its file.
#[export]
pub unsafe extern "C" fn aio_rs_ring_mremap(
    mm: *mut bindings::mm_struct,
    file: *mut bindings::file,
    start: c_ulong,
    len: c_ulong,
) -> c_int {
    // SAFETY: As documented.
    match unsafe { table::ring_mremap(mm, file, start, len) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `exit_aio`: the last user of `mm` is gone.
///
/// # Safety
///
/// `mm` is a valid mm whose last user is gone; it is called once per mm.
#[export]
pub unsafe extern "C" fn aio_rs_exit_mm(mm: *mut bindings::mm_struct) {
    // SAFETY: As documented.
    unsafe { table::exit_mm(mm) };
}
