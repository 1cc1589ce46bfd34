//! tshark as a test oracle for MPTCP option decoding.
//!
//! [`mptcp_fields`] runs tshark once over a capture with `-T fields` and returns, for every
//! frame in capture order, the values of the requested fields in occurrence order (tree
//! order: TCP options in wire order, fields inside an option in the order tshark adds them).
//! A test builds the same `field -> Vec<String>` map from braid's decoder (for each MPTCP
//! option of the frame, in wire order, push the values of the fields tshark would show for
//! it) and compares the two maps frame by frame.
//!
//! # Canonical value forms (after normalisation here)
//!
//! The form depends only on the field's tshark type (from `tshark -G fields`):
//!
//! | tshark type                | canonical form                                  | example            |
//! |----------------------------|-------------------------------------------------|--------------------|
//! | FT_UINT*/FT_INT*/FRAMENUM  | decimal, no leading zeros (tshark `0x..` hex too) | `0x0d` -> `13`   |
//! | FT_BOOLEAN                 | `1` / `0` (tshark 4.0 prints `1`/`0`; `True`/`False` also accepted) | `1` |
//! | FT_BYTES                   | lowercase hex, no separators                     | `8c9d8dcd...`      |
//! | FT_IPv4                    | dotted quad (`std::net::Ipv4Addr` Display)        | `10.0.2.2`         |
//! | FT_IPv6                    | RFC 5952 text (`std::net::Ipv6Addr` Display)      | `dead:2::2`        |
//! | anything else              | verbatim                                         |                    |
//!
//! So braid's side can produce: `u64::to_string()`, `"1"/"0"`, hex of the bytes, and
//! `IpAddr::to_string()`.
//!
//! Masked integer fields are printed by tshark already shifted (e.g. `subtype` is the high
//! nibble as 0..=15, MP_CAPABLE `reserved.flag` is `(flags & 0x1e) >> 1` for version 1).
//!
//! # What tshark emits per subtype (tshark 4.0.17), names without `tcp.options.mptcp.`
//!
//! Every MPTCP option emits `subtype`. Then, by subtype and option length `len`:
//!
//! * MP_CAPABLE (0): `version`, `flags` (= 2nd byte, A..H), `checksumreq.flags` (A),
//!   `extensibility.flag` (B), then if version == 1: `nomoresubflows.flag` (C),
//!   `sha256.flag` (H), `reserved.flag` ((flags & 0x1e) >> 1); if version != 1 (v0 layout):
//!   `sha1.flag` (H), `reserved.flag` ((flags & 0x3e) >> 1), no C.
//!   If len is 12, 20, 22 or 24: `sendkey`; if len >= 20: `recvkey`; if len >= 22:
//!   `datalvllen`; if len == 24: `checksum`. Other lengths: no key fields.
//! * MP_JOIN (1): len 12 (SYN): `flags`, `backup.flag`, `addrid`, `recvtok`, `sendrand`;
//!   len 16 (SYN/ACK): `flags`, `backup.flag`, `addrid`, `sendtrunchmac`, `sendrand`;
//!   len 24 (ACK): `reserved`, `sendhmac`; other lengths: nothing more.
//!   QUIRK: `flags` is the WHOLE first byte, subtype nibble included (`0x10 | B` -> 16/17).
//! * DSS (2): `flags` (whole 2nd byte incl. reserved bits), `datafin.flag` (F),
//!   `dseqn8.flag` (m), `dseqnpresent.flag` (M), `dataack8.flag` (a), `dataackpresent.flag` (A);
//!   if A: `rawdataack` (4- or 8-byte on-wire value, never widened); if M: `rawdataseqno`
//!   (4- or 8-byte on-wire value), `subflowseqno`, `datalvllen`, and `checksum` ONLY IF
//!   `len >= 4 + ack_len + dsn_len + 4 + 2 + 4` -- i.e. tshark needs 2 bytes MORE than the
//!   checksum: a correctly sized DSS with checksum never shows `checksum` (tshark bug).
//! * ADD_ADDR (3): if the low nibble of the subtype byte is 4 or 6 (RFC 6824 IPVer):
//!   `ipver`, else `echo` (= E bit). Then `addrid`; `ipv4` if len in {8,10,16,18};
//!   `ipv6` if len in {20,22,28,30}; `port` if len in {10,18,22,30};
//!   `addaddrtrunchmac` if len in {16,18,28,30}.
//! * REMOVE_ADDR (4): one `addrid` per listed id (len - 3 values), in wire order.
//! * MP_PRIO (5): `flags` (WHOLE first byte: `0x50 | B`), `backup.flag`; `addrid` only if
//!   len == 4 (RFC 6824 form; RFC 8684 MP_PRIO is len 3 and shows no addrid).
//! * MP_FAIL (6): `reserved` (12 bits after the subtype), `rawdataseqno` (8 bytes).
//! * MP_FASTCLOSE (7): `reserved` (12 bits), `recvkey` (the 8-byte Option Receiver's Key).
//! * MP_TCPRST (8): `flags` (WHOLE first byte: `0x80 | UVWT`), `flag_U.flag`, `flag_V.flag`,
//!   `flag_W.flag`, `flag_T.flag`, `rst_reason`.
//! * other subtypes: nothing beyond `subtype`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Field separator passed to `-E separator=` (ASCII unit separator; never in a value).
const FIELD_SEP: char = '\u{1f}';
/// Occurrence aggregator passed to `-E aggregator=` (ASCII record separator).
const AGGREGATOR: char = '\u{1e}';

