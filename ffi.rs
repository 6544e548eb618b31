// SPDX-License-Identifier: GPL-2.0

//! The C half of the glue (`aio_glue.c`, declared in `aio_glue.h`).

use kernel::ffi::{c_long, c_ulong, c_void};

extern "C" {
    /// Creates an `[aio]` pseudo-fs file holding `size` zeroed bytes of
    /// `vmalloc_user()` memory, stored in `*mem`.  Returns a reference to the
    /// `struct file` or an `ERR_PTR`.  (Files are passed as `void *`: rustc
    /// does not consider `struct file` FFI-safe in a declaration.)
    pub(crate) fn aio_rs_ring_file_create(size: usize, mem: *mut *mut c_void) -> *mut c_void;
    /// Maps a ring file shared and read-write into the current process.
    /// Returns the user address or a negative errno.
    pub(crate) fn aio_rs_ring_file_mmap(file: *mut c_void, size: usize) -> c_long;
    /// `/proc/sys/fs/aio-nr`.
    pub(crate) static mut aio_rs_nr: c_ulong;
    /// `/proc/sys/fs/aio-max-nr`.
    pub(crate) static mut aio_rs_max_nr: c_ulong;
}
