//! Segments arriving on a subflow: the MPTCP handshakes (RFC 8684 §3.1, §3.2), the
//! DSS (§3.3), address signals (§3.4), and the failure signals (§3.5 – §3.7).

use crate::cc::{CongestionControl, SubflowId};
use crate::crypto;
use crate::mptcp::connection::{data_receiver, mapping_config, MptcpConnection, Phase, Signal};
use crate::mptcp::data::DataReceiver;
use crate::mptcp::mapping::{mp_capable_mapping, Delivery, MappingReceiver};
use crate::mptcp::subflow::Handshake;
use crate::seq::widen;
use crate::tcp::{SegmentIn, SegmentVerdict, TcpEvent, TcpState};
use crate::time::Instant;
use crate::wire::mptcp::{
    AddAddr, DssMapping, MpCapableVariant, MpJoin, MpTcpRstReason, MptcpOption, SeqField,
};
use crate::wire::tcp_option::mptcp_options;

/// What the data-level delivery of one subflow's bytes ran into.
#[derive(Debug, Default)]
struct DeliveryOutcome {
    /// A mapping's checksum failed at this DSN.
    checksum_failed_at: Option<u64>,
    infinite_mapping: bool,
    protocol_error: bool,
}

impl MptcpConnection {
    /// Handles one segment of subflow `id`; `options` is the segment's raw option
    /// block, where the MPTCP options are.
    pub fn handle_segment(
        &mut self,
        now: Instant,
        id: SubflowId,
        seg: &SegmentIn<'_>,
        options: &[u8],
        cc: &mut dyn CongestionControl,
    ) -> SegmentVerdict {
        let Some(i) = self.index_of(id) else {
            return SegmentVerdict::Accepted;
        };
        if seg.flags.rst() {
            self.on_reset_options(i, options);
        }
        let before = self.subflows[i].tcp.state();
        let verdict = self.subflows[i].tcp.handle_segment(now, seg, cc);
        let after = self.subflows[i].tcp.state();
        if !seg.flags.rst() && self.closed.is_none() {
            if before == TcpState::SynSent && after.is_synchronized() {
                self.on_syn_ack(now, i, options);
            } else if before == TcpState::SynReceived && after.is_synchronized() {
                self.on_third_ack(now, i, options);
            } else if let Handshake::JoinAckSent { .. } = self.subflows[i].handshake {
                if !seg.flags.syn() && after.is_synchronized() {
                    // RFC 8684 §3.2: the fourth ACK; the subflow may carry data.
                    self.subflows[i].handshake = Handshake::Joined;
                    self.join_established(i);
                }
            } else if self.phase == Phase::Established
                && before.is_synchronized()
                && !seg.flags.syn()
                && mptcp_options(options).next().is_none()
            {
                self.options_vanished(i, !seg.payload.is_empty());
            }
            if let Some(i) = self.index_of(id) {
                self.on_signals(now, i, seg, options);
                self.drain(i, seg, options);
            }
        }
        self.after_activity(now);
        self.release_ended_subflows(cc);
        verdict
    }

