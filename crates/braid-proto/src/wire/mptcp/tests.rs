//! MPTCP option tests. Byte templates are options taken from the Linux 6.18 traces
//! in testdata/captures (file and frame number noted), unless marked synthetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Parses `hex_bytes`, checks the result, and checks it emits the same bytes.
fn check(hex_bytes: &str, expected: MptcpOption<'_>) {
    let bytes = hex(hex_bytes);
    let parsed = MptcpOption::parse(&bytes).unwrap();
    assert_eq!(parsed, expected);
    assert_eq!(parsed.buffer_len(), bytes.len());
    let mut out = vec![0u8; bytes.len()];
    assert_eq!(parsed.emit(&mut out), bytes.len());
    assert_eq!(out, bytes);
}

#[test]
fn rfc8684_s3_1_mp_capable_every_variant() {
    let flags = MpCapableFlags(MpCapableFlags::HMAC_SHA256);
    // add-addr-then-remove.pcap frames 1, 2, 3.
    check(
        "1e040101",
        MptcpOption::MpCapable(MpCapable {
            flags,
            variant: MpCapableVariant::Syn,
        }),
    );
    check(
        "1e0c010129c87b691c5272fb",
        MptcpOption::MpCapable(MpCapable {
            flags,
            variant: MpCapableVariant::SynAck {
                sender_key: 0x29c87b691c5272fb,
            },
        }),
    );
    check(
        "1e1401011e2347f0c46a411529c87b691c5272fb",
        MptcpOption::MpCapable(MpCapable {
            flags,
            variant: MpCapableVariant::Ack {
                sender_key: 0x1e2347f0c46a4115,
                receiver_key: 0x29c87b691c5272fb,
            },
        }),
    );
    // backup-then-mp-prio.pcap frame 4: first data, no checksum.
    check(
        "1e160101b8e58e8adf6b33b84cabdd024ddf4a194000",
        MptcpOption::MpCapable(MpCapable {
            flags,
            variant: MpCapableVariant::AckWithData {
                sender_key: 0xb8e58e8adf6b33b8,
                receiver_key: 0x4cabdd024ddf4a19,
                data_level_length: 0x4000,
                checksum: None,
            },
        }),
    );
    // checksum-echo.pcap frame 4: A flag and a checksum.
    let with_a = MpCapableFlags(MpCapableFlags::CHECKSUM_REQUIRED | MpCapableFlags::HMAC_SHA256);
    assert!(with_a.checksum_required() && with_a.hmac_sha256() && !with_a.no_more_subflows());
    check(
        "1e180181fc2304d611c48bc7a2a07de4941a755e400050a0",
        MptcpOption::MpCapable(MpCapable {
            flags: with_a,
            variant: MpCapableVariant::AckWithData {
                sender_key: 0xfc2304d611c48bc7,
                receiver_key: 0xa2a07de4941a755e,
                data_level_length: 0x4000,
                checksum: Some(0x50a0),
            },
        }),
    );
}

#[test]
fn rfc8684_s3_1_mp_capable_of_another_version_is_kept_as_bytes() {
    // Synthetic: an RFC 6824 (version 0) SYN, which carries the sender's key.
    let bytes = hex("1e0c0081a1a2a3a4a5a6a7a8");
    let MptcpOption::Unknown(unknown) = MptcpOption::parse(&bytes).unwrap() else {
        panic!("not unknown")
    };
    assert_eq!(
        (unknown.subtype(), unknown.version()),
        (subtype::MP_CAPABLE, 0)
    );
    let mut out = [0u8; 12];
    MptcpOption::Unknown(unknown).emit(&mut out);
    assert_eq!(out[..], bytes[..]);
}

#[test]
fn rfc8684_s3_2_mp_join_every_variant() {
    // add-addr-then-remove.pcap frames 6, 7, 8.
    check(
        "1e0c10016c82653bdb051478",
        MptcpOption::MpJoin(MpJoin::Syn {
            backup: false,
            addr_id: 1,
            token: 0x6c82653b,
            nonce: 0xdb051478,
        }),
    );
    check(
        "1e1010017232415771357d4016f1b9cc",
        MptcpOption::MpJoin(MpJoin::SynAck {
            backup: false,
            addr_id: 1,
            truncated_hmac: 0x7232415771357d40,
            nonce: 0x16f1b9cc,
        }),
    );
    let mut hmac = [0u8; 20];
    hmac.copy_from_slice(&hex("8c9d8dcd2fe47a732611e2bbf99ed6a7016e91a1"));
    check(
        "1e1810008c9d8dcd2fe47a732611e2bbf99ed6a7016e91a1",
        MptcpOption::MpJoin(MpJoin::Ack { hmac }),
    );
    // Synthetic: the backup flag.
    check(
        "1e0c11056c82653bdb051478",
        MptcpOption::MpJoin(MpJoin::Syn {
            backup: true,
            addr_id: 5,
            token: 0x6c82653b,
            nonce: 0xdb051478,
        }),
    );
}

