//! [`SegmentCoalescer`]: several segments in, one out, never held forever.

use braid_proto::time::Duration;

use super::*;

const HOLD: Duration = Duration::from_millis(2);

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn process(m: &mut SegmentCoalescer, now: Instant, seg: &Seg) -> Vec<Seg> {
    let mut out = Vec::new();
    m.process(now, seg.packet(), &mut out);
    out.iter().map(|p| parse(p)).collect()
}

fn fire(m: &mut SegmentCoalescer, now: Instant) -> Vec<Seg> {
    let mut out = Vec::new();
    m.handle_timeout(now, &mut out);
    out.iter().map(|p| parse(p)).collect()
}

/// Three data segments of 100 bytes from seq 1000, each with its own DSS option
/// (a different data sequence number) and its own ACK and window.
fn three(ends: (IpAddr, IpAddr)) -> Vec<Seg> {
    (0..3u32)
        .map(|i| {
            let mut options = dss_options();
            options[19] = i as u8; // the DSN's low byte
            Seg::new(ends)
                .seq(1000 + 100 * i)
                .ack(5000 + i)
                .window(500 + i as u16)
                .options(&options)
                .payload(&[b'a' + i as u8; 100])
        })
        .collect()
}

#[test]
fn rfc8684_s3_7_merges_keeping_the_first_options_until_psh() {
    for ends in [v4(), v6()] {
        let mut m = SegmentCoalescer::new(1400, HOLD);
        let mut segs = three(ends);
        segs[2].flags = TcpFlags::ACK | TcpFlags::PSH;
        assert!(process(&mut m, at(0), &segs[0]).is_empty());
        assert_eq!(m.poll_timeout(), Some(at(2)));
        assert!(process(&mut m, at(1), &segs[1]).is_empty());
        let out = process(&mut m, at(1), &segs[2]);
        let mut payload = Vec::new();
        for s in &segs {
            payload.extend_from_slice(&s.payload);
        }
        // The first segment's header and options (so its DSS mapping, which covers
        // 100 bytes only), the latest ACK and window, PSH from the last.
        let expected = segs[0]
            .clone()
            .ack(5002)
            .window(502)
            .flags(TcpFlags::ACK | TcpFlags::PSH)
            .payload(&payload);
        assert_eq!(out, vec![expected]);
        assert_eq!(m.poll_timeout(), None);
        assert_eq!((m.segments_absorbed, m.merged_sent), (2, 1));
    }
}

#[test]
fn held_data_leaves_after_the_hold_time() {
    let mut m = SegmentCoalescer::new(1400, HOLD);
    let segs = three(v4());
    // One segment alone comes out byte for byte.
    assert!(process(&mut m, at(0), &segs[0]).is_empty());
    assert_eq!(m.poll_timeout(), Some(at(2)));
    let mut out = Vec::new();
    m.handle_timeout(at(2), &mut out);
    assert_eq!(out, vec![segs[0].packet()]);
    assert_eq!(m.poll_timeout(), None);
    // Two merge; the timer counts from the first.
    assert!(process(&mut m, at(10), &segs[1]).is_empty());
    assert!(process(&mut m, at(11), &segs[2]).is_empty());
    assert_eq!(m.poll_timeout(), Some(at(12)));
    assert!(fire(&mut m, at(11)).is_empty(), "not yet due");
    let out = fire(&mut m, at(12));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, 1100);
    assert_eq!(out[0].payload.len(), 200);
    assert_eq!(out[0].options, segs[1].options);
}

#[test]
fn a_gap_or_another_kind_of_segment_releases_what_is_held_first() {
    let mut m = SegmentCoalescer::new(1400, HOLD);
    let segs = three(v4());
    assert!(process(&mut m, at(0), &segs[0]).is_empty());
    // Not in sequence (segs[1] was lost): the held one leaves, the new one is held.
    assert_eq!(process(&mut m, at(0), &segs[2]), vec![segs[0].clone()]);
    // A FIN of the same flow: the held one first, then the FIN.
    let fin = segs[2]
        .clone()
        .seq(1300)
        .payload(b"")
        .flags(TcpFlags::ACK | TcpFlags::FIN);
    assert_eq!(process(&mut m, at(0), &fin), vec![segs[2].clone(), fin]);
    assert_eq!(m.flows_held(), 0);
    // A pure ACK: the same.
    assert!(process(&mut m, at(0), &segs[0]).is_empty());
    let ack = Seg::new(v4()).seq(1100);
    assert_eq!(process(&mut m, at(0), &ack), vec![segs[0].clone(), ack]);
    assert_eq!(m.segments_absorbed, 0);
}

