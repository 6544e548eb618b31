// SPDX-License-Identifier: GPL-2.0

//! An AIO context (fs/aio.c's `struct kioctx`): the ring, its slot
//! accounting, its sleepers, its cancellable requests, and what keeps
//! `io_destroy` waiting.

use crate::abi::IoEvent;
use crate::accounting;
use crate::cancel::CancelList;
use crate::ring::Ring;
use crate::ring_index::{events_available, RingGeometry};
use crate::slots::ReqSlots;
use crate::waitbit::EventWaitQueue;
use crate::worker::PoolShare;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::eventfd::EventFdCtx;
use kernel::mm::Mm;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Atomic, Full, Relaxed};
use kernel::sync::percpu_ref::PercpuRef;
use kernel::sync::{new_mutex, new_spinlock_irq, rcu, Arc, Mutex, SpinLockIrq};
use kernel::uaccess::UserPtr;

/// An AIO context.
///
/// # Invariants
///
/// While the context is in its mm's table, `dead` is false and `user_id`
/// is the address of the ring mapping that user space knows it by.
/// `users` counts one reference for the live context (until [`Self::kill`])
/// and one per [`InflightRef`].
#[pin_data]
pub(crate) struct Kioctx {
    ring: Ring,
    /// The address space whose table holds the context, where its requests'
    /// buffers are (a reference that does not keep it in use).
    mm: ARef<Mm>,
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
    /// What keeps `io_destroy` waiting: system calls on the context and
    /// requests (fs/aio.c's `users` and `reqs`), per CPU.
    #[pin]
    users: PercpuRef,
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
    /// The context's share of the worker pool.
    #[pin]
    pool: PoolShare,
}

/// The producer side of the ring.
struct CompletionState {
    /// The trusted copy of `ring->tail`: where the next event goes.
    tail: u32,
    /// Events posted whose slots have not been given back to the free
    /// slots yet (they may still sit in the ring).
    completed_events: u32,
}

/// A reference that keeps `io_destroy` (and `exit_aio`) waiting: held by a
/// system call on the context (from its lookup) and by each request.  It
/// writes only the current CPU's counter, and keeps the context alive
/// without an `Arc`.
///
/// # Invariants
///
/// `self.0` points to a context, and this holds one reference of its
/// `users`.  The context outlives it: whoever drops the last `Arc` of a
/// context that lookups could find waits for `users` to be released first
/// (`table::Dying`), and a context that was never published has no
/// `InflightRef`.
pub(crate) struct InflightRef(NonNull<Kioctx>);

// SAFETY: A reference to a `Kioctx` (`Send` and `Sync`) that any thread may
// use and drop.
unsafe impl Send for InflightRef {}

// SAFETY: As above.
unsafe impl Sync for InflightRef {}

impl Clone for InflightRef {
    fn clone(&self) -> Self {
        // We hold a reference already.
        self.users.get();
        // INVARIANT: One more reference, for the copy.
        Self(self.0)
    }
}

impl Deref for InflightRef {
    type Target = Kioctx;