/// `-o` preferences used for every run. The `tcp.options.mptcp.*` fields are the raw
/// on-wire values whatever these say (verified: identical output with analysis on/off);
/// they only stop tshark from computing the relative / analysed `mptcp.*` and `tcp.*`
/// values we do not compare, and make the run cheaper.
pub const TSHARK_PREFS: &[&str] = &[
    "mptcp.analyze_mptcp:FALSE",
    "mptcp.relative_sequence_numbers:FALSE",
    "mptcp.analyze_mappings:FALSE",
    "mptcp.intersubflows_retransmission:FALSE",
    "tcp.analyze_sequence_numbers:FALSE",
    "tcp.relative_sequence_numbers:FALSE",
    "tcp.desegment_tcp_streams:FALSE",
    "tcp.check_checksum:FALSE",
];

/// All `tcp.options.mptcp.*` fields of tshark 4.0, each worth comparing.
/// "whole byte" flags include the subtype nibble (see module docs).
pub const MPTCP_FIELDS: &[&str] = &[
    // all subtypes: the subtype nibble (0..=15)
    "tcp.options.mptcp.subtype",
    // MP_CAPABLE only: version nibble
    "tcp.options.mptcp.version",
    // MP_JOIN ACK (len 24), MP_FAIL, MP_FASTCLOSE: the 12 reserved bits after the subtype
    "tcp.options.mptcp.reserved",
    // MP_CAPABLE: 2nd byte (A..H flags); DSS: 2nd byte (reserved + F m M a A);
    // MP_JOIN SYN/SYN-ACK, MP_PRIO, MP_TCPRST: whole 1st byte (subtype<<4 | flag nibble)
    "tcp.options.mptcp.flags",
    // MP_JOIN SYN/SYN-ACK, MP_PRIO: B (backup)
    "tcp.options.mptcp.backup.flag",
    // MP_CAPABLE: A (checksum required)
    "tcp.options.mptcp.checksumreq.flags",
    // MP_CAPABLE: B (extensibility)
    "tcp.options.mptcp.extensibility.flag",
    // MP_CAPABLE version 1 only: C (do not attempt new subflows to this address/port)
    "tcp.options.mptcp.nomoresubflows.flag",
    // MP_CAPABLE version != 1 only: H (HMAC-SHA1, RFC 6824)
    "tcp.options.mptcp.sha1.flag",
    // MP_CAPABLE version 1 only: H (HMAC-SHA256)
    "tcp.options.mptcp.sha256.flag",
    // DSS: F (DATA_FIN)
    "tcp.options.mptcp.datafin.flag",
    // DSS: m (DSN is 8 octets)
    "tcp.options.mptcp.dseqn8.flag",
    // DSS: M (mapping present)
    "tcp.options.mptcp.dseqnpresent.flag",
    // DSS: a (Data ACK is 8 octets)
    "tcp.options.mptcp.dataack8.flag",
    // DSS: A (Data ACK present)
    "tcp.options.mptcp.dataackpresent.flag",
    // MP_CAPABLE: reserved flag bits, shifted: v1 (flags & 0x1e) >> 1, v0 (flags & 0x3e) >> 1
    "tcp.options.mptcp.reserved.flag",
    // MP_TCPRST: U, V, W, T (transient) flags
    "tcp.options.mptcp.flag_U.flag",
    "tcp.options.mptcp.flag_V.flag",
    "tcp.options.mptcp.flag_W.flag",
    "tcp.options.mptcp.flag_T.flag",
    // MP_TCPRST: reason
    "tcp.options.mptcp.rst_reason",
    // MP_JOIN SYN/SYN-ACK: address_id; ADD_ADDR: address_id; REMOVE_ADDR: each address_id
    // (repeated); MP_PRIO len 4 only (RFC 6824): address_id
    "tcp.options.mptcp.addrid",
    // MP_CAPABLE len 12/20/22/24: sender_key (SYN-ACK: the server's key; ACK: the client's)
    "tcp.options.mptcp.sendkey",
    // MP_CAPABLE len >= 20: receiver_key; MP_FASTCLOSE: receiver_key (Option Receiver's Key)
    "tcp.options.mptcp.recvkey",
    // MP_JOIN SYN: receiver_token
    "tcp.options.mptcp.recvtok",
    // MP_JOIN SYN and SYN-ACK: sender nonce (random number)
    "tcp.options.mptcp.sendrand",
    // MP_JOIN SYN-ACK: truncated_hmac (64 bits, as an unsigned big-endian integer)
    "tcp.options.mptcp.sendtrunchmac",
    // MP_JOIN ACK: hmac (20 bytes, hex)
    "tcp.options.mptcp.sendhmac",
    // ADD_ADDR (len 16/18/28/30, i.e. echo = 0): truncated_hmac (64 bits, big-endian integer)
    "tcp.options.mptcp.addaddrtrunchmac",
    // DSS with A: data_ack, on-wire width (4 or 8 bytes), not widened
    "tcp.options.mptcp.rawdataack",
    // DSS with M: dsn, on-wire width (4 or 8 bytes); MP_FAIL: dsn (8 bytes)
    "tcp.options.mptcp.rawdataseqno",
    // DSS with M: ssn (raw relative subflow sequence number from the option)
    "tcp.options.mptcp.subflowseqno",
    // DSS with M: data_level_length (0 = infinite mapping); MP_CAPABLE len 22/24: data length
    "tcp.options.mptcp.datalvllen",
    // MP_CAPABLE len 24: checksum; DSS: only with 2 spare bytes (never for a well-sized DSS)
    "tcp.options.mptcp.checksum",
    // ADD_ADDR when the low nibble is 4 or 6 (RFC 6824 IPVer): ipver
    "tcp.options.mptcp.ipver",
    // ADD_ADDR otherwise (RFC 8684): echo (E bit)
    "tcp.options.mptcp.echo",
    // ADD_ADDR len 8/10/16/18: addr (IPv4)
    "tcp.options.mptcp.ipv4",
    // ADD_ADDR len 20/22/28/30: addr (IPv6)
    "tcp.options.mptcp.ipv6",
    // ADD_ADDR len 10/18/22/30: port
    "tcp.options.mptcp.port",
];