    /// RFC 8684 §3.7: once MPTCP runs, every segment carries an MPTCP option (Linux
    /// puts a DSS on each). One without any means a middlebox strips them, or the
    /// peer fell back (its SYN-ACK or third ACK lost its option on the way): the
    /// first subflow, alone, continues as plain TCP; any other subflow is reset.
    fn options_vanished(&mut self, i: usize, with_data: bool) {
        let alone = self.alone(i);
        if i == 0 && alone {
            self.stats.fallback_no_dss += 1;
            self.fall_back();
        } else if with_data || i == 0 {
            let id = self.subflows[i].id;
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
    }

    /// The endpoint made this connection on the third ACK of its first subflow
    /// (whose TCP already took the segment): the segment's MPTCP options and data are
    /// handled as if the connection had existed since the SYN.
    pub fn complete_passive_open(&mut self, now: Instant, seg: &SegmentIn<'_>, options: &[u8]) {
        self.on_third_ack(now, 0, options);
        self.on_signals(now, 0, seg, options);
        self.drain(0, seg, options);
        self.after_activity(now);
    }

    /// MP_FASTCLOSE and MP_TCPRST ride on RSTs.
    fn on_reset_options(&mut self, i: usize, options: &[u8]) {
        for option in mptcp_options(options) {
            match option {
                MptcpOption::MpFastclose(f) if f.receiver_key == self.local_key.key => {
                    self.on_fastclose();
                }
                MptcpOption::MpTcpRst(r) => {
                    self.stats.mp_tcprst_received += 1;
                    self.subflows[i].peer_reset_reason = Some(r.reason);
                    self.subflows[i].peer_reset_transient = r.flags.transient();
                }
                _ => {}
            }
        }
    }

    /// RFC 8684 §3.5: the peer gave up on the connection; every subflow is reset.
    fn on_fastclose(&mut self) {
        self.stats.fastclose_received += 1;
        for s in &mut self.subflows {
            s.tcp.abort();
        }
        self.finish(crate::tcp::CloseReason::Reset);
    }

    /// The SYN-ACK of a subflow we opened.
    fn on_syn_ack(&mut self, now: Instant, i: usize, options: &[u8]) {
        match self.subflows[i].handshake {
            Handshake::Capable => {
                let key = mptcp_options(options).find_map(|o| match o {
                    MptcpOption::MpCapable(c) => match c.variant {
                        MpCapableVariant::SynAck { sender_key } => {
                            Some((sender_key, c.flags.checksum_required()))
                        }
                        _ => None,
                    },
                    _ => None,
                });
                match key {
                    Some((remote_key, checksums)) => {
                        // RFC 8684 §3.1: checksums are used if either host asks.
                        self.checksums |= checksums;
                        self.keys_known(now, remote_key);
                    }
                    None => {
                        // §3.1: no MP_CAPABLE on the SYN-ACK: plain TCP.
                        self.stats.fallback_no_mp_capable += 1;
                        self.fall_back();
                    }
                }
            }
            Handshake::JoinSynSent { local_nonce } => {
                let reply = mptcp_options(options).find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::SynAck {
                        backup,
                        addr_id,
                        truncated_hmac,
                        nonce,
                    }) => Some((backup, addr_id, truncated_hmac, nonce)),
                    _ => None,
                });
                let remote_key = self.remote_key.unwrap_or_default();
                let local_key = self.local_key.key;
                let verified = reply.filter(|&(_, _, hmac, nonce)| {
                    // §3.2: HMAC(Key-B || Key-A, R-B || R-A), leftmost 64 bits.
                    crypto::join_syn_ack_hmac(remote_key, local_key, nonce, local_nonce) == hmac
                });
                match verified {
                    Some((backup, addr_id, _, nonce)) => {
                        let s = &mut self.subflows[i];
                        s.peer_backup = backup;
                        s.remote_id = addr_id;
                        s.handshake = Handshake::JoinAckSent {
                            hmac: crypto::join_ack_hmac(local_key, remote_key, local_nonce, nonce),
                        };
                    }
                    None => {
                        // §3.2: a SYN-ACK whose HMAC does not verify ends the subflow
                        // with a RST; no MP_JOIN at all is the same failure.
                        self.stats.bad_join_hmacs += 1;
                        let id = self.subflows[i].id;
                        self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
                    }
                }
            }
            _ => {}
        }
    }

    /// The third ACK of a subflow we accepted.
    fn on_third_ack(&mut self, now: Instant, i: usize, options: &[u8]) {
        match self.subflows[i].handshake {
            Handshake::Capable => {
                let local = self.local_key.key;
                let keys = mptcp_options(options).find_map(|o| match o {
                    MptcpOption::MpCapable(c) => match c.variant {
                        MpCapableVariant::Ack {
                            sender_key,
                            receiver_key,
                        }
                        | MpCapableVariant::AckWithData {
                            sender_key,
                            receiver_key,
                            ..
                        } if receiver_key == local => Some(sender_key),
                        _ => None,
                    },
                    _ => None,
                });
                match keys {
                    Some(remote_key) => self.keys_known(now, remote_key),
                    None => {
                        // §3.1: a third ACK without MP_CAPABLE means a middlebox
                        // in the way: continue as plain TCP.
                        self.stats.fallback_no_mp_capable += 1;
                        self.fall_back();
                    }
                }
            }
            Handshake::JoinSynAckSent {
                local_nonce,
                peer_nonce,
                ..
            } => {
                let hmac = mptcp_options(options).find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::Ack { hmac }) => Some(hmac),
                    _ => None,
                });
                let remote_key = self.remote_key.unwrap_or_default();
                // §3.2: HMAC(Key-A || Key-B, R-A || R-B), leftmost 160 bits.
                let expected =
                    crypto::join_ack_hmac(remote_key, self.local_key.key, peer_nonce, local_nonce);
                if hmac == Some(expected) {
                    let s = &mut self.subflows[i];
                    s.handshake = Handshake::Joined;
                    // The fourth ACK tells the initiator the subflow is ready.
                    s.tcp.request_ack();
                    self.join_established(i);
                } else {
                    self.stats.bad_join_hmacs += 1;
                    let id = self.subflows[i].id;
                    self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
                }
            }
            _ => {}
        }
    }

    fn join_established(&mut self, i: usize) {
        let s = &self.subflows[i];
        let (local, remote, local_id, remote_id) =
            (s.tcp.local(), s.tcp.remote(), s.local_id, s.remote_id);
        if !self.client {
            self.stats.joins_accepted += 1;
        }
        self.pm
            .on_subflow_established(local, remote, local_id, remote_id);
    }

    /// Both keys are known: MPTCP is on (§3.1).
    fn keys_known(&mut self, now: Instant, remote_key: u64) {
        self.remote_key = Some(remote_key);
        let capacity = self.receiver.capacity();
        self.receiver = data_receiver(crypto::idsn(remote_key), capacity);
        self.subflows[0].rx = self.new_mapping_receiver();
        self.phase = Phase::Established;
        let window = self.subflows[0].tcp.peer_window();
        let una = self.sender.data_una();
        self.sender.on_data_ack(una, window);
        self.connected_event();
        if !self.client {
            self.pm.on_established(now);
        }
    }

    fn connected_event(&mut self) {
        if !self.connected {
            self.connected = true;
            self.events.push_back(TcpEvent::Connected);
        }
    }

    /// Falls back to plain TCP on the first subflow (§3.7): its bytes are the
    /// stream from where the data level stands.
    pub(super) fn fall_back(&mut self) {
        if self.phase == Phase::Fallback {
            return;
        }
        let was_established = self.phase == Phase::Established;
        self.phase = Phase::Fallback;
        self.checksums = false;
        // Only one subflow can carry a plain TCP stream.
        let extra: Vec<SubflowId> = self.subflows.iter().skip(1).map(|s| s.id).collect();
        for id in extra {
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
        if was_established {
            // The peer's bytes keep their mappings until it falls back too; from the
            // first unmapped byte on, they continue the stream (see `drain`).
        } else {
            let capacity = self.receiver.capacity();
            self.receiver = data_receiver(0, capacity);
            self.subflows[0].rx = MappingReceiver::new(mapping_config(false, capacity));
            self.anchor_plain_tcp(0, 1);
        }
        let s = &mut self.subflows[0];
        if !was_established {
            let window = s.tcp.peer_window();
            let una = self.sender.data_una();
            self.sender.on_data_ack(una, window);
        }
        self.connected_event();
    }

    /// Maps subflow 0's bytes from relative sequence number `ssn` on to the stream
    /// from `dsn`: the implicit infinite mapping of plain TCP (§3.7).
    fn anchor_plain_tcp(&mut self, ssn: u32, dsn: u64) {
        let s = &mut self.subflows[0];
        let infinite = DssMapping {
            dsn: SeqField::U64(dsn),
            ssn,
            data_level_length: 0,
            // With checksums negotiated the field is there, zero (§3.7).
            checksum: s.rx.config().checksums.then_some(0),
        };
        let mut outcome = DeliveryOutcome::default();
        if s.rx.is_fallback() {
            return;
        }
        let receiver = &mut self.receiver;
        let stats = &mut self.stats;
        let result = s.rx.on_mapping(&infinite, false, dsn, &mut |d| {
            deliver(receiver, stats, &mut outcome, d)
        });
        if result.is_err() || outcome.protocol_error {
            self.stats.protocol_errors += 1;
        }
    }

    /// DSS, ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FAIL and MP_FASTCLOSE on a segment.
    fn on_signals(&mut self, now: Instant, i: usize, seg: &SegmentIn<'_>, options: &[u8]) {
        if self.phase != Phase::Established {
            return;
        }
        let remote_key = self.remote_key.unwrap_or_default();
        let local_key = self.local_key.key;
        for option in mptcp_options(options) {
            let proves_keys = matches!(option, MptcpOption::Dss(_) | MptcpOption::AddAddr(_));
            if self.client && !self.capable_acked && proves_keys {
                // The server has our keys (§3.1: stop repeating them), and joins
                // will find the connection: Linux, too, waits for this before
                // opening subflows. An ADD_ADDR's HMAC needs our key.
                self.capable_acked = true;
                self.pm.on_established(now);
            }
            match option {
                MptcpOption::Dss(dss) => {
                    if let Some(ack) = dss.data_ack {
                        let ack = match ack {
                            SeqField::U64(v) => v,
                            SeqField::U32(low) => widen(low, self.sender.data_una()),
                        };
                        let window = self.subflows[i].tcp.scaled_window(seg);
                        self.sender.on_data_ack(ack, window);
                    }
                    if let Some(mapping) = dss.mapping {
                        self.deliver_mapping(i, &mapping, dss.data_fin);
                    }
                }
                MptcpOption::MpCapable(c) => {
                    // §3.1: the first data may come with MP_CAPABLE instead of a DSS.
                    if let MpCapableVariant::AckWithData {
                        sender_key,
                        data_level_length,
                        checksum,
                        ..
                    } = c.variant
                    {
                        if sender_key == remote_key && i == 0 {
                            let mapping = mp_capable_mapping(
                                crypto::idsn(remote_key),
                                data_level_length,
                                checksum,
                            );
                            self.deliver_mapping(i, &mapping, false);
                        }
                    }
                }
                MptcpOption::AddAddr(a) => self.on_add_addr(now, a, local_key, remote_key),
                MptcpOption::RemoveAddr(r) => {
                    self.stats.remove_addr_received += 1;
                    self.pm.on_remove_addr(r.addr_ids.as_slice());
                }
                MptcpOption::MpPrio(p) => {
                    // §3.3.8: the peer wants this subflow used as a backup, or not.
                    self.stats.mp_prio_received += 1;
                    self.subflows[i].peer_backup = p.backup;
                }
                MptcpOption::MpFail(f) => {
                    self.stats.mp_fail_received += 1;
                    self.on_mp_fail(i, f.dsn);
                }
                MptcpOption::MpFastclose(f) if f.receiver_key == local_key => {
                    self.on_fastclose();
                    return;
                }
                _ => {}
            }
        }
    }

    fn on_add_addr(&mut self, now: Instant, a: AddAddr, local_key: u64, remote_key: u64) {
        match a.truncated_hmac {
            Some(hmac) => {
                // §3.4.1: the HMAC is keyed by the announcer's key first.
                let expected =
                    crypto::add_addr_hmac(remote_key, local_key, a.addr_id, a.addr, a.port);
                if hmac != expected {
                    self.stats.add_addr_bad_hmac += 1;
                    return;
                }
                self.stats.add_addr_received += 1;
                self.pm.on_add_addr(now, a.addr_id, a.addr, a.port);
                self.signals.push_back(Signal::AddAddr(AddAddr {
                    truncated_hmac: None,
                    ..a
                }));
                self.request_signal_ack();
            }
            None => {
                self.stats.add_addr_echoes_received += 1;
                self.pm.on_add_addr_echo(a.addr_id);
            }
        }
    }

    fn deliver_mapping(&mut self, i: usize, mapping: &DssMapping, data_fin: bool) {
        let reference = self.receiver.data_ack();
        let mut outcome = DeliveryOutcome::default();
        let s = &mut self.subflows[i];
        let receiver = &mut self.receiver;
        let stats = &mut self.stats;
        let result = s.rx.on_mapping(mapping, data_fin, reference, &mut |d| {
            deliver(receiver, stats, &mut outcome, d)
        });
        if result.is_err() {
            outcome.protocol_error = true;
        }
        self.after_delivery(i, outcome);
    }

    /// Moves the subflow's in-order bytes to the data level.
    fn drain(&mut self, i: usize, seg: &SegmentIn<'_>, options: &[u8]) {
        let mut scratch = std::mem::take(&mut self.scratch);
        if scratch.is_empty() {
            scratch.resize(64 * 1024, 0);
        }
        let mut outcome = DeliveryOutcome::default();
        {
            let s = &mut self.subflows[i];
            let receiver = &mut self.receiver;
            let stats = &mut self.stats;
            loop {
                let n = s.tcp.read(&mut scratch);
                if n == 0 {
                    break;
                }
                let ssn = s.rx_ssn;
                s.rx_ssn = ssn.wrapping_add(n as u32);
                let result = s.rx.on_data(ssn, &scratch[..n], &mut |d| {
                    deliver(receiver, stats, &mut outcome, d)
                });
                if result.is_err() {
                    outcome.protocol_error = true;
                    break;
                }
            }
        }
        self.scratch = scratch;
        // §3.7: data with no mapping on the only subflow, while no mapping covers
        // it: a middlebox strips the option. Continue as plain TCP from here.
        let s = &self.subflows[i];
        let mapped = mptcp_options(options).any(|o| match o {
            MptcpOption::Dss(d) => d.mapping.is_some(),
            MptcpOption::MpCapable(c) => matches!(c.variant, MpCapableVariant::AckWithData { .. }),
            _ => false,
        });
        if self.phase == Phase::Established
            && !seg.payload.is_empty()
            && !mapped
            && s.rx.held_bytes() > 0
            && self.subflows.len() == 1
        {
            self.stats.fallback_no_dss += 1;
            self.fall_back();
        }
        let s = &self.subflows[i];
        if self.phase == Phase::Fallback && i == 0 && s.rx.waiting_for_mapping() {
            // After our fallback the peer's bytes run on without mappings: they
            // continue the stream where the data level stands.
            let ssn = s.rx.next_ssn().wrapping_sub(s.rx.held_bytes() as u32);
            let dsn = self.receiver.data_ack();
            self.anchor_plain_tcp(ssn, dsn);
        }
        if self.subflows[i].tcp.is_read_closed() && !self.subflows[i].rx_fin {
            self.subflows[i].rx_fin = true;
            let s = &mut self.subflows[i];
            let receiver = &mut self.receiver;
            let stats = &mut self.stats;
            if s.rx
                .on_fin(&mut |d| deliver(receiver, stats, &mut outcome, d))
                .is_err()
            {
                outcome.protocol_error = true;
            }
        }
        self.after_delivery(i, outcome);
    }

    fn after_delivery(&mut self, i: usize, outcome: DeliveryOutcome) {
        if outcome.infinite_mapping {
            // §3.7: the peer fell back; so do we.
            self.fall_back();
        }
        if let Some(dsn) = outcome.checksum_failed_at {
            self.on_bad_checksum(i, dsn);
        } else if outcome.protocol_error {
            self.stats.protocol_errors += 1;
            let id = self.subflows[i].id;
            self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
        }
    }

    /// Whether subflow `i` is the only one that can carry data.
    fn alone(&self, i: usize) -> bool {
        !self
            .subflows
            .iter()
            .enumerate()
            .any(|(j, s)| j != i && s.is_usable())
    }

    /// RFC 8684 §3.7: a mapping we received failed its checksum. With other subflows
    /// the bad one is reset (MP_TCPRST "middlebox interference"). Alone, we send
    /// MP_FAIL with the failed mapping's DSN and discard what follows until the
    /// peer's infinite mapping says where plain TCP resumes.
    fn on_bad_checksum(&mut self, i: usize, dsn: u64) {
        if self.alone(i) {
            self.mp_fail_due = Some(dsn);
            self.stats.mp_fail_sent += 1;
            self.request_signal_ack();
        } else {
            let id = self.subflows[i].id;
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
    }

    /// RFC 8684 §3.7: the peer's checksum of our mapping at `dsn` failed. Alone, we
    /// send everything from `dsn` again behind an infinite mapping and continue as
    /// plain TCP; with other subflows, the subflow is reset and its data reinjected.
    fn on_mp_fail(&mut self, i: usize, dsn: u64) {
        if self.alone(i) {
            self.stats.fallback_checksum += 1;
            let end = self.sender.data_nxt();
            self.stats.reinjected_bytes += self.sender.reinject(dsn, end.wrapping_sub(dsn));
            self.infinite_mapping_due = true;
        } else {
            let id = self.subflows[i].id;
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
    }
}

fn deliver(
    receiver: &mut DataReceiver,
    stats: &mut crate::mptcp::connection::MptcpStats,
    outcome: &mut DeliveryOutcome,
    delivery: Delivery<'_>,
) {
    match delivery {
        Delivery::Data { dsn, bytes } => {
            if receiver.on_chunk(dsn, bytes).is_err() {
                outcome.protocol_error = true;
            }
        }
        Delivery::DataFin { dsn } => {
            if receiver.on_data_fin(dsn).is_err() {
                outcome.protocol_error = true;
            }
        }
        Delivery::ChecksumFailed { dsn, .. } => {
            stats.checksum_failures += 1;
            outcome.checksum_failed_at.get_or_insert(dsn);
        }
        Delivery::Fallback { .. } => {
            stats.infinite_mappings_received += 1;
            outcome.infinite_mapping = true;
        }
        Delivery::Discarded { .. } => {}
    }
}
