//! Tests for the capture reader: decapsulation of every supported link type, both container
//! formats, error messages, robustness against damaged input, and the golden captures.

use std::time::Duration;

use braid::capture::{
    CaptureError, CaptureFormat, CaptureReader, CapturedPacket, LinkType, SkippedFrames,
};

/// Frame 1 of single-subflow.pcap: the client's SYN with MP_CAPABLE.
const IPV4_SYN: &str = "4500004096f5400040068dc00a0001010a00010287e613898115f14300000000b002faf0\
                        16350000020405b40402080a5932698e000000000103030a1e040101";
/// Frame 1 of ipv6-add-addr-join.pcap: the client's SYN with MP_CAPABLE.
const IPV6_SYN: &str = "600fa763002c0640dead0001000000000000000000000001dead000100000000000000000000\
                        0002d35e1389b75394d600000000b002fd20bd920000020405a00402080a8e721c7800000000\
                        0103030a1e040101";
/// A bare 40-byte IPv4 ACK, short enough that Ethernet pads it.
const IPV4_ACK: &str = "450000280001400040060000 0a000101 0a000102\
                        87e61389 8115f144 393a87e2 50100040 00000000";

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn ipv4_syn() -> Vec<u8> {
    hex(IPV4_SYN)
}

fn ipv6_syn() -> Vec<u8> {
    hex(IPV6_SYN)
}

fn ipv4_ack() -> Vec<u8> {
    hex(IPV4_ACK)
}

// ---------------------------------------------------------------------------------------
// Building captures by hand, so each field's byte order and layout is explicit.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, value: u16) -> [u8; 2] {
        match self {
            Order::Little => value.to_le_bytes(),
            Order::Big => value.to_be_bytes(),
        }
    }

    fn u32(self, value: u32) -> [u8; 4] {
        match self {
            Order::Little => value.to_le_bytes(),
            Order::Big => value.to_be_bytes(),
        }
    }
}

/// A classic pcap file; `boundaries` holds the length after the header and each record.
struct Pcap {
    order: Order,
    bytes: Vec<u8>,
    boundaries: Vec<usize>,
}

impl Pcap {
    fn new(order: Order, magic: u32, link_type: u32) -> Self {
        let mut bytes = Vec::new();
        bytes.extend(order.u32(magic));
        bytes.extend(order.u16(2));
        bytes.extend(order.u16(4));
        bytes.extend(order.u32(0)); // thiszone
        bytes.extend(order.u32(0)); // sigfigs
        bytes.extend(order.u32(262_144)); // snaplen
        bytes.extend(order.u32(link_type));
        let boundaries = vec![bytes.len()];
        Pcap {
            order,
            bytes,
            boundaries,
        }
    }

    fn record(mut self, seconds: u32, fraction: u32, frame: &[u8]) -> Self {
        let order = self.order;
        self.bytes.extend(order.u32(seconds));
        self.bytes.extend(order.u32(fraction));
        self.bytes.extend(order.u32(frame.len() as u32));
        self.bytes.extend(order.u32(frame.len() as u32));
        self.bytes.extend_from_slice(frame);
        self.boundaries.push(self.bytes.len());
        self
    }
}

/// A pcapng file built block by block; `boundaries` holds the length after each block.
struct PcapNg {
    order: Order,
    bytes: Vec<u8>,
    boundaries: Vec<usize>,
}

impl PcapNg {
    fn new(order: Order) -> Self {
        PcapNg {
            order,
            bytes: Vec::new(),
            boundaries: Vec::new(),
        }
        .section(order)
    }

    fn block(mut self, block_type: u32, body: &[u8]) -> Self {
        let order = self.order;
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        self.bytes.extend(order.u32(block_type));
        self.bytes.extend(order.u32(total));
        self.bytes.extend_from_slice(body);
        self.bytes.resize(self.bytes.len() + padded - body.len(), 0);
        self.bytes.extend(order.u32(total));
        self.boundaries.push(self.bytes.len());
        self
    }

    /// Starts a new section, possibly switching byte order.
    fn section(mut self, order: Order) -> Self {
        self.order = order;
        let mut body = Vec::new();
        body.extend(order.u32(0x1A2B_3C4D));
        body.extend(order.u16(1));
        body.extend(order.u16(0));
        body.extend([0xFF; 8]); // section length unknown
        self.block(0x0A0D_0D0A, &body)
    }

