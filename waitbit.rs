// SPDX-License-Identifier: GPL-2.0

//! Wait-queue entries with a wake function of their own: the filtered
//! wake-up mechanism (as `wake_page_match()` filters page wait-bit
//! wake-ups), where the waker passes a key and each entry's function decides
//! whether that wake-up concerns it.
//!
//! `IOCB_CMD_POLL` queues one on the polled file's queue and the
//! `io_getevents` sleeper (`getevents.rs`) one on its context's; the page
//! wait-bit retries of buffered I/O will be the next user.  The kernel crate
//! wraps `wait_queue_head` only inside `CondVar`, whose entries use the
//! default wake function; this is the small missing piece.

use kernel::bindings;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A wake function: `(entry, mode, sync, key)`, called under the queue's
/// lock, possibly with interrupts off.  Returns non-zero if it woke.
pub(crate) type WakeFn =
    unsafe extern "C" fn(*mut bindings::wait_queue_entry, c_uint, c_int, *mut c_void) -> c_int;

/// A `wait_queue_entry` with its own wake function.
///
/// # Invariants
///
/// The entry is initialised, with an empty (self-linked) list link when it
/// is on no queue.
#[repr(transparent)]
#[pin_data]
pub(crate) struct WaitEntry {
    #[pin]
    entry: Opaque<bindings::wait_queue_entry>,
}

// SAFETY: Wait entries are meant to be queued and woken from any thread.
unsafe impl Send for WaitEntry {}
// SAFETY: As above; the link is only changed under its queue's lock.
unsafe impl Sync for WaitEntry {}

impl WaitEntry {
    /// An entry on no queue whose wake-ups go to `func`.
    pub(crate) fn new(func: WakeFn) -> impl PinInit<Self> {
        pin_init!(Self {
            // As `init_waitqueue_func_entry()`, with a self-linked link so
            // that taking the entry off twice is harmless.
            entry <- Opaque::ffi_init(move |w: *mut bindings::wait_queue_entry| {
                // SAFETY: `w` points to the entry being initialised.
                unsafe {
                    (*w).flags = 0;
                    (*w).private = core::ptr::null_mut();
                    (*w).func = Some(func);
                    bindings::INIT_LIST_HEAD(&raw mut (*w).entry);
                }
            }),
        })
    }

    /// An entry for the current task to sleep on (`init_wait()`), whose
    /// wake-ups go to `func`; `func` wakes the task by ending in
    /// `autoremove_wake_function()`.
    pub(crate) fn for_current_task(func: WakeFn) -> impl PinInit<Self> {
        pin_init!(Self {
            entry <- Opaque::ffi_init(move |w: *mut bindings::wait_queue_entry| {
                // SAFETY: `w` points to the entry being initialised.
                unsafe {
                    bindings::init_wait(w);
                    (*w).func = Some(func);
                }
            }),
        })
    }

    /// The raw entry.
    pub(crate) fn as_ptr(&self) -> *mut bindings::wait_queue_entry {
        self.entry.get()
    }

    /// Queues the entry on `head` (`add_wait_queue()`).
    ///
    /// # Safety
    ///
    /// `head` is a live wait queue; the entry is on no queue and stays alive
    /// until it is off `head` again.
    pub(crate) unsafe fn add_to(&self, head: *mut bindings::wait_queue_head) {
        // SAFETY: As documented.
        unsafe { bindings::add_wait_queue(head, self.as_ptr()) };
    }

    /// Takes the entry off `head`, if it is still on it; takes the lock.
    ///
    /// # Safety
    ///
    /// `head` is live, and the entry is on `head` or on no queue.
    pub(crate) unsafe fn remove_from(&self, head: *mut bindings::wait_queue_head) {
        // `remove_wait_queue` takes the IRQ-safe lock (wake-ups may come from
        // interrupts); unlinking a self-linked entry changes nothing.
        // SAFETY: `head` is live (caller).  Once off the queue, no waker can
        // reach the entry, so its link may be reset without the lock.
        unsafe {
            bindings::remove_wait_queue(head, self.as_ptr());
            bindings::INIT_LIST_HEAD(&raw mut (*self.as_ptr()).entry);
        }
    }

    /// Takes the entry off its queue from its own wake function.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the queue the entry is on.
    pub(crate) unsafe fn remove_locked(&self) {
        // SAFETY: As documented.
        unsafe { bindings::list_del_init(&raw mut (*self.as_ptr()).entry) };
    }
}
