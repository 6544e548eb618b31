// SPDX-License-Identifier: GPL-2.0

//! The ownership protocol of an `IOCB_CMD_POLL` request, free of kernel
//! types so that the host tests exercise the very same code.
//!
//! It mirrors io_uring's `poll_refs` (`io_uring/poll.c`:
//! `io_poll_get_ownership`, `io_poll_check_events`): one word counts the
//! wake-ups and cancellations not yet looked at, and carries a cancel flag.
//! Whoever moves the count from zero becomes the *owner*, the only one
//! allowed to look at the file, to complete the request or to hand it to a
//! worker.  Everybody else just leaves a reference behind; the owner keeps
//! going until it gives back exactly the references it has seen.  Thus a
//! wake-up can never be lost (the owner always re-polls after the last
//! reference it drops) and a request is never completed twice.

/// Set once the request is cancelled (`io_cancel`, context teardown or
/// `POLLFREE`).
pub(crate) const POLL_CANCELLED: u32 = 1 << 31;
/// The references (pending wake-ups) part of the word.
pub(crate) const POLL_REF_MASK: u32 = POLL_CANCELLED - 1;

/// The atomic word the protocol runs on: the kernel's `Atomic<u32>` in the
/// kernel, `core`'s `AtomicU32` on the host.  Every operation is fully
/// ordered.
pub(crate) trait PollWord {
    fn load(&self) -> u32;
    /// Adds `v` and returns the previous value.
    fn fetch_add(&self, v: u32) -> u32;
    /// Subtracts `v` and returns the previous value.
    fn fetch_sub(&self, v: u32) -> u32;
    /// Replaces `old` with `new`; returns the value seen on failure.
    fn cmpxchg(&self, old: u32, new: u32) -> Result<u32, u32>;
}

/// What the owner found out in [`PollRefs::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollOutcome {
    /// The file reported these events: complete with them.
    Ready(u32),
    /// The request was cancelled: complete with no events.
    Cancelled,
    /// Nothing to report, and ownership was given back: the request stays
    /// armed on its wait queue.
    Armed,
}

/// The ownership word of one poll request.
pub(crate) struct PollRefs<W: PollWord>(pub(crate) W);

impl<W: PollWord> PollRefs<W> {
    /// A word for a request that its submitter owns while arming it.
    pub(crate) const ARMING: u32 = 1;

    /// Leaves a reference; true if the caller became the owner.
    pub(crate) fn get_ownership(&self) -> bool {
        self.0.fetch_add(1) & POLL_REF_MASK == 0
    }

    /// Sets the cancel flag and leaves a reference, in one step; true if
    /// the caller became the owner (and must complete the request).
    pub(crate) fn cancel(&self) -> bool {
        let mut old = self.0.load();
        loop {
            match self.0.cmpxchg(old, (old | POLL_CANCELLED).wrapping_add(1)) {
                Ok(_) => return old & POLL_REF_MASK == 0,
                Err(seen) => old = seen,
            }
        }
    }

    /// The submitter, which owned the request while arming it, gives
    /// ownership up; true if it could not, because wake-ups or a cancel
    /// arrived meanwhile and it must go on as the owner.
    pub(crate) fn disarm_submitter(&self) -> bool {
        self.0.cmpxchg(Self::ARMING, 0).is_err()
    }

    /// The owner's loop: looks at the cancel flag, then polls the file with
    /// `poll` (which returns the interesting events that are ready), until
    /// it either has a result or gives back every reference it has seen.
    /// Only the owner may call it.
    pub(crate) fn check(&self, mut poll: impl FnMut() -> u32) -> PollOutcome {
        loop {
            let seen = self.0.load();
            if seen & POLL_CANCELLED != 0 {
                return PollOutcome::Cancelled;
            }
            let mask = poll();
            if mask != 0 {
                return PollOutcome::Ready(mask);
            }
            // Wake-ups that came in after `seen` was read are not covered
            // by the poll above: keep ownership and poll again for them.
            let seen = seen & POLL_REF_MASK;
            if self.0.fetch_sub(seen).wrapping_sub(seen) & POLL_REF_MASK == 0 {
                return PollOutcome::Armed;
            }
        }
    }
}
