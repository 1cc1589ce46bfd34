//! Self-test of the tshark oracle (tests/support/tshark.rs): values checked by hand with
//! `tshark -V`. Skipped (passes) when tshark is not installed.

mod support;

use support::tshark::{
    capture_paths, captures_dir, mptcp_fields, subtype_counts, tshark_or_skip, FrameFields,
    EXPECTED_SUBTYPE_COUNTS, MPTCP_DERIVED_FIELDS, MPTCP_FIELDS,
};

const P: &str = "tcp.options.mptcp.";

fn skip() -> bool {
    !tshark_or_skip()
}

fn all_fields() -> Vec<&'static str> {
    MPTCP_FIELDS
        .iter()
        .chain(MPTCP_DERIVED_FIELDS)
        .copied()
        .collect()
}

fn frames(name: &str) -> Vec<FrameFields> {
    mptcp_fields(&captures_dir().join(name), &all_fields())
}

/// Assert the values of `tcp.options.mptcp.<short>` (or of a full `mptcp.*` name) in a frame.
fn check(f: &FrameFields, short: &str, want: &[&str]) {
    let name = if short.starts_with("mptcp.") {
        short.to_string()
    } else {
        format!("{P}{short}")
    };
    assert_eq!(f.get(&name), want, "frame {} field {name}", f.frame);
}

#[test]
fn single_subflow_by_hand() {
    if skip() {
        return;
    }
    let fr = frames("single-subflow.pcap");
    assert_eq!(fr.len(), 290);
    for (i, f) in fr.iter().enumerate() {
        assert_eq!(f.frame, i as u64 + 1);
        assert_eq!(
            f.fields.len(),
            MPTCP_FIELDS.len() + MPTCP_DERIVED_FIELDS.len()
        );
    }

    // Frame 1: SYN, MP_CAPABLE v1 len 4, flags 0x01 (H), no key.
    let f = &fr[0];
    check(f, "subtype", &["0"]);
    check(f, "version", &["1"]);
    check(f, "flags", &["1"]);
    check(f, "checksumreq.flags", &["0"]);
    check(f, "extensibility.flag", &["0"]);
    check(f, "nomoresubflows.flag", &["0"]);
    check(f, "sha256.flag", &["1"]);
    check(f, "sha1.flag", &[]);
    check(f, "reserved.flag", &["0"]);
    check(f, "sendkey", &[]);
    check(f, "recvkey", &[]);

    // Frame 2: SYN-ACK, len 12: the server's key as sendkey.
    let f = &fr[1];
    check(f, "sendkey", &["1028393993843571870"]);
    check(f, "recvkey", &[]);
    check(f, "mptcp.expected_token", &["2609000637"]);
    check(f, "mptcp.expected_idsn", &["13582624028681454524"]);

    // Frame 3: ACK, len 20: both keys.
    let f = &fr[2];
    check(f, "sendkey", &["8377466973267516330"]);
    check(f, "recvkey", &["1028393993843571870"]);
    check(f, "datalvllen", &[]);

    // Frame 4: ACK + data, len 22: keys + data-level length, no checksum.
    let f = &fr[3];
    check(f, "sendkey", &["8377466973267516330"]);
    check(f, "recvkey", &["1028393993843571870"]);
    check(f, "datalvllen", &["16384"]);
    check(f, "checksum", &[]);

    // Frame 284: DSS len 22, flags 0x1d (F m M A): 4-byte ack, 8-byte DSN.
    let f = &fr[283];
    check(f, "subtype", &["2"]);
    check(f, "flags", &["29"]);
    check(f, "datafin.flag", &["1"]);
    check(f, "dseqn8.flag", &["1"]);
    check(f, "dseqnpresent.flag", &["1"]);
    check(f, "dataack8.flag", &["0"]);
    check(f, "dataackpresent.flag", &["1"]);
    check(f, "rawdataack", &["457065405"]);
    check(f, "rawdataseqno", &["13404929771238269740"]);
    check(f, "subflowseqno", &["0"]);
    check(f, "datalvllen", &["1"]);
    check(f, "version", &[]);

    let counts: Vec<(u8, usize)> = subtype_counts(&fr).into_iter().collect();
    assert_eq!(counts, vec![(0, 8), (2, 282)]);
}

