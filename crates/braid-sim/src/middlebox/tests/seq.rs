//! [`SeqRewriter`]: consistent sequence spaces shifted per direction.

use std::net::SocketAddr;

use super::*;

/// A SACK option (two blocks) after two NOPs, then timestamps.
fn sack_options(blocks: [(u32, u32); 2]) -> Vec<u8> {
    let mut o = vec![1, 1, 5, 18];
    for (l, r) in blocks {
        o.extend_from_slice(&l.to_be_bytes());
        o.extend_from_slice(&r.to_be_bytes());
    }
    o.extend_from_slice(&hex("0101080a1c2d3e4f5a6b7c8d"));
    o
}

fn ends(seg: &Seg) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::new(seg.src, seg.sport),
        SocketAddr::new(seg.dst, seg.dport),
    )
}

#[test]
fn shifts_seq_one_way_and_ack_and_sack_the_other() {
    for e in [v4(), v6()] {
        let mut box_ = SeqRewriter::with_offset(0x8000_0010);
        let seg = Seg::new(e)
            .seq(0xffff_fff0)
            .ack(0x10)
            .options(&sack_options([(0x20, 0x30), (0x40, 0x50)]))
            .payload(b"odd");
        let out = parse(&run(&mut box_, seg.packet())[0]);
        let expected = seg
            .clone()
            .seq(0xffff_fff0u32.wrapping_add(0x8000_0010))
            .ack(0x10u32.wrapping_sub(0x8000_0010))
            .options(&sack_options([
                (0x8000_0010, 0x8000_0020),
                (0x8000_0030, 0x8000_0040),
            ]));
        assert_eq!(out, expected);
        assert_eq!(box_.packets_rewritten, 1);
    }
}

#[test]
fn a_handshake_through_the_box_stays_consistent() {
    for e in [v4(), v6()] {
        let rw = SeqRewriter::new(7);
        let client = Seg::new(e).options(&syn_options());
        let (c, s) = ends(&client);
        let (c_off, s_off) = (rw.offset(c, s), rw.offset(s, c));
        assert!(c_off != 0 && s_off != 0 && c_off != s_off);
        // Seeded: the same seed gives the same offsets, another seed others.
        assert_eq!(SeqRewriter::new(7).offset(c, s), c_off);
        assert_ne!(SeqRewriter::new(8).offset(c, s), c_off);
        // One instance per direction, as on the two links of a path.
        let (mut fwd, mut rev) = (SeqRewriter::new(7), SeqRewriter::new(7));
        // SYN: ISN 100; the ack field of a segment without ACK is left alone.
        let syn = client.clone().flags(TcpFlags::SYN).seq(100).ack(77);
        let syn_out = parse(&run(&mut fwd, syn.packet())[0]);
        assert_eq!((syn_out.seq, syn_out.ack), (100u32.wrapping_add(c_off), 77));
        // The server answers what it saw; the client gets its own numbers back.
        let syn_ack = client
            .clone()
            .reversed()
            .flags(TcpFlags::SYN | TcpFlags::ACK)
            .seq(900)
            .ack(syn_out.seq.wrapping_add(1));
        let syn_ack_out = parse(&run(&mut rev, syn_ack.packet())[0]);
        assert_eq!(syn_ack_out.ack, 101);
        assert_eq!(syn_ack_out.seq, 900u32.wrapping_add(s_off));
        let third = client.clone().seq(101).ack(syn_ack_out.seq.wrapping_add(1));
        let third_out = parse(&run(&mut fwd, third.packet())[0]);
        assert_eq!(third_out.ack, 901);
        // Options (MPTCP's included) are not touched.
        assert_eq!(third_out.options, client.options);
    }
}

#[test]
fn leaves_other_packets_alone_and_wrong_checksums_wrong() {
    let mut box_ = SeqRewriter::new(1);
    let packets = not_tcp();
    assert_eq!(run_all(&mut box_, &packets), packets);
    assert_eq!(box_.packets_rewritten, 0);
    let (src, dst) = v4();
    let mut packet = Seg::new(v4()).packet();
    corrupt_checksum(&mut packet);
    let out = run(&mut box_, packet.clone());
    assert_ne!(out[0], packet);
    assert!(!tcp_checksum_ok(&out[0], src, dst));
}
