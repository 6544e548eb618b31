// SPDX-License-Identifier: GPL-2.0

//! `io_submit` (fs/aio.c's `io_submit` and `io_submit_one`): the iocbs are
//! read and submitted one by one; a partial submission returns how many
//! were queued, an error only if the first one failed.  Their pointers are
//! read a batch of up to 16 at a time (fs/aio.c: one `get_user` each; so
//! does a batch of one).  The requests that complete before `io_submit`
//! returns post their events together (`batch.rs`).

use crate::abi::{Iocb, IOCB_FLAG_RESFD, IOCB_KEY_OFFSET, KIOCB_KEY};
use crate::batch::SubmitBatch;
use crate::context::InflightRef;
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

/// Iocb pointers read from user space in one copy.
const PTR_BATCH: usize = 16;

/// Reads the iocb pointers `first..first + out.len()` of the array at
/// `iocbpp` into `out`: in one copy, or, if that faults, one at a time up to
/// the first that faults, so that the iocbs before it are submitted as in
/// fs/aio.c.  Returns how many were read.
fn read_iocb_ptrs(iocbpp: UserPtr, first: usize, out: &mut [usize], compat: bool) -> usize {
    let ptr_size = if compat { 4 } else { 8 };
    let start = iocbpp.wrapping_byte_add(first * ptr_size);
    if let [ptr] = out {
        // One pointer: one `get_user`, as fs/aio.c reads each.
        let one = if compat {
            start.get_u32().map(|p| p as usize)
        } else {
            start.get_u64().map(|p| p as usize)
        };
        return one.map(|p| *ptr = p).map_or(0, |()| 1);
    }
    let mut bytes = [0u8; PTR_BATCH * 8];
    let bytes = &mut bytes[..out.len() * ptr_size];
    let read = if UserSlice::new(start, bytes.len())
        .reader()
        .read_slice(bytes)
        .is_ok()
    {
        out.len()
    } else {
        (0..out.len())
            .take_while(|&i| {
                let one = &mut bytes[i * ptr_size..(i + 1) * ptr_size];
                UserSlice::new(start.wrapping_byte_add(i * ptr_size), ptr_size)
                    .reader()
                    .read_slice(one)
                    .is_ok()
            })
            .count()
    };
    for (ptr, raw) in out.iter_mut().zip(bytes.chunks_exact(ptr_size)).take(read) {
        *ptr = match raw.try_into() {
            Ok(raw) => u32::from_ne_bytes(raw) as usize,
            Err(_) => {
                // Not 4 bytes: 8 (`chunks_exact`).
                let mut wide = [0u8; 8];
                wide.copy_from_slice(raw);
                u64::from_ne_bytes(wide) as usize
            }
        };
    }
    read
}

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

    /// Issues what the plug holds so far, and plugs again: the requests of
    /// a batch about to be posted get their chance to complete first.
    fn flush(&self) {
        if self.active {
            // SAFETY: Started by this task, in place (type invariant); started
            // again right away, so the invariant holds on.
            unsafe {
                bindings::blk_finish_plug(self.plug.get());
                bindings::blk_start_plug(self.plug.get());
            }
        }
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
    // Like fs/aio.c's `users` reference: io_destroy waits for this call.
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    let nr = (nr as u64).min(u64::from(ctx.nr_events())) as usize;
    let mut ret = Ok(());
    let mut i = 0;
    {
        // Dropped in place at the end of the block (a move would copy it).
        let mut batch = SubmitBatch::new(&ctx);
        {
            pin_init::stack_pin_init!(let plug = Plug::start(nr));
            let mut ptrs = [0usize; PTR_BATCH];
            'batches: while i < nr {
                let want = (nr - i).min(PTR_BATCH);
                let read = read_iocb_ptrs(iocbpp, i, &mut ptrs[..want], compat);
                for &user_iocb in &ptrs[..read] {
                    if batch.is_full() {
                        plug.flush();
                        batch.post();
                    }
                    match submit_one(&ctx, user_iocb, compat, &mut batch) {
                        Ok(req) => batch.hold(req),
                        Err(e) => {
                            ret = Err(e);
                            break 'batches;
                        }
                    }
                    i += 1;
                }
                if read < want {
                    ret = Err(EFAULT);
                    break;
                }
            }
        }
        // After the plug's I/O was issued: what completed is posted now.
        batch.post();
    }
    // A driver may have linked a request for cancellation while io_destroy
    // was already cancelling (fs/aio.c cancels once the last submitter is
    // gone): cancel those now.
    if ctx.is_dead() {
        ctx.cancel_list().cancel_all(false);
    }
    drop(ctx);
    if i > 0 {
        Ok(i)
    } else {
        ret.map(|()| 0)
    }
}

/// fs/aio.c's `io_submit_one`: copies and checks the iocb, then submits it.
/// Returns the submitter's reference to the request.
fn submit_one(
    ctx: &InflightRef,
    user_iocb: usize,
    compat: bool,
    batch: &mut SubmitBatch<'_>,
) -> Result<Arc<AioKiocb>> {
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
    let res = submit_request(ctx, slot, &iocb, user_iocb, compat, batch);
    if res.is_err() {
        ctx.put_req_slot();
    }
    res
}

/// fs/aio.c's `__io_submit_one`: every check in C's order, then the
/// operation.  On error nothing was started and no event will be posted;
/// else the submitter's reference to the request comes back.
fn submit_request(
    ctx: &InflightRef,
    slot: UninitKiocb,
    iocb: &Iocb,
    user_iocb: usize,
    compat: bool,
    batch: &mut SubmitBatch<'_>,
) -> Result<Arc<AioKiocb>> {
    let file = LocalFile::fget(iocb.aio_fildes)?;
    // SAFETY: `io_submit` holds no `fdget_pos` on any file.
    let file = unsafe { LocalFile::assume_no_fdget_pos(file) };
    let eventfd = if iocb.aio_flags & IOCB_FLAG_RESFD != 0 {
        Some(EventFdCtx::fdget(iocb.aio_resfd)?)
    } else {
        None
    };
    // `put_user`, as fs/aio.c.
    UserPtr::from_addr(user_iocb.wrapping_add(IOCB_KEY_OFFSET)).put_u32(KIOCB_KEY)?;
    let op = Op::from_opcode(iocb.aio_lio_opcode)?;
    let req: Arc<AioKiocb> = slot
        .pin_init_with(AioKiocb::new(
            ctx.clone(),
            file,
            eventfd,
            iocb,
            user_iocb as u64,
            op,
            compat,
        ))?
        .into();
    AioKiocb::issue(&req, batch)?;
    Ok(req)
}
