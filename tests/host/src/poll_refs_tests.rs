use crate::poll_refs::*;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

struct HostWord(AtomicU32);

impl PollWord for HostWord {
    fn load(&self) -> u32 {
        self.0.load(SeqCst)
    }
    fn fetch_add(&self, v: u32) -> u32 {
        self.0.fetch_add(v, SeqCst)
    }
    fn fetch_sub(&self, v: u32) -> u32 {
        self.0.fetch_sub(v, SeqCst)
    }
    fn cmpxchg(&self, old: u32, new: u32) -> Result<u32, u32> {
        self.0.compare_exchange(old, new, SeqCst, SeqCst)
    }
}

fn refs(v: u32) -> PollRefs<HostWord> {
    PollRefs(HostWord(AtomicU32::new(v)))
}

#[test]
fn only_the_first_reference_owns() {
    let r = refs(0);
    assert!(r.get_ownership());
    assert!(!r.get_ownership());
    assert!(!r.cancel());
    assert_eq!(r.0.load(), POLL_CANCELLED | 3);
}

#[test]
fn submitter_keeps_ownership_when_woken_while_arming() {
    let r = refs(PollRefs::<HostWord>::ARMING);
    assert!(!r.disarm_submitter());
    assert_eq!(r.0.load(), 0);

    let r = refs(PollRefs::<HostWord>::ARMING);
    assert!(!r.get_ownership(), "a waker while arming is not the owner");
    assert!(r.disarm_submitter(), "so the submitter must go on");
}

#[test]
fn owner_polls_again_for_wakeups_that_came_in() {
    let r = refs(0);
    assert!(r.get_ownership());
    let mut polls = 0;
    // A wake-up arrives during the first poll: not covered by it.
    let out = r.check(|| {
        polls += 1;
        if polls == 1 {
            assert!(!r.get_ownership());
        }
        0
    });
    assert_eq!(out, PollOutcome::Armed);
    assert_eq!(polls, 2);
    assert_eq!(r.0.load(), 0, "every reference given back");
}

#[test]
fn cancel_wins_over_polling() {
    let r = refs(0);
    assert!(r.cancel());
    assert_eq!(r.check(|| 1), PollOutcome::Cancelled);
}

#[test]
fn cancel_during_poll_is_seen() {
    let r = refs(0);
    assert!(r.get_ownership());
    let mut polls = 0;
    let out = r.check(|| {
        polls += 1;
        assert!(!r.cancel());
        0
    });
    assert_eq!(out, PollOutcome::Cancelled);
    assert_eq!(polls, 1);
}

/// One armed request, a "file" that becomes ready, wakers and a canceller
/// on real threads.  Whoever becomes the owner runs the owner's loop right
/// away (what the work item does).  Every trial must complete the request
/// exactly once: never lost, never twice.
#[test]
fn threads_complete_exactly_once() {
    const TRIALS: usize = 3000;
    for trial in 0..TRIALS {
        let r = Arc::new(refs(PollRefs::<HostWord>::ARMING));
        let ready = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let cancel_too = trial % 3 == 0;
        let go = Arc::new(Barrier::new(3));

        let run_owner = {
            let (r, ready, done) = (r.clone(), ready.clone(), done.clone());
            // The yield widens the window in which wake-ups race the poll.
            move || match r.check(|| {
                let mask = ready.load(SeqCst) as u32;
                thread::yield_now();
                mask
            }) {
                PollOutcome::Armed => {}
                PollOutcome::Ready(_) | PollOutcome::Cancelled => {
                    done.fetch_add(1, SeqCst);
                }
            }
        };
        let waker = {
            let (r, ready, go, run_owner) = (r.clone(), ready.clone(), go.clone(), run_owner.clone());
            thread::spawn(move || {
                go.wait();
                ready.store(true, SeqCst);
                if r.get_ownership() {
                    run_owner();
                }
            })
        };
        let other = {
            let (r, go, run_owner) = (r.clone(), go.clone(), run_owner.clone());
            thread::spawn(move || {
                go.wait();
                // A spurious wake-up (no key), or a cancel.
                let owner = if cancel_too { r.cancel() } else { r.get_ownership() };
                if owner {
                    run_owner();
                }
            })
        };
        // The submitter: finds nothing ready at first, then lets go.
        go.wait();
        if r.disarm_submitter() {
            run_owner();
        }
        waker.join().unwrap();
        other.join().unwrap();
        assert_eq!(done.load(SeqCst), 1, "trial {trial}: completions");
    }
}
