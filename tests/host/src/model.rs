//! An exhaustive interleaving checker for the ring claim (`claim.rs`) and the
//! promises to sleepers (`promise.rs`): the very state machines the kernel
//! runs, driven here against a model of the shared state.
//!
//! Every shared access of a kernel thread is one step; everything the kernel
//! does under one lock is one step.  A depth-first search runs every
//! interleaving of the threads' steps, remembering the states it has seen,
//! and checks after every step:
//!
//! - an event is delivered at most once, and what a consumer delivers for a
//!   position is the event posted at that position (not a stale slot);
//! - the head that the kernel stores never passes the tail, and `consumed`
//!   never passes `produced`;
//! - a producer never overwrites an event nobody consumed (slot accounting);
//! - the ledger holds exactly what the queued tickets hold;
//! - in a quiescent state (only sleepers left, or nothing at all), a walk
//!   over the tickets would wake nobody: no wake-up was lost;
//! - no state is stuck while a thread still has work;
//! - at the end every event was delivered exactly once and every promise was
//!   released.
//!
//! Sequential consistency is assumed: the kernel code orders the accesses
//! that matter with acquire/release and full barriers (`context.rs`).

use crate::claim::{claim_start, unclaimed, Claim, ClaimOp, ClaimPlan};
use crate::promise::{Ledger, Settle, Ticket, Visit};
use crate::ring_index::events_available;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Slots in the largest modelled ring.
const MAX_NR: usize = 3;
const MAX_CONSUMERS: usize = 3;
const MAX_EVENTS: usize = 8;

