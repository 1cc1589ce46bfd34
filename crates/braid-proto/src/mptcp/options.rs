//! The MPTCP options of one received segment, parsed once: the endpoint parses a
//! segment's option block into a [`SegmentOptions`] and every part of the MPTCP layer
//! reads from that value.

use crate::wire::mptcp::{
    AddAddr, Dss, DssMapping, MpCapable, MpCapableFlags, MpCapableVariant, MpFail, MpFastclose,
    MpJoin, MpPrio, MpTcpRst, MptcpOption, RemoveAddr, UnknownMptcp,
};
use crate::wire::tcp_option::{TcpOption, TcpOptions};

/// Option kind 30 (RFC 8684 §2), for counting malformed MPTCP options.
const MPTCP_KIND: u8 = 30;

/// Every MPTCP option a segment carries, one of each kind. A segment carries at most
/// one of each (RFC 8684 §3 defines no repetition); a second one of a kind is
/// ignored and counted in [`repeated`](Self::repeated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentOptions {
    pub capable: Option<MpCapable>,
    pub join: Option<MpJoin>,
    pub dss: Option<Dss>,
    pub add_addr: Option<AddAddr>,
    pub remove_addr: Option<RemoveAddr>,
    pub prio: Option<MpPrio>,
    pub fail: Option<MpFail>,
    pub fastclose: Option<MpFastclose>,
    pub tcprst: Option<MpTcpRst>,
    /// An MP_CAPABLE of a version other than 1 that is not a SYN's (§3.1: answered
    /// as plain TCP). A SYN's of a higher version is read as version 1 (see
    /// [`SegmentOptions::parse`]).
    pub other_version: bool,
    /// An MP_CAPABLE braid cannot use, left out of `capable`: without the H flag
    /// (HMAC-SHA256, the only algorithm defined) or with the B flag (extensibility,
    /// reserved) (§3.1). The handshake goes on as without MP_CAPABLE: plain TCP.
    pub unusable_capable: bool,
    /// Well-framed MPTCP options of unknown subtypes, ignored.
    pub unknown: u8,
    /// MPTCP options whose contents do not parse, ignored.
    pub malformed: u8,
    /// Options of a kind already seen on the segment, ignored.
    pub repeated: u8,
}

impl SegmentOptions {
    /// Parses the MPTCP options of a TCP option block. Never fails: options that do
    /// not parse are counted and skipped (RFC 9293 §3.1), and broken framing ends
    /// the walk as it does for TCP's own options.
    ///
    /// An MP_CAPABLE of the SYN's length (4 octets) with a version above 1 is read
    /// as version 1's: §3.1 has the listener answer with the highest version it
    /// speaks, not lower than the initiator's, and the initiator decide; Linux reads
    /// such a SYN the same way.
    pub fn parse(block: &[u8]) -> Self {
        let mut out = SegmentOptions::default();
        let mut options = TcpOptions::new(block);
        loop {
            let kind = options.peek_kind();
            match options.next() {
                None => return out,
                Some(Ok(TcpOption::Mptcp(m))) => out.take(m),
                Some(Err(_)) if kind == Some(MPTCP_KIND) => {
                    out.malformed = out.malformed.saturating_add(1)
                }
                Some(_) => {}
            }
        }
    }

    fn take(&mut self, option: MptcpOption<'_>) {
        fn set<T>(slot: &mut Option<T>, value: T, repeated: &mut u8) {
            if slot.is_some() {
                *repeated = repeated.saturating_add(1);
            } else {
                *slot = Some(value);
            }
        }
        let r = &mut self.repeated;
        match option {
            MptcpOption::MpCapable(c) if !c.flags.hmac_sha256() || c.flags.extensibility() => {
                self.unusable_capable = true
            }
            MptcpOption::MpCapable(c) => set(&mut self.capable, c, r),
            MptcpOption::MpJoin(j) => set(&mut self.join, j, r),
            MptcpOption::Dss(d) => set(&mut self.dss, d, r),
            MptcpOption::AddAddr(a) => set(&mut self.add_addr, a, r),
            MptcpOption::RemoveAddr(a) => set(&mut self.remove_addr, a, r),
            MptcpOption::MpPrio(p) => set(&mut self.prio, p, r),
            MptcpOption::MpFail(f) => set(&mut self.fail, f, r),
            MptcpOption::MpFastclose(f) => set(&mut self.fastclose, f, r),
            MptcpOption::MpTcpRst(t) => set(&mut self.tcprst, t, r),
            MptcpOption::Unknown(u) if u.subtype() == 0 => match newer_version_syn(u) {
                Some(capable) => self.take(MptcpOption::MpCapable(capable)),
                None => self.other_version = true,
            },
            MptcpOption::Unknown(_) => self.unknown = self.unknown.saturating_add(1),
        }
    }

    /// Whether the segment carries any MPTCP option that parsed (RFC 8684 §3.7: once
    /// MPTCP runs, every segment does).
    pub fn any(&self) -> bool {
        self.capable.is_some()
            || self.unusable_capable
            || self.join.is_some()
            || self.dss.is_some()
            || self.add_addr.is_some()
            || self.remove_addr.is_some()
            || self.prio.is_some()
            || self.fail.is_some()
            || self.fastclose.is_some()
            || self.tcprst.is_some()
            || self.other_version
            || self.unknown > 0
    }