/// Values tshark derives (not on the wire), useful to cross-check braid's crypto.
/// `expected_token`/`expected_idsn` appear on MP_CAPABLE options carrying `sendkey` and are
/// token / IDSN of the FIRST key tshark saw in that direction of that TCP connection
/// (SHA-256 for version 1: token = top 32 bits, IDSN = low 64 bits); `rm_addr.count` on
/// REMOVE_ADDR = len - 3. These are produced even with MPTCP analysis off.
pub const MPTCP_DERIVED_FIELDS: &[&str] = &[
    "mptcp.expected_token",
    "mptcp.expected_idsn",
    "mptcp.rm_addr.count",
];

/// Per-capture count of MPTCP options per subtype, as tshark 4.0.17 sees them
/// (an option counts once per occurrence; two options in one frame count twice).
pub const EXPECTED_SUBTYPE_COUNTS: &[(&str, &[(u8, usize)])] = &[
    (
        "add-addr-then-remove.pcap",
        &[(0, 3), (1, 3), (2, 576), (3, 2), (4, 1)],
    ),
    (
        "add-addr-with-port.pcap",
        &[(0, 3), (1, 3), (2, 319), (3, 2)],
    ),
    (
        "backup-then-mp-prio.pcap",
        &[(0, 8), (1, 3), (2, 352), (5, 1)],
    ),
    ("checksum-echo.pcap", &[(0, 8), (1, 3), (2, 488)]),
    ("fallback-peer-plain-tcp.pcap", &[(0, 1)]),
    ("fastclose.pcap", &[(0, 8), (2, 104), (7, 1), (8, 1)]),
    (
        "ipv6-add-addr-join.pcap",
        &[(0, 3), (1, 3), (2, 573), (3, 2)],
    ),
    ("join-two-subflows.pcap", &[(0, 8), (1, 3), (2, 860)]),
    ("single-subflow.pcap", &[(0, 8), (2, 282)]),
];

