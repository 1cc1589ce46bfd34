//! `braid pcap` run as a program on the Linux MPTCP traces of testdata/captures,
//! on captures cut from them (one path only, starting mid-connection, cut short),
//! on the same packets in other link types and in pcapng, and on bad input.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use braid_proto::crypto;
use common::Run;
use serde_json::Value;

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

fn braid(args: &[&str], file: Option<&Path>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_braid"));
    command.args(args);
    if let Some(file) = file {
        command.arg(file);
    }
    common::run(&mut command)
}

/// `braid pcap [flags] file`, which must succeed without a word on stderr.
fn pcap_ok(flags: &[&str], file: &Path) -> String {
    let mut args = vec!["pcap"];
    args.extend_from_slice(flags);
    let run = braid(&args, Some(file));
    assert_eq!(
        run.code,
        Some(0),
        "braid {args:?} {}: stderr: {}",
        file.display(),
        run.stderr
    );
    assert_eq!(run.stderr, "", "braid {args:?} {}", file.display());
    run.stdout
}

fn report_text(file: &Path) -> String {
    pcap_ok(&["--connections"], file)
}

fn report_json(file: &Path) -> Value {
    let out = pcap_ok(&["--connections", "--json"], file);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{out}"))
}

fn segments_json(file: &Path) -> Vec<Value> {
    pcap_ok(&["--json"], file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1))
        })
        .collect()
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/captures")
        .join(name)
}

fn all_captures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(capture(""))
        .expect("testdata/captures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 9, "captures missing");
    paths
}

/// Asserts that `text` has `line` as one of its lines, trimmed.
#[track_caller]
fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l.trim() == line),
        "no line {line:?} in:\n{text}"
    );
}

#[track_caller]
fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "no {part:?} in:\n{text}");
}

fn hex64(v: u64) -> String {
    format!("0x{v:016x}")
}

fn hex32(v: u32) -> String {
    format!("0x{v:08x}")
}

// ---------------------------------------------------------------------------
// Classic pcap and pcapng, read and written by hand
// ---------------------------------------------------------------------------

/// One record of a classic pcap file (microsecond timestamps).
#[derive(Clone)]
struct Record {
    seconds: u32,
    micros: u32,
    data: Vec<u8>,
}

/// The records of a little-endian, microsecond classic pcap: 24-byte file header,
/// then a 16-byte header (seconds, microseconds, captured length, original length)
/// before each record.
fn read_pcap(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).expect("read capture");
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "LE microsecond pcap"
    );
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let len = u32_at(at + 8) as usize;
        records.push(Record {
            seconds: u32_at(at),
            micros: u32_at(at + 4),
            data: bytes[at + 16..at + 16 + len].to_vec(),
        });
        at += 16 + len;
    }
    records
}

fn pcap_bytes(link_type: u32, records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&link_type.to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.seconds.to_le_bytes());
        out.extend_from_slice(&r.micros.to_le_bytes());
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.data);
    }
    out
}

fn pcapng_block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend_from_slice(&total.to_le_bytes());
}

/// A little-endian pcapng file: section header, one interface of `link_type`, then an
/// enhanced packet block per record. With `nanoseconds`, the interface says so with
/// `if_tsresol` = 9 and timestamps are written in nanoseconds.
fn pcapng_bytes(link_type: u16, nanoseconds: bool, records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
    pcapng_block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&link_type.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    if nanoseconds {
        idb.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    }
    pcapng_block(&mut out, 1, &idb);
    for r in records {
        let units = if nanoseconds {
            u64::from(r.seconds) * 1_000_000_000 + u64::from(r.micros) * 1000
        } else {
            u64::from(r.seconds) * 1_000_000 + u64::from(r.micros)
        };
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(units as u32).to_le_bytes());
        epb.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&r.data);
        pcapng_block(&mut out, 6, &epb);
    }
    out
}

fn ethertype(ip: &[u8]) -> [u8; 2] {
    match ip[0] >> 4 {
        4 => [0x08, 0x00],
        6 => [0x86, 0xdd],
        v => panic!("IP version {v}"),
    }
}

/// Re-encapsulates raw IP records with `wrap`.
fn wrapped(records: &[Record], wrap: fn(&[u8]) -> Vec<u8>) -> Vec<Record> {
    records
        .iter()
        .map(|r| Record {
            data: wrap(&r.data),
            ..r.clone()
        })
        .collect()
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    frame.extend_from_slice(&ethertype(ip));
    frame.extend_from_slice(ip);
    // Short frames are padded to 60 bytes on the wire; the padding is not IP.
    if frame.len() < 60 {
        frame.resize(60, 0);
    }
    frame
}

/// Linux cooked capture v2: protocol, reserved, ifindex, ARPHRD, packet type, address
/// length, 8-byte address.
fn linux_sll2(ip: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&ethertype(ip));
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&3u32.to_be_bytes());
    frame.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    frame.push(0); // PACKET_HOST
    frame.push(6);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
    frame.extend_from_slice(ip);
    frame
}

/// Linux cooked capture v1: packet type, ARPHRD, address length, 8-byte address,
/// protocol.
fn linux_sll(ip: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&4u16.to_be_bytes()); // PACKET_OUTGOING
    frame.extend_from_slice(&1u16.to_be_bytes());
    frame.extend_from_slice(&6u16.to_be_bytes());
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
    frame.extend_from_slice(&ethertype(ip));
    frame.extend_from_slice(ip);
    frame
}

