// SPDX-License-Identifier: GPL-2.0

//! The accounting of a buffered read that runs in several passes
//! (`retry.rs`): what each pass's result means for the next step, and the
//! one result the event reports.  Kernel-free, so that the host tests
//! (`tests/host`) check it against a model of `pread`.

/// What to do after a pass of `read_iter` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterPass {
    /// The read is over; the last pass returned this.
    Complete(isize),
    /// The pass read `consumed` bytes (maybe none) and the read goes on.
    GoOn { consumed: usize },
    /// The pass could not even start without blocking: a worker does a
    /// blocking pass.
    Worker,
}

/// After the first attempt, with `IOCB_NOWAIT`, of a read that had `left`
/// bytes to go: `-EAGAIN` or a partial read go on asynchronously; all of
/// it, an error or end of file (0) complete at once.
pub(crate) fn after_nowait(ret: isize, left: usize, eagain: isize) -> AfterPass {
    match ret {
        r if r == eagain => AfterPass::GoOn { consumed: 0 },
        r if r > 0 && (r as usize) < left => AfterPass::GoOn {
            consumed: r as usize,
        },
        r => AfterPass::Complete(r),
    }
}

/// After an `IOCB_WAITQ` pass that returned (did not queue) with `left`
/// bytes to go: progress goes on until nothing is left; end of file and
/// errors complete; `-EAGAIN` needs a worker.
pub(crate) fn after_waitq(ret: isize, left: usize, eagain: isize) -> AfterPass {
    match ret {
        r if r == eagain => AfterPass::Worker,
        r if r <= 0 => AfterPass::Complete(r),
        r if r as usize >= left => AfterPass::Complete(r),
        r => AfterPass::GoOn {
            consumed: r as usize,
        },
    }
}

/// The event's `res`: what a synchronous `pread` of the range returns,
/// given the bytes `done` of the passes before the last, whose result was
/// `ret` (bytes, 0 at end of file, or a negative errno): the total bytes,
/// an error only if nothing was read.
pub(crate) fn read_result(done: usize, ret: isize) -> isize {
    match done as isize {
        0 => ret,
        done if ret < 0 => done,
        done => done + ret,
    }
}
