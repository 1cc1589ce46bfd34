//! Link-layer decapsulation: finding the IP packet inside a captured frame and trimming it
//! to the length its header declares. [`LinkType`] lives here so that the set of types it
//! calls supported and the set `decapsulate` handles cannot drift apart unnoticed.

use std::fmt;
use std::ops::Range;

use super::Endian;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q, 802.1ad and the pre-standard Q-in-Q tag protocol identifiers.
const ETHERTYPE_VLAN_TAGS: [u16; 3] = [0x8100, 0x88A8, 0x9100];
/// Ethernet frames may stack this many VLAN tags before the payload ethertype.
const MAX_VLAN_TAGS: usize = 2;

/// A link-layer header type, as numbered by tcpdump.org's `LINKTYPE_*` registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II, optionally with 802.1Q / 802.1ad VLAN tags.
    pub const ETHERNET: Self = Self(1);
    /// Raw IP as written on BSDs whose `DLT_RAW` is 12.
    pub const RAW_12: Self = Self(12);
    /// Raw IP as written on OpenBSD, whose `DLT_RAW` is 14.
    pub const RAW_14: Self = Self(14);
    /// Raw IPv4 or IPv6, told apart by the version nibble.
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux cooked capture v1 (`tcpdump -i any`): 16-byte header.
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4 only.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6 only.
    pub const IPV6: Self = Self(229);
    /// Linux cooked capture v2: 20-byte header.
    pub const LINUX_SLL2: Self = Self(276);

    /// The registry name of the link types this reader decodes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "NULL",
            Self::ETHERNET => "ETHERNET",
            Self::RAW | Self::RAW_12 | Self::RAW_14 => "RAW",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            _ => return None,
        })
    }

    /// Whether frames of this link type can be decapsulated to IP.
    pub fn is_supported(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Where a frame's network-layer packet is, if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// Byte range of the IP packet within the frame; never empty.
    Ip(Range<usize>),
    /// The link layer says the frame carries something other than IP.
    NonIp,
    /// The frame ends before the network-layer header starts.
    TooShort,
}

/// Locates the IP packet inside a link-layer frame; `None` if the link type is unknown.
pub(super) fn decapsulate(link_type: LinkType, frame: &[u8]) -> Option<Payload> {
    let payload = match link_type {
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => match frame.first() {
            None => Payload::TooShort,
            Some(byte) if matches!(byte >> 4, 4 | 6) => ip_from(frame, 0),
            Some(_) => Payload::NonIp,
        },
        LinkType::IPV4 | LinkType::IPV6 => ip_from(frame, 0),
        LinkType::ETHERNET => ethernet(frame),
        LinkType::LINUX_SLL => by_ethertype(frame, be16_at(frame, 14), 16),
        LinkType::LINUX_SLL2 => by_ethertype(frame, be16_at(frame, 0), 20),
        LinkType::NULL | LinkType::LOOP => loopback(frame),
        _ => return None,
    };
    Some(payload)
}

fn ethernet(frame: &[u8]) -> Payload {
    let mut offset = 14;
    let mut ethertype = be16_at(frame, 12);
    for _ in 0..MAX_VLAN_TAGS {
        match ethertype {
            Some(tpid) if ETHERTYPE_VLAN_TAGS.contains(&tpid) => {
                // Tag: 2-byte TCI, then the next ethertype.
                ethertype = be16_at(frame, offset + 2);
                offset += 4;
            }
            _ => break,
        }
    }
    by_ethertype(frame, ethertype, offset)
}

/// Interprets an ethertype that `header_len` bytes of link-layer header end with.
fn by_ethertype(frame: &[u8], ethertype: Option<u16>, header_len: usize) -> Payload {
    if frame.len() < header_len {
        return Payload::TooShort;
    }
    match ethertype {
        Some(ETHERTYPE_IPV4 | ETHERTYPE_IPV6) => ip_from(frame, header_len),
        Some(_) => Payload::NonIp,
        None => Payload::TooShort,
    }
}

/// BSD loopback header: an address family in 4 bytes, whose byte order is that of the
/// writing host for NULL. Families are small numbers, so the non-zero half tells the order.
fn loopback(frame: &[u8]) -> Payload {
    let Some(header) = frame.get(..4) else {
        return Payload::TooShort;
    };
    let big = Endian::Big.u32_at(header, 0).unwrap_or_default();
    let family = if big <= 0xFFFF {
        big
    } else {
        Endian::Little.u32_at(header, 0).unwrap_or_default()
    };
    match family {
        // AF_INET everywhere; AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS.
        2 | 10 | 24 | 28 | 30 => ip_from(frame, 4),
        _ => Payload::NonIp,
    }
}

/// The IP packet starting at `start`, cut to the length its header declares so that
/// link-layer padding and trailers are dropped.
fn ip_from(frame: &[u8], start: usize) -> Payload {
    let Some(packet) = frame.get(start..).filter(|p| !p.is_empty()) else {
        return Payload::TooShort;
    };
    let declared = match packet.first().map(|b| b >> 4) {
        Some(4) => be16_at(packet, 2).map(usize::from).filter(|&len| len >= 20),
        // A zero payload length means a jumbogram, whose length lives in an option.
        Some(6) => be16_at(packet, 4)
            .filter(|&len| len != 0)
            .map(|len| 40 + usize::from(len)),
        _ => None,
    };
    let len = declared.map_or(packet.len(), |declared| declared.min(packet.len()));
    Payload::Ip(start..start + len)
}

fn be16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    Endian::Big.u16_at(bytes, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_family_in_either_byte_order() {
        let ip = [
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        for header in [[2, 0, 0, 0], [0, 0, 0, 2], [30, 0, 0, 0], [0, 0, 0, 24]] {
            let frame = [&header[..], &ip[..]].concat();
            assert_eq!(loopback(&frame), Payload::Ip(4..24), "{header:?}");
        }
        assert_eq!(loopback(&[7, 0, 0, 0, 1]), Payload::NonIp);
        assert_eq!(loopback(&[2, 0, 0]), Payload::TooShort);
        assert_eq!(loopback(&[2, 0, 0, 0]), Payload::TooShort);
    }

    #[test]
    fn ip_length_trims_trailers_but_never_extends() {
        let mut v4 = vec![0x45, 0, 0, 24];
        v4.resize(30, 0xEE);
        assert_eq!(ip_from(&v4, 0), Payload::Ip(0..24));
        // Declared longer than captured: snap-length truncation, keep what we have.
        v4[3] = 200;
        assert_eq!(ip_from(&v4, 0), Payload::Ip(0..30));
        // Declared shorter than a header (TSO writes 0): ignore the field.
        v4[3] = 0;
        assert_eq!(ip_from(&v4, 0), Payload::Ip(0..30));

        let mut v6 = vec![0x60, 0, 0, 0, 0, 8];
        v6.resize(52, 0);
        assert_eq!(ip_from(&v6, 0), Payload::Ip(0..48));
        v6[5] = 0;
        assert_eq!(ip_from(&v6, 0), Payload::Ip(0..52));
    }

    #[test]
    fn ethernet_with_too_many_vlan_tags_is_not_ip() {
        let mut frame = vec![0u8; 12];
        for _ in 0..3 {
            frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
        }
        frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 20]);
        assert_eq!(ethernet(&frame), Payload::NonIp);
        assert_eq!(ethernet(&frame[..13]), Payload::TooShort);
        assert_eq!(ethernet(&frame[..16]), Payload::TooShort);
    }
}
