// SPDX-License-Identifier: GPL-2.0

//! `io_getevents` and `io_pgetevents` (fs/aio.c's `read_events`): reading
//! events out of the ring, and sleeping until enough are there, a deadline,
//! a signal or the context's death.
//!
//! Sleeps use the promises of `waitbit.rs` and `promise.rs`: sleepers are
//! served in arrival order, and a completion wakes a sleeper only for
//! events not promised to sleepers ahead of it.  Events are claimed from
//! the ring without a lock (`claim.rs`).

use crate::context::Kioctx;
use crate::ring_index::EVENT_SIZE;
use crate::table::lookup;
use core::cell::Cell;
use kernel::bindings;
use kernel::ffi::c_long;
use kernel::prelude::*;
use kernel::uaccess::UserPtr;

/// The absolute deadline of a relative timeout of `rel_ns` from now, with
/// `ktime_add_safe()`'s saturation as fs/aio.c's relative hrtimer gets it: a
/// negative timeout or an overflow means no deadline at all.
fn deadline_after(rel_ns: i64) -> Option<i64> {
    // SAFETY: `ktime_get` has no preconditions.
    let now = unsafe { bindings::ktime_get() };
    match now.checked_add(rel_ns) {
        Some(t) if t >= 0 && t >= now && t >= rel_ns && t != i64::MAX => Some(t),
        _ => None,
    }
}

/// fs/aio.c's `aio_read_events`: reads events into `events[got..nr]`,
/// leaving `reserved` events for others, and says whether the caller should
/// stop waiting.  `got` counts the events read so far; if none were, a
/// failure (a fault, or the context's death) becomes its error.
fn read_events(
    ctx: &Kioctx,
    min_nr: usize,
    nr: usize,
    events: UserPtr,
    got: &Cell<Result<usize>>,
    reserved: u64,
) -> bool {
    let done = got.get().unwrap_or(0);
    let read = ctx.read_ring(
        events.wrapping_byte_add(done * EVENT_SIZE),
        nr - done,
        reserved,
    );
    let total = done + read.unwrap_or(0);
    let failed = if ctx.is_dead() {
        Err(EINVAL)
    } else {
        read.map(|_| ())
    };
    match failed {
        Err(e) => {
            got.set(if total == 0 { Err(e) } else { Ok(total) });
            true
        }
        Ok(()) => {
            got.set(Ok(total));
            total >= min_nr
        }
    }
}

/// `io_getevents`: waits until `min_nr` events were read, the relative
/// timeout `until_ns` (`KTIME_MAX`: none) passed, a signal arrived or the
/// context died.  Returns the number of events read; a pending signal turns
/// 0 into `EINTR` in the system call.
pub(crate) fn getevents(
    ctx_id: usize,
    min_nr: c_long,
    nr: c_long,
    events: UserPtr,
    until_ns: i64,
) -> Result<usize> {
    let ctx = lookup(ctx_id).ok_or(EINVAL)?;
    if min_nr > nr || min_nr < 0 {
        return Err(EINVAL);
    }
    let (min_nr, nr) = (min_nr as usize, nr as usize);
    let got = Cell::new(Ok(0));
    let reserved = ctx.wait_queue().reserved();
    if !read_events(&ctx, min_nr, nr, events, &got, reserved) && until_ns != 0 {
        // However the wait ends, `got` says what was read.
        let _ = ctx.wait_queue().wait(
            deadline_after(until_ns),
            // A need larger than the events the ring is sure to hold at
            // once is served in parts: otherwise its earmark could hold
            // every slot until its deadline.
            || {
                let left = min_nr.saturating_sub(got.get().unwrap_or(0));
                left.min(ctx.sure_capacity() as usize)
            },
            || ctx.ring_counts(),
            || ctx.is_dead(),
            |reserved| read_events(&ctx, min_nr, nr, events, &got, reserved),
        );
    }
    got.get()
}
