// SPDX-License-Identifier: GPL-2.0

//! An `iov_iter` over user memory that owns its segment array, so that a
//! request can keep it for as long as it needs it (a retry continues from
//! where the iterator stopped).
//!
//! `kernel::iov` wraps iterators that someone else set up; this is the
//! missing half: `import_ubuf()` and `__import_iovec()` into an iterator
//! whose first `UIO_FASTIOV` segments live inline, as the C callers keep
//! them on their stack.  It would fit next to `kernel::iov` as a patch.

use core::ptr::null_mut;
use kernel::bindings;
use kernel::ffi::{c_int, c_uint};
use kernel::prelude::*;
use kernel::types::Opaque;
use kernel::uaccess::UserPtr;
use pin_init::pin_init_from_closure;

const FAST_SEGMENTS: usize = bindings::UIO_FASTIOV as usize;

/// Which way the data flows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The kernel writes into the user buffer (a read).
    Dest,
    /// The kernel reads from the user buffer (a write).
    Source,
}

/// What an iterator covers: `len` bytes at `buf`, or with `vectored` an
/// array of `len` iovecs at `buf` (32-bit ones if `compat`).
#[derive(Clone, Copy)]
pub(crate) struct UserBuffer {
    pub(crate) dir: Direction,
    pub(crate) buf: UserPtr,
    pub(crate) len: usize,
    pub(crate) vectored: bool,
    pub(crate) compat: bool,
}

/// A user-backed iterator and its segments.
///
/// # Invariants
///
/// `iter` is an initialised iterator whose segments (if any) are `inline`
/// or `heap`; `heap` is NULL or a `kmalloc`ed array owned by `self`.
#[pin_data(PinnedDrop)]
pub(crate) struct UserIovIter {
    #[pin]
    iter: Opaque<bindings::iov_iter>,
    #[pin]
    inline: Opaque<[bindings::iovec; FAST_SEGMENTS]>,
    heap: *mut bindings::iovec,
}

// SAFETY: The iterator only refers to user memory and to segment arrays that
// it owns; it may be used and freed from any thread.
unsafe impl Send for UserIovIter {}
// SAFETY: Shared access only hands out the raw iterator; the users of the
// pointer (one request at a time) serialise among themselves.
unsafe impl Sync for UserIovIter {}

impl UserIovIter {
    /// An iterator over `buffer` (fs/aio.c's `aio_setup_rw`), or over
    /// nothing for requests that move no data.
    pub(crate) fn new(buffer: Option<UserBuffer>) -> impl PinInit<Self, Error> {
        // SAFETY: The closure initialises every field, or fails leaving
        // nothing to drop.
        unsafe {
            pin_init_from_closure(move |slot: *mut Self| {
                let iter = Opaque::cast_into(&raw const (*slot).iter);
                (*slot).heap = null_mut();
                let Some(b) = buffer else {
                    // Zeroes are an empty iterator with no segments.
                    iter.write_bytes(0, 1);
                    return Ok(());
                };
                let dir = match b.dir {
                    Direction::Dest => bindings::ITER_DEST,
                    Direction::Source => bindings::ITER_SOURCE,
                } as c_int;
                let ret = if b.vectored {
                    let inline =
                        Opaque::cast_into(&raw const (*slot).inline).cast::<bindings::iovec>();
                    let mut iov = inline;
                    // `inline` holds UIO_FASTIOV segments; on return `iov` is
                    // NULL, `inline` or a kmalloc'ed array.
                    let ret = bindings::__import_iovec(
                        dir,
                        b.buf.as_const_ptr().cast(),
                        // Truncated to `unsigned int` segments, as fs/aio.c.
                        b.len as c_uint,
                        bindings::UIO_FASTIOV,
                        &mut iov,
                        iter,
                        b.compat,
                    );
                    if iov != inline {
                        (*slot).heap = iov;
                    }
                    ret
                } else {
                    bindings::import_ubuf(dir, b.buf.as_mut_ptr(), b.len, iter) as isize
                };
                if ret < 0 {
                    // `__import_iovec` frees its array and NULLs `iov` on failure.
                    return Err(Error::from_errno(ret as c_int));
                }
                Ok(())
            })
        }
    }

    /// The iterator, for `read_iter`/`write_iter`.
    pub(crate) fn as_raw(&self) -> *mut bindings::iov_iter {
        self.iter.get()
    }

    /// Bytes left (`iov_iter_count()`).
    pub(crate) fn count(&self) -> usize {
        // SAFETY: `iter` is initialised (type invariant).
        unsafe { bindings::iov_iter_count(self.iter.get()) }
    }
}

#[pinned_drop]
impl PinnedDrop for UserIovIter {
    fn drop(self: Pin<&mut Self>) {
        if !self.heap.is_null() {
            // SAFETY: `heap` is ours and nothing uses the iterator any more.
            unsafe { bindings::kfree(self.heap.cast()) };
        }
    }
}
