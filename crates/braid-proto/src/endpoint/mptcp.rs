//! The endpoint's part in MPTCP: telling MP_CAPABLE and MP_JOIN SYNs apart, finding
//! a join's connection by token (RFC 8684 §3.2), and opening the subflows that
//! connections ask for.

use std::net::SocketAddr;

use super::{Connection, ConnectionId, Endpoint};
use crate::mptcp::keys::LocalKey;
use crate::mptcp::{SegmentOptions, SubflowRequest};
use crate::tcp::{SegmentIn, TcpConnection};
use crate::time::Instant;
use crate::wire::mptcp::{
    MpCapable, MpCapableFlags, MpCapableVariant, MpJoin, MpTcpRst, MpTcpRstFlags, MpTcpRstReason,
    MptcpOption,
};
use crate::wire::tcp_option::TcpOption;

/// What a SYN says about MPTCP (RFC 8684 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CapableOffer {
    None,
    V1 {
        checksums: bool,
    },
    /// MP_CAPABLE of a version braid does not speak: answered as plain TCP.
    OtherVersion,
    /// MP_CAPABLE without HMAC-SHA256 (the H flag) or with the B flag: answered as
    /// plain TCP (§3.1).
    UnusableFlags,
}

pub(super) fn capable_syn(options: &SegmentOptions) -> CapableOffer {
    match options.capable {
        Some(c) if c.variant == MpCapableVariant::Syn => CapableOffer::V1 {
            checksums: c.flags.checksum_required(),
        },
        _ if options.other_version => CapableOffer::OtherVersion,
        _ if options.unusable_capable => CapableOffer::UnusableFlags,
        _ => CapableOffer::None,
    }
}

/// What a listener remembers of a SYN that offered MPTCP, in the half-open TCP
/// connection: the key its SYN-ACK announced, whose token is held for it. The MPTCP
/// connection is made only when the third ACK echoes the key (RFC 8684 §3.1), so a
/// SYN flood costs no more than for TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PassiveOffer {
    pub key: LocalKey,
    pub checksums: bool,
    pub syn_window: u64,
    /// Our SYN-ACK sets the C flag: no joins to this address and port.
    pub no_joins_here: bool,
}

impl PassiveOffer {
    pub(super) fn syn_ack_option(&self) -> TcpOption<'static> {
        let mut flags = MpCapableFlags::HMAC_SHA256;
        if self.checksums {
            flags |= MpCapableFlags::CHECKSUM_REQUIRED;
        }
        if self.no_joins_here {
            flags |= MpCapableFlags::NO_MORE_SUBFLOWS;
        }
        TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
            flags: MpCapableFlags(flags),
            variant: MpCapableVariant::SynAck {
                sender_key: self.key.key,
            },
        }))
    }
}

/// An MP_JOIN SYN's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinSyn {
    pub backup: bool,
    pub addr_id: u8,
    pub token: u32,
    pub nonce: u32,
}

pub(super) fn join_syn(options: &SegmentOptions) -> Option<JoinSyn> {
    match options.join? {
        MpJoin::Syn {
            backup,
            addr_id,
            token,
            nonce,
        } => Some(JoinSyn {
            backup,
            addr_id,
            token,
            nonce,
        }),
        _ => None,
    }
}

pub(super) fn tcprst(reason: MpTcpRstReason) -> TcpOption<'static> {
    TcpOption::Mptcp(MptcpOption::MpTcpRst(MpTcpRst {
        flags: MpTcpRstFlags::default(),
        reason,
    }))
}

impl Endpoint {
    /// The third ACK of a connection whose SYN offered MPTCP: if it echoes our key
    /// (MP_CAPABLE with both keys), the MPTCP connection is made now, around the TCP
    /// connection, and handles the segment's options and data; otherwise the
    /// connection stays plain TCP (§3.1: a third ACK without MP_CAPABLE falls back)
    /// and the token its key held is free again.
    pub(super) fn finish_passive_open(
        &mut self,
        now: Instant,
        id: ConnectionId,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
    ) {
        let Some(slot) = self.connections.get_mut(&id) else {
            return;
        };
        let (Some(offer), Connection::Tcp(tcp)) = (slot.offer, &slot.conn) else {
            return;
        };
        if !tcp.state().is_synchronized() {
            if tcp.state() == crate::tcp::TcpState::Closed {
                slot.offer = None;
                self.tokens.remove(offer.key.token);
            }
            return;
        }
        slot.offer = None;
        let echoed = options
            .capable_variant()
            .and_then(|v| v.keys())
            .is_some_and(|(_, receiver_key)| receiver_key == offer.key.key);
        if !echoed {
            self.stats.mptcp_third_ack_fallbacks += 1;
            self.tokens.remove(offer.key.token);
            return;
        }
        // The token was held for this connection since the SYN (`on_syn`).
        let key = offer.key;
        let mut slot = self.connections.remove(&id).expect("found above");
        let Connection::Tcp(tcp) = slot.conn else {
            unreachable!("checked above");
        };
        let mut conn = crate::mptcp::MptcpConnection::accept(
            self.mptcp_config(),
            key,
            tcp,
            offer.checksums,
            offer.syn_window,
        );
        conn.complete_passive_open(now, seg, options);
        slot.conn = Connection::Mptcp(Box::new(conn));
        self.connections.insert(id, slot);
    }

