// SPDX-License-Identifier: GPL-2.0

//! The completion ring: a header and an array of `struct io_event`, shared
//! with user space through a mapping of an `[aio]` pseudo-fs file.
//!
//! The memory is `vmalloc_user()` memory owned by the file (the C glue frees
//! it when the last file reference goes), so a kernel pointer to it stays
//! valid for as long as [`Ring`] holds its file reference, even if user space
//! unmaps or moves the mapping.  The pages are not migratable: a ring is a
//! few pages per context, bounded system-wide by `aio-max-nr`, and fixed
//! pages keep page migration out of the completion path (fs/aio.c instead
//! swaps ring folios under its ring and completion locks).

use crate::abi::IoEvent;
use crate::ring_index::{
    self, plan_read, RingGeometry, RING_COMPAT_FEATURES, RING_HEADER_SIZE, RING_INCOMPAT_FEATURES,
    RING_MAGIC,
};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::fs::File;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::atomic::{Atomic, Relaxed, Release};
use kernel::uaccess::UserPtr;

/// Byte offsets of the fields of `struct aio_ring`.
mod hdr {
    pub(super) const ID: usize = 0;
    pub(super) const NR: usize = 4;
    pub(super) const HEAD: usize = 8;
    pub(super) const TAIL: usize = 12;
    pub(super) const MAGIC: usize = 16;
    pub(super) const COMPAT_FEATURES: usize = 20;
    pub(super) const INCOMPAT_FEATURES: usize = 24;
    pub(super) const HEADER_LENGTH: usize = 28;
}

/// A completion ring and the file that backs it.
///
/// # Invariants
///
/// `file` is a ring file created by `aio_rs_ring_file_create`; `mem` is
/// that file's memory, `size` bytes long, at least
/// `RING_HEADER_SIZE + nr_events * EVENT_SIZE`, aligned to a page.
pub(crate) struct Ring {
    file: ARef<File>,
    mem: NonNull<u8>,
    size: usize,
    nr_events: u32,
}

// SAFETY: The vmalloc memory may be used and released from any thread.
unsafe impl Send for Ring {}
// SAFETY: Shared access only reads or writes the ring memory through atomics
// or `copy_to_user`, which tolerate concurrent user-space access.
unsafe impl Sync for Ring {}

impl Ring {
    /// Allocates a zeroed ring of the given geometry and fills in its header
    /// (with `id = ~0` until the context has a table slot, as fs/aio.c).
    pub(crate) fn new(geometry: &RingGeometry) -> Result<Self> {
        let size = geometry.size(PAGE_SIZE);
        let mut mem = core::ptr::null_mut();
        // SAFETY: `mem` is a valid place for the out-pointer.
        let file = unsafe { bindings::aio_rs_ring_file_create(size, &mut mem) };
        let file = NonNull::new(kernel::error::from_err_ptr(file)?).ok_or(ENOMEM)?;
        // SAFETY: The new file's reference is ours; `File` is a transparent
        // `struct file`.
        let file = unsafe { ARef::from_raw(file.cast::<File>()) };
        // INVARIANT: the file was just created with `size` bytes at `mem`,
        // and `for_request` guarantees that the events fit.
        let ring = Self {
            file,
            mem: NonNull::new(mem.cast()).ok_or(ENOMEM)?,
            size,
            nr_events: geometry.nr_events,
        };
        ring.field(hdr::NR).store(geometry.nr_events, Relaxed);
        ring.field(hdr::ID).store(!0, Relaxed);
        ring.field(hdr::MAGIC).store(RING_MAGIC, Relaxed);
        ring.field(hdr::COMPAT_FEATURES)
            .store(RING_COMPAT_FEATURES, Relaxed);
        ring.field(hdr::INCOMPAT_FEATURES)
            .store(RING_INCOMPAT_FEATURES, Relaxed);
        ring.field(hdr::HEADER_LENGTH)
            .store(RING_HEADER_SIZE as u32, Relaxed);
        Ok(ring)
    }

    fn field(&self, offset: usize) -> &Atomic<u32> {
        // User space may write any header word at any time: all accesses are atomic.
        // SAFETY: `offset` is an aligned `hdr` offset inside `mem`, which outlives `self`.
        unsafe { Atomic::from_ptr(self.mem.as_ptr().add(offset).cast::<u32>()) }
    }

    /// Bytes of the mapping.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Slots in the ring (`ring->nr`, the trusted copy).
    pub(crate) fn nr_events(&self) -> u32 {
        self.nr_events
    }

    /// Whether `file` is the backing file (the mapping being moved).
    pub(crate) fn is_file(&self, file: *mut bindings::file) -> bool {
        self.file.as_ptr() == file
    }

    /// Records the context's table slot in `ring->id`, which `lookup` reads
    /// back from user space.
    pub(crate) fn set_id(&self, id: u32) {
        self.field(hdr::ID).store(id, Relaxed);
    }

    /// Maps the ring into the current process.
    pub(crate) fn map(&self) -> Result<RingMapping> {
        // SAFETY: `self.file` is a valid ring file of `self.size` bytes.
        let addr = unsafe { bindings::aio_rs_ring_file_mmap(self.file.as_ptr(), self.size) };
        if addr < 0 {
            return Err(Error::from_errno(addr as i32));
        }
        Ok(RingMapping {
            addr: addr as usize,
            size: self.size,
        })
    }

    /// `ring->head` as user space (or a consumer) last stored it.
    pub(crate) fn head(&self) -> u32 {
        self.field(hdr::HEAD).load(Relaxed)
    }

