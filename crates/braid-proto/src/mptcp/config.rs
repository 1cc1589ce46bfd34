//! Settings of MPTCP connections.

use crate::pm::PmConfig;
use crate::sched::sharing::SharingParams;
use crate::sched::SchedulerKind;
use crate::time::Duration;

/// How an endpoint speaks MPTCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpConfig {
    /// Offer MPTCP on connections we open and accept it on connections we take.
    /// Off, every connection is plain TCP.
    pub enabled: bool,
    /// Ask for DSS checksums (the A flag). They are used when either side asks
    /// (RFC 8684 §3.1); Linux asks when net.mptcp.checksum_enabled is 1.
    pub checksums: bool,
    /// Subflows per connection, the first one included; joins beyond are refused
    /// with MP_TCPRST "lack of resources".
    pub max_subflows: usize,
    /// The largest mapping given to a subflow at once. Smaller mappings let the
    /// scheduler follow the paths more finely and bound what a checksum failure
    /// costs; each costs a DSS.
    pub max_mapping: u16,
    pub path_manager: PmConfig,
    /// Which scheduler new connections get.
    pub scheduler: SchedulerKind,
    /// Auto-tune the connection-level receive window (below). Off, the whole receive
    /// buffer is offered from the start. Off by default: on, the link-down handover
    /// of `braid bench handover` misses its target (docs/tuning.md, "Buffer
    /// auto-tuning").
    pub receive_autotune: bool,
    /// The connection-level receive window to start from; auto-tuning grows it
    /// towards RTT_max × the data rate (twice that, like Linux's dynamic right-sizing),
    /// up to the receive buffer. `None`: the TCP settings' `initial_recv_buffer`.
    pub initial_window: Option<usize>,
    /// Auto-tune the connection-level send buffer: it starts at
    /// [`INITIAL_SEND_BUFFER`](crate::mptcp::data::INITIAL_SEND_BUFFER) and grows, as
    /// data is acknowledged, towards twice RTT_max × the sum of the subflows' delivery
    /// rates (like Linux's tcp_sndbuf_expand), never past the TCP settings'
    /// `send_buffer` and never shrinking. The application's writes take less while
    /// it is small. Off, the whole `send_buffer` is offered once the connection
    /// first hears from the peer. Off by default: on, `braid bench aggregation`
    /// loses throughput in some cases (docs/tuning.md, "Buffer auto-tuning").
    pub send_autotune: bool,
    /// Take joins to the address and port of a connection's first subflow, as a
    /// listener. Off, our SYN-ACK sets the C flag (RFC 8684 §3.1: we accept no
    /// subflow there; clients join the addresses we announce) and such joins are
    /// refused with MP_TCPRST. Linux's net.mptcp.allow_join_initial_addr_port,
    /// on by default too; off suits a server behind a load balancer that would send
    /// the joins to another host.
    pub allow_join_initial_address: bool,
    /// MP_CAPABLE SYN retransmissions before an active open gives up on MPTCP and
    /// goes on with plain SYNs: a middlebox that drops SYNs carrying options it does
    /// not know would otherwise keep the connection from ever opening (RFC 8684 §3.7
    /// has MPTCP fall back to TCP around such middleboxes). The first SYN and this
    /// many retransmissions carry MP_CAPABLE, the next ones not. 2, as Linux's
    /// net.mptcp.syn_retrans_before_tcp_fallback; `None` keeps MP_CAPABLE on every
    /// SYN (Linux: 128 or more). The SYN timer backs off from 1 s, so with 2 the
    /// first plain SYN leaves 7 s after the first SYN; Linux's leaves at 3 s, its
    /// first SYN retransmissions being 1 s apart (net.ipv4.tcp_syn_linear_timeouts).
    pub syn_retransmissions_before_fallback: Option<u32>,
    /// How long a connection whose every subflow failed before the end waits for
    /// one to join or be opened again before it ends in error (break-before-make),
    /// and how long our DATA_FIN may go unacknowledged before the connection is
    /// given up with MP_FASTCLOSE (a peer that vanished). Linux's
    /// net.mptcp.close_timeout defaults to 60 s too, and bounds a closed socket's
    /// life the same way.
    pub close_timeout: Duration,
    /// How long the subflows of a connection whose DATA_FINs are both acknowledged
    /// may take to close before they are reset and the connection reported
    /// finished: the peer may have reset one already, its RST lost with its path,
    /// or the path may be dead, and a FIN-WAIT-2 subflow would otherwise wait
    /// forever. Linux gives orphaned sockets net.ipv4.tcp_fin_timeout, 60 s by
    /// default, in FIN-WAIT-2.
    pub subflow_linger_timeout: Duration,
    /// The tuned values of the heuristics that share a short connection-level
    /// window between subflows (see [`crate::sched::sharing`]).
    pub sharing: SharingParams,
}

impl Default for MptcpConfig {
    fn default() -> Self {
        MptcpConfig {
            enabled: true,
            checksums: false,
            max_subflows: 8,
            max_mapping: 16 * 1024,
            path_manager: PmConfig::default(),
            scheduler: SchedulerKind::default(),
            initial_window: None,
            receive_autotune: false,
            send_autotune: false,
            sharing: SharingParams::default(),
            close_timeout: Duration::from_secs(60),
            subflow_linger_timeout: Duration::from_secs(60),
            syn_retransmissions_before_fallback: Some(2),
            allow_join_initial_address: true,
        }
    }
}

/// DSS option space kept free on every data segment: kind, length, subtype and
/// flags, a 64-bit DATA_ACK, a 64-bit DSN, the subflow sequence number, the
/// data-level length and the checksum (RFC 8684 §3.3, Figure 9).
pub const DSS_OPTION_SPACE: usize = 4 + 8 + 8 + 4 + 2 + 2;
