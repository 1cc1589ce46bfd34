//! Tests of the data-level sender and receiver, named after the RFC 8684 section they
//! prove.

use proptest::prelude::*;

use super::*;

const IDSN: u64 = 0x1234_5678_9abc_def0;
const D0: u64 = IDSN + 1;

fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
        .collect()
}

fn read_all(r: &mut DataReceiver) -> Vec<u8> {
    let mut out = vec![0; r.readable()];
    let n = r.read(&mut out);
    out.truncate(n);
    out
}

#[test]
fn s3_3_1_in_order_chunks_from_two_subflows() {
    let data = pattern(300);
    let mut r = DataReceiver::new(IDSN, 1000);
    r.on_chunk(D0, &data[..100]).unwrap();
    r.on_chunk(D0 + 100, &data[100..200]).unwrap();
    r.on_chunk(D0 + 200, &data[200..]).unwrap();
    assert_eq!(r.data_ack(), D0 + 300);
    assert_eq!(read_all(&mut r), data);
}

#[test]
fn s3_3_1_out_of_order_and_overlapping_chunks_first_copy_wins() {
    let data = pattern(300);
    let mut r = DataReceiver::new(IDSN, 1000);
    // Subflow B is ahead.
    r.on_chunk(D0 + 150, &data[150..300]).unwrap();
    assert_eq!(r.data_ack(), D0);
    // Subflow A overlaps it with different (bogus) bytes: the first copy is kept.
    let mut bogus = data[100..200].to_vec();
    bogus.iter_mut().for_each(|b| *b = !*b);
    let out = r.on_chunk(D0 + 100, &bogus).unwrap();
    assert_eq!(out.stored, 50);
    assert_eq!(r.data_ack(), D0);
    let out = r.on_chunk(D0, &data[..100]).unwrap();
    assert_eq!(out.newly_readable, 300);
    assert_eq!(r.data_ack(), D0 + 300);
    let mut expect = data.clone();
    expect[100..150].copy_from_slice(&bogus[..50]);
    assert_eq!(read_all(&mut r), expect);
    // A full duplicate, and one partly before the stream's start.
    r.on_chunk(D0 + 10, &data[10..20]).unwrap();
    r.on_chunk(IDSN - 5, &[0; 10]).unwrap();
    assert_eq!(r.stats().duplicate_bytes, 50 + 10 + 10);
    assert_eq!(r.data_ack(), D0 + 300);
}

#[test]
fn s3_3_2_data_ack_advances_and_s3_3_4_window_shared() {
    let mut r = DataReceiver::new(IDSN, 100);
    assert_eq!(r.window(), 100);
    r.on_chunk(D0 + 50, &[1; 20]).unwrap();
    assert_eq!(r.data_ack(), D0);
    assert_eq!(r.window(), 80);
    r.on_chunk(D0, &[2; 50]).unwrap();
    assert_eq!(r.data_ack(), D0 + 70);
    assert_eq!(r.window(), 30);
    let mut buf = [0; 70];
    assert_eq!(r.read(&mut buf), 70);
    assert_eq!(r.window(), 100);
    assert_eq!(r.data_ack(), D0 + 70);
}

#[test]
fn s3_3_4_chunks_beyond_the_window_are_dropped_and_counted_bounded_memory() {
    let mut r = DataReceiver::with_max_ranges(IDSN, 100, 2);
    let out = r.on_chunk(D0 + 90, &[1; 20]).unwrap();
    assert_eq!(out.beyond_window, 10);
    r.on_chunk(D0 + 500, &[1; 20]).unwrap();
    assert_eq!(r.stats().beyond_window_bytes, 30);
    r.on_chunk(D0 + 10, &[1; 5]).unwrap();
    // A third out-of-order range exceeds the cap of 2.
    let out = r.on_chunk(D0 + 30, &[1; 5]).unwrap();
    assert!(out.dropped_range_limit);
    assert_eq!(r.stats().range_limit_drops, 1);
    assert!(r.allocated() <= r.capacity());
    // A flood far ahead allocates nothing more.
    for i in 0..1000u64 {
        r.on_chunk(D0 + 1000 + i * 7, &[9; 1000]).unwrap();
    }
    assert!(r.allocated() <= r.capacity());
    assert_eq!(r.data_ack(), D0);
}

