// SPDX-License-Identifier: GPL-2.0

//! `io_getevents` and `io_pgetevents` (fs/aio.c's `read_events`): reading
//! events out of the ring, and sleeping until enough are there, a deadline,
//! a signal or the context's death.
//!
//! Sleeps use filtered wake-ups: each sleeper says how many events it still
//! needs, and a completion wakes only the sleepers that the events now in
//! the ring satisfy (as fs/aio.c's `struct aio_waiter`).  The filter is the
//! wake-key mechanism of `waitbit.rs`: the completion passes the number of
//! available events as the key of `__wake_up`, and each sleeper's wake
//! function compares it with its own need.  A wake-up without a key (the
//! context dies) wakes everybody.
//!
//! The wait queue is a raw `wait_queue_head` rather than a `CondVar` because
//! the sleep needs an hrtimer deadline with the task's timer slack (as
//! fs/aio.c) and sleepers with their own wake function.

use crate::context::Kioctx;
use crate::ring_index::EVENT_SIZE;
use crate::table::lookup;
use crate::waitbit::WaitEntry;
use core::cell::Cell;
use core::pin::Pin;
use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::LockClassKey;
use kernel::task::{Task, TASK_INTERRUPTIBLE, TASK_NORMAL};
use kernel::types::Opaque;
use kernel::uaccess::UserPtr;

/// `KTIME_MAX`: no deadline.
pub(crate) const NO_DEADLINE: i64 = i64::MAX;

/// The queue of `io_getevents` sleepers of one context.
///
/// # Invariants
///
/// `head` is an initialised `wait_queue_head`.
#[pin_data]
pub(crate) struct EventWaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A `wait_queue_head` is meant to be used from any thread.
unsafe impl Send for EventWaitQueue {}
// SAFETY: A `wait_queue_head` is meant to be used from any thread.
unsafe impl Sync for EventWaitQueue {}

/// One sleeper: its wait-queue entry and the number of events it needs.
#[repr(C)]
#[pin_data]
struct Waiter {
    #[pin]
    entry: WaitEntry,
    needed: Atomic<usize>,
}

/// The wake function of a [`Waiter`]: a keyed wake-up carries the number of
/// events in the ring, and only wakes the sleeper if that is enough.
///
/// # Safety
///
/// Called by the wait-queue code, under the queue lock, with `entry` the
/// entry of a live [`Waiter`].
unsafe extern "C" fn wake_if_enough(
    entry: *mut bindings::wait_queue_entry,
    mode: c_uint,
    sync: c_int,
    key: *mut c_void,
) -> c_int {
    // SAFETY: `entry` is the first field (a transparent `WaitEntry`) of a
    // `repr(C)` `Waiter` (caller).
    let waiter = unsafe { &*entry.cast::<Waiter>() };
    if !key.is_null() && (key as usize) < waiter.needed.load(Relaxed) {
        return 0;
    }
    // SAFETY: Same contract as ours.
    unsafe { bindings::autoremove_wake_function(entry, mode, sync, key) }
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
            // SAFETY: `slot` is valid for the call; `name` and `key` are static.
            head <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// Whether anybody sleeps here.  Callers order their own stores before
    /// this check with a full barrier, as `waitqueue_active()` requires.
    pub(crate) fn has_sleepers(&self) -> bool {
        // `waitqueue_active()`: an unlocked read that may race with sleepers
        // queueing themselves (they recheck the condition afterwards).
        // SAFETY: `head` is initialised (type invariant).
        unsafe {
            let head = core::ptr::addr_of_mut!((*self.head.get()).head);
            core::ptr::read_volatile(core::ptr::addr_of!((*head).next)) != head
        }
    }

    /// Wakes the sleepers that need at most `available` events.
    pub(crate) fn wake_satisfied(&self, available: usize) {
        // A key of 0 would read as "no key": nobody needs fewer than 1.
        if available == 0 {
            return;
        }
        // SAFETY: `head` is initialised (type invariant); the key is a
        // number, never dereferenced.
        unsafe { bindings::__wake_up(self.head.get(), TASK_NORMAL, 0, available as *mut c_void) };
    }

    /// Wakes every sleeper.
    pub(crate) fn wake_all(&self) {
        // SAFETY: `head` is initialised (type invariant).
        unsafe { bindings::__wake_up(self.head.get(), TASK_NORMAL, 0, core::ptr::null_mut()) };
    }

    /// Sleeps interruptibly until `consume()` returns true, `deadline` (an
    /// absolute `CLOCK_MONOTONIC` time in ns, or [`NO_DEADLINE`]) passes or
    /// a signal arrives.  `needed()` says how many events would end the wait;
    /// completions wake the task only when that many are in the ring.
    ///
    /// `ready()` runs after the task is queued and marked sleeping, so a
    /// wake-up between its check and the sleep is not lost; it must not
    /// sleep.  When it says there is something to do, the task is set running
    /// again and `consume()`, which may sleep, does it and says whether the
    /// wait is over.
    pub(crate) fn wait(
        &self,
        deadline: i64,
        mut needed: impl FnMut() -> usize,
        mut ready: impl FnMut() -> bool,
        mut consume: impl FnMut() -> bool,
    ) -> WaitEnd {
        let first_need = needed();
        pin_init::stack_pin_init!(let waiter = pin_init!(Waiter {
            entry <- WaitEntry::for_current_task(wake_if_enough),
            needed: Atomic::new(first_need),
        }));
        let entry = waiter.entry.as_ptr();
        // SAFETY: `current` is always valid in syscall context.
        let slack = unsafe { (*Task::current_raw()).timer_slack_ns };
        let mut expired = false;
        loop {
            waiter.needed.store(needed(), Relaxed);
            // SAFETY: `head` is initialised and `entry` is a valid entry
            // (queued again if a waker or `finish_wait` removed it).
            let interrupted = unsafe {
                bindings::prepare_to_wait_event(self.head.get(), entry, TASK_INTERRUPTIBLE)
            } != 0;
            if ready() {
                // SAFETY: As above; this also sets the task running, so that
                // `consume` may sleep.
                unsafe { bindings::finish_wait(self.head.get(), entry) };
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
                // SAFETY: As above.
                unsafe { bindings::finish_wait(self.head.get(), entry) };
                return end;
            }
            if deadline == NO_DEADLINE {
                // SAFETY: The task state was set by `prepare_to_wait_event`.
                unsafe { bindings::schedule() };
            } else {
                let mut expires = deadline;
                // SAFETY: As above; `expires` is a valid ktime.
                expired = unsafe {
                    bindings::schedule_hrtimeout_range(
                        &mut expires,
                        slack,
                        bindings::hrtimer_mode_HRTIMER_MODE_ABS,
                    )
                } == 0;
            }
        }
    }
}

