// SPDX-License-Identifier: GPL-2.0

//! Index arithmetic of the mapped completion ring, free of kernel types.
//!
//! The kernel crate includes this file as a module and the host test crate
//! (`tests/host`) includes the very same file, so everything here can be
//! unit-tested with plain `cargo test`.  Nothing here touches memory.

/// Size of `struct aio_ring`, the header at the start of the mapping.
pub(crate) const RING_HEADER_SIZE: usize = 32;
/// Size of `struct io_event`.
pub(crate) const EVENT_SIZE: usize = 32;
/// `AIO_RING_MAGIC`.
pub(crate) const RING_MAGIC: u32 = 0xa10a_10a1;
/// `AIO_RING_COMPAT_FEATURES`.
pub(crate) const RING_COMPAT_FEATURES: u32 = 1;
/// `AIO_RING_INCOMPAT_FEATURES`.
pub(crate) const RING_INCOMPAT_FEATURES: u32 = 0;

/// Why `io_setup` cannot size a ring for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeometryError {
    /// The doubled request does not fit (`EINVAL` in fs/aio.c).
    TooLarge,
    /// The doubled request wrapped around to zero (`EAGAIN` in fs/aio.c).
    Zero,
}

/// The shape of a ring, as fs/aio.c computes it for `io_setup(nr_events)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingGeometry {
    /// Pages of the mapping (header included).
    pub(crate) nr_pages: usize,
    /// Slots in the ring: `ring->nr`, what fits in `nr_pages`.
    pub(crate) nr_events: u32,
}

impl RingGeometry {
    /// Computes the geometry for a request of `requested` events on a machine
    /// with `possible_cpus` CPUs, with fs/aio.c's exact (wrapping, 32-bit)
    /// arithmetic: up to half of the slots may sit in per-CPU batches, so the
    /// request is doubled (after a floor of 4 per CPU), then 2 slots are added
    /// for the head/tail gap and the result is rounded up to whole pages.
    pub(crate) fn for_request(
        requested: u32,
        possible_cpus: u32,
        page_size: usize,
    ) -> Result<Self, GeometryError> {
        let doubled = requested.max(possible_cpus.wrapping_mul(4)).wrapping_mul(2);
        if doubled as usize > 0x1000_0000 / EVENT_SIZE {
            return Err(GeometryError::TooLarge);
        }
        if doubled == 0 {
            return Err(GeometryError::Zero);
        }
        let bytes = RING_HEADER_SIZE + EVENT_SIZE * (doubled as usize + 2);
        let nr_pages = bytes.div_ceil(page_size);
        let nr_events = ((nr_pages * page_size - RING_HEADER_SIZE) / EVENT_SIZE) as u32;
        Ok(Self {
            nr_pages,
            nr_events,
        })
    }

    /// Bytes of the mapping.
    pub(crate) fn size(&self, page_size: usize) -> usize {
        self.nr_pages * page_size
    }

    /// Requests that may be in flight at once: one slot always stays empty
    /// so that `head == tail` means an empty ring.
    pub(crate) fn max_in_flight(&self) -> u32 {
        self.nr_events - 1
    }
}

/// Byte offset of event slot `slot` from the start of the mapping.
pub(crate) fn event_offset(slot: u32) -> usize {
    RING_HEADER_SIZE + slot as usize * EVENT_SIZE
}

/// Events between `head` and `tail` in a ring of `nr` slots.  Both indices
/// come from the shared mapping, which user space can write, so they are
/// reduced modulo `nr` first, as fs/aio.c does.
pub(crate) fn events_available(head: u32, tail: u32, nr: u32) -> u32 {
    let head = head % nr;
    let tail = tail % nr;
    if tail >= head {
        tail - head
    } else {
        nr - head + tail
    }
}

/// One contiguous run of ring slots to copy out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Run {
    /// First slot.
    pub(crate) start: u32,
    /// Number of slots.
    pub(crate) len: u32,
}

/// What reading at most `max` events from `head` to `tail` takes: at most two
/// contiguous runs (the second one after wrapping to slot 0) and the new head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ReadPlan {
    /// Runs in ring order; a run of length 0 is unused.
    pub(crate) runs: [Run; 2],
    /// Total events of the runs.
    pub(crate) count: u32,
    /// `head` after consuming them, already reduced modulo `nr`.
    pub(crate) new_head: u32,
}

/// Plans the copy of up to `max` events out of a ring of `nr` slots.
pub(crate) fn plan_read(head: u32, tail: u32, nr: u32, max: usize) -> ReadPlan {
    let mut head = head % nr;
    let tail = tail % nr;
    let mut plan = ReadPlan {
        new_head: head,
        ..ReadPlan::default()
    };
    let mut want = max.min(u32::MAX as usize) as u32;
    for run in plan.runs.iter_mut() {
        if head == tail || want == 0 {
            break;
        }
        let end = if head <= tail { tail } else { nr };
        let len = (end - head).min(want);
        *run = Run { start: head, len };
        plan.count += len;
        want -= len;
        head = (head + len) % nr;
    }
    plan.new_head = head;
    plan
}
