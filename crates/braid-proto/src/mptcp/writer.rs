//! The MPTCP options of one outgoing segment, as a pure function of the connection's
//! state, the subflow's and the segment's: [`write_options`].

use std::collections::VecDeque;

use crate::crypto;
use crate::mptcp::signals::Signal;
use crate::mptcp::state::KeyEcho;
use crate::mptcp::subflow::{mapping_at, Handshake, TxMapping};
use crate::wire::mptcp::{
    Dss, DssMapping, MpCapable, MpCapableFlags, MpCapableVariant, MpFail, MpFastclose, MpJoin,
    MpPrio, MpTcpRst, MpTcpRstFlags, MpTcpRstReason, MptcpOption, SeqField,
};
use crate::wire::tcp_option::TcpOption;

/// What of the connection a segment's MPTCP options depend on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionView {
    /// Fallen back to plain TCP: only the infinite mapping is still carried.
    pub fallback: bool,
    pub client: bool,
    /// How far our key got to the server (a client's; `None` before both keys are
    /// known).
    pub key_echo: Option<KeyEcho>,
    pub checksums: bool,
    pub local_key: u64,
    pub local_idsn: u64,
    /// The peer's key, once known.
    pub remote_key: Option<u64>,
    pub data_ack: u64,
    /// The DATA_FIN's DSN, while it is owed to the peer.
    pub data_fin: Option<u64>,
    /// We reset the connection with MP_FASTCLOSE.
    pub fastclose: bool,
    /// The next address signal waiting for a segment without data.
    pub signal: Option<Signal>,
    /// An MP_FAIL waiting, with its DSN.
    pub mp_fail: Option<u64>,
}

/// What of the subflow they depend on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubflowView<'a> {
    pub handshake: Handshake,
    /// What we mapped on it, ordered by stream offset.
    pub tx: &'a VecDeque<TxMapping>,
    pub backup: bool,
    pub local_id: u8,
    /// An MP_PRIO with `backup` waits.
    pub prio_due: bool,
    pub reset_reason: Option<MpTcpRstReason>,
    /// The connection's first subflow.
    pub first: bool,
}

/// What of the segment they depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentView {
    pub syn: bool,
    pub ack: bool,
    pub rst: bool,
    pub payload_len: usize,
    /// Stream offset of the first payload byte.
    pub stream_offset: u64,
}

/// Which waiting signals a segment took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Taken {
    pub signal: bool,
    pub prio: bool,
    pub mp_fail: bool,
    /// It carried the DATA_FIN.
    pub data_fin: bool,
    /// It carried the third ACK's keys (MP_CAPABLE).
    pub keys: bool,
}

