// SPDX-License-Identifier: GPL-2.0

//! `io_submit` (fs/aio.c's `io_submit` and `io_submit_one`): the iocbs are
//! read and submitted one by one; a partial submission returns how many
//! were queued, an error only if the first one failed.

use crate::abi::{Iocb, IOCB_FLAG_RESFD, IOCB_KEY_OFFSET, KIOCB_KEY};
use crate::context::{InflightRef, Kioctx};
use crate::kiocb::{AioKiocb, Op, UninitKiocb};
use crate::table::lookup;
use kernel::bindings;
use kernel::eventfd::EventFdCtx;
use kernel::ffi::c_long;
use kernel::fs::LocalFile;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;
use kernel::uaccess::{UserPtr, UserSlice};

/// fs/aio.c's `AIO_PLUG_THRESHOLD`.
const AIO_PLUG_THRESHOLD: usize = 2;

/// A block-layer plug for a batch (fs/aio.c plugs batches of more than
/// `AIO_PLUG_THRESHOLD` = 2 iocbs), finished when dropped.
///
/// # Invariants
///
/// If `active`, `plug` was started by this task with `blk_start_plug` and
/// stays in place until dropped.
#[pin_data(PinnedDrop)]
struct Plug {
    #[pin]
    plug: Opaque<bindings::blk_plug>,
    active: bool,
}

impl Plug {
    /// Plugs if `nr` iocbs are worth it.
    fn start(nr: usize) -> impl PinInit<Self> {
        let active = nr > AIO_PLUG_THRESHOLD;
        pin_init!(Self {
            plug <- Opaque::ffi_init(move |p| {
                if active {
                    // SAFETY: `p` is the plug's final place; `drop` finishes it.
                    unsafe { bindings::blk_start_plug(p) }
                }
            }),
            active,
        })
    }
}

#[pinned_drop]
impl PinnedDrop for Plug {
    fn drop(self: Pin<&mut Self>) {
        if self.active {
            // SAFETY: Started by this task, in place (type invariant).
            unsafe { bindings::blk_finish_plug(self.plug.get()) };
        }
    }
}

/// `io_submit`.
pub(crate) fn submit(ctx_id: usize, nr: c_long, iocbpp: UserPtr, compat: bool) -> Result<usize> {
    if nr < 0 {
        return Err(EINVAL);
    }
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    // Like fs/aio.c's `users` reference: io_destroy waits for this call.
    let busy = ctx.start_submit().ok_or(EINVAL)?;
    let nr = (nr as u64).min(u64::from(ctx.nr_events())) as usize;
    let ptr_size = if compat { 4 } else { 8 };
    let mut ret = Ok(());
    let mut i = 0;
    {
        pin_init::stack_pin_init!(let _plug = Plug::start(nr));
        while i < nr {
            let mut reader =
                UserSlice::new(iocbpp.wrapping_byte_add(i * ptr_size), ptr_size).reader();
            let user_iocb = if compat {
                reader.read::<u32>().map(|p| p as usize)
            } else {
                reader.read::<u64>().map(|p| p as usize)
            };
            let Ok(user_iocb) = user_iocb else {
                ret = Err(EFAULT);
                break;
            };
            if let Err(e) = submit_one(&ctx, user_iocb, compat) {
                ret = Err(e);
                break;
            }
            i += 1;
        }
    }
    // A driver may have linked a request for cancellation while io_destroy
    // was already cancelling (fs/aio.c cancels once the last submitter is
    // gone): cancel those now.
    if ctx.is_dead() {
        ctx.cancel_list().cancel_all(false);
    }
    drop(busy);
    if i > 0 {
        Ok(i)
    } else {
        ret.map(|()| 0)
    }
}

/// fs/aio.c's `io_submit_one`: copies and checks the iocb, then submits it.
fn submit_one(ctx: &Arc<Kioctx>, user_iocb: usize, compat: bool) -> Result {
    let iocb: Iocb = UserSlice::new(UserPtr::from_addr(user_iocb), core::mem::size_of::<Iocb>())
        .reader()
        .read()?;
    if iocb.aio_reserved2 != 0 {
        return Err(EINVAL);
    }
    // fs/aio.c's overflow checks; on 64-bit only the signed size can fail.
    if iocb.aio_buf as usize as u64 != iocb.aio_buf
        || iocb.aio_nbytes as usize as u64 != iocb.aio_nbytes
        || (iocb.aio_nbytes as isize) < 0
    {
        return Err(EINVAL);
    }
    // `aio_get_req`: the request first, then its ring slot.
    let slot = AioKiocb::alloc()?;
    if !ctx.get_req_slot() {
        return Err(EAGAIN);
    }
    let res = submit_request(ctx, slot, &iocb, user_iocb, compat);
    if res.is_err() {
        ctx.put_req_slot();
    }
    res
}

/// fs/aio.c's `__io_submit_one`: every check in C's order, then the
/// operation.  On error nothing was started and no event will be posted.
fn submit_request(
    ctx: &Arc<Kioctx>,
    slot: UninitKiocb,
    iocb: &Iocb,
    user_iocb: usize,
    compat: bool,
) -> Result {
    let file = LocalFile::fget(iocb.aio_fildes)?;
    // SAFETY: `io_submit` holds no `fdget_pos` on any file.
    let file = unsafe { LocalFile::assume_no_fdget_pos(file) };
    let eventfd = if iocb.aio_flags & IOCB_FLAG_RESFD != 0 {
        Some(EventFdCtx::fdget(iocb.aio_resfd)?)
    } else {
        None
    };
    UserSlice::new(UserPtr::from_addr(user_iocb + IOCB_KEY_OFFSET), 4)
        .writer()
        .write(&KIOCB_KEY)?;
    let op = Op::from_opcode(iocb.aio_lio_opcode)?;
    let inflight: InflightRef = ctx.get_inflight().ok_or(EINVAL)?;
    let req = slot.pin_init_with(AioKiocb::new(
        inflight,
        file,
        eventfd,
        iocb,
        user_iocb as u64,
        op,
        compat,
    ))?;
    AioKiocb::issue(req.into())
}