    fn interface(self, link_type: u16, snap_len: u32, options: &[(u16, &[u8])]) -> Self {
        let order = self.order;
        let mut body = Vec::new();
        body.extend(order.u16(link_type));
        body.extend(order.u16(0));
        body.extend(order.u32(snap_len));
        if !options.is_empty() {
            for (code, value) in options {
                body.extend(order.u16(*code));
                body.extend(order.u16(value.len() as u16));
                body.extend_from_slice(value);
                body.resize(body.len().div_ceil(4) * 4, 0);
            }
            body.extend([0; 4]); // opt_endofopt
        }
        self.block(1, &body)
    }

    fn enhanced(self, interface: u32, units: u64, frame: &[u8]) -> Self {
        let order = self.order;
        let mut body = Vec::new();
        body.extend(order.u32(interface));
        body.extend(order.u32((units >> 32) as u32));
        body.extend(order.u32(units as u32));
        body.extend(order.u32(frame.len() as u32));
        body.extend(order.u32(frame.len() as u32 + 4)); // original length differs on purpose
        body.extend_from_slice(frame);
        self.block(6, &body)
    }

    fn obsolete_packet(self, interface: u16, units: u64, frame: &[u8]) -> Self {
        let order = self.order;
        let mut body = Vec::new();
        body.extend(order.u16(interface));
        body.extend(order.u16(0)); // drops
        body.extend(order.u32((units >> 32) as u32));
        body.extend(order.u32(units as u32));
        body.extend(order.u32(frame.len() as u32));
        body.extend(order.u32(frame.len() as u32));
        body.extend_from_slice(frame);
        self.block(2, &body)
    }

    fn simple(self, frame: &[u8]) -> Self {
        let order = self.order;
        let mut body = Vec::new();
        body.extend(order.u32(frame.len() as u32));
        body.extend_from_slice(frame);
        self.block(3, &body)
    }
}

