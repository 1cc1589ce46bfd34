//! A streaming reader for classic pcap and pcapng files that yields network-layer packets.
//!
//! Both formats are parsed here rather than through `pcap-file` 2.0, which reads pcapng
//! timestamps as nanoseconds whatever the interface's `if_tsresol` says (1000x off for the
//! default microsecond resolution) and rejects classic-pcap records whose original length
//! exceeds the snap length, i.e. every packet cut short by `tcpdump -s`. The formats are
//! small; owning the parser also lets every length be checked before it is trusted, so no
//! input can make the reader panic or allocate more than one bounded record at a time.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

/// Largest record or block accepted. Real packets are far smaller (snap lengths top out at
/// 256 KiB); the cap, libpcap's own limit for pcapng blocks, stops a corrupt length field
/// from making us buffer gigabytes before noticing the file is broken.
const MAX_RECORD_LEN: u32 = 16 * 1024 * 1024;

/// Classic pcap magic numbers as read big-endian from the first four bytes.
const PCAP_MICROS: u32 = 0xA1B2_C3D4;
const PCAP_NANOS: u32 = 0xA1B2_3C4D;
/// Alexey Kuznetsov's patched libpcap: microseconds, 8 extra bytes per record header.
const PCAP_KUZNETSOV: u32 = 0xA1B2_CD34;

/// pcapng block types.
const PCAPNG_SECTION_HEADER: u32 = 0x0A0D_0D0A;
const PCAPNG_INTERFACE_DESCRIPTION: u32 = 1;
const PCAPNG_OBSOLETE_PACKET: u32 = 2;
const PCAPNG_SIMPLE_PACKET: u32 = 3;
const PCAPNG_ENHANCED_PACKET: u32 = 6;
/// Byte-order magic in a section header, as stored by a big-endian writer.
const PCAPNG_BYTE_ORDER_MAGIC: [u8; 4] = [0x1A, 0x2B, 0x3C, 0x4D];

/// pcapng interface description options we interpret.
const OPT_END_OF_OPTIONS: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

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

/// Where capture bytes come from, so errors can tell the user which input is at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureOrigin {
    /// A file opened by path.
    File(PathBuf),
    /// Any other reader (in-memory buffer, pipe, stdin).
    Stream,
}

impl fmt::Display for CaptureOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Stream => f.write_str("capture input"),
        }
    }
}

/// Why a capture could not be read. Frame numbers in messages are 1-based, as Wireshark
/// shows them; the `index` fields are 0-based like [`CapturedPacket::index`].
#[derive(Debug, Error)]
pub enum CaptureError {
    /// The operating system failed to open or read the input.
    #[error("cannot read {origin}")]
    Io {
        origin: CaptureOrigin,
        #[source]
        source: io::Error,
    },
    /// The input does not start with a pcap or pcapng magic number.
    #[error("{origin} is not a pcap or pcapng file ({})", describe_start(.start))]
    NotACapture {
        origin: CaptureOrigin,
        /// The first bytes of the input (at most four).
        start: Vec<u8>,
    },
    /// The input ends inside the file header.
    #[error("{origin} is truncated: it ends inside the file header")]
    TruncatedHeader { origin: CaptureOrigin },
    /// The input ends inside a record or block.
    #[error("{origin} is truncated: it ends in the middle of frame {}", .index + 1)]
    Truncated {
        origin: CaptureOrigin,
        /// 0-based index of the frame being read when the input ran out.
        index: u64,
    },
    /// Frames use a link layer this reader cannot strip to reach the IP header.
    #[error(
        "{origin} uses link type {link_type}, which braid cannot decode \
         (supported: ETHERNET, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL, LOOP)"
    )]
    UnsupportedLinkType {
        origin: CaptureOrigin,
        link_type: LinkType,
    },
    /// A header or block contradicts itself or the format.
    #[error("{origin} is corrupt {}: {reason}", describe_location(.index))]
    Malformed {
        origin: CaptureOrigin,
        /// 0-based index of the frame being read when the problem was found; `None` in the
        /// file header.
        index: Option<u64>,
        reason: String,
    },
}

fn describe_location(index: &Option<u64>) -> String {
    match index {
        Some(index) => format!("at frame {}", index.saturating_add(1)),
        None => "in its file header".to_owned(),
    }
}

