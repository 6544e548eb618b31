use crate::read_passes::*;
use crate::rng::Rng;

const EAGAIN: isize = -11;
const EIO: isize = -5;

#[test]
fn first_attempt() {
    assert_eq!(after_nowait(4096, 4096, EAGAIN), AfterPass::Complete(4096));
    assert_eq!(after_nowait(EAGAIN, 4096, EAGAIN), AfterPass::GoOn { consumed: 0 });
    assert_eq!(after_nowait(100, 4096, EAGAIN), AfterPass::GoOn { consumed: 100 });
    assert_eq!(after_nowait(0, 4096, EAGAIN), AfterPass::Complete(0));
    assert_eq!(after_nowait(EIO, 4096, EAGAIN), AfterPass::Complete(EIO));
    assert_eq!(after_nowait(0, 0, EAGAIN), AfterPass::Complete(0));
}

#[test]
fn later_passes() {
    assert_eq!(after_waitq(EAGAIN, 10, EAGAIN), AfterPass::Worker);
    assert_eq!(after_waitq(10, 10, EAGAIN), AfterPass::Complete(10));
    assert_eq!(after_waitq(3, 10, EAGAIN), AfterPass::GoOn { consumed: 3 });
    assert_eq!(after_waitq(0, 10, EAGAIN), AfterPass::Complete(0));
    assert_eq!(after_waitq(EIO, 10, EAGAIN), AfterPass::Complete(EIO));
}

#[test]
fn results() {
    assert_eq!(read_result(0, 4096), 4096);
    assert_eq!(read_result(0, EIO), EIO);
    assert_eq!(read_result(100, EIO), 100);
    assert_eq!(read_result(100, 0), 100);
    assert_eq!(read_result(100, 50), 150);
    assert_eq!(read_result(100, EAGAIN), 100);
}

/// Drives the passes as `retry.rs` does against a file of `size` bytes
/// whose page cache answers each pass with some of what is left, `-EAGAIN`,
/// or (once) an I/O error, and checks the event's `res` against `pread`'s.
#[test]
fn passes_add_up_to_pread() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20000 {
        let size = rng.below(1 << 16) as usize;
        let off = rng.below(1 << 17) as usize;
        let len = rng.below(1 << 16) as usize;
        let fail_at = rng.below(8);
        let available = size.saturating_sub(off).min(len);
        let mut pos = 0usize; // bytes read so far, as the file sees them
        let mut done = 0usize;
        let mut failed = false;
        // One pass of the page cache: progress, EAGAIN, EOF or EIO.
        let mut method = |rng: &mut Rng, pos: usize, pass: u64| -> isize {
            if pass == fail_at && rng.below(4) == 0 {
                failed = true;
                return EIO;
            }
            let left = available - pos;
            if left == 0 {
                return 0;
            }
            match rng.below(3) {
                0 => EAGAIN,
                1 => left as isize,
                _ => 1 + rng.below(left as u64) as isize,
            }
        };
        let mut ret = method(&mut rng, pos, 0);
        let mut step = after_nowait(ret, len, EAGAIN);
        let mut pass = 1;
        let res = loop {
            match step {
                AfterPass::Complete(r) => break read_result(done, r),
                AfterPass::GoOn { consumed } => {
                    pos += consumed;
                    done += consumed;
                }
                // The worker's blocking pass reads all that is left.
                AfterPass::Worker => break read_result(done, (available - pos) as isize),
            }
            ret = method(&mut rng, pos, pass);
            if ret > 0 {
                // The page cache never returns more than was asked.
                assert!(ret as usize <= len - done);
            }
            step = after_waitq(ret, len - done, EAGAIN);
            if let AfterPass::GoOn { consumed } = step {
                assert!(consumed > 0, "a pass that read nothing must not loop");
            }
            pass += 1;
        };
        // `pread`: all that is there, or, if the device failed, what was
        // read before the error, and the error only if that was nothing.
        let want = match (failed, done) {
            (true, 0) => EIO,
            (true, done) => done as isize,
            (false, _) => available as isize,
        };
        assert_eq!(res, want, "size {size} off {off} len {len}");
    }
}
