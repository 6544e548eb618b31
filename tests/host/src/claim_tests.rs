use crate::claim::*;
use crate::model::{check, Config, Mutation, Report};
use crate::promise::*;

#[test]
fn user_position_from_head_modulo_nr() {
    // 10 events produced in a ring of 4: the tail is 2.
    assert_eq!(user_position(10, 2, 4), 10);
    assert_eq!(user_position(10, 1, 4), 9);
    assert_eq!(user_position(10, 3, 4), 7);
    // A head beyond nr is reduced, as fs/aio.c does.
    assert_eq!(user_position(10, 5, 4), 9);
    // Nothing produced yet.
    assert_eq!(user_position(0, 0, 4), 0);
}

#[test]
fn claim_starts_at_the_later_of_kernel_and_user() {
    // The kernel consumed 8; user space moved head to position 9.
    assert_eq!(claim_start(8, 10, 1, 4), 9);
    // A head behind the kernel's position is ignored.
    assert_eq!(claim_start(9, 10, 0, 4), 9);
    assert_eq!(unclaimed(8, 10, 0, 4), 2);
    assert_eq!(
        plan_claim(8, 10, 0, 4, 16, 1),
        ClaimPlan { start: 8, count: 1 }
    );
    assert_eq!(
        plan_claim(8, 10, 0, 4, 16, 5),
        ClaimPlan { start: 8, count: 0 }
    );
}

/// Runs a claim against plain values, with `interfere` called before each
/// cmpxchg (another consumer may claim there).
fn run_claim(
    consumed: &mut u64,
    produced: u64,
    head: &mut u32,
    nr: u32,
    max: u32,
    mut interfere: impl FnMut(&mut u64),
) -> (u32, Vec<u64>) {
    let mut claim = Claim::new(nr, max, 0);
    let mut answer = 0;
    let mut copied = Vec::new();
    loop {
        answer = match claim.step(answer) {
            ClaimOp::LoadPostSeq => 0,
            ClaimOp::LoadConsumed => *consumed,
            ClaimOp::LoadProduced => produced,
            ClaimOp::LoadHead => u64::from(*head),
            ClaimOp::Copy(plan) => {
                copied = (plan.start..plan.start + u64::from(plan.count)).collect();
                0
            }
            ClaimOp::Cmpxchg { old, new } => {
                interfere(consumed);
                if *consumed == old {
                    *consumed = new;
                    1
                } else {
                    0
                }
            }
            ClaimOp::Publish => {
                *head = (*consumed % u64::from(nr)) as u32;
                0
            }
            ClaimOp::Done(n) => return (n, copied),
        }
    }
}

#[test]
fn claim_copies_then_swaps_and_retries_on_interference() {
    let (mut consumed, mut head) = (0, 0);
    let mut first = true;
    // Another consumer takes 2 events just before our first cmpxchg.
    let (n, copied) = run_claim(&mut consumed, 5, &mut head, 8, 16, |c| {
        if first {
            *c += 2;
            first = false;
        }
    });
    assert_eq!((n, copied), (3, vec![2, 3, 4]));
    assert_eq!((consumed, head), (5, 5));
    // An empty ring: nothing is stored.
    let (n, _) = run_claim(&mut consumed, 5, &mut head, 8, 16, |_| {});
    assert_eq!(n, 0);
}

#[test]
fn claim_adopts_user_progress_even_without_events() {
    // User space consumed everything itself (head == tail == 5).
    let (mut consumed, mut head) = (2, 5);
    let (n, _) = run_claim(&mut consumed, 5, &mut head, 8, 16, |_| {});
    assert_eq!((n, consumed, head), (0, 5, 5));
}

/// Sleepers that take what they are promised as soon as they are woken,
/// events arriving one at a time: returns how many times each was woken
/// and, per sleeper, the largest number of events that arrived between two
/// of its returns.
fn serve(needs: &[u32], events: u64) -> (Vec<u32>, Vec<u64>, u64) {
    let mut ledger = Ledger::default();
    let mut tickets: Vec<Ticket> = needs.iter().map(|&n| Ticket::new(n, 0)).collect();
    let mut queue: Vec<usize> = (0..needs.len()).collect();
    let (mut produced, mut taken) = (0u64, 0u64);
    let mut wakes = vec![0; needs.len()];
    let mut last = vec![0u64; needs.len()];
    let mut longest = vec![0u64; needs.len()];
    let mut wasted = 0;
    for _ in 0..events {
        produced += 1;
        let mut walk = Settle::new(&ledger, produced - taken, taken);
        let mut woken = Vec::new();
        for &i in &queue {
            match walk.visit(&mut ledger, &mut tickets[i]) {
                Visit::Wake => woken.push(i),
                Visit::Pass => {}
                Visit::Stop => break,
            }
        }
        for i in woken {
            wakes[i] += 1;
            let mut t = tickets[i];
            let n = u64::from(t.need).min(produced - taken);
            if n == 0 {
                wasted += 1;
            }
            taken += n;
            ledger.release(&mut t);
            longest[i] = longest[i].max(produced - last[i]);
            last[i] = produced;
            // Back at the end of the queue with a new call.
            tickets[i] = Ticket::new(needs[i], taken);
            queue.retain(|&q| q != i);
            queue.push(i);
        }
    }
    (wakes, longest, wasted)
}

#[test]
fn one_event_wakes_one_sleeper() {
    let (wakes, _, wasted) = serve(&[1; 8], 800);
    assert_eq!(wakes.iter().sum::<u32>(), 800);
    assert_eq!(wasted, 0);
    // FIFO: each of the 8 gets its turn.
    assert!(wakes.iter().all(|&w| w == 100), "{wakes:?}");
}

