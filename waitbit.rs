// SPDX-License-Identifier: GPL-2.0

//! Filtered wake-ups: a waker passes a key, and each sleeper's own wake
//! function decides whether that wake-up concerns it, as
//! `wake_page_function()` filters page wait-bit wake-ups by page and bit.
//!
//! The `io_getevents` sleepers of a context ([`EventWaitQueue`]) queue in
//! arrival order, each with a ticket (`promise.rs`) that says how many
//! events it still needs and how many are promised to it.  A completion
//! walks the queue under its lock with a [`Walk`] as the key: each
//! sleeper's wake function asks the walk whether events not promised to
//! sleepers ahead are left for it, and only then wakes its task.  Wakers
//! never take an entry off the queue: the sleeper leaves itself, under the
//! queue's lock, so no waker can touch an entry after its sleeper returned
//! (the bug class of CVE-2024-35874), and a sleeper that has to wait again
//! keeps its place.  A wake-up without a key (the context dies) wakes
//! everybody.
//!
//! The queue is a `WaitQueueHead` rather than a `CondVar` because the sleep
//! needs an hrtimer deadline with the task's timer slack (as fs/aio.c) and
//! sleepers with their own wake function.
//!
//! A buffered read that would wait for a folio queues a [`PageWaiter`] on
//! the folio's wait queue instead (`IOCB_WAITQ`): the folio's unlock or end
//! of writeback wakes everything hashed to that queue with the folio and
//! bit as the key, and the waiter only lets its own folio and bit through
//! (`wake_page_match()`), as io_uring's `io_async_buf_func()` does.

use crate::promise::{Ledger, Settle, Ticket, Visit};
use core::pin::Pin;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use kernel::sync::wait::{
    schedule_until, WaitQueueEntry, WaitQueueGuard, WaitQueueHead, WakeFunction, WakeUp,
};
use kernel::sync::LockClassKey;
use kernel::types::Opaque;

/// The queue of `io_getevents` sleepers of one context.
///
/// # Invariants
///
/// Only [`Waiter`]s are queued on `head`.  `held` is the sum of the queued
/// waiters' `held`; both change only under `head`'s lock.
#[pin_data]
pub(crate) struct EventWaitQueue {
    #[pin]
    head: WaitQueueHead,
    /// [`Ledger::held`]; read without the lock by callers that hold no ticket.
    held: Atomic<u64>,
}

/// One sleeper: its wait-queue entry and its ticket, whose fields change
/// only under the queue's lock (the sleeper reads `need` and `held` without
/// it to see whether it was promised its events).
#[repr(C)]
#[pin_data]
struct Waiter {
    #[pin]
    entry: WaitQueueEntry,
    need: Atomic<u32>,
    held: Atomic<u32>,
    since: Atomic<u64>,
}

impl Waiter {
    fn ticket(&self) -> Ticket {
        Ticket {
            need: self.need.load(Relaxed),
            held: self.held.load(Relaxed),
            since: self.since.load(Relaxed),
        }
    }

    fn set_ticket(&self, ticket: Ticket) {
        self.need.store(ticket.need, Relaxed);
        // Release: a sleeper that sees its promise sees the walk's stores.
        self.held.store(ticket.held, Release);
        self.since.store(ticket.since, Relaxed);
    }

    fn is_promised(&self) -> bool {
        self.held.load(Acquire) >= self.need.load(Relaxed)
    }
}

/// A walk over the queue: the key of a keyed wake-up of an
/// [`EventWaitQueue`].
struct Walk {
    settle: Settle,
    ledger: Ledger,
}

/// The wake function of a [`Waiter`]: a keyed wake-up is a [`Walk`] that
/// decides whether events are promised to it; a wake-up without a key (the
/// context dies) wakes it whatever it holds.
struct WakeIfPromised;

impl WakeFunction for WakeIfPromised {
    fn wake(entry: NonNull<WaitQueueEntry>, wake: &WakeUp) -> bool {
        // Wakers never unlink the entry; its sleeper takes it off under the
        // queue's lock, which the waker holds, so the `Waiter` is alive.
        // SAFETY: Only `Waiter`s are queued here (`EventWaitQueue`'s
        // invariant), and `entry` is the first field of a `repr(C)` `Waiter`.
        let waiter = unsafe { &*entry.as_ptr().cast::<Waiter>() };
        if wake.key() == 0 {
            return waiter.entry.wake_task_queued(wake);
        }
        // Keyed wake-ups of this queue come only from `EventWaitQueue::walk`.
        // SAFETY: The key is that walk's `Walk`, alive and unused meanwhile.
        let walk = unsafe { &mut *(wake.key() as *mut Walk) };
        let mut ticket = waiter.ticket();
        let visit = walk.settle.visit(&mut walk.ledger, &mut ticket);
        waiter.set_ticket(ticket);
        if visit == Visit::Wake {
            waiter.entry.wake_task_queued(wake);
        }
        // Never counted as an exclusive wake-up: the walk covers the queue.
        false
    }
}

