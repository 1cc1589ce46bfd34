//! Crafted segments against a live MPTCP connection between two braid endpoints:
//! what a hostile or broken peer can send, and what RFC 8684 (with RFC 9293 and RFC
//! 5961) says must become of it. Each test injects segments into the server while
//! the client uploads, then checks that every byte arrived once, in order, and that
//! both ends saw the end of the stream.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use braid_proto::endpoint::{Connection, ConnectionId, EndpointConfig};
use braid_proto::mptcp::{MptcpConnection, Phase};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{
    AddAddr, AddrIdList, Dss, DssMapping, MpFastclose, MptcpOption, RemoveAddr, SeqField,
};
use braid_proto::wire::tcp_option::TcpOption;
use braid_proto::wire::{IpRepr, TcpFlags, TcpRepr};
use support::{addr, forge_segment, Forged, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:5001";
const UPLOAD: usize = 1_000_000;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The client's latest segment to the server: what crafted segments copy their
/// addresses from, and where the server's window stands.
#[derive(Clone, Default)]
struct Latest {
    packet: Vec<u8>,
    /// The sequence number just past its payload, and its acknowledgment number.
    next_seq: u32,
    ack: u32,
    /// The client's initial sequence number (its SYN's).
    isn: u32,
}

/// What an upload with injections left behind.
struct Outcome {
    received: Vec<u8>,
    client_closed: bool,
    server_saw_end: bool,
    client_saw_end: bool,
    /// The server connection's phase and counters right after the injections.
    phase_after_injection: Option<Phase>,
    stats_after_injection: Option<braid_proto::mptcp::MptcpStats>,
}

fn server_mptcp(pair: &Pair, id: ConnectionId) -> Option<&MptcpConnection> {
    pair.endpoints[1]
        .connection(id)
        .and_then(Connection::as_mptcp)
}

/// Uploads [`UPLOAD`] bytes from the client at 5 MB/s over 5 ms each way; once the
/// server has read `at` bytes, `inject` runs once with the client's latest segment
/// and returns packets for the server, which get there at once.
fn upload_with_injection(
    at: usize,
    mut inject: impl FnMut(&Pair, ConnectionId, &Latest) -> Vec<Vec<u8>>,
) -> Outcome {
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(5));
    pair.rate = 5_000_000;
    let latest = Rc::new(RefCell::new(Latest::default()));
    let seen = latest.clone();
    pair.mangle = Box::new(move |dir, _, packet| {
        if dir != 0 {
            return;
        }
        let (_, payload) = IpRepr::parse(packet).expect("IP");
        let tcp =
            TcpRepr::parse(payload.payload, braid_proto::wire::ChecksumCheck::Skip).expect("TCP");
        if tcp.flags.syn() {
            seen.borrow_mut().isn = tcp.seq_number;
            return;
        }
        if tcp.flags.rst() {
            return;
        }
        let isn = seen.borrow().isn;
        *seen.borrow_mut() = Latest {
            packet: packet.to_vec(),
            next_seq: tcp.seq_number.wrapping_add(tcp.payload.len() as u32),
            ack: tcp.ack_number,
            isn,
        };
    });
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(Instant::ZERO, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(UPLOAD);
    let mut written = 0;
    let mut buf = vec![0u8; 65536];
    let mut out = Outcome {
        received: Vec::new(),
        client_closed: false,
        server_saw_end: false,
        client_saw_end: false,
        phase_after_injection: None,
        stats_after_injection: None,
    };
    let mut injected = false;
    let mut server_closed = false;
    let deadline = Instant::from_millis(60_000);
    pair.run_until(deadline, |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&up[written..]);
            if written == up.len() && !out.client_closed {
                c.close();
                out.client_closed = true;
            }
            while c.read(&mut buf) > 0 {}
            out.client_saw_end |= c.is_read_closed();
        }
        let Some(server) = p.accepted() else {
            return false;
        };
        if let Some(c) = p.endpoints[1].connection_mut(server) {
            loop {
                let n = c.read(&mut buf);
                if n == 0 {
                    break;
                }
                out.received.extend_from_slice(&buf[..n]);
            }
            if c.is_read_closed() {
                out.server_saw_end = true;
                if !server_closed {
                    c.close();
                    server_closed = true;
                }
            }
        }
        if !injected && out.received.len() >= at {
            injected = true;
            let template = latest.borrow().clone();
            let now = p.now;
            for packet in inject(p, server, &template) {
                p.endpoints[1].handle(now, &packet);
            }
            out.phase_after_injection = server_mptcp(p, server).map(|m| m.phase());
            out.stats_after_injection = server_mptcp(p, server).map(|m| *m.stats());
        }
        out.server_saw_end
            && out.client_saw_end
            && p.endpoints
                .iter()
                .all(|e| e.connection_ids().next().is_none())
    });
    out
}

