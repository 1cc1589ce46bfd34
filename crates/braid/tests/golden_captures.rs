//! braid's wire format and crypto against real Linux 6.18 MPTCP traffic
//! (testdata/captures, see its README): every packet parses, every option block
//! re-emits to its original bytes, and every token, HMAC and DSS checksum in the
//! traces is reproduced from the keys they carry.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use braid_proto::crypto;
use braid_proto::wire::mptcp::{MpCapableVariant, MpJoin, MptcpOption, SeqField};
use braid_proto::wire::tcp_option::{emit_options, TcpOptions};
use braid_proto::wire::{ChecksumStatus, TcpFlags};
use support::captures::{all_captures, captures_dir, packets, segment};

#[test]
fn every_packet_of_every_capture_parses_and_its_options_re_emit_exactly() {
    let mut total = 0;
    for path in all_captures() {
        for (frame, ip) in packets(&path) {
            let s = segment(frame, &ip);
            assert_ne!(
                s.checksum,
                ChecksumStatus::Invalid,
                "{} frame {frame}",
                path.display()
            );
            let block = s.tcp.options;
            let options: Vec<_> = TcpOptions::new(block)
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{} frame {frame}: {e}", path.display()));
            let mut out = [0u8; 64];
            let len = emit_options(&options, &mut out);
            // What follows an EOL is zero padding (RFC 9293 §3.1).
            assert!(len <= block.len());
            assert_eq!(
                &out[..block.len()],
                block,
                "{} frame {frame}",
                path.display()
            );
            total += 1;
        }
    }
    assert_eq!(total, 3735, "packets in the nine captures");
}

/// Keys of the connection in a capture holding one MPTCP connection.
struct Keys {
    client: u64,
    server: u64,
    client_addr: SocketAddr,
}

fn keys(frames: &[(u64, Vec<u8>)]) -> Keys {
    for (frame, ip) in frames {
        let s = segment(*frame, ip);
        for o in s.mptcp_options() {
            if let MptcpOption::MpCapable(m) = o {
                if let MpCapableVariant::Ack {
                    sender_key,
                    receiver_key,
                } = m.variant
                {
                    return Keys {
                        client: sender_key,
                        server: receiver_key,
                        client_addr: s.src,
                    };
                }
            }
        }
    }
    panic!("no MP_CAPABLE ACK");
}

