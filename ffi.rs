// SPDX-License-Identifier: GPL-2.0

//! The C half of the glue (`aio_glue.c`, declared in `aio_glue.h`).

use kernel::bindings::{list_head, wait_queue_entry, wait_queue_head};
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
    /// `vfs_poll()` of a `struct file` with a `struct poll_table_struct`
    /// (both `void *` for the same reason as files above).
    pub(crate) fn aio_rs_vfs_poll(file: *mut c_void, pt: *mut c_void) -> u32;
    /// `demangle_poll()`: user `POLL*` bits to `EPOLL*` ones.
    pub(crate) fn aio_rs_demangle_poll(val: u16) -> u32;
    /// `mangle_poll()`: `EPOLL*` bits to user `POLL*` ones.
    pub(crate) fn aio_rs_mangle_poll(val: u32) -> u16;
    /// Takes `wait` off `head` if it is still queued there (takes the lock).
    pub(crate) fn aio_rs_wait_dequeue(head: *mut wait_queue_head, wait: *mut wait_queue_entry);
    /// Takes `wait` off its queue; the caller holds the queue's lock.
    pub(crate) fn aio_rs_wait_del_locked(wait: *mut wait_queue_entry);
    /// `alloc_percpu(unsigned int)`: zeroed, or NULL.
    pub(crate) fn aio_rs_slot_cache_alloc() -> *mut c_void;
    /// `this_cpu_ptr()` of such an allocation; interrupts must be off.
    pub(crate) fn aio_rs_slot_cache_this_cpu(cache: *mut c_void) -> *mut u32;
    /// `list_del_init()`.
    pub(crate) fn aio_rs_list_del_init(entry: *mut list_head);
}
