//! Grouping a capture's TCP segments into MPTCP connections and their subflows.
//!
//! Subflows are tied together the way a firewall that sees every path would do it:
//! the initial subflow's MP_CAPABLE handshake reveals both keys, hence both tokens
//! (RFC 8684 §3.1), and every MP_JOIN SYN names the token of the host it is sent to
//! (§3.2). A capture may hold only some of the paths or start mid-connection; the
//! report then says what could be known: a join whose token matches no handshake in
//! the capture becomes a connection known by that token alone, and subflows that
//! carry MPTCP options without any handshake are listed as unattributed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use braid_proto::crypto;
use braid_proto::wire::mptcp::{MpCapableVariant, MpJoin, MptcpOption};
use braid_proto::wire::TcpFlags;
use serde::Serialize;

use super::segment::Segment;

/// The two ends of an MPTCP connection. The client sent the first MP_CAPABLE SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Host {
    Client,
    Server,
}

impl Host {
    fn other(self) -> Host {
        match self {
            Host::Client => Host::Server,
            Host::Server => Host::Client,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Host::Client => "client",
            Host::Server => "server",
        }
    }
}

/// How a subflow came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubflowKind {
    /// The first subflow, opened with MP_CAPABLE.
    Initial,
    /// Added with MP_JOIN.
    Join,
    /// Carries MPTCP options, but its SYN is not in the capture.
    Unknown,
}

/// One subflow (a TCP connection) of an MPTCP connection.
#[derive(Debug, Clone, Serialize)]
pub struct Subflow {
    pub kind: SubflowKind,
    /// The end that sent the SYN, when the SYN was captured.
    pub initiator: SocketAddr,
    pub responder: SocketAddr,
    /// Which host opened it, when that can be known.
    pub opened_by: Option<Host>,
    /// Address ids of the initiator's and the responder's addresses (0 for the
    /// initial subflow, RFC 8684 §3.4; from MP_JOIN otherwise).
    pub initiator_addr_id: Option<u8>,
    pub responder_addr_id: Option<u8>,
    /// Whether each end asked, last, for the subflow to be a backup (MP_JOIN B flag,
    /// MP_PRIO).
    pub initiator_backup: bool,
    pub responder_backup: bool,
    /// Every MP_PRIO seen on the subflow, in capture order (§3.3.8).
    pub priority_changes: Vec<PriorityChange>,
    /// MP_JOIN HMACs checked against the keys, when both keys and nonces are known.
    pub join_hmacs_valid: Option<bool>,
    pub packets: u64,
    pub payload_bytes: u64,
    pub first_frame: u64,
    /// A RST was seen on the subflow, with MP_TCPRST's reason code if it had one.
    pub reset: bool,
    pub reset_reason: Option<u8>,
    #[serde(skip)]
    join: JoinHandshake,
}

/// An MP_PRIO: its sender asks its peer to use the subflow as a backup, or not.
#[derive(Debug, Clone, Serialize)]
pub struct PriorityChange {
    pub frame: u64,
    /// Which host sent it, when that can be known.
    pub by: Option<Host>,
    /// Sent by the subflow's initiator (otherwise by its responder).
    pub from_initiator: bool,
    /// The sender's backup request before and after this MP_PRIO.
    pub was_backup: bool,
    pub backup: bool,
}

/// The MP_JOIN values needed to verify its HMACs once the keys are known.
#[derive(Debug, Clone, Copy, Default)]
struct JoinHandshake {
    token: Option<u32>,
    initiator_nonce: Option<u32>,
    responder_nonce: Option<u32>,
    responder_truncated_hmac: Option<u64>,
    initiator_hmac: Option<[u8; 20]>,
}

/// An address a host announced with ADD_ADDR (RFC 8684 §3.4.1).
#[derive(Debug, Clone, Serialize)]
pub struct AddressAnnouncement {
    pub by: Option<Host>,
    pub addr_id: u8,
    pub addr: IpAddr,
    pub port: Option<u16>,
    #[serde(serialize_with = "hex64")]
    pub truncated_hmac: u64,
    /// The HMAC checked against the keys, when both are known.
    pub hmac_valid: Option<bool>,
    pub echoed: bool,
    /// Withdrawn later by REMOVE_ADDR.
    pub removed: bool,
    pub frame: u64,
}

