//! [`StripMptcp`]: which segments lose option 30.

use super::*;

const SYN: TcpFlags = TcpFlags::SYN;
const SYN_ACK: TcpFlags = TcpFlags::SYN.union(TcpFlags::ACK);
const ACK: TcpFlags = TcpFlags::ACK;

/// The options with every MPTCP option NOPped out, as the box should leave them.
fn without_mptcp(options: &[u8]) -> Vec<u8> {
    let mut block = options.to_vec();
    packet::nop_out(&mut block, 30);
    block
}

/// A handshake and some data on one 4-tuple, the client's segments from `ends.0`.
fn handshake(ends: (IpAddr, IpAddr)) -> Vec<Seg> {
    let client = Seg::new(ends).options(&syn_options());
    let data = Seg::new(ends).options(&dss_options());
    vec![
        client.clone().flags(SYN).seq(999).ack(0),
        client.clone().flags(SYN_ACK).seq(4999).ack(1000).reversed(),
        data.clone(), // the third ACK
        data.clone().payload(b"first").flags(ACK | TcpFlags::PSH),
        data.clone().seq(1005).payload(b"second"),
        data.clone().reversed().ack(1011),
    ]
}

/// Runs the segments through a stripper; returns which came out stripped, checking
/// that every packet came out, valid, with the same length, and either unchanged or
/// with exactly its MPTCP options turned into NOPs.
fn stripped(strip: &mut StripMptcp, segs: &[Seg]) -> Vec<bool> {
    segs.iter()
        .map(|seg| {
            let out = run(strip, seg.packet());
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].len(), seg.packet().len());
            let got = parse(&out[0]);
            if got == *seg {
                false
            } else {
                assert_eq!(got, seg.clone().options(&without_mptcp(&seg.options)));
                true
            }
        })
        .collect()
}

#[test]
fn rfc8684_s3_7_strips_only_syns() {
    for ends in [v4(), v6()] {
        let mut strip = StripMptcp::new(Which::Syn);
        let segs = handshake(ends);
        assert_eq!(
            stripped(&mut strip, &segs),
            [true, false, false, false, false, false]
        );
        assert_eq!((strip.packets_stripped, strip.options_stripped), (1, 1));
    }
}

#[test]
fn rfc8684_s3_7_strips_only_syn_acks() {
    for ends in [v4(), v6()] {
        let mut strip = StripMptcp::new(Which::SynAck);
        assert_eq!(
            stripped(&mut strip, &handshake(ends)),
            [false, true, false, false, false, false]
        );
    }
}

#[test]
fn rfc8684_s3_7_strips_only_the_third_ack() {
    for ends in [v4(), v6()] {
        let mut strip = StripMptcp::new(Which::ThirdAck);
        let mut segs = handshake(ends);
        // A retransmitted SYN changes nothing.
        segs.insert(1, segs[0].clone());
        assert_eq!(
            stripped(&mut strip, &segs),
            [false, false, false, true, false, false, false]
        );
    }
}

#[test]
fn third_ack_is_tracked_per_four_tuple_and_needs_the_syn() {
    let mut strip = StripMptcp::new(Which::ThirdAck);
    let a = Seg::new(v4()).options(&dss_options());
    let b = a.clone().ports(40001, 80);
    let syn = |s: &Seg| s.clone().flags(SYN).options(&syn_options());
    // No SYN seen on this tuple: its first ACK is left alone.
    assert_eq!(stripped(&mut strip, std::slice::from_ref(&a)), [false]);
    // Two handshakes interleaved.
    let segs = [syn(&a), syn(&b), b.clone(), a.clone(), a.clone(), b.clone()];
    assert_eq!(
        stripped(&mut strip, &segs),
        [false, false, true, true, false, false]
    );
    // An RST ends the tracking without being a third ACK.
    let rst = a.clone().flags(TcpFlags::RST | ACK);
    let segs = [syn(&a), rst, a.clone()];
    assert_eq!(stripped(&mut strip, &segs), [false, false, false]);
}

#[test]
fn rfc8684_s3_7_strips_mid_stream_from_the_nth_data_segment() {
    for ends in [v4(), v6()] {
        let mut strip = StripMptcp::new(Which::FromDataSegment(3));
        let data = Seg::new(ends).options(&dss_options());
        let segs = [
            data.clone().payload(b"1"),
            data.clone(), // a pure ACK, not counted
            data.clone().seq(1001).payload(b"2"),
            data.clone().reversed().payload(b"other way"),
            data.clone().seq(1002).payload(b"3"),
            data.clone().seq(1003), // from now on everything of the flow
            data.clone().seq(1003).payload(b"4"),
            data.clone().reversed().payload(b"other way"),
            data.clone().reversed().payload(b"other way"),
        ];
        assert_eq!(
            stripped(&mut strip, &segs),
            [false, false, false, false, true, true, true, false, true]
        );
    }
}

#[test]
fn strips_everything_with_all() {
    let mut strip = StripMptcp::new(Which::All);
    let segs = handshake(v4());
    assert!(stripped(&mut strip, &segs).iter().all(|&s| s));
    assert_eq!(strip.packets_stripped, segs.len() as u64);
}

#[test]
fn flow_state_is_bounded() {
    let mut strip = StripMptcp::new(Which::FromDataSegment(2)).with_max_flows(1);
    let a = Seg::new(v4()).options(&dss_options()).payload(b"x");
    let b = a.clone().ports(40001, 80);
    // b's count pushes a's out, so a starts over.
    let segs = [a.clone(), b.clone(), a.clone(), a.clone(), b.clone()];
    assert_eq!(
        stripped(&mut strip, &segs),
        [false, false, false, true, false]
    );
    assert_eq!(strip.flows_evicted(), 3);
}

#[test]
fn leaves_unrelated_packets_alone() {
    let mut strip = StripMptcp::new(Which::All);
    let packets = not_tcp();
    assert_eq!(run_all(&mut strip, &packets), packets);
    // TCP without option 30.
    let plain = Seg::new(v6()).options(&hex("020405b4")).packet();
    assert_eq!(run(&mut strip, plain.clone()), vec![plain]);
    assert_eq!(strip.packets_stripped, 0);
}

#[test]
fn a_wrong_checksum_stays_wrong() {
    let (src, dst) = v4();
    let mut packet = Seg::new(v4()).options(&dss_options()).packet();
    corrupt_checksum(&mut packet);
    let out = run(&mut StripMptcp::new(Which::All), packet.clone());
    assert_ne!(out[0], packet);
    assert!(!tcp_checksum_ok(&out[0], src, dst));
}

#[test]
#[should_panic(expected = "count from 1")]
fn data_segments_count_from_one() {
    let _ = StripMptcp::new(Which::FromDataSegment(0));
}