#[test]
fn s3_3_3_data_fin_received() {
    let mut r = DataReceiver::new(IDSN, 100);
    r.on_chunk(D0 + 5, &[1; 5]).unwrap();
    r.on_data_fin(D0 + 10).unwrap();
    r.on_data_fin(D0 + 10).unwrap();
    assert_eq!(
        r.on_data_fin(D0 + 11),
        Err(DataError::FinConflict {
            old: D0 + 10,
            new: D0 + 11
        })
    );
    // DATA_ACK covers the DATA_FIN only once all data before it arrived.
    assert_eq!(r.data_ack(), D0);
    assert_eq!(
        r.on_chunk(D0 + 8, &[1; 5]),
        Err(DataError::DataBeyondFin {
            end: D0 + 13,
            fin_dsn: D0 + 10
        })
    );
    r.on_chunk(D0, &[1; 5]).unwrap();
    assert_eq!(r.data_ack(), D0 + 11);
    assert!(!r.is_finished());
    assert_eq!(read_all(&mut r).len(), 10);
    assert!(r.is_finished());
}

#[test]
fn s3_3_3_data_fin_below_received_data_is_refused() {
    let mut r = DataReceiver::new(IDSN, 100);
    r.on_chunk(D0 + 20, &[1; 5]).unwrap();
    assert_eq!(
        r.on_data_fin(D0 + 22),
        Err(DataError::FinBeforeData {
            fin_dsn: D0 + 22,
            received_end: D0 + 25
        })
    );
    assert!(r.on_data_fin(IDSN).is_err());
    // An empty stream: DATA_FIN at IDSN + 1.
    let mut r = DataReceiver::new(IDSN, 100);
    r.on_data_fin(D0).unwrap();
    assert_eq!(r.data_ack(), D0 + 1);
    assert!(r.is_finished());
}

#[test]
fn s3_3_1_sender_assigns_dsns_within_the_window() {
    let mut s = DataSender::new(IDSN, 1000, 250);
    assert_eq!(s.write(&pattern(2000)), 1000);
    assert_eq!(s.next_chunk(100, 1000), Some((D0, 100)));
    assert_eq!(s.next_chunk(1000, 60), Some((D0 + 100, 60)));
    assert_eq!(s.next_chunk(1000, 1000), Some((D0 + 160, 90)));
    // The connection-level window is full (§3.3.4).
    assert_eq!(s.next_chunk(1000, 1000), None);
    let (a, b) = s.bytes(D0 + 100, 60);
    assert_eq!([a, b].concat(), pattern(2000)[100..160]);
}

#[test]
fn held_back_bytes_keep_new_data_short_of_the_edge_but_not_data_sent_again() {
    let mut s = DataSender::new(IDSN, 1000, 400);
    s.write(&pattern(1000));
    assert_eq!(s.next_chunk(100, usize::MAX), Some((D0, 100)));
    s.hold_back(200);
    // 400 - 200 held back - 100 sent.
    assert_eq!(s.next_chunk(1000, usize::MAX), Some((D0 + 100, 100)));
    assert_eq!(s.next_chunk(1000, usize::MAX), None);
    // Data sent again still goes, below the edge.
    s.reinject(D0, 100);
    assert_eq!(s.next_chunk(1000, usize::MAX), Some((D0, 100)));
    // Released, the rest of the window is used.
    s.hold_back(0);
    assert_eq!(s.next_chunk(1000, usize::MAX), Some((D0 + 200, 200)));
}

#[test]
fn s3_3_2_data_ack_frees_data_and_s3_3_4_moves_the_edge() {
    let mut s = DataSender::new(IDSN, 1000, 100);
    s.write(&pattern(1000));
    assert_eq!(s.next_chunk(1000, 1000), Some((D0, 100)));
    assert_eq!(
        s.on_data_ack(D0 + 40, 100),
        DataAckVerdict::Accepted { newly_acked: 40 }
    );
    assert_eq!(s.buffered(), 960);
    assert_eq!(s.window_edge(), D0 + 140);
    assert_eq!(s.bytes(D0 + 10, 5), (&[][..], &[][..]));
    assert_eq!(s.next_chunk(1000, 1000), Some((D0 + 100, 40)));
    // A smaller window does not pull the edge left.
    s.on_data_ack(D0 + 50, 10);
    assert_eq!(s.window_edge(), D0 + 140);
    assert_eq!(s.free(), 50);
}

