use crate::ring_index::*;

const PAGE: usize = 4096;

/// The reference: fs/aio.c's computation, transcribed literally.
fn c_geometry(nr_events: u32, cpus: u32) -> Result<(usize, u32), GeometryError> {
    let mut nr = nr_events.max(cpus.wrapping_mul(4));
    nr = nr.wrapping_mul(2);
    if nr as usize > 0x1000_0000 / 32 {
        return Err(GeometryError::TooLarge);
    }
    if nr == 0 {
        return Err(GeometryError::Zero);
    }
    let nr2 = nr.wrapping_add(2);
    let size = 32 + 32 * nr2 as usize;
    let pages = (size + PAGE - 1) / PAGE;
    Ok((pages, ((PAGE * pages - 32) / 32) as u32))
}

#[test]
fn geometry_matches_c_formula() {
    for cpus in [1u32, 2, 4, 64] {
        for req in (1u32..5000).chain([65535, 65536, 1 << 20, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, u32::MAX]) {
            let ours = RingGeometry::for_request(req, cpus, PAGE).map(|g| (g.nr_pages, g.nr_events));
            assert_eq!(ours, c_geometry(req, cpus), "req {req} cpus {cpus}");
        }
    }
}

#[test]
fn geometry_known_values() {
    // io_setup(1) on 2 CPUs: max(1, 8) * 2 + 2 = 18 events -> 1 page -> 127 slots.
    let g = RingGeometry::for_request(1, 2, PAGE).unwrap();
    assert_eq!((g.nr_pages, g.nr_events, g.max_in_flight()), (1, 127, 126));
    // 128 -> 258 events + header = 8288 bytes -> 3 pages -> 383 slots.
    let g = RingGeometry::for_request(128, 2, PAGE).unwrap();
    assert_eq!((g.nr_pages, g.nr_events), (3, 383));
    assert_eq!(RingGeometry::for_request(0x8000_0000, 2, PAGE), Err(GeometryError::Zero));
    assert_eq!(RingGeometry::for_request(0x0800_0000, 2, PAGE), Err(GeometryError::TooLarge));
    assert_eq!(event_offset(0), 32);
    assert_eq!(event_offset(127), 4096);
}

#[test]
fn available_handles_wrap_and_garbage() {
    assert_eq!(events_available(0, 0, 10), 0);
    assert_eq!(events_available(2, 7, 10), 5);
    assert_eq!(events_available(7, 2, 10), 5);
    assert_eq!(events_available(9, 0, 10), 1);
    // Indices written by user space are reduced modulo nr first.
    assert_eq!(events_available(12, 17, 10), 5);
    assert_eq!(events_available(u32::MAX, 0, 10), events_available(u32::MAX % 10, 0, 10));
}

#[test]
fn plan_read_splits_at_the_end_of_the_ring() {
    let p = plan_read(7, 3, 10, 100);
    assert_eq!(p.runs, [Run { start: 7, len: 3 }, Run { start: 0, len: 3 }]);
    assert_eq!((p.count, p.new_head), (6, 3));

    let p = plan_read(7, 3, 10, 4);
    assert_eq!(p.runs, [Run { start: 7, len: 3 }, Run { start: 0, len: 1 }]);
    assert_eq!((p.count, p.new_head), (4, 1));

    let p = plan_read(2, 5, 10, 100);
    assert_eq!(p.runs[0], Run { start: 2, len: 3 });
    assert_eq!(p.runs[1].len, 0);
    assert_eq!((p.count, p.new_head), (3, 5));

    let p = plan_read(4, 4, 10, 100);
    assert_eq!((p.count, p.new_head), (0, 4));

    let p = plan_read(8, 0, 10, 100);
    assert_eq!(p.runs[0], Run { start: 8, len: 2 });
    assert_eq!((p.count, p.new_head), (2, 0));
}

#[test]
fn plan_read_is_exhaustive_and_consistent() {
    for nr in 1u32..12 {
        for head in 0..nr {
            for tail in 0..nr {
                for max in 0..(nr as usize + 2) {
                    let p = plan_read(head, tail, nr, max);
                    let avail = events_available(head, tail, nr);
                    assert_eq!(p.count, avail.min(max as u32));
                    assert_eq!(p.new_head, (head + p.count) % nr);
                    assert_eq!(p.runs[0].len + p.runs[1].len, p.count);
                    for r in p.runs.iter().filter(|r| r.len > 0) {
                        assert!(r.start + r.len <= nr);
                    }
                    if p.runs[1].len > 0 {
                        assert_eq!(p.runs[1].start, 0);
                        assert_eq!(p.runs[0].start + p.runs[0].len, nr);
                    }
                }
            }
        }
    }
}