fn describe_start(start: &[u8]) -> String {
    match start.len() {
        0 => "it is empty".to_owned(),
        n if n < 4 => format!("it is only {n} bytes long"),
        _ => {
            let hex: Vec<String> = start.iter().map(|b| format!("{b:02x}")).collect();
            format!("it starts with bytes {}", hex.join(" "))
        }
    }
}

/// The container format detected from the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format (any byte order, micro- or nanosecond timestamps).
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One captured frame, stripped down to its network-layer packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedPacket {
    /// 0-based frame number in the file, counting skipped non-IP frames too, so it matches
    /// Wireshark's frame number minus one.
    pub index: u64,
    /// Capture time since the Unix epoch. Zero for pcapng simple packet blocks, which
    /// carry no timestamp, and for times the file places before the epoch.
    pub timestamp: Duration,
    /// Link-layer type the frame was captured with.
    pub link_type: LinkType,
    /// pcapng interface the frame was captured on; always 0 in classic pcap.
    pub interface: u32,
    /// Length of the whole frame on the wire, link-layer header included, as recorded by the
    /// capture tool (tools that rewrite the encapsulation often keep the old length).
    pub original_len: u32,
    /// The packet from the first byte of its IPv4 or IPv6 header; never empty. Link-layer
    /// trailers (Ethernet padding, FCS) are cut off using the IP length field, but a packet
    /// cut short by the snap length is returned as captured.
    pub ip: Vec<u8>,
}

/// Counts of frames the reader passed over because they hold no IP packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkippedFrames {
    /// Frames carrying another protocol (ARP, LLDP, ...).
    pub non_ip: u64,
    /// Frames that end before the network-layer header starts.
    pub too_short: u64,
}

impl SkippedFrames {
    /// All skipped frames.
    pub fn total(&self) -> u64 {
        self.non_ip + self.too_short
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16_at(self, bytes: &[u8], offset: usize) -> Option<u16> {
        let array: [u8; 2] = bytes.get(offset..offset.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Self::Little => u16::from_le_bytes(array),
            Self::Big => u16::from_be_bytes(array),
        })
    }

    fn u32_at(self, bytes: &[u8], offset: usize) -> Option<u32> {
        let array: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Self::Little => u32::from_le_bytes(array),
            Self::Big => u32::from_be_bytes(array),
        })
    }

    fn i64_at(self, bytes: &[u8], offset: usize) -> Option<i64> {
        let array: [u8; 8] = bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Self::Little => i64::from_le_bytes(array),
            Self::Big => i64::from_be_bytes(array),
        })
    }
}

fn be16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    Endian::Big.u16_at(bytes, offset)
}

/// Units per second of pcapng timestamps: `10^n` or `2^n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsResolution {
    Decimal(u8),
    Binary(u8),
}

impl TsResolution {
    /// The pcapng default when an interface has no `if_tsresol` option: microseconds.
    const DEFAULT: Self = Self::Decimal(6);

    fn from_option(value: u8) -> Self {
        if value & 0x80 == 0 {
            Self::Decimal(value)
        } else {
            Self::Binary(value & 0x7F)
        }
    }

    /// Converts a timestamp in these units to a duration, exactly for any exponent.
    fn to_duration(self, units: u64) -> Duration {
        let per_second: Option<u128> = match self {
            Self::Decimal(exp) => 10u128.checked_pow(u32::from(exp)),
            Self::Binary(exp) => 1u128.checked_shl(u32::from(exp)),
        };
        // Units too fine to fit in u128 make any u64 count far below one nanosecond.
        let Some(per_second) = per_second else {
            return Duration::ZERO;
        };
        let units = u128::from(units);
        // Both quotients are bounded by their dividend's range, so the casts are lossless:
        // seconds <= units <= u64::MAX and nanos < 1e9 because rem < per_second.
        let seconds = (units / per_second) as u64;
        let nanos = ((units % per_second) * 1_000_000_000 / per_second) as u32;
        Duration::new(seconds, nanos)
    }
}

/// What a pcapng interface description block says about the frames that reference it.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    snap_len: u32,
    resolution: TsResolution,
    /// `if_tsoffset`: seconds to add to every timestamp.
    offset_seconds: i64,
}

