// SPDX-License-Identifier: GPL-2.0

//! The AIO contexts of one mm, hung off `mm->ioctx_table` (fs/aio.c's
//! `struct kioctx_table`): how a context id becomes a context.
//!
//! A context's index in the table is its `ring->id`, which [`lookup`] reads
//! back from the ring in user memory; freed indices are reused lowest
//! first, as in fs/aio.c.  The table lives from the first `io_setup` of the
//! mm until `exit_aio`, which runs after the mm's last user is gone.
//!
//! Lookups take no lock, as fs/aio.c's `lookup_ioctx`: under RCU they read
//! the published array of context pointers and take a per-CPU reference on
//! the context (`InflightRef`), which fails once it is killed.  Writers
//! (`io_setup`, `io_destroy`, `mremap` of a ring) take the table's lock.
//! Why a context found under RCU is still there: `kill` unpublishes it
//! before it kills its reference count; the count is released no earlier
//! than a grace period after the kill; and the table's reference, which
//! may be the last, is dropped only after the release (`Dying`).

use crate::context::{InflightRef, Kioctx};
use core::pin::Pin;
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::nospec::array_index_nospec;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use kernel::sync::{new_spinlock, rcu, Arc, SpinLock};
use kernel::types::ForeignOwnable;
use kernel::uaccess::UserPtr;

/// The table of one mm.
///
/// Lookups read `entries` under RCU, without the lock; writers change both
/// `entries` and `inner` under the lock.
///
/// # Invariants
///
/// `entries` points to an [`Entries`] array from `KBox::into_raw`, owned by
/// the table, as long as `inner.table`'s capacity; entry `i` holds the
/// context of `inner.table[i]` (null where that is `None`).  An array that
/// growth replaced is freed only after an RCU grace period.
#[pin_data(PinnedDrop)]
pub(crate) struct MmContexts {
    entries: Atomic<*mut Entries>,
    #[pin]
    inner: SpinLock<MmContextsInner>,
}

/// The lookups' view of the table: context pointers by index.
struct Entries(KVec<Atomic<*const Kioctx>>);

impl Entries {
    fn new(len: usize) -> Result<KBox<Self>> {
        let mut v = KVec::with_capacity(len, GFP_KERNEL)?;
        for _ in 0..len {
            // Cannot fail: `v` has room.
            let _ = v.push_within_capacity(Atomic::new(core::ptr::null()));
        }
        Ok(KBox::new(Self(v), GFP_KERNEL)?)
    }
}

struct MmContextsInner {
    /// The contexts, each kept alive by the table until it is killed.
    table: KVec<Option<Arc<Kioctx>>>,
    /// No free index below this one: io_setup stays O(1) for programs
    /// that create many contexts (libaio's 20.t creates 65536).
    free_hint: usize,
}

#[pinned_drop]
impl PinnedDrop for MmContexts {
    fn drop(self: Pin<&mut Self>) {
        let entries = self.entries.load(Relaxed);
        if !entries.is_null() {
            // SAFETY: The table owns its array (type invariant); it is being
            // dropped at `exit_aio`, when the mm has no users to look it up.
            drop(unsafe { KBox::from_raw(entries) });
        }
    }
}

/// A context taken out of its table and killed.  Dropping it waits until
/// nothing uses it any more ([`Kioctx::wait_idle`]): the table's reference
/// may be the context's last, and its memory must outlive every
/// [`InflightRef`] and every lookup that found it under RCU before the
/// kill.
pub(crate) struct Dying(Arc<Kioctx>);

