use crate::rng::Rng;
use crate::write_steps::*;

const EAGAIN: isize = -11;
const ENOSPC: isize = -28;
const EIO: isize = -5;

#[test]
fn copy_passes() {
    assert_eq!(after_copy(4096, 0, 4096, true), AfterCopy::Sync);
    assert_eq!(after_copy(EAGAIN, 4096, 0, true), AfterCopy::CopyInPool);
    assert_eq!(after_copy(100, 3996, 100, true), AfterCopy::CopyInPool);
    assert_eq!(after_copy(-95, 4096, 0, true), AfterCopy::CopyInPool);
    assert_eq!(after_copy(0, 0, 0, true), AfterCopy::Complete(0));
    assert_eq!(after_copy(ENOSPC, 4096, 0, false), AfterCopy::Complete(ENOSPC));
    assert_eq!(after_copy(ENOSPC, 3996, 100, false), AfterCopy::Sync);
    assert_eq!(after_copy(50, 3946, 150, false), AfterCopy::Sync);
}

#[test]
fn results() {
    assert_eq!(write_result(4096, 0), 4096);
    assert_eq!(write_result(4096, EIO), EIO);
}

/// A file system that has room for `room` bytes, and whose `IOCB_NOWAIT`
/// pass copies `nowait_cap` bytes at most (0: `-EAGAIN`) or refuses
/// (`refuse`).  The steps must give what one blocking `pwrite` followed by
/// the sync (`sync_err`) gives.
#[test]
fn against_a_model_of_pwrite() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 20_000) as usize;
        let room = (rng.next() % 25_000) as usize;
        let nowait_cap = (rng.next() % 25_000) as usize;
        let refuse = rng.next() % 4 == 0;
        let sync_err = if rng.next() % 5 == 0 { EIO } else { 0 };
        let model = match len.min(room) {
            0 if len > 0 => ENOSPC,
            n => write_result(n, if n > 0 { sync_err } else { 0 }),
        };

        let (mut written, mut room_left) = (0usize, room);
        let mut pass = |want: usize, cap: usize, refuse: bool| -> isize {
            if refuse {
                return -95;
            }
            let n = want.min(cap).min(room_left);
            if n == 0 && want > 0 {
                return if cap == 0 { EAGAIN } else { ENOSPC };
            }
            room_left -= n;
            n as isize
        };
        let ret = pass(len, nowait_cap, refuse);
        if ret > 0 {
            written += ret as usize;
        }
        let mut step = after_copy(ret, len - written, written, true);
        if step == AfterCopy::CopyInPool {
            let ret = pass(len - written, usize::MAX, false);
            if ret > 0 {
                written += ret as usize;
            }
            step = after_copy(ret, len - written, written, false);
        }
        let res = match step {
            AfterCopy::Complete(ret) => ret,
            AfterCopy::Sync => write_result(written, sync_err),
            AfterCopy::CopyInPool => panic!("a blocking pass is the last"),
        };
        assert_eq!(res, model, "len {len} room {room} nowait {nowait_cap} refuse {refuse}");
    }
}