#[test]
fn s3_3_2_data_ack_backwards_or_beyond_sent_acknowledges_nothing() {
    let mut s = DataSender::new(IDSN, 1000, 1000);
    s.write(&pattern(500));
    s.next_chunk(200, 200);
    s.on_data_ack(D0 + 100, 1000);
    assert_eq!(s.on_data_ack(D0 + 50, 500), DataAckVerdict::Stale);
    assert_eq!(s.on_data_ack(IDSN - 1000, 5000), DataAckVerdict::Stale);
    assert_eq!(s.on_data_ack(D0 + 201, 5000), DataAckVerdict::BeyondSent);
    assert_eq!(s.on_data_ack(u64::MAX, 5000), DataAckVerdict::Stale);
    assert_eq!(s.stats().stale_acks, 3);
    assert_eq!(s.stats().beyond_sent_acks, 1);
    assert_eq!(s.data_una(), D0 + 100);
    // Neither a DSN before the stream nor one beyond what was sent moves the
    // window; a stale DATA_ACK whose right edge is behind leaves it too.
    assert_eq!(s.window_edge(), D0 + 1100);
    assert_eq!(
        s.on_data_ack(D0 + 100, 1000),
        DataAckVerdict::Accepted { newly_acked: 0 }
    );
}

#[test]
fn s3_3_5_a_stale_data_ack_with_a_further_right_edge_still_moves_the_window() {
    let mut s = DataSender::new(IDSN, 1000, 1000);
    s.write(&pattern(500));
    s.next_chunk(200, 200);
    s.on_data_ack(D0 + 100, 1000);
    assert_eq!(s.window_edge(), D0 + 1100);
    // A slower subflow's older DATA_ACK carries a window the peer offered later.
    assert_eq!(s.on_data_ack(D0 + 50, 5000), DataAckVerdict::Stale);
    assert_eq!(s.data_una(), D0 + 100, "nothing more acknowledged");
    assert_eq!(s.window_edge(), D0 + 5050);
    assert_eq!(s.largest_window(), 4950);
    // The right edge never moves left: not for a smaller window on a newer
    // DATA_ACK, nor for an older DATA_ACK with a smaller one.
    s.on_data_ack(D0 + 150, 100);
    assert_eq!(s.window_edge(), D0 + 5050);
    s.on_data_ack(D0 + 60, 100);
    assert_eq!(s.window_edge(), D0 + 5050);
}

#[test]
fn s3_3_3_data_fin_sent_takes_one_dsn() {
    let mut s = DataSender::new(IDSN, 1000, 1000);
    s.write(&pattern(100));
    s.close();
    assert_eq!(s.write(b"more"), 0);
    assert_eq!(s.data_fin_dsn(), Some(D0 + 100));
    assert!(!s.data_fin_ready());
    assert_eq!(s.next_chunk(60, 1000), Some((D0, 60)));
    // The DATA_FIN cannot be acknowledged before it may be sent.
    assert_eq!(s.on_data_ack(D0 + 61, 1000), DataAckVerdict::BeyondSent);
    assert_eq!(s.next_chunk(60, 1000), Some((D0 + 60, 40)));
    assert!(s.data_fin_ready());
    assert_eq!(s.next_chunk(60, 1000), None);
    assert_eq!(
        s.on_data_ack(D0 + 100, 1000),
        DataAckVerdict::Accepted { newly_acked: 100 }
    );
    assert!(!s.all_acked());
    assert_eq!(
        s.on_data_ack(D0 + 101, 1000),
        DataAckVerdict::Accepted { newly_acked: 1 }
    );
    assert!(s.all_acked());
    assert_eq!(s.on_data_ack(D0 + 102, 1000), DataAckVerdict::BeyondSent);
}

#[test]
fn s3_3_reinjection_is_served_first_in_order() {
    let mut s = DataSender::new(IDSN, 1000, 1000);
    s.write(&pattern(600));
    assert_eq!(s.next_chunk(300, 1000), Some((D0, 300)));
    // The subflow that carried [100, 200) and [0, 50) failed.
    assert_eq!(s.reinject(D0 + 100, 100), 100);
    assert_eq!(s.reinject(D0, 50), 50);
    // Not yet sent: nothing to reinject.
    assert_eq!(s.reinject(D0 + 300, 50), 0);
    assert_eq!(s.reinject_pending(), 150);
    assert_eq!(s.next_chunk(60, 1000), Some((D0 + 100, 60)));
    assert_eq!(s.next_chunk(60, 1000), Some((D0 + 160, 40)));
    assert_eq!(s.next_chunk(60, 1000), Some((D0, 50)));
    assert_eq!(s.next_chunk(60, 1000), Some((D0 + 300, 60)));
}

