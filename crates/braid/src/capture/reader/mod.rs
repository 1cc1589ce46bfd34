//! A streaming reader for classic pcap and pcapng files that yields network-layer packets.
//!
//! Both formats are parsed here rather than through `pcap-file` 2.0, which reads pcapng
//! timestamps as nanoseconds whatever the interface's `if_tsresol` says (1000x off for the
//! default microsecond resolution) and rejects classic-pcap records whose original length
//! exceeds the snap length, i.e. every packet cut short by `tcpdump -s`. The formats are
//! small; owning the parser also lets every length be checked before it is trusted, so no
//! input can make the reader panic or allocate more than one bounded record at a time.
//!
//! The reader itself lives here; `pcap` and `pcapng` parse the two containers into
//! link-layer frames and `link` strips each frame down to its IP packet.

mod link;
mod pcap;
mod pcapng;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub use link::LinkType;
use link::{decapsulate, Payload};
use pcap::{PCAP_KUZNETSOV, PCAP_MICROS, PCAP_NANOS};
use pcapng::{Interface, PCAPNG_SECTION_HEADER};

/// Largest record or block accepted. Real packets are far smaller (snap lengths top out at
/// 256 KiB); the cap, libpcap's own limit for pcapng blocks, stops a corrupt length field
/// from making us buffer gigabytes before noticing the file is broken.
const MAX_RECORD_LEN: u32 = 16 * 1024 * 1024;

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
        1 => "it is only 1 byte long".to_string(),
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
            Format::PcapNg { .. } => self.next_pcapng_frame(),
        }
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
