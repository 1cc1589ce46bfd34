//! [`SegmentSplitter`]: one segment in, several out.

use super::*;

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
}

#[test]
fn splits_with_the_same_options_advancing_sequence_numbers() {
    for ends in [v4(), v6()] {
        let data = payload(2500);
        let seg = Seg::new(ends)
            .seq(u32::MAX - 1200) // wraps inside the segment
            .options(&dss_options())
            .payload(&data)
            .flags(TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN);
        let mut split = SegmentSplitter::new(1000);
        let out = run(&mut split, seg.packet());
        let pieces: Vec<Seg> = out.iter().map(|p| parse(p)).collect();
        assert_eq!(pieces.len(), 3);
        let mut at = 0;
        for (i, piece) in pieces.iter().enumerate() {
            let len = piece.payload.len();
            assert_eq!(len, if i < 2 { 1000 } else { 500 });
            let flags = if i < 2 {
                TcpFlags::ACK
            } else {
                TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN
            };
            let expected = seg
                .clone()
                .seq(seg.seq.wrapping_add(at as u32))
                .flags(flags)
                .payload(&data[at..at + len]);
            assert_eq!(*piece, expected);
            at += len;
        }
        assert_eq!((split.segments_split, split.pieces), (1, 3));
    }
}

#[test]
fn an_exact_multiple_makes_equal_pieces() {
    let seg = Seg::new(v4()).payload(&payload(3000));
    let out = run(&mut SegmentSplitter::new(1000), seg.packet());
    let lens: Vec<usize> = out.iter().map(|p| parse(p).payload.len()).collect();
    assert_eq!(lens, [1000, 1000, 1000]);
}

#[test]
fn ipv6_extension_headers_are_repeated_in_every_piece() {
    let seg = Seg::new(v6())
        .options(&dss_options())
        .payload(&payload(300));
    let plain = seg.packet();
    // The same segment behind a Destination Options header (8 bytes of padding).
    let mut packet = plain[..40].to_vec();
    packet[4..6].copy_from_slice(&((plain.len() - 40 + 8) as u16).to_be_bytes());
    packet[6] = ip_protocol::DSTOPTS;
    packet.extend_from_slice(&[ip_protocol::TCP, 0, 1, 4, 0, 0, 0, 0]);
    packet.extend_from_slice(&plain[40..]);
    let out = run(&mut SegmentSplitter::new(100), packet.clone());
    assert_eq!(out.len(), 3);
    for (i, piece) in out.iter().enumerate() {
        assert_eq!(&piece[40..48], &packet[40..48]);
        let (_, upper) = IpRepr::parse(piece).unwrap();
        assert_eq!(upper.ext_headers.len(), 8);
        let mut without_ext = piece[..40].to_vec();
        without_ext[6] = ip_protocol::TCP;
        without_ext[4..6].copy_from_slice(&((piece.len() - 48) as u16).to_be_bytes());
        without_ext.extend_from_slice(&piece[48..]);
        let got = parse(&without_ext);
        assert_eq!(got.seq, seg.seq + 100 * i as u32);
        assert_eq!(got.options, seg.options);
        assert_eq!(got.payload, seg.payload[100 * i..100 * (i + 1)]);
    }
}

#[test]
fn leaves_small_syn_rst_urgent_and_corrupt_segments_whole() {
    let mut split = SegmentSplitter::new(100);
    let data = payload(500);
    let base = Seg::new(v4()).payload(&data);
    let mut corrupt = base.packet();
    corrupt_checksum(&mut corrupt);
    let mut packets = vec![
        Seg::new(v4()).payload(&payload(100)).packet(),
        base.clone().flags(TcpFlags::SYN).packet(),
        base.clone().flags(TcpFlags::RST | TcpFlags::ACK).packet(),
        base.clone().flags(TcpFlags::URG | TcpFlags::ACK).packet(),
        corrupt,
        Seg::new(v4()).packet(),
    ];
    packets.extend(not_tcp());
    assert_eq!(run_all(&mut split, &packets), packets);
    assert_eq!(split.segments_split, 0);
}

#[test]
#[should_panic(expected = "at least 1")]
fn zero_bytes_is_refused() {
    let _ = SegmentSplitter::new(0);
}
