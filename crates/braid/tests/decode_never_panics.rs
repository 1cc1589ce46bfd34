//! No input makes the capture pipeline panic, and every TCP and MPTCP option that parses
//! emits octets that parse back to it (docs/design.md, "How each layer is shaped": input
//! from the network never causes a panic; a `Repr` that parsed from bytes emits them).
//!
//! The checks are those of the fuzz targets, `fuzz/src/lib.rs`, included here so that
//! the normal test suite runs them on stable: proptest feeds them arbitrary bytes,
//! arbitrary option blocks behind real headers, and packets and captures from
//! testdata/captures with bytes flipped, overwritten, inserted, removed or cut off.

#[path = "../../../fuzz/src/lib.rs"]
mod pipeline;

use std::sync::OnceLock;

use braid::capture::{CaptureReader, ConnectionTracker};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

const CAPTURES: [&str; 9] = [
    "add-addr-then-remove.pcap",
    "add-addr-with-port.pcap",
    "backup-then-mp-prio.pcap",
    "checksum-echo.pcap",
    "fallback-peer-plain-tcp.pcap",
    "fastclose.pcap",
    "ipv6-add-addr-join.pcap",
    "join-two-subflows.pcap",
    "single-subflow.pcap",
];

fn capture_path(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/captures/").to_owned() + name
}

/// The IP packets of every capture, in `CAPTURES` order.
fn packets() -> &'static [Vec<Vec<u8>>] {
    static PACKETS: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    PACKETS.get_or_init(|| {
        CAPTURES
            .iter()
            .map(|name| {
                CaptureReader::open(capture_path(name))
                    .expect("open capture")
                    .map(|packet| packet.expect("read capture").ip)
                    .collect()
            })
            .collect()
    })
}

/// The start of every capture file: its header and a dozen or so records.
fn capture_heads() -> &'static [Vec<u8>] {
    static HEADS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    HEADS.get_or_init(|| {
        CAPTURES
            .iter()
            .map(|name| {
                let mut file = std::fs::read(capture_path(name)).expect("read capture");
                file.truncate(2_000);
                file
            })
            .collect()
    })
}

/// Where a packet's TCP header starts, if it is a TCP packet without IPv6 extensions.
fn tcp_offset(ip: &[u8]) -> Option<usize> {
    match ip.first()? >> 4 {
        4 if ip.len() > 20 && ip[9] == 6 => Some(usize::from(ip[0] & 0x0f) * 4),
        6 if ip.len() > 40 && ip[6] == 6 => Some(40),
        _ => None,
    }
}

/// Makes the IP length fields agree with `ip.len()` and recomputes the IPv4 header
/// checksum, so that the packet reaches the TCP parser.
fn fix_ip_header(ip: &mut [u8]) {
    let len = ip.len();
    match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let header_len = usize::from(ip[0] & 0x0f) * 4;
            if header_len < 20 || header_len > len {
                return;
            }
            ip[2..4].copy_from_slice(&(len.min(0xffff) as u16).to_be_bytes());
            ip[10..12].fill(0);
            let sum = ip[..header_len]
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                .sum::<u32>();
            let sum = (sum & 0xffff) + (sum >> 16);
            let sum = (sum & 0xffff) + (sum >> 16);
            ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
        Some(6) if len >= 40 => {
            ip[4..6].copy_from_slice(&((len - 40).min(0xffff) as u16).to_be_bytes());
        }
        _ => {}
    }
}

/// One edit of a byte string; positions are scaled to its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

/// Positions fall in the first `head` octets (the headers) three times in four.
fn mutation() -> impl Strategy<Value = (bool, Mutation)> {
    let edit = prop_oneof![
        3 => (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(at, v)| Mutation::Set(at, v)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, v)| Mutation::Insert(at, v)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ];
    (prop::bool::weighted(0.75), edit)
}

fn mutate(bytes: &mut Vec<u8>, head: usize, (in_head, edit): &(bool, Mutation)) {
    let span = if *in_head {
        bytes.len().min(head)
    } else {
        bytes.len()
    };
    if span == 0 {
        return;
    }
    match *edit {
        Mutation::Flip(at, bit) => bytes[at.index(span)] ^= 1 << bit,
        Mutation::Set(at, value) => bytes[at.index(span)] = value,
        Mutation::Insert(at, value) => bytes.insert(at.index(span + 1), value),
        Mutation::Remove(at) => {
            bytes.remove(at.index(span));
        }
        Mutation::Truncate(at) => bytes.truncate(at.index(span)),
    }
}

/// A capture, and a run of consecutive packets in it: the handshakes (the first 40
/// packets) half the time.
fn window() -> impl Strategy<Value = (usize, usize, usize)> {
    (0..CAPTURES.len(), any::<bool>(), any::<Index>(), 1..8usize).prop_map(
        |(capture, early, start, len)| {
            let packets = &packets()[capture];
            let range = if early { 40 } else { packets.len() };
            let start = start.index(range.min(packets.len()));
            (capture, start, len.min(packets.len() - start))
        },
    )
}

