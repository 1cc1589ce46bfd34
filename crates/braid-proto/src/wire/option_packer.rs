//! Fitting options into the 40 octets of TCP option space.
//!
//! A sender often has more to say than fits: timestamps, SACK blocks, a DSS with a
//! 64-bit DATA_ACK and a mapping with checksum, an ADD_ADDR to retransmit. The caller
//! lists options most important first; [`pack_options`] takes them in that order while
//! they fit, trims SACK blocks (keeping the first, most recent, ones: RFC 2018 §4)
//! when the whole SACK option does not, and reports what it left out.
//!
//! Layout: every option starts on a 4-octet boundary, preceded by as many NOPs as
//! that needs, as Linux lays out its options, except that SACK-permitted written right
//! before timestamps shares their word (`SACK_PERM TS`, 12 octets instead of 16).
//! Options are written in the order given.

use super::tcp_option::{kind, TcpOption};
use super::TCP_MAX_OPTIONS_LEN as MAX_OPTIONS_LEN;

/// Which options [`pack_options`] wrote and which it left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackOutcome {
    /// Octets written, a multiple of 4.
    pub len: usize,
    /// Bit `i` is set if `options[i]` did not fit at all.
    pub not_fitted: u64,
    /// SACK blocks dropped from a SACK option that was written with fewer blocks.
    pub sack_blocks_dropped: usize,
}

impl PackOutcome {
    pub fn all_fitted(&self) -> bool {
        self.not_fitted == 0 && self.sack_blocks_dropped == 0
    }

    /// Indices, into the caller's list, of the options left out.
    pub fn not_fitted(&self) -> impl Iterator<Item = usize> + '_ {
        (0..64).filter(|i| self.not_fitted & (1 << i) != 0)
    }
}

/// Whether `option`, followed by `next`, is SACK-permitted sharing a word with
/// timestamps.
fn pairs_with(option: &TcpOption<'_>, next: Option<&TcpOption<'_>>) -> bool {
    *option == TcpOption::SackPermitted && next.is_some_and(|n| n.kind() == kind::TIMESTAMPS)
}

/// Octets the options take once laid out (see the module documentation).
fn laid_out_len<'a, 'b: 'a>(options: impl Iterator<Item = &'a TcpOption<'b>>) -> usize {
    let mut options = options.peekable();
    let mut total = 0;
    while let Some(option) = options.next() {
        total += if pairs_with(option, options.peek().copied()) {
            options.next();
            12
        } else {
            option.buffer_len().next_multiple_of(4)
        };
    }
    total
}

