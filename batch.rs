// SPDX-License-Identifier: GPL-2.0

//! The events of requests that complete inside one `io_submit`, posted
//! together: one acquisition of the completion lock, one store of `tail`,
//! one wake-up check of the sleepers and one signal per eventfd for the
//! batch, where each event posted on its own takes all of them.
//!
//! `io_submit` holds its reference to each request it submitted until the
//! batch is posted.  A request whose operation finished meanwhile (a
//! `null_blk` read, a page-cache hit, a ready poll, a driver that completed
//! it at once) is then left with that reference alone, so the batch owns it
//! ([`Arc::into_unique_or_drop`]) and posts its event; the other references
//! are just released, and those requests post their events when they
//! complete, as before.  So every request that completed before
//! `io_submit` returns has its event in the ring and `tail` published by
//! then, and each event still adds exactly one to its `IOCB_FLAG_RESFD`
//! eventfd: an eventfd is signalled once with the number of its events.
//!
//! Posting runs in `io_submit`'s own context, between iocbs or at the end,
//! never from a wake-up: signalling an eventfd is always allowed there.
//! The batch is also posted before `io_submit` may wait for something else
//! (a file's method without `IOCB_NOWAIT`, a frozen file system): what it
//! waits for may be one of these events (`rw::issue`).

use crate::context::Kioctx;
use crate::kiocb::AioKiocb;
use core::mem::MaybeUninit;
use kernel::sync::Arc;

/// Requests held by one batch: `io_submit` posts the batch when it is full
/// (a block plug issues its requests at 32 too, `BLK_MAX_REQUEST_COUNT`).
pub(crate) const BATCH: usize = 32;

/// The submitter's references to the requests of one `io_submit` that are
/// not posted yet.  The array is not initialised beyond what it holds: a
/// batch costs nothing to create (`io_submit` of one iocb is the common
/// case), where zeroing it was a measurable part of the call.
///
/// # Invariants
///
/// `reqs[..len]` are initialised, the rest not; every request is one of
/// `ctx`'s.
pub(crate) struct SubmitBatch<'a> {
    ctx: &'a Kioctx,
    reqs: [MaybeUninit<Arc<AioKiocb>>; BATCH],
    len: usize,
}

impl<'a> SubmitBatch<'a> {
    /// An empty batch of `ctx`'s requests.
    pub(crate) fn new(ctx: &'a Kioctx) -> Self {
        // INVARIANT: Nothing is held.
        Self {
            ctx,
            reqs: [const { MaybeUninit::uninit() }; BATCH],
            len: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// Keeps the submitter's reference to `req`, one of the context's
    /// requests, until [`Self::post`].  The caller posts a full batch first;
    /// if it did not, the reference is released at once (the request then
    /// posts its own event, unbatched).
    pub(crate) fn hold(&mut self, req: Arc<AioKiocb>) {
        if let Some(slot) = self.reqs.get_mut(self.len) {
            slot.write(req);
            // INVARIANT: One more initialised, right after the others.
            self.len += 1;
        }
    }

    /// Releases every held reference, and posts the events of the requests
    /// whose last reference it was, together.
    pub(crate) fn post(&mut self) {
        // INVARIANT: From here on nothing counts as held: each reference
        // below is read out exactly once.
        let held = core::mem::take(&mut self.len);
        // The finished requests that are ours alone move to the front.
        let mut done = 0;
        for i in 0..held {
            // SAFETY: `reqs[..held]` were initialised (type invariant), and
            // slot `i` is read once (`len` is 0; `done <= i`).
            let req = unsafe { self.reqs[i].assume_init_read() };
            if let Some(req) = Arc::into_unique_or_drop(req) {
                // Nobody else can reach the request any more: its event is
                // ours to post, and its drop will not post it again.
                if req.take_finished() {
                    self.reqs[done].write(req.into());
                    done += 1;
                }
            }
        }
        if done == 0 {
            return;
        }
        // SAFETY: `reqs[..done]` were just written; `MaybeUninit<T>` is laid out as `T`.
        let finished =
            unsafe { &*(core::ptr::from_ref(&self.reqs[..done]) as *const [Arc<AioKiocb>]) };
        self.ctx
            .write_events(finished.iter().map(|req| req.event()));
        // After `tail` is published, as fs/aio.c signals after posting.
        for (i, req) in finished.iter().enumerate() {
            let Some(eventfd) = req.eventfd() else {
                continue;
            };
            let same = |req: &&Arc<AioKiocb>| req.eventfd().is_some_and(|e| e.is_same(eventfd));
            // Once per eventfd: at its first event, with the number of its events.
            if !finished[..i].iter().any(|req| same(&req)) {
                let count = finished[i..].iter().filter(same).count();
                eventfd.signal_count(count as u64);
            }
        }
        self.ctx.wake_sleepers();
        // The requests go: their files, eventfds and context references.
        for slot in &mut self.reqs[..done] {
            // SAFETY: Initialised above and not read out since; dropped once.
            unsafe { slot.assume_init_drop() };
        }
    }
}

impl Drop for SubmitBatch<'_> {
    fn drop(&mut self) {
        self.post();
    }
}
