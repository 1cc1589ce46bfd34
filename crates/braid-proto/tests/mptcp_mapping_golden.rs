//! The receiver's data sequence mapping (RFC 8684 §3.3.1) against real Linux 6.18
//! traffic from testdata/captures: each subflow direction is reassembled in order
//! from its SYN, its payload and DSS mappings are fed to a `MappingReceiver`, and the
//! data-level chunks of all subflows are merged per direction of the connection.
//!
//! Checked for each capture: every DSS checksum verifies (checksum-echo.pcap has them
//! on every mapping); each direction's data-level stream is contiguous from IDSN + 1
//! (IDSN from the keys of the MP_CAPABLE ACK) with no gap, and bytes that two subflows
//! carry for the same data sequence numbers are equal; and the stream's length is
//! what the application sent: DATA_FIN's DSN − IDSN − 1 where the capture has a
//! DATA_FIN, and the peer's last DATA_ACK − IDSN − 1 otherwise.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use braid_proto::crypto;
use braid_proto::mptcp::mapping::{
    mp_capable_mapping, Delivery, MappingConfig, MappingReceiver, MappingStats,
};
use braid_proto::seq::widen;
use braid_proto::wire::mptcp::{DssMapping, MpCapableVariant, MptcpOption, SeqField};
use braid_proto::wire::tcp_option::mptcp_options;
use braid_proto::wire::{ip_protocol, ChecksumCheck, IpRepr, TcpRepr};

/// The port every capture's server listens on (testdata/captures/README.md).
const SERVER_PORT: u16 = 5001;

/// Classic pcap, link type RAW (101): a 24-byte file header, then records of a
/// 16-byte header and the IP packet.
fn pcap_packets(file: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/captures")
        .join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() >= 24, "{file}: no pcap header");
    let little_endian = match &bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        other => panic!("{file}: not classic pcap (magic {other:02x?})"),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 101, "{file}: link type RAW");
    let mut packets = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        assert!(at + 16 <= bytes.len(), "{file}: truncated record header");
        let captured = u32_at(at + 8) as usize;
        // The original length counts the Ethernet header the capture was taken with
        // (14 octets more); whether the IP packet is whole is checked on its own
        // total length below.
        assert!(captured <= u32_at(at + 12) as usize);
        at += 16;
        packets.push(bytes[at..at + captured].to_vec());
        at += captured;
    }
    assert_eq!(at, bytes.len());
    packets
}

type Endpoint = (IpAddr, u16);

/// One TCP segment of a capture, decoded.
struct Segment {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    syn: bool,
    fin: bool,
    rst: bool,
    payload: Vec<u8>,
    options: Vec<u8>,
}

impl Segment {
    fn to_server(&self) -> bool {
        self.dst.1 == SERVER_PORT
    }

    fn mptcp(&self) -> impl Iterator<Item = MptcpOption<'_>> {
        mptcp_options(&self.options)
    }
}

fn segments(file: &str) -> Vec<Segment> {
    pcap_packets(file)
        .iter()
        .map(|packet| {
            let (ip, upper) = IpRepr::parse(packet).expect("IP header");
            assert_eq!(ip.total_len(), packet.len(), "{file}: packet cut short");
            assert_eq!(upper.protocol, ip_protocol::TCP, "{file}: TCP only");
            assert!(!upper.fragment);
            // Locally captured packets carry offloaded, partial TCP checksums.
            let tcp = TcpRepr::parse(upper.payload, ChecksumCheck::Skip).expect("TCP header");
            Segment {
                src: (ip.src_addr(), tcp.src_port),
                dst: (ip.dst_addr(), tcp.dst_port),
                seq: tcp.seq_number,
                syn: tcp.flags.syn(),
                fin: tcp.flags.fin(),
                rst: tcp.flags.rst(),
                payload: tcp.payload.to_vec(),
                options: tcp.options.to_vec(),
            }
        })
        .collect()
}

/// What the handshakes tell: the keys and whether checksums were negotiated.
struct Handshake {
    client_key: u64,
    server_key: u64,
    checksums: bool,
}

