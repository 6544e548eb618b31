// SPDX-License-Identifier: GPL-2.0

//! Kernel-side consumers of the ring claim events with a cmpxchg instead of
//! fs/aio.c's `ring_lock` mutex.  Free of kernel types: the host tests run
//! and model-check this very file (`tests/host`).
//!
//! # The argument
//!
//! `ring->head` is user memory: Seastar, SPDK, QEMU and fio's
//! `userspace_reap` store it themselves, and a 32-bit index modulo `nr`
//! comes back to the same value every `nr` events, so a cmpxchg on it would
//! succeed for a consumer that slept while the ring went round once (ABA).
//! Consumers therefore claim on two kernel-private 64-bit counters that
//! never wrap in practice (2^64 events):
//!
//! - `produced`: events posted so far; stored under the completion lock
//!   after `ring->tail`, so events at positions `< produced` are written.
//!   The trusted tail is `produced % nr`.
//! - `consumed`: events claimed so far; only ever moved forward, by a
//!   successful `cmpxchg(consumed, old, new)` with `new > old`.
//!
//! A claim is: load `consumed` (`w0`), then `produced` (`p`), then
//! `ring->head`, inside a read of `post_seq` (below); plan which positions
//! to take; copy them to the caller;
//! then `cmpxchg(consumed, w0, start + count)`.  Copy first, claim second:
//! a fault claims nothing (`EFAULT` and the events stay, LTP
//! io_pgetevents02), and a claim never names events its caller does not
//! have.  If the cmpxchg succeeds, `consumed` did not move since `w0` was
//! read, and since it only grows it did not move at all (no ABA: the value
//! cannot come back).  No other kernel consumer claimed anything meanwhile,
//! so no kernel consumer published a head past `w0`, so the slots copied
//! (positions `>= w0`) were not given back to producers and still held the
//! events of those positions when they were copied.  If it fails, the copy
//! is thrown away and the claim starts again.
//!
//! User space that reaps by itself moves `head` without touching
//! `consumed`.  A claim takes that into account: the position user space
//! consumed up to is `p - events_available(head, p % nr)` (one of the last
//! `nr` positions, as `head` is only trusted modulo `nr`), and the claim
//! starts at the larger of that and `w0`, adopting the user's progress in
//! the same cmpxchg.  A user position behind `w0` is ignored: it is either
//! a head that a kernel consumer has claimed past but not stored yet, or
//! user space moving `head` back, which fs/aio.c would re-deliver from
//! (a deliberate difference, see the README).
//!
//! `ring->tail` is stored before `produced`, so that the head the kernel
//! stores (from `consumed <= produced`) never passes the tail user space
//! sees.  In between, user space may already have consumed up to the new
//! tail and stored a head that `produced` does not cover yet; read with the
//! old `produced`, that head would look `nr` events behind.  The producer
//! therefore makes `post_seq` odd before the tail store and even again
//! after the `produced` store (a seqcount, under the completion lock), and
//! a claim whose loads saw an odd or changed `post_seq` starts again: its
//! `produced` and `head` are then from one side of every post.
//!
//! After a successful claim, [`ClaimOp::Publish`] stores `consumed % nr`
//! into `ring->head` under a small spinlock, and only if it is ahead of the
//! last value stored: two consumers that finish in the other order cannot
//! move the head back, and every store is of the latest claim.  Producers
//! give slots back from that head (`refill_slots`, fs/aio.c's formula),
//! never from `consumed`: a slot is reused only after the head that user
//! space sees has passed it, so the tail cannot lap that head.
//!
//! Kernel and user-space reaping *in turn* therefore work as in fs/aio.c.
//! Both at once is as unsupported as there: an event may be delivered to
//! both, but nothing worse: `consumed` only grows and never passes
//! `produced`, and slot accounting only looks at `head` and the trusted
//! tail, as fs/aio.c's.

use crate::ring_index::events_available;

/// The positions a claim takes: `start..start + count`, in slots
/// `position % nr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClaimPlan {
    /// First position (a count of events since the context was set up).
    pub(crate) start: u64,
    /// Number of events.
    pub(crate) count: u32,
}

/// The position user space has consumed up to, from its `head` (any value:
/// reduced modulo `nr`) and the trusted `produced` count.
pub(crate) fn user_position(produced: u64, head: u32, nr: u32) -> u64 {
    let tail = (produced % u64::from(nr)) as u32;
    produced.saturating_sub(u64::from(events_available(head, tail, nr)))
}

/// Where the next claim starts: the kernel consumers' position, or user
/// space's if it is ahead.
pub(crate) fn claim_start(consumed: u64, produced: u64, head: u32, nr: u32) -> u64 {
    consumed
        .max(user_position(produced, head, nr))
        .min(produced)
}

/// Events that neither a kernel consumer nor user space has taken yet.
pub(crate) fn unclaimed(consumed: u64, produced: u64, head: u32, nr: u32) -> u64 {
    produced - claim_start(consumed, produced, head, nr)
}

