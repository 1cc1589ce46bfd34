//! MPTCP options as flat lists of named fields, for people and programs.
//!
//! Names follow RFC 8684 (sender_key, receiver_key, token, nonce, truncated_hmac,
//! hmac, data_ack, dsn, ssn, data_level_length, checksum, data_fin, addr_id, addr,
//! port, echo, backup, reason...), so that `braid pcap --json` reads like the RFC.
//! Keys, tokens, nonces and HMACs are opaque identifiers and print as hexadecimal;
//! sequence numbers, lengths, ids and ports are numbers.

use std::fmt;
use std::net::IpAddr;

use braid_proto::wire::mptcp::{subtype, MpCapableVariant, MpJoin, MptcpOption, SeqField};

/// One field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Num(u64),
    /// An identifier written as `0x` and `digits` hexadecimal digits.
    Hex {
        value: u64,
        digits: u8,
    },
    Bytes(Vec<u8>),
    Bool(bool),
    Addr(IpAddr),
    List(Vec<u64>),
    Text(&'static str),
}

impl FieldValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Num(n) => (*n).into(),
            FieldValue::Bool(b) => (*b).into(),
            FieldValue::List(l) => l.clone().into(),
            other => other.to_string().into(),
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Num(n) => write!(f, "{n}"),
            FieldValue::Hex { value, digits } => {
                write!(f, "0x{value:0width$x}", width = *digits as usize)
            }
            FieldValue::Bytes(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
            FieldValue::Bool(b) => write!(f, "{}", if *b { 1 } else { 0 }),
            FieldValue::Addr(a) => write!(f, "{a}"),
            FieldValue::List(l) => {
                let items: Vec<String> = l.iter().map(u64::to_string).collect();
                write!(f, "{}", items.join(","))
            }
            FieldValue::Text(t) => f.write_str(t),
        }
    }
}