fn handshake(segments: &[Segment]) -> Handshake {
    let (mut client_key, mut server_key, mut checksums) = (None, None, false);
    for s in segments {
        for o in s.mptcp() {
            if let MptcpOption::MpCapable(mpc) = o {
                // RFC 8684 §3.1: checksums are used if either host asks for them.
                if s.syn {
                    checksums |= mpc.flags.checksum_required();
                }
                if let (Some((sender_key, receiver_key)), true) =
                    (mpc.variant.keys(), s.to_server())
                {
                    client_key = Some(sender_key);
                    server_key = Some(receiver_key);
                }
            }
        }
    }
    Handshake {
        client_key: client_key.expect("MP_CAPABLE ACK with both keys"),
        server_key: server_key.expect("MP_CAPABLE ACK with both keys"),
        checksums,
    }
}

/// One direction of the connection at the data level, merged from all subflows.
struct DataStream {
    idsn: u64,
    /// Byte at data sequence number `idsn + 1 + i`, if delivered.
    bytes: Vec<Option<u8>>,
    /// Bytes delivered more than once (the same DSN on two subflows, or twice on
    /// one), all equal to the first copy.
    duplicate_bytes: u64,
    /// DSNs of one-octet zero-window probes whose octet differs from the data.
    probes: Vec<u64>,
    data_fins: Vec<u64>,
    checksum_failures: Vec<u64>,
    discarded: u64,
    /// Highest DATA_ACK the other side sent, widened.
    last_data_ack: Option<u64>,
}

impl DataStream {
    fn new(idsn: u64) -> Self {
        DataStream {
            idsn,
            bytes: Vec::new(),
            duplicate_bytes: 0,
            probes: Vec::new(),
            data_fins: Vec::new(),
            checksum_failures: Vec::new(),
            discarded: 0,
            last_data_ack: None,
        }
    }

    /// Data-level RCV.NXT: the end of the contiguous prefix.
    fn rcv_nxt(&self) -> u64 {
        let contiguous = self.bytes.iter().take_while(|b| b.is_some()).count();
        self.idsn + 1 + contiguous as u64
    }

    fn on_delivery(&mut self, d: Delivery<'_>) {
        match d {
            Delivery::Data { dsn, bytes } => {
                let offset = dsn
                    .checked_sub(self.idsn + 1)
                    .expect("data before IDSN + 1") as usize;
                assert!(offset + bytes.len() < 1 << 24, "DSN far beyond the stream");
                if self.bytes.len() < offset + bytes.len() {
                    self.bytes.resize(offset + bytes.len(), None);
                }
                let old_data = dsn < self.rcv_nxt();
                let mut differ = false;
                for (slot, &b) in self.bytes[offset..].iter_mut().zip(bytes) {
                    match slot {
                        Some(old) => {
                            differ |= *old != b;
                            self.duplicate_bytes += 1;
                        }
                        None => *slot = Some(b),
                    }
                }
                if differ {
                    // RFC 8684 §3.3.1: "an implementation SHOULD treat the first data
                    // that is received at a subflow for the data sequence space as the
                    // data that should be delivered to the application, and any later
                    // data for that sequence space SHOULD be ignored". Linux's MPTCP
                    // zero-window probe maps one octet to snd_una - 1, data already
                    // acknowledged, and fills it with whatever octet it is about to
                    // send: that is the only different copy allowed.
                    assert!(
                        old_data && bytes.len() == 1,
                        "two copies of DSNs {dsn}.. ({} octets) differ",
                        bytes.len()
                    );
                    self.probes.push(dsn);
                }
            }
            Delivery::DataFin { dsn } => self.data_fins.push(dsn),
            Delivery::ChecksumFailed { dsn, .. } => self.checksum_failures.push(dsn),
            Delivery::Fallback { .. } => panic!("no capture falls back"),
            Delivery::Discarded { len, .. } => self.discarded += len as u64,
        }
    }
}

/// One direction of one subflow: in-order reassembly from the ISN of its SYN.
struct SubflowRx {
    isn: u32,
    /// Relative sequence number of the next in-order byte.
    next: u32,
    /// Segments not yet in order, by relative sequence number.
    queue: BTreeMap<u32, Pending>,
    rx: MappingReceiver,
    fin: bool,
    segments_in_order: u64,
}

/// A segment waiting for the bytes before it.
#[derive(Default)]
struct Pending {
    payload: Vec<u8>,
    /// Its DSS mappings with their DATA_FIN flags.
    mappings: Vec<(DssMapping, bool)>,
    fin: bool,
}

