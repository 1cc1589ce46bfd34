//! TCP options (RFC 9293 §3.1, RFC 7323, RFC 2018) and the MPTCP option inside them.
//!
//! [`TcpOptions`] walks an option block and yields each option in order, NOPs and
//! EOL included, so that emitting what it yields gives back the block. An option whose
//! framing is sound but whose contents are not (an MSS of length 3, a DSS whose
//! length contradicts its flags) is yielded as an error and the walk goes on: RFC 9293
//! §3.1 has receivers ignore what they cannot use. Broken framing ends the walk.

use std::fmt;

use super::bytes::{set_u16_at, set_u32_at, u16_at, u32_at};
use super::mptcp::MptcpOption;
use super::WireError;

/// TCP option kinds this crate interprets.
pub mod kind {
    pub const END_OF_LIST: u8 = 0;
    pub const NO_OPERATION: u8 = 1;
    pub const MAX_SEGMENT_SIZE: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
    pub const MPTCP: u8 = crate::wire::mptcp::OPTION_KIND;
}

/// One received block of sequence space, `[left, right)` (RFC 2018 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackBlock {
    pub left: u32,
    pub right: u32,
}

/// The 1 to 4 blocks of a SACK option (4 is what 40 octets hold).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SackBlocks {
    len: u8,
    // Unused entries stay zeroed so derived equality compares the list alone.
    blocks: [SackBlock; SackBlocks::CAPACITY],
}

impl SackBlocks {
    pub const CAPACITY: usize = 4;

    /// `None` if `blocks` is empty or longer than [`Self::CAPACITY`].
    pub fn new(blocks: &[SackBlock]) -> Option<Self> {
        if blocks.is_empty() || blocks.len() > Self::CAPACITY {
            return None;
        }
        let mut s = SackBlocks {
            len: blocks.len() as u8,
            blocks: [SackBlock::default(); Self::CAPACITY],
        };
        s.blocks[..blocks.len()].copy_from_slice(blocks);
        Some(s)
    }

    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..self.len as usize]
    }

    /// The first `n` blocks (the most recent ones, RFC 2018 §4), at least one.
    pub fn truncated(&self, n: usize) -> Self {
        SackBlocks::new(&self.as_slice()[..n.clamp(1, self.len as usize)]).expect("1..=len blocks")
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0. What follows it in the block is padding.
    EndOfList,
    /// Kind 1, used to align the next option.
    NoOperation,
    MaxSegmentSize(u16),
    /// The shift count as sent; RFC 7323 §2.3 caps its use at 14, not its value.
    WindowScale(u8),
    SackPermitted,
    Sack(SackBlocks),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    Mptcp(MptcpOption<'a>),
    /// Any other kind, with the octets after its length byte.
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::EndOfList => kind::END_OF_LIST,
            TcpOption::NoOperation => kind::NO_OPERATION,
            TcpOption::MaxSegmentSize(_) => kind::MAX_SEGMENT_SIZE,
            TcpOption::WindowScale(_) => kind::WINDOW_SCALE,
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::Sack(_) => kind::SACK,
            TcpOption::Timestamps { .. } => kind::TIMESTAMPS,
            TcpOption::Mptcp(_) => kind::MPTCP,
            TcpOption::Unknown { kind, .. } => *kind,
        }
    }

    /// Octets the option occupies, kind byte included.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.as_slice().len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Mptcp(o) => o.buffer_len(),
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    ///
    /// # Panics
    /// If `buf` is shorter than [`buffer_len`](Self::buffer_len): a caller bug.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        buf[0] = self.kind();
        if len > 1 && !matches!(self, TcpOption::Mptcp(_)) {
            buf[1] = len as u8;
        }
        match *self {
            TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::SackPermitted => {}
            TcpOption::MaxSegmentSize(mss) => set_u16_at(buf, 2, mss),
            TcpOption::WindowScale(shift) => buf[2] = shift,
            TcpOption::Sack(blocks) => {
                for (i, b) in blocks.as_slice().iter().enumerate() {
                    let at = 2 + 8 * i;
                    set_u32_at(buf, at, b.left);
                    set_u32_at(buf, at + 4, b.right);
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                set_u32_at(buf, 2, tsval);
                set_u32_at(buf, 6, tsecr);
            }
            TcpOption::Mptcp(o) => {
                o.emit(buf);
            }
            TcpOption::Unknown { data, .. } => buf[2..len].copy_from_slice(data),
        }
        len
    }

    /// Parses one option whose kind and length framing is already known good:
    /// `bytes` is exactly the option.
    fn parse_framed(bytes: &'a [u8]) -> Result<Self, WireError> {
        let exact = |len: usize, what: &'static str| {
            if bytes.len() == len {
                Ok(())
            } else {
                Err(WireError::BadLength {
                    what,
                    length: bytes.len(),
                })
            }
        };
        Ok(match bytes[0] {
            kind::END_OF_LIST => TcpOption::EndOfList,
            kind::NO_OPERATION => TcpOption::NoOperation,
            kind::MAX_SEGMENT_SIZE => {
                exact(4, "MSS option")?;
                TcpOption::MaxSegmentSize(u16_at(bytes, 2))
            }
            kind::WINDOW_SCALE => {
                exact(3, "window scale option")?;
                TcpOption::WindowScale(bytes[2])
            }
            kind::SACK_PERMITTED => {
                exact(2, "SACK-permitted option")?;
                TcpOption::SackPermitted
            }
            kind::SACK => {
                let n = (bytes.len() - 2) / 8;
                if (bytes.len() - 2) % 8 != 0 || n == 0 || n > SackBlocks::CAPACITY {
                    return Err(WireError::BadLength {
                        what: "SACK option",
                        length: bytes.len(),
                    });
                }
                let mut blocks = [SackBlock::default(); SackBlocks::CAPACITY];
                for (i, b) in blocks.iter_mut().take(n).enumerate() {
                    *b = SackBlock {
                        left: u32_at(bytes, 2 + 8 * i),
                        right: u32_at(bytes, 6 + 8 * i),
                    };
                }
                TcpOption::Sack(SackBlocks::new(&blocks[..n]).expect("1..=4 blocks"))
            }
            kind::TIMESTAMPS => {
                exact(10, "timestamps option")?;
                TcpOption::Timestamps {
                    tsval: u32_at(bytes, 2),
                    tsecr: u32_at(bytes, 6),
                }
            }
            kind::MPTCP => TcpOption::Mptcp(MptcpOption::parse(bytes)?),
            kind => TcpOption::Unknown {
                kind,
                data: &bytes[2..],
            },
        })
    }
}

