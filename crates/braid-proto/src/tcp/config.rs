//! Per-connection settings, with Linux's defaults where Linux has one.

use crate::time::Duration;

/// Keepalive probing of an idle connection (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (Linux: 2 hours).
    pub idle: Duration,
    /// Time between unanswered probes (Linux: 75 s).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (Linux: 9).
    pub probes: u32,
}

/// Settings of one TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// The MSS we advertise: the largest payload we accept in one segment.
    pub mss: u16,
    /// Upper bound of the send buffer (unacknowledged plus unsent bytes).
    pub send_buffer: usize,
    /// Upper bound of the receive buffer, which bounds the advertised window.
    pub recv_buffer: usize,
    /// Starting receive buffer; auto-tuning grows it towards `recv_buffer`.
    pub initial_recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3) and so PAWS (§5).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Nagle's algorithm (RFC 9293 §3.7.4); off is TCP_NODELAY.
    pub nagle: bool,
    /// Longest an ACK is delayed (RFC 9293 §3.8.6.3 caps it at 500 ms; Linux's
    /// minimum is 40 ms). `None` acknowledges every segment at once.
    pub delayed_ack: Option<Duration>,
    /// RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// RTO floor. RFC 6298 says 1 s; Linux uses 200 ms, and so does braid.
    pub min_rto: Duration,
    /// RTO ceiling (Linux: 120 s).
    pub max_rto: Duration,
    /// SYN retransmissions before giving up (Linux tcp_syn_retries: 6).
    pub syn_retries: u32,
    /// Data retransmissions by timeout before giving up (Linux tcp_retries2: 15).
    pub data_retries: u32,
    /// Time spent in TIME-WAIT (2·MSL; Linux: 60 s).
    pub time_wait: Duration,
    /// Least time between ACKs that answer unacceptable segments carrying nothing
    /// (Linux tcp_invalid_ratelimit: 500 ms). Two ends out of step, after a forged
    /// segment gave one of them octets the other never sent, would otherwise answer
    /// each other's ACKs forever (RFC 5961 §7 asks for throttling).
    pub unacceptable_ack_interval: Duration,
    /// Longest an orphaned connection ([`TcpConnection::orphan`]) waits in
    /// FIN-WAIT-2 for the peer's FIN before it is aborted (Linux tcp_fin_timeout:
    /// 60 s). RFC 9293 lets FIN-WAIT-2 last as long as the peer keeps its side open,
    /// so a peer that never closes would hold a connection nobody reads forever.
    /// A connection its owner still holds waits as long as the peer sends: a
    /// half-closed stream, and MPTCP's subflows, which close their sending side
    /// once the data level has finished sending while the peer's data still comes
    /// in over them.
    ///
    /// [`TcpConnection::orphan`]: super::TcpConnection::orphan
    pub fin_wait_2_timeout: Duration,
    pub keepalive: Option<Keepalive>,
    /// Option space kept free on every data segment for the layer above (MPTCP's DSS),
    /// so that segments with it stay within the MSS.
    pub reserved_option_space: usize,
    /// Most out-of-order ranges held in reassembly before new ones are dropped.
    pub max_ooo_ranges: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buffer: 4 << 20,
            recv_buffer: 6 << 20,
            initial_recv_buffer: 128 << 10,
            window_scaling: true,
            timestamps: true,
            sack: true,
            nagle: true,
            delayed_ack: Some(Duration::from_millis(40)),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            syn_retries: 6,
            data_retries: 15,
            time_wait: Duration::from_secs(60),
            unacceptable_ack_interval: Duration::from_millis(500),
            fin_wait_2_timeout: Duration::from_secs(60),
            keepalive: None,
            reserved_option_space: 0,
            max_ooo_ranges: 64,
        }
    }
}