#[test]
fn rfc8684_s3_3_dss_flag_combinations() {
    // add-addr-then-remove.pcap frame 9: 4-octet DATA_ACK only.
    check(
        "1e0820018075d9d1",
        MptcpOption::Dss(Dss {
            data_ack: Some(SeqField::U32(0x8075d9d1)),
            ..Dss::default()
        }),
    );
    // Frame 11: 8-octet DATA_ACK only.
    check(
        "1e0c2003f265f0578075df61",
        MptcpOption::Dss(Dss {
            data_ack: Some(SeqField::U64(0xf265f0578075df61)),
            ..Dss::default()
        }),
    );
    // Frame 10: 4-octet DATA_ACK and a mapping with a 64-bit DSN.
    let mapping = DssMapping {
        dsn: SeqField::U64(0xf265f0578075d9d1),
        ssn: 1,
        data_level_length: 0x4000,
        checksum: None,
    };
    check(
        "1e16200d9034b2e3f265f0578075d9d1000000014000",
        MptcpOption::Dss(Dss {
            data_ack: Some(SeqField::U32(0x9034b2e3)),
            mapping: Some(mapping),
            data_fin: false,
        }),
    );
    // Frame 581: DATA_FIN alone, as a mapping of length 1 at subflow sequence 0.
    let fin = Dss {
        data_ack: Some(SeqField::U64(0xf265f057807bf452)),
        mapping: Some(DssMapping {
            dsn: SeqField::U64(0x4e46f3f99034b2e3),
            ssn: 0,
            data_level_length: 1,
            checksum: None,
        }),
        data_fin: true,
    };
    check(
        "1e1a201ff265f057807bf4524e46f3f99034b2e3000000000001",
        MptcpOption::Dss(fin),
    );
    // checksum-echo.pcap frame 28: 8-octet ack, 64-bit DSN, checksum.
    let with_checksum = Dss {
        data_ack: Some(SeqField::U64(0xc24bed21d0801f80)),
        mapping: Some(DssMapping {
            dsn: SeqField::U64(0x10b51a61cc9245e1),
            ssn: 1,
            data_level_length: 0x4000,
            checksum: Some(0x7284),
        }),
        data_fin: false,
    };
    check(
        "1e1c200fc24bed21d0801f8010b51a61cc9245e10000000140007284",
        MptcpOption::Dss(with_checksum),
    );
    // Synthetic: a 32-bit DSN and the infinite mapping (§3.7).
    let infinite = Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: SeqField::U32(7),
            ssn: 0,
            data_level_length: 0,
            checksum: None,
        }),
        data_fin: false,
    };
    check("1e0e200400000007000000000000", MptcpOption::Dss(infinite));
    assert!(infinite.mapping.unwrap().is_infinite());
}