/// The DSS mappings a segment carries, MP_CAPABLE's implicit one included.
fn mappings_of(s: &Segment) -> Vec<(DssMapping, bool)> {
    s.mptcp()
        .filter_map(|o| match o {
            MptcpOption::Dss(dss) => dss.mapping.map(|m| (m, dss.data_fin)),
            MptcpOption::MpCapable(mpc) => match mpc.variant {
                MpCapableVariant::AckWithData {
                    sender_key,
                    data_level_length,
                    checksum,
                    ..
                } => Some((
                    mp_capable_mapping(crypto::idsn(sender_key), data_level_length, checksum),
                    false,
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

struct Outcome {
    /// Index 0: client to server; 1: server to client.
    streams: [DataStream; 2],
    subflows: Vec<(Endpoint, Endpoint, MappingStats, u64)>,
    handshake: Handshake,
}

fn run(file: &str) -> Outcome {
    run_with(file, |_| {})
}

/// [`run`], after `tamper` has had its way with the decoded segments.
fn run_with(file: &str, tamper: impl FnOnce(&mut [Segment])) -> Outcome {
    let mut segments = segments(file);
    tamper(&mut segments);
    let handshake = handshake(&segments);
    let mut streams = [
        DataStream::new(crypto::idsn(handshake.client_key)),
        DataStream::new(crypto::idsn(handshake.server_key)),
    ];
    let mut subflows: HashMap<(Endpoint, Endpoint), SubflowRx> = HashMap::new();
    let mut order = Vec::new();
    for s in &segments {
        let key = (s.src, s.dst);
        if s.syn {
            subflows.entry(key).or_insert_with(|| {
                order.push(key);
                SubflowRx {
                    isn: s.seq,
                    next: 1,
                    queue: BTreeMap::new(),
                    rx: MappingReceiver::new(MappingConfig::new(handshake.checksums)),
                    fin: false,
                    segments_in_order: 0,
                }
            });
            continue;
        }
        // The DATA_ACKs this segment carries acknowledge the other direction.
        for o in s.mptcp() {
            if let MptcpOption::Dss(dss) = o {
                if let Some(ack) = dss.data_ack {
                    let other = &mut streams[usize::from(s.to_server())];
                    let ack = match ack {
                        SeqField::U64(v) => v,
                        SeqField::U32(v) => widen(v, other.rcv_nxt()),
                    };
                    other.last_data_ack = Some(other.last_data_ack.map_or(ack, |a| a.max(ack)));
                }
            }
        }
        let stream = &mut streams[usize::from(!s.to_server())];
        if s.rst {
            continue;
        }
        let sub = subflows
            .get_mut(&key)
            .expect("segment of a subflow whose SYN was seen");
        let rel = s.seq.wrapping_sub(sub.isn);
        let mappings = mappings_of(s);
        if s.payload.is_empty() && !s.fin {
            // A pure ACK: its mapping (a DATA_FIN alone, RFC 8684 §3.3.3) needs no
            // ordering with data.
            for (m, data_fin) in &mappings {
                let reference = stream.rcv_nxt();
                sub.rx
                    .on_mapping(m, *data_fin, reference, &mut |d| stream.on_delivery(d))
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
            }
            continue;
        }
        let entry = sub.queue.entry(rel).or_default();
        if s.payload.len() >= entry.payload.len() {
            *entry = Pending {
                payload: s.payload.clone(),
                mappings,
                fin: s.fin,
            };
        }
        // Deliver whatever is now in order, as a TCP receiver would.
        while let Some(entry) = sub.queue.first_entry() {
            let rel = *entry.key();
            if rel.wrapping_sub(sub.next) as i32 > 0 {
                break;
            }
            let Pending {
                payload,
                mappings,
                fin,
            } = entry.remove();
            for (m, data_fin) in &mappings {
                let reference = stream.rcv_nxt();
                sub.rx
                    .on_mapping(m, *data_fin, reference, &mut |d| stream.on_delivery(d))
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
            }
            sub.rx
                .on_data(rel, &payload, &mut |d| stream.on_delivery(d))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            sub.segments_in_order += 1;
            let end = rel.wrapping_add(payload.len() as u32);
            if end.wrapping_sub(sub.next) as i32 > 0 {
                sub.next = end;
            }
            if fin && end == sub.next && !sub.fin {
                sub.fin = true;
                sub.rx
                    .on_fin(&mut |d| stream.on_delivery(d))
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
            }
        }
    }
    let subflows = order
        .iter()
        .map(|key| {
            let sub = &subflows[key];
            assert!(sub.queue.is_empty(), "{file}: a hole in subflow {key:?}");
            (key.0, key.1, *sub.rx.stats(), sub.rx.held_bytes() as u64)
        })
        .collect();
    Outcome {
        streams,
        subflows,
        handshake,
    }
}

/// Checks (2) and (3) of the module documentation for one direction and returns the
/// stream's bytes.
fn check_stream(file: &str, name: &str, s: &DataStream, delivered_on_subflows: u64) -> Vec<u8> {
    assert_eq!(s.checksum_failures, [], "{file} {name}");
    assert_eq!(s.discarded, 0, "{file} {name}: bytes dropped");
    // Contiguous from IDSN + 1, no gap.
    let bytes: Vec<u8> = s
        .bytes
        .iter()
        .map(|b| b.unwrap_or_else(|| panic!("{file} {name}: gap in the data-level stream")))
        .collect();
    assert_eq!(
        bytes.len() as u64 + s.duplicate_bytes,
        delivered_on_subflows,
        "{file} {name}: every delivered byte accounted for"
    );
    let len = bytes.len() as u64;
    match s.data_fins.first() {
        Some(&fin) => {
            assert!(
                s.data_fins.iter().all(|&f| f == fin),
                "{file} {name}: one DATA_FIN"
            );
            assert_eq!(
                fin - s.idsn - 1,
                len,
                "{file} {name}: DATA_FIN ends the data"
            );
            // The peer acknowledged the data and the DATA_FIN.
            assert_eq!(s.last_data_ack, Some(fin + 1), "{file} {name}");
        }
        None => {
            assert_eq!(
                s.last_data_ack.map(|a| a - s.idsn - 1),
                Some(len),
                "{file} {name}: the last DATA_ACK acknowledges all the data"
            );
        }
    }
    eprintln!(
        "{file} {name}: IDSN {:#018x}, {len} octets (+{} duplicate, zero-window probes at {:?}), \
         DATA_FIN {:?}, last DATA_ACK {:?}",
        s.idsn,
        s.duplicate_bytes,
        s.probes,
        s.data_fins.first(),
        s.last_data_ack
    );
    bytes
}

fn report(file: &str, outcome: &Outcome) -> [u64; 2] {
    let mut delivered = [0u64; 2];
    for (src, dst, stats, held) in &outcome.subflows {
        let to_server = dst.1 == SERVER_PORT;
        delivered[usize::from(!to_server)] += stats.bytes_delivered;
        eprintln!(
            "{file} {}:{} -> {}:{}: {} mappings ({} repeats, {} stale), {} checksums verified, \
             {} DATA_FINs, {} octets delivered, {} held at the end, max held {}, 32-bit DSNs {}",
            src.0,
            src.1,
            dst.0,
            dst.1,
            stats.mappings_recorded,
            stats.mappings_repeated,
            stats.mappings_stale,
            stats.checksums_verified,
            stats.data_fins,
            stats.bytes_delivered,
            held,
            stats.max_held,
            stats.dsn32_widened,
        );
        assert_eq!(*held, 0, "{file}: bytes left without a mapping");
        assert_eq!(stats.checksum_failures, 0);
    }
    delivered
}

#[test]
fn rfc8684_s3_3_1_checksum_echo_every_checksum_verifies() {
    let file = "checksum-echo.pcap";
    let outcome = run(file);
    assert!(outcome.handshake.checksums, "MP_CAPABLE with the A flag");
    let delivered = report(file, &outcome);
    // (1) Every mapping carried a checksum and every checksum verified.
    for (_, _, stats, _) in &outcome.subflows {
        assert_eq!(stats.checksums_verified, stats.mappings_completed);
    }
    // Per subflow direction, in order of their SYNs: the client's 300000 octets in 19
    // mappings (the first announced by MP_CAPABLE, then repeated by DSS), the
    // server's echo in 9, nothing from the joined subflow's client, and one
    // one-octet mapping the server sent on the joined subflow (a zero-window probe).
    let verified: Vec<u64> = outcome
        .subflows
        .iter()
        .map(|(_, _, s, _)| s.checksums_verified)
        .collect();
    assert_eq!(verified, [19, 9, 0, 1]);
    let up = check_stream(file, "client->server", &outcome.streams[0], delivered[0]);
    let down = check_stream(file, "server->client", &outcome.streams[1], delivered[1]);
    let probe_dsn = outcome.streams[1].idsn + down.len() as u64;
    assert_eq!(
        outcome.streams[1].probes,
        [probe_dsn],
        "probe of the last octet"
    );
    assert!(outcome.streams[0].probes.is_empty());
    // The client sent 300000 octets, the last mapping ending at subflow octet 300000.
    assert_eq!(up.len(), 300_000);
    // The server echoes: what it sent so far is what it received, from the start.
    assert!(!down.is_empty() && down.len() <= up.len());
    assert_eq!(down[..], up[..down.len()]);
}

#[test]
fn rfc8684_s3_3_1_join_two_subflows_data_level_stream_is_contiguous() {
    let file = "join-two-subflows.pcap";
    let outcome = run(file);
    assert!(!outcome.handshake.checksums);
    let delivered = report(file, &outcome);
    assert_eq!(outcome.subflows.len(), 4, "two subflows, both directions");
    // Both subflows carried data in both directions.
    for (src, dst, stats, _) in &outcome.subflows {
        assert!(
            stats.bytes_delivered > 0,
            "{src:?} -> {dst:?} carried no data"
        );
    }
    let up = check_stream(file, "client->server", &outcome.streams[0], delivered[0]);
    let down = check_stream(file, "server->client", &outcome.streams[1], delivered[1]);
    // testdata/captures/README.md: the server replies 200000 octets.
    assert_eq!(down.len(), 200_000);
    assert_eq!(up.len(), 600_000);
    // One 16 KiB mapping of the client's went out on both subflows, identical.
    assert_eq!(outcome.streams[0].duplicate_bytes, 16_384);
    assert!(outcome.streams.iter().all(|s| s.probes.is_empty()));
    let fins: Vec<u64> = outcome
        .subflows
        .iter()
        .map(|(_, _, s, _)| s.data_fins)
        .collect();
    assert_eq!(
        fins,
        [1, 1, 1, 1],
        "each DATA_FIN was sent on both subflows"
    );
}

#[test]
fn rfc8684_s3_3_1_checksum_echo_with_one_octet_changed_fails_that_mapping() {
    let file = "checksum-echo.pcap";
    // A middlebox rewrites one octet of the client data in frame 100 (index 99).
    // The client sends everything on its first subflow, in mappings of 16 KiB from
    // subflow octet 1 and data offset 0 on, so the octet's mapping is known.
    let mapping_len = 16_384u64;
    let mut tampered_offset = 0;
    let outcome = run_with(file, |segments| {
        let isn = segments[0].seq;
        let s = &mut segments[99];
        assert!(s.to_server() && s.payload.len() > 100);
        s.payload[100] ^= 0x01;
        tampered_offset = u64::from(s.seq.wrapping_sub(isn)) - 1 + 100;
    });
    let up = &outcome.streams[0];
    // The failed mapping is reported by its DSN, for MP_FAIL (RFC 8684 §3.7)...
    assert_eq!(up.checksum_failures.len(), 1);
    let failed = up.checksum_failures[0];
    assert_eq!(
        failed - up.idsn - 1,
        tampered_offset - tampered_offset % mapping_len
    );
    // ...nothing of it or after it is delivered (the capture has no infinite mapping
    // to resume from), and everything before it is.
    let delivered = up.bytes.iter().take_while(|b| b.is_some()).count() as u64;
    assert_eq!(delivered, failed - up.idsn - 1);
    assert_eq!(up.bytes.len() as u64, delivered);
    assert_eq!(delivered + up.discarded, 300_000);
    let (_, _, stats, _) = &outcome.subflows[0];
    assert_eq!(stats.checksum_failures, 1);
    assert_eq!(stats.checksums_verified, delivered / mapping_len);
    eprintln!(
        "{file}: data octet {tampered_offset} changed: mapping at DSN {failed} (data offset \
         {}) failed, {} octets discarded",
        failed - up.idsn - 1,
        up.discarded
    );
}