/// Adds the MPTCP options of one segment to `options`, before any SACK blocks so
/// that the option packer trims SACK rather than drop them, and says which waiting
/// signals it took.
pub(crate) fn write_options(
    c: &ConnectionView,
    s: &SubflowView<'_>,
    seg: &SegmentView,
    options: &mut Vec<TcpOption<'static>>,
) -> Taken {
    let mut at = options
        .iter()
        .position(|o| matches!(o, TcpOption::Sack(_)))
        .unwrap_or(options.len());
    let mut push = |o: MptcpOption<'static>| {
        options.insert(at, TcpOption::Mptcp(o));
        at += 1;
    };
    let mut taken = Taken::default();
    let tx_mapping = |offset| mapping_at(s.tx, offset).copied();
    let payload = seg.payload_len > 0;
    if c.fallback {
        if let (false, Some(dsn)) = (payload, c.mp_fail) {
            // §3.7: the answer to the peer's MP_FAIL, after we fell back.
            push(MptcpOption::MpFail(MpFail { dsn }));
            taken.mp_fail = true;
        }
        // §3.7: the segments of the infinite mapping carry it, retransmissions
        // included, so that the peer learns where plain TCP starts; then nothing.
        let infinite = tx_mapping(seg.stream_offset).filter(|m| m.infinite);
        if let (Some(m), true) = (infinite, payload) {
            push(MptcpOption::Dss(Dss {
                data_ack: Some(SeqField::U64(c.data_ack)),
                mapping: Some(DssMapping {
                    dsn: SeqField::U64(m.dsn),
                    ssn: m.ssn(),
                    data_level_length: 0,
                    checksum: m.checksum,
                }),
                data_fin: false,
            }));
        }
        return taken;
    }
    let flags = MpCapableFlags(
        MpCapableFlags::HMAC_SHA256
            | if c.checksums {
                MpCapableFlags::CHECKSUM_REQUIRED
            } else {
                0
            },
    );
    if seg.rst {
        if let (true, Some(receiver_key)) = (c.fastclose, c.remote_key) {
            push(MptcpOption::MpFastclose(MpFastclose { receiver_key }));
        } else if let Some(reason) = s.reset_reason {
            push(MptcpOption::MpTcpRst(MpTcpRst {
                flags: MpTcpRstFlags::default(),
                reason,
            }));
        }
        return taken;
    }
    if seg.syn {
        match (s.handshake, seg.ack) {
            (Handshake::Capable, false) => push(MptcpOption::MpCapable(MpCapable {
                flags,
                variant: MpCapableVariant::Syn,
            })),
            (Handshake::Capable, true) => push(MptcpOption::MpCapable(MpCapable {
                flags,
                variant: MpCapableVariant::SynAck {
                    sender_key: c.local_key,
                },
            })),
            (Handshake::JoinSynSent { local_nonce }, false) => {
                push(MptcpOption::MpJoin(MpJoin::Syn {
                    backup: s.backup,
                    addr_id: s.local_id,
                    token: c.remote_key.map_or(0, crypto::token),
                    nonce: local_nonce,
                }))
            }
            (
                Handshake::JoinSynAckSent {
                    local_nonce,
                    truncated_hmac,
                    ..
                },
                true,
            ) => push(MptcpOption::MpJoin(MpJoin::SynAck {
                backup: s.backup,
                addr_id: s.local_id,
                truncated_hmac,
                nonce: local_nonce,
            })),
            _ => {}
        }
        return taken;
    }
    let Some(remote_key) = c.remote_key else {
        return taken;
    };
    if let Handshake::JoinAckSent { hmac, .. } = s.handshake {
        // §3.2: the third ACK, repeated until the fourth ACK arrives.
        push(MptcpOption::MpJoin(MpJoin::Ack { hmac }));
        return taken;
    }
    let mapping = if payload {
        tx_mapping(seg.stream_offset)
    } else {
        None
    };
    let repeat_keys = match c.key_echo {
        Some(KeyEcho::Unsent) => true,
        // A DATA_FIN goes before the keys once they went out (the two do not fit
        // together): an empty request must not wait for the server's data.
        Some(KeyEcho::Sent) => c.data_fin.is_none(),
        Some(KeyEcho::Acked) | None => false,
    };
    if c.client && s.first && repeat_keys {
        // §3.1: the third ACK's keys are repeated until the peer shows it got them;
        // the first data carries them with its data-level length.
        match mapping {
            None if !payload => {
                push(MptcpOption::MpCapable(MpCapable {
                    flags,
                    variant: MpCapableVariant::Ack {
                        sender_key: c.local_key,
                        receiver_key: remote_key,
                    },
                }));
                taken.keys = true;
                return taken;
            }
            Some(m) if m.offset == 0 && m.dsn == c.local_idsn.wrapping_add(1) => {
                taken.keys = true;
                push(MptcpOption::MpCapable(MpCapable {
                    flags,
                    variant: MpCapableVariant::AckWithData {
                        sender_key: c.local_key,
                        receiver_key: remote_key,
                        data_level_length: m.len,
                        checksum: m.checksum,
                    },
                }));
                return taken;
            }
            _ => {}
        }
    }
    if !payload && c.data_fin.is_none() {
        // A pure ACK with a signal carries the signal instead of the DATA_ACK when
        // both would not fit (an IPv6 ADD_ADDR takes 30 octets); the next segment
        // acknowledges.
        if let Some(signal) = c.signal {
            push(match signal {
                Signal::AddAddr(a) => MptcpOption::AddAddr(a),
                Signal::RemoveAddr(r) => MptcpOption::RemoveAddr(r),
            });
            taken.signal = true;
            return taken;
        }
    }
    let mut dss = Dss {
        data_ack: Some(SeqField::U64(c.data_ack)),
        mapping: mapping.map(|m| DssMapping {
            dsn: SeqField::U64(m.dsn),
            ssn: m.ssn(),
            data_level_length: if m.infinite { 0 } else { m.len },
            checksum: m.checksum,
        }),
        data_fin: false,
    };
    if let (false, Some(fin)) = (payload, c.data_fin) {
        // §3.3.3: a DATA_FIN on a segment without data has subflow sequence number
        // 0 and data-level length 1.
        dss.data_fin = true;
        taken.data_fin = true;
        dss.mapping = Some(DssMapping {
            dsn: SeqField::U64(fin),
            ssn: 0,
            data_level_length: 1,
            checksum: c
                .checksums
                .then(|| crypto::dss_checksum(fin, 0, 1, std::iter::empty())),
        });
    }
    if let (false, Some(dsn)) = (payload, c.mp_fail) {
        // §3.7: MP_FAIL goes first, so that the packer drops the DSS rather than
        // it when the option space is short.
        push(MptcpOption::MpFail(MpFail { dsn }));
        taken.mp_fail = true;
    }
    push(MptcpOption::Dss(dss));
    if payload {
        return taken;
    }
    // Signals ride on segments without data, where there is room for them.
    if s.prio_due {
        push(MptcpOption::MpPrio(MpPrio {
            backup: s.backup,
            addr_id: None,
        }));
        taken.prio = true;
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;
    use crate::wire::mptcp::AddAddr;
    use crate::wire::tcp_option::SackBlocks;

    const LOCAL_KEY: u64 = 0xaaaa;
    const REMOTE_KEY: u64 = 0xbbbb;

    fn established() -> ConnectionView {
        ConnectionView {
            fallback: false,
            client: true,
            key_echo: Some(KeyEcho::Acked),
            checksums: false,
            local_key: LOCAL_KEY,
            local_idsn: crypto::idsn(LOCAL_KEY),
            remote_key: Some(REMOTE_KEY),
            data_ack: 5000,
            data_fin: None,
            fastclose: false,
            signal: None,
            mp_fail: None,
        }
    }

    fn subflow(tx: &VecDeque<TxMapping>) -> SubflowView<'_> {
        SubflowView {
            handshake: Handshake::Capable,
            tx,
            backup: false,
            local_id: 0,
            prio_due: false,
            reset_reason: None,
            first: true,
        }
    }

    fn ack() -> SegmentView {
        SegmentView {
            syn: false,
            ack: true,
            rst: false,
            payload_len: 0,
            stream_offset: 0,
        }
    }

    fn data(offset: u64, len: usize) -> SegmentView {
        SegmentView {
            payload_len: len,
            stream_offset: offset,
            ..ack()
        }
    }

    fn mapping(offset: u64, len: u16, dsn: u64) -> TxMapping {
        TxMapping {
            offset,
            len,
            dsn,
            checksum: None,
            infinite: false,
            mapped_at: Instant::ZERO,
        }
    }

    fn write(
        c: &ConnectionView,
        s: &SubflowView<'_>,
        seg: &SegmentView,
    ) -> (Vec<MptcpOption<'static>>, Taken) {
        let mut options = Vec::new();
        let taken = write_options(c, s, seg, &mut options);
        let mptcp = options
            .into_iter()
            .map(|o| match o {
                TcpOption::Mptcp(m) => m,
                other => panic!("only MPTCP options are written, not {other:?}"),
            })
            .collect();
        (mptcp, taken)
    }

    #[test]
    fn rfc8684_s3_3_a_data_segment_carries_its_mapping_and_the_data_ack() {
        let tx = VecDeque::from([mapping(0, 2840, 9000)]);
        let (options, taken) = write(&established(), &subflow(&tx), &data(1420, 1420));
        assert_eq!(
            options,
            [MptcpOption::Dss(Dss {
                data_ack: Some(SeqField::U64(5000)),
                mapping: Some(DssMapping {
                    dsn: SeqField::U64(9000),
                    ssn: 1,
                    data_level_length: 2840,
                    checksum: None,
                }),
                data_fin: false,
            })]
        );
        assert_eq!(taken, Taken::default());
    }

    #[test]
    fn rfc8684_s3_1_the_client_repeats_its_keys_until_the_server_has_them() {
        let tx = VecDeque::new();
        let c = ConnectionView {
            key_echo: Some(KeyEcho::Sent),
            ..established()
        };
        let (options, _) = write(&c, &subflow(&tx), &ack());
        assert!(matches!(
            options[..],
            [MptcpOption::MpCapable(MpCapable {
                variant: MpCapableVariant::Ack {
                    sender_key: LOCAL_KEY,
                    receiver_key: REMOTE_KEY
                },
                ..
            })]
        ));
        // The first data carries them with its length.
        let first = VecDeque::from([mapping(0, 100, c.local_idsn.wrapping_add(1))]);
        let (options, _) = write(&c, &subflow(&first), &data(0, 100));
        assert!(matches!(
            options[..],
            [MptcpOption::MpCapable(MpCapable {
                variant: MpCapableVariant::AckWithData {
                    data_level_length: 100,
                    ..
                },
                ..
            })]
        ));
    }

    #[test]
    fn rfc8684_s3_3_3_a_data_fin_without_data_has_ssn_0_and_length_1() {
        let tx = VecDeque::new();
        let c = ConnectionView {
            data_fin: Some(7777),
            signal: Some(Signal::RemoveAddr(crate::wire::mptcp::RemoveAddr {
                addr_ids: crate::wire::mptcp::AddrIdList::new(&[1]).unwrap(),
            })),
            ..established()
        };
        let (options, taken) = write(&c, &subflow(&tx), &ack());
        let [MptcpOption::Dss(dss)] = options[..] else {
            panic!("one DSS: {options:?}");
        };
        assert!(dss.data_fin);
        assert_eq!(
            dss.mapping,
            Some(DssMapping {
                dsn: SeqField::U64(7777),
                ssn: 0,
                data_level_length: 1,
                checksum: None
            })
        );
        assert!(!taken.signal, "the DATA_FIN goes first");
    }

    #[test]
    fn signals_ride_on_pure_acks_and_say_they_were_taken() {
        let tx = VecDeque::new();
        let announce = AddAddr {
            addr_id: 2,
            addr: "10.0.2.1".parse().unwrap(),
            port: None,
            truncated_hmac: Some(1),
        };
        let c = ConnectionView {
            signal: Some(Signal::AddAddr(announce)),
            mp_fail: Some(300),
            ..established()
        };
        let (options, taken) = write(&c, &subflow(&tx), &ack());
        assert_eq!(options, [MptcpOption::AddAddr(announce)]);
        assert!(taken.signal && !taken.mp_fail);
        // With the address signal gone, the DSS carries MP_PRIO and MP_FAIL along.
        let c = ConnectionView { signal: None, ..c };
        let s = SubflowView {
            prio_due: true,
            backup: true,
            ..subflow(&tx)
        };
        let (options, taken) = write(&c, &s, &ack());
        assert!(matches!(
            options[..],
            [
                MptcpOption::MpFail(MpFail { dsn: 300 }),
                MptcpOption::Dss(_),
                MptcpOption::MpPrio(MpPrio { backup: true, .. }),
            ]
        ));
        assert!(taken.prio && taken.mp_fail);
        // Never on data segments.
        let tx = VecDeque::from([mapping(0, 10, 9000)]);
        let s = SubflowView {
            prio_due: true,
            ..subflow(&tx)
        };
        let (_, taken) = write(&c, &s, &data(0, 10));
        assert_eq!(taken, Taken::default());
    }

    #[test]
    fn rfc8684_s3_5_and_s3_6_resets_carry_mp_fastclose_or_the_reason() {
        let tx = VecDeque::new();
        let rst = SegmentView { rst: true, ..ack() };
        let c = ConnectionView {
            fastclose: true,
            ..established()
        };
        let (options, _) = write(&c, &subflow(&tx), &rst);
        assert_eq!(
            options,
            [MptcpOption::MpFastclose(MpFastclose {
                receiver_key: REMOTE_KEY
            })]
        );
        let s = SubflowView {
            reset_reason: Some(MpTcpRstReason::MiddleboxInterference),
            ..subflow(&tx)
        };
        let (options, _) = write(&established(), &s, &rst);
        assert!(matches!(
            options[..],
            [MptcpOption::MpTcpRst(MpTcpRst {
                reason: MpTcpRstReason::MiddleboxInterference,
                ..
            })]
        ));
    }

    #[test]
    fn rfc8684_s3_7_after_fallback_only_the_infinite_mapping_is_carried() {
        let mut infinite = mapping(100, 0, 4242);
        infinite.infinite = true;
        let tx = VecDeque::from([mapping(0, 100, 4142), infinite]);
        let c = ConnectionView {
            fallback: true,
            ..established()
        };
        let (options, _) = write(&c, &subflow(&tx), &data(0, 100));
        assert_eq!(options, [], "bytes before it: plain TCP");
        // Zero-length mappings cover nothing; give it its bytes.
        let mut infinite = mapping(100, 50, 4242);
        infinite.infinite = true;
        let tx = VecDeque::from([mapping(0, 100, 4142), infinite]);
        let (options, _) = write(&c, &subflow(&tx), &data(100, 50));
        let [MptcpOption::Dss(dss)] = options[..] else {
            panic!("the infinite mapping: {options:?}");
        };
        assert_eq!(dss.mapping.map(|m| m.data_level_length), Some(0));
    }

    #[test]
    fn mptcp_options_go_before_sack_so_that_sack_is_trimmed_first() {
        let tx = VecDeque::new();
        let sack = TcpOption::Sack(SackBlocks::new(&[Default::default()]).unwrap());
        let mut options = vec![TcpOption::Timestamps { tsval: 1, tsecr: 2 }, sack];
        write_options(&established(), &subflow(&tx), &ack(), &mut options);
        assert!(matches!(options[1], TcpOption::Mptcp(MptcpOption::Dss(_))));
        assert_eq!(options[2], sack);
    }
}
