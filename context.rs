// SPDX-License-Identifier: GPL-2.0

//! An AIO context (fs/aio.c's `struct kioctx`): the ring, its slot
//! accounting, its sleepers, its cancellable requests, and what keeps
//! `io_destroy` waiting.

use crate::abi::IoEvent;
use crate::accounting;
use crate::cancel::CancelList;
use crate::claim::{claim_start, unclaimed, Claim, ClaimOp};
use crate::retry;
use crate::ring::Ring;
use crate::ring_index::{events_available, RingGeometry};
use crate::slots::ReqSlots;
use crate::waitbit::{EventWaitQueue, RingCounts};
use crate::worker::PoolShare;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::eventfd::EventFdCtx;
use kernel::mm::Mm;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Acquire, Atomic, Full, Relaxed, Release};
use kernel::sync::barrier::{smp_mb, Read, Write};
use kernel::sync::percpu_ref::PercpuRef;
use kernel::sync::{new_spinlock, new_spinlock_irq, rcu, Arc, SpinLock, SpinLockIrq};
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
    /// Events claimed by kernel-side consumers (`claim.rs`): only grows.
    consumed: Atomic<u64>,
    /// Events posted: `CompletionState::produced`, stored after `ring->tail`.
    produced: Atomic<u64>,
    /// Odd while a post stores `ring->tail` and `produced` (a seqcount).
    post_seq: Atomic<u32>,
    /// The last claim stored into `ring->head` (only ever moves forward).
    #[pin]
    head_published: SpinLock<u64>,
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
    /// Events posted since the context was set up.
    produced: u64,
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
                consumed: Atomic::new(0),
                produced: Atomic::new(0),
                post_seq: Atomic::new(0),
                head_published <- new_spinlock!(0, "Kioctx::head_published"),
                completion <- new_spinlock_irq!(
                    CompletionState { tail: 0, completed_events: 0, produced: 0 },
                    "Kioctx::completion"
                ),
                wait <- EventWaitQueue::new(c"Kioctx::wait", kernel::static_lock_class!()),
                cancel <- CancelList::new(),
                pool <- PoolShare::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Events the ring is sure to hold at once, whatever the per-CPU slot
    /// caches keep: what `io_setup` was asked for, and at least half the
    /// ring (`slots.rs`: at most half of it sits in the caches).
    pub(crate) fn sure_capacity(&self) -> u32 {
        self.max_reqs.max((self.nr_events() - 1) / 2).max(1)
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
        self.write_events(core::iter::once(*event));
        if let Some(eventfd) = eventfd {
            eventfd.signal();
        }
        self.wake_sleepers();
    }

    /// Writes `events` into the ring under one acquisition of the completion
    /// lock and publishes `tail` once, after the last of them.  The caller
    /// signals the events' eventfds and then calls [`Self::wake_sleepers`].
    /// Each event holds a ring slot (slot accounting), so the ring has room
    /// for all of them.
    pub(crate) fn write_events(&self, events: impl Iterator<Item = IoEvent>) {
        let mut state = self.completion.lock();
        let nr = self.nr_events();
        let mut tail = state.tail;
        let mut written = 0;
        // A claim that overlaps the tail and `produced` stores starts again
        // (`claim.rs`).
        self.post_seq
            .store(self.post_seq.load(Relaxed).wrapping_add(1), Relaxed);
        smp_mb(Write);
        for event in events {
            self.ring.write_event(tail, &event);
            tail = if tail + 1 >= nr { 0 } else { tail + 1 };
            written += 1;
        }
        state.tail = tail;
        // Release: user space that sees the new tail sees the events.
        self.ring.set_tail(tail);
        state.produced += u64::from(written);
        // Release: a claim that sees `produced` sees the events; and the
        // kernel's head (from `consumed <= produced`) stays behind the tail.
        self.produced.store(state.produced, Release);
        self.post_seq
            .store(self.post_seq.load(Relaxed).wrapping_add(1), Release);
        let head = self.ring.head();
        state.completed_events += written;
        // fs/aio.c refills after each event once more than one is counted;
        // once after the batch gives back the same slots (head is the same).
        if state.completed_events > 1 {
            self.refill_slots(&mut state, head);
        }
    }

    /// Promises the new events to sleepers and wakes those they satisfy,
    /// after events were written with [`Self::write_events`].
    pub(crate) fn wake_sleepers(&self) {
        // Order the `produced` store before the unlocked sleeper check;
        // sleepers queue themselves before they look at the ring.
        smp_mb(Full);
        if self.wait.has_sleepers() {
            self.wait.settle(|| self.ring_counts());
        }
    }

    /// What the ring holds for a walk over the sleepers.
    pub(crate) fn ring_counts(&self) -> RingCounts {
        let consumed = self.consumed.load(Acquire);
        let produced = self.produced.load(Acquire);
        let head = self.ring.head();
        let nr = self.nr_events();
        RingCounts {
            unclaimed: unclaimed(consumed, produced, head, nr),
            taken: claim_start(consumed, produced, head, nr),
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

    /// Claims up to `max` events and copies them to `events`, leaving
    /// `reserved` events for others (promised to sleepers), without a lock
    /// (`claim.rs`).  `EFAULT` leaves the events in the ring.
    pub(crate) fn read_ring(&self, events: UserPtr, max: usize, reserved: u64) -> Result<usize> {
        // A poll of an empty ring looks at two words of it.
        if !self.ring.has_events() {
            return Ok(0);
        }
        let max = max.min(u32::MAX as usize) as u32;
        let mut claim = Claim::new(self.nr_events(), max, reserved);
        let mut answer = 0;
        loop {
            answer = match claim.step(answer) {
                ClaimOp::LoadPostSeq => {
                    // Orders the loads before a second read of the seqcount.
                    smp_mb(Read);
                    u64::from(self.post_seq.load(Acquire))
                }
                ClaimOp::LoadConsumed => self.consumed.load(Acquire),
                ClaimOp::LoadProduced => self.produced.load(Acquire),
                ClaimOp::LoadHead => u64::from(self.ring.head()),
                ClaimOp::Copy(plan) => {
                    self.ring.copy_events(events, plan.start, plan.count)?;
                    0
                }
                // Full: the copy above is done before the claim is seen.
                ClaimOp::Cmpxchg { old, new } => {
                    u64::from(self.consumed.cmpxchg(old, new, Full).is_ok())
                }
                ClaimOp::Publish => {
                    self.publish_head();
                    0
                }
                ClaimOp::Done(count) => return Ok(count as usize),
            };
        }
    }

    /// Stores the latest claim into `ring->head`, never an older one
    /// (`claim.rs`): producers give slots back from that head.
    fn publish_head(&self) {
        let mut published = self.head_published.lock();
        let consumed = self.consumed.load(Acquire);
        if consumed > *published {
            *published = consumed;
            self.ring
                .set_head((consumed % u64::from(self.nr_events())) as u32);
        }
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
        // An exiting task (`exit_aio`) runs no task work before the end of
        // its exit: its passes go to a worker instead.
        let current = kernel::current!();
        current.run_task_work();
        retry::take_back_passes(current);
        self.users.wait_released();
    }
}