/// A named field of an option.
pub type Field = (&'static str, FieldValue);

fn hex64(value: u64) -> FieldValue {
    FieldValue::Hex { value, digits: 16 }
}

fn hex32(value: u32) -> FieldValue {
    FieldValue::Hex {
        value: value.into(),
        digits: 8,
    }
}

fn seq_fields(fields: &mut Vec<Field>, name: &'static str, bits_name: &'static str, seq: SeqField) {
    fields.push((name, FieldValue::Num(seq.raw())));
    let bits = match seq {
        SeqField::U32(_) => 32,
        SeqField::U64(_) => 64,
    };
    fields.push((bits_name, FieldValue::Num(bits)));
}

/// The handshake stage of an MP_CAPABLE or MP_JOIN, as a short word.
pub fn stage(option: &MptcpOption<'_>) -> Option<&'static str> {
    Some(match option {
        MptcpOption::MpCapable(c) => match c.variant {
            MpCapableVariant::Syn => "syn",
            MpCapableVariant::SynAck { .. } => "syn-ack",
            MpCapableVariant::Ack { .. } => "ack",
            MpCapableVariant::AckWithData { .. } => "ack+data",
        },
        MptcpOption::MpJoin(j) => match j {
            MpJoin::Syn { .. } => "syn",
            MpJoin::SynAck { .. } => "syn-ack",
            MpJoin::Ack { .. } => "ack",
        },
        _ => return None,
    })
}

/// The option's fields, in wire order, `subtype` first.
pub fn fields(option: &MptcpOption<'_>) -> Vec<Field> {
    let mut f: Vec<Field> = vec![("subtype", FieldValue::Text(option.name()))];
    if let Some(stage) = stage(option) {
        f.push(("stage", FieldValue::Text(stage)));
    }
    match option {
        MptcpOption::MpCapable(c) => {
            f.push(("version", FieldValue::Num(1)));
            f.push((
                "flags",
                FieldValue::Hex {
                    value: c.flags.0.into(),
                    digits: 2,
                },
            ));
            f.push((
                "checksum_required",
                FieldValue::Bool(c.flags.checksum_required()),
            ));
            f.push(("hmac_sha256", FieldValue::Bool(c.flags.hmac_sha256())));
            if let Some(key) = c.sender_key() {
                f.push(("sender_key", hex64(key)));
            }
            if let Some(key) = c.receiver_key() {
                f.push(("receiver_key", hex64(key)));
            }
            if let MpCapableVariant::AckWithData {
                data_level_length,
                checksum,
                ..
            } = c.variant
            {
                f.push((
                    "data_level_length",
                    FieldValue::Num(data_level_length.into()),
                ));
                if let Some(checksum) = checksum {
                    f.push((
                        "checksum",
                        FieldValue::Hex {
                            value: checksum.into(),
                            digits: 4,
                        },
                    ));
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
                f.push(("backup", FieldValue::Bool(backup)));
                f.push(("addr_id", FieldValue::Num(addr_id.into())));
                f.push(("token", hex32(token)));
                f.push(("nonce", hex32(nonce)));
            }
            MpJoin::SynAck {
                backup,
                addr_id,
                truncated_hmac,
                nonce,
            } => {
                f.push(("backup", FieldValue::Bool(backup)));
                f.push(("addr_id", FieldValue::Num(addr_id.into())));
                f.push(("truncated_hmac", hex64(truncated_hmac)));
                f.push(("nonce", hex32(nonce)));
            }
            MpJoin::Ack { hmac } => f.push(("hmac", FieldValue::Bytes(hmac.to_vec()))),
        },
        MptcpOption::Dss(d) => {
            if let Some(ack) = d.data_ack {
                seq_fields(&mut f, "data_ack", "data_ack_bits", ack);
            }
            if let Some(m) = d.mapping {
                seq_fields(&mut f, "dsn", "dsn_bits", m.dsn);
                f.push(("ssn", FieldValue::Num(m.ssn.into())));
                f.push((
                    "data_level_length",
                    FieldValue::Num(m.data_level_length.into()),
                ));
                if let Some(checksum) = m.checksum {
                    f.push((
                        "checksum",
                        FieldValue::Hex {
                            value: checksum.into(),
                            digits: 4,
                        },
                    ));
                }
                if m.is_infinite() {
                    f.push(("infinite_mapping", FieldValue::Bool(true)));
                }
            }
            f.push(("data_fin", FieldValue::Bool(d.data_fin)));
        }
        MptcpOption::AddAddr(a) => {
            f.push(("echo", FieldValue::Bool(a.is_echo())));
            f.push(("addr_id", FieldValue::Num(a.addr_id.into())));
            f.push(("addr", FieldValue::Addr(a.addr)));
            if let Some(port) = a.port {
                f.push(("port", FieldValue::Num(port.into())));
            }
            if let Some(hmac) = a.truncated_hmac {
                f.push(("truncated_hmac", hex64(hmac)));
            }
        }
        MptcpOption::RemoveAddr(r) => {
            f.push((
                "addr_ids",
                FieldValue::List(r.addr_ids.as_slice().iter().map(|&id| id.into()).collect()),
            ));
        }
        MptcpOption::MpPrio(p) => {
            f.push(("backup", FieldValue::Bool(p.backup)));
            if let Some(id) = p.addr_id {
                f.push(("addr_id", FieldValue::Num(id.into())));
            }
        }
        MptcpOption::MpFail(m) => f.push(("dsn", FieldValue::Num(m.dsn))),
        MptcpOption::MpFastclose(m) => f.push(("receiver_key", hex64(m.receiver_key))),
        MptcpOption::MpTcpRst(r) => {
            f.push(("transient", FieldValue::Bool(r.flags.transient())));
            f.push((
                "flags",
                FieldValue::Hex {
                    value: r.flags.0.into(),
                    digits: 1,
                },
            ));
            f.push(("reason", FieldValue::Num(r.reason.code().into())));
            f.push(("reason_name", FieldValue::Text(r.reason.name())));
        }
        MptcpOption::Unknown(u) => {
            f.push(("subtype_number", FieldValue::Num(u.subtype().into())));
            f.push(("body", FieldValue::Bytes(u.body.to_vec())));
        }
    }
    f
}

/// The option as one JSON object.
pub fn to_json(option: &MptcpOption<'_>) -> serde_json::Value {
    let map = fields(option)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_json()))
        .collect();
    serde_json::Value::Object(map)
}

/// The option in a terse line: `DSS ack=… dsn=… ssn=1 len=1448`.
pub fn terse(option: &MptcpOption<'_>) -> String {
    let mut out = String::from(option.name());
    for (name, value) in fields(option).into_iter().skip(1) {
        let short = match name {
            "stage" => {
                out.push(' ');
                out.push_str(&value.to_string());
                continue;
            }
            // Widths and derived flags say little in a one-line view unless set.
            "data_ack_bits" | "dsn_bits" | "version" | "hmac_sha256" | "reason"
            | "subtype_number" => continue,
            // MP_PRIO says nothing but its B flag: show it either way.
            "backup" if option.subtype() == subtype::MP_PRIO => "backup",
            "checksum_required" | "data_fin" | "backup" | "echo" | "transient"
            | "infinite_mapping" => {
                if value == FieldValue::Bool(true) {
                    out.push(' ');
                    out.push_str(name);
                }
                continue;
            }
            "data_level_length" => "len",
            "data_ack" => "ack",
            "truncated_hmac" => "hmac",
            "reason_name" => "reason",
            other => other,
        };
        out.push_str(&format!(" {short}={value}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_proto::wire::mptcp::{Dss, DssMapping};

    #[test]
    fn dss_reads_like_the_rfc() {
        let dss = MptcpOption::Dss(Dss {
            data_ack: Some(SeqField::U32(7)),
            mapping: Some(DssMapping {
                dsn: SeqField::U64(100),
                ssn: 1,
                data_level_length: 1448,
                checksum: None,
            }),
            data_fin: false,
        });
        assert_eq!(terse(&dss), "DSS ack=7 dsn=100 ssn=1 len=1448");
        assert_eq!(
            to_json(&dss).to_string(),
            r#"{"subtype":"DSS","data_ack":7,"data_ack_bits":32,"dsn":100,"dsn_bits":64,"ssn":1,"data_level_length":1448,"data_fin":false}"#
        );
    }
}