    /// RFC 8684 §3.2: a SYN with MP_JOIN names its connection by token. Unknown
    /// tokens and connections that take no more subflows get RST with MP_TCPRST.
    pub(super) fn on_join_syn(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &SegmentIn<'_>,
        join: JoinSyn,
    ) {
        let refusal = match self.tokens.lookup(join.token) {
            None => Some(MpTcpRstReason::MptcpSpecific),
            Some(id) => match self.connections.get_mut(&id).map(|s| &mut s.conn) {
                Some(Connection::Mptcp(c))
                    if c.local() == local && !self.config.mptcp.allow_join_initial_address =>
                {
                    // §3.1: our SYN-ACK's C flag said no joins here.
                    c.join_refused();
                    Some(MpTcpRstReason::AdministrativelyProhibited)
                }
                Some(Connection::Mptcp(c)) if !c.may_add_subflow() => {
                    c.join_refused();
                    Some(MpTcpRstReason::LackOfResources)
                }
                Some(Connection::Mptcp(c)) if !c.may_accept_join() => {
                    c.join_refused();
                    Some(MpTcpRstReason::AdministrativelyProhibited)
                }
                Some(Connection::Mptcp(_)) => None,
                _ => Some(MpTcpRstReason::MptcpSpecific),
            },
        };
        if let Some(reason) = refusal {
            self.stats.joins_refused += 1;
            self.queue_reset(local, remote, seg, Some(reason));
            return;
        }
        let id = self.tokens.lookup(join.token).expect("checked above");
        let (iss, ts_offset) = self.initial_sequence(now, local, remote);
        let local_nonce = self.random.next_u32();
        let config = self.subflow_tcp_config(true);
        let slot = self.connections.get_mut(&id).expect("checked above");
        let Connection::Mptcp(conn) = &mut slot.conn else {
            return;
        };
        let tcp = TcpConnection::accept(
            config,
            local,
            remote,
            seg,
            iss,
            ts_offset,
            slot.cc.as_mut(),
            conn.next_subflow_id(),
            now,
        );
        let Some(subflow) = conn.accept_join(tcp, &join, local_nonce) else {
            self.stats.joins_refused += 1;
            self.queue_reset(local, remote, seg, Some(MpTcpRstReason::MptcpSpecific));
            return;
        };
        self.by_tuple.insert((local, remote), (id, subflow));
        self.after_activity(now, id);
    }

    /// Opens the subflows connection `id` asked for (MP_JOIN SYNs).
    pub(super) fn open_requested_subflows(&mut self, now: Instant, id: ConnectionId) {
        let mut requests: Vec<SubflowRequest> = Vec::new();
        if let Some(Connection::Mptcp(conn)) = self.connections.get_mut(&id).map(|s| &mut s.conn) {
            while let Some(r) = conn.poll_subflow_request() {
                requests.push(r);
            }
        }
        for request in requests {
            let ip = request.local.ip();
            let port = match request.local.port() {
                0 => self.ephemeral_port(ip),
                port => port,
            };
            let local = SocketAddr::new(ip, port);
            let family_mismatch = ip.is_ipv4() != request.remote.is_ipv4();
            if family_mismatch || self.by_tuple.contains_key(&(local, request.remote)) {
                if let Some(Connection::Mptcp(conn)) =
                    self.connections.get_mut(&id).map(|s| &mut s.conn)
                {
                    conn.subflow_request_failed(&request);
                }
                continue;
            }
            let (iss, ts_offset) = self.initial_sequence(now, local, request.remote);
            let nonce = self.random.next_u32();
            let config = self.subflow_tcp_config(true);
            let Some(slot) = self.connections.get_mut(&id) else {
                return;
            };
            let Connection::Mptcp(conn) = &mut slot.conn else {
                return;
            };
            let tcp = TcpConnection::connect(
                config,
                local,
                request.remote,
                iss,
                ts_offset,
                slot.cc.as_mut(),
                conn.next_subflow_id(),
                now,
            );
            let subflow = conn.add_join_subflow(tcp, &request, nonce);
            self.by_tuple.insert((local, request.remote), (id, subflow));
        }
    }
}
