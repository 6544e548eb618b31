// SPDX-License-Identifier: GPL-2.0

//! Native asynchronous I/O (`io_setup`, `io_destroy`, `io_submit`,
//! `io_cancel`, `io_getevents`, `io_pgetevents`) in Rust.
//!
//! This file holds the context ([`Kioctx`]), the per-mm context table and
//! the system call entry points called by the C glue (`aio_glue.c`).  Every
//! user-visible behaviour follows fs/aio.c, errno for errno; see README.md
//! for the places where we deliberately differ.

use core::pin::Pin;
use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong};
use kernel::fs::file::LocalFile;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use kernel::sync::{new_mutex, new_spinlock, Arc, Mutex, SpinLock};
use kernel::task::Task;
use kernel::uaccess::{UserPtr, UserSlice};

mod abi;
mod accounting;
mod ffi;
mod ring;
mod ring_index;
mod wait;

use abi::{Iocb, IOCB_FLAG_RESFD, IOCB_KEY_OFFSET};
use ring::Ring;
use ring_index::{GeometryError, RingGeometry};
use wait::EventWaitQueue;

/// `KIOCB_KEY`: what `io_submit` stores in `iocb->aio_key`.
const KIOCB_KEY: u32 = 0;

/// An AIO context: the ring, its sleepers and its slot accounting.
///
/// # Invariants
///
/// While the context is in its mm's table, `dead` is false and `user_id`
/// is the address of the ring mapping that user space knows it by.
#[pin_data]
pub(crate) struct Kioctx {
    ring: Ring,
    /// What `io_setup` was asked for, as charged to `aio-nr`.
    max_reqs: u32,
    /// Ring slots that no request holds yet (one slot always stays empty).
    reqs_available: Atomic<i32>,
    /// The context id: the user address of the ring mapping.
    user_id: Atomic<usize>,
    /// Where the ring is mapped, and how long; size 0 means nothing to
    /// unmap (the mm is going away).
    mmap_base: Atomic<usize>,
    mmap_size: Atomic<usize>,
    dead: Atomic<bool>,
    /// Serialises the kernel-side consumers of the ring (`io_getevents`).
    #[pin]
    ring_lock: Mutex<()>,
    #[pin]
    wait: EventWaitQueue,
}

impl Kioctx {
    fn new(max_reqs: u32, geometry: &RingGeometry) -> Result<Arc<Self>> {
        let ring = Ring::new(geometry)?;
        Arc::pin_init(
            try_pin_init!(Self {
                reqs_available: Atomic::new(geometry.max_in_flight() as i32),
                ring,
                max_reqs,
                user_id: Atomic::new(0),
                mmap_base: Atomic::new(0),
                mmap_size: Atomic::new(0),
                dead: Atomic::new(false),
                ring_lock <- new_mutex!((), "Kioctx::ring_lock"),
                wait <- EventWaitQueue::new(c"Kioctx::wait", kernel::static_lock_class!()),
            }? Error),
            GFP_KERNEL,
        )
    }

    fn nr_events(&self) -> u32 {
        self.ring.nr_events()
    }

    /// Takes one ring slot for a new request; `false` if the ring is full.
    fn get_req_slot(&self) -> bool {
        let mut avail = self.reqs_available.load(Relaxed);
        while avail > 0 {
            match self.reqs_available.cmpxchg(avail, avail - 1, Acquire) {
                Ok(_) => return true,
                Err(seen) => avail = seen,
            }
        }
        false
    }

    /// Returns `nr` slots taken by [`Self::get_req_slot`].
    fn put_req_slots(&self, nr: i32) {
        self.reqs_available.fetch_add(nr, Release);
    }

    /// fs/aio.c's `aio_read_events`: reads events into `events[*got..nr]`
    /// and says whether the caller should stop waiting.  `*got` counts the
    /// events read so far; if none were, it becomes the negative errno of a
    /// failure (a fault, or the context's death).
    fn read_events(&self, min_nr: usize, nr: usize, events: UserPtr, got: &mut isize) -> bool {
        let done = *got as usize;
        let copied = {
            let _guard = self.ring_lock.lock();
            self.ring.copy_out(
                events.wrapping_byte_add(done * ring_index::EVENT_SIZE),
                nr - done,
            )
        };
        let mut ret = match copied {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        };
        if ret > 0 {
            *got += ret;
        }
        if self.dead.load(Relaxed) {
            ret = EINVAL.to_errno() as isize;
        }
        if *got == 0 {
            *got = ret;
        }
        ret < 0 || *got >= min_nr as isize
    }

