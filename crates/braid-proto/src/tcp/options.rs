//! The TCP options the engine itself uses: MSS, window scale, SACK-permitted, SACK,
//! timestamps. MPTCP's option belongs to the layer above and passes through.

use crate::wire::tcp_option::{SackBlocks, TcpOption, TcpOptions};

/// What the engine reads from a received segment's options. Malformed options are
/// ignored (RFC 9293 §3.1); the first occurrence of each kind wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceivedOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    pub sack: Option<SackBlocks>,
}

impl ReceivedOptions {
    pub fn parse(block: &[u8]) -> Self {
        let mut o = ReceivedOptions::default();
        for option in TcpOptions::new(block).flatten() {
            match option {
                TcpOption::MaxSegmentSize(mss) => {
                    o.mss.get_or_insert(mss);
                }
                TcpOption::WindowScale(shift) => {
                    o.window_scale.get_or_insert(shift);
                }
                TcpOption::SackPermitted => o.sack_permitted = true,
                TcpOption::Timestamps { tsval, tsecr } => {
                    o.timestamps.get_or_insert((tsval, tsecr));
                }
                TcpOption::Sack(blocks) => {
                    o.sack.get_or_insert(blocks);
                }
                _ => {}
            }
        }
        o
    }
}

/// The options the engine wants on a segment it sends, before packing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: Option<(u32, u32)>,
    pub sack: Option<SackBlocks>,
}

impl SendOptions {
    /// The options in Linux's order, most important first for the packer:
    /// MSS, SACK-permitted with timestamps, window scale, then SACK blocks.
    pub fn to_options(&self, out: &mut Vec<TcpOption<'static>>) {
        if let Some(mss) = self.mss {
            out.push(TcpOption::MaxSegmentSize(mss));
        }
        if self.sack_permitted {
            out.push(TcpOption::SackPermitted);
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            out.push(TcpOption::Timestamps { tsval, tsecr });
        }
        if let Some(shift) = self.window_scale {
            out.push(TcpOption::WindowScale(shift));
        }
        if let Some(blocks) = self.sack {
            out.push(TcpOption::Sack(blocks));
        }
    }

    /// Octets these options take once laid out (NOP-aligned), without SACK blocks.
    pub fn fixed_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        match (self.sack_permitted, self.timestamps.is_some()) {
            (true, true) | (false, true) => len += 12,
            (true, false) => len += 4,
            (false, false) => {}
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::option_packer::pack_options;

    #[test]
    fn reads_what_linux_sends_on_a_syn() {
        // add-addr-then-remove.pcap frame 1: MSS, SACK_PERM, TS, NOP, WS, MP_CAPABLE.
        let block: Vec<u8> = (0..48)
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(
                    &"020405b40402080a5bb87e3f000000000103030a1e040101"[i..i + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        let o = ReceivedOptions::parse(&block);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(10));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamps, Some((0x5bb87e3f, 0)));
        assert_eq!(o.sack, None);
    }

    #[test]
    fn fixed_len_matches_the_packer() {
        let all = SendOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 2)),
            sack: None,
        };
        for o in [
            all,
            SendOptions {
                timestamps: None,
                ..all
            },
            SendOptions {
                sack_permitted: false,
                ..all
            },
        ] {
            let mut v = Vec::new();
            o.to_options(&mut v);
            let mut buf = [0u8; 40];
            assert_eq!(pack_options(&v, 40, &mut buf).len, o.fixed_len(), "{o:?}");
        }
    }
}
