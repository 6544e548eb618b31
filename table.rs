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
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Release};
use kernel::sync::{new_spinlock, Arc, SpinLock};
use kernel::types::ForeignOwnable;
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

/// The `ioctx_table` field of an mm, which owns the mm's table once one is
/// published there.
///
/// # Invariants
///
/// The slot is NULL or holds a pointer from `ForeignOwnable::into_foreign`
/// of a `Pin<KBox<MmContexts>>`, which the slot owns.  Only [`Self::take`]
/// takes it out, at `exit_aio` once the mm has no users, so a published
/// table outlives `'a`.
struct TableSlot<'a>(&'a Atomic<*mut c_void>);

impl<'a> TableSlot<'a> {
    /// The slot of `mm`.
    ///
    /// # Safety
    ///
    /// `mm` is a valid mm, alive for `'a`; unless the caller is `exit_aio`,
    /// it has a user for `'a`.
    unsafe fn from_raw(mm: *mut bindings::mm_struct) -> Self {
        // The field is an aligned pointer that lives as long as the mm; fork's
        // `mm_init` initialises it before the mm is shared.
        // SAFETY: `mm` is valid (caller); the field is only accessed atomically.
        Self(unsafe { Atomic::from_ptr((&raw mut (*mm).__bindgen_anon_1.ioctx_table).cast()) })
    }

    /// The slot of the current process.
    fn current() -> Result<TableSlot<'static>> {
        let mm = kernel::current!().mm().ok_or(EINVAL)?.as_raw();
        // SAFETY: Our own mm has a user (us) until we return to user space,
        // and nothing the system call does with the slot outlives that.
        Ok(unsafe { TableSlot::from_raw(mm) })
    }

    /// The published table, if any.
    fn get(&self) -> Option<&'a MmContexts> {
        let ptr = self.0.load(Acquire);
        // SAFETY: A published table outlives `'a` (type invariant).
        (!ptr.is_null()).then(|| unsafe { <Pin<KBox<MmContexts>>>::borrow(ptr) }.get_ref())
    }

    /// Publishes `new` unless another task was first; returns the winner.
    fn publish(&self, new: Pin<KBox<MmContexts>>) -> Option<&'a MmContexts> {
        let new = new.into_foreign();
        if self.0.cmpxchg(core::ptr::null_mut(), new, Release).is_err() {
            // SAFETY: `new` came from `into_foreign` and was never published.
            drop(unsafe { <Pin<KBox<MmContexts>>>::from_foreign(new) });
        }
        self.get()
    }

    /// Takes the table out at `exit_aio`.
    fn take(&self) -> Option<Pin<KBox<MmContexts>>> {
        let ptr = self.0.xchg(core::ptr::null_mut(), Acquire);
        // SAFETY: The slot owned the table (type invariant) and gives it up;
        // the mm has no users left to borrow it.
        (!ptr.is_null()).then(|| unsafe { <Pin<KBox<MmContexts>>>::from_foreign(ptr) })
    }
}

/// The table of the current process, if it has one (`create`: making it).
pub(crate) fn current_contexts(create: bool) -> Result<Option<&'static MmContexts>> {
    let slot = TableSlot::current()?;
    if let Some(table) = slot.get() {
        return Ok(Some(table));
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
    Ok(slot.publish(new))
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
    let table = unsafe { TableSlot::from_raw(mm) }.get().ok_or(EINVAL)?;
    let inner = table.inner.lock();
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
    let Some(contexts) = (unsafe { TableSlot::from_raw(mm) }).take() else {
        return;
    };
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