    /// fs/aio.c's `read_events`: waits until `min_nr` events were read, the
    /// relative timeout `until_ns` passed, a signal arrived or the context
    /// died.  Returns the number of events read.
    fn get_events(
        &self,
        min_nr: usize,
        nr: usize,
        events: UserPtr,
        until_ns: i64,
    ) -> Result<usize> {
        let mut got = 0;
        if !self.read_events(min_nr, nr, events, &mut got) && until_ns != 0 {
            let deadline = wait::deadline_after(until_ns);
            // However the wait ends, `got` says what was read; a pending
            // signal turns 0 into EINTR in the system call.
            let _ = self.wait.wait(
                deadline,
                || self.ring.has_events() || self.dead.load(Relaxed),
                || self.read_events(min_nr, nr, events, &mut got),
            );
        }
        if got < 0 {
            return Err(Error::from_errno(got as i32));
        }
        Ok(got as usize)
    }
}

/// The AIO contexts of one mm, hung off `mm->ioctx_table`.
///
/// A context's index in `table` is its `ring->id`, which `lookup` reads back
/// from the ring; freed indices are reused lowest first, as in fs/aio.c.
#[pin_data]
struct MmContexts {
    #[pin]
    inner: SpinLock<MmContextsInner>,
}

struct MmContextsInner {
    table: KVec<Option<Arc<Kioctx>>>,
}

/// Pointer to the `ioctx_table` field of `mm`, which holds our
/// `MmContexts`.
///
/// # Safety
///
/// `mm` must be a valid mm.
unsafe fn mm_table_slot<'a>(mm: *mut bindings::mm_struct) -> &'a Atomic<*mut MmContexts> {
    // The field is an aligned pointer that lives as long as the mm; fork's
    // `mm_init` initialises it before the mm is shared.
    // SAFETY: `mm` is valid (caller); we only ever access the field atomically.
    let field = unsafe { core::ptr::addr_of_mut!((*mm).__bindgen_anon_1.ioctx_table) };
    // SAFETY: As above.
    unsafe { Atomic::from_ptr(field.cast::<*mut MmContexts>()) }
}

/// The current task's mm.
fn current_mm() -> Result<*mut bindings::mm_struct> {
    // SAFETY: `current` is valid in syscall context; its mm cannot change
    // under a running task.
    let mm = unsafe { (*Task::current_raw()).mm };
    if mm.is_null() {
        return Err(EINVAL);
    }
    Ok(mm)
}

/// Returns the table of `mm`, creating it on first use.
///
/// # Safety
///
/// `mm` must be the caller's own mm (so it outlives the returned reference
/// until the caller returns to user space).
unsafe fn mm_contexts<'a>(mm: *mut bindings::mm_struct) -> Result<&'a MmContexts> {
    // SAFETY: `mm` is valid (caller).
    let slot = unsafe { mm_table_slot(mm) };
    let cur = slot.load(Acquire);
    if !cur.is_null() {
        // SAFETY: A non-null pointer in the slot is a leaked `MmContexts`
        // that lives until `exit_mm` runs, after the last user of the mm.
        return Ok(unsafe { &*cur });
    }
    let new = KBox::pin_init(
        pin_init!(MmContexts {
            inner <- new_spinlock!(MmContextsInner { table: KVec::new() }, "MmContexts::inner"),
        }),
        GFP_KERNEL,
    )?;
    // SAFETY: The box is only ever used pinned, through the raw pointer.
    let new = KBox::into_raw(unsafe { Pin::into_inner_unchecked(new) });
    match slot.cmpxchg(core::ptr::null_mut(), new, Release) {
        // SAFETY: We just published our own valid pointer.
        Ok(_) => Ok(unsafe { &*new }),
        Err(other) => {
            // SAFETY: `new` came from `KBox::into_raw` and was never published.
            drop(unsafe { KBox::from_raw(new) });
            // SAFETY: `other` was published by another task, as above.
            Ok(unsafe { &*other })
        }
    }
}