#[test]
fn rfc8684_s3_2_join_tokens_and_hmacs_are_reproduced_from_the_keys() {
    let mut joins = 0;
    for name in [
        "join-two-subflows",
        "add-addr-then-remove",
        "add-addr-with-port",
        "backup-then-mp-prio",
        "checksum-echo",
        "ipv6-add-addr-join",
    ] {
        let frames = packets(&captures_dir().join(format!("{name}.pcap")));
        let k = keys(&frames);
        // In these traces the client opens every join, to the server (key B).
        let (key_a, key_b) = (k.client, k.server);
        let (mut r_a, mut r_b) = (None, None);
        for (frame, ip) in &frames {
            let s = segment(*frame, ip);
            for o in s.mptcp_options() {
                match o {
                    MptcpOption::MpJoin(MpJoin::Syn { token, nonce, .. }) => {
                        assert_eq!(token, crypto::token(key_b), "{name} frame {frame}: token");
                        r_a = Some(nonce);
                    }
                    MptcpOption::MpJoin(MpJoin::SynAck {
                        truncated_hmac,
                        nonce,
                        ..
                    }) => {
                        r_b = Some(nonce);
                        let expected = crypto::join_syn_ack_hmac(key_b, key_a, nonce, r_a.unwrap());
                        assert_eq!(
                            truncated_hmac, expected,
                            "{name} frame {frame}: SYN-ACK HMAC"
                        );
                    }
                    MptcpOption::MpJoin(MpJoin::Ack { hmac }) => {
                        let expected =
                            crypto::join_ack_hmac(key_a, key_b, r_a.unwrap(), r_b.unwrap());
                        assert_eq!(hmac, expected, "{name} frame {frame}: ACK HMAC");
                        joins += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(joins, 6);
}

#[test]
fn rfc8684_s3_1_keys_give_the_tokens_and_idsns_linux_uses() {
    // The first DSN each side sends is its IDSN + 1 (RFC 8684 §3.3.1), and the
    // DATA_ACK of the other side starts there too.
    let frames = packets(&captures_dir().join("single-subflow.pcap"));
    let k = keys(&frames);
    let (client_idsn, server_idsn) = (crypto::idsn(k.client), crypto::idsn(k.server));
    let mut first_dsn = HashMap::new();
    for (frame, ip) in &frames {
        let s = segment(*frame, ip);
        for o in s.mptcp_options() {
            if let MptcpOption::Dss(d) = o {
                if let Some(m) = d.mapping {
                    first_dsn.entry(s.src == k.client_addr).or_insert(m.dsn);
                }
            }
        }
    }
    // The client's first segments carry MP_CAPABLE with data, whose mapping starts
    // at IDSN + 1 implicitly; the rest of that 16 KiB mapping is sent as a DSS.
    assert_eq!(first_dsn[&true], SeqField::U64(client_idsn.wrapping_add(1)));
    // The server sends no data: its DATA_FIN takes IDSN + 1.
    assert_eq!(
        first_dsn[&false],
        SeqField::U64(server_idsn.wrapping_add(1))
    );
}

#[test]
fn rfc8684_s3_4_1_add_addr_hmacs_are_reproduced_from_the_keys() {
    let mut checked = 0;
    for name in [
        "add-addr-then-remove",
        "add-addr-with-port",
        "ipv6-add-addr-join",
    ] {
        let frames = packets(&captures_dir().join(format!("{name}.pcap")));
        let k = keys(&frames);
        for (frame, ip) in &frames {
            let s = segment(*frame, ip);
            for o in s.mptcp_options() {
                if let MptcpOption::AddAddr(a) = o {
                    let Some(hmac) = a.truncated_hmac else {
                        continue;
                    };
                    let (sender, receiver) = if s.src == k.client_addr {
                        (k.client, k.server)
                    } else {
                        (k.server, k.client)
                    };
                    let expected =
                        crypto::add_addr_hmac(sender, receiver, a.addr_id, a.addr, a.port);
                    assert_eq!(hmac, expected, "{name} frame {frame}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3);
}

/// One direction of one subflow: its payload by relative sequence number.
#[derive(Default)]
struct Stream {
    isn: Option<u32>,
    bytes: BTreeMap<u32, Vec<u8>>,
}

impl Stream {
    /// Octets `[start, start + len)` in relative sequence space, if all were captured.
    fn range(&self, start: u32, len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut next = start;
        while out.len() < len {
            let (&at, data) = self.bytes.range(..=next).next_back()?;
            let offset = (next - at) as usize;
            if offset >= data.len() {
                return None;
            }
            let take = (len - out.len()).min(data.len() - offset);
            out.extend_from_slice(&data[offset..offset + take]);
            next += take as u32;
        }
        Some(out)
    }
}

#[test]
fn rfc8684_s3_3_1_every_dss_checksum_of_checksum_echo_is_reproduced() {
    let frames = packets(&captures_dir().join("checksum-echo.pcap"));
    let mut streams: HashMap<(SocketAddr, SocketAddr), Stream> = HashMap::new();
    // (direction, dsn, ssn, data-level length, DATA_FIN, checksum)
    let mut mappings = Vec::new();
    for (frame, ip) in &frames {
        let s = segment(*frame, ip);
        let stream = streams.entry((s.src, s.dst)).or_default();
        if s.tcp.flags.contains(TcpFlags::SYN) {
            stream.isn = Some(s.tcp.seq_number);
        }
        let isn = stream.isn.expect("SYN before data");
        if !s.tcp.payload.is_empty() {
            stream
                .bytes
                .insert(s.tcp.seq_number.wrapping_sub(isn), s.tcp.payload.to_vec());
        }
        for o in s.mptcp_options() {
            match o {
                MptcpOption::Dss(d) => {
                    let Some(m) = d.mapping else { continue };
                    let SeqField::U64(dsn) = m.dsn else {
                        panic!("frame {frame}: Linux sends 64-bit DSNs")
                    };
                    let checksum = m
                        .checksum
                        .unwrap_or_else(|| panic!("frame {frame}: mapping without checksum"));
                    mappings.push((
                        (s.src, s.dst),
                        dsn,
                        m.ssn,
                        m.data_level_length,
                        d.data_fin,
                        checksum,
                        *frame,
                    ));
                }
                MptcpOption::MpCapable(m) => {
                    // RFC 8684 §3.1: the first data's mapping is implicit: DSN IDSN + 1,
                    // subflow sequence 1.
                    if let MpCapableVariant::AckWithData {
                        sender_key,
                        data_level_length,
                        checksum,
                        ..
                    } = m.variant
                    {
                        let dsn = crypto::idsn(sender_key).wrapping_add(1);
                        let checksum = checksum.expect("checksum negotiated");
                        mappings.push((
                            (s.src, s.dst),
                            dsn,
                            1,
                            data_level_length,
                            false,
                            checksum,
                            *frame,
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let mut checked = 0;
    for (direction, dsn, ssn, len, data_fin, checksum, frame) in mappings {
        // A DATA_FIN takes one octet of the data-level length but none of the payload.
        let payload_len = len as usize - data_fin as usize;
        let payload = streams[&direction]
            .range(ssn, payload_len)
            .unwrap_or_else(|| panic!("frame {frame}: mapping's payload not all captured"));
        assert_eq!(
            crypto::dss_checksum(dsn, ssn, len, [&payload[..]]),
            checksum,
            "frame {frame}"
        );
        checked += 1;
    }
    // 310 DSS mappings and 5 MP_CAPABLE first-data mappings (counted with tshark).
    assert_eq!(checked, 315);
}