#[test]
fn other_captures_by_hand() {
    if skip() {
        return;
    }
    // MP_JOIN ACK: 12 reserved bits + 20-byte HMAC as plain lowercase hex.
    let fr = frames("add-addr-then-remove.pcap");
    let f = &fr[7];
    check(f, "subtype", &["1"]);
    check(f, "reserved", &["0"]);
    check(f, "sendhmac", &["8c9d8dcd2fe47a732611e2bbf99ed6a7016e91a1"]);
    // MP_JOIN SYN: flags is the whole first byte 0x10.
    let f = &fr[5];
    check(f, "flags", &["16"]);
    check(f, "backup.flag", &["0"]);
    check(f, "addrid", &["1"]);
    check(f, "recvtok", &["1820484923"]);
    check(f, "sendrand", &["3674543224"]);
    // ADD_ADDR v4 with HMAC, then its echo.
    let f = &fr[3];
    check(f, "subtype", &["3"]);
    check(f, "echo", &["0"]);
    check(f, "ipver", &[]);
    check(f, "addrid", &["1"]);
    check(f, "ipv4", &["10.0.2.2"]);
    check(f, "addaddrtrunchmac", &["18385321674968889197"]);
    let f = &fr[4];
    check(f, "echo", &["1"]);
    check(f, "addaddrtrunchmac", &[]);
    // Frame 419: DSS (64-bit data ack) then REMOVE_ADDR id 1, in option order.
    let f = &fr[418];
    check(f, "subtype", &["2", "4"]);
    check(f, "flags", &["3"]);
    check(f, "rawdataack", &["17466630988434659793"]);
    check(f, "addrid", &["1"]);
    check(f, "mptcp.rm_addr.count", &["1"]);

    // DSS + MP_PRIO in one frame: flags of both, MP_PRIO's is the whole byte 0x50.
    let fr = frames("backup-then-mp-prio.pcap");
    let f = &fr[250];
    check(f, "subtype", &["2", "5"]);
    check(f, "flags", &["1", "80"]);
    check(f, "backup.flag", &["0"]);
    check(f, "addrid", &[]);
    // MP_JOIN SYN with B: 0x11.
    check(&fr[27], "flags", &["17"]);
    check(&fr[27], "backup.flag", &["1"]);

    // MP_FASTCLOSE + MP_TCPRST in the last frame.
    let fr = frames("fastclose.pcap");
    let f = fr.last().unwrap();
    check(f, "subtype", &["7", "8"]);
    check(f, "reserved", &["0"]);
    check(f, "recvkey", &["13121810977876899239"]);
    check(f, "flags", &["128"]);
    check(f, "flag_U.flag", &["0"]);
    check(f, "flag_T.flag", &["0"]);
    check(f, "rst_reason", &["0"]);

    // Checksums: MP_CAPABLE len 24 shows it (0x50a0); a DSS with checksum (len 28) does not.
    let fr = frames("checksum-echo.pcap");
    check(&fr[0], "flags", &["129"]);
    check(&fr[0], "checksumreq.flags", &["1"]);
    check(&fr[3], "checksum", &["20640"]);
    check(&fr[55], "flags", &["15"]);
    check(&fr[55], "datalvllen", &["16384"]);
    check(&fr[55], "checksum", &[]);

    // ADD_ADDR v6 and port.
    let fr = frames("ipv6-add-addr-join.pcap");
    check(&fr[3], "ipv6", &["dead:2::2"]);
    check(&fr[3], "addaddrtrunchmac", &["17313096120301105399"]);
    let fr = frames("add-addr-with-port.pcap");
    check(&fr[3], "port", &["10100"]);
    check(&fr[4], "port", &["10100"]);
}

#[test]
fn subtype_counts_match_table() {
    if skip() {
        return;
    }
    let paths = capture_paths();
    assert_eq!(paths.len(), EXPECTED_SUBTYPE_COUNTS.len());
    for path in paths {
        let name = path.file_name().unwrap().to_str().unwrap();
        let want = EXPECTED_SUBTYPE_COUNTS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from EXPECTED_SUBTYPE_COUNTS"))
            .1;
        let fr = mptcp_fields(&path, &["tcp.options.mptcp.subtype"]);
        let got: Vec<(u8, usize)> = subtype_counts(&fr).into_iter().collect();
        assert_eq!(got, want, "{name}");
    }
}