/// Iterator over the options of a block, in order. See the module documentation.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    pub fn new(block: &'a [u8]) -> Self {
        TcpOptions { rest: block }
    }

    /// The kind of the option [`next`](Iterator::next) yields, so that a caller can
    /// tell whose option failed to parse.
    pub fn peek_kind(&self) -> Option<u8> {
        self.rest.first().copied()
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.rest;
        let &kind = bytes.first()?;
        let len = match kind {
            // RFC 9293 §3.1: EOL ends the list; the rest of the header is padding.
            kind::END_OF_LIST => bytes.len(),
            kind::NO_OPERATION => 1,
            _ => match bytes.get(1) {
                Some(&len) if len >= 2 && len as usize <= bytes.len() => len as usize,
                Some(&len) => {
                    self.rest = &[];
                    return Some(Err(WireError::BadLength {
                        what: "TCP option",
                        length: len as usize,
                    }));
                }
                None => {
                    self.rest = &[];
                    return Some(Err(WireError::Truncated {
                        needed: 2,
                        available: 1,
                    }));
                }
            },
        };
        self.rest = &bytes[len..];
        if kind == kind::END_OF_LIST {
            return Some(Ok(TcpOption::EndOfList));
        }
        Some(TcpOption::parse_framed(&bytes[..len]))
    }
}