/// Plans a claim of at most `max` events, leaving `reserved` events (those
/// promised to others, `promise.rs`) in the ring.
pub(crate) fn plan_claim(
    consumed: u64,
    produced: u64,
    head: u32,
    nr: u32,
    max: u32,
    reserved: u64,
) -> ClaimPlan {
    let start = claim_start(consumed, produced, head, nr);
    let free = (produced - start).saturating_sub(reserved);
    ClaimPlan {
        start,
        count: free.min(u64::from(max)) as u32,
    }
}

/// One step of a claim: a single access to shared state, which the caller
/// performs and answers in the next [`Claim::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClaimOp {
    /// Load `post_seq` (acquire, and after the loads it brackets);
    /// answer with its value.
    LoadPostSeq,
    /// Load `consumed`; answer with its value.
    LoadConsumed,
    /// Load `produced` (acquire: the events before it are visible).
    LoadProduced,
    /// Load `ring->head`; answer with its value.
    LoadHead,
    /// Copy the planned events to the caller's buffer; answer 0.  A fault
    /// ends the claim there (nothing is claimed).
    Copy(ClaimPlan),
    /// `cmpxchg(consumed, old, new)`; answer 1 if it succeeded, else 0.
    Cmpxchg {
        /// The value loaded by [`ClaimOp::LoadConsumed`].
        old: u64,
        /// The end of the claim.
        new: u64,
    },
    /// Store `consumed % nr` into `ring->head` if it is ahead of the last
    /// store (under the publishing lock); answer 0.
    Publish,
    /// The claim is over with this many events.
    Done(u32),
}

/// What a [`Claim`] waits for: the answer to the access it asked for last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClaimState {
    Start,
    Seq,
    Consumed {
        seq: u64,
    },
    Produced {
        seq: u64,
        consumed: u64,
    },
    Head {
        seq: u64,
        consumed: u64,
        produced: u64,
    },
    SeqAgain {
        seq: u64,
        consumed: u64,
        produced: u64,
        head: u32,
    },
    Copied {
        consumed: u64,
        plan: ClaimPlan,
    },
    Swapped {
        count: u32,
    },
    Published {
        count: u32,
    },
    Done {
        count: u32,
    },
}

/// A claim of at most `max` events as a state machine, one shared access
/// per step, so that the kernel runs it on the real ring and the host
/// model checker interleaves its steps with other threads'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Claim {
    nr: u32,
    max: u32,
    reserved: u64,
    state: ClaimState,
}

impl Claim {
    /// A claim in a ring of `nr` slots of at most `max` events that leaves
    /// `reserved` events for others.
    pub(crate) fn new(nr: u32, max: u32, reserved: u64) -> Self {
        Self {
            nr,
            max,
            reserved,
            state: ClaimState::Start,
        }
    }

    /// The next shared access, given the answer to the previous one (any
    /// value for the first).
    pub(crate) fn step(&mut self, answer: u64) -> ClaimOp {
        let (state, op) = match self.state {
            ClaimState::Start => (ClaimState::Seq, ClaimOp::LoadPostSeq),
            ClaimState::Seq => (ClaimState::Consumed { seq: answer }, ClaimOp::LoadConsumed),
            ClaimState::Consumed { seq } => (
                ClaimState::Produced {
                    seq,
                    consumed: answer,
                },
                ClaimOp::LoadProduced,
            ),
            ClaimState::Produced { seq, consumed } => (
                ClaimState::Head {
                    seq,
                    consumed,
                    produced: answer,
                },
                ClaimOp::LoadHead,
            ),
            ClaimState::Head {
                seq,
                consumed,
                produced,
            } => (
                ClaimState::SeqAgain {
                    seq,
                    consumed,
                    produced,
                    head: answer as u32,
                },
                ClaimOp::LoadPostSeq,
            ),
            // A post was under way: `produced` and `head` may disagree.
            ClaimState::SeqAgain { seq, .. } if seq != answer || seq & 1 != 0 => {
                (ClaimState::Seq, ClaimOp::LoadPostSeq)
            }
            ClaimState::SeqAgain {
                consumed,
                produced,
                head,
                ..
            } => {
                let plan = plan_claim(consumed, produced, head, self.nr, self.max, self.reserved);
                if plan.count > 0 {
                    (ClaimState::Copied { consumed, plan }, ClaimOp::Copy(plan))
                } else if plan.start > consumed {
                    // Nothing to copy, but user space's progress to adopt.
                    (
                        ClaimState::Swapped { count: 0 },
                        ClaimOp::Cmpxchg {
                            old: consumed,
                            new: plan.start,
                        },
                    )
                } else {
                    (ClaimState::Done { count: 0 }, ClaimOp::Done(0))
                }
            }
            ClaimState::Copied { consumed, plan } => (
                ClaimState::Swapped { count: plan.count },
                ClaimOp::Cmpxchg {
                    old: consumed,
                    new: plan.start + u64::from(plan.count),
                },
            ),
            // Another consumer claimed since `consumed` was loaded: what was
            // copied may be stale.  Start again.
            ClaimState::Swapped { .. } if answer == 0 => (ClaimState::Seq, ClaimOp::LoadPostSeq),
            ClaimState::Swapped { count } => (ClaimState::Published { count }, ClaimOp::Publish),
            ClaimState::Published { count } | ClaimState::Done { count } => {
                (ClaimState::Done { count }, ClaimOp::Done(count))
            }
        };
        self.state = state;
        op
    }
}