impl Drop for Dying {
    fn drop(&mut self) {
        self.0.wait_idle();
    }
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
            entries: Atomic::new(core::ptr::null_mut()),
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
                    // The context is complete: publish it to lookups.
                    self.entries_locked(&inner.table).0[i].store(Arc::as_ptr(ctx), Release);
                    return Ok(());
                }
                (inner.table.capacity() * 4).max(4)
            };
            // Grow outside the lock, then move the entries over.
            let mut bigger = KVec::with_capacity(want, GFP_KERNEL)?;
            let entries = Entries::new(bigger.capacity())?;
            let old = {
                let mut inner = self.inner.lock();
                if inner.table.capacity() >= want {
                    continue;
                }
                for (i, e) in inner.table.drain_all().enumerate() {
                    if let Some(ctx) = &e {
                        entries.0[i].store(Arc::as_ptr(ctx), Relaxed);
                    }
                    // Cannot fail: `bigger` has room for all of them.
                    let _ = bigger.push_within_capacity(e);
                }
                inner.table = bigger;
                // INVARIANT: The new array matches the new table.
                self.entries.xchg(KBox::into_raw(entries), Release)
            };
            if !old.is_null() {
                // Lookups that found the old array may still read it.
                kernel::sync::rcu::synchronize_rcu();
                // SAFETY: Replaced a grace period ago: nobody reads it now;
                // the table owned it (type invariant).
                drop(unsafe { KBox::from_raw(old) });
            }
        }
    }

    /// The entries, with the lock held (`table` is the locked table).
    fn entries_locked(&self, table: &KVec<Option<Arc<Kioctx>>>) -> &Entries {
        let entries = self.entries.load(Relaxed);
        // SAFETY: With the lock held the array is the current one, of the
        // table's capacity (type invariant), and is not freed.
        let entries = unsafe { &*entries };
        debug_assert!(entries.0.len() == table.capacity());
        entries
    }

    /// The live context known to user space as `ctx_id` at table index `id`,
    /// with a reference that keeps `io_destroy` waiting (fs/aio.c's
    /// `lookup_ioctx`): no lock, and only this CPU's counter is written.
    fn get(&self, id: u32, ctx_id: usize) -> Option<InflightRef> {
        let rcu = rcu::read_lock();
        let entries = self.entries.load(Acquire);
        if entries.is_null() {
            return None;
        }
        // SAFETY: A published array is freed only a grace period after it
        // was replaced (type invariant), and we are in a read-side section.
        let entries = unsafe { &*entries };
        let len = entries.0.len();
        if id as usize >= len {
            return None;
        }
        // `id` comes from user memory: no speculated load past the array.
        let ctx = entries.0[array_index_nospec(id as usize, len)].load(Acquire);
        if ctx.is_null() {
            return None;
        }
        // SAFETY: A context is unpublished before it is killed, and its
        // memory outlives the release of its users (`Dying`), which comes a
        // grace period after the kill at the earliest: after our section.
        let ctx = unsafe { &*ctx };
        if ctx.user_id() != ctx_id {
            return None;
        }
        // SAFETY: Found in the table.
        unsafe { ctx.try_get_user(&rcu) }
    }

    /// Takes `ctx` out of the table and kills it; `EINVAL` if it already
    /// was (fs/aio.c's `kill_ioctx`).  The caller lets go of its own
    /// [`InflightRef`]s before it drops the [`Dying`] context.
    pub(crate) fn kill(&self, ctx: &Kioctx) -> Result<Dying> {
        let owned = {
            let mut inner = self.inner.lock();
            let id = ctx.table_index() as usize;
            // Only a context of this table: one that another `io_destroy`
            // took out first is not.
            let owned = match inner.table.get_mut(id) {
                Some(e) if e.as_ref().is_some_and(|c| core::ptr::eq(&**c, ctx)) => e.take(),
                _ => None,
            };
            let owned = owned.ok_or(EINVAL)?;
            // A context in the table is live (`Kioctx`'s invariant).
            let was_live = owned.mark_dead();
            debug_assert!(was_live);
            // Unpublished before the kill (see `get`).
            self.entries_locked(&inner.table).0[id].store(core::ptr::null(), Release);
            inner.free_hint = inner.free_hint.min(id);
            owned
        };
        owned.kill();
        Ok(Dying(owned))
    }
}

/// Finds the live context `ctx_id` of the current process, as fs/aio.c's
/// `lookup_ioctx`: the table index comes from the ring header in user memory.
pub(crate) fn lookup(ctx_id: usize) -> Option<InflightRef> {
    let id = UserPtr::from_addr(ctx_id).get_u32().ok()?;
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
        // Without memory to remember it, it is waited for right away.
        let _ = dying.push(Dying(ctx), GFP_KERNEL);
    }
    // Wait for the I/O of every context only now, so they drain in parallel.
    drop(dying);
}