/// Writes `options` in order, then zero padding (EOL) up to a multiple of 4, as the
/// TCP data offset counts 32-bit words. Returns the block's length.
///
/// # Panics
/// If `buf` is too short for the options and padding: a caller bug.
pub fn emit_options(options: &[TcpOption<'_>], buf: &mut [u8]) -> usize {
    let mut at = 0;
    for option in options {
        at += option.emit(&mut buf[at..]);
    }
    let padded = at.next_multiple_of(4);
    buf[at..padded].fill(kind::END_OF_LIST);
    padded
}

/// The MPTCP options of a block, skipping everything else and any malformed option.
pub fn mptcp_options(block: &[u8]) -> impl Iterator<Item = MptcpOption<'_>> {
    TcpOptions::new(block).filter_map(|o| match o {
        Ok(TcpOption::Mptcp(m)) => Some(m),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mptcp::{MpCapable, MpCapableFlags, MpCapableVariant};
    use crate::wire::TCP_MAX_OPTIONS_LEN as MAX_OPTIONS_LEN;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The SYN of add-addr-then-remove.pcap frame 1, as Linux 6.18 lays it out.
    const LINUX_SYN: &str = "020405b40402080a5bb87e3f000000000103030a1e040101";

    fn linux_syn_options() -> Vec<TcpOption<'static>> {
        vec![
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps {
                tsval: 0x5bb87e3f,
                tsecr: 0,
            },
            TcpOption::NoOperation,
            TcpOption::WindowScale(10),
            TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
                flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
                variant: MpCapableVariant::Syn,
            })),
        ]
    }

    #[test]
    fn rfc9293_s3_1_linux_syn_block_parses_in_order_and_round_trips() {
        let block = hex(LINUX_SYN);
        let options: Vec<_> = TcpOptions::new(&block).collect::<Result<_, _>>().unwrap();
        assert_eq!(options, linux_syn_options());
        let mut out = [0u8; MAX_OPTIONS_LEN];
        assert_eq!(emit_options(&options, &mut out), block.len());
        assert_eq!(out[..block.len()], block[..]);
    }

    #[test]
    fn rfc2018_sack_blocks_and_unknown_kinds() {
        // NOP NOP SACK(2 blocks), then TFO cookie (kind 34) kept as bytes.
        let block = hex("0101051200000064000000c8000001f4000003e8220600010203");
        let options: Vec<_> = TcpOptions::new(&block).collect::<Result<_, _>>().unwrap();
        let blocks = SackBlocks::new(&[
            SackBlock {
                left: 100,
                right: 200,
            },
            SackBlock {
                left: 500,
                right: 1000,
            },
        ]);
        assert_eq!(options[2], TcpOption::Sack(blocks.unwrap()));
        assert_eq!(
            options[3],
            TcpOption::Unknown {
                kind: 34,
                data: &[0, 1, 2, 3]
            }
        );
        let mut out = [0u8; MAX_OPTIONS_LEN];
        let len = emit_options(&options, &mut out);
        assert_eq!(out[..block.len()], block[..]);
        assert_eq!(len, 28, "padded to a 4-octet multiple");
    }

    #[test]
    fn rfc9293_s3_1_bad_option_is_skipped_and_bad_framing_stops() {
        // An MSS of length 3, then a good window scale.
        let block = hex("020305030307");
        let items: Vec<_> = TcpOptions::new(&block).collect();
        assert!(matches!(items[0], Err(WireError::BadLength { .. })));
        assert_eq!(items[1], Ok(TcpOption::WindowScale(7)));
        // A length running past the block, and a length below 2.
        for bad in ["0103030a02", "0101080a0000", "1e01"] {
            let bytes = hex(bad);
            let items: Vec<_> = TcpOptions::new(&bytes).collect();
            assert!(items.last().unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc9293_s3_1_end_of_list_ends_the_walk() {
        let block = hex("0103030700000000");
        let options: Vec<_> = TcpOptions::new(&block).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            options,
            [
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
                TcpOption::EndOfList
            ]
        );
    }

    #[test]
    fn mptcp_options_picks_out_mptcp_only() {
        // add-addr-then-remove.pcap frame 10: timestamps, DSS, two trailing NOPs.
        let block = hex("0101080a5bb87e52b6c28c701e16200d9034b2e3f265f0578075d9d10000000140000101");
        let found: Vec<_> = mptcp_options(&block).map(|o| o.name()).collect();
        assert_eq!(found, ["DSS"]);
    }

    proptest! {
        #[test]
        fn walking_arbitrary_bytes_never_panics(block in proptest::collection::vec(any::<u8>(), 0..60)) {
            let mut out = [0u8; 128];
            for option in TcpOptions::new(&block).flatten() {
                let len = option.emit(&mut out);
                prop_assert_eq!(len, option.buffer_len());
            }
        }
    }
}