/// Why [`EventWaitQueue::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitEnd {
    /// The condition said so.
    Done,
    /// The deadline passed.
    TimedOut,
    /// A signal is pending.
    Interrupted,
}

/// The ring as a walk sees it: events nobody took, and events taken so far
/// (`claim.rs`).
pub(crate) struct RingCounts {
    pub(crate) unclaimed: u64,
    pub(crate) taken: u64,
}

impl EventWaitQueue {
    /// Creates an empty queue.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            head <- WaitQueueHead::new(name, key),
            held: Atomic::new(0),
        })
    }

    /// Whether anybody sleeps here.  Callers order their own stores before
    /// this check with a full barrier, as `waitqueue_active()` requires.
    pub(crate) fn has_sleepers(&self) -> bool {
        self.head.has_sleepers()
    }

    /// Events promised or earmarked to sleepers: a caller that holds no
    /// ticket leaves them in the ring.
    pub(crate) fn reserved(&self) -> u64 {
        let ledger = Ledger {
            held: self.held.load(Acquire),
        };
        ledger.reserved()
    }

    /// Promises the events of the ring that nobody holds to the sleepers
    /// in arrival order, and wakes those whose need is covered.
    pub(crate) fn settle(&self, counts: impl Fn() -> RingCounts) {
        let guard = self.head.lock();
        self.walk(&guard, counts());
    }

    fn walk(&self, guard: &WaitQueueGuard<'_>, counts: RingCounts) {
        let ledger = Ledger {
            held: self.held.load(Relaxed),
        };
        let mut walk = Walk {
            settle: Settle::new(&ledger, counts.unclaimed, counts.taken),
            ledger,
        };
        guard.wake_up_key(core::ptr::from_mut(&mut walk) as usize);
        self.held.store(walk.ledger.held, Release);
    }

    /// `waiter` gives back what it holds (under the lock), and the events
    /// go to the sleepers behind it.
    fn release(&self, guard: &WaitQueueGuard<'_>, waiter: &Waiter, counts: RingCounts) {
        let mut ledger = Ledger {
            held: self.held.load(Relaxed),
        };
        let mut ticket = waiter.ticket();
        ledger.release(&mut ticket);
        waiter.set_ticket(ticket);
        self.held.store(ledger.held, Release);
        self.walk(guard, counts);
    }

    /// Takes `waiter` off the queue for good, gives its promise back and
    /// sets the task running.
    fn leave(&self, waiter: &Waiter, counts: &impl Fn() -> RingCounts) {
        {
            let guard = self.head.lock();
            // SAFETY: The entry is on this queue or on none.
            unsafe { guard.remove(&waiter.entry) };
            self.release(&guard, waiter, counts());
        }
        // Off the queue already: this only sets the task running.
        self.head.finish_wait(&waiter.entry);
    }

    /// Queues `waiter` at the tail (or leaves it in its place) and marks
    /// the task sleeping; true if a signal is pending (the entry is then
    /// off the queue).
    fn queue(&self, waiter: &Waiter) -> bool {
        // `waiter` lives on the stack of `wait`.
        // SAFETY: `wait` takes the entry off with `leave` before it returns.
        unsafe { self.head.prepare_to_wait(&waiter.entry) }
    }

    /// Events that `waiter` must leave to the others.
    fn reserved_for(&self, waiter: &Waiter) -> u64 {
        let _guard = self.head.lock();
        let ledger = Ledger {
            held: self.held.load(Relaxed),
        };
        ledger.reserved_for_others(&waiter.ticket())
    }

    /// Wakes every sleeper.
    pub(crate) fn wake_all(&self) {
        self.head.wake_up_all();
    }

    /// Sleeps interruptibly in arrival order until `consume()` returns
    /// true, `deadline` (an absolute `CLOCK_MONOTONIC` time in ns, `None`
    /// for no deadline) passes or a signal arrives.  `need()` says how many
    /// events would end the wait, `counts()` what the ring holds (both are
    /// called under the queue's lock and must not sleep).
    ///
    /// The task runs `consume(reserved)` when its need is promised, at the
    /// deadline and when the context dies (`dead()`), with `reserved` the
    /// events it must leave to the other sleepers; `consume` may sleep.  If
    /// it did not get enough, the promise goes back and the task sleeps
    /// again in its place.
    pub(crate) fn wait(
        &self,
        deadline: Option<i64>,
        need: impl Fn() -> usize,
        counts: impl Fn() -> RingCounts,
        dead: impl Fn() -> bool,
        mut consume: impl FnMut(u64) -> bool,
    ) -> WaitEnd {
        let need32 = || need().clamp(1, u32::MAX as usize) as u32;
        // The ticket is complete before the entry is queued: from then on,
        // walks may promise it events.
        let ticket = Ticket::new(need32(), counts().taken);
        pin_init::stack_pin_init!(let waiter = pin_init!(Waiter {
            entry <- WaitQueueEntry::for_current_task_in_order::<WakeIfPromised>(),
            need: Atomic::new(ticket.need),
            held: Atomic::new(ticket.held),
            since: Atomic::new(ticket.since),
        }));
        let mut interrupted = self.queue(&waiter);
        // Events that are in the ring already may be ours.
        self.settle(&counts);
        let mut expired = false;
        loop {
            if interrupted {
                // Task work (a buffered read's next pass, `retry.rs`)
                // interrupts the sleep without a signal: run it and sleep
                // on, unless a real signal is pending (as io_uring's wait).
                let current = kernel::current!();
                current.run_task_work();
                if current.sigpending() {
                    // fs/aio.c reads the ring once more before it sees the
                    // signal: the call ends with what is there for us.
                    consume(self.reserved_for(&waiter));
                    self.leave(&waiter, &counts);
                    return WaitEnd::Interrupted;
                }
                self.leave(&waiter, &counts);
                interrupted = self.queue(&waiter);
                self.settle(&counts);
                continue;
            }
            if waiter.is_promised() || expired || dead() {
                // SAFETY: As in `queue`.
                unsafe { self.head.keep_queued_running(&waiter.entry) };
                if consume(self.reserved_for(&waiter)) || expired {
                    self.leave(&waiter, &counts);
                    return if expired {
                        WaitEnd::TimedOut
                    } else {
                        WaitEnd::Done
                    };
                }
                // Fewer than promised were left (another consumer or user
                // space took them): the promise goes back, and the task
                // waits again in its place for what it still needs.
                {
                    let guard = self.head.lock();
                    waiter.need.store(need32(), Relaxed);
                    self.release(&guard, &waiter, counts());
                }
                interrupted = self.queue(&waiter);
                continue;
            }
            expired = schedule_until(deadline);
            interrupted = self.queue(&waiter);
        }
    }
}