/// An address id withdrawn with REMOVE_ADDR (RFC 8684 §3.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AddressRemoval {
    pub by: Option<Host>,
    pub addr_id: u8,
    pub frame: u64,
}

/// Why an MPTCP connection went on as plain TCP (RFC 8684 §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Fallback {
    /// The SYN-ACK to an MP_CAPABLE SYN carried no MP_CAPABLE: the peer does not
    /// speak MPTCP, or a middlebox removed the option (§3.1).
    NoMpCapableInSynAck { frame: u64 },
    /// A DSS with an infinite mapping (§3.7).
    InfiniteMapping { frame: u64 },
    /// MP_FAIL: a checksum failed (§3.7).
    MpFail { frame: u64 },
}

/// One MPTCP connection (or attempt) and what the capture shows of it.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    #[serde(serialize_with = "opt_hex64")]
    pub client_key: Option<u64>,
    #[serde(serialize_with = "opt_hex64")]
    pub server_key: Option<u64>,
    #[serde(serialize_with = "opt_hex32")]
    pub client_token: Option<u32>,
    #[serde(serialize_with = "opt_hex32")]
    pub server_token: Option<u32>,
    /// For a connection whose MP_CAPABLE handshake is not in the capture: the token
    /// its joins were sent to.
    #[serde(serialize_with = "opt_hex32")]
    pub join_token: Option<u32>,
    /// Whether DSS checksums were negotiated: either side set the A flag (§3.1).
    pub checksums: Option<bool>,
    /// The MP_CAPABLE ACK echoed a server key other than the SYN-ACK's.
    pub key_mismatch: bool,
    pub subflows: Vec<Subflow>,
    pub announced: Vec<AddressAnnouncement>,
    /// Address ids withdrawn with REMOVE_ADDR (§3.4.2).
    pub removed: Vec<AddressRemoval>,
    pub fallback: Option<Fallback>,
    /// Hosts that sent a DATA_FIN (§3.3.3).
    pub data_fin_from: Vec<Host>,
    /// The host that sent MP_FASTCLOSE (§3.5).
    pub fastclose_from: Option<Host>,
}

impl Connection {
    fn new() -> Self {
        Connection {
            client_key: None,
            server_key: None,
            client_token: None,
            server_token: None,
            join_token: None,
            checksums: None,
            key_mismatch: false,
            subflows: Vec::new(),
            announced: Vec::new(),
            removed: Vec::new(),
            fallback: None,
            data_fin_from: Vec::new(),
            fastclose_from: None,
        }
    }

    /// Derives tokens and checks every HMAC that the keys make checkable.
    fn finish(&mut self) {
        self.client_token = self.client_key.map(crypto::token).or(self.client_token);
        self.server_token = self.server_key.map(crypto::token).or(self.server_token);
        let (Some(client_key), Some(server_key)) = (self.client_key, self.server_key) else {
            return;
        };
        // (sender's key, receiver's key) for what `sender` computes.
        let keys = |sender: Host| match sender {
            Host::Client => (client_key, server_key),
            Host::Server => (server_key, client_key),
        };
        for a in &mut self.announced {
            if let Some(by) = a.by {
                let (sender, receiver) = keys(by);
                let expected = crypto::add_addr_hmac(sender, receiver, a.addr_id, a.addr, a.port);
                a.hmac_valid = Some(expected == a.truncated_hmac);
            }
        }
        for s in &mut self.subflows {
            let (Some(opener), j) = (s.opened_by, s.join) else {
                continue;
            };
            let (Some(r_a), Some(r_b)) = (j.initiator_nonce, j.responder_nonce) else {
                continue;
            };
            let (key_a, key_b) = keys(opener);
            let syn_ack_ok = j
                .responder_truncated_hmac
                .map(|h| crypto::join_syn_ack_hmac(key_b, key_a, r_b, r_a) == h);
            let ack_ok = j
                .initiator_hmac
                .map(|h| crypto::join_ack_hmac(key_a, key_b, r_a, r_b) == h);
            s.join_hmacs_valid = match (syn_ack_ok, ack_ok) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(true) && b.unwrap_or(true)),
            };
        }
    }
}