impl MmContexts {
    /// Adds `ctx` at the lowest free index and returns that index.
    fn insert(&self, ctx: &Arc<Kioctx>) -> Result<u32> {
        loop {
            let want = {
                let mut inner = self.inner.lock();
                let table = &mut inner.table;
                if let Some(i) = table.iter().position(|e| e.is_none()) {
                    table[i] = Some(ctx.clone());
                    return Ok(i as u32);
                }
                if table.len() < table.capacity() {
                    // Cannot fail: there is room.
                    let _ = table.push_within_capacity(Some(ctx.clone()));
                    return Ok((table.len() - 1) as u32);
                }
                (table.capacity() * 4).max(4)
            };
            // Grow outside the lock, then move the entries over.
            let mut bigger = KVec::with_capacity(want, GFP_KERNEL)?;
            let mut inner = self.inner.lock();
            if inner.table.capacity() < want {
                for e in inner.table.drain_all() {
                    // Cannot fail: `bigger` has room for all of them.
                    let _ = bigger.push_within_capacity(e);
                }
                inner.table = bigger;
            }
        }
    }

    /// The live context known to user space as `ctx_id` at table index `id`.
    fn get(&self, id: u32, ctx_id: usize) -> Option<Arc<Kioctx>> {
        let inner = self.inner.lock();
        match inner.table.get(id as usize) {
            Some(Some(ctx)) if ctx.user_id.load(Relaxed) == ctx_id => Some(ctx.clone()),
            _ => None,
        }
    }

    /// Removes `ctx` (at `id`) and marks it dead; `EINVAL` if it already was.
    fn remove(&self, ctx: &Arc<Kioctx>) -> Result<()> {
        let mut inner = self.inner.lock();
        if ctx.dead.xchg(true, Relaxed) {
            return Err(EINVAL);
        }
        if let Some(e) = inner
            .table
            .iter_mut()
            .find(|e| e.as_ref().is_some_and(|c| Arc::ptr_eq(c, ctx)))
        {
            *e = None;
        }
        Ok(())
    }
}

/// Finds the live context `ctx_id` of the current process, as fs/aio.c's
/// `lookup_ioctx`: the table index comes from the ring header in user memory.
fn lookup(ctx_id: usize) -> Option<Arc<Kioctx>> {
    let id = UserSlice::new(UserPtr::from_addr(ctx_id), 4)
        .reader()
        .read::<u32>()
        .ok()?;
    let mm = current_mm().ok()?;
    // SAFETY: `mm` is the caller's own mm.
    let table = unsafe { mm_table_slot(mm) }.load(Acquire);
    if table.is_null() {
        return None;
    }
    // SAFETY: The table lives until `exit_mm`, which cannot run while a task
    // of the mm is in a system call.
    unsafe { &*table }.get(id, ctx_id)
}

/// `kill_ioctx`: takes `ctx` out of `mm`'s table, wakes its sleepers, returns
/// its accounting and unmaps its ring (unless the mm is going away).
fn kill(contexts: &MmContexts, ctx: &Arc<Kioctx>) -> Result<()> {
    contexts.remove(ctx)?;
    ctx.wait.wake_all();
    accounting::uncharge(ctx.max_reqs);
    let size = ctx.mmap_size.load(Relaxed);
    if size != 0 {
        // Unmapping something else that user space mapped there is what
        // fs/aio.c does too; the ring memory itself stays valid.
        // SAFETY: Called from a task of the context's own mm.
        unsafe { bindings::vm_munmap(ctx.mmap_base.load(Relaxed) as c_ulong, size) };
    }
    Ok(())
}