// Link-layer wrappers.

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    frame.extend(ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn ethernet_tagged(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for (i, tpid) in tags.iter().enumerate() {
        frame.extend(tpid.to_be_bytes());
        frame.extend((100 + i as u16).to_be_bytes()); // TCI: VLAN id
    }
    frame.extend(ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn linux_sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, 4, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0];
    frame.extend(protocol.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn linux_sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = protocol.to_be_bytes().to_vec();
    frame.extend([0, 0]); // reserved
    frame.extend(7u32.to_be_bytes()); // interface index
    frame.extend([0, 1, 4, 6]); // ARPHRD_ETHER, outgoing, address length
    frame.extend([0x02, 0, 0, 0, 0, 1, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

fn loopback(family: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut frame = family.to_vec();
    frame.extend_from_slice(payload);
    frame
}

fn read_all(bytes: &[u8]) -> Vec<CapturedPacket> {
    CaptureReader::new(bytes)
        .expect("header")
        .collect::<Result<_, _>>()
        .expect("packets")
}

fn first_error(bytes: &[u8]) -> CaptureError {
    match CaptureReader::new(bytes) {
        Err(error) => error,
        Ok(reader) => reader.filter_map(Result::err).next().expect("an error"),
    }
}

// ---------------------------------------------------------------------------------------
// Decapsulation
// ---------------------------------------------------------------------------------------

#[test]
fn each_link_type_yields_the_exact_ip_packet() {
    let v4 = ipv4_syn();
    let v6 = ipv6_syn();
    let cases: Vec<(&str, u32, Vec<u8>, &Vec<u8>)> = vec![
        ("raw v4", 101, v4.clone(), &v4),
        ("raw v6", 101, v6.clone(), &v6),
        ("raw dlt 12", 12, v4.clone(), &v4),
        ("raw dlt 14", 14, v6.clone(), &v6),
        ("ipv4", 228, v4.clone(), &v4),
        ("ipv6", 229, v6.clone(), &v6),
        ("ethernet v4", 1, ethernet(0x0800, &v4), &v4),
        ("ethernet v6", 1, ethernet(0x86DD, &v6), &v6),
        ("802.1Q", 1, ethernet_tagged(&[0x8100], 0x0800, &v4), &v4),
        (
            "802.1ad + 802.1Q",
            1,
            ethernet_tagged(&[0x88A8, 0x8100], 0x86DD, &v6),
            &v6,
        ),
        ("linux sll v4", 113, linux_sll(0x0800, &v4), &v4),
        ("linux sll v6", 113, linux_sll(0x86DD, &v6), &v6),
        ("linux sll2 v4", 276, linux_sll2(0x0800, &v4), &v4),
        ("linux sll2 v6", 276, linux_sll2(0x86DD, &v6), &v6),
        ("null little-endian v4", 0, loopback([2, 0, 0, 0], &v4), &v4),
        ("null big-endian v6", 0, loopback([0, 0, 0, 10], &v6), &v6),
        ("null macos v6", 0, loopback([30, 0, 0, 0], &v6), &v6),
        ("loop v4", 108, loopback([0, 0, 0, 2], &v4), &v4),
        ("loop openbsd v6", 108, loopback([0, 0, 0, 24], &v6), &v6),
        ("loop freebsd v6", 108, loopback([0, 0, 0, 28], &v6), &v6),
    ];
    for (name, link_type, frame, expected) in cases {
        let file =
            Pcap::new(Order::Little, 0xA1B2_C3D4, link_type).record(1_795_247_802, 720_771, &frame);
        let packets = read_all(&file.bytes);
        assert_eq!(packets.len(), 1, "{name}");
        let packet = &packets[0];
        assert_eq!(&packet.ip, expected, "{name}");
        assert_eq!(packet.index, 0, "{name}");
        assert_eq!(packet.link_type, LinkType(link_type), "{name}");
        assert_eq!(packet.original_len, frame.len() as u32, "{name}");
        assert_eq!(packet.interface, 0, "{name}");
        assert_eq!(
            packet.timestamp,
            Duration::new(1_795_247_802, 720_771_000),
            "{name}"
        );
    }
}

#[test]
fn ethernet_padding_and_fcs_are_cut_off() {
    let ack = ipv4_ack();
    let mut frame = ethernet(0x0800, &ack);
    frame.resize(60, 0); // minimum Ethernet frame
    frame.extend([0xDE, 0xAD, 0xBE, 0xEF]); // frame check sequence
    let file = Pcap::new(Order::Little, 0xA1B2_C3D4, 1).record(0, 0, &frame);
    assert_eq!(read_all(&file.bytes)[0].ip, ack);
}

#[test]
fn snap_length_truncated_packet_is_returned_as_captured() {
    let v4 = ipv4_syn();
    let frame = ethernet(0x0800, &v4[..30]);
    let file = Pcap::new(Order::Little, 0xA1B2_C3D4, 1).record(0, 0, &frame);
    assert_eq!(read_all(&file.bytes)[0].ip, &v4[..30]);
}

#[test]
fn non_ip_frames_are_skipped_and_counted() {
    let arp = ethernet(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]);
    let lldp = ethernet(0x88CC, &[2, 7, 4]);
    let runt = vec![0xFF; 10];
    let file = Pcap::new(Order::Little, 0xA1B2_C3D4, 1)
        .record(1, 0, &arp)
        .record(2, 0, &ethernet(0x0800, &ipv4_syn()))
        .record(3, 0, &lldp)
        .record(4, 0, &runt)
        .record(5, 0, &ethernet(0x0800, &[])) // IPv4 ethertype but no IP bytes
        .record(6, 0, &ethernet(0x86DD, &ipv6_syn()));
    let mut reader = CaptureReader::new(&file.bytes[..]).unwrap();
    let indices: Vec<u64> = reader.by_ref().map(|p| p.unwrap().index).collect();
    assert_eq!(indices, [1, 5]);
    assert_eq!(
        reader.skipped(),
        SkippedFrames {
            non_ip: 2,
            too_short: 2
        }
    );
    assert_eq!(reader.skipped().total(), 4);
    assert_eq!(reader.frames_read(), 6);
}

#[test]
fn raw_frames_without_an_ip_version_are_not_ip() {
    let file = Pcap::new(Order::Little, 0xA1B2_C3D4, 101)
        .record(0, 0, &[0x00, 0x01, 0x02])
        .record(0, 0, &[])
        .record(0, 0, &ipv4_syn());
    let mut reader = CaptureReader::new(&file.bytes[..]).unwrap();
    assert_eq!(reader.next_packet().unwrap().unwrap().index, 2);
    assert!(reader.next_packet().unwrap().is_none());
    assert_eq!(
        reader.skipped(),
        SkippedFrames {
            non_ip: 1,
            too_short: 1
        }
    );
}

// ---------------------------------------------------------------------------------------
// Classic pcap variants
// ---------------------------------------------------------------------------------------

#[test]
fn classic_pcap_in_both_byte_orders_and_resolutions() {
    let cases = [
        (Order::Little, 0xA1B2_C3D4, 123_456, 123_456_000),
        (Order::Big, 0xA1B2_C3D4, 123_456, 123_456_000),
        (Order::Little, 0xA1B2_3C4D, 123_456_789, 123_456_789),
        (Order::Big, 0xA1B2_3C4D, 123_456_789, 123_456_789),
    ];
    for (order, magic, fraction, nanos) in cases {
        let file = Pcap::new(order, magic, 101)
            .record(1_700_000_000, fraction, &ipv4_syn())
            .record(1_700_000_001, 0, &ipv6_syn());
        let reader = CaptureReader::new(&file.bytes[..]).unwrap();
        assert_eq!(reader.format(), CaptureFormat::Pcap);
        let packets: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(packets.len(), 2, "{order:?} {magic:#x}");
        assert_eq!(
            packets[0].timestamp,
            Duration::new(1_700_000_000, nanos),
            "{order:?} {magic:#x}"
        );
        assert_eq!(packets[1].timestamp, Duration::from_secs(1_700_000_001));
        assert_eq!(packets[0].ip, ipv4_syn());
        assert_eq!(packets[1].ip, ipv6_syn());
        assert_eq!(packets[1].index, 1);
    }
}

#[test]
fn kuznetsov_pcap_records_have_longer_headers() {
    let order = Order::Little;
    let mut bytes = Pcap::new(order, 0xA1B2_CD34, 101).bytes;
    let v4 = ipv4_syn();
    bytes.extend(order.u32(5));
    bytes.extend(order.u32(6));
    bytes.extend(order.u32(v4.len() as u32));
    bytes.extend(order.u32(v4.len() as u32));
    bytes.extend([0; 8]); // ifindex, protocol, packet type, padding
    bytes.extend_from_slice(&v4);
    let packets = read_all(&bytes);
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].ip, v4);
    assert_eq!(packets[0].timestamp, Duration::new(5, 6_000));
}

#[test]
fn fcs_bits_in_the_link_type_field_are_ignored() {
    // Bits 28-31 give the FCS length, bit 26 says it is present.
    let link_type = 1 | (1 << 26) | (4 << 28);
    let mut frame = ethernet(0x0800, &ipv4_syn());
    frame.extend([1, 2, 3, 4]);
    let file = Pcap::new(Order::Big, 0xA1B2_C3D4, link_type).record(0, 0, &frame);
    let packets = read_all(&file.bytes);
    assert_eq!(packets[0].ip, ipv4_syn());
    assert_eq!(packets[0].link_type, LinkType::ETHERNET);
}

#[test]
fn reads_what_pcap_file_writes() {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::DataLink;

    let header = PcapHeader {
        datalink: DataLink::LINUX_SLL,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    let frames = [
        linux_sll(0x0800, &ipv4_syn()),
        linux_sll(0x86DD, &ipv6_syn()),
    ];
    for (i, frame) in frames.iter().enumerate() {
        let timestamp = Duration::new(1_795_247_802 + i as u64, 5_000);
        let packet = PcapPacket::new(timestamp, frame.len() as u32, frame);
        writer.write_packet(&packet).unwrap();
    }
    let packets = read_all(&writer.into_writer());
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].ip, ipv4_syn());
    assert_eq!(packets[1].ip, ipv6_syn());
    assert_eq!(packets[1].timestamp, Duration::new(1_795_247_803, 5_000));
    assert_eq!(packets[1].link_type, LinkType::LINUX_SLL);
}

// ---------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------

/// Two interfaces with different link types and resolutions, plus blocks to ignore.
fn two_interface_pcapng(order: Order) -> PcapNg {
    let nanoseconds: &[u8] = &[9];
    let offset = order_i64(order, 100);
    PcapNg::new(order)
        .interface(1, 0, &[(2, b"eth0"), (9, &[6])])
        .interface(101, 0, &[(9, nanoseconds), (14, &offset)])
        .enhanced(0, 1_700_000_000_123_456, &ethernet(0x0800, &ipv4_syn()))
        .block(4, &[0, 0, 0, 0]) // name resolution block
        .enhanced(1, 1_700_000_000_987_654_321, &ipv6_syn())
        .block(5, &[0; 12]) // interface statistics block
        .block(0x4000_0BAD, b"custom") // custom block
        .simple(&ethernet(0x0806, &[0; 28])) // ARP: skipped, still numbered
        .simple(&ethernet(0x86DD, &ipv6_syn()))
        .enhanced(0, 1_700_000_001_000_000, &ethernet(0x0800, &ipv4_ack()))
}

fn order_i64(order: Order, value: i64) -> [u8; 8] {
    match order {
        Order::Little => value.to_le_bytes(),
        Order::Big => value.to_be_bytes(),
    }
}

#[test]
fn pcapng_interfaces_keep_their_own_link_type_and_resolution() {
    for order in [Order::Little, Order::Big] {
        let file = two_interface_pcapng(order);
        let mut reader = CaptureReader::new(&file.bytes[..]).unwrap();
        assert_eq!(reader.format(), CaptureFormat::PcapNg);
        let packets: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
        let summary: Vec<_> = packets
            .iter()
            .map(|p| (p.index, p.interface, p.link_type))
            .collect();
        assert_eq!(
            summary,
            [
                (0, 0, LinkType::ETHERNET),
                (1, 1, LinkType::RAW),
                (3, 0, LinkType::ETHERNET),
                (4, 0, LinkType::ETHERNET),
            ],
            "{order:?}"
        );
        assert_eq!(packets[0].ip, ipv4_syn());
        assert_eq!(packets[1].ip, ipv6_syn());
        assert_eq!(packets[2].ip, ipv6_syn());
        assert_eq!(packets[3].ip, ipv4_ack());
        assert_eq!(
            packets[0].timestamp,
            Duration::new(1_700_000_000, 123_456_000)
        );
        // Nanosecond units plus the interface's 100 s offset.
        assert_eq!(
            packets[1].timestamp,
            Duration::new(1_700_000_100, 987_654_321)
        );
        assert_eq!(packets[2].timestamp, Duration::ZERO); // simple packets have none
        assert_eq!(packets[3].timestamp, Duration::from_secs(1_700_000_001));
        assert_eq!(packets[1].original_len, ipv6_syn().len() as u32 + 4);
        assert_eq!(reader.skipped().non_ip, 1);
        assert_eq!(reader.frames_read(), 5);
    }
}

#[test]
fn pcapng_binary_resolution_and_obsolete_packet_blocks() {
    let file = PcapNg::new(Order::Little)
        .interface(228, 0, &[(9, &[0x80 | 20])])
        .obsolete_packet(0, (3 << 20) | (1 << 19), &ipv4_syn());
    let packets = read_all(&file.bytes);
    assert_eq!(packets[0].timestamp, Duration::new(3, 500_000_000));
    assert_eq!(packets[0].ip, ipv4_syn());
    assert_eq!(packets[0].link_type, LinkType::IPV4);
}

#[test]
fn pcapng_simple_packet_is_cut_to_the_snap_length() {
    let frame = ethernet(0x0800, &ipv4_syn());
    let file = PcapNg::new(Order::Little)
        .interface(1, 40, &[])
        .simple(&frame);
    let packets = read_all(&file.bytes);
    assert_eq!(packets[0].ip, &ipv4_syn()[..40 - 14]);
}

#[test]
fn pcapng_sections_reset_interfaces_and_byte_order() {
    let file = PcapNg::new(Order::Big)
        .interface(101, 0, &[])
        .enhanced(0, 1_000_000, &ipv4_syn())
        .section(Order::Little)
        .interface(276, 0, &[(9, &[3])])
        .enhanced(0, 2_000, &linux_sll2(0x86DD, &ipv6_syn()));
    let packets = read_all(&file.bytes);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].link_type, LinkType::RAW);
    assert_eq!(packets[0].timestamp, Duration::from_secs(1));
    assert_eq!(packets[1].link_type, LinkType::LINUX_SLL2);
    assert_eq!(packets[1].timestamp, Duration::from_secs(2));
    assert_eq!(packets[1].ip, ipv6_syn());
    assert_eq!(packets[1].index, 1);
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn other_files_are_not_captures() {
    let error = CaptureReader::new(&b"GIF89a\x01\x00"[..]).unwrap_err();
    assert!(matches!(error, CaptureError::NotACapture { .. }));
    assert_eq!(
        error.to_string(),
        "capture input is not a pcap or pcapng file (it starts with bytes 47 49 46 38)"
    );
    assert_eq!(
        CaptureReader::new(&b""[..]).unwrap_err().to_string(),
        "capture input is not a pcap or pcapng file (it is empty)"
    );
    assert_eq!(
        CaptureReader::new(&b"\xd4\xc3"[..])
            .unwrap_err()
            .to_string(),
        "capture input is not a pcap or pcapng file (it is only 2 bytes long)"
    );
}

