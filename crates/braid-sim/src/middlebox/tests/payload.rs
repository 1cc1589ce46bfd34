//! [`PayloadRewriter`]: corruption TCP cannot see.

use super::*;

fn data(seq: u32, payload: &[u8]) -> Seg {
    Seg::new(v4())
        .seq(seq)
        .options(&dss_options())
        .payload(payload)
}

#[test]
fn rfc8684_s3_3_1_changes_the_nth_data_segment_with_a_valid_tcp_checksum() {
    for e in [v4(), v6()] {
        let mut rw = PayloadRewriter::new(
            Select::NthDataSegment(2),
            Rewrite::Xor {
                offset: 1,
                mask: 0x20,
            },
        );
        let base = Seg::new(e).options(&dss_options());
        let segs = [
            base.clone().payload(b"first"),
            base.clone(), // no payload: not counted
            base.clone().seq(1005).payload(b"second"),
            base.clone().seq(1011).payload(b"third"),
            base.clone().reversed().payload(b"reply"), // its own flow
            base.clone().reversed().payload(b"reply"),
        ];
        let out: Vec<Seg> = segs
            .iter()
            .map(|s| parse(&run(&mut rw, s.packet())[0]))
            .collect();
        for (i, (got, sent)) in out.iter().zip(&segs).enumerate() {
            match i {
                2 => assert_eq!(*got, sent.clone().payload(b"sEcond")),
                5 => assert_eq!(*got, sent.clone().payload(b"rEply")),
                _ => assert_eq!(got, sent, "segment {i}"),
            }
        }
        assert_eq!(rw.rewritten, 2);
    }
}

#[test]
fn replaces_a_pattern_a_limited_number_of_times() {
    let mut rw = PayloadRewriter::new(
        Select::Contains(b"abc".to_vec()),
        Rewrite::Replace {
            from: b"abc".to_vec(),
            to: b"xyz".to_vec(),
        },
    )
    .times(2);
    let segs = [
        data(1000, b"no match"),
        data(1008, b"abcabc-ab"), // odd length
        data(1017, b"..abc"),
        data(1022, b"abc"), // the limit was reached
    ];
    let out: Vec<Seg> = segs
        .iter()
        .map(|s| parse(&run(&mut rw, s.packet())[0]))
        .collect();
    assert_eq!(out[0], segs[0]);
    assert_eq!(out[1], segs[1].clone().payload(b"xyzxyz-ab"));
    assert_eq!(out[2], segs[2].clone().payload(b"..xyz"));
    assert_eq!(out[3], segs[3]);
    assert_eq!(rw.rewritten, 2);
}

#[test]
fn xor_past_the_end_hits_the_last_byte_and_every_selects_all() {
    let mut rw = PayloadRewriter::new(
        Select::Every,
        Rewrite::Xor {
            offset: 1000,
            mask: 1,
        },
    );
    let seg = data(1, b"abc");
    assert_eq!(
        parse(&run(&mut rw, seg.packet())[0]),
        seg.clone().payload(b"abb")
    );
    assert_eq!(
        parse(&run(&mut rw, seg.packet())[0]),
        seg.clone().payload(b"abb")
    );
}

#[test]
fn leaves_other_packets_alone_and_wrong_checksums_wrong() {
    let xor = Rewrite::Xor { offset: 0, mask: 1 };
    let mut rw = PayloadRewriter::new(Select::Every, xor);
    let mut packets = not_tcp();
    packets.push(Seg::new(v6()).options(&dss_options()).packet()); // no payload
    assert_eq!(run_all(&mut rw, &packets), packets);
    let (src, dst) = v4();
    let mut packet = data(1, b"abc").packet();
    corrupt_checksum(&mut packet);
    let out = run(&mut rw, packet.clone());
    assert_ne!(out[0], packet);
    assert!(!tcp_checksum_ok(&out[0], src, dst));
}

#[test]
#[should_panic(expected = "same length")]
fn replacement_keeps_the_length() {
    let _ = PayloadRewriter::new(
        Select::Every,
        Rewrite::Replace {
            from: b"ab".to_vec(),
            to: b"abc".to_vec(),
        },
    );
}