#[test]
fn rfc8684_s3_3_dss_length_must_agree_with_flags() {
    // A mapping flag with no room for the mapping; a checksum with no mapping.
    for bad in ["1e0820048075d9d1", "1e0a20018075d9d10000", "1e0720018075d9"] {
        assert!(
            matches!(
                MptcpOption::parse(&hex(bad)),
                Err(WireError::BadLength { what: "DSS", .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn rfc8684_s3_4_1_add_addr_every_form() {
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2));
    // add-addr-then-remove.pcap frames 4 (announce) and 5 (echo).
    check(
        "1e1030010a000202ff25c8a75dcf776d",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 1,
            addr: v4,
            port: None,
            truncated_hmac: Some(0xff25c8a75dcf776d),
        }),
    );
    check(
        "1e0831010a000202",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 1,
            addr: v4,
            port: None,
            truncated_hmac: None,
        }),
    );
    // add-addr-with-port.pcap frames 4 and 5.
    check(
        "1e1230010a0002022774d869d272f9307d50",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 1,
            addr: v4,
            port: Some(10100),
            truncated_hmac: Some(0xd869d272f9307d50),
        }),
    );
    check(
        "1e0a31010a0002022774",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 1,
            addr: v4,
            port: Some(10100),
            truncated_hmac: None,
        }),
    );
    // ipv6-add-addr-join.pcap frames 4 and 5.
    let v6 = IpAddr::V6(Ipv6Addr::new(0xdead, 2, 0, 0, 0, 0, 0, 2));
    check(
        "1e1c3001dead0002000000000000000000000002f044793154bdb0f7",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 1,
            addr: v6,
            port: None,
            truncated_hmac: Some(0xf044793154bdb0f7),
        }),
    );
    check(
        "1e143101dead0002000000000000000000000002",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 1,
            addr: v6,
            port: None,
            truncated_hmac: None,
        }),
    );
    // Synthetic: IPv6 with port, with and without HMAC (30 and 22 octets).
    check(
        "1e1e3002dead00020000000000000000000000022774f044793154bdb0f7",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 2,
            addr: v6,
            port: Some(10100),
            truncated_hmac: Some(0xf044793154bdb0f7),
        }),
    );
    check(
        "1e163102dead00020000000000000000000000022774",
        MptcpOption::AddAddr(AddAddr {
            addr_id: 2,
            addr: v6,
            port: Some(10100),
            truncated_hmac: None,
        }),
    );
    // The E flag must agree with the length: an echo cannot carry an HMAC.
    assert!(MptcpOption::parse(&hex("1e1031010a000202ff25c8a75dcf776d")).is_err());
}

#[test]
fn rfc8684_s3_4_2_remove_addr_lists() {
    // add-addr-then-remove.pcap frame 419.
    check(
        "1e044001",
        MptcpOption::RemoveAddr(RemoveAddr {
            addr_ids: AddrIdList::new(&[1]).unwrap(),
        }),
    );
    check(
        "1e0640010203",
        MptcpOption::RemoveAddr(RemoveAddr {
            addr_ids: AddrIdList::new(&[1, 2, 3]).unwrap(),
        }),
    );
    assert!(
        MptcpOption::parse(&hex("1e0340")).is_err(),
        "an empty list is malformed"
    );
    assert!(AddrIdList::new(&[0; 38]).is_none());
}

#[test]
fn rfc8684_s3_3_8_s3_5_s3_6_s3_7_control_options() {
    // backup-then-mp-prio.pcap frame 251 (backup cleared).
    check(
        "1e0350",
        MptcpOption::MpPrio(MpPrio {
            backup: false,
            addr_id: None,
        }),
    );
    check(
        "1e0351",
        MptcpOption::MpPrio(MpPrio {
            backup: true,
            addr_id: None,
        }),
    );
    check(
        "1e045107",
        MptcpOption::MpPrio(MpPrio {
            backup: true,
            addr_id: Some(7),
        }),
    );
    // fastclose.pcap frame 113: MP_FASTCLOSE and MP_TCPRST on the same RST.
    check(
        "1e0c7000b61a098fe22c75a7",
        MptcpOption::MpFastclose(MpFastclose {
            receiver_key: 0xb61a098fe22c75a7,
        }),
    );
    check(
        "1e048000",
        MptcpOption::MpTcpRst(MpTcpRst {
            flags: MpTcpRstFlags(0),
            reason: MpTcpRstReason::Unspecified,
        }),
    );
    let transient = MpTcpRst {
        flags: MpTcpRstFlags(MpTcpRstFlags::TRANSIENT),
        reason: MpTcpRstReason::MiddleboxInterference,
    };
    check("1e048106", MptcpOption::MpTcpRst(transient));
    assert!(transient.flags.transient());
    check(
        "1e0480ee",
        MptcpOption::MpTcpRst(MpTcpRst {
            flags: MpTcpRstFlags(0),
            reason: MpTcpRstReason::Other(0xee),
        }),
    );
    // Synthetic MP_FAIL.
    check(
        "1e0c60000102030405060708",
        MptcpOption::MpFail(MpFail {
            dsn: 0x0102030405060708,
        }),
    );
}

#[test]
fn unknown_subtypes_are_kept() {
    check(
        "1e05e0abcd",
        MptcpOption::Unknown(UnknownMptcp {
            body: &hex("e0abcd"),
        }),
    );
    check(
        "1e04f001",
        MptcpOption::Unknown(UnknownMptcp { body: &hex("f001") }),
    );
}