#[test]
fn s3_3_reinjection_skips_acknowledged_data_and_is_bounded() {
    let mut s = DataSender::new(IDSN, 1000, 1000);
    s.set_max_reinject_ranges(2);
    s.write(&pattern(600));
    s.next_chunk(600, 1000);
    s.reinject(D0, 100);
    s.reinject(D0 + 100, 100); // merged with the previous range
    s.reinject(D0 + 300, 10);
    // Beyond the limit the newest range widens to take the new one in: nothing is
    // dropped, at the cost of re-sending the gap between them.
    assert_eq!(s.reinject(D0 + 400, 10), 100);
    s.on_data_ack(D0 + 150, 1000);
    assert_eq!(s.reinject_pending(), 160);
    assert_eq!(s.next_chunk(1000, 1000), Some((D0 + 150, 50)));
    assert_eq!(s.next_chunk(1000, 1000), Some((D0 + 300, 110)));
    assert_eq!(s.next_chunk(1000, 1000), None);
}

#[test]
fn s3_3_sender_to_receiver_round_trip_with_wrapping_dsns() {
    let idsn = u64::MAX - 10;
    let data = pattern(3000);
    let mut s = DataSender::new(idsn, 500, 400);
    let mut r = DataReceiver::new(idsn, 400);
    let mut written = 0;
    let mut got = Vec::new();
    let mut flip = false;
    while !(s.all_acked() && r.is_finished()) {
        written += s.write(&data[written..]);
        if written == data.len() {
            s.close();
        }
        while let Some((dsn, len)) = s.next_chunk(70, 1000) {
            let (a, b) = s.bytes(dsn, len);
            let chunk = [a, b].concat();
            r.on_chunk(dsn, &chunk).unwrap();
            flip = !flip;
            if flip {
                // The "other subflow" fails: send it again.
                s.reinject(dsn, len as u64);
            }
        }
        if s.data_fin_ready() {
            r.on_data_fin(s.data_fin_dsn().unwrap()).unwrap();
        }
        got.extend(read_all(&mut r));
        assert!(matches!(
            s.on_data_ack(r.data_ack(), r.window()),
            DataAckVerdict::Accepted { .. }
        ));
    }
    assert_eq!(got, data);
}

proptest! {
    /// A byte stream split into random DSN chunks over two subflows, with random
    /// duplication (re-chunked differently) and order, is rebuilt exactly (§3.3.1).
    #[test]
    fn s3_3_1_reassembly_from_two_subflows(
        len in 0usize..3000,
        cuts_a in proptest::collection::vec(1usize..400, 1..40),
        cuts_b in proptest::collection::vec(1usize..400, 1..40),
        dup in proptest::collection::vec(any::<bool>(), 40),
        order in proptest::collection::vec(any::<u32>(), 80),
        idsn in any::<u64>(),
    ) {
        let data = pattern(len);
        let base = idsn.wrapping_add(1);
        let chunk = |cuts: &[usize]| {
            let mut out = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < len {
                let n = cuts[i % cuts.len()].min(len - at);
                out.push((at, n));
                at += n;
                i += 1;
            }
            out
        };
        // Subflow A carries every chunk of one split; subflow B repeats some stretches
        // cut differently.
        let mut chunks: Vec<(usize, usize)> = chunk(&cuts_a);
        for (i, c) in chunk(&cuts_b).into_iter().enumerate() {
            if dup[i % dup.len()] {
                chunks.push(c);
            }
        }
        let mut keyed: Vec<(u32, (usize, usize))> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| (order[i % order.len()].wrapping_add(i as u32), c))
            .collect();
        keyed.sort_by_key(|&(k, _)| k);
        let mut r = DataReceiver::new(idsn, len.max(1));
        let mut queue: std::collections::VecDeque<(usize, usize)> =
            keyed.into_iter().map(|(_, c)| c).collect();
        let mut fin_at = queue.len() / 2;
        let mut got = Vec::new();
        let mut i = 0;
        while let Some((at, n)) = queue.pop_front() {
            if i == fin_at {
                r.on_data_fin(base.wrapping_add(len as u64)).unwrap();
                fin_at = usize::MAX;
            }
            let out = r.on_chunk(base.wrapping_add(at as u64), &data[at..at + n]).unwrap();
            if out.dropped_range_limit {
                // Too many out-of-order ranges: the peer will send it again.
                queue.push_back((at, n));
            }
            if i % 3 == 0 {
                got.extend(read_all(&mut r));
            }
            i += 1;
        }
        if fin_at != usize::MAX {
            r.on_data_fin(base.wrapping_add(len as u64)).unwrap();
        }
        got.extend(read_all(&mut r));
        prop_assert_eq!(&got, &data);
        prop_assert_eq!(r.data_ack(), base.wrapping_add(len as u64 + 1));
        prop_assert!(r.is_finished());
        prop_assert_eq!(r.stats().beyond_window_bytes, 0);
    }
}

