//! Writes a seed corpus for the fuzz targets from the Linux captures in
//! `testdata/captures`: `cargo run --example seed_corpus [OUT_DIR]` (from `fuzz/`;
//! `OUT_DIR` defaults to `fuzz/corpus`, which git ignores).
//!
//! - `packet/`: one IP packet per distinct shape (IP version, TCP flags, option kinds
//!   with MPTCP subtypes and lengths), so the thousands of plain DSS segments count once;
//! - `mptcp_option/`: the body (after kind and length) of one option per MPTCP subtype,
//!   flags octet and length;
//! - `capture_file/`: small captures, as pcap and as pcapng: the first packets of each
//!   capture, and the packets around the first ADD_ADDR, REMOVE_ADDR, MP_PRIO,
//!   MP_FASTCLOSE and MP_TCPRST;
//! - `endpoint_pair/`: pseudo-random programs of a few hundred to two thousand bytes.
//!   Its inputs are programs, not packets; libFuzzer, started from nothing, keeps them
//!   a few bytes long for a long time, and so never gets past the setup.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use braid::capture::{decode, CaptureReader, CapturedPacket, Decoded};
use braid_proto::wire::mptcp::subtype;
use braid_proto::wire::tcp_option::{TcpOption, TcpOptions};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/captures");
/// Packets in the small captures.
const WINDOW: usize = 10;
/// libpcap link type for packets that start with the IP header.
const LINKTYPE_RAW: u32 = 101;

fn main() {
    let out = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    let dirs =
        ["packet", "mptcp_option", "capture_file", "endpoint_pair"].map(|target| out.join(target));
    for dir in &dirs {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let [packet_dir, option_dir, capture_dir, programs_dir] = &dirs;
    let programs = random_programs(programs_dir);

    let mut captures: Vec<PathBuf> = fs::read_dir(CAPTURES)
        .expect("testdata/captures")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcap"))
        .collect();
    captures.sort();

    let mut shapes = HashSet::new();
    let mut option_shapes = HashSet::new();
    let mut written = [0usize; 3];
    let mut write = |target: usize, dir: &Path, name: String, bytes: &[u8]| {
        fs::write(dir.join(name), bytes).expect("write a seed");
        written[target] += 1;
    };
    for path in &captures {
        let stem = path.file_stem().expect("file name").to_string_lossy();
        let packets: Vec<CapturedPacket> = CaptureReader::open(path)
            .expect("open capture")
            .collect::<Result<_, _>>()
            .expect("read capture");
        let mut rare_seen = HashSet::new();
        let mut windows = vec![0];
        for (i, packet) in packets.iter().enumerate() {
            let Ok(Decoded::Tcp(segment)) = decode(&packet.ip) else {
                continue;
            };
            let mut shape = vec![packet.ip[0] >> 4, segment.tcp.flags.bits() as u8];
            for option in TcpOptions::new(segment.tcp.options).flatten() {
                shape.push(option.kind());
                if let TcpOption::Mptcp(m) = option {
                    let mut bytes = [0u8; 40];
                    let len = m.emit(&mut bytes);
                    shape.extend_from_slice(&[bytes[1], bytes[2]]);
                    if option_shapes.insert((bytes[1], bytes[2])) {
                        let name = format!("{stem}-{}-{:02x}-{len}", packet.index, bytes[2]);
                        write(1, option_dir, name, &bytes[2..len]);
                    }
                    let rare = [
                        subtype::ADD_ADDR,
                        subtype::REMOVE_ADDR,
                        subtype::MP_PRIO,
                        subtype::MP_FASTCLOSE,
                        subtype::MP_TCPRST,
                    ];
                    if rare.contains(&m.subtype()) && rare_seen.insert(m.subtype()) {
                        windows.push(i.saturating_sub(WINDOW / 2));
                    }
                }
            }
            if shapes.insert(shape) {
                write(
                    0,
                    packet_dir,
                    format!("{stem}-{}", packet.index),
                    &packet.ip,
                );
            }
        }
        windows.dedup();
        for start in windows {
            let slice = &packets[start..(start + WINDOW).min(packets.len())];
            for (ext, file) in [("pcap", pcap(slice)), ("pcapng", pcapng(slice))] {
                let read: Vec<_> = CaptureReader::new(&file[..])
                    .and_then(|reader| reader.map(|p| p.map(|p| p.ip)).collect())
                    .unwrap_or_else(|e| panic!("{ext} seed does not read back: {e}"));
                assert!(read.iter().eq(slice.iter().map(|p| &p.ip)), "{ext} seed");
                write(2, capture_dir, format!("{stem}-{start}.{ext}"), &file);
            }
        }
    }
    println!(
        "wrote {} packet, {} mptcp_option, {} capture_file and {programs} endpoint_pair \
         seeds under {}",
        written[0],
        written[1],
        written[2],
        out.display()
    );
}

/// Writes 64 programs of pseudo-random bytes (xorshift from a fixed seed, so the
/// corpus is the same on every run) for `endpoint_pair`; returns how many.
fn random_programs(dir: &Path) -> usize {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..64 {
        let len = 200 + (next() % 1800) as usize;
        let program: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        fs::write(dir.join(format!("random-{i:02}")), program).expect("write a seed");
    }
    64
}

/// A classic little-endian pcap (microseconds) of raw IP packets.
fn pcap(packets: &[CapturedPacket]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, 65535, LINKTYPE_RAW] {
        file.extend_from_slice(&word.to_le_bytes());
    }
    for packet in packets {
        let len = packet.ip.len() as u32;
        for word in [
            packet.timestamp.as_secs() as u32,
            packet.timestamp.subsec_micros(),
            len,
            len,
        ] {
            file.extend_from_slice(&word.to_le_bytes());
        }
        file.extend_from_slice(&packet.ip);
    }
    file
}

/// A little-endian pcapng: section header, one raw-IP interface, enhanced packet blocks.
fn pcapng(packets: &[CapturedPacket]) -> Vec<u8> {
    let mut file = Vec::new();
    let mut block = |kind: u32, body: &[u8]| {
        let padded = body.len().next_multiple_of(4);
        let total = (12 + padded) as u32;
        file.extend_from_slice(&kind.to_le_bytes());
        file.extend_from_slice(&total.to_le_bytes());
        file.extend_from_slice(body);
        file.resize(file.len() + padded - body.len(), 0);
        file.extend_from_slice(&total.to_le_bytes());
    };
    // Section header: byte-order magic, version 1.0, section length unknown.
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(0x0a0d_0d0a, &shb);
    // Interface description: link type, reserved, snap length; microsecond timestamps.
    let mut idb = Vec::new();
    idb.extend_from_slice(&(LINKTYPE_RAW as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65535u32.to_le_bytes());
    block(1, &idb);
    for packet in packets {
        let micros = packet.timestamp.as_micros() as u64;
        let len = packet.ip.len() as u32;
        let mut epb = Vec::new();
        for word in [0, (micros >> 32) as u32, micros as u32, len, len] {
            epb.extend_from_slice(&word.to_le_bytes());
        }
        epb.extend_from_slice(&packet.ip);
        block(6, &epb);
    }
    file
}
