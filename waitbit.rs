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
//!
//! A buffered read that would wait for a folio queues a [`PageWaiter`] on
//! the folio's wait queue instead (`IOCB_WAITQ`): the folio's unlock or end
//! of writeback wakes everything hashed to that queue with the folio and
//! bit as the key, and the waiter only lets its own folio and bit through
//! (`wake_page_match()`), as io_uring's `io_async_buf_func()` does.

use core::pin::Pin;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::wait::{schedule_until, WaitQueueEntry, WaitQueueHead, WakeFunction, WakeUp};
use kernel::sync::LockClassKey;
use kernel::types::Opaque;

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
            if interrupted {
                self.head.finish_wait(&waiter.entry);
                // Task work (a buffered read's next pass, `retry.rs`)
                // interrupts the sleep without a signal: run it and sleep
                // on, unless a real signal is pending (as io_uring's wait).
                let current = kernel::current!();
                current.run_task_work();
                if !current.sigpending() {
                    continue;
                }
                return WaitEnd::Interrupted;
            }
            if expired {
                self.head.finish_wait(&waiter.entry);
                return WaitEnd::TimedOut;
            }
            expired = schedule_until(deadline);
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
        // SAFETY: Called from the entry's wake function, so under its folio
        // queue's lock, with that queue's key, a `wait_page_key` (type
        // invariant); a keyless wake-up (NULL) matches nothing.
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