fn setup(nr_events: u32, ctxp: UserPtr, compat: bool) -> Result<()> {
    let ctx_size = if compat { 4 } else { 8 };
    let mut reader = UserSlice::new(ctxp, ctx_size).reader();
    let old = if compat {
        u64::from(reader.read::<u32>()?)
    } else {
        reader.read::<u64>()?
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

    let mm = current_mm()?;
    let ctx = Kioctx::new(nr_events, &geometry)?;
    let base = ctx.ring.map().map_err(|_| ENOMEM)?;
    ctx.mmap_base.store(base, Relaxed);
    ctx.mmap_size.store(ctx.ring.size(), Relaxed);
    ctx.user_id.store(base, Relaxed);

    let unmap = |ctx: &Kioctx| {
        // SAFETY: The ring was mapped into our own mm just above.
        unsafe { bindings::vm_munmap(base as c_ulong, ctx.ring.size()) };
    };
    if let Err(e) = accounting::charge(nr_events) {
        unmap(&ctx);
        return Err(e);
    }
    // SAFETY: `mm` is our own mm.
    let contexts = match unsafe { mm_contexts(mm) } {
        Ok(c) => c,
        Err(e) => {
            accounting::uncharge(nr_events);
            unmap(&ctx);
            return Err(e);
        }
    };
    let id = match contexts.insert(&ctx) {
        Ok(id) => id,
        Err(e) => {
            accounting::uncharge(nr_events);
            unmap(&ctx);
            return Err(e);
        }
    };
    ctx.ring.set_id(id);

    let mut writer = UserSlice::new(ctxp, ctx_size).writer();
    let res = if compat {
        // Truncating is fine: it is a 32-bit process's address.
        writer.write(&(base as u32))
    } else {
        writer.write(&(base as u64))
    };
    if let Err(e) = res {
        let _ = kill(contexts, &ctx);
        return Err(e);
    }
    Ok(())
}

fn destroy(ctx_id: usize) -> Result<()> {
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    let mm = current_mm()?;
    // SAFETY: `lookup` found the context, so our mm has a table.
    let contexts = unsafe { mm_contexts(mm) }?;
    kill(contexts, &ctx)
}

fn submit_one(ctx: &Kioctx, user_iocb: UserPtr) -> Result<()> {
    let iocb: Iocb = UserSlice::new(user_iocb, core::mem::size_of::<Iocb>())
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
    if !ctx.get_req_slot() {
        return Err(EAGAIN);
    }
    let res = prepare_and_issue(&iocb, user_iocb);
    if res.is_err() {
        ctx.put_req_slots(1);
    }
    res
}

/// Owns an eventfd context reference from `eventfd_ctx_fdget`.
struct EventFd(*mut bindings::eventfd_ctx);

impl EventFd {
    fn get(fd: u32) -> Result<Self> {
        // SAFETY: No preconditions; returns a reference or an `ERR_PTR`.
        let ctx = unsafe { bindings::eventfd_ctx_fdget(fd as c_int) };
        Ok(Self(kernel::error::from_err_ptr(ctx)?))
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::eventfd_ctx_put(self.0) };
    }
}

/// `__io_submit_one`: the per-request checks, in fs/aio.c's order.
fn prepare_and_issue(iocb: &Iocb, user_iocb: UserPtr) -> Result<()> {
    let _file: ARef<LocalFile> = LocalFile::fget(iocb.aio_fildes).map_err(|_| EBADF)?;
    let _eventfd = if iocb.aio_flags & IOCB_FLAG_RESFD != 0 {
        Some(EventFd::get(iocb.aio_resfd)?)
    } else {
        None
    };
    UserSlice::new(user_iocb.wrapping_byte_add(IOCB_KEY_OFFSET), 4)
        .writer()
        .write(&KIOCB_KEY)?;
    // No opcode is served yet: reads, writes and fsync arrive with the data
    // path.  EINVAL is fs/aio.c's answer to an opcode it does not know.
    Err(EINVAL)
}

fn submit(ctx_id: usize, nr: c_long, iocbpp: UserPtr, compat: bool) -> Result<usize> {
    if nr < 0 {
        return Err(EINVAL);
    }
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    let nr = (nr as u64).min(u64::from(ctx.nr_events())) as usize;
    let ptr_size = if compat { 4 } else { 8 };
    let mut ret = Ok(());
    let mut i = 0;
    while i < nr {
        let mut reader = UserSlice::new(iocbpp.wrapping_byte_add(i * ptr_size), ptr_size).reader();
        let user_iocb = if compat {
            reader.read::<u32>().map(|p| p as usize)
        } else {
            reader.read::<u64>().map(|p| p as usize)
        };
        let user_iocb = match user_iocb {
            Ok(p) => p,
            Err(_) => {
                ret = Err(EFAULT);
                break;
            }
        };
        if let Err(e) = submit_one(&ctx, UserPtr::from_addr(user_iocb)) {
            ret = Err(e);
            break;
        }
        i += 1;
    }
    if i > 0 {
        Ok(i)
    } else {
        ret.map(|()| 0)
    }
}

fn cancel(ctx_id: usize, user_iocb: UserPtr) -> Result<()> {
    let key: u32 = UserSlice::new(user_iocb.wrapping_byte_add(IOCB_KEY_OFFSET), 4)
        .reader()
        .read()?;
    if key != KIOCB_KEY {
        return Err(EINVAL);
    }
    let _ctx = lookup(ctx_id).ok_or(EINVAL)?;
    // Only cancellable requests can be found, and none exists yet.
    Err(EINVAL)
}