/// The absolute deadline of a relative timeout of `rel_ns` from now, with
/// `ktime_add_safe()`'s saturation as fs/aio.c's relative hrtimer gets it: a
/// negative timeout or an overflow means no deadline at all.
fn deadline_after(rel_ns: i64) -> i64 {
    // SAFETY: `ktime_get` has no preconditions.
    let now = unsafe { bindings::ktime_get() };
    match now.checked_add(rel_ns) {
        Some(t) if t >= 0 && t >= now && t >= rel_ns => t,
        _ => NO_DEADLINE,
    }
}

/// fs/aio.c's `aio_read_events`: reads events into `events[got..nr]` and
/// says whether the caller should stop waiting.  `got` counts the events
/// read so far; if none were, a failure (a fault, or the context's death)
/// becomes its error.
fn read_events(
    ctx: &Kioctx,
    min_nr: usize,
    nr: usize,
    events: UserPtr,
    got: &Cell<Result<usize>>,
) -> bool {
    let done = got.get().unwrap_or(0);
    let read = ctx.read_ring(events.wrapping_byte_add(done * EVENT_SIZE), nr - done);
    let total = done + read.unwrap_or(0);
    let failed = if ctx.is_dead() {
        Err(EINVAL)
    } else {
        read.map(|_| ())
    };
    match failed {
        Err(e) => {
            got.set(if total == 0 { Err(e) } else { Ok(total) });
            true
        }
        Ok(()) => {
            got.set(Ok(total));
            total >= min_nr
        }
    }
}

/// `io_getevents`: waits until `min_nr` events were read, the relative
/// timeout `until_ns` (`KTIME_MAX`: none) passed, a signal arrived or the
/// context died.  Returns the number of events read; a pending signal turns
/// 0 into `EINTR` in the system call.
pub(crate) fn getevents(
    ctx_id: usize,
    min_nr: c_long,
    nr: c_long,
    events: UserPtr,
    until_ns: i64,
) -> Result<usize> {
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    if min_nr > nr || min_nr < 0 {
        return Err(EINVAL);
    }
    let (min_nr, nr) = (min_nr as usize, nr as usize);
    let got = Cell::new(Ok(0));
    if !read_events(&ctx, min_nr, nr, events, &got) && until_ns != 0 {
        // However the wait ends, `got` says what was read.
        let _ = ctx.wait_queue().wait(
            deadline_after(until_ns),
            || min_nr.saturating_sub(got.get().unwrap_or(0)).max(1),
            || ctx.ring().has_events() || ctx.is_dead(),
            || read_events(&ctx, min_nr, nr, events, &got),
        );
    }
    got.get()
}