/// BSD loopback (NULL): the address family in the writer's byte order, here little
/// endian, with macOS's AF_INET6.
fn bsd_loopback(ip: &[u8]) -> Vec<u8> {
    let family: u32 = if ip[0] >> 4 == 4 { 2 } else { 30 };
    let mut frame = family.to_le_bytes().to_vec();
    frame.extend_from_slice(ip);
    frame
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test capture");
    path
}

fn is_in(ip: &[u8], prefix: [u8; 3]) -> bool {
    ip[0] >> 4 == 4 && (ip[12..15] == prefix || ip[16..19] == prefix)
}

// ---------------------------------------------------------------------------
// join-two-subflows.pcap: keys, tokens, the two subflows
// ---------------------------------------------------------------------------

const JOIN_CLIENT_KEY: u64 = 0xc7b2_bd80_8efd_ed88;
const JOIN_SERVER_KEY: u64 = 0xffdc_b935_a9b6_1e86;
/// Worked out by hand, not by braid:
/// `python3 -c "import hashlib; print(hashlib.sha256((0xffdcb935a9b61e86).to_bytes(8, 'big')).hexdigest()[:8])"`
/// prints `117e4b01`: the server's token, which the MP_JOIN SYN of frame 382 carries.
const JOIN_SERVER_TOKEN_BY_HAND: u32 = 0x117e_4b01;
/// Same for the client key 0xc7b2bd808efded88: `1d86065f`.
const JOIN_CLIENT_TOKEN_BY_HAND: u32 = 0x1d86_065f;

/// The keys as the MP_CAPABLE options on the wire carry them, read from the per-segment
/// JSON rather than from the connection report.
fn wire_keys(segments: &[Value]) -> (u64, u64) {
    let option = |frame: u64| -> &Value {
        let s = &segments[frame as usize - 1];
        assert_eq!(s["frame"], frame);
        &s["mptcp"][0]
    };
    let parse = |v: &Value| u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16);
    let syn_ack = option(2);
    assert_eq!(syn_ack["subtype"], "MP_CAPABLE");
    assert_eq!(syn_ack["stage"], "syn-ack");
    let ack = option(3);
    assert_eq!(ack["stage"], "ack");
    assert_eq!(ack["receiver_key"], syn_ack["sender_key"]);
    (
        parse(&ack["sender_key"]).unwrap(),
        parse(&syn_ack["sender_key"]).unwrap(),
    )
}

#[test]
fn join_two_subflows_tokens_match_sha256_of_the_keys() {
    assert_eq!(crypto::token(JOIN_SERVER_KEY), JOIN_SERVER_TOKEN_BY_HAND);
    assert_eq!(crypto::token(JOIN_CLIENT_KEY), JOIN_CLIENT_TOKEN_BY_HAND);
    let segments = segments_json(&capture("join-two-subflows.pcap"));
    assert_eq!(wire_keys(&segments), (JOIN_CLIENT_KEY, JOIN_SERVER_KEY));
    // The join is sent to the server: its SYN names the server's token.
    let join = &segments[381];
    assert_eq!(join["frame"], 382);
    assert_eq!(join["src"], "10.0.2.1");
    assert_eq!(join["mptcp"][0]["token"], hex32(JOIN_SERVER_TOKEN_BY_HAND));
}