/// Everything [`ConnectionTracker`] found in a capture.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    pub connections: Vec<Connection>,
    /// Subflows carrying MPTCP options whose handshake is not in the capture.
    pub unattributed_subflows: Vec<Subflow>,
    /// TCP connections whose SYN carried no MP_CAPABLE and no MP_JOIN.
    pub plain_tcp_connections: u64,
}

/// Where a 4-tuple's segments go.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Subflow { connection: usize, subflow: usize },
    Unattributed(usize),
    PlainTcp,
}

/// Feeds on segments in capture order and builds a [`ConnectionReport`].
#[derive(Debug, Default)]
pub struct ConnectionTracker {
    connections: Vec<Connection>,
    unattributed: Vec<Subflow>,
    plain_tcp: u64,
    by_tuple: HashMap<(SocketAddr, SocketAddr), Owner>,
    by_token: HashMap<u32, usize>,
}

fn tuple_key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn new_subflow(
    kind: SubflowKind,
    initiator: SocketAddr,
    responder: SocketAddr,
    frame: u64,
) -> Subflow {
    Subflow {
        kind,
        initiator,
        responder,
        opened_by: None,
        initiator_addr_id: None,
        responder_addr_id: None,
        initiator_backup: false,
        responder_backup: false,
        priority_changes: Vec::new(),
        join_hmacs_valid: None,
        packets: 0,
        payload_bytes: 0,
        first_frame: frame,
        reset: false,
        reset_reason: None,
        join: JoinHandshake::default(),
    }
}