#[derive(Debug)]
enum Format {
    Pcap {
        endian: Endian,
        nanosecond: bool,
        record_header_len: usize,
        link_type: LinkType,
    },
    PcapNg {
        endian: Endian,
        interfaces: Vec<Interface>,
    },
}

/// A frame as stored in the file: `buffer[data]` holds the link-layer frame.
struct Frame {
    link_type: LinkType,
    interface: u32,
    timestamp: Duration,
    original_len: u32,
    buffer: Vec<u8>,
    data: Range<usize>,
}

/// Reads IP packets from a pcap or pcapng capture, one frame at a time.
///
/// Iterating yields `Result<CapturedPacket, CaptureError>`; frames holding no IP packet are
/// skipped and counted in [`CaptureReader::skipped`]. After an error or the end of the input
/// the iterator yields nothing more. Wrap unbuffered readers in a [`BufReader`]; records
/// are read with two small reads each.
#[derive(Debug)]
pub struct CaptureReader<R> {
    input: R,
    origin: CaptureOrigin,
    format: Format,
    next_index: u64,
    skipped: SkippedFrames,
    /// Still reading the file header (pcap header or first pcapng section header).
    in_header: bool,
    finished: bool,
}

impl CaptureReader<BufReader<File>> {
    /// Opens a capture file and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        let origin = CaptureOrigin::File(path.to_path_buf());
        match File::open(path) {
            Ok(file) => Self::with_origin(BufReader::new(file), origin),
            Err(source) => Err(CaptureError::Io { origin, source }),
        }
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the capture header from `input`; errors will name it "capture input".
    pub fn new(input: R) -> Result<Self, CaptureError> {
        Self::with_origin(input, CaptureOrigin::Stream)
    }