/// The tshark fields of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameFields {
    /// 1-based frame number (`frame.number`), i.e. pcap record index + 1.
    pub frame: u64,
    /// Every requested field -> its canonical values in occurrence order (empty if absent).
    pub fields: BTreeMap<String, Vec<String>>,
}

impl FrameFields {
    /// Values of `field`; panics if `field` was not requested.
    pub fn get(&self, field: &str) -> &[String] {
        match self.fields.get(field) {
            Some(v) => v,
            None => panic!(
                "tshark field {field:?} was not requested for frame {} (requested: {:?})",
                self.frame,
                self.fields.keys().collect::<Vec<_>>()
            ),
        }
    }

    /// MPTCP subtypes of this frame in option order (needs `tcp.options.mptcp.subtype`).
    pub fn subtypes(&self) -> Vec<u8> {
        self.get("tcp.options.mptcp.subtype")
            .iter()
            .map(|s| s.parse().expect("canonical subtype is decimal"))
            .collect()
    }
}

/// How a field's values are normalised (from its tshark type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Decimal integer.
    Int,
    /// `1` / `0`.
    Bool,
    /// Lowercase hex without separators.
    Bytes,
    /// `Ipv4Addr` Display.
    Ipv4,
    /// `Ipv6Addr` Display.
    Ipv6,
    /// Verbatim.
    Text,
}

fn tshark_bin() -> OsString {
    std::env::var_os("TSHARK").unwrap_or_else(|| OsString::from("tshark"))
}

/// Whether a runnable tshark is present (the `TSHARK` env var may name the binary).
pub fn tshark_available() -> bool {
    Command::new(tshark_bin())
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether a tshark test should run: true if tshark is here; if not, false with a
/// message, unless `BRAID_REQUIRE_TSHARK=1` (set by the test command), which makes
/// a missing tshark a failure rather than a silent skip.
pub fn tshark_or_skip() -> bool {
    if tshark_available() {
        return true;
    }
    if std::env::var_os("BRAID_REQUIRE_TSHARK").is_some_and(|v| v == "1") {
        panic!("tshark is not installed and BRAID_REQUIRE_TSHARK=1: apt-get install -y tshark");
    }
    eprintln!("tshark not installed: skipping (set BRAID_REQUIRE_TSHARK=1 to fail instead)");
    false
}

/// `testdata/captures` of the workspace.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures")
}