fn assert_intact(out: &Outcome) {
    let up = pattern(UPLOAD);
    assert!(
        out.received == up,
        "the server received {} bytes for {} written{}",
        out.received.len(),
        up.len(),
        if up.starts_with(&out.received) {
            " (a prefix)"
        } else {
            ", not a prefix of them"
        }
    );
    assert!(
        out.server_saw_end,
        "the server never saw the end of the stream"
    );
    assert!(
        out.client_saw_end,
        "the client never saw the end of the stream"
    );
}

fn ack_flags() -> TcpFlags {
    TcpFlags::ACK
}

/// A segment from the client's addresses with these fields.
fn segment<'a>(
    t: &Latest,
    seq: u32,
    flags: TcpFlags,
    options: Vec<TcpOption<'a>>,
    raw_options: &'a [u8],
    payload: &'a [u8],
) -> Vec<u8> {
    forge_segment(
        &t.packet,
        Forged {
            seq,
            ack: t.ack,
            flags,
            options,
            raw_options,
            payload,
        },
    )
}

#[test]
fn rfc8684_s3_7_a_pure_ack_without_mptcp_options_never_makes_the_connection_fall_back() {
    // One far outside the window, one in it: neither is data, so neither says
    // anything about a middlebox (Linux falls back only on data without a mapping).
    let out = upload_with_injection(200_000, |_, _, t| {
        vec![
            segment(
                t,
                t.next_seq.wrapping_add(1 << 31),
                ack_flags(),
                vec![],
                &[],
                &[],
            ),
            segment(t, t.next_seq, ack_flags(), vec![], &[], &[]),
        ]
    });
    assert_eq!(out.phase_after_injection, Some(Phase::Established));
    assert_intact(&out);
}

#[test]
fn rfc9293_s3_1_a_malformed_mptcp_option_on_a_pure_ack_is_ignored() {
    // Kind 30 with length 2: no subtype.
    let out = upload_with_injection(200_000, |_, _, t| {
        vec![segment(
            t,
            t.next_seq,
            ack_flags(),
            vec![],
            &[30, 2, 1, 1],
            &[],
        )]
    });
    assert_eq!(out.phase_after_injection, Some(Phase::Established));
    assert_intact(&out);
}

#[test]
fn rfc8684_s3_4_1_an_add_addr_without_hmac_and_without_the_echo_bit_is_ignored() {
    // ADD_ADDR, IPv4, E = 0, no HMAC: length 8, which only an echo may have.
    let raw = [30, 8, 0x30, 9, 10, 0, 9, 9];
    let out = upload_with_injection(200_000, |_, _, t| {
        vec![segment(t, t.next_seq, ack_flags(), vec![], &raw, &[])]
    });
    assert_eq!(out.phase_after_injection, Some(Phase::Established));
    assert_intact(&out);
}

/// The DSN the client's upload starts at: what the server expects next is this plus
/// what it received.
fn upload_dsn(pair: &Pair, server: ConnectionId, received: u64) -> u64 {
    let m = server_mptcp(pair, server).expect("MPTCP");
    let remote = m.remote_key().expect("keys known");
    braid_proto::crypto::idsn(remote)
        .wrapping_add(1)
        .wrapping_add(received)
}

#[test]
fn rfc9293_s3_10_7_4_a_data_fin_on_an_unacceptable_segment_is_ignored() {
    // A DATA_FIN just past the data received so far, on a segment 2^31 away from
    // RCV.NXT: acting on it would end the stream after a fraction of the upload.
    let out = upload_with_injection(200_000, |p, server, t| {
        let dsn = upload_dsn(p, server, 400_000);
        let fin = TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: SeqField::U64(dsn),
                ssn: 0,
                data_level_length: 1,
                checksum: None,
            }),
            data_fin: true,
        }));
        vec![segment(
            t,
            t.next_seq.wrapping_add(1 << 31),
            ack_flags(),
            vec![fin],
            &[],
            &[],
        )]
    });
    assert_intact(&out);
}