#[test]
fn missing_file_error_names_the_path() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/no-such-capture.pcap");
    let error = CaptureReader::open(path).unwrap_err();
    assert!(matches!(error, CaptureError::Io { .. }));
    let message = error.to_string();
    assert_eq!(message, format!("cannot read {path}"));
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert!(
        source.is_some_and(|s| s.contains("No such file")),
        "{message}"
    );
}

#[test]
fn truncated_record_names_the_frame() {
    let file = Pcap::new(Order::Little, 0xA1B2_C3D4, 101)
        .record(0, 0, &ipv4_syn())
        .record(0, 0, &ipv6_syn());
    let cut = &file.bytes[..file.bytes.len() - 10];
    let mut reader = CaptureReader::new(cut).unwrap();
    assert!(reader.next().unwrap().is_ok());
    let error = reader.next().unwrap().unwrap_err();
    assert!(matches!(error, CaptureError::Truncated { index: 1, .. }));
    assert_eq!(
        error.to_string(),
        "capture input is truncated: it ends in the middle of frame 2"
    );
    // The reader stops after an error.
    assert!(reader.next().is_none());

    let header_only = &file.bytes[..20];
    assert_eq!(
        CaptureReader::new(header_only).unwrap_err().to_string(),
        "capture input is truncated: it ends inside the file header"
    );
}

