//! braid's decoding of every MPTCP option in every capture equals tshark's, field by
//! field. tshark is an independent decoder (Wireshark's MPTCP dissector); the test
//! command installs it. See tests/support/tshark.rs for how its fields are read.

mod support;

use std::collections::BTreeMap;

use braid_proto::crypto;
use braid_proto::wire::mptcp::{MpCapableVariant, MpJoin, MptcpOption, SeqField};
use support::captures::{all_captures, packets, segment};
use support::tshark::{mptcp_fields, tshark_or_skip, MPTCP_DERIVED_FIELDS, MPTCP_FIELDS};

/// Collects `tcp.options.mptcp.<name>` values in tshark's canonical forms.
struct Fields(BTreeMap<String, Vec<String>>);

impl Fields {
    fn new() -> Self {
        Fields(
            MPTCP_FIELDS
                .iter()
                .chain(MPTCP_DERIVED_FIELDS)
                .map(|f| (f.to_string(), Vec::new()))
                .collect(),
        )
    }

    fn push(&mut self, name: &str, value: impl ToString) {
        let key = if name.starts_with("mptcp.") {
            name.to_string()
        } else {
            format!("tcp.options.mptcp.{name}")
        };
        self.0
            .get_mut(&key)
            .unwrap_or_else(|| panic!("unknown field {key}"))
            .push(value.to_string());
    }

    fn bit(&mut self, name: &str, set: bool) {
        self.push(name, set as u8);
    }
}

fn raw(seq: SeqField) -> u64 {
    seq.raw()
}

