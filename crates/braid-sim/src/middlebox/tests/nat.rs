//! [`Nat`]: addresses and ports out, and back.

use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn translates_the_inside_address_and_back() {
    for (inside, server, outside) in [
        (ip("10.0.1.1"), ip("10.0.1.2"), ip("192.0.2.1")),
        (ip("fd00::1"), ip("2001:db8::2"), ip("2001:db8:ffff::1")),
    ] {
        let mut nat = Nat::new(inside, outside);
        let out_seg = Seg::new((inside, server))
            .options(&dss_options())
            .payload(b"hello");
        let got = parse(&run(&mut nat, out_seg.packet())[0]);
        let mut expected = out_seg.clone();
        expected.src = outside;
        assert_eq!(got, expected);
        // The reply comes back to the outside address.
        let reply = expected.clone().reversed().payload(b"world");
        let got = parse(&run(&mut nat, reply.packet())[0]);
        let mut expected = reply.clone();
        expected.dst = inside;
        assert_eq!(got, expected);
        assert_eq!((nat.translated_out, nat.translated_in), (1, 1));
        // Other hosts' packets pass as they are.
        let other = Seg::new((
            server,
            ip(if inside.is_ipv4() {
                "10.0.9.9"
            } else {
                "fd00::9"
            }),
        ));
        let packet = other.packet();
        assert_eq!(run(&mut nat, packet.clone()), vec![packet.clone()]);
        let back = other.reversed().packet();
        assert_eq!(run(&mut nat, back.clone()), vec![back]);
    }
}

#[test]
fn translates_ports_with_a_bounded_table() {
    let (inside, server, outside) = (ip("10.0.1.1"), ip("10.0.1.2"), ip("192.0.2.1"));
    let mut nat = Nat::new(inside, outside).with_ports(61000..=61001, 8);
    let from = |port| Seg::new((inside, server)).ports(port, 80);
    let out = |nat: &mut Nat, port| parse(&run(nat, from(port).packet())[0]);
    let a = out(&mut nat, 40000);
    let b = out(&mut nat, 40001);
    assert_eq!((a.src, a.sport, b.sport), (outside, 61000, 61001));
    // The mapping is the same for every destination.
    let again = parse(&run(&mut nat, from(40000).ports(40000, 443).packet())[0]);
    assert_eq!(again.sport, 61000);
    assert_eq!(nat.mapping(40000), Some(61000));
    // Replies find their inside port.
    let reply = parse(&run(&mut nat, b.clone().reversed().packet())[0]);
    assert_eq!((reply.dst, reply.dport), (inside, 40001));
    // The range is full: a third inside port takes the least recently used
    // mapping's outside port (40000's; 40001 was used by the reply).
    let c = out(&mut nat, 40002);
    assert_eq!(c.sport, 61000);
    assert_eq!(nat.mapping(40000), None);
    assert_eq!(nat.mappings_evicted(), 1);
    // A packet to a port with no mapping is dropped.
    let stray = Seg::new((server, outside)).ports(80, 61005);
    assert!(run(&mut nat, stray.packet()).is_empty());
    assert_eq!(nat.dropped_unmapped, 1);
}

#[test]
fn leaves_other_packets_alone_and_wrong_checksums_wrong() {
    let (inside, server) = v4();
    let mut nat = Nat::new(inside, ip("192.0.2.1"));
    let packets = not_tcp(); // UDP from `inside` too: only TCP is translated
    assert_eq!(run_all(&mut nat, &packets), packets);
    let mut packet = Seg::new((inside, server)).packet();
    corrupt_checksum(&mut packet);
    let out = run(&mut nat, packet);
    assert!(!tcp_checksum_ok(&out[0], ip("192.0.2.1"), server));
    // The IPv4 header checksum is right in any case.
    assert!(IpRepr::parse(&out[0]).is_ok());
}

#[test]
#[should_panic(expected = "different families")]
fn families_must_match() {
    let _ = Nat::new(ip("10.0.0.1"), ip("fd00::1"));
}
