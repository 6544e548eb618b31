// SPDX-License-Identifier: GPL-2.0

//! The accounting of a write with synchronous semantics (`sync_write.rs`),
//! whose copy may take two passes (an `IOCB_NOWAIT` one inside `io_submit`,
//! then the pool): what a pass's result means for the next step, and the
//! one result the event reports.  Kernel-free, so that the host tests
//! (`tests/host`) check it against a model of a synchronous `pwrite`.

/// What to do after a copy pass of `write_iter` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterCopy {
    /// The rest of the copy goes to the pool.
    CopyInPool,
    /// Nothing was written: the event reports this result of the copy.
    Complete(isize),
    /// The bytes written so far are synced, and that ends the write.
    Sync,
}

/// After a copy pass that returned `ret`, with `left` bytes still to copy
/// and `written` bytes copied in all passes: whatever stopped an
/// `IOCB_NOWAIT` pass (`nowait`) short (`-EAGAIN`, a short copy, a refusal)
/// the pool goes on without it; a blocking pass is the last, as the one
/// `write_iter` of a synchronous write is.
pub(crate) fn after_copy(ret: isize, left: usize, written: usize, nowait: bool) -> AfterCopy {
    if nowait && left > 0 && ret != 0 {
        AfterCopy::CopyInPool
    } else if written == 0 {
        AfterCopy::Complete(ret)
    } else {
        AfterCopy::Sync
    }
}

/// The event's `res` once the `written` bytes were synced with result
/// `sync` (0 or a negative errno): as `generic_write_sync()`, the sync's
/// error, else the bytes.
pub(crate) fn write_result(written: usize, sync: isize) -> isize {
    if sync < 0 {
        sync
    } else {
        written as isize
    }
}