/// What tshark shows for one option, computed from braid's decoding of it.
fn add_option(f: &mut Fields, option: &MptcpOption<'_>) {
    f.push("subtype", option.subtype());
    match option {
        MptcpOption::MpCapable(m) => {
            let flags = m.flags.0;
            f.push("version", 1);
            f.push("flags", flags);
            f.bit("checksumreq.flags", m.flags.checksum_required());
            f.bit("extensibility.flag", m.flags.extensibility());
            f.bit("nomoresubflows.flag", m.flags.no_more_subflows());
            f.bit("sha256.flag", m.flags.hmac_sha256());
            f.push("reserved.flag", (flags & 0x1e) >> 1);
            if let Some(key) = m.sender_key() {
                f.push("sendkey", key);
                f.push("mptcp.expected_token", crypto::token(key));
                f.push("mptcp.expected_idsn", crypto::idsn(key));
            }
            if let Some(key) = m.receiver_key() {
                f.push("recvkey", key);
            }
            if let MpCapableVariant::AckWithData {
                data_level_length,
                checksum,
                ..
            } = m.variant
            {
                f.push("datalvllen", data_level_length);
                if let Some(c) = checksum {
                    f.push("checksum", c);
                }
            }
        }
        MptcpOption::MpJoin(j) => match *j {
            MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce,
            } => {
                f.push("flags", 0x10 | backup as u8);
                f.bit("backup.flag", backup);
                f.push("addrid", addr_id);
                f.push("recvtok", token);
                f.push("sendrand", nonce);
            }
            MpJoin::SynAck {
                backup,
                addr_id,
                truncated_hmac,
                nonce,
            } => {
                f.push("flags", 0x10 | backup as u8);
                f.bit("backup.flag", backup);
                f.push("addrid", addr_id);
                f.push("sendtrunchmac", truncated_hmac);
                f.push("sendrand", nonce);
            }
            MpJoin::Ack { hmac } => {
                f.push("reserved", 0);
                f.push(
                    "sendhmac",
                    hmac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                );
            }
        },
        MptcpOption::Dss(d) => {
            let wide = |s: Option<SeqField>| matches!(s, Some(SeqField::U64(_)));
            let dsn = d.mapping.map(|m| m.dsn);
            let flags = (d.data_fin as u8) << 4
                | (wide(dsn) as u8) << 3
                | (d.mapping.is_some() as u8) << 2
                | (wide(d.data_ack) as u8) << 1
                | d.data_ack.is_some() as u8;
            f.push("flags", flags);
            f.bit("datafin.flag", d.data_fin);
            f.bit("dseqn8.flag", wide(dsn));
            f.bit("dseqnpresent.flag", d.mapping.is_some());
            f.bit("dataack8.flag", wide(d.data_ack));
            f.bit("dataackpresent.flag", d.data_ack.is_some());
            if let Some(ack) = d.data_ack {
                f.push("rawdataack", raw(ack));
            }
            if let Some(m) = d.mapping {
                f.push("rawdataseqno", raw(m.dsn));
                f.push("subflowseqno", m.ssn);
                f.push("datalvllen", m.data_level_length);
                // tshark 4.0 shows a DSS checksum only when two octets more than it
                // needs are present, so never for a well-formed DSS: braid's checksums
                // are proven against the payload in golden_captures.rs instead.
            }
        }
        MptcpOption::AddAddr(a) => {
            f.bit("echo", a.is_echo());
            f.push("addrid", a.addr_id);
            match a.addr {
                std::net::IpAddr::V4(v4) => f.push("ipv4", v4),
                std::net::IpAddr::V6(v6) => f.push("ipv6", v6),
            }
            if let Some(port) = a.port {
                f.push("port", port);
            }
            if let Some(hmac) = a.truncated_hmac {
                f.push("addaddrtrunchmac", hmac);
            }
        }
        MptcpOption::RemoveAddr(r) => {
            for id in r.addr_ids.as_slice() {
                f.push("addrid", id);
            }
            f.push("mptcp.rm_addr.count", r.addr_ids.as_slice().len());
        }
        MptcpOption::MpPrio(p) => {
            f.push("flags", 0x50 | p.backup as u8);
            f.bit("backup.flag", p.backup);
            if let Some(id) = p.addr_id {
                f.push("addrid", id);
            }
        }
        MptcpOption::MpFail(m) => {
            f.push("reserved", 0);
            f.push("rawdataseqno", m.dsn);
        }
        MptcpOption::MpFastclose(m) => {
            f.push("reserved", 0);
            f.push("recvkey", m.receiver_key);
        }
        MptcpOption::MpTcpRst(r) => {
            let flags = r.flags.0;
            f.push("flags", 0x80 | flags);
            f.bit("flag_U.flag", flags & 0x8 != 0);
            f.bit("flag_V.flag", flags & 0x4 != 0);
            f.bit("flag_W.flag", flags & 0x2 != 0);
            f.bit("flag_T.flag", r.flags.transient());
            f.push("rst_reason", r.reason.code());
        }
        MptcpOption::Unknown(_) => {}
    }
}

#[test]
fn every_mptcp_option_decodes_as_tshark_decodes_it() {
    if !tshark_or_skip() {
        return;
    }
    let requested: Vec<&str> = MPTCP_FIELDS
        .iter()
        .chain(MPTCP_DERIVED_FIELDS)
        .copied()
        .collect();
    let mut options_compared = 0;
    for path in all_captures() {
        let tshark = mptcp_fields(&path, &requested);
        let ours = packets(&path);
        assert_eq!(tshark.len(), ours.len(), "{}: frame count", path.display());
        for (theirs, (frame, ip)) in tshark.iter().zip(&ours) {
            assert_eq!(theirs.frame, *frame);
            let mut f = Fields::new();
            for option in segment(*frame, ip).mptcp_options() {
                add_option(&mut f, &option);
                options_compared += 1;
            }
            for (name, values) in &f.0 {
                assert_eq!(
                    theirs.get(name),
                    &values[..],
                    "{} frame {frame}: field {name}",
                    path.display()
                );
            }
        }
    }
    // The 3735 packets carry 3632 MPTCP options (the sum of tshark's counts per subtype).
    assert_eq!(options_compared, 3632);
}
