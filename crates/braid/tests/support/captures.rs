//! The Linux 6.18 MPTCP traces in testdata/captures, read packet by packet.

use std::path::{Path, PathBuf};

use braid::capture::{decode, CaptureReader, Decoded, Segment};

/// `testdata/captures` of the workspace.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures")
}

/// Every `*.pcap` there, sorted by name; at least the nine of the README.
pub fn all_captures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("testdata/captures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 9,
        "captures missing from {}",
        captures_dir().display()
    );
    paths
}

/// The IP packets of a capture with their 1-based frame numbers.
pub fn packets(path: &Path) -> Vec<(u64, Vec<u8>)> {
    CaptureReader::open(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|p| {
            let p = p.unwrap_or_else(|e| panic!("{e}"));
            (p.index + 1, p.ip)
        })
        .collect()
}

/// Decodes a captured packet that must be TCP.
pub fn segment(frame: u64, ip: &[u8]) -> Segment<'_> {
    match decode(ip) {
        Ok(Decoded::Tcp(s)) => s,
        other => panic!("frame {frame}: not a TCP segment: {other:?}"),
    }
}