/// Every byte of `dsn..dsn + len`, both slices joined.
fn sent_bytes(s: &DataSender, dsn: u64, len: usize) -> Vec<u8> {
    let (a, b) = s.bytes(dsn, len);
    [a, b].concat()
}

#[test]
fn send_buffer_starts_small_and_grows_up_to_its_bound_never_shrinking() {
    let mut s = DataSender::new(IDSN, 1 << 20, 1 << 30);
    assert_eq!(s.capacity(), INITIAL_SEND_BUFFER);
    assert_eq!(s.max_capacity(), 1 << 20);
    assert_eq!(s.write(&pattern(200_000)), INITIAL_SEND_BUFFER);
    assert_eq!(s.grow_capacity(100_000), 100_000);
    assert_eq!(s.free(), 100_000 - INITIAL_SEND_BUFFER);
    assert_eq!(s.grow_capacity(10_000), 100_000, "never shrinks");
    assert_eq!(s.grow_capacity(usize::MAX), 1 << 20, "never past the bound");
    // A bound below the initial size is the size.
    let s = DataSender::new(IDSN, 1000, 1000);
    assert_eq!(s.capacity(), 1000);
}

#[test]
fn send_buffer_growth_keeps_wrapped_contents() {
    let data = pattern(400_000);
    let mut s = DataSender::new(IDSN, 1 << 20, 1 << 30);
    let cap = INITIAL_SEND_BUFFER;
    assert_eq!(s.write(&data[..cap]), cap);
    while s.next_chunk(1 << 20, usize::MAX).is_some() {}
    s.on_data_ack(D0 + 40_000, 1 << 30);
    // The ring (as large as the buffer) now wraps: the newest bytes sit before the
    // oldest in storage.
    assert_eq!(s.write(&data[cap..cap + 40_000]), 40_000);
    assert_eq!(s.free(), 0);
    s.grow_capacity(300_000);
    let more = s.write(&data[cap + 40_000..]);
    assert_eq!(more, 300_000 - cap);
    let end = cap + 40_000 + more;
    assert_eq!(s.buffered(), end - 40_000);
    assert_eq!(
        sent_bytes(&s, D0 + 40_000, end - 40_000),
        &data[40_000..end],
        "the bytes of every DSN survive the growth"
    );
    assert_eq!(
        s.next_chunk(1 << 20, usize::MAX),
        Some((D0 + cap as u64, end - cap))
    );
}

#[test]
fn send_autotune_grows_to_twice_the_bytes_delivered_per_rtt_max() {
    let rtt = Duration::from_millis(100);
    let t = |ms: u64| Instant::from_millis(ms);
    let mut s = DataSender::new(IDSN, 4 << 20, 1 << 30);
    s.autotune(t(0), rtt, 0, 1000);
    // Less than RTT_max later: no decision yet.
    s.autotune(t(50), rtt, 500_000, 1000);
    assert_eq!(s.capacity(), INITIAL_SEND_BUFFER);
    // 200 kB over 100 ms (say 150 kB on one subflow, 50 kB on the other).
    s.autotune(t(100), rtt, 200_000, 1000);
    assert_eq!(s.capacity(), 2 * 200_000 + 1000);
    // 600 kB over 200 ms (two RTTs): 300 kB per RTT.
    s.autotune(t(300), rtt, 800_000, 1000);
    assert_eq!(s.capacity(), 2 * 300_000 + 1000);
    // Slower now: it does not shrink.
    s.autotune(t(400), rtt, 810_000, 1000);
    assert_eq!(s.capacity(), 2 * 300_000 + 1000);
    // A subflow went away (the running count fell): the interval counts nothing.
    s.autotune(t(500), rtt, 100_000, 1000);
    assert_eq!(s.capacity(), 2 * 300_000 + 1000);
    // Never past the configured send buffer.
    s.autotune(t(600), rtt, 100_000_000, 1000);
    assert_eq!(s.capacity(), 4 << 20);
}

#[test]
fn send_autotune_never_drops_buffered_data() {
    let data = pattern(INITIAL_SEND_BUFFER);
    let mut s = DataSender::new(IDSN, 1 << 20, 1 << 30);
    s.write(&data);
    s.autotune(Instant::from_millis(0), Duration::from_millis(10), 0, 0);
    s.autotune(Instant::from_millis(20), Duration::from_millis(10), 10, 0);
    assert_eq!(
        s.capacity(),
        INITIAL_SEND_BUFFER,
        "tiny delivery: no change"
    );
    assert_eq!(sent_bytes(&s, D0, data.len()), data);
}