    /// Publishes `tail`: the events before it must already be written.
    pub(crate) fn set_tail(&self, tail: u32) {
        self.field(hdr::TAIL).store(tail, Release);
    }

    /// Writes `event` into slot `slot` (`< nr_events`), which the producer
    /// owns until it publishes a tail past it.
    pub(crate) fn write_event(&self, slot: u32, event: &IoEvent) {
        debug_assert!(slot < self.nr_events);
        let dst = ring_index::event_offset(slot);
        // SAFETY: The slot lies inside `mem` (type invariant), 8-byte aligned.
        unsafe { core::ptr::write_volatile(self.mem.as_ptr().add(dst).cast::<IoEvent>(), *event) };
    }

    /// Whether the ring holds events, without taking any lock (the answer
    /// may be stale by the time the caller acts on it).
    pub(crate) fn has_events(&self) -> bool {
        self.field(hdr::HEAD).load(Relaxed) != self.field(hdr::TAIL).load(Relaxed)
    }

    /// Stores `head` (a consumer's claim, `claim.rs`), after its events were
    /// copied out.
    pub(crate) fn set_head(&self, head: u32) {
        // Release orders our reads of the events before user space (or a
        // producer) may reuse their slots.
        self.field(hdr::HEAD).store(head, Release);
    }

    /// Copies the `count` events from position `start` on (slot
    /// `start % nr_events` and the following ones, wrapping) to `events`.
    /// `EFAULT` if the copy faults.
    pub(crate) fn copy_events(&self, events: UserPtr, start: u64, count: u32) -> Result {
        let first = (start % u64::from(self.nr_events)) as u32;
        let end = ((start + u64::from(count)) % u64::from(self.nr_events)) as u32;
        let plan = plan_read(first, end, self.nr_events, count as usize);
        let mut dst = events;
        for run in plan.runs.iter().filter(|run| run.len > 0) {
            let bytes = run.len as usize * ring_index::EVENT_SIZE;
            // `plan_read` keeps `run.start + run.len <= nr_events`: the
            // source lies inside `mem` (type invariant).
            // SAFETY: As just said; `copy_to_user` checks the destination.
            let left = unsafe {
                bindings::copy_to_user(
                    dst.as_mut_ptr(),
                    self.mem
                        .as_ptr()
                        .add(ring_index::event_offset(run.start))
                        .cast(),
                    bytes as kernel::ffi::c_ulong,
                )
            };
            if left != 0 {
                return Err(EFAULT);
            }
            dst = dst.wrapping_byte_add(bytes);
        }
        Ok(())
    }
}

/// A fresh mapping of a ring in the current process, unmapped when dropped
/// unless [`RingMapping::keep`] hands it over to its context.
pub(crate) struct RingMapping {
    addr: usize,
    size: usize,
}

impl RingMapping {
    /// The user address of the ring.
    pub(crate) fn addr(&self) -> usize {
        self.addr
    }

    /// The context owns the mapping from now on (it unmaps it when killed).
    pub(crate) fn keep(self) {
        core::mem::forget(self);
    }
}

impl Drop for RingMapping {
    fn drop(&mut self) {
        // SAFETY: We mapped it into the current process, which is still ours.
        unsafe { bindings::vm_munmap(self.addr, self.size) };
    }
}

#[cfg(CONFIG_AIO_RUST_KUNIT_TEST)]
#[kunit_tests(aio_rs_ring)]
mod tests {
    use crate::ring_index::*;

    #[test]
    fn geometry_as_fs_aio_c() {
        // io_setup(1) with 2 possible CPUs: max(1, 8) * 2 + 2 events fit in
        // one page of 127 slots.
        assert_eq!(
            RingGeometry::for_request(1, 2, 4096),
            Ok(RingGeometry {
                nr_pages: 1,
                nr_events: 127
            })
        );
        assert_eq!(
            RingGeometry::for_request(128, 2, 4096),
            Ok(RingGeometry {
                nr_pages: 3,
                nr_events: 383
            })
        );
        assert_eq!(
            RingGeometry::for_request(0x8000_0000, 2, 4096),
            Err(GeometryError::Zero)
        );
        assert_eq!(
            RingGeometry::for_request(0x0800_0000, 2, 4096),
            Err(GeometryError::TooLarge)
        );
    }

    #[test]
    fn available_wraps() {
        assert_eq!(events_available(0, 0, 10), 0);
        assert_eq!(events_available(7, 2, 10), 5);
        assert_eq!(events_available(12, 17, 10), 5);
    }

    #[test]
    fn plan_read_splits_at_ring_end() {
        let p = plan_read(7, 3, 10, 100);
        assert_eq!(p.runs[0], Run { start: 7, len: 3 });
        assert_eq!(p.runs[1], Run { start: 0, len: 3 });
        assert_eq!((p.count, p.new_head), (6, 3));
        let p = plan_read(7, 3, 10, 4);
        assert_eq!((p.count, p.new_head), (4, 1));
        let p = plan_read(4, 4, 10, 100);
        assert_eq!(p.count, 0);
    }

    #[test]
    fn plan_read_exhaustive() {
        for nr in 1u32..9 {
            for head in 0..nr {
                for tail in 0..nr {
                    for max in 0..(nr as usize + 2) {
                        let p = plan_read(head, tail, nr, max);
                        assert_eq!(p.count, events_available(head, tail, nr).min(max as u32));
                        assert_eq!(p.new_head, (head + p.count) % nr);
                        assert_eq!(p.runs[0].len + p.runs[1].len, p.count);
                    }
                }
            }
        }
    }
}