#[test]
fn join_two_subflows_report_text() {
    let text = report_text(&capture("join-two-subflows.pcap"));
    assert_eq!(
        text.matches("MPTCP connection ").count(),
        1,
        "one connection:\n{text}"
    );
    assert_line(&text, "MPTCP connection 1: 10.0.1.1:35624 -> 10.0.1.2:5001");
    assert_line(
        &text,
        &format!(
            "client key {}  token {}",
            hex64(JOIN_CLIENT_KEY),
            hex32(crypto::token(JOIN_CLIENT_KEY))
        ),
    );
    assert_line(
        &text,
        &format!(
            "server key {}  token {}",
            hex64(JOIN_SERVER_KEY),
            hex32(JOIN_SERVER_TOKEN_BY_HAND)
        ),
    );
    assert_line(&text, "DSS checksums: off");
    assert_line(&text, "subflows: 2");
    assert_line(
        &text,
        "1. 10.0.1.1:35624 <-> 10.0.1.2:5001  initial by client, address ids 0/0, backup no",
    );
    assert_line(
        &text,
        "2. 10.0.2.1:57821 <-> 10.0.1.2:5001  join by client, address ids 1/0, backup no, HMAC ok",
    );
    assert_line(&text, "726 packets, 705800 payload bytes, first frame 1");
    assert_line(&text, "145 packets, 110584 payload bytes, first frame 382");
    assert_line(&text, "DATA_FIN from client and server");
    assert!(!text.contains("fallback"), "{text}");
    assert!(!text.contains("without its handshake"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");
}

#[test]
fn join_two_subflows_report_json() {
    let file = capture("join-two-subflows.pcap");
    let report = report_json(&file);
    let connections = report["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1);
    let c = &connections[0];
    assert_eq!(c["client_key"], hex64(JOIN_CLIENT_KEY));
    assert_eq!(c["server_key"], hex64(JOIN_SERVER_KEY));
    assert_eq!(c["client_token"], hex32(crypto::token(JOIN_CLIENT_KEY)));
    assert_eq!(c["server_token"], hex32(crypto::token(JOIN_SERVER_KEY)));
    assert_eq!(c["client_token"], hex32(JOIN_CLIENT_TOKEN_BY_HAND));
    assert_eq!(c["server_token"], hex32(JOIN_SERVER_TOKEN_BY_HAND));
    assert_eq!(c["join_token"], Value::Null);
    assert_eq!(c["checksums"], false);
    assert_eq!(c["key_mismatch"], false);
    assert_eq!(c["fallback"], Value::Null);

    let subflows = c["subflows"].as_array().unwrap();
    assert_eq!(subflows.len(), 2);
    let (initial, join) = (&subflows[0], &subflows[1]);
    assert_eq!(initial["kind"], "initial");
    assert_eq!(initial["initiator"], "10.0.1.1:35624");
    assert_eq!(initial["responder"], "10.0.1.2:5001");
    assert_eq!(initial["opened_by"], "client");
    assert_eq!(initial["initiator_addr_id"], 0);
    assert_eq!(initial["responder_addr_id"], 0);
    assert_eq!(join["kind"], "join");
    assert_eq!(join["initiator"], "10.0.2.1:57821");
    assert_eq!(join["responder"], "10.0.1.2:5001");
    assert_eq!(join["opened_by"], "client");
    assert_eq!(join["initiator_addr_id"], 1);
    assert_eq!(join["responder_addr_id"], 0);
    assert_eq!(join["initiator_backup"], false);
    assert_eq!(join["responder_backup"], false);
    assert_eq!(join["join_hmacs_valid"], true);
    assert_eq!(join["first_frame"], 382);

    assert_eq!(report["unattributed_subflows"], serde_json::json!([]));
    assert_eq!(report["plain_tcp_connections"], 0);

    // Every segment is counted once, in the subflow of its 4-tuple.
    let segments = segments_json(&file);
    let packets: u64 = subflows
        .iter()
        .map(|s| s["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, segments.len() as u64);
    for s in subflows {
        let ends = [
            s["initiator"].as_str().unwrap(),
            s["responder"].as_str().unwrap(),
        ];
        let (mut count, mut bytes) = (0, 0);
        for seg in &segments {
            let src = format!("{}:{}", seg["src"].as_str().unwrap(), seg["src_port"]);
            let dst = format!("{}:{}", seg["dst"].as_str().unwrap(), seg["dst_port"]);
            if ends.contains(&src.as_str()) && ends.contains(&dst.as_str()) {
                count += 1;
                bytes += seg["payload_len"].as_u64().unwrap();
            }
        }
        assert_eq!(s["packets"], count, "{s}");
        assert_eq!(s["payload_bytes"], bytes, "{s}");
    }
}

/// The MP_JOIN HMACs on the wire are those RFC 8684 §3.2 gives for these keys and
/// nonces, so "HMAC ok" is the right verdict. Worked out with python3:
/// `hmac.new(server_key || client_key, R_B || R_A, sha256)` = `2a823da182637c65...`
/// (SYN-ACK, leftmost 64 bits) and `hmac.new(client_key || server_key, R_A || R_B,
/// sha256)` = `83bc0b9bfefc1baf5b47cc8a0594014e54c7c42d...` (ACK, leftmost 160 bits),
/// with R_A = 0xad544a65 (SYN) and R_B = 0x6ac494d6 (SYN-ACK).
#[test]
fn join_two_subflows_join_hmacs_are_the_rfc_ones() {
    let segments = segments_json(&capture("join-two-subflows.pcap"));
    let mptcp = |frame: usize| segments[frame - 1]["mptcp"][0].clone();
    assert_eq!(mptcp(382)["nonce"], "0xad544a65");
    assert_eq!(mptcp(384)["stage"], "syn-ack");
    assert_eq!(mptcp(384)["nonce"], "0x6ac494d6");
    assert_eq!(mptcp(384)["truncated_hmac"], "0x2a823da182637c65");
    assert_eq!(mptcp(385)["stage"], "ack");
    assert_eq!(
        mptcp(385)["hmac"],
        "83bc0b9bfefc1baf5b47cc8a0594014e54c7c42d"
    );
}

// ---------------------------------------------------------------------------
// The other traces
// ---------------------------------------------------------------------------

#[test]
fn fallback_to_plain_tcp_is_reported() {
    let file = capture("fallback-peer-plain-tcp.pcap");
    let text = report_text(&file);
    assert_contains(
        &text,
        "fallback to TCP: the SYN-ACK (frame 2) carried no MP_CAPABLE",
    );
    assert_line(&text, "client key unknown  token unknown");
    assert_line(&text, "server key unknown  token unknown");
    let report = report_json(&file);
    let c = &report["connections"][0];
    assert_eq!(report["connections"].as_array().unwrap().len(), 1);
    assert_eq!(
        c["fallback"],
        serde_json::json!({ "reason": "no_mp_capable_in_syn_ack", "frame": 2 })
    );
    assert_eq!(c["client_key"], Value::Null);
    assert_eq!(c["server_key"], Value::Null);
    assert_eq!(c["subflows"][0]["packets"], 106);
    // Only the SYN speaks MPTCP.
    let segments = segments_json(&file);
    let with_mptcp: Vec<_> = segments
        .iter()
        .filter(|s| !s["mptcp"].as_array().unwrap().is_empty())
        .map(|s| s["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(with_mptcp, [1]);
}

/// ADD_ADDR truncated HMACs worked out by hand with python3 (RFC 8684 §3.4.1:
/// HMAC-SHA256 keyed with the announcer's key then the peer's, over address id,
/// address and port, port 0 when absent, as Linux does; rightmost 64 bits):
///
/// ```text
/// k = lambda a, b: a.to_bytes(8, 'big') + b.to_bytes(8, 'big')
/// hmac.new(k(server, client), bytes([1]) + ip.packed + port.to_bytes(2, 'big'),
///          hashlib.sha256).digest()[-8:].hex()
/// ```
const ADD_ADDR_V4_HMAC_BY_HAND: &str = "0xff25c8a75dcf776d";
const ADD_ADDR_PORT_HMAC_BY_HAND: &str = "0xd869d272f9307d50";
const ADD_ADDR_V6_HMAC_BY_HAND: &str = "0xf044793154bdb0f7";

#[test]
fn add_addr_then_remove() {
    let file = capture("add-addr-then-remove.pcap");
    let text = report_text(&file);
    assert_line(
        &text,
        "ADD_ADDR by server: id 1 10.0.2.2 (frame 4, HMAC ok, echoed, later removed)",
    );
    assert_line(&text, "REMOVE_ADDR by server: id 1 (frame 419)");
    assert_line(
        &text,
        "2. 10.0.2.1:43521 <-> 10.0.2.2:5001  join by client, address ids 1/1, backup no, HMAC ok",
    );
    let c = &report_json(&file)["connections"][0];
    assert_eq!(
        c["announced"],
        serde_json::json!([{
            "by": "server",
            "addr_id": 1,
            "addr": "10.0.2.2",
            "port": null,
            "truncated_hmac": ADD_ADDR_V4_HMAC_BY_HAND,
            "hmac_valid": true,
            "echoed": true,
            "removed": true,
            "frame": 4,
        }])
    );
    assert_eq!(
        c["removed"],
        serde_json::json!([{ "by": "server", "addr_id": 1, "frame": 419 }])
    );
    let segments = segments_json(&file);
    assert_eq!(
        segments[418]["mptcp"][1],
        serde_json::json!({ "subtype": "REMOVE_ADDR", "addr_ids": [1] })
    );
    assert_eq!(segments[4]["mptcp"][0]["echo"], true);
}

#[test]
fn add_addr_with_port() {
    let file = capture("add-addr-with-port.pcap");
    let text = report_text(&file);
    assert_line(
        &text,
        "ADD_ADDR by server: id 1 10.0.2.2 port 10100 (frame 4, HMAC ok, echoed)",
    );
    // The join goes to the announced port.
    assert_line(
        &text,
        "2. 10.0.2.1:41925 <-> 10.0.2.2:10100  join by client, address ids 1/1, backup no, HMAC ok",
    );
    assert!(!text.contains("REMOVE_ADDR"), "{text}");
    let a = &report_json(&file)["connections"][0]["announced"][0];
    assert_eq!(a["port"], 10100);
    assert_eq!(a["truncated_hmac"], ADD_ADDR_PORT_HMAC_BY_HAND);
    assert_eq!(a["hmac_valid"], true);
    assert_eq!(a["echoed"], true);
    assert_eq!(a["removed"], false);
    let segments = segments_json(&file);
    assert_eq!(
        segments[4]["mptcp"][0],
        serde_json::json!({
            "subtype": "ADD_ADDR", "echo": true, "addr_id": 1, "addr": "10.0.2.2", "port": 10100
        })
    );
}

#[test]
fn ipv6_add_addr_and_join() {
    let file = capture("ipv6-add-addr-join.pcap");
    let text = report_text(&file);
    assert_line(
        &text,
        "MPTCP connection 1: [dead:1::1]:54110 -> [dead:1::2]:5001",
    );
    assert_line(
        &text,
        "ADD_ADDR by server: id 1 dead:2::2 (frame 4, HMAC ok, echoed)",
    );
    assert_line(
        &text,
        "2. [dead:2::1]:57213 <-> [dead:2::2]:5001  join by client, address ids 1/1, backup no, HMAC ok",
    );
    let c = &report_json(&file)["connections"][0];
    assert_eq!(c["announced"][0]["addr"], "dead:2::2");
    assert_eq!(
        c["announced"][0]["truncated_hmac"],
        ADD_ADDR_V6_HMAC_BY_HAND
    );
    assert_eq!(c["announced"][0]["hmac_valid"], true);
    assert_eq!(c["subflows"][1]["initiator"], "[dead:2::1]:57213");
}

#[test]
fn backup_then_mp_prio() {
    let file = capture("backup-then-mp-prio.pcap");
    let segments = segments_json(&file);
    // The join asks for a backup subflow; 1.4 s later MP_PRIO takes it back.
    let join_syn = &segments[27]["mptcp"][0];
    assert_eq!(join_syn["subtype"], "MP_JOIN");
    assert_eq!(join_syn["backup"], true);
    assert_eq!(
        segments[250]["mptcp"][1],
        serde_json::json!({ "subtype": "MP_PRIO", "backup": false })
    );
    let lines = pcap_ok(&[], &file);
    assert_contains(
        lines.lines().nth(27).unwrap(),
        "| MP_JOIN syn backup addr_id=1",
    );

    let text = report_text(&file);
    assert_line(
        &text,
        "2. 10.0.2.1:39775 <-> 10.0.1.2:5001  join by client, address ids 1/0, backup no, HMAC ok",
    );
    assert_line(
        &text,
        "MP_PRIO by client (initiator) at frame 251: backup yes -> no",
    );
    let join = &report_json(&file)["connections"][0]["subflows"][1];
    assert_eq!(join["initiator_backup"], false);
    assert_eq!(
        join["priority_changes"],
        serde_json::json!([{
            "frame": 251,
            "by": "client",
            "from_initiator": true,
            "was_backup": true,
            "backup": false,
        }])
    );
}

#[test]
fn fastclose_and_reset() {
    let file = capture("fastclose.pcap");
    let text = report_text(&file);
    assert_line(&text, "MP_FASTCLOSE from client");
    assert_contains(&text, ", reset (MP_TCPRST reason 0: unspecified)");
    let c = &report_json(&file)["connections"][0];
    assert_eq!(c["fastclose_from"], "client");
    assert_eq!(c["subflows"][0]["reset"], true);
    assert_eq!(c["subflows"][0]["reset_reason"], 0);
    // MP_FASTCLOSE carries the key of its receiver (§3.5), here the server's.
    let segments = segments_json(&file);
    let last = segments.last().unwrap();
    assert_eq!(last["flags"], "R.");
    assert_eq!(last["mptcp"][0]["subtype"], "MP_FASTCLOSE");
    assert_eq!(last["mptcp"][0]["receiver_key"], c["server_key"]);
    assert_eq!(last["mptcp"][1]["subtype"], "MP_TCPRST");
    assert_eq!(last["mptcp"][1]["reason"], 0);
}

#[test]
fn checksum_echo_has_checksums_on() {
    let file = capture("checksum-echo.pcap");
    let text = report_text(&file);
    assert_line(&text, "DSS checksums: on");
    assert_eq!(report_json(&file)["connections"][0]["checksums"], true);
    // Every mapping carries a checksum.
    let segments = segments_json(&file);
    let mut mappings = 0;
    for s in &segments {
        for o in s["mptcp"].as_array().unwrap() {
            if o["subtype"] == "DSS" && o.get("dsn").is_some() {
                mappings += 1;
                assert!(o.get("checksum").is_some(), "{s}");
            }
        }
    }
    assert!(mappings > 10, "{mappings} mappings");
    // The others negotiate no checksum.
    for name in ["join-two-subflows.pcap", "add-addr-then-remove.pcap"] {
        assert_line(&report_text(&capture(name)), "DSS checksums: off");
    }
}

// ---------------------------------------------------------------------------
// Partial captures
// ---------------------------------------------------------------------------

#[test]
fn capture_of_the_second_path_only() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = read_pcap(&capture("join-two-subflows.pcap"))
        .into_iter()
        .filter(|r| is_in(&r.data, [10, 0, 2]))
        .collect();
    assert_eq!(records.len(), 145);
    let file = write(dir.path(), "path2.pcap", &pcap_bytes(101, &records));

    let text = report_text(&file);
    assert_line(&text, "MPTCP connection 1: 10.0.2.1:57821 -> 10.0.1.2:5001");
    assert_line(
        &text,
        &format!(
            "handshake not in the capture; joins sent to token {}",
            hex32(JOIN_SERVER_TOKEN_BY_HAND)
        ),
    );
    assert_line(&text, "DSS checksums: unknown");
    assert_line(&text, "subflows: 1");
    // Who opened it and whether the HMACs are right cannot be known without keys.
    assert_line(
        &text,
        "1. 10.0.2.1:57821 <-> 10.0.1.2:5001  join, address ids 1/0, backup no",
    );
    assert_line(&text, "145 packets, 110584 payload bytes, first frame 1");
    assert!(!text.contains("key"), "no key is invented:\n{text}");
    assert!(!text.contains(&hex64(JOIN_CLIENT_KEY)[2..]), "{text}");
    assert!(!text.contains(&hex64(JOIN_SERVER_KEY)[2..]), "{text}");

    let report = report_json(&file);
    let c = &report["connections"][0];
    assert_eq!(report["connections"].as_array().unwrap().len(), 1);
    for field in ["client_key", "server_key", "client_token", "server_token"] {
        assert_eq!(c[field], Value::Null, "{field}");
    }
    assert_eq!(c["join_token"], hex32(JOIN_SERVER_TOKEN_BY_HAND));
    assert_eq!(c["checksums"], Value::Null);
    let join = &c["subflows"][0];
    assert_eq!(join["kind"], "join");
    assert_eq!(join["opened_by"], Value::Null);
    assert_eq!(join["join_hmacs_valid"], Value::Null);
    assert_eq!(join["packets"], 145);

    // The per-segment view of the same file.
    let lines = pcap_ok(&[], &file);
    assert_eq!(lines.lines().count(), 145);
    assert_contains(
        lines.lines().next().unwrap(),
        "MP_JOIN syn addr_id=1 token=0x117e4b01",
    );
}

#[test]
fn capture_starting_after_every_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let records = read_pcap(&capture("join-two-subflows.pcap"));
    // Frames 382-385 are the join's handshake; drop through frame 400.
    let file = write(dir.path(), "mid.pcap", &pcap_bytes(101, &records[400..]));
    let remaining = records.len() - 400;

    let text = report_text(&file);
    assert_eq!(
        text.matches("MPTCP subflow without its handshake in the capture:")
            .count(),
        2,
        "{text}"
    );
    assert!(!text.contains("MPTCP connection 1"), "{text}");
    assert_line(&text, "no MPTCP handshake in the capture");
    assert!(!text.contains("key"), "no key is invented:\n{text}");
    assert!(!text.contains("token"), "no token is invented:\n{text}");
    assert!(!text.contains("HMAC"), "{text}");

    let report = report_json(&file);
    assert_eq!(report["connections"], serde_json::json!([]));
    let unattributed = report["unattributed_subflows"].as_array().unwrap();
    assert_eq!(unattributed.len(), 2);
    let mut packets = 0;
    for s in unattributed {
        assert_eq!(s["kind"], "unknown");
        assert_eq!(s["opened_by"], Value::Null);
        assert_eq!(s["initiator_addr_id"], Value::Null);
        packets += s["packets"].as_u64().unwrap();
    }
    assert_eq!(packets, remaining as u64);
    let ends: BTreeSet<String> = unattributed
        .iter()
        .flat_map(|s| [s["initiator"].to_string(), s["responder"].to_string()])
        .collect();
    assert!(ends.contains("\"10.0.2.1:57821\""), "{ends:?}");
    assert!(ends.contains("\"10.0.1.1:35624\""), "{ends:?}");

    let lines = pcap_ok(&[], &file);
    assert_eq!(lines.lines().count(), remaining);
    assert!(lines.lines().next().unwrap().trim_start().starts_with("1 "));
}

/// Linux repeats both keys in the MP_CAPABLE of the first data segments: a capture that
/// misses the SYN, or the whole three-way handshake, still shows them, and with them the
/// tokens and the join's owner.
#[test]
fn capture_missing_the_mp_capable_syn() {
    let dir = tempfile::tempdir().unwrap();
    let records = read_pcap(&capture("join-two-subflows.pcap"));
    for skip in [1, 3] {
        let file = write(
            dir.path(),
            &format!("skip{skip}.pcap"),
            &pcap_bytes(101, &records[skip..]),
        );
        let text = report_text(&file);
        assert_eq!(text.matches("MPTCP connection ").count(), 1, "{text}");
        assert_line(&text, "MPTCP connection 1: 10.0.1.1:35624 -> 10.0.1.2:5001");
        assert_line(
            &text,
            &format!(
                "client key {}  token {}",
                hex64(JOIN_CLIENT_KEY),
                hex32(JOIN_CLIENT_TOKEN_BY_HAND)
            ),
        );
        assert_line(
            &text,
            &format!(
                "server key {}  token {}",
                hex64(JOIN_SERVER_KEY),
                hex32(JOIN_SERVER_TOKEN_BY_HAND)
            ),
        );
        assert_contains(&text, "join by client, address ids 1/0, backup no, HMAC ok");
        assert!(!text.contains("without its handshake"), "{text}");
        let report = report_json(&file);
        let packets: u64 = report["connections"][0]["subflows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["packets"].as_u64().unwrap())
            .sum();
        assert_eq!(packets, (records.len() - skip) as u64);
    }
}

// ---------------------------------------------------------------------------
// Per-segment output
// ---------------------------------------------------------------------------

#[test]
fn text_output_is_one_line_per_segment() {
    for file in all_captures() {
        let records = read_pcap(&file);
        let text = pcap_ok(&[], &file);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), records.len(), "{}", file.display());
        for (i, line) in lines.iter().enumerate() {
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some((i + 1).to_string().as_str()), "{line}");
            let time: f64 = words.next().unwrap().parse().expect("time column");
            assert!(time >= 0.0, "{line}");
            assert!(line.contains(" > "), "{line}");
        }
        assert!(lines[0].contains("[S]"), "{}", lines[0]);
        assert!(lines[0].contains("| MP_CAPABLE syn"), "{}", lines[0]);
    }

    let text = pcap_ok(&[], &capture("join-two-subflows.pcap"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "     1   0.000000 10.0.1.1:35624 > 10.0.1.2:5001 [S] seq 1932908437 win 64240 len 0 | MP_CAPABLE syn flags=0x01"
    );
    assert!(lines[1].ends_with(&format!(
        "| MP_CAPABLE syn-ack flags=0x01 sender_key={}",
        hex64(JOIN_SERVER_KEY)
    )));
    assert!(lines[2].ends_with(&format!(
        "| MP_CAPABLE ack flags=0x01 sender_key={} receiver_key={}",
        hex64(JOIN_CLIENT_KEY),
        hex64(JOIN_SERVER_KEY)
    )));
    assert_contains(lines[381], "10.0.2.1:57821 > 10.0.1.2:5001 [S]");
    assert_contains(
        lines[381],
        "| MP_JOIN syn addr_id=1 token=0x117e4b01 nonce=0xad544a65",
    );
    assert_contains(
        lines[383],
        "| MP_JOIN syn-ack addr_id=0 hmac=0x2a823da182637c65",
    );
    assert_contains(
        lines[384],
        "| MP_JOIN ack hmac=83bc0b9bfefc1baf5b47cc8a0594014e54c7c42d",
    );
    assert!(lines.iter().any(|l| l.contains("| DSS ack=")));
    assert!(lines.iter().any(|l| l.contains(" data_fin")));
}

#[test]
fn json_output_names_fields_after_rfc_8684() {
    let mut names = BTreeSet::new();
    for file in all_captures() {
        let records = read_pcap(&file);
        let segments = segments_json(&file);
        assert_eq!(segments.len(), records.len(), "{}", file.display());
        for (i, s) in segments.iter().enumerate() {
            assert_eq!(s["frame"], i + 1);
            for key in ["src", "dst", "flags"] {
                assert!(s[key].is_string(), "{key} in {s}");
            }
            for key in ["src_port", "dst_port", "seq", "ack", "payload_len"] {
                assert!(s[key].is_u64(), "{key} in {s}");
            }
            assert!(s["time"].is_f64(), "{s}");
            for option in s["mptcp"].as_array().expect("mptcp array") {
                assert!(option["subtype"].is_string(), "{option}");
                names.extend(option.as_object().unwrap().keys().cloned());
            }
        }
    }
    for name in [
        "sender_key",
        "receiver_key",
        "token",
        "nonce",
        "truncated_hmac",
        "hmac",
        "data_ack",
        "dsn",
        "ssn",
        "data_level_length",
        "checksum",
        "data_fin",
        "addr_id",
        "addr",
        "port",
        "echo",
        "backup",
        "reason",
        "addr_ids",
    ] {
        assert!(names.contains(name), "no field {name:?} in {names:?}");
    }

    let segments = segments_json(&capture("join-two-subflows.pcap"));
    assert_eq!(
        segments[381]["mptcp"][0],
        serde_json::json!({
            "subtype": "MP_JOIN",
            "stage": "syn",
            "backup": false,
            "addr_id": 1,
            "token": "0x117e4b01",
            "nonce": "0xad544a65",
        })
    );
    // 64-bit data sequence numbers come through exactly (beyond 2^53).
    let dss = &segments[382]["mptcp"][0];
    assert_eq!(dss["subtype"], "DSS");
    assert_eq!(dss["data_ack"].as_u64(), Some(15_454_847_312_162_919_638));
    assert_eq!(dss["data_ack_bits"], 64);
}

// ---------------------------------------------------------------------------
// Other link types and pcapng
// ---------------------------------------------------------------------------

/// A few real packets of both families: the MP_CAPABLE handshake and first segments,
/// the MP_JOIN handshake, and the IPv6 ADD_ADDR exchange.
fn sample_records() -> Vec<Record> {
    let v4 = read_pcap(&capture("join-two-subflows.pcap"));
    let v6 = read_pcap(&capture("ipv6-add-addr-join.pcap"));
    let mut records = v4[..8].to_vec();
    records.extend_from_slice(&v4[380..388]);
    records.extend_from_slice(&v6[..8]);
    // Keep capture order for the time column.
    records.sort_by_key(|r| (r.seconds, r.micros));
    records
}

#[test]
fn other_link_types_and_pcapng_read_like_raw_ip() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records();
    let raw = write(dir.path(), "raw.pcap", &pcap_bytes(101, &records));
    let expected_text = pcap_ok(&[], &raw);
    let expected_json = pcap_ok(&["--json"], &raw);
    let expected_report = pcap_ok(&["--connections"], &raw);
    assert_eq!(expected_text.lines().count(), records.len());
    assert_contains(&expected_text, "MP_JOIN syn");
    assert_contains(&expected_text, "ADD_ADDR addr_id=1 addr=dead:2::2");

    let variants = [
        (
            "ethernet.pcapng",
            pcapng_bytes(1, false, &wrapped(&records, ethernet)),
        ),
        (
            "sll2.pcapng",
            pcapng_bytes(276, false, &wrapped(&records, linux_sll2)),
        ),
        (
            "sll2-nanoseconds.pcapng",
            pcapng_bytes(276, true, &wrapped(&records, linux_sll2)),
        ),
        ("raw.pcapng", pcapng_bytes(101, false, &records)),
        ("ethernet.pcap", pcap_bytes(1, &wrapped(&records, ethernet))),
        ("sll.pcap", pcap_bytes(113, &wrapped(&records, linux_sll))),
        ("null.pcap", pcap_bytes(0, &wrapped(&records, bsd_loopback))),
    ];
    for (name, bytes) in variants {
        let file = write(dir.path(), name, &bytes);
        let text = pcap_ok(&[], &file);
        for (i, (got, want)) in text.lines().zip(expected_text.lines()).enumerate() {
            assert_eq!(got, want, "{name}, line {}", i + 1);
        }
        assert_eq!(text.lines().count(), records.len(), "{name}");
        assert_eq!(pcap_ok(&["--json"], &file), expected_json, "{name}");
        assert_eq!(
            pcap_ok(&["--connections"], &file),
            expected_report,
            "{name}"
        );
    }
}

/// A non-IP frame takes a frame number, as in Wireshark, but no line.
#[test]
fn non_ip_frames_are_skipped_but_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = wrapped(&sample_records()[..4], ethernet);
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06]);
    arp.resize(60, 0);
    records.insert(
        1,
        Record {
            data: arp,
            ..records[0].clone()
        },
    );
    let file = write(dir.path(), "arp.pcapng", &pcapng_bytes(1, false, &records));
    let text = pcap_ok(&[], &file);
    let frames: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(frames, ["1", "3", "4", "5"]);
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

/// Every mode fails the same way: exit code 1, one line on stderr that starts with
/// "braid: ", no panic.
#[track_caller]
fn assert_fails_cleanly(file: &Path, wanted: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    for flags in [
        &[][..],
        &["--json"][..],
        &["--connections"][..],
        &["--connections", "--json"][..],
    ] {
        let mut args = vec!["pcap"];
        args.extend_from_slice(flags);
        let run = braid(&args, Some(file));
        let context = format!("braid {args:?} {}: stderr {:?}", file.display(), run.stderr);
        assert_eq!(run.code, Some(1), "{context}");
        assert!(!run.stderr.contains("panicked"), "{context}");
        assert!(run.stderr.ends_with('\n'), "{context}");
        assert_eq!(run.stderr.lines().count(), 1, "{context}");
        assert!(run.stderr.starts_with("braid: "), "{context}");
        assert_contains(&run.stderr, wanted);
        runs.push(run);
    }
    runs
}

#[test]
fn not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "notes.txt", b"hello, this is not a capture\n");
    for run in assert_fails_cleanly(
        &file,
        "is not a pcap or pcapng file (it starts with bytes 68 65 6c 6c)",
    ) {
        assert_eq!(run.stdout, "");
    }
    let short = write(dir.path(), "short", b"ab");
    assert_fails_cleanly(
        &short,
        "is not a pcap or pcapng file (it is only 2 bytes long)",
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "empty.pcap", b"");
    for run in assert_fails_cleanly(&file, "is not a pcap or pcapng file (it is empty)") {
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn truncated_header() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(capture("join-two-subflows.pcap")).unwrap();
    let file = write(dir.path(), "header.pcap", &bytes[..10]);
    assert_fails_cleanly(&file, "is truncated: it ends inside the file header");
    let ng = pcapng_bytes(1, false, &[]);
    let file = write(dir.path(), "header.pcapng", &ng[..20]);
    assert_fails_cleanly(&file, "is truncated: it ends inside the file header");
}