/// A deliberately broken variant, which the checker must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mutation {
    None,
    /// The cmpxchg compares ring indices (`consumed % nr`), as a cmpxchg of
    /// `ring->head` would: no generation, so ABA.
    NoGeneration,
    /// The events are copied after the cmpxchg instead of before.
    ClaimThenCopy,
    /// A sleeper that gives its promise back does not walk the queue again.
    ReleaseWithoutSettle,
    /// Producers give slots back from `consumed` instead of `ring->head`.
    RefillFromConsumed,
    /// The ticket is filled in after the entry is queued, so a walk in
    /// between promises events that the new ticket then forgets.
    TicketAfterQueue,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Slots in the ring (`nr - 1` requests in flight at most).
    pub(crate) nr: u32,
    /// `(min_nr, nr)` of each consumer's `io_getevents` calls.
    pub(crate) consumers: Vec<(u32, u32)>,
    pub(crate) events: u32,
    /// User-space reaping sessions (between kernel claims, "in turn").
    pub(crate) user_reaps: u8,
    /// Timeouts each consumer may have.
    pub(crate) timeouts: u8,
    /// `io_getevents` calls each consumer makes at most.
    pub(crate) calls: u8,
    pub(crate) mutation: Mutation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ClaimKind {
    /// Before sleeping: leaves every promise alone.
    Fast,
    /// A woken sleeper (or one whose deadline passed).
    Woken { final_read: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Between calls.
    Idle,
    Claiming {
        claim: Claim,
        /// The access to do next.
        next: ClaimOp,
        kind: ClaimKind,
        /// Copied slots (contents), for positions `copied.start..`.
        copied: ClaimPlan,
        buf: [u8; 4],
        /// ClaimThenCopy: the copy still to do after the cmpxchg.
        late: bool,
    },
    /// About to queue a ticket.
    Enqueue,
    /// Queued; about to walk the queue.
    Queued,
    Asleep,
    /// About to give the promise back (under the lock).
    Retire {
        final_read: bool,
    },
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Consumer {
    phase: Phase,
    /// Events got in the current call.
    got: u32,
    timeouts: u8,
    calls: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ProducerPhase {
    GetSlot,
    Post,
    Publish,
    Wake,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum UserPhase {
    Idle,
    /// Copied `[from, to)` and will store `head = to % nr`.
    Store {
        to: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct World {
    nr: u32,
    slots: [u8; MAX_NR],
    head: u32,
    tail: u32,
    /// Tail stores so far (positions visible to user space).
    tail_pos: u64,
    consumed: u64,
    produced: u64,
    post_seq: u64,
    published: u64,
    free: u32,
    completed: u32,
    ledger: Ledger,
    queue: Vec<u8>,
    tickets: [Ticket; MAX_CONSUMERS],
    dead: bool,
    posted: u32,
    producer: ProducerPhase,
    consumers: [Consumer; MAX_CONSUMERS],
    user: UserPhase,
    user_reaps: u8,
    delivered: [u8; MAX_EVENTS],
}

/// What the search found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) states: usize,
    pub(crate) transitions: usize,
    pub(crate) finals: usize,
    pub(crate) waiting: usize,
    pub(crate) violation: Option<String>,
}

struct Checker<'a> {
    cfg: &'a Config,
}

impl World {
    fn new(cfg: &Config) -> Self {
        let mut consumers = [Consumer {
            phase: Phase::Finished,
            got: 0,
            timeouts: 0,
            calls: 0,
        }; MAX_CONSUMERS];
        for c in consumers.iter_mut().take(cfg.consumers.len()) {
            *c = Consumer {
                phase: Phase::Idle,
                got: 0,
                timeouts: cfg.timeouts,
                calls: cfg.calls,
            };
        }
        Self {
            nr: cfg.nr,
            slots: [u8::MAX; MAX_NR],
            head: 0,
            tail: 0,
            tail_pos: 0,
            consumed: 0,
            produced: 0,
            post_seq: 0,
            published: 0,
            free: cfg.nr - 1,
            completed: 0,
            ledger: Ledger::default(),
            queue: Vec::new(),
            tickets: [Ticket::default(); MAX_CONSUMERS],
            dead: false,
            posted: 0,
            producer: ProducerPhase::GetSlot,
            consumers,
            user: UserPhase::Idle,
            user_reaps: cfg.user_reaps,
            delivered: [0; MAX_EVENTS],
        }
    }

    fn taken(&self) -> u64 {
        claim_start(self.consumed, self.produced, self.head, self.nr)
    }

    fn unclaimed(&self) -> u64 {
        unclaimed(self.consumed, self.produced, self.head, self.nr)
    }

    /// A walk over the queue (`Kioctx::wake_sleepers` and every release).
    fn settle(&mut self) {
        let mut walk = Settle::new(&self.ledger, self.unclaimed(), self.taken());
        for &i in &self.queue {
            if walk.visit(&mut self.ledger, &mut self.tickets[i as usize]) == Visit::Stop {
                break;
            }
        }
    }

    /// fs/aio.c's `refill_reqs_available` from the head user space sees.
    fn refill(&mut self, mutation: Mutation) {
        let head = if mutation == Mutation::RefillFromConsumed {
            (self.consumed % u64::from(self.nr)) as u32
        } else {
            self.head
        };
        let in_ring = events_available(head, self.tail, self.nr);
        let back = self.completed.saturating_sub(in_ring);
        self.completed -= back;
        self.free += back;
    }

    fn all_delivered(&self, events: u32) -> bool {
        self.delivered[..events as usize].iter().all(|&d| d == 1)
    }

    fn mid_claim(&self) -> bool {
        self.consumers
            .iter()
            .any(|c| matches!(c.phase, Phase::Claiming { .. }))
    }
}

/// A thread that can take a step.
#[derive(Clone, Copy, Debug)]
enum Actor {
    Producer,
    Consumer(usize),
    Timeout(usize),
    User,
    Killer,
}

impl<'a> Checker<'a> {
    fn actors(&self, w: &World) -> Vec<Actor> {
        let mut v = Vec::new();
        match w.producer {
            ProducerPhase::Done => {}
            ProducerPhase::GetSlot => {
                let mut probe = w.clone();
                probe.refill(self.cfg.mutation);
                if probe.free > 0 {
                    v.push(Actor::Producer);
                }
            }
            _ => v.push(Actor::Producer),
        }
        for (i, c) in w.consumers.iter().enumerate() {
            match c.phase {
                Phase::Finished => {}
                Phase::Asleep => {
                    let claims = w.user == UserPhase::Idle;
                    if w.dead || (w.tickets[i].is_promised() && claims) {
                        v.push(Actor::Consumer(i));
                    }
                    if c.timeouts > 0 && !w.dead && claims {
                        v.push(Actor::Timeout(i));
                    }
                }
                // A claim does not start while user space reaps (in turn).
                Phase::Idle if w.user != UserPhase::Idle => {}
                _ => v.push(Actor::Consumer(i)),
            }
        }
        if w.user_reaps > 0 && !w.mid_claim() && !w.dead {
            v.push(Actor::User);
        }
        if let UserPhase::Store { .. } = w.user {
            v.push(Actor::User);
        }
        if !w.dead && w.all_delivered(self.cfg.events) && w.user == UserPhase::Idle {
            v.push(Actor::Killer);
        }
        v
    }

    fn step(&self, w: &mut World, actor: Actor) -> Result<(), String> {
        let m = self.cfg.mutation;
        match actor {
            Actor::Producer => match w.producer {
                ProducerPhase::GetSlot => {
                    if w.free == 0 {
                        w.refill(m);
                    }
                    w.free -= 1;
                    w.producer = ProducerPhase::Post;
                }
                ProducerPhase::Post => {
                    // Under the completion lock: the event, then `tail`.
                    let pos = w.posted as usize;
                    // A claimed event was copied before its claim.
                    let old = pos.wrapping_sub(w.nr as usize);
                    if pos >= w.nr as usize && w.delivered[old] == 0 && w.consumed <= old as u64 {
                        return Err(format!("event {old} overwritten unconsumed"));
                    }
                    w.post_seq += 1;
                    w.slots[w.tail as usize] = w.posted as u8;
                    w.tail = (w.tail + 1) % w.nr;
                    w.tail_pos += 1;
                    w.completed += 1;
                    if w.completed > 1 {
                        w.refill(m);
                    }
                    w.producer = ProducerPhase::Publish;
                }
                ProducerPhase::Publish => {
                    w.produced += 1;
                    w.post_seq += 1;
                    w.producer = ProducerPhase::Wake;
                }
                ProducerPhase::Wake => {
                    if !w.queue.is_empty() {
                        w.settle();
                    }
                    w.posted += 1;
                    w.producer = if w.posted == self.cfg.events {
                        ProducerPhase::Done
                    } else {
                        ProducerPhase::GetSlot
                    };
                }
                ProducerPhase::Done => unreachable!(),
            },
            Actor::Timeout(i) => {
                // The deadline passed: a last read, then the call ends.
                w.consumers[i].timeouts -= 1;
                woken(w, i, self.cfg.consumers[i].1, true);
            }
            Actor::Consumer(i) => self.consumer_step(w, i)?,
            Actor::User => match w.user {
                UserPhase::Idle => {
                    // Reads head and tail, copies what is between.
                    let n = events_available(w.head, w.tail, w.nr);
                    let from = w.tail_pos - u64::from(n);
                    for pos in from..w.tail_pos {
                        deliver(w, pos, w.slots[(pos % u64::from(w.nr)) as usize])?;
                    }
                    w.user = UserPhase::Store { to: w.tail };
                    w.user_reaps -= 1;
                }
                UserPhase::Store { to } => {
                    w.head = to;
                    w.user = UserPhase::Idle;
                }
            },
            Actor::Killer => {
                // io_destroy: every sleeper is woken, whatever it holds.
                w.dead = true;
            }
        }
        Ok(())
    }

    fn consumer_step(&self, w: &mut World, i: usize) -> Result<(), String> {
        let m = self.cfg.mutation;
        let (min_nr, nr) = self.cfg.consumers[i];
        let c = w.consumers[i];
        match c.phase {
            Phase::Idle => {
                // A new call: reads the ledger without the lock.
                w.consumers[i].got = 0;
                w.consumers[i].phase = if w.dead || c.calls == 0 {
                    Phase::Finished
                } else {
                    w.consumers[i].calls -= 1;
                    start_claim(w.nr, nr, w.ledger.reserved(), ClaimKind::Fast)
                };
            }
            Phase::Claiming {
                mut claim,
                next,
                kind,
                mut copied,
                mut buf,
                late,
            } => {
                let mut answer = 0;
                let mut late_copy = false;
                if late {
                    // ClaimThenCopy: the copy after a successful cmpxchg.
                    copy(w, copied, &mut buf);
                    answer = 1;
                } else {
                    match next {
                        ClaimOp::LoadPostSeq => answer = w.post_seq,
                        ClaimOp::LoadConsumed => answer = w.consumed,
                        ClaimOp::LoadProduced => answer = w.produced,
                        ClaimOp::LoadHead => answer = u64::from(w.head),
                        ClaimOp::Copy(plan) => {
                            copied = plan;
                            if m == Mutation::ClaimThenCopy {
                                buf = [u8::MAX; 4];
                            } else {
                                copy(w, plan, &mut buf);
                            }
                        }
                        ClaimOp::Cmpxchg { old, new } => {
                            let same = if m == Mutation::NoGeneration {
                                w.consumed % u64::from(w.nr) == old % u64::from(w.nr)
                            } else {
                                w.consumed == old
                            };
                            if same {
                                w.consumed = new;
                                answer = 1;
                                // The copy is the next step; the claim hears
                                // of the success after it.
                                late_copy = m == Mutation::ClaimThenCopy && copied.count > 0;
                            }
                        }
                        ClaimOp::Publish => {
                            // Under the publishing lock: the latest claim only.
                            if w.consumed > w.published {
                                w.published = w.consumed;
                                w.head = (w.consumed % u64::from(w.nr)) as u32;
                            }
                        }
                        ClaimOp::Done(_) => unreachable!(),
                    }
                }
                let next = if late_copy { next } else { claim.step(answer) };
                if let ClaimOp::Done(n) = next {
                    // Local work: part of this step.
                    for k in 0..n {
                        let pos = copied.start + u64::from(k);
                        deliver(w, pos, buf[k as usize])?;
                    }
                    let got = c.got + n;
                    w.consumers[i].got = got;
                    w.consumers[i].phase = match kind {
                        ClaimKind::Fast if got >= min_nr => Phase::Idle,
                        ClaimKind::Fast => Phase::Enqueue,
                        ClaimKind::Woken { final_read } => Phase::Retire { final_read },
                    };
                    return Ok(());
                }
                w.consumers[i].phase = Phase::Claiming {
                    claim,
                    next,
                    kind,
                    copied,
                    buf,
                    late: late_copy,
                };
            }
            Phase::Enqueue => {
                // The ticket, then under the wait lock the entry at the
                // tail (`prepare_to_wait`); the walk is the next step.
                w.tickets[i] = Ticket::new(min_nr - c.got, w.taken());
                w.queue.push(i as u8);
                w.consumers[i].phase = Phase::Queued;
            }
            Phase::Queued => {
                // Under the wait lock again: events already there may be ours.
                if m == Mutation::TicketAfterQueue {
                    w.tickets[i] = Ticket::new(min_nr - c.got, w.taken());
                }
                w.settle();
                w.consumers[i].phase = Phase::Asleep;
            }
            Phase::Asleep if w.dead => {
                w.consumers[i].phase = Phase::Retire { final_read: true };
            }
            Phase::Asleep => woken(w, i, nr, false),
            Phase::Retire { final_read } => {
                // Under the wait lock: give the promise back; leave the
                // queue or sleep again in place; walk again.
                let mut t = w.tickets[i];
                w.ledger.release(&mut t);
                let done = c.got >= min_nr || final_read || w.dead;
                if done {
                    w.queue.retain(|&q| q as usize != i);
                    t = Ticket::default();
                } else {
                    t.need = min_nr - c.got;
                }
                w.tickets[i] = t;
                if m != Mutation::ReleaseWithoutSettle {
                    w.settle();
                }
                w.consumers[i].phase = if done { Phase::Idle } else { Phase::Asleep };
            }
            Phase::Finished => unreachable!(),
        }
        Ok(())
    }

    fn check(&self, w: &World) -> Result<(), String> {
        if w.consumed > w.produced {
            return Err("consumed passed produced".into());
        }
        if w.published > w.tail_pos {
            return Err("the kernel's head passed the tail".into());
        }
        let held: u64 = w
            .queue
            .iter()
            .map(|&i| u64::from(w.tickets[i as usize].held))
            .sum();
        if held != w.ledger.held {
            return Err(format!("ledger {} but tickets hold {held}", w.ledger.held));
        }
        Ok(())
    }

    /// Only sleepers are left (or nobody): a walk must wake nobody.
    fn quiescent_check(&self, w: &World, actors: &[Actor]) -> Result<(), String> {
        let only_sleepers = actors.iter().all(|a| matches!(a, Actor::Timeout(_)));
        if !only_sleepers || w.dead {
            return Ok(());
        }
        let mut probe = w.clone();
        probe.settle();
        if probe.ledger != w.ledger {
            return Err("a wake-up was lost: a walk now would promise events".into());
        }
        Ok(())
    }

    fn run(&self) -> Report {
        let mut report = Report::default();
        // States are remembered by a 128-bit fingerprint (hash compaction):
        // whole states would not fit in memory.
        let mut seen = HashSet::new();
        let start = World::new(self.cfg);
        seen.insert(fingerprint(&start));
        let mut stack = vec![start];
        while let Some(w) = stack.pop() {
            report.states += 1;
            let actors = self.actors(&w);
            let fail = |why: String| Some(format!("{why}\nin {w:#?}"));
            if let Err(why) = self.quiescent_check(&w, &actors) {
                report.violation = fail(why);
                return report;
            }
            if actors.is_empty() {
                let finished = w.consumers.iter().all(|c| c.phase == Phase::Finished)
                    && w.producer == ProducerPhase::Done;
                let out_of_calls = w.consumers.iter().all(|c| c.calls == 0);
                if !finished && w.producer != ProducerPhase::Done && !out_of_calls {
                    report.violation = fail("stuck".into());
                    return report;
                }
                if !finished {
                    // Sleepers wait for events that will not come (their
                    // deadlines are used up): legitimate, and the walk
                    // above showed that none of them could be served.
                    report.waiting += 1;
                    continue;
                }
                if !w.all_delivered(self.cfg.events) && !out_of_calls {
                    report.violation = fail("an event was lost".into());
                    return report;
                }
                if w.ledger.held != 0 || !w.queue.is_empty() {
                    report.violation = fail("a promise was never released".into());
                    return report;
                }
                report.finals += 1;
                continue;
            }
            for a in actors {
                let mut next = w.clone();
                report.transitions += 1;
                if let Err(why) = self.step(&mut next, a).and_then(|()| self.check(&next)) {
                    report.violation = Some(format!("{why} after {a:?}\nfrom {w:#?}"));
                    return report;
                }
                if seen.insert(fingerprint(&next)) {
                    stack.push(next);
                }
            }
        }
        report
    }
}

fn start_claim(ring: u32, max: u32, reserved: u64, kind: ClaimKind) -> Phase {
    let mut claim = Claim::new(ring, max, reserved);
    Phase::Claiming {
        next: claim.step(0),
        claim,
        kind,
        copied: ClaimPlan { start: 0, count: 0 },
        buf: [u8::MAX; 4],
        late: false,
    }
}

/// A sleeper runs (promised, or its deadline passed): under the wait lock
/// it reads what the others hold, then claims.
fn woken(w: &mut World, i: usize, nr: u32, final_read: bool) {
    let reserved = w.ledger.reserved_for_others(&w.tickets[i]);
    let max = nr - w.consumers[i].got;
    w.consumers[i].phase = start_claim(w.nr, max, reserved, ClaimKind::Woken { final_read });
}

fn fingerprint(w: &World) -> (u64, u64) {
    let mut a = DefaultHasher::new();
    let mut b = DefaultHasher::new();
    0xa10a_10a1u32.hash(&mut b);
    w.hash(&mut a);
    w.hash(&mut b);
    (a.finish(), b.finish())
}

fn copy(w: &World, plan: ClaimPlan, buf: &mut [u8; 4]) {
    for k in 0..plan.count as usize {
        buf[k] = w.slots[((plan.start + k as u64) % u64::from(w.nr)) as usize];
    }
}

fn deliver(w: &mut World, pos: u64, content: u8) -> Result<(), String> {
    if u64::from(content) != pos {
        return Err(format!("position {pos} delivered as event {content}"));
    }
    let d = &mut w.delivered[pos as usize];
    *d += 1;
    if *d > 1 {
        return Err(format!("event {pos} delivered twice"));
    }
    Ok(())
}

/// Runs the search for `cfg`.
pub(crate) fn check(cfg: &Config) -> Report {
    assert!(cfg.consumers.len() <= MAX_CONSUMERS && cfg.events as usize <= MAX_EVENTS);
    assert!((2..=MAX_NR as u32).contains(&cfg.nr));
    Checker { cfg }.run()
}
