// SPDX-License-Identifier: GPL-2.0

//! Filtered wake-ups: a waker passes a key, and each sleeper's own wake
//! function decides whether that wake-up concerns it, as
//! `wake_page_function()` filters page wait-bit wake-ups by page and bit.
//!
//! The `io_getevents` sleepers of a context ([`EventWaitQueue`]) each say
//! how many events they still need; a completion passes the number of
//! events now in the ring as the key, and wakes only the sleepers that
//! many events satisfy (as fs/aio.c's `struct aio_waiter`).  A wake-up
//! without a key (the context dies) wakes everybody.
//!
//! The queue is a `WaitQueueHead` rather than a `CondVar` because the sleep
//! needs an hrtimer deadline with the task's timer slack (as fs/aio.c) and
//! sleepers with their own wake function.

use core::pin::Pin;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::wait::{schedule_until, WaitQueueEntry, WaitQueueHead, WakeFunction, WakeUp};
use kernel::sync::LockClassKey;

/// The queue of `io_getevents` sleepers of one context.
#[pin_data]
pub(crate) struct EventWaitQueue {
    #[pin]
    head: WaitQueueHead,
}

/// One sleeper: its wait-queue entry and the number of events it needs.
#[repr(C)]
#[pin_data]
struct Waiter {
    #[pin]
    entry: WaitQueueEntry,
    needed: Atomic<usize>,
}

/// The wake function of a [`Waiter`]: a keyed wake-up carries the number of
/// events in the ring, and only wakes the sleeper if that is enough.
struct WakeIfEnough;

impl WakeFunction for WakeIfEnough {
    fn wake(entry: NonNull<WaitQueueEntry>, wake: &WakeUp) -> bool {
        // SAFETY: Only `Waiter`s use this wake function, and `entry` is the
        // first field (a transparent entry) of a live `repr(C)` `Waiter`.
        let waiter = unsafe { &*entry.as_ptr().cast::<Waiter>() };
        if wake.key() != 0 && wake.key() < waiter.needed.load(Relaxed) {
            return false;
        }
        waiter.entry.wake_task(wake)
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

impl EventWaitQueue {
    /// Creates an empty queue.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            head <- WaitQueueHead::new(name, key),
        })
    }

    /// Whether anybody sleeps here.  Callers order their own stores before
    /// this check with a full barrier, as `waitqueue_active()` requires.
    pub(crate) fn has_sleepers(&self) -> bool {
        self.head.has_sleepers()
    }

    /// Wakes the sleepers that need at most `available` events.
    pub(crate) fn wake_satisfied(&self, available: usize) {
        // A key of 0 would read as "no key": nobody needs fewer than 1.
        if available != 0 {
            self.head.wake_up_key(available);
        }
    }

    /// Wakes every sleeper.
    pub(crate) fn wake_all(&self) {
        self.head.wake_up_all();
    }

    /// Sleeps interruptibly until `consume()` returns true, `deadline` (an
    /// absolute `CLOCK_MONOTONIC` time in ns, `None` for no deadline)
    /// passes or a signal arrives.  `needed()` says how many events would
    /// end the wait; completions wake the task only when that many are in
    /// the ring.
    ///
    /// `ready()` runs after the task is queued and marked sleeping, so a
    /// wake-up between its check and the sleep is not lost; it must not
    /// sleep.  When it says there is something to do, the task is set running
    /// again and `consume()`, which may sleep, does it and says whether the
    /// wait is over.
    pub(crate) fn wait(
        &self,
        deadline: Option<i64>,
        mut needed: impl FnMut() -> usize,
        mut ready: impl FnMut() -> bool,
        mut consume: impl FnMut() -> bool,
    ) -> WaitEnd {
        let first_need = needed();
        pin_init::stack_pin_init!(let waiter = pin_init!(Waiter {
            entry <- WaitQueueEntry::for_current_task::<WakeIfEnough>(),
            needed: Atomic::new(first_need),
        }));
        let mut expired = false;
        loop {
            waiter.needed.store(needed(), Relaxed);
            // SAFETY: Every return below takes the entry off the queue with
            // `finish_wait` first, so it is off before `waiter` goes.
            let interrupted = unsafe { self.head.prepare_to_wait(&waiter.entry) };
            if ready() {
                // This also sets the task running, so that `consume` may sleep.
                self.head.finish_wait(&waiter.entry);
                if consume() {
                    return WaitEnd::Done;
                }
                continue;
            }
            let end = if interrupted {
                Some(WaitEnd::Interrupted)
            } else if expired {
                Some(WaitEnd::TimedOut)
            } else {
                None
            };
            if let Some(end) = end {
                self.head.finish_wait(&waiter.entry);
                return end;
            }
            expired = schedule_until(deadline);
        }
    }
}
