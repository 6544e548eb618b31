// SPDX-License-Identifier: GPL-2.0

//! User-visible structures of the AIO ABI (`include/uapi/linux/aio_abi.h`).

use kernel::transmute::FromBytes;
use kernel::uapi;

/// `IOCB_FLAG_RESFD`: signal the eventfd in `aio_resfd` on completion.
pub(crate) const IOCB_FLAG_RESFD: u32 = uapi::IOCB_FLAG_RESFD;

/// `IOCB_FLAG_IOPRIO`: `aio_reqprio` is an I/O priority.
pub(crate) const IOCB_FLAG_IOPRIO: u32 = uapi::IOCB_FLAG_IOPRIO;

/// `struct iocb`, in its little-endian layout (`aio_key` before
/// `aio_rw_flags`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Iocb {
    pub(crate) aio_data: u64,
    pub(crate) aio_key: u32,
    pub(crate) aio_rw_flags: i32,
    pub(crate) aio_lio_opcode: u16,
    pub(crate) aio_reqprio: i16,
    pub(crate) aio_fildes: u32,
    pub(crate) aio_buf: u64,
    pub(crate) aio_nbytes: u64,
    pub(crate) aio_offset: i64,
    pub(crate) aio_reserved2: u64,
    pub(crate) aio_flags: u32,
    pub(crate) aio_resfd: u32,
}

/// `KIOCB_KEY`: what `io_submit` stores in `iocb->aio_key`, and what
/// `io_cancel` expects there.
pub(crate) const KIOCB_KEY: u32 = 0;

/// Byte offset of `aio_key` in `struct iocb`.
pub(crate) const IOCB_KEY_OFFSET: usize = 8;

// SAFETY: `Iocb` is plain old data without padding: every bit pattern is valid.
unsafe impl FromBytes for Iocb {}

/// `struct io_event`, one slot of the completion ring.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct IoEvent {
    pub(crate) data: u64,
    pub(crate) obj: u64,
    pub(crate) res: i64,
    pub(crate) res2: i64,
}

const _: () = {
    assert!(core::mem::size_of::<IoEvent>() == core::mem::size_of::<uapi::io_event>());
    assert!(core::mem::size_of::<Iocb>() == 64);
    assert!(core::mem::size_of::<Iocb>() == core::mem::size_of::<uapi::iocb>());
    assert!(core::mem::size_of::<uapi::io_event>() == crate::ring_index::EVENT_SIZE);
    assert!(core::mem::offset_of!(Iocb, aio_key) == IOCB_KEY_OFFSET);
};