/// All `*.pcap` in [`captures_dir`], sorted by name.
pub fn capture_paths() -> Vec<PathBuf> {
    let dir = captures_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("readdir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

fn field_types() -> &'static HashMap<String, String> {
    static TYPES: OnceLock<HashMap<String, String>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let out = Command::new(tshark_bin())
            .args(["-G", "fields"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run tshark -G fields: {e}"));
        assert!(
            out.status.success(),
            "tshark -G fields failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut map = HashMap::new();
        for line in text.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            match cols.as_slice() {
                ["F", _, abbrev, ftype, ..] => {
                    map.insert(abbrev.to_string(), ftype.to_string());
                }
                ["P", _, abbrev, ..] => {
                    map.insert(abbrev.to_string(), "FT_PROTOCOL".to_string());
                }
                _ => {}
            }
        }
        map
    })
}

/// Canonical kind of a tshark field; panics for a name tshark does not know.
pub fn field_kind(field: &str) -> FieldKind {
    let ftype = field_types()
        .get(field)
        .unwrap_or_else(|| panic!("tshark does not know the field {field:?} (tshark -G fields)"));
    match ftype.as_str() {
        t if t.starts_with("FT_UINT") && t != "FT_UINT_BYTES" && t != "FT_UINT_STRING" => {
            FieldKind::Int
        }
        t if t.starts_with("FT_INT") => FieldKind::Int,
        "FT_FRAMENUM" | "FT_CHAR" => FieldKind::Int,
        "FT_BOOLEAN" => FieldKind::Bool,
        "FT_BYTES" | "FT_UINT_BYTES" | "FT_ETHER" => FieldKind::Bytes,
        "FT_IPv4" => FieldKind::Ipv4,
        "FT_IPv6" => FieldKind::Ipv6,
        _ => FieldKind::Text,
    }
}

/// Normalise one tshark value of `field` to the canonical form of `kind`.
pub fn normalise(field: &str, kind: FieldKind, raw: &str) -> String {
    let bad = |why: &str| -> ! {
        panic!("tshark value {raw:?} of field {field:?} ({kind:?}) is not {why}")
    };
    match kind {
        FieldKind::Int => {
            if let Some(hex) = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
                u128::from_str_radix(hex, 16)
                    .unwrap_or_else(|_| bad("hex"))
                    .to_string()
            } else {
                raw.parse::<i128>()
                    .unwrap_or_else(|_| bad("an integer"))
                    .to_string()
            }
        }
        FieldKind::Bool => match raw {
            "1" | "True" | "true" | "TRUE" => "1".to_string(),
            "0" | "False" | "false" | "FALSE" => "0".to_string(),
            _ => bad("a boolean"),
        },
        FieldKind::Bytes => {
            let hex: String = raw
                .chars()
                .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if hex.len() % 2 != 0 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                bad("hex bytes");
            }
            hex
        }
        FieldKind::Ipv4 => raw
            .parse::<Ipv4Addr>()
            .unwrap_or_else(|_| bad("an IPv4 address"))
            .to_string(),
        FieldKind::Ipv6 => raw
            .parse::<Ipv6Addr>()
            .unwrap_or_else(|_| bad("an IPv6 address"))
            .to_string(),
        FieldKind::Text => raw.to_string(),
    }
}

/// Run tshark once over `capture` and return every frame (in order, none skipped) with the
/// canonical values of `fields` in occurrence order. Panics if tshark fails or prints
/// something unexpected.
pub fn mptcp_fields(capture: &Path, fields: &[&str]) -> Vec<FrameFields> {
    assert!(
        capture.is_file(),
        "capture {} does not exist",
        capture.display()
    );
    let kinds: Vec<FieldKind> = fields.iter().map(|f| field_kind(f)).collect();

    let mut cmd = Command::new(tshark_bin());
    cmd.arg("-n")
        .arg("-r")
        .arg(capture)
        .args(["-T", "fields"])
        .args(["-E", "header=n", "-E", "quote=n", "-E", "occurrence=a"])
        .arg("-E")
        .arg(format!("aggregator={AGGREGATOR}"))
        .arg("-E")
        .arg(format!("separator={FIELD_SEP}"));
    for pref in TSHARK_PREFS {
        cmd.args(["-o", pref]);
    }
    cmd.args(["-e", "frame.number"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    cmd.stdin(Stdio::null());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark ({:?}): {e}", tshark_bin()));
    assert!(
        out.status.success(),
        "tshark failed on {} ({}): {}\ncommand: {cmd:?}",
        capture.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("tshark output is not UTF-8");

    let mut frames = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split(FIELD_SEP).collect();
        assert_eq!(
            cols.len(),
            fields.len() + 1,
            "tshark line {} of {} has {} columns, expected {}: {line:?}",
            i + 1,
            capture.display(),
            cols.len(),
            fields.len() + 1
        );
        let frame: u64 = cols[0]
            .parse()
            .unwrap_or_else(|_| panic!("bad frame.number {:?} in {}", cols[0], capture.display()));
        assert_eq!(
            frame,
            i as u64 + 1,
            "tshark skipped or reordered frames in {}",
            capture.display()
        );
        let mut map = BTreeMap::new();
        for ((field, kind), col) in fields.iter().zip(&kinds).zip(&cols[1..]) {
            let values: Vec<String> = if col.is_empty() {
                Vec::new()
            } else {
                col.split(AGGREGATOR)
                    .map(|v| normalise(field, *kind, v))
                    .collect()
            };
            map.insert(field.to_string(), values);
        }
        frames.push(FrameFields { frame, fields: map });
    }
    frames
}

/// Count MPTCP options per subtype (needs `tcp.options.mptcp.subtype` among the fields).
pub fn subtype_counts(frames: &[FrameFields]) -> BTreeMap<u8, usize> {
    let mut counts = BTreeMap::new();
    for f in frames {
        for s in f.subtypes() {
            *counts.entry(s).or_insert(0) += 1;
        }
    }
    counts
}