#[test]
fn truncated_pcapng_block_names_the_frame() {
    let file = two_interface_pcapng(Order::Little);
    let cut = &file.bytes[..file.bytes.len() - 1];
    let error = first_error(cut);
    assert!(
        matches!(error, CaptureError::Truncated { index: 4, .. }),
        "{error}"
    );
}

#[test]
fn unsupported_link_type_names_the_number() {
    let file = Pcap::new(Order::Little, 0xA1B2_C3D4, 105).record(0, 0, &[0; 30]);
    let error = CaptureReader::new(&file.bytes[..]).unwrap_err();
    assert!(matches!(
        error,
        CaptureError::UnsupportedLinkType {
            link_type: LinkType(105),
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "capture input uses link type 105, which braid cannot decode \
         (supported: ETHERNET, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL, LOOP)"
    );

    // In pcapng the error comes with the first packet on such an interface.
    let file = PcapNg::new(Order::Little)
        .interface(1, 0, &[])
        .interface(147, 0, &[])
        .enhanced(0, 0, &ethernet(0x0800, &ipv4_syn()))
        .enhanced(1, 0, &[1, 2, 3]);
    let mut reader = CaptureReader::new(&file.bytes[..]).unwrap();
    assert!(reader.next().unwrap().is_ok());
    let error = reader.next().unwrap().unwrap_err();
    assert!(error.to_string().contains("link type 147,"), "{error}");
}

#[test]
fn corrupt_structures_are_reported_not_trusted() {
    // A record claiming 4 GiB.
    let mut file = Pcap::new(Order::Little, 0xA1B2_C3D4, 101).bytes;
    file.extend([0; 8]);
    file.extend(u32::MAX.to_le_bytes());
    file.extend(u32::MAX.to_le_bytes());
    let error = first_error(&file);
    assert!(matches!(
        error,
        CaptureError::Malformed { index: Some(0), .. }
    ));
    assert!(error
        .to_string()
        .starts_with("capture input is corrupt at frame 1: "));

    // A packet on an interface that was never described.
    let file = PcapNg::new(Order::Little)
        .interface(101, 0, &[])
        .enhanced(3, 0, &ipv4_syn());
    let message = first_error(&file.bytes).to_string();
    assert!(message.contains("interface 3"), "{message}");

    // Block length fields that disagree.
    let mut file = PcapNg::new(Order::Little).interface(101, 0, &[]).bytes;
    let end = file.len();
    file[end - 4] ^= 4;
    let message = first_error(&file).to_string();
    assert!(message.contains("differs"), "{message}");

    // A captured length larger than its block.
    let mut file = PcapNg::new(Order::Little)
        .interface(101, 0, &[])
        .enhanced(0, 0, &ipv4_syn())
        .bytes;
    let captured_len_at = file.len() - 4 - 64 - 8;
    file[captured_len_at] = 200;
    let message = first_error(&file).to_string();
    assert!(message.contains("captured bytes"), "{message}");

    // A pcap version that does not exist.
    let mut file = Pcap::new(Order::Little, 0xA1B2_C3D4, 101).bytes;
    file[4] = 9;
    assert_eq!(
        first_error(&file).to_string(),
        "capture input is corrupt in its file header: unsupported pcap version 9.4"
    );
}

// ---------------------------------------------------------------------------------------
// Robustness: no input may panic the reader
// ---------------------------------------------------------------------------------------

/// Outcome of reading everything: packets until the first error.
fn drain(bytes: &[u8]) -> (usize, Option<CaptureError>) {
    let mut reader = match CaptureReader::new(bytes) {
        Ok(reader) => reader,
        Err(error) => return (0, Some(error)),
    };
    let mut count = 0;
    for item in reader.by_ref() {
        match item {
            Ok(_) => count += 1,
            Err(error) => return (count, Some(error)),
        }
    }
    (count, None)
}

#[test]
fn every_truncation_is_an_error_unless_it_falls_between_records() {
    let classic = Pcap::new(Order::Big, 0xA1B2_3C4D, 1)
        .record(1, 2, &ethernet(0x0800, &ipv4_syn()))
        .record(3, 4, &ethernet(0x0806, &[0; 28]))
        .record(5, 6, &ethernet_tagged(&[0x8100], 0x86DD, &ipv6_syn()));
    let ng = two_interface_pcapng(Order::Little);
    for (name, bytes, boundaries) in [
        ("pcap", &classic.bytes, &classic.boundaries),
        ("pcapng", &ng.bytes, &ng.boundaries),
    ] {
        let (full_count, error) = drain(bytes);
        assert!(error.is_none(), "{name}: {error:?}");
        for len in 0..bytes.len() {
            let (count, error) = drain(&bytes[..len]);
            assert!(count <= full_count, "{name} cut at {len}");
            if boundaries.contains(&len) {
                assert!(error.is_none(), "{name} cut at {len}: {error:?}");
            } else {
                let error = error.unwrap_or_else(|| panic!("{name} cut at {len} read cleanly"));
                assert!(
                    matches!(
                        error,
                        CaptureError::NotACapture { .. }
                            | CaptureError::TruncatedHeader { .. }
                            | CaptureError::Truncated { .. }
                    ),
                    "{name} cut at {len}: {error}"
                );
            }
        }
    }
}

/// xorshift64: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn garbage_never_panics() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let magics: [&[u8]; 6] = [
        &[0xD4, 0xC3, 0xB2, 0xA1],
        &[0xA1, 0xB2, 0xC3, 0xD4],
        &[0x4D, 0x3C, 0xB2, 0xA1],
        &[0xA1, 0xB2, 0x3C, 0x4D],
        &[0x34, 0xCD, 0xB2, 0xA1],
        &[0x0A, 0x0D, 0x0D, 0x0A],
    ];
    for round in 0..20_000 {
        let len = noise.below(600);
        let mut bytes: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
        // Most rounds get a valid magic so the noise reaches the record parsers.
        if round % 4 != 0 {
            let magic = magics[noise.below(magics.len())];
            bytes.splice(0..len.min(4), magic.iter().copied());
        }
        drain(&bytes);
    }
}

