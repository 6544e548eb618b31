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
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use kernel::sync::{
    new_mutex, new_spinlock, new_spinlock_irq, Arc, Completion, Mutex, SpinLock, SpinLockIrq,
};
use kernel::task::Task;
use kernel::uaccess::{UserPtr, UserSlice};

mod abi;
mod accounting;
mod cancel;
mod ffi;
mod kiocb;
mod poll;
mod poll_refs;
mod ring;
mod ring_index;
mod slots;
mod waitbit;

use abi::{IoEvent, Iocb, IOCB_KEY_OFFSET};
use cancel::CancelList;
use core::cell::Cell;
use ring::Ring;
use ring_index::{events_available, GeometryError, RingGeometry};
use slots::ReqSlots;
use waitbit::EventWaitQueue;

/// The prefix of our `pr_*` messages (a built-in crate has no `module!`).
const __LOG_PREFIX: &[u8] = b"aio\0";

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
    slots: ReqSlots,
    /// The context id: the user address of the ring mapping.
    user_id: Atomic<usize>,
    /// The index in the mm's table (`ring->id`), once inserted.
    id: Atomic<u32>,
    /// Where the ring is mapped, and how long; size 0 means nothing to
    /// unmap (the mm is going away).
    mmap_base: Atomic<usize>,
    mmap_size: Atomic<usize>,
    dead: Atomic<bool>,
    /// What keeps `io_destroy` (and `exit_aio`) waiting: one reference for
    /// the live context, one per `io_submit` in progress and one per
    /// request.  When it drops to zero, `idle` completes.
    inflight: Atomic<usize>,
    #[pin]
    idle: Completion,
    /// Serialises the kernel-side consumers of the ring (`io_getevents`).
    #[pin]
    ring_lock: Mutex<()>,
    /// The producer side of the ring, taken from any context.
    #[pin]
    completion: SpinLockIrq<CompletionState>,
    #[pin]
    wait: EventWaitQueue,
    /// The requests `io_cancel` can reach.
    #[pin]
    cancel: CancelList,
}

/// The producer side of the ring.
struct CompletionState {
    /// The trusted copy of `ring->tail`: where the next event goes.
    tail: u32,
    /// Events posted whose slots have not been given back to
    /// `reqs_available` yet (they may still sit in the ring).
    completed_events: u32,
}