/// A capture cut in the middle of a record (tcpdump killed while writing): the frames
/// before the cut are still shown, then braid fails.
#[test]
fn truncated_capture() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(capture("join-two-subflows.pcap")).unwrap();
    let file = write(dir.path(), "cut.pcap", &bytes[..100_000]);
    let runs = assert_fails_cleanly(&file, "is truncated: it ends in the middle of frame 101");
    let [text, json, report, report_json] = &runs[..] else {
        unreachable!()
    };
    assert_eq!(text.stdout.lines().count(), 100);
    assert_eq!(json.stdout.lines().count(), 100);
    for line in json.stdout.lines() {
        serde_json::from_str::<Value>(line).expect("JSON line");
    }
    assert_line(
        &report.stdout,
        "100 packets, 90464 payload bytes, first frame 1",
    );
    assert_line(
        &report.stdout,
        &format!(
            "client key {}  token {}",
            hex64(JOIN_CLIENT_KEY),
            hex32(JOIN_CLIENT_TOKEN_BY_HAND)
        ),
    );
    let doc: Value = serde_json::from_str(&report_json.stdout).expect("report JSON");
    assert_eq!(doc["connections"][0]["subflows"][0]["packets"], 100);
}

#[test]
fn unsupported_link_type() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records();
    // 105 is IEEE 802.11.
    let file = write(dir.path(), "wifi.pcap", &pcap_bytes(105, &records));
    for run in assert_fails_cleanly(&file, "uses link type 105, which braid cannot decode") {
        assert_eq!(run.stdout, "");
    }
    let file = write(
        dir.path(),
        "wifi.pcapng",
        &pcapng_bytes(105, false, &records),
    );
    assert_fails_cleanly(&file, "uses link type 105, which braid cannot decode");
}

#[test]
fn missing_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.pcap");
    assert_fails_cleanly(&missing, "no-such.pcap");
    assert_fails_cleanly(dir.path(), &dir.path().display().to_string());
}

#[test]
fn no_file_is_a_usage_error() {
    let run = braid(&["pcap"], None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_contains(&run.stderr, "required arguments were not provided");
    assert_contains(&run.stderr, "<FILE>");
    assert_contains(&run.stderr, "Usage: braid pcap");
    assert!(!run.stderr.contains("panicked"));
}

/// `braid pcap FILE | head` ends quietly, in both output formats.
#[test]
fn closed_pipe_is_not_an_error() {
    for flags in [&[][..], &["--json"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
            .arg("pcap")
            .args(flags)
            .arg(capture("join-two-subflows.pcap"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run braid");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.contains("10.0.1.1"), "{first}");
        drop(stdout);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{flags:?}: {stderr}");
        assert_eq!(stderr, "", "{flags:?}");
    }
}