#[test]
fn corrupted_captures_never_panic() {
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let classic = Pcap::new(Order::Little, 0xA1B2_C3D4, 113)
        .record(1, 2, &linux_sll(0x0800, &ipv4_syn()))
        .record(3, 4, &linux_sll(0x86DD, &ipv6_syn()))
        .bytes;
    let ng = two_interface_pcapng(Order::Big).bytes;
    for round in 0..20_000 {
        let mut bytes = if round % 2 == 0 {
            classic.clone()
        } else {
            ng.clone()
        };
        for _ in 0..=noise.below(4) {
            let at = noise.below(bytes.len());
            bytes[at] = match noise.below(4) {
                0 => 0,
                1 => 0xFF,
                _ => noise.next() as u8,
            };
        }
        if round % 3 == 0 {
            bytes.truncate(noise.below(bytes.len() + 1));
        }
        drain(&bytes);
    }
}

// ---------------------------------------------------------------------------------------
// Golden captures
// ---------------------------------------------------------------------------------------

macro_rules! capture {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/captures/",
            $name
        )
    };
}

/// Packet counts as reported by `tshark -r FILE | wc -l`.
const GOLDEN_COUNTS: [(&str, usize); 9] = [
    (capture!("add-addr-then-remove.pcap"), 585),
    (capture!("add-addr-with-port.pcap"), 327),
    (capture!("backup-then-mp-prio.pcap"), 363),
    (capture!("checksum-echo.pcap"), 499),
    (capture!("fallback-peer-plain-tcp.pcap"), 106),
    (capture!("fastclose.pcap"), 113),
    (capture!("ipv6-add-addr-join.pcap"), 581),
    (capture!("join-two-subflows.pcap"), 871),
    (capture!("single-subflow.pcap"), 290),
];