/// A page wait-bit entry, the kernel's `struct wait_page_queue`: the folio
/// and bit that `filemap_read()` queued it for, and its wait entry, whose
/// wake function `W` (see [`PageWaiter::new`]) checks [`PageWaiter::matches`]
/// first.
///
/// # Invariants
///
/// The layout is that of `struct wait_page_queue`, and the entry is only
/// ever queued on folio wait queues, whose wake keys are
/// `struct wait_page_key`s.
#[repr(C)]
#[pin_data]
pub(crate) struct PageWaiter {
    /// Written by the page cache when it queues the entry.
    folio: Opaque<*mut bindings::folio>,
    bit_nr: Opaque<i32>,
    #[pin]
    wait: WaitQueueEntry,
}

// SAFETY: The folio and bit are written by the page cache under the folio
// queue's lock and only read under it (by `wake_page_match`); the entry may
// be queued and woken from any thread.
unsafe impl Send for PageWaiter {}
// SAFETY: As above.
unsafe impl Sync for PageWaiter {}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<PageWaiter>() == size_of::<bindings::wait_page_queue>());
    assert!(offset_of!(PageWaiter, folio) == offset_of!(bindings::wait_page_queue, folio));
    assert!(offset_of!(PageWaiter, bit_nr) == offset_of!(bindings::wait_page_queue, bit_nr));
    assert!(offset_of!(PageWaiter, wait) == offset_of!(bindings::wait_page_queue, wait));
};

impl PageWaiter {
    /// A waiter on no queue whose wake-ups go to `W`.
    pub(crate) fn new<W: WakeFunction>() -> impl PinInit<Self> {
        pin_init!(Self {
            folio: Opaque::new(core::ptr::null_mut()),
            bit_nr: Opaque::new(0),
            wait <- WaitQueueEntry::new::<W>(),
        })
    }

    /// The raw `wait_page_queue`, for `IoKiocb::arm_page_wait`.
    pub(crate) fn as_raw(&self) -> *mut bindings::wait_page_queue {
        core::ptr::from_ref(self).cast_mut().cast()
    }

    /// The waiter whose entry is `entry`.
    ///
    /// # Safety
    ///
    /// `entry` is the `wait` field of a live `PageWaiter`, alive for `'a`.
    pub(crate) unsafe fn from_entry<'a>(entry: NonNull<WaitQueueEntry>) -> &'a Self {
        // SAFETY: As documented.
        unsafe { &*kernel::container_of!(entry.as_ptr(), Self, wait) }
    }

    /// Whether a wake-up is for the folio and bit this waiter waits for
    /// (`wake_page_match()`, which also records a match of the folio alone
    /// in the key, so that the waker knows the folio still has waiters).
    pub(crate) fn matches(&self, wake: &WakeUp) -> bool {
        let key = wake.key() as *mut bindings::wait_page_key;
        // A keyless wake-up (NULL) matches nothing.
        // SAFETY: Called from the entry's wake function, under its folio
        // queue's lock, with that queue's key: a `wait_page_key` (invariant).
        !key.is_null() && unsafe { bindings::wake_page_match(self.as_raw(), key) }
    }

    /// Takes the entry off its folio's queue, from its wake function.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the queue the entry is on.
    pub(crate) unsafe fn remove_locked(&self) {
        // SAFETY: As documented.
        unsafe { self.wait.remove_locked() };
    }
}