fn seq_field() -> impl Strategy<Value = SeqField> {
    prop_oneof![
        any::<u32>().prop_map(SeqField::U32),
        any::<u64>().prop_map(SeqField::U64)
    ]
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(a.into())),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(a.into()))
    ]
}

/// Every representable option, with arbitrary field values.
pub(crate) fn any_mptcp_option() -> impl Strategy<Value = MptcpOption<'static>> {
    let capable = (
        any::<u8>(),
        prop_oneof![
            Just(MpCapableVariant::Syn),
            any::<u64>().prop_map(|sender_key| MpCapableVariant::SynAck { sender_key }),
            (any::<u64>(), any::<u64>()).prop_map(|(sender_key, receiver_key)| {
                MpCapableVariant::Ack {
                    sender_key,
                    receiver_key,
                }
            }),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u16>(),
                any::<Option<u16>>()
            )
                .prop_map(|(sender_key, receiver_key, data_level_length, checksum)| {
                    MpCapableVariant::AckWithData {
                        sender_key,
                        receiver_key,
                        data_level_length,
                        checksum,
                    }
                }),
        ],
    )
        .prop_map(|(flags, variant)| {
            MptcpOption::MpCapable(MpCapable {
                flags: MpCapableFlags(flags),
                variant,
            })
        });
    let join = prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |(backup, addr_id, token, nonce)| MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
            |(backup, addr_id, truncated_hmac, nonce)| {
                MpJoin::SynAck {
                    backup,
                    addr_id,
                    truncated_hmac,
                    nonce,
                }
            }
        ),
        any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
    ]
    .prop_map(MptcpOption::MpJoin);
    let mapping = (
        seq_field(),
        any::<u32>(),
        any::<u16>(),
        any::<Option<u16>>(),
    )
        .prop_map(|(dsn, ssn, data_level_length, checksum)| DssMapping {
            dsn,
            ssn,
            data_level_length,
            checksum,
        });
    let dss = (
        proptest::option::of(seq_field()),
        proptest::option::of(mapping),
        any::<bool>(),
    )
        .prop_map(|(data_ack, mapping, data_fin)| {
            MptcpOption::Dss(Dss {
                data_ack,
                mapping,
                data_fin,
            })
        });
    let add_addr = (
        any::<u8>(),
        addr(),
        any::<Option<u16>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(addr_id, addr, port, truncated_hmac)| {
            MptcpOption::AddAddr(AddAddr {
                addr_id,
                addr,
                port,
                truncated_hmac,
            })
        });
    let remove_addr =
        proptest::collection::vec(any::<u8>(), 1..=AddrIdList::CAPACITY).prop_map(|ids| {
            MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: AddrIdList::new(&ids).unwrap(),
            })
        });
    let control = prop_oneof![
        (any::<bool>(), any::<Option<u8>>())
            .prop_map(|(backup, addr_id)| MptcpOption::MpPrio(MpPrio { backup, addr_id })),
        any::<u64>().prop_map(|dsn| MptcpOption::MpFail(MpFail { dsn })),
        any::<u64>()
            .prop_map(|receiver_key| MptcpOption::MpFastclose(MpFastclose { receiver_key })),
        (0u8..16, any::<u8>()).prop_map(|(flags, code)| MptcpOption::MpTcpRst(MpTcpRst {
            flags: MpTcpRstFlags(flags),
            reason: MpTcpRstReason::from_code(code)
        })),
    ];
    prop_oneof![capable, join, dss, add_addr, remove_addr, control]
}

proptest! {
    #[test]
    fn every_option_round_trips_through_its_bytes(option in any_mptcp_option()) {
        let mut bytes = vec![0u8; option.buffer_len()];
        prop_assert_eq!(option.emit(&mut bytes), bytes.len());
        prop_assert_eq!(MptcpOption::parse(&bytes), Ok(option));
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics_and_is_canonical(body in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut bytes = vec![OPTION_KIND, (body.len() + 2) as u8];
        bytes.extend_from_slice(&body);
        if let Ok(option) = MptcpOption::parse(&bytes) {
            // Reserved bits are dropped, so compare what the bytes mean, not the bytes.
            let mut out = vec![0u8; option.buffer_len()];
            prop_assert_eq!(option.emit(&mut out), bytes.len());
            prop_assert_eq!(MptcpOption::parse(&out), Ok(option));
        }
    }
}
