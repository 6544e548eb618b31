// SPDX-License-Identifier: GPL-2.0

//! The AIO contexts of one mm, hung off `mm->ioctx_table` (fs/aio.c's
//! `struct kioctx_table`): how a context id becomes a context.
//!
//! A context's index in the table is its `ring->id`, which [`lookup`] reads
//! back from the ring in user memory; freed indices are reused lowest
//! first, as in fs/aio.c.  The table lives from the first `io_setup` of the
//! mm until `exit_aio`, which runs after the mm's last user is gone.

use crate::context::Kioctx;
use core::pin::Pin;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Release};
use kernel::sync::{new_spinlock, Arc, SpinLock};
use kernel::uaccess::{UserPtr, UserSlice};

/// The table of one mm.
#[pin_data]
pub(crate) struct MmContexts {
    #[pin]
    inner: SpinLock<MmContextsInner>,
}

struct MmContextsInner {
    table: KVec<Option<Arc<Kioctx>>>,
    /// No free index below this one: io_setup stays O(1) for programs
    /// that create many contexts (libaio's 20.t creates 65536).
    free_hint: usize,
}

/// The `ioctx_table` field of `mm`, which holds our `MmContexts`.
///
/// # Safety
///
/// `mm` is a valid mm, alive for `'a`.
unsafe fn table_slot<'a>(mm: *mut bindings::mm_struct) -> &'a Atomic<*mut MmContexts> {
    // The field is an aligned pointer that lives as long as the mm; fork's
    // `mm_init` initialises it before the mm is shared.
    // SAFETY: `mm` is valid (caller); we only ever access the field atomically.
    unsafe { Atomic::from_ptr((&raw mut (*mm).__bindgen_anon_1.ioctx_table).cast()) }
}

/// The table of the current process, if it has one (`create`: making it).
pub(crate) fn current_contexts(create: bool) -> Result<Option<&'static MmContexts>> {
    let mm = kernel::current!().mm().ok_or(EINVAL)?.as_raw();
    // SAFETY: Our own mm lives at least until we return to user space;
    // nothing the caller does with the table outlives that.
    let slot = unsafe { table_slot(mm) };
    let cur = slot.load(Acquire);
    if !cur.is_null() {
        // SAFETY: A non-null pointer in the slot is a leaked `MmContexts`
        // that lives until `exit_mm`, which runs after the mm's last user.
        return Ok(Some(unsafe { &*cur }));
    }
    if !create {
        return Ok(None);
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
        Ok(_) => Ok(Some(unsafe { &*new })),
        Err(other) => {
            // SAFETY: `new` came from `KBox::into_raw` and was never published.
            drop(unsafe { KBox::from_raw(new) });
            // SAFETY: `other` was published by another task, as above.
            Ok(Some(unsafe { &*other }))
        }
    }
}

impl MmContexts {
    /// Adds `ctx` at the lowest free index, which it records.
    pub(crate) fn insert(&self, ctx: &Arc<Kioctx>) -> Result {
        loop {
            let want = {
                let mut guard = self.inner.lock();
                let inner = &mut *guard;
                let hint = inner.free_hint.min(inner.table.len());
                let index = match inner.table[hint..].iter().position(|e| e.is_none()) {
                    Some(i) => {
                        inner.table[hint + i] = Some(ctx.clone());
                        Some(hint + i)
                    }
                    None if inner.table.len() < inner.table.capacity() => {
                        // Cannot fail: there is room.
                        let _ = inner.table.push_within_capacity(Some(ctx.clone()));
                        Some(inner.table.len() - 1)
                    }
                    None => None,
                };
                if let Some(i) = index {
                    ctx.set_table_index(i as u32);
                    inner.free_hint = i + 1;
                    return Ok(());
                }
                (inner.table.capacity() * 4).max(4)
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
            Some(Some(ctx)) if ctx.user_id() == ctx_id => Some(ctx.clone()),
            _ => None,
        }
    }

    /// Takes `ctx` out of the table and kills it; `EINVAL` if it already
    /// was (fs/aio.c's `kill_ioctx`).
    pub(crate) fn kill(&self, ctx: &Arc<Kioctx>) -> Result {
        {
            let mut inner = self.inner.lock();
            if !ctx.mark_dead() {
                return Err(EINVAL);
            }
            let id = ctx.table_index() as usize;
            if let Some(e) = inner.table.get_mut(id) {
                if e.as_ref().is_some_and(|c| Arc::ptr_eq(c, ctx)) {
                    *e = None;
                    inner.free_hint = inner.free_hint.min(id);
                }
            }
        }
        ctx.kill();
        Ok(())
    }
}

/// Finds the live context `ctx_id` of the current process, as fs/aio.c's
/// `lookup_ioctx`: the table index comes from the ring header in user memory.
pub(crate) fn lookup(ctx_id: usize) -> Option<Arc<Kioctx>> {
    let id = UserSlice::new(UserPtr::from_addr(ctx_id), 4)
        .reader()
        .read::<u32>()
        .ok()?;
    current_contexts(false).ok()??.get(id, ctx_id)
}

/// `vm_ops->mremap` of a ring mapping: the context id follows the ring.
///
/// # Safety
///
/// `mm` is the valid mm of the VMA being moved, and `file` its file.
pub(crate) unsafe fn ring_mremap(
    mm: *mut bindings::mm_struct,
    file: *mut bindings::file,
    start: usize,
    len: usize,
) -> Result {
    // SAFETY: The mm of a VMA being moved is valid and has users.
    let table = unsafe { table_slot(mm) }.load(Acquire);
    if table.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: As in `current_contexts`: the mm is alive, so its table is.
    let inner = unsafe { &*table }.inner.lock();
    let ctx = inner
        .table
        .iter()
        .flatten()
        .find(|ctx| ctx.ring().is_file(file));
    ctx.ok_or(EINVAL)?.ring_moved(start, len)
}

/// `exit_aio`: the last user of `mm` is gone; kill every context.  No
/// unmapping: `exit_mmap` is about to tear the whole address space down.
///
/// # Safety
///
/// `mm` is a valid mm whose last user is gone; it is called once per mm.
pub(crate) unsafe fn exit_mm(mm: *mut bindings::mm_struct) {
    // SAFETY: The mm is valid while it is being torn down.
    let table = unsafe { table_slot(mm) }.xchg(core::ptr::null_mut(), Acquire);
    if table.is_null() {
        return;
    }
    // SAFETY: The pointer came from `KBox::into_raw` in `current_contexts`,
    // and nobody else can reach it any more: the mm has no users.
    let contexts = unsafe { KBox::from_raw(table) };
    let table = core::mem::replace(&mut contexts.inner.lock().table, KVec::new());
    let mut dying = KVec::new();
    for ctx in table.into_iter().flatten() {
        ctx.forget_mapping();
        if ctx.mark_dead() {
            ctx.kill();
        }
        if dying.reserve(1, GFP_KERNEL).is_err() {
            // No memory to remember it: wait for it right away instead.
            ctx.wait_idle();
            continue;
        }
        let _ = dying.push_within_capacity(ctx);
    }
    // Wait for the I/O of every context only now, so they drain in parallel.
    for ctx in dying.iter() {
        ctx.wait_idle();
    }
}