#[test]
fn large_min_nr_behind_small_one_is_served() {
    // The reviewer's case: A with min_nr=1, B with min_nr=16.
    let (wakes, longest, wasted) = serve(&[1, 16], 1500);
    assert_eq!(wasted, 0);
    assert!(wakes[1] >= 1500 / 33, "B woken {} times", wakes[1]);
    // B's wait: its patience (16 taken by others) then its own 16.
    assert!(longest[1] <= 33, "B waited {} events", longest[1]);
    assert!(wakes[0] > 0);
}

#[test]
fn release_passes_events_on() {
    let mut ledger = Ledger::default();
    let mut a = Ticket::new(2, 0);
    let mut b = Ticket::new(1, 0);
    // Two events: A (first) is promised both, B nothing.
    let mut walk = Settle::new(&ledger, 2, 0);
    assert_eq!(walk.visit(&mut ledger, &mut a), Visit::Wake);
    assert_eq!(walk.visit(&mut ledger, &mut b), Visit::Pass);
    assert_eq!(ledger.reserved(), 2);
    assert_eq!(ledger.reserved_for_others(&a), 0);
    // A times out without taking them: B gets one on the next walk.
    ledger.release(&mut a);
    let mut walk = Settle::new(&ledger, 2, 0);
    assert_eq!(walk.visit(&mut ledger, &mut b), Visit::Wake);
    assert_eq!(ledger.reserved(), 1);
}

#[test]
fn impatient_sleeper_earmarks_and_stops_the_walk() {
    let mut ledger = Ledger::default();
    let mut big = Ticket::new(4, 0);
    let mut small = Ticket::new(1, 0);
    // Not yet impatient (nothing taken since it queued): passed over.
    let mut walk = Settle::new(&ledger, 1, 0);
    assert_eq!(walk.visit(&mut ledger, &mut big), Visit::Pass);
    assert_eq!(walk.visit(&mut ledger, &mut small), Visit::Wake);
    ledger.release(&mut small);
    // 4 events were taken by others since: it earmarks, the walk stops.
    let mut walk = Settle::new(&ledger, 3, 4);
    assert_eq!(walk.visit(&mut ledger, &mut big), Visit::Stop);
    assert_eq!(walk.visit(&mut ledger, &mut small), Visit::Pass);
    assert_eq!((big.held, ledger.reserved()), (3, 3));
    // One more event covers it.
    let mut walk = Settle::new(&ledger, 4, 4);
    assert_eq!(walk.visit(&mut ledger, &mut big), Visit::Wake);
    assert!(big.is_promised());
}

fn cfg(nr: u32, consumers: &[(u32, u32)], events: u32, user_reaps: u8, timeouts: u8) -> Config {
    Config {
        nr,
        consumers: consumers.to_vec(),
        events,
        user_reaps,
        timeouts,
        calls: 3,
        mutation: Mutation::None,
    }
}

fn passes(c: &Config) -> Report {
    let r = check(c);
    eprintln!(
        "{:?}: {} states, {} transitions, {} finals, {} waiting",
        c, r.states, r.transitions, r.finals, r.waiting
    );
    if let Some(v) = &r.violation {
        panic!("{v}");
    }
    assert!(r.finals > 0);
    r
}

/// The configurations `make test` checks (seconds each); `make test-long`
/// checks the larger ones below.
fn quick_configs() -> [Config; 3] {
    [
        // Two consumers; the tail wraps twice.
        cfg(2, &[(1, 1), (1, 1)], 5, 0, 0),
        // Promises: a min_nr=2 sleeper and a min_nr=1 one, with deadlines.
        Config {
            calls: 2,
            ..cfg(3, &[(2, 2), (1, 1)], 4, 0, 1)
        },
        // Kernel and user-space reaping in turn; the tail wraps twice.
        cfg(2, &[(1, 1), (1, 1)], 5, 2, 0),
    ]
}

#[test]
fn model_two_consumers_tail_wraps_twice() {
    passes(&quick_configs()[0]);
}

#[test]
fn model_promises_with_deadlines() {
    passes(&quick_configs()[1]);
}

#[test]
fn model_kernel_and_user_reaping_in_turn() {
    passes(&quick_configs()[2]);
}

#[test]
#[ignore = "minutes: make test-long"]
fn model_two_consumers_ring_of_3_wraps_twice() {
    passes(&cfg(3, &[(1, 2), (1, 2)], 7, 0, 0));
}

#[test]
#[ignore = "minutes: make test-long"]
fn model_three_consumers() {
    passes(&Config {
        calls: 2,
        ..cfg(2, &[(1, 1), (1, 1), (1, 1)], 5, 0, 0)
    });
}

#[test]
#[ignore = "minutes: make test-long"]
fn model_user_reaping_ring_of_3() {
    passes(&Config {
        calls: 2,
        ..cfg(3, &[(1, 2), (1, 2)], 7, 1, 0)
    });
}

/// Every broken variant fails at least one of the quick configurations.
#[test]
fn model_catches_broken_variants() {
    for mutation in [
        Mutation::NoGeneration,
        Mutation::ClaimThenCopy,
        Mutation::ReleaseWithoutSettle,
        Mutation::RefillFromConsumed,
        Mutation::TicketAfterQueue,
    ] {
        let found = quick_configs().into_iter().find_map(|c| {
            let c = Config { mutation, ..c };
            let r = check(&c);
            r.violation.map(|v| (c, r.states, v))
        });
        let Some((c, states, v)) = found else {
            panic!("{mutation:?} passed every configuration");
        };
        let first = v.lines().next().unwrap_or("");
        eprintln!("{mutation:?}: caught after {states} states in {c:?}: {first}");
    }
}