impl ConnectionTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next segment of the capture; `frame` is its 1-based frame number.
    pub fn add(&mut self, frame: u64, segment: &Segment<'_>) {
        let key = tuple_key(segment.src, segment.dst);
        let owner = match self.by_tuple.get(&key) {
            Some(&owner) => owner,
            None => match self.open(frame, segment) {
                Some(owner) => {
                    self.by_tuple.insert(key, owner);
                    owner
                }
                None => return,
            },
        };
        match owner {
            Owner::PlainTcp => {}
            Owner::Unattributed(i) => count(&mut self.unattributed[i], segment),
            Owner::Subflow {
                connection,
                subflow,
            } => self.on_subflow(frame, segment, connection, subflow),
        }
    }

    /// Decides what a segment on a new 4-tuple starts, if anything.
    fn open(&mut self, frame: u64, segment: &Segment<'_>) -> Option<Owner> {
        let flags = segment.tcp.flags;
        let syn = flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK);
        let first_mptcp = segment.mptcp_options().next();
        if !syn {
            // A capture that starts inside the MP_CAPABLE handshake, or just after it
            // (the first data segment repeats both keys, §3.1), still shows the keys:
            // the subflow is an initial one whose SYN is missing.
            let ends = match first_mptcp {
                Some(MptcpOption::MpCapable(ref m)) => match m.variant {
                    MpCapableVariant::Syn => None,
                    MpCapableVariant::SynAck { .. } => Some((segment.dst, segment.src)),
                    MpCapableVariant::Ack { .. } | MpCapableVariant::AckWithData { .. } => {
                        Some((segment.src, segment.dst))
                    }
                },
                _ => None,
            };
            if let Some((client, server)) = ends {
                return Some(self.open_initial(client, server, frame));
            }
            // Mid-connection: only worth tracking if it speaks MPTCP.
            first_mptcp?;
            self.unattributed.push(new_subflow(
                SubflowKind::Unknown,
                segment.src,
                segment.dst,
                frame,
            ));
            return Some(Owner::Unattributed(self.unattributed.len() - 1));
        }
        match first_mptcp {
            Some(MptcpOption::MpCapable(_)) => {
                Some(self.open_initial(segment.src, segment.dst, frame))
            }
            Some(MptcpOption::MpJoin(MpJoin::Syn { token, .. })) => {
                let connection = match self.by_token.get(&token) {
                    Some(&c) => c,
                    None => {
                        let mut connection = Connection::new();
                        connection.join_token = Some(token);
                        self.connections.push(connection);
                        self.by_token.insert(token, self.connections.len() - 1);
                        self.connections.len() - 1
                    }
                };
                let c = &mut self.connections[connection];
                let mut subflow = new_subflow(SubflowKind::Join, segment.src, segment.dst, frame);
                // The token names the host the SYN goes to (§3.2). The token fields
                // are only filled in by `finish`: derive them from the keys.
                subflow.opened_by = if c.server_key.map(crypto::token) == Some(token) {
                    Some(Host::Client)
                } else if c.client_key.map(crypto::token) == Some(token) {
                    Some(Host::Server)
                } else {
                    None
                };
                c.subflows.push(subflow);
                Some(Owner::Subflow {
                    connection,
                    subflow: c.subflows.len() - 1,
                })
            }
            _ => {
                self.plain_tcp += 1;
                Some(Owner::PlainTcp)
            }
        }
    }

    /// Starts a connection whose initial subflow goes from `client` to `server`.
    fn open_initial(&mut self, client: SocketAddr, server: SocketAddr, frame: u64) -> Owner {
        let mut connection = Connection::new();
        let mut subflow = new_subflow(SubflowKind::Initial, client, server, frame);
        subflow.opened_by = Some(Host::Client);
        subflow.initiator_addr_id = Some(0);
        subflow.responder_addr_id = Some(0);
        connection.subflows.push(subflow);
        self.connections.push(connection);
        Owner::Subflow {
            connection: self.connections.len() - 1,
            subflow: 0,
        }
    }

    fn on_subflow(&mut self, frame: u64, segment: &Segment<'_>, connection: usize, subflow: usize) {
        let flags = segment.tcp.flags;
        let c = &mut self.connections[connection];
        let from_initiator = segment.src == c.subflows[subflow].initiator;
        let sender = c.subflows[subflow]
            .opened_by
            .map(|h| if from_initiator { h } else { h.other() });
        count(&mut c.subflows[subflow], segment);
        let syn_ack = flags.contains(TcpFlags::SYN | TcpFlags::ACK);
        if syn_ack && c.subflows[subflow].kind == SubflowKind::Initial {
            let capable = segment
                .mptcp_options()
                .any(|o| matches!(o, MptcpOption::MpCapable(_)));
            if !capable && c.fallback.is_none() {
                c.fallback = Some(Fallback::NoMpCapableInSynAck { frame });
            }
        }
        if flags.contains(TcpFlags::RST) {
            c.subflows[subflow].reset = true;
        }
        let mut new_tokens = Vec::new();
        for option in segment.mptcp_options() {
            match option {
                MptcpOption::MpCapable(m) => {
                    c.checksums = Some(c.checksums.unwrap_or(false) || m.flags.checksum_required());
                    if let MpCapableVariant::SynAck { sender_key } = m.variant {
                        c.server_key = Some(sender_key);
                        new_tokens.push(crypto::token(sender_key));
                    }
                    if let Some((sender_key, receiver_key)) = m.variant.keys() {
                        if c.client_key.is_none() {
                            new_tokens.push(crypto::token(sender_key));
                        }
                        c.client_key = Some(sender_key);
                        match c.server_key {
                            Some(k) if k != receiver_key => c.key_mismatch = true,
                            Some(_) => {}
                            None => {
                                c.server_key = Some(receiver_key);
                                new_tokens.push(crypto::token(receiver_key));
                            }
                        }
                    }
                }
                MptcpOption::MpJoin(j) => {
                    let s = &mut c.subflows[subflow];
                    match j {
                        MpJoin::Syn {
                            backup,
                            addr_id,
                            token,
                            nonce,
                        } => {
                            s.initiator_addr_id = Some(addr_id);
                            s.initiator_backup = backup;
                            s.join.token = Some(token);
                            s.join.initiator_nonce = Some(nonce);
                        }
                        MpJoin::SynAck {
                            backup,
                            addr_id,
                            truncated_hmac,
                            nonce,
                        } => {
                            s.responder_addr_id = Some(addr_id);
                            s.responder_backup = backup;
                            s.join.responder_nonce = Some(nonce);
                            s.join.responder_truncated_hmac = Some(truncated_hmac);
                        }
                        MpJoin::Ack { hmac } => s.join.initiator_hmac = Some(hmac),
                    }
                }
                MptcpOption::Dss(d) => {
                    if d.mapping.is_some_and(|m| m.is_infinite()) && c.fallback.is_none() {
                        c.fallback = Some(Fallback::InfiniteMapping { frame });
                    }
                    if d.data_fin {
                        if let Some(host) = sender.filter(|h| !c.data_fin_from.contains(h)) {
                            c.data_fin_from.push(host);
                        }
                    }
                }
                MptcpOption::AddAddr(a) => match a.truncated_hmac {
                    Some(truncated_hmac) => c.announced.push(AddressAnnouncement {
                        by: sender,
                        addr_id: a.addr_id,
                        addr: a.addr,
                        port: a.port,
                        truncated_hmac,
                        hmac_valid: None,
                        echoed: false,
                        removed: false,
                        frame,
                    }),
                    None => {
                        // The echo comes from the other host (§3.4.1).
                        let announcer = sender.map(Host::other);
                        if let Some(ann) = c.announced.iter_mut().rev().find(|ann| {
                            ann.addr_id == a.addr_id
                                && ann.addr == a.addr
                                && ann.port == a.port
                                && ann.by == announcer
                        }) {
                            ann.echoed = true;
                        }
                    }
                },
                MptcpOption::RemoveAddr(r) => {
                    for &id in r.addr_ids.as_slice() {
                        c.removed.push(AddressRemoval {
                            by: sender,
                            addr_id: id,
                            frame,
                        });
                        for ann in c
                            .announced
                            .iter_mut()
                            .filter(|ann| ann.addr_id == id && ann.by == sender)
                        {
                            ann.removed = true;
                        }
                    }
                }
                MptcpOption::MpPrio(p) => {
                    let s = &mut c.subflows[subflow];
                    let flag = if from_initiator {
                        &mut s.initiator_backup
                    } else {
                        &mut s.responder_backup
                    };
                    let was_backup = std::mem::replace(flag, p.backup);
                    s.priority_changes.push(PriorityChange {
                        frame,
                        by: sender,
                        from_initiator,
                        was_backup,
                        backup: p.backup,
                    });
                }
                MptcpOption::MpFail(_) => {
                    if c.fallback.is_none() {
                        c.fallback = Some(Fallback::MpFail { frame });
                    }
                }
                MptcpOption::MpFastclose(_) => c.fastclose_from = c.fastclose_from.or(sender),
                MptcpOption::MpTcpRst(r) => {
                    c.subflows[subflow].reset_reason = Some(r.reason.code())
                }
                MptcpOption::Unknown(_) => {}
            }
        }
        if new_tokens.is_empty() {
            return;
        }
        for token in new_tokens {
            self.by_token.insert(token, connection);
        }
        // Keys learned now may tell who opened joins seen before them.
        let c = &mut self.connections[connection];
        let (client_token, server_token) = (
            c.client_key.map(crypto::token),
            c.server_key.map(crypto::token),
        );
        for s in c.subflows.iter_mut().filter(|s| s.opened_by.is_none()) {
            match s.join.token {
                t @ Some(_) if t == server_token => s.opened_by = Some(Host::Client),
                t @ Some(_) if t == client_token => s.opened_by = Some(Host::Server),
                _ => {}
            }
        }
    }

    /// The report, with tokens derived and HMACs checked.
    pub fn finish(mut self) -> ConnectionReport {
        for c in &mut self.connections {
            c.finish();
        }
        ConnectionReport {
            connections: self.connections,
            unattributed_subflows: self.unattributed,
            plain_tcp_connections: self.plain_tcp,
        }
    }
}

fn count(subflow: &mut Subflow, segment: &Segment<'_>) {
    subflow.packets += 1;
    subflow.payload_bytes += segment.tcp.payload.len() as u64;
}

fn hex64<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("0x{v:016x}"))
}

fn opt_hex64<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex64(v, s),
        None => s.serialize_none(),
    }
}

fn opt_hex32<S: serde::Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&format!("0x{v:08x}")),
        None => s.serialize_none(),
    }
}