impl Kioctx {
    fn new(max_reqs: u32, geometry: &RingGeometry, cpus: u32) -> Result<Arc<Self>> {
        let ring = Ring::new(geometry)?;
        let slots = ReqSlots::new(geometry.max_in_flight(), cpus)?;
        Arc::pin_init(
            try_pin_init!(Self {
                slots,
                ring,
                max_reqs,
                user_id: Atomic::new(0),
                id: Atomic::new(u32::MAX),
                mmap_base: Atomic::new(0),
                mmap_size: Atomic::new(0),
                dead: Atomic::new(false),
                inflight: Atomic::new(1),
                idle <- Completion::new(),
                ring_lock <- new_mutex!((), "Kioctx::ring_lock"),
                completion <- new_spinlock_irq!(
                    CompletionState { tail: 0, completed_events: 0 },
                    "Kioctx::completion"
                ),
                wait <- EventWaitQueue::new(c"Kioctx::wait", kernel::static_lock_class!()),
                cancel <- CancelList::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    fn nr_events(&self) -> u32 {
        self.ring.nr_events()
    }

    /// Takes one ring slot for a new request; `false` if the ring is full
    /// even after taking back the slots of events consumed since.
    fn get_req_slot(&self) -> bool {
        if self.slots.try_get() {
            return true;
        }
        {
            let mut state = self.completion.lock();
            if state.completed_events > 0 {
                // User space may have consumed events itself (moved `head`).
                let head = self.ring.head();
                self.refill_slots(&mut state, head);
            }
        }
        self.slots.try_get()
    }

    /// Returns `nr` slots taken by [`Self::get_req_slot`].
    fn put_req_slots(&self, nr: u32) {
        self.slots.put(nr);
    }

    /// fs/aio.c's `refill_reqs_available`: the slots of posted events that
    /// are no longer in the ring (consumed by whoever moved `head`) become
    /// available again.  `head` comes from user memory and is only trusted
    /// modulo the ring size.
    fn refill_slots(&self, state: &mut CompletionState, head: u32) {
        let in_ring = events_available(head, state.tail, self.nr_events());
        let consumed = state.completed_events.saturating_sub(in_ring);
        if consumed > 0 {
            state.completed_events -= consumed;
            self.put_req_slots(consumed);
        }
    }

    /// Posts `event` in the ring and wakes the sleepers it satisfies (fs/aio.c's
    /// `aio_complete`).  Any context, interrupts included.  Slot accounting
    /// guarantees that the ring has room.
    fn complete(&self, event: &IoEvent, eventfd: Option<&kiocb::EventFd>) {
        let available = {
            let mut state = self.completion.lock();
            let slot = state.tail;
            self.ring.write_event(slot, event);
            state.tail = if slot + 1 >= self.nr_events() {
                0
            } else {
                slot + 1
            };
            // Release: user space that sees the new tail sees the event.
            self.ring.set_tail(state.tail);
            let head = self.ring.head();
            state.completed_events += 1;
            if state.completed_events > 1 {
                self.refill_slots(&mut state, head);
            }
            events_available(head, state.tail, self.nr_events())
        };
        if let Some(eventfd) = eventfd {
            eventfd.signal();
        }
        // Order the tail store before the unlocked sleeper check; sleepers
        // queue themselves before they look at the ring.
        kernel::sync::barrier::smp_mb(kernel::sync::atomic::Full);
        if self.wait.has_sleepers() {
            self.wait.wake_satisfied(available as usize);
        }
    }

    /// Takes a reference that keeps `io_destroy` waiting; fails once the
    /// context is dead and idle.
    fn get_inflight(&self) -> bool {
        let mut cur = self.inflight.load(Relaxed);
        while cur > 0 {
            match self.inflight.cmpxchg(cur, cur + 1, Acquire) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
        false
    }

    /// Drops a reference from [`Self::get_inflight`] (or the context's own).
    fn put_inflight(&self) {
        if self.inflight.fetch_sub(1, Release) == 1 {
            self.idle.complete_all();
        }
    }

    /// fs/aio.c's `aio_read_events`: reads events into `events[got..nr]`
    /// and says whether the caller should stop waiting.  `got` counts the
    /// events read so far; if none were, it becomes the negative errno of a
    /// failure (a fault, or the context's death).
    fn read_events(&self, min_nr: usize, nr: usize, events: UserPtr, got: &Cell<isize>) -> bool {
        let done = got.get() as usize;
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
            got.set(got.get() + ret);
        }
        if self.dead.load(Relaxed) {
            ret = EINVAL.to_errno() as isize;
        }
        if got.get() == 0 {
            got.set(ret);
        }
        ret < 0 || got.get() >= min_nr as isize
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
        let got = Cell::new(0);
        if !self.read_events(min_nr, nr, events, &got) && until_ns != 0 {
            let deadline = waitbit::deadline_after(until_ns);
            // However the wait ends, `got` says what was read; a pending
            // signal turns 0 into EINTR in the system call.
            let _ = self.wait.wait(
                deadline,
                || min_nr.saturating_sub(got.get().max(0) as usize).max(1),
                || self.ring.has_events() || self.dead.load(Relaxed),
                || self.read_events(min_nr, nr, events, &got),
            );
        }
        let got = got.get();
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
    /// No free index below this one: io_setup stays O(1) for programs
    /// that create many contexts (libaio's 20.t creates 65536).
    free_hint: usize,
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
            inner <- new_spinlock!(
                MmContextsInner { table: KVec::new(), free_hint: 0 },
                "MmContexts::inner"
            ),
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
                let mut guard = self.inner.lock();
                let inner = &mut *guard;
                let table = &mut inner.table;
                let hint = inner.free_hint.min(table.len());
                if let Some(i) = table[hint..].iter().position(|e| e.is_none()) {
                    let i = hint + i;
                    table[i] = Some(ctx.clone());
                    ctx.id.store(i as u32, Relaxed);
                    inner.free_hint = i + 1;
                    return Ok(i as u32);
                }
                if table.len() < table.capacity() {
                    // Cannot fail: there is room.
                    let _ = table.push_within_capacity(Some(ctx.clone()));
                    let i = table.len() - 1;
                    ctx.id.store(i as u32, Relaxed);
                    inner.free_hint = i + 1;
                    return Ok(i as u32);
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
        let id = ctx.id.load(Relaxed) as usize;
        if let Some(e) = inner.table.get_mut(id) {
            if e.as_ref().is_some_and(|c| Arc::ptr_eq(c, ctx)) {
                *e = None;
                inner.free_hint = inner.free_hint.min(id);
            }
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
    // Armed polls would keep the context busy for ever.
    ctx.cancel.kill();
    ctx.wait.wake_all();
    accounting::uncharge(ctx.max_reqs);
    let size = ctx.mmap_size.load(Relaxed);
    if size != 0 {
        // Unmapping something else that user space mapped there is what
        // fs/aio.c does too; the ring memory itself stays valid.
        // SAFETY: Called from a task of the context's own mm.
        unsafe { bindings::vm_munmap(ctx.mmap_base.load(Relaxed) as c_ulong, size) };
    }
    // Requests in flight keep `inflight` up; the last one completes `idle`.
    ctx.put_inflight();
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
    let ctx = Kioctx::new(nr_events, &geometry, cpus)?;
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
    kill(contexts, &ctx)?;
    // The kernel must be done with user buffers before io_destroy returns.
    ctx.idle.wait_for_completion();
    Ok(())
}

/// Stores `KIOCB_KEY` in the user's `iocb->aio_key`.
fn write_iocb_key(user_iocb: usize) -> Result {
    UserSlice::new(UserPtr::from_addr(user_iocb + IOCB_KEY_OFFSET), 4)
        .writer()
        .write(&KIOCB_KEY)
}

/// fs/aio.c's `io_submit_one`: copies and checks the iocb, then submits it.
fn submit_one(ctx: &Arc<Kioctx>, user_iocb: usize, compat: bool) -> Result<()> {
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
    kiocb::submit(ctx, &iocb, user_iocb, compat)
}

/// Plugs the block layer for a batch (fs/aio.c plugs batches of more than
/// `AIO_PLUG_THRESHOLD` = 2 iocbs).
struct Plug(core::mem::MaybeUninit<bindings::blk_plug>);

fn submit(ctx_id: usize, nr: c_long, iocbpp: UserPtr, compat: bool) -> Result<usize> {
    if nr < 0 {
        return Err(EINVAL);
    }
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    // Like fs/aio.c's `users` reference: io_destroy waits for this call.
    if !ctx.get_inflight() {
        return Err(EINVAL);
    }
    let nr = (nr as u64).min(u64::from(ctx.nr_events())) as usize;
    let ptr_size = if compat { 4 } else { 8 };
    let mut plug = Plug(core::mem::MaybeUninit::uninit());
    if nr > 2 {
        // SAFETY: `plug` stays in place until `blk_finish_plug` below.
        unsafe { bindings::blk_start_plug(plug.0.as_mut_ptr()) };
    }
    let mut ret = Ok(());
    let mut i = 0;
    while i < nr {
        let mut reader = UserSlice::new(iocbpp.wrapping_byte_add(i * ptr_size), ptr_size).reader();
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
    if nr > 2 {
        // SAFETY: Started above, by this task.
        unsafe { bindings::blk_finish_plug(plug.0.as_mut_ptr()) };
    }
    ctx.put_inflight();
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
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    ctx.cancel
        .cancel(user_iocb.as_const_ptr() as usize as u64)?;
    // The event of a cancelled request always arrives through the ring.
    Err(EINPROGRESS)
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

/// `kiocb_set_cancel_fn`: a driver makes one of our reads or writes
/// cancellable.  Other kiocbs are ignored, as in fs/aio.c.
///
/// # Safety
///
/// `kiocb` is a valid kiocb whose `ki_complete` has not run yet.
#[no_mangle]
pub unsafe extern "C" fn aio_rs_set_cancel_fn(
    kiocb: *mut bindings::kiocb,
    cancel: bindings::kiocb_cancel_fn,
) {
    // SAFETY: `kiocb` is valid (caller).
    if unsafe { (*kiocb).ki_flags } & bindings::IOCB_AIO_RW as c_int == 0 {
        return;
    }
    let Some(cancel) = cancel else { return };
    kiocb::set_driver_cancel(kiocb, cancel);
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
    let mut dying = KVec::new();
    for ctx in table.into_iter().flatten() {
        ctx.mmap_size.store(0, Relaxed);
        let _ = kill(&contexts, &ctx);
        if dying.reserve(1, GFP_KERNEL).is_err() {
            // No memory to remember it: wait for it right away instead.
            ctx.idle.wait_for_completion();
            continue;
        }
        let _ = dying.push_within_capacity(ctx);
    }
    // Wait for the I/O of every context only now, so they drain in parallel.
    for ctx in dying.iter() {
        ctx.idle.wait_for_completion();
    }
}
