//! One captured IP packet read as a TCP segment with its options.

use std::fmt::Write as _;
use std::net::SocketAddr;

use braid_proto::wire::mptcp::MptcpOption;
use braid_proto::wire::tcp_option::{TcpOption, TcpOptions};
use braid_proto::wire::{
    ip_protocol, ChecksumCheck, ChecksumStatus, IpRepr, TcpFlags, TcpRepr, TcpSegment, WireError,
};

use super::describe;

/// A TCP segment seen in a capture.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tcp: TcpRepr<'a>,
    /// Captures of locally sent traffic hold checksums the NIC was to finish, so a
    /// `Partial` checksum is normal there; see [`ChecksumStatus`].
    pub checksum: ChecksumStatus,
}

/// What an IP packet turned out to be.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// A well-formed IP packet that is not TCP, or a fragment of one.
    NotTcp {
        protocol: u8,
        fragment: bool,
    },
}

/// Reads `ip` (from the IPv4 or IPv6 header on) as a TCP segment.
pub fn decode(ip: &[u8]) -> Result<Decoded<'_>, WireError> {
    let (repr, payload) = IpRepr::parse(ip)?;
    if payload.protocol != ip_protocol::TCP || payload.fragment {
        return Ok(Decoded::NotTcp {
            protocol: payload.protocol,
            fragment: payload.fragment,
        });
    }
    let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip)?;
    let (src_addr, dst_addr) = (repr.src_addr(), repr.dst_addr());
    let checksum = TcpSegment::new_checked(payload.payload)?.checksum_status(src_addr, dst_addr);
    Ok(Decoded::Tcp(Segment {
        src: SocketAddr::new(src_addr, tcp.src_port),
        dst: SocketAddr::new(dst_addr, tcp.dst_port),
        tcp,
        checksum,
    }))
}

impl<'a> Segment<'a> {
    /// The TCP options in order; malformed ones as errors (see [`TcpOptions`]).
    pub fn options(&self) -> TcpOptions<'a> {
        TcpOptions::new(self.tcp.options)
    }

    /// The well-formed MPTCP options, in order.
    pub fn mptcp_options(&self) -> impl Iterator<Item = MptcpOption<'a>> {
        braid_proto::wire::tcp_option::mptcp_options(self.tcp.options)
    }

    /// Flags as tcpdump prints them: `S`, `S.`, `.`, `P.`, `F.`, `R`...
    pub fn flags_text(&self) -> String {
        let f = self.tcp.flags;
        let mut s = String::new();
        for (flag, c) in [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
            (TcpFlags::ACK, '.'),
        ] {
            if f.contains(flag) {
                s.push(c);
            }
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }

    /// One line: addresses, flags, sequence numbers, length, then the MPTCP options
    /// (and malformed options) decoded; other TCP options are left to `--json`.
    pub fn terse(&self) -> String {
        let t = &self.tcp;
        let mut line = format!(
            "{} > {} [{}] seq {}",
            self.src,
            self.dst,
            self.flags_text(),
            t.seq_number
        );
        if t.flags.contains(TcpFlags::ACK) {
            let _ = write!(line, " ack {}", t.ack_number);
        }
        let _ = write!(line, " win {} len {}", t.window, t.payload.len());
        for option in self.options() {
            match option {
                Ok(TcpOption::Mptcp(m)) => {
                    let _ = write!(line, " | {}", describe::terse(&m));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = write!(line, " | malformed option: {e}");
                }
            }
        }
        line
    }

    /// The segment as a JSON object, every TCP option decoded.
    pub fn to_json(&self) -> serde_json::Value {
        let t = &self.tcp;
        let mut options = Vec::new();
        let mut mptcp = Vec::new();
        for option in self.options() {
            match option {
                Ok(TcpOption::Mptcp(m)) => mptcp.push(describe::to_json(&m)),
                Ok(o) => options.push(tcp_option_json(&o)),
                Err(e) => options.push(serde_json::json!({ "malformed": e.to_string() })),
            }
        }
        serde_json::json!({
            "src": self.src.ip().to_string(),
            "src_port": self.src.port(),
            "dst": self.dst.ip().to_string(),
            "dst_port": self.dst.port(),
            "flags": self.flags_text(),
            "seq": t.seq_number,
            "ack": t.ack_number,
            "window": t.window,
            "payload_len": t.payload.len(),
            "tcp_options": options,
            "mptcp": mptcp,
        })
    }
}

fn tcp_option_json(option: &TcpOption<'_>) -> serde_json::Value {
    use serde_json::json;
    match *option {
        TcpOption::EndOfList => json!({ "kind": "eol" }),
        TcpOption::NoOperation => json!({ "kind": "nop" }),
        TcpOption::MaxSegmentSize(mss) => json!({ "kind": "mss", "mss": mss }),
        TcpOption::WindowScale(shift) => json!({ "kind": "wscale", "shift": shift }),
        TcpOption::SackPermitted => json!({ "kind": "sack_permitted" }),
        TcpOption::Sack(blocks) => {
            let blocks: Vec<_> = blocks
                .as_slice()
                .iter()
                .map(|b| [b.left, b.right])
                .collect();
            json!({ "kind": "sack", "blocks": blocks })
        }
        TcpOption::Timestamps { tsval, tsecr } => {
            json!({ "kind": "timestamps", "tsval": tsval, "tsecr": tsecr })
        }
        TcpOption::Mptcp(ref m) => describe::to_json(m),
        TcpOption::Unknown { kind, data } => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            json!({ "kind": kind, "data": hex })
        }
    }
}