fn getevents(
    ctx_id: usize,
    min_nr: c_long,
    nr: c_long,
    events: UserPtr,
    until: i64,
) -> Result<usize> {
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    if min_nr > nr || min_nr < 0 {
        return Err(EINVAL);
    }
    ctx.get_events(min_nr as usize, nr as usize, events, until)
}

fn to_ret(res: Result<usize>) -> c_long {
    match res {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `io_setup`; `ctxp` points to a `u32` if `compat`, else to a `u64`.
#[no_mangle]
pub extern "C" fn aio_rs_setup(
    nr_events: c_uint,
    ctxp: *mut kernel::ffi::c_void,
    compat: bool,
) -> c_long {
    to_ret(setup(nr_events, UserPtr::from_ptr(ctxp), compat).map(|()| 0))
}

/// `io_destroy`.
#[no_mangle]
pub extern "C" fn aio_rs_destroy(ctx_id: c_ulong) -> c_long {
    to_ret(destroy(ctx_id).map(|()| 0))
}

/// `io_submit`; `iocbpp` is an array of 32-bit pointers if `compat`.
#[no_mangle]
pub extern "C" fn aio_rs_submit(
    ctx_id: c_ulong,
    nr: c_long,
    iocbpp: *mut kernel::ffi::c_void,
    compat: bool,
) -> c_long {
    to_ret(submit(ctx_id, nr, UserPtr::from_ptr(iocbpp), compat))
}

/// `io_cancel`.
#[no_mangle]
pub extern "C" fn aio_rs_cancel(ctx_id: c_ulong, iocb: *mut bindings::iocb) -> c_long {
    to_ret(cancel(ctx_id, UserPtr::from_ptr(iocb.cast())).map(|()| 0))
}

/// The core of `io_getevents` and `io_pgetevents`: `until` is the relative
/// timeout in ns, `KTIME_MAX` for none.
#[no_mangle]
pub extern "C" fn aio_rs_getevents(
    ctx_id: c_ulong,
    min_nr: c_long,
    nr: c_long,
    events: *mut bindings::io_event,
    until: bindings::ktime_t,
) -> c_long {
    to_ret(getevents(
        ctx_id,
        min_nr,
        nr,
        UserPtr::from_ptr(events.cast()),
        until,
    ))
}

/// `vm_ops->mremap` of a ring mapping: the context id follows the ring.
///
/// # Safety
///
/// `mm` is the valid mm of the VMA being moved, and `file` its file.
#[no_mangle]
pub unsafe extern "C" fn aio_rs_ring_mremap(
    mm: *mut bindings::mm_struct,
    file: *mut bindings::file,
    start: c_ulong,
    len: c_ulong,
) -> c_int {
    // SAFETY: The mm of a VMA being moved is valid and has users.
    let table = unsafe { mm_table_slot(mm) }.load(Acquire);
    if table.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: As in `lookup`: the mm is alive, so its table is.
    let inner = unsafe { &*table }.inner.lock();
    for ctx in inner.table.iter().flatten() {
        if ctx.ring.file() == file {
            if !ctx.dead.load(Relaxed) && ctx.mmap_size.load(Relaxed) == len {
                ctx.mmap_base.store(start, Relaxed);
                ctx.user_id.store(start, Relaxed);
                return 0;
            }
            break;
        }
    }
    EINVAL.to_errno()
}

/// `exit_aio`: the last user of `mm` is gone; kill every context.  No
/// unmapping: `exit_mmap` is about to tear the whole address space down.
///
/// # Safety
///
/// `mm` is a valid mm whose last user is gone; it is called once per mm.
#[no_mangle]
pub unsafe extern "C" fn aio_rs_exit_mm(mm: *mut bindings::mm_struct) {
    // SAFETY: The mm is valid while it is being torn down.
    let slot = unsafe { mm_table_slot(mm) };
    let table = slot.xchg(core::ptr::null_mut(), Acquire);
    if table.is_null() {
        return;
    }
    // SAFETY: The pointer came from `KBox::into_raw` in `mm_contexts`, and
    // nobody else can reach it any more: the mm has no users.
    let contexts = unsafe { KBox::from_raw(table) };
    let table = core::mem::replace(&mut contexts.inner.lock().table, KVec::new());
    for ctx in table.into_iter().flatten() {
        ctx.mmap_size.store(0, Relaxed);
        let _ = kill(&contexts, &ctx);
    }
}