    /// Reads the capture header from `input`; errors will name `origin`.
    pub fn with_origin(mut input: R, origin: CaptureOrigin) -> Result<Self, CaptureError> {
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut input, &mut magic).map_err(|source| CaptureError::Io {
            origin: origin.clone(),
            source,
        })?;
        let not_a_capture = |origin: CaptureOrigin| CaptureError::NotACapture {
            origin,
            start: magic.get(..got).unwrap_or_default().to_vec(),
        };
        if got < magic.len() {
            return Err(not_a_capture(origin));
        }
        let mut reader = CaptureReader {
            input,
            origin,
            format: Format::PcapNg {
                endian: Endian::Little,
                interfaces: Vec::new(),
            },
            next_index: 0,
            skipped: SkippedFrames::default(),
            in_header: true,
            finished: false,
        };
        let as_big = u32::from_be_bytes(magic);
        let as_little = u32::from_le_bytes(magic);
        if as_big == PCAPNG_SECTION_HEADER {
            // The first block must be a section header; reading it sets the byte order.
            reader.read_pcapng_block(&magic)?;
        } else if let Some((endian, magic)) = [(Endian::Big, as_big), (Endian::Little, as_little)]
            .into_iter()
            .find(|(_, m)| [PCAP_MICROS, PCAP_NANOS, PCAP_KUZNETSOV].contains(m))
        {
            reader.format = reader.read_pcap_header(endian, magic)?;
        } else {
            return Err(not_a_capture(reader.origin));
        }
        reader.in_header = false;
        Ok(reader)
    }

    /// The container format of the input.
    pub fn format(&self) -> CaptureFormat {
        match self.format {
            Format::Pcap { .. } => CaptureFormat::Pcap,
            Format::PcapNg { .. } => CaptureFormat::PcapNg,
        }
    }

    /// Where the capture comes from, as named in errors.
    pub fn origin(&self) -> &CaptureOrigin {
        &self.origin
    }

    /// Frames read so far, IP or not: the index the next frame will get.
    pub fn frames_read(&self) -> u64 {
        self.next_index
    }

    /// Frames passed over so far because they hold no IP packet.
    pub fn skipped(&self) -> SkippedFrames {
        self.skipped
    }

    /// Returns the next IP packet, `Ok(None)` at the end of the capture.
    pub fn next_packet(&mut self) -> Result<Option<CapturedPacket>, CaptureError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.next_ip_packet();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn next_ip_packet(&mut self) -> Result<Option<CapturedPacket>, CaptureError> {
        loop {
            let Some(frame) = self.next_frame()? else {
                return Ok(None);
            };
            let index = self.next_index;
            self.next_index += 1;
            let bytes = frame.buffer.get(frame.data.clone()).unwrap_or_default();
            let ip = match decapsulate(frame.link_type, bytes) {
                None => {
                    return Err(CaptureError::UnsupportedLinkType {
                        origin: self.origin.clone(),
                        link_type: frame.link_type,
                    })
                }
                Some(Payload::NonIp) => {
                    self.skipped.non_ip += 1;
                    continue;
                }
                Some(Payload::TooShort) => {
                    self.skipped.too_short += 1;
                    continue;
                }
                Some(Payload::Ip(range)) => range,
            };
            let mut buffer = frame.buffer;
            buffer.truncate(frame.data.start + ip.end);
            buffer.drain(..frame.data.start + ip.start);
            return Ok(Some(CapturedPacket {
                index,
                timestamp: frame.timestamp,
                link_type: frame.link_type,
                interface: frame.interface,
                original_len: frame.original_len,
                ip: buffer,
            }));
        }
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        match self.format {
            Format::Pcap { .. } => self.next_pcap_record(),
            Format::PcapNg { .. } => loop {
                let mut block_type = [0u8; 4];
                let got = self.read_into(&mut block_type)?;
                if got == 0 {
                    return Ok(None);
                }
                if got < block_type.len() {
                    return Err(self.truncated());
                }
                if let Some(frame) = self.read_pcapng_block(&block_type)? {
                    return Ok(Some(frame));
                }
            },
        }
    }

    /// Reads the 20 bytes after a classic pcap magic number.
    fn read_pcap_header(&mut self, endian: Endian, magic: u32) -> Result<Format, CaptureError> {
        let mut header = [0u8; 20];
        if self.read_into(&mut header)? < header.len() {
            return Err(self.truncated());
        }
        let major = endian.u16_at(&header, 0).unwrap_or_default();
        let minor = endian.u16_at(&header, 2).unwrap_or_default();
        if major != 2 {
            return Err(self.malformed(format!("unsupported pcap version {major}.{minor}")));
        }
        // The upper bits of the link type field carry FCS information, not the type.
        let link_type = LinkType(endian.u32_at(&header, 16).unwrap_or_default() & 0xFFFF);
        if !link_type.is_supported() {
            return Err(CaptureError::UnsupportedLinkType {
                origin: self.origin.clone(),
                link_type,
            });
        }
        Ok(Format::Pcap {
            endian,
            nanosecond: magic == PCAP_NANOS,
            record_header_len: if magic == PCAP_KUZNETSOV { 24 } else { 16 },
            link_type,
        })
    }

    fn next_pcap_record(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Format::Pcap {
            endian,
            nanosecond,
            record_header_len,
            link_type,
        } = self.format
        else {
            return Ok(None);
        };
        let mut header_buffer = [0u8; 24];
        let header = header_buffer
            .get_mut(..record_header_len)
            .unwrap_or_default();
        let got = read_up_to(&mut self.input, header).map_err(|e| self.io(e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < header.len() {
            return Err(self.truncated());
        }
        let field = |offset| endian.u32_at(header, offset).unwrap_or_default();
        let (seconds, fraction, captured_len, original_len) =
            (field(0), field(4), field(8), field(12));
        if captured_len > MAX_RECORD_LEN {
            return Err(self.malformed(format!(
                "record claims {captured_len} bytes, more than the {MAX_RECORD_LEN}-byte limit"
            )));
        }
        let fraction = if nanosecond {
            Duration::from_nanos(u64::from(fraction))
        } else {
            Duration::from_micros(u64::from(fraction))
        };
        let buffer = self.read_exactly(captured_len)?;
        Ok(Some(Frame {
            link_type,
            interface: 0,
            timestamp: Duration::from_secs(u64::from(seconds)).saturating_add(fraction),
            original_len,
            data: 0..buffer.len(),
            buffer,
        }))
    }

    /// Reads the rest of a pcapng block whose type has been read; returns its frame if it is
    /// a packet block, and records section and interface blocks in the reader state.
    fn read_pcapng_block(&mut self, block_type: &[u8; 4]) -> Result<Option<Frame>, CaptureError> {
        let mut length_bytes = [0u8; 4];
        if self.read_into(&mut length_bytes)? < length_bytes.len() {
            return Err(self.truncated());
        }
        // The section header is a palindrome; its byte-order magic says how to read the rest.
        let is_section_header = u32::from_be_bytes(*block_type) == PCAPNG_SECTION_HEADER;
        let mut prefix = Vec::new();
        let endian = if is_section_header {
            let mut byte_order = [0u8; 4];
            if self.read_into(&mut byte_order)? < byte_order.len() {
                return Err(self.truncated());
            }
            prefix.extend_from_slice(&byte_order);
            if byte_order == PCAPNG_BYTE_ORDER_MAGIC {
                Endian::Big
            } else if u32::from_le_bytes(byte_order) == u32::from_be_bytes(PCAPNG_BYTE_ORDER_MAGIC)
            {
                Endian::Little
            } else {
                return Err(self.malformed("pcapng section header has an invalid byte-order magic"));
            }
        } else {
            match self.format {
                Format::PcapNg { endian, .. } => endian,
                Format::Pcap { .. } => return Ok(None),
            }
        };
        let block_type = endian.u32_at(block_type, 0).unwrap_or_default();
        let total_len = endian.u32_at(&length_bytes, 0).unwrap_or_default();
        if total_len < 12 || total_len % 4 != 0 || total_len > MAX_RECORD_LEN {
            return Err(self.malformed(format!(
                "pcapng block of type {block_type:#x} has invalid length {total_len}"
            )));
        }
        // Body plus the trailing copy of the length; the prefix is already read.
        let rest_len = total_len - 8 - prefix.len() as u32;
        let rest = self.read_exactly(rest_len)?;
        let mut body = prefix;
        body.extend_from_slice(&rest);
        let trailer_at = body.len().saturating_sub(4);
        if endian.u32_at(&body, trailer_at) != Some(total_len) {
            return Err(self.malformed(format!(
                "pcapng block of type {block_type:#x} ends with a length that differs from its start"
            )));
        }
        body.truncate(trailer_at);

        match block_type {
            PCAPNG_SECTION_HEADER => {
                self.parse_section_header(&body, endian)?;
                Ok(None)
            }
            PCAPNG_INTERFACE_DESCRIPTION => {
                let interface = self.parse_interface_description(&body, endian)?;
                if let Format::PcapNg { interfaces, .. } = &mut self.format {
                    interfaces.push(interface);
                }
                Ok(None)
            }
            PCAPNG_ENHANCED_PACKET | PCAPNG_OBSOLETE_PACKET => {
                self.parse_packet_block(body, endian, block_type).map(Some)
            }
            PCAPNG_SIMPLE_PACKET => self.parse_simple_packet(body, endian).map(Some),
            _ => Ok(None),
        }
    }

    fn parse_section_header(&mut self, body: &[u8], endian: Endian) -> Result<(), CaptureError> {
        let (Some(major), Some(minor)) = (endian.u16_at(body, 4), endian.u16_at(body, 6)) else {
            return Err(self.malformed("pcapng section header is too short"));
        };
        if major != 1 {
            return Err(self.malformed(format!("unsupported pcapng version {major}.{minor}")));
        }
        // Interface numbering restarts with every section.
        self.format = Format::PcapNg {
            endian,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    fn parse_interface_description(
        &self,
        body: &[u8],
        endian: Endian,
    ) -> Result<Interface, CaptureError> {
        let (Some(link_type), Some(snap_len)) = (endian.u16_at(body, 0), endian.u32_at(body, 4))
        else {
            return Err(self.malformed("pcapng interface description block is too short"));
        };
        let mut interface = Interface {
            link_type: LinkType(u32::from(link_type)),
            snap_len,
            resolution: TsResolution::DEFAULT,
            offset_seconds: 0,
        };
        let mut offset = 8;
        while offset < body.len() {
            let (Some(code), Some(len)) =
                (endian.u16_at(body, offset), endian.u16_at(body, offset + 2))
            else {
                return Err(self.malformed("pcapng interface option is cut short"));
            };
            if code == OPT_END_OF_OPTIONS {
                break;
            }
            let value_start = offset + 4;
            let Some(value) = body.get(value_start..value_start + usize::from(len)) else {
                return Err(self.malformed(format!(
                    "pcapng interface option {code} runs past the end of its block"
                )));
            };
            match (code, value) {
                (OPT_IF_TSRESOL, &[resolution]) => {
                    interface.resolution = TsResolution::from_option(resolution)
                }
                (OPT_IF_TSOFFSET, _) => {
                    if let Some(seconds) = endian.i64_at(value, 0) {
                        interface.offset_seconds = seconds;
                    }
                }
                _ => {}
            }
            offset = value_start + padded_to_4(usize::from(len));
        }
        Ok(interface)
    }

    /// Parses an enhanced (type 6) or obsolete (type 2) packet block; their layouts differ
    /// only in the width of the interface id.
    fn parse_packet_block(
        &self,
        body: Vec<u8>,
        endian: Endian,
        block_type: u32,
    ) -> Result<Frame, CaptureError> {
        let interface_id = if block_type == PCAPNG_OBSOLETE_PACKET {
            endian.u16_at(&body, 0).map(u32::from)
        } else {
            endian.u32_at(&body, 0)
        };
        let fields = (
            interface_id,
            endian.u32_at(&body, 4),
            endian.u32_at(&body, 8),
            endian.u32_at(&body, 12),
            endian.u32_at(&body, 16),
        );
        let (Some(interface_id), Some(high), Some(low), Some(captured_len), Some(original_len)) =
            fields
        else {
            return Err(self.malformed("pcapng packet block is too short"));
        };
        let data = 20..(captured_len as usize).saturating_add(20);
        if data.end > body.len() {
            return Err(self.malformed(format!(
                "pcapng packet block claims {captured_len} captured bytes but holds {}",
                body.len() - 20
            )));
        }
        let interface = self.interface(interface_id)?;
        let units = (u64::from(high) << 32) | u64::from(low);
        Ok(Frame {
            link_type: interface.link_type,
            interface: interface_id,
            timestamp: apply_offset(
                interface.resolution.to_duration(units),
                interface.offset_seconds,
            ),
            original_len,
            buffer: body,
            data,
        })
    }

    /// Parses a simple packet block: interface 0, no timestamp, and a captured length that
    /// must be inferred from the original length and the snap length.
    fn parse_simple_packet(&self, body: Vec<u8>, endian: Endian) -> Result<Frame, CaptureError> {
        let Some(original_len) = endian.u32_at(&body, 0) else {
            return Err(self.malformed("pcapng simple packet block is too short"));
        };
        let interface = self.interface(0)?;
        let mut captured_len = original_len as usize;
        if interface.snap_len != 0 {
            captured_len = captured_len.min(interface.snap_len as usize);
        }
        // The block may end with padding; never read past it.
        captured_len = captured_len.min(body.len() - 4);
        Ok(Frame {
            link_type: interface.link_type,
            interface: 0,
            timestamp: Duration::ZERO,
            original_len,
            buffer: body,
            data: 4..4 + captured_len,
        })
    }

    fn interface(&self, id: u32) -> Result<Interface, CaptureError> {
        let interfaces = match &self.format {
            Format::PcapNg { interfaces, .. } => interfaces.as_slice(),
            Format::Pcap { .. } => &[],
        };
        interfaces.get(id as usize).copied().ok_or_else(|| {
            self.malformed(format!(
                "packet refers to interface {id}, which no interface description block defines"
            ))
        })
    }

    /// Reads up to `buffer.len()` bytes, fewer only at the end of the input.
    fn read_into(&mut self, buffer: &mut [u8]) -> Result<usize, CaptureError> {
        read_up_to(&mut self.input, buffer).map_err(|e| self.io(e))
    }

    /// Reads exactly `len` bytes, or reports the current frame as truncated. The buffer
    /// grows as data arrives, so a corrupt length cannot force a large allocation.
    fn read_exactly(&mut self, len: u32) -> Result<Vec<u8>, CaptureError> {
        let mut buffer = Vec::new();
        (&mut self.input)
            .take(u64::from(len))
            .read_to_end(&mut buffer)
            .map_err(|e| self.io(e))?;
        if buffer.len() < len as usize {
            return Err(self.truncated());
        }
        Ok(buffer)
    }

    fn io(&self, source: io::Error) -> CaptureError {
        CaptureError::Io {
            origin: self.origin.clone(),
            source,
        }
    }

    fn truncated(&self) -> CaptureError {
        let origin = self.origin.clone();
        if self.in_header {
            CaptureError::TruncatedHeader { origin }
        } else {
            CaptureError::Truncated {
                origin,
                index: self.next_index,
            }
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> CaptureError {
        CaptureError::Malformed {
            origin: self.origin.clone(),
            index: (!self.in_header).then_some(self.next_index),
            reason: reason.into(),
        }
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<CapturedPacket, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_packet().transpose()
    }
}

impl<R: Read> std::iter::FusedIterator for CaptureReader<R> {}

/// Fills `buffer` as far as the input allows; returns how many bytes were read.
fn read_up_to(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled.min(buffer.len()))
}

fn padded_to_4(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// Applies a pcapng `if_tsoffset`, clamping instead of overflowing on absurd values.
fn apply_offset(timestamp: Duration, offset_seconds: i64) -> Duration {
    let offset = Duration::from_secs(offset_seconds.unsigned_abs());
    if offset_seconds >= 0 {
        timestamp.saturating_add(offset)
    } else {
        timestamp.saturating_sub(offset)
    }
}

/// Where a frame's network-layer packet is, if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Payload {
    /// Byte range of the IP packet within the frame; never empty.
    Ip(Range<usize>),
    /// The link layer says the frame carries something other than IP.
    NonIp,
    /// The frame ends before the network-layer header starts.
    TooShort,
}

/// Locates the IP packet inside a link-layer frame; `None` if the link type is unknown.
fn decapsulate(link_type: LinkType, frame: &[u8]) -> Option<Payload> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_resolutions_convert_exactly() {
        let micros = TsResolution::DEFAULT.to_duration(1_700_000_000_123_456);
        assert_eq!(micros, Duration::new(1_700_000_000, 123_456_000));
        let nanos = TsResolution::Decimal(9).to_duration(1_700_000_000_123_456_789);
        assert_eq!(nanos, Duration::new(1_700_000_000, 123_456_789));
        let seconds = TsResolution::Decimal(0).to_duration(42);
        assert_eq!(seconds, Duration::from_secs(42));
        // Finer than a nanosecond: sub-nanosecond digits are dropped.
        let picos = TsResolution::Decimal(12).to_duration(1_500_000_000_001);
        assert_eq!(picos, Duration::new(1, 500_000_000));
    }

    #[test]
    fn binary_resolutions_convert_exactly() {
        // 2^-10 s units: 3.5 s is 3584 units.
        assert_eq!(
            TsResolution::from_option(0x80 | 10).to_duration(3584),
            Duration::new(3, 500_000_000)
        );
        assert_eq!(
            TsResolution::Binary(32).to_duration((7 << 32) | (1 << 31)),
            Duration::new(7, 500_000_000)
        );
    }

    #[test]
    fn extreme_resolutions_do_not_overflow() {
        for exp in 0..=127u8 {
            for units in [0, 1, u64::MAX] {
                let _ = TsResolution::Decimal(exp).to_duration(units);
                let _ = TsResolution::Binary(exp).to_duration(units);
            }
        }
        assert_eq!(
            TsResolution::Decimal(0).to_duration(u64::MAX),
            Duration::from_secs(u64::MAX)
        );
        assert_eq!(
            TsResolution::Decimal(127).to_duration(u64::MAX),
            Duration::ZERO
        );
    }

    #[test]
    fn offsets_clamp() {
        let t = Duration::from_secs(10);
        assert_eq!(apply_offset(t, 5), Duration::from_secs(15));
        assert_eq!(apply_offset(t, -5), Duration::from_secs(5));
        assert_eq!(apply_offset(t, i64::MIN), Duration::ZERO);
        assert_eq!(apply_offset(Duration::MAX, i64::MAX), Duration::MAX);
    }

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