    /// The MP_CAPABLE variant, if there is one.
    pub fn capable_variant(&self) -> Option<MpCapableVariant> {
        self.capable.map(|c| c.variant)
    }

    /// The DSS mapping, if the segment carries one.
    pub fn dss_mapping(&self) -> Option<DssMapping> {
        self.dss.and_then(|d| d.mapping)
    }

    /// Whether the segment maps data: a DSS with a mapping, or the client's first
    /// data on MP_CAPABLE (§3.1).
    pub fn maps_data(&self) -> bool {
        self.dss_mapping().is_some()
            || matches!(
                self.capable_variant(),
                Some(MpCapableVariant::AckWithData { .. })
            )
    }
}

/// The MP_CAPABLE of a SYN of a version above 1, read as version 1's: its flags
/// are where version 1 has them (only the SYN's layout is known: it carries no key).
fn newer_version_syn(option: UnknownMptcp<'_>) -> Option<MpCapable> {
    match *option.body {
        [_, flags] if option.version() > 1 => Some(MpCapable {
            flags: MpCapableFlags(flags),
            variant: MpCapableVariant::Syn,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mptcp::SeqField;
    use crate::wire::option_packer::pack_options;

    fn block(options: &[MptcpOption<'static>]) -> Vec<u8> {
        let options: Vec<TcpOption<'static>> =
            options.iter().map(|&o| TcpOption::Mptcp(o)).collect();
        let mut buf = [0u8; 40];
        let packed = pack_options(&options, 40, &mut buf);
        assert!(packed.all_fitted());
        buf[..packed.len].to_vec()
    }

    fn dss(data_ack: u64) -> MptcpOption<'static> {
        MptcpOption::Dss(Dss {
            data_ack: Some(SeqField::U64(data_ack)),
            mapping: None,
            data_fin: false,
        })
    }

    #[test]
    fn every_option_of_a_segment_is_found_in_one_walk() {
        let capable = MpCapable {
            flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
            variant: MpCapableVariant::Syn,
        };
        let opts = SegmentOptions::parse(&block(&[
            MptcpOption::MpCapable(capable),
            MptcpOption::MpPrio(MpPrio {
                backup: true,
                addr_id: None,
            }),
        ]));
        assert_eq!(opts.capable, Some(capable));
        assert_eq!(opts.prio.map(|p| p.backup), Some(true));
        assert!(opts.any());
        assert!(!opts.maps_data());
    }

    #[test]
    fn a_block_without_mptcp_has_none() {
        // MSS and SACK-permitted only.
        let opts = SegmentOptions::parse(&[2, 4, 5, 0xb4, 4, 2, 1, 1]);
        assert_eq!(opts, SegmentOptions::default());
        assert!(!opts.any());
    }

    #[test]
    fn rfc9293_s3_1_a_malformed_mptcp_option_is_counted_not_taken_for_one() {
        // Kind 30 with length 2: no room for a subtype.
        let opts = SegmentOptions::parse(&[30, 2, 1, 1]);
        assert_eq!(opts.malformed, 1);
        assert!(!opts.any());
    }

    #[test]
    fn rfc8684_s3_1_a_syn_of_a_higher_version_is_read_as_version_1() {
        // Kind 30, length 4, subtype 0 with version 2, flags A and H.
        let opts = SegmentOptions::parse(&[30, 4, 0x02, 0x81]);
        let capable = opts.capable.expect("read as version 1");
        assert_eq!(capable.variant, MpCapableVariant::Syn);
        assert!(capable.flags.checksum_required() && capable.flags.hmac_sha256());
        assert!(!opts.other_version);
        // Version 0 (RFC 6824), and a higher version of another length than the
        // SYN's, remain other versions.
        for block in [
            &[30, 4, 0x00, 0x81][..],
            &[30, 12, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 1],
        ] {
            let opts = SegmentOptions::parse(block);
            assert_eq!(opts.capable, None, "{block:?}");
            assert!(opts.other_version && opts.any(), "{block:?}");
        }
    }

    #[test]
    fn rfc8684_s3_1_an_mp_capable_without_h_or_with_b_is_unusable() {
        for flags in [
            0x00,
            0x80,
            MpCapableFlags::HMAC_SHA256 | MpCapableFlags::EXTENSIBILITY,
        ] {
            let capable = MpCapable {
                flags: MpCapableFlags(flags),
                variant: MpCapableVariant::SynAck { sender_key: 5 },
            };
            let opts = SegmentOptions::parse(&block(&[MptcpOption::MpCapable(capable)]));
            assert_eq!(opts.capable, None, "flags {flags:#x}");
            assert!(opts.unusable_capable && opts.any(), "flags {flags:#x}");
        }
        // The same on a higher version's SYN.
        let opts = SegmentOptions::parse(&[30, 4, 0x03, 0x40]);
        assert!(opts.capable.is_none() && opts.unusable_capable);
    }

    #[test]
    fn the_first_of_a_kind_counts_and_repeats_are_counted() {
        let opts = SegmentOptions::parse(&block(&[dss(5), dss(9)]));
        assert_eq!(opts.dss.and_then(|d| d.data_ack), Some(SeqField::U64(5)));
        assert_eq!(opts.repeated, 1);
    }
}