    fn deref(&self) -> &Kioctx {
        // SAFETY: The context outlives us (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl Drop for InflightRef {
    fn drop(&mut self) {
        // SAFETY: The reference is ours (type invariant).
        unsafe { self.users.put() };
    }
}

impl Kioctx {
    /// A context for `max_reqs` requests, its ring mapped into the current
    /// process.
    pub(crate) fn new(
        max_reqs: u32,
        geometry: &RingGeometry,
        cpus: u32,
        mm: ARef<Mm>,
    ) -> Result<Arc<Self>> {
        let ring = Ring::new(geometry)?;
        let slots = ReqSlots::new(geometry.max_in_flight(), cpus)?;
        Arc::pin_init(
            try_pin_init!(Self {
                slots,
                ring,
                mm,
                max_reqs,
                user_id: Atomic::new(0),
                id: Atomic::new(u32::MAX),
                mmap_base: Atomic::new(0),
                mmap_size: Atomic::new(0),
                dead: Atomic::new(false),
                users <- PercpuRef::new(GFP_KERNEL),
                ring_lock <- new_mutex!((), "Kioctx::ring_lock"),
                completion <- new_spinlock_irq!(
                    CompletionState { tail: 0, completed_events: 0 },
                    "Kioctx::completion"
                ),
                wait <- EventWaitQueue::new(c"Kioctx::wait", kernel::static_lock_class!()),
                cancel <- CancelList::new(),
                pool <- PoolShare::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    pub(crate) fn nr_events(&self) -> u32 {
        self.ring.nr_events()
    }

    pub(crate) fn mm(&self) -> &Mm {
        &self.mm
    }

    pub(crate) fn ring(&self) -> &Ring {
        &self.ring
    }

    pub(crate) fn cancel_list(&self) -> &CancelList {
        &self.cancel
    }

    pub(crate) fn pool_share(&self) -> &PoolShare {
        &self.pool
    }

    pub(crate) fn wait_queue(&self) -> &EventWaitQueue {
        &self.wait
    }

    /// The context id user space knows it by.
    pub(crate) fn user_id(&self) -> usize {
        self.user_id.load(Relaxed)
    }

    /// Records where the ring is mapped; it becomes the context id.
    pub(crate) fn set_mapping(&self, base: usize, size: usize) {
        self.mmap_base.store(base, Relaxed);
        self.mmap_size.store(size, Relaxed);
        self.user_id.store(base, Relaxed);
    }

    /// `mremap` of the ring: `EINVAL` unless the whole live ring moved.
    pub(crate) fn ring_moved(&self, start: usize, len: usize) -> Result {
        if self.dead.load(Relaxed) || self.mmap_size.load(Relaxed) != len {
            return Err(EINVAL);
        }
        self.set_mapping(start, len);
        Ok(())
    }

    /// The mm is going away: nothing to unmap any more.
    pub(crate) fn forget_mapping(&self) {
        self.mmap_size.store(0, Relaxed);
    }

    /// The index in the mm's table.
    pub(crate) fn table_index(&self) -> u32 {
        self.id.load(Relaxed)
    }

    /// Records the index in the mm's table, also in `ring->id`, which
    /// lookups read back from user space.
    pub(crate) fn set_table_index(&self, id: u32) {
        self.id.store(id, Relaxed);
        self.ring.set_id(id);
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Relaxed)
    }

    /// Marks the context dead; `false` if it already was.
    pub(crate) fn mark_dead(&self) -> bool {
        !self.dead.xchg(true, Full)
    }

    /// Takes one ring slot for a new request; `false` if the ring is full
    /// even after taking back the slots of events consumed since.
    pub(crate) fn get_req_slot(&self) -> bool {
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

    /// Returns a slot taken by [`Self::get_req_slot`] whose request never
    /// started.
    pub(crate) fn put_req_slot(&self) {
        self.slots.put(1);
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
            self.slots.put(consumed);
        }
    }

    /// Posts `event` in the ring and wakes the sleepers it satisfies (fs/aio.c's
    /// `aio_complete`).  Any context, interrupts included.  Slot accounting
    /// guarantees that the ring has room.
    pub(crate) fn post(&self, event: &IoEvent, eventfd: Option<&EventFdCtx>) {
        let available = self.write_events(core::iter::once(*event));
        if let Some(eventfd) = eventfd {
            eventfd.signal();
        }
        self.wake_sleepers(available);
    }

    /// Writes `events` into the ring under one acquisition of the completion
    /// lock and publishes `tail` once, after the last of them; returns how
    /// many events the ring holds now.  The caller signals the events'
    /// eventfds and then calls [`Self::wake_sleepers`].  Each event holds a
    /// ring slot (slot accounting), so the ring has room for all of them.
    pub(crate) fn write_events(&self, events: impl Iterator<Item = IoEvent>) -> u32 {
        let mut state = self.completion.lock();
        let nr = self.nr_events();
        let mut tail = state.tail;
        let mut written = 0;
        for event in events {
            self.ring.write_event(tail, &event);
            tail = if tail + 1 >= nr { 0 } else { tail + 1 };
            written += 1;
        }
        state.tail = tail;
        // Release: user space that sees the new tail sees the events.
        self.ring.set_tail(tail);
        let head = self.ring.head();
        state.completed_events += written;
        // fs/aio.c refills after each event once more than one is counted;
        // once after the batch gives back the same slots (head is the same).
        if state.completed_events > 1 {
            self.refill_slots(&mut state, head);
        }
        events_available(head, tail, nr)
    }

    /// Wakes the sleepers that `available` events in the ring satisfy, after
    /// events were written with [`Self::write_events`].
    pub(crate) fn wake_sleepers(&self, available: u32) {
        // Order the tail store before the unlocked sleeper check; sleepers
        // queue themselves before they look at the ring.
        kernel::sync::barrier::smp_mb(kernel::sync::atomic::Full);
        if self.wait.has_sleepers() {
            self.wait.wake_satisfied(available as usize);
        }
    }

    /// A system call's reference, for a lookup that found the context under
    /// `rcu` in its mm's table; `None` once the context was killed.
    ///
    /// # Safety
    ///
    /// The context was found in its mm's table (under `rcu`): it was
    /// published, so whoever drops its last `Arc` waits for `users` first.
    pub(crate) unsafe fn try_get_user(&self, rcu: &rcu::Guard) -> Option<InflightRef> {
        // INVARIANT: Published (caller): the context's memory outlives the
        // reference (see `InflightRef`).
        self.users
            .tryget_live_rcu(rcu)
            .then(|| InflightRef(NonNull::from(self)))
    }

    /// Copies up to `max` events to `events` under the consumers' lock
    /// (`EFAULT` leaves them in the ring).
    pub(crate) fn read_ring(&self, events: UserPtr, max: usize) -> Result<usize> {
        // An empty ring reads as nothing under the lock too (`copy_out` stores
        // nothing then): a poll of an empty ring takes no lock.
        if !self.ring.has_events() {
            return Ok(0);
        }
        let _guard = self.ring_lock.lock();
        self.ring.copy_out(events, max)
    }

    /// `kill_ioctx` after the table let go of the context: cancels its
    /// requests, wakes its sleepers, returns its accounting and unmaps its
    /// ring (unless the mm is going away), then lets the last request
    /// complete `idle`.
    pub(crate) fn kill(&self) {
        // Armed polls and driver requests would keep the context busy for ever.
        self.cancel.cancel_all(true);
        self.wait.wake_all();
        accounting::uncharge(self.max_reqs);
        let size = self.mmap_size.load(Relaxed);
        if size != 0 {
            // Unmapping something else that user space mapped there is what
            // fs/aio.c does too; the ring memory itself stays valid.
            // SAFETY: Called from a task of the context's own mm.
            unsafe { bindings::vm_munmap(self.mmap_base.load(Relaxed), size) };
        }
        // The context's own reference; lookups fail from now on.
        self.users.kill();
    }

    /// Waits until nothing is in flight any more (after [`Self::kill`]).
    pub(crate) fn wait_idle(&self) {
        // Reads of ours may wait for their next pass as task work on this
        // task (`retry.rs`): run it, or they would wait for us.  Work queued
        // after this is taken back for a worker, as the context is dead.
        kernel::current!().run_task_work();
        self.users.wait_released();
    }
}