#[test]
fn merged_payload_never_exceeds_the_limit() {
    let mut m = SegmentCoalescer::new(250, HOLD);
    let segs = three(v4());
    assert!(process(&mut m, at(0), &segs[0]).is_empty());
    assert!(process(&mut m, at(0), &segs[1]).is_empty());
    // 300 > 250: the 200 held leave, the third is held.
    let out = process(&mut m, at(0), &segs[2]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 200);
    assert_eq!(m.flows_held(), 1);
    // Exactly the limit leaves at once.
    let mut m = SegmentCoalescer::new(200, HOLD);
    assert!(process(&mut m, at(0), &segs[0]).is_empty());
    let out = process(&mut m, at(0), &segs[1]);
    assert_eq!(out[0].payload.len(), 200);
    assert_eq!(m.poll_timeout(), None);
    // A segment as large as the limit is never held.
    assert_eq!(
        process(&mut m, at(0), &Seg::new(v4()).payload(&[0; 200])).len(),
        1
    );
}

#[test]
fn flows_are_held_apart_and_bounded() {
    let mut m = SegmentCoalescer::new(1400, HOLD).with_max_flows(2);
    let a = three(v4());
    let b: Vec<Seg> = three(v4())
        .into_iter()
        .map(|s| s.ports(40001, 80))
        .collect();
    let c: Vec<Seg> = three(v6());
    assert!(process(&mut m, at(0), &a[0]).is_empty());
    assert!(process(&mut m, at(1), &b[0]).is_empty());
    // The other direction and other flows are not held up by a's data.
    let reply = a[0].clone().reversed().payload(b"").flags(TcpFlags::ACK);
    assert_eq!(process(&mut m, at(1), &reply), vec![reply]);
    assert!(process(&mut m, at(1), &b[1]).is_empty());
    assert!(process(&mut m, at(1), &a[1]).is_empty());
    // A third flow: the one due first (a) makes room.
    let out = process(&mut m, at(1), &c[0]);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].sport, out[0].payload.len()), (40000, 200));
    assert_eq!(m.flows_held(), 2);
    // Both due at 3: b (held since 1) and c.
    let out = fire(&mut m, at(3));
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].sport, out[0].payload.len()), (40001, 200));
    assert_eq!(out[1].src, v6().0);
}

#[test]
fn only_clean_data_segments_are_held() {
    let mut m = SegmentCoalescer::new(1400, HOLD);
    let base = Seg::new(v4()).payload(b"data");
    let mut corrupt = base.packet();
    corrupt_checksum(&mut corrupt);
    let mut packets = vec![
        corrupt,
        base.clone().flags(TcpFlags::ACK | TcpFlags::PSH).packet(),
        base.clone().flags(TcpFlags::ACK | TcpFlags::FIN).packet(),
        base.clone().flags(TcpFlags::ACK | TcpFlags::URG).packet(),
        base.clone().flags(TcpFlags::ACK | TcpFlags::ECE).packet(),
        base.clone().flags(TcpFlags::SYN).packet(),
        base.clone().flags(TcpFlags::RST).packet(),
        Seg::new(v4()).packet(),
    ];
    packets.extend(not_tcp());
    assert_eq!(run_all(&mut m, &packets), packets);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn in_a_chain_its_timer_releases_through_later_stages() {
    let mut chain = Chain::new();
    chain.push(SegmentCoalescer::new(1400, HOLD));
    chain.push(SegmentSplitter::new(150));
    let segs = three(v4());
    let mut out = Vec::new();
    for s in &segs {
        chain.process(at(0), s.packet(), &mut out);
    }
    assert!(out.is_empty());
    chain.handle_timeout(chain.poll_timeout().unwrap(), &mut out);
    // 300 bytes merged, then split in two: the second piece carries the first
    // segment's DSS option too.
    let pieces: Vec<Seg> = out.iter().map(|p| parse(p)).collect();
    assert_eq!(pieces.len(), 2);
    assert_eq!((pieces[0].seq, pieces[1].seq), (1000, 1150));
    assert_eq!(pieces[1].options, segs[0].options);
}
