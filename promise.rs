// SPDX-License-Identifier: GPL-2.0

//! Events promised to `io_getevents` sleepers, free of kernel types (the
//! host tests run and model-check this very file).
//!
//! fs/aio.c wakes every sleeper whose `min_nr` the events in the ring
//! satisfy: with W sleepers at `min_nr=1`, one event wakes W tasks and W-1
//! go back to sleep with nothing; and a sleeper with a large `min_nr`
//! starves behind one with a small `min_nr` that takes each event as it
//! comes.  Here each sleeper holds a [`Ticket`], queued in arrival order,
//! and a completion *promises* events to sleepers instead of waking all
//! that could use them:
//!
//! - [`Settle`] walks the tickets in arrival order with a budget of the
//!   events that nobody took and nobody was promised yet.  A ticket whose
//!   remaining need the budget covers is promised that many events and its
//!   task woken; the budget shrinks by as much.  So one event wakes at most
//!   one `min_nr=1` sleeper, and a completion wakes a sleeper only for
//!   events not already promised to sleepers ahead of it.
//! - A ticket that the budget does not cover is passed over, so that
//!   sleepers behind it with smaller needs are served, until events as
//!   many as its need were taken by others since it queued (its
//!   *patience*).  From then on it *earmarks* what the budget has (a
//!   partial promise) and the walk stops there: later events go to it
//!   until its need is covered.  That bounds a sleeper's wait: with needs
//!   `n_1..n_k` promised ahead of it, a sleeper with need `n` is woken
//!   after at most `n_1 + .. + n_k + 2n` events, whatever the others' needs
//!   (the reviewer's case: `min_nr=16` behind `min_nr=1` waits at most 33).
//! - Callers that hold no ticket (an `io_getevents` that finds events
//!   before it sleeps) may take only what is not promised or earmarked
//!   ([`Ledger::reserved`]); a woken sleeper may take its own promise on
//!   top of that ([`Ledger::reserved_for_others`]).
//!
//! What a promise means: the events are left for that sleeper by every
//! kernel consumer that looked at the ledger after the promise was made.
//! It is not a claim on particular events:
//!
//! - A consumer that read the ledger before the promise (it runs without
//!   the wait lock), or user space moving `ring->head`, may take promised
//!   events first.  The sleeper then finds fewer than promised, takes what
//!   there is, gives the promise back and sleeps again *in its place* at
//!   the front of the queue, so the next events are promised to it first.
//! - A sleeper whose wait ends (timeout, signal, its context's death) or
//!   that got what it needed gives its promise back ([`Ledger::release`])
//!   and the walk runs again, so that events it did not take go to the
//!   sleepers behind it.  At its timeout a sleeper takes what it was
//!   promised or earmarked and anything not promised, as fs/aio.c's last
//!   read at the deadline; events promised to others stay for them.
//! - The context's death wakes every sleeper regardless of promises.
//!
//! Every ledger operation runs under the lock of the sleepers' wait queue;
//! [`Ledger::reserved`] is also published for lock-free readers.

/// One sleeper's place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Ticket {
    /// Events the sleeper still needs to end its wait (at least 1).
    pub(crate) need: u32,
    /// Events promised (`held == need`) or earmarked (`held < need`) to it.
    pub(crate) held: u32,
    /// Events taken by everybody when the sleeper queued: the start of its
    /// patience.
    pub(crate) since: u64,
}

impl Ticket {
    /// A ticket for a sleeper that needs `need` events, queued when
    /// `taken` events had been taken from the ring in all.
    pub(crate) fn new(need: u32, taken: u64) -> Self {
        Self {
            need: need.max(1),
            held: 0,
            since: taken,
        }
    }

    /// Whether the ticket's whole need is promised: its task may run.
    pub(crate) fn is_promised(&self) -> bool {
        self.held >= self.need
    }
}

/// The queue-wide part: the sum of every queued ticket's `held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Ledger {
    /// Events promised or earmarked to queued tickets.
    pub(crate) held: u64,
}

impl Ledger {
    /// Events that a caller without a ticket must leave in the ring.
    pub(crate) fn reserved(&self) -> u64 {
        self.held
    }

    /// Events that the holder of `own` must leave in the ring.
    pub(crate) fn reserved_for_others(&self, own: &Ticket) -> u64 {
        self.held - u64::from(own.held)
    }

    /// `ticket` gives back what it holds (its wait ended, or it took what
    /// there was and sleeps again).
    pub(crate) fn release(&mut self, ticket: &mut Ticket) {
        self.held -= u64::from(ticket.held);
        ticket.held = 0;
    }
}

/// What [`Settle::visit`] decided for a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Its need is promised now: wake its task.
    Wake,
    /// Nothing for it now (already promised, or passed over).
    Pass,
    /// It earmarked the rest of the budget: later tickets get nothing.
    Stop,
}

/// One walk over the queued tickets in arrival order, under the wait lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settle {
    budget: u64,
    taken: u64,
    stopped: bool,
}

impl Settle {
    /// A walk with `unclaimed` events in the ring, `taken` events taken
    /// from it in all so far.
    pub(crate) fn new(ledger: &Ledger, unclaimed: u64, taken: u64) -> Self {
        Self {
            budget: unclaimed.saturating_sub(ledger.held),
            taken,
            stopped: false,
        }
    }

    /// Visits the next ticket in arrival order.
    pub(crate) fn visit(&mut self, ledger: &mut Ledger, ticket: &mut Ticket) -> Visit {
        if self.stopped || ticket.is_promised() {
            return Visit::Pass;
        }
        let want = ticket.need - ticket.held;
        if u64::from(want) <= self.budget {
            self.grant(ledger, ticket, want);
            return Visit::Wake;
        }
        let patience = u64::from(ticket.need);
        if self.taken.saturating_sub(ticket.since) < patience {
            return Visit::Pass;
        }
        self.grant(ledger, ticket, self.budget as u32);
        self.stopped = true;
        Visit::Stop
    }

    fn grant(&mut self, ledger: &mut Ledger, ticket: &mut Ticket, events: u32) {
        ticket.held += events;
        ledger.held += u64::from(events);
        self.budget -= u64::from(events);
    }
}