#[test]
fn rfc9293_s3_10_7_4_signals_on_an_unacceptable_segment_are_ignored() {
    // REMOVE_ADDR of the initial address, and a mapping of bytes the server already
    // has to other bytes, each on a segment far outside the window.
    let out = upload_with_injection(200_000, |p, server, t| {
        let remove = TcpOption::Mptcp(MptcpOption::RemoveAddr(RemoveAddr {
            addr_ids: AddrIdList::new(&[0]).unwrap(),
        }));
        let dsn = upload_dsn(p, server, 0);
        let remap = TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: SeqField::U64(dsn.wrapping_add(12345)),
                ssn: 1,
                data_level_length: 1000,
                checksum: None,
            }),
            data_fin: false,
        }));
        let far = t.next_seq.wrapping_add(1 << 31);
        vec![
            segment(t, far, ack_flags(), vec![remove], &[], &[]),
            segment(t, far, ack_flags(), vec![remap], &[], &[0; 100]),
        ]
    });
    assert_eq!(out.phase_after_injection, Some(Phase::Established));
    assert_intact(&out);
}

fn fastclose(p: &Pair, server: ConnectionId, right_key: bool) -> TcpOption<'static> {
    let key = server_mptcp(p, server).expect("MPTCP").local_key().key;
    TcpOption::Mptcp(MptcpOption::MpFastclose(MpFastclose {
        receiver_key: if right_key { key } else { key ^ 1 },
    }))
}

#[test]
fn rfc5961_s3_2_a_rst_with_mp_fastclose_not_exactly_at_rcv_nxt_gets_a_challenge_ack() {
    // In the window but one past RCV.NXT: RFC 5961 asks for a challenge ACK, and the
    // MP_FASTCLOSE it carries must not end the connection.
    let out = upload_with_injection(200_000, |p, server, t| {
        let rst = TcpFlags::RST | TcpFlags::ACK;
        vec![segment(
            t,
            t.next_seq.wrapping_add(1),
            rst,
            vec![fastclose(p, server, true)],
            &[],
            &[],
        )]
    });
    assert_eq!(out.phase_after_injection, Some(Phase::Established));
    assert_intact(&out);
}

#[test]
fn rfc8684_s3_5_mp_fastclose_with_the_wrong_key_is_ignored() {
    let out = upload_with_injection(200_000, |p, server, t| {
        vec![segment(
            t,
            t.next_seq,
            ack_flags(),
            vec![fastclose(p, server, false)],
            &[],
            &[],
        )]
    });
    assert_eq!(out.phase_after_injection, Some(Phase::Established));
    assert_intact(&out);
}

#[test]
fn rfc8684_s3_4_1_an_add_addr_with_a_bad_hmac_is_neither_echoed_nor_joined() {
    let announce = TcpOption::Mptcp(MptcpOption::AddAddr(AddAddr {
        addr_id: 7,
        addr: "10.0.9.9".parse().unwrap(),
        port: None,
        truncated_hmac: Some(0x0123_4567_89ab_cdef),
    }));
    let out = upload_with_injection(200_000, |_, _, t| {
        vec![segment(
            t,
            t.next_seq,
            ack_flags(),
            vec![announce],
            &[],
            &[],
        )]
    });
    assert_intact(&out);
    let stats = out.stats_after_injection.expect("an MPTCP server");
    assert_eq!((stats.add_addr_bad_hmac, stats.add_addr_received), (1, 0));
}

#[test]
fn rfc8684_s3_7_an_infinite_mapping_that_skips_data_ends_the_connection() {
    // An in-window data segment whose DSS is the infinite mapping, starting 100 kB
    // past what the server has: following it would leave a hole nothing fills (or,
    // placed by its DSN, data no one sent). The connection ends in error instead;
    // what the application got is a prefix of the upload.
    let out = upload_with_injection(200_000, |p, server, t| {
        let dsn = upload_dsn(p, server, 300_000);
        let infinite = TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: SeqField::U64(dsn),
                ssn: t.next_seq.wrapping_sub(t.isn),
                data_level_length: 0,
                checksum: None,
            }),
            data_fin: false,
        }));
        vec![segment(
            t,
            t.next_seq,
            ack_flags(),
            vec![infinite],
            &[],
            &[0x5a; 500],
        )]
    });
    let up = pattern(UPLOAD);
    assert!(up.starts_with(&out.received), "not a prefix of the upload");
    assert!(out.received.len() < UPLOAD);
    let stats = out.stats_after_injection.expect("MPTCP");
    assert_eq!(stats.infinite_mappings_received, 1);
    assert_eq!(stats.fallbacks, 0);
}