#[test]
fn golden_captures_read_completely() {
    for (path, expected) in GOLDEN_COUNTS {
        let mut reader = CaptureReader::open(path).unwrap();
        assert_eq!(reader.format(), CaptureFormat::Pcap);
        let packets: Vec<_> = reader
            .by_ref()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(packets.len(), expected, "{path}");
        assert_eq!(reader.skipped(), SkippedFrames::default(), "{path}");
        assert_eq!(reader.frames_read(), expected as u64, "{path}");
        let mut previous = Duration::ZERO;
        for (i, packet) in packets.iter().enumerate() {
            assert_eq!(packet.index, i as u64, "{path}");
            assert_eq!(packet.link_type, LinkType::RAW, "{path}");
            assert!(packet.timestamp >= previous, "{path} frame {i}");
            previous = packet.timestamp;
            let version = packet.ip[0] >> 4;
            let declared = match version {
                4 => usize::from(u16::from_be_bytes([packet.ip[2], packet.ip[3]])),
                6 => 40 + usize::from(u16::from_be_bytes([packet.ip[4], packet.ip[5]])),
                other => panic!("{path} frame {i}: IP version {other}"),
            };
            assert_eq!(packet.ip.len(), declared, "{path} frame {i}");
        }
    }
}

#[test]
fn golden_capture_first_packet_matches_tshark() {
    let mut reader = CaptureReader::open(capture!("single-subflow.pcap")).unwrap();
    let first = reader.next_packet().unwrap().unwrap();
    // tshark: frame.time_epoch 1795247802.720771000, 64 bytes, original length 78.
    assert_eq!(first.timestamp, Duration::new(1_795_247_802, 720_771_000));
    assert_eq!(first.ip, ipv4_syn());
    assert_eq!(first.original_len, 78);

    let mut reader = CaptureReader::open(capture!("ipv6-add-addr-join.pcap")).unwrap();
    assert_eq!(reader.next_packet().unwrap().unwrap().ip, ipv6_syn());
}