/// One TCP option's octets, of any kind and length, MPTCP ones of every subtype.
fn option_octets() -> impl Strategy<Value = Vec<u8>> {
    let framed = |kind: u8, body: Vec<u8>| {
        let mut bytes = vec![kind, (body.len() + 2) as u8];
        bytes.extend(body);
        bytes
    };
    prop_oneof![
        1 => select(vec![vec![0], vec![1]]),
        2 => (select(vec![2u8, 3, 4, 5, 8, 34, 253]), vec(any::<u8>(), 0..12))
            .prop_map(move |(kind, body)| framed(kind, body)),
        // MPTCP: a subtype nibble, then a body of any length up to the option space.
        6 => (0..16u8, any::<u8>(), vec(any::<u8>(), 0..36)).prop_map(move |(sub, low, mut body)| {
            body.insert(0, (sub << 4) | (low & 0x0f));
            framed(30, body)
        }),
        1 => vec(any::<u8>(), 1..6),
    ]
}

/// An option block: options one after another, cut to 40 octets, zero-padded to a
/// multiple of 4.
fn option_block() -> impl Strategy<Value = Vec<u8>> {
    vec(option_octets(), 0..6).prop_map(|options| {
        let mut block = options.concat();
        block.truncate(40);
        block.resize(block.len().next_multiple_of(4), 0);
        block
    })
}

/// `ip` with its TCP option block replaced by `block` and its lengths fixed.
fn with_options(ip: &[u8], block: &[u8]) -> Option<Vec<u8>> {
    let tcp = tcp_offset(ip)?;
    let data_offset = usize::from(*ip.get(tcp + 12)? >> 4) * 4;
    if data_offset < 20 {
        return None;
    }
    let payload = ip.get(tcp + data_offset..)?;
    let mut out = ip[..tcp + 20].to_vec();
    out.extend_from_slice(block);
    out.extend_from_slice(payload);
    out[tcp + 12] = ((((20 + block.len()) / 4) as u8) << 4) | (out[tcp + 12] & 0x0f);
    fix_ip_header(&mut out);
    Some(out)
}

/// Cases per property: 10 000 (about a second in all), or `PROPTEST_CASES` for a
/// longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn every_real_packet_and_capture_passes_the_checks() {
    for (name, packets) in CAPTURES.iter().zip(packets()) {
        let mut tracker = ConnectionTracker::new();
        for (i, ip) in packets.iter().enumerate() {
            pipeline::check_packet(ip, i as u64 + 1, &mut tracker);
        }
        pipeline::check_report(tracker);
        let file = std::fs::read(capture_path(name)).expect("read capture");
        pipeline::check_capture(&file);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_as_an_ip_packet(ip in vec(any::<u8>(), 0..120)) {
        pipeline::check_lone_packet(&ip);
    }

    #[test]
    fn arbitrary_bytes_as_an_mptcp_option(body in vec(any::<u8>(), 0..40)) {
        pipeline::check_mptcp_body(&body);
    }

    #[test]
    fn arbitrary_bytes_after_a_capture_magic(
        magic in select(vec![
            [0xd4, 0xc3, 0xb2, 0xa1], // pcap, microseconds, little-endian
            [0xa1, 0xb2, 0x3c, 0x4d], // pcap, nanoseconds, big-endian
            [0x0a, 0x0d, 0x0d, 0x0a], // pcapng section header
        ]),
        rest in vec(any::<u8>(), 0..200),
    ) {
        pipeline::check_capture(&[&magic[..], &rest].concat());
    }

    #[test]
    fn arbitrary_options_behind_real_headers(
        (capture, start, _) in window(),
        blocks in vec(option_block(), 1..4),
    ) {
        let mut tracker = ConnectionTracker::new();
        let ip = &packets()[capture][start];
        for (i, block) in blocks.iter().enumerate() {
            if let Some(packet) = with_options(ip, block) {
                pipeline::check_packet(&packet, i as u64 + 1, &mut tracker);
            }
        }
        pipeline::check_report(tracker);
    }

    #[test]
    fn mutated_real_packets(
        (capture, start, len) in window(),
        edits in vec((vec(mutation(), 0..4), any::<bool>()), 8),
    ) {
        let mut tracker = ConnectionTracker::new();
        let run = &packets()[capture][start..start + len];
        for (i, (ip, (edits, fix))) in run.iter().zip(&edits).enumerate() {
            let mut ip = ip.clone();
            let head = tcp_offset(&ip).map_or(60, |tcp| tcp + 60);
            for edit in edits {
                mutate(&mut ip, head, edit);
            }
            if *fix {
                fix_ip_header(&mut ip);
            }
            pipeline::check_packet(&ip, i as u64 + 1, &mut tracker);
        }
        pipeline::check_report(tracker);
    }

    #[test]
    fn mutated_real_captures(
        capture in 0..CAPTURES.len(),
        edits in vec(mutation(), 0..6),
    ) {
        let mut file = capture_heads()[capture].clone();
        for edit in &edits {
            // Headers here: the pcap file header and the first record header.
            mutate(&mut file, 40, edit);
        }
        pipeline::check_capture(&file);
    }
}
