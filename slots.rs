// SPDX-License-Identifier: GPL-2.0

//! Ring slot accounting with per-CPU batches, as fs/aio.c does it
//! (`reqs_available`, `struct kioctx_cpu`, `get_reqs_available`,
//! `put_reqs_available`).
//!
//! Every request holds one ring slot from `io_submit` until its event has
//! been consumed, so the ring can never overflow.  The slots live in one
//! shared counter and in a small cache per CPU, moved between them a batch
//! at a time: submitting and completing touch the shared counter once per
//! batch instead of once per request.  `io_setup` doubles the ring
//! (`RingGeometry`) so that slots parked in other CPUs' caches never cut
//! what the caller asked for.

use kernel::bindings;
use kernel::interrupt::local_interrupt_disable;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};

/// The per-CPU caches, `alloc_percpu(unsigned int)`.
///
/// # Invariants
///
/// `self.0` is a live per-CPU allocation of one `u32` per CPU, only ever
/// accessed for the current CPU with interrupts disabled.
struct PerCpuCache(*mut u32);

// SAFETY: Each CPU only touches its own counter, with interrupts disabled.
unsafe impl Send for PerCpuCache {}
// SAFETY: As above.
unsafe impl Sync for PerCpuCache {}

impl Drop for PerCpuCache {
    fn drop(&mut self) {
        // SAFETY: We own the allocation (type invariant).
        unsafe { bindings::free_percpu(self.0.cast()) };
    }
}

/// The free ring slots of one context.
pub(crate) struct ReqSlots {
    /// Slots in no CPU's cache.
    shared: Atomic<u32>,
    /// How many slots move between `shared` and a CPU cache at once.
    batch: u32,
    cache: PerCpuCache,
}

impl ReqSlots {
    /// `slots` free slots (the ring size less one), for a machine with
    /// `cpus` possible CPUs.
    pub(crate) fn new(slots: u32, cpus: u32) -> Result<Self> {
        // SAFETY: No preconditions; returns NULL or a zeroed allocation.
        let cache = unsafe { bindings::alloc_percpu_uint() };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self {
            shared: Atomic::new(slots),
            batch: batch_size(slots, cpus),
            // INVARIANT: Just allocated.
            cache: PerCpuCache(cache),
        })
    }

    /// Takes one slot (fs/aio.c's `__get_reqs_available`): from this CPU's
    /// cache, refilled with a whole batch from the shared counter when
    /// empty.  `false` if the shared counter has less than a batch left.
    pub(crate) fn try_get(&self) -> bool {
        let _irq = local_interrupt_disable();
        // SAFETY: Interrupts are off, so we stay on this CPU and nothing
        // else on it touches its counter (type invariant).
        let local = unsafe { &mut *bindings::this_cpu_ptr_uint(self.cache.0) };
        if *local == 0 {
            let mut avail = self.shared.load(Relaxed);
            loop {
                if avail < self.batch {
                    return false;
                }
                match self.shared.cmpxchg(avail, avail - self.batch, Acquire) {
                    Ok(_) => break,
                    Err(seen) => avail = seen,
                }
            }
            *local += self.batch;
        }
        *local -= 1;
        true
    }

    /// Gives back `nr` slots (fs/aio.c's `put_reqs_available`): to this
    /// CPU's cache, whose excess beyond two batches goes back to the shared
    /// counter.  Any context, interrupts included.
    pub(crate) fn put(&self, nr: u32) {
        let _irq = local_interrupt_disable();
        // SAFETY: As in `try_get`.
        let local = unsafe { &mut *bindings::this_cpu_ptr_uint(self.cache.0) };
        *local += nr;
        while *local >= self.batch * 2 {
            *local -= self.batch;
            self.shared.fetch_add(self.batch, Release);
        }
    }
}

/// fs/aio.c's `req_batch`: a quarter of each CPU's fair share, at least 1.
pub(crate) fn batch_size(slots: u32, cpus: u32) -> u32 {
    (slots / cpus.saturating_mul(4).max(1)).max(1)
}

#[cfg(CONFIG_AIO_RUST_KUNIT_TEST)]
#[kunit_tests(aio_rs_slots)]
mod tests {
    use super::*;
    use crate::ring_index::RingGeometry;

    #[test]
    fn batch_as_fs_aio_c() {
        assert_eq!(batch_size(126, 2), 15);
        assert_eq!(batch_size(3, 2), 1);
        assert_eq!(batch_size(0, 2), 1);
    }

    /// One CPU can always take what `io_setup` was asked for, and never
    /// more than the ring holds, also after giving everything back.
    #[test]
    fn one_cpu_gets_at_least_the_request() -> Result {
        // SAFETY: No preconditions.
        let cpus = unsafe { kernel::bindings::num_possible_cpus() };
        for request in [1u32, 2, 7, 64, 128, 1000, 4096] {
            let geometry = RingGeometry::for_request(request, cpus, kernel::page::PAGE_SIZE)
                .map_err(|_| EINVAL)?;
            let slots = ReqSlots::new(geometry.max_in_flight(), cpus)?;
            let mut taken = 0;
            while slots.try_get() {
                taken += 1;
            }
            assert!(taken >= request);
            assert!(taken <= geometry.max_in_flight());
            // The test may migrate between CPUs and strand a few slots in a
            // cache: the request is still guaranteed.
            slots.put(taken);
            let mut again = 0;
            while slots.try_get() {
                again += 1;
            }
            assert!(again >= request);
        }
        Ok(())
    }
}