/// Packs `options` (most important first, at most 64) into `buf`, within `budget`
/// octets (at most 40, less when the segment must stay under a size).
///
/// # Panics
/// If more than 64 options are given or `buf` is shorter than `budget`: caller bugs.
pub fn pack_options(options: &[TcpOption<'_>], budget: usize, buf: &mut [u8]) -> PackOutcome {
    assert!(options.len() <= 64, "at most 64 options");
    let budget = budget.min(MAX_OPTIONS_LEN);
    assert!(buf.len() >= budget, "option buffer shorter than its budget");
    let mut outcome = PackOutcome {
        len: 0,
        not_fitted: 0,
        sack_blocks_dropped: 0,
    };
    // Membership is decided in priority order; the wire keeps the caller's order.
    let mut chosen: [Option<TcpOption<'_>>; 64] = [None; 64];
    let chosen_len = |chosen: &[Option<TcpOption<'_>>]| laid_out_len(chosen.iter().flatten());
    for (i, option) in options.iter().enumerate() {
        chosen[i] = Some(*option);
        if chosen_len(&chosen) <= budget {
            continue;
        }
        chosen[i] = None;
        if let TcpOption::Sack(blocks) = option {
            let all = blocks.as_slice().len();
            let fewer = (1..all).rev().find(|&n| {
                chosen[i] = Some(TcpOption::Sack(blocks.truncated(n)));
                chosen_len(&chosen) <= budget
            });
            if let Some(n) = fewer {
                outcome.sack_blocks_dropped = all - n;
                continue;
            }
            chosen[i] = None;
        }
        outcome.not_fitted |= 1 << i;
    }

    let mut at = 0;
    let mut chosen = chosen.iter().flatten().peekable();
    while let Some(option) = chosen.next() {
        if pairs_with(option, chosen.peek().copied()) {
            at += option.emit(&mut buf[at..]);
            let timestamps = chosen.next().expect("peeked");
            at += timestamps.emit(&mut buf[at..]);
            continue;
        }
        let len = option.buffer_len();
        let pad = len.next_multiple_of(4) - len;
        buf[at..at + pad].fill(kind::NO_OPERATION);
        at += pad;
        at += option.emit(&mut buf[at..]);
    }
    debug_assert_eq!(at % 4, 0);
    outcome.len = at;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mptcp::{
        Dss, DssMapping, MpCapable, MpCapableFlags, MpCapableVariant, MptcpOption, SeqField,
    };
    use crate::wire::tcp_option::{SackBlock, SackBlocks, TcpOptions};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn without_nops(block: &[u8]) -> Vec<TcpOption<'_>> {
        TcpOptions::new(block)
            .map(Result::unwrap)
            .filter(|o| *o != TcpOption::NoOperation)
            .collect()
    }

    #[test]
    fn lays_out_options_as_linux_does() {
        // add-addr-then-remove.pcap frames 1, 2, 3 and 8: SYN, SYN-ACK, ACK, join ACK.
        for linux in [
            "020405b40402080a5bb87e3f000000000103030a1e040101",
            "020405b40402080ab6c28c705bb87e3f0103030a1e0c010129c87b691c5272fb",
            "0101080a5bb87e3fb6c28c701e1401011e2347f0c46a411529c87b691c5272fb",
            "0101080aa1decc41b2612f4b1e1810008c9d8dcd2fe47a732611e2bbf99ed6a7016e91a1",
        ] {
            let block = hex(linux);
            let options = without_nops(&block);
            let mut out = [0u8; MAX_OPTIONS_LEN];
            let outcome = pack_options(&options, MAX_OPTIONS_LEN, &mut out);
            assert!(outcome.all_fitted());
            assert_eq!(hex_of(&out[..outcome.len]), linux);
        }
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn dss_with_checksum() -> TcpOption<'static> {
        TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: Some(SeqField::U64(1)),
            mapping: Some(DssMapping {
                dsn: SeqField::U64(2),
                ssn: 3,
                data_level_length: 4,
                checksum: Some(5),
            }),
            data_fin: false,
        }))
    }

    #[test]
    fn drops_what_does_not_fit_in_priority_order_and_reports_it() {
        // Timestamps (12 laid out) + a 28-octet DSS = 40; an MP_CAPABLE ACK cannot follow.
        let capable = TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
            flags: MpCapableFlags(1),
            variant: MpCapableVariant::Ack {
                sender_key: 1,
                receiver_key: 2,
            },
        }));
        let options = [
            TcpOption::Timestamps { tsval: 1, tsecr: 2 },
            dss_with_checksum(),
            capable,
            TcpOption::WindowScale(7),
        ];
        let mut out = [0u8; MAX_OPTIONS_LEN];
        let outcome = pack_options(&options, MAX_OPTIONS_LEN, &mut out);
        assert_eq!(outcome.len, 40);
        assert_eq!(outcome.not_fitted().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(without_nops(&out[..outcome.len]), options[..2]);
        // With a smaller budget the lower-priority DSS goes instead, and WS fits.
        let outcome = pack_options(&options, 20, &mut out);
        assert_eq!(outcome.not_fitted().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(outcome.len, 16);
    }

    #[test]
    fn rfc2018_s4_trims_sack_blocks_keeping_the_first() {
        let blocks: Vec<_> = (0..4)
            .map(|i| SackBlock {
                left: i * 100,
                right: i * 100 + 50,
            })
            .collect();
        let sack = TcpOption::Sack(SackBlocks::new(&blocks).unwrap());
        let options = [TcpOption::Timestamps { tsval: 1, tsecr: 2 }, sack];
        let mut out = [0u8; MAX_OPTIONS_LEN];
        let outcome = pack_options(&options, MAX_OPTIONS_LEN, &mut out);
        // 12 for timestamps leaves 28: NOP NOP + 2 + 3 blocks of 8.
        assert_eq!(outcome.sack_blocks_dropped, 1);
        assert_eq!(outcome.not_fitted, 0);
        let packed = without_nops(&out[..outcome.len]);
        assert_eq!(
            packed[1],
            TcpOption::Sack(SackBlocks::new(&blocks[..3]).unwrap())
        );
    }
}
