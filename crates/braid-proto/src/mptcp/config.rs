//! Settings of MPTCP connections.

use crate::pm::PmConfig;
use crate::sched::SchedulerKind;

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
    /// buffer is offered from the start. Off by default for now: on, `braid bench
    /// handover` waits 332 ms instead of 169 ms when Wi-Fi goes down (over the
    /// target of cellular's RTT + 50 ms). The tuned window keeps cellular out of its
    /// queue (srtt 122 ms instead of 167 ms); taking over Wi-Fi's data, its CUBIC
    /// window then grows from 285 to 437 KB within 90 ms, overflows the 300 KB queue,
    /// and the lost left edge costs a recovery round. Aggregation (fixed buffers) is
    /// unchanged; `braid bench fairness` gives 45.1-56.1%. (It used to give coupled
    /// controllers 59-74% of a shared bottleneck: the subflows acknowledged every
    /// segment under the tuned window.)
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
    /// first hears from the peer. Off by default for now: on, `braid bench
    /// aggregation` (lowest-RTT) averages 77.1% of the link sum instead of 77.6%
    /// over its 24 cases, Wi-Fi + 1%-lossy cellular at RTT_max·Σbw falls from 67.8%
    /// to 61.6%, and 15+5 Mbit/s, 1/25 ms at 2·RTT_max·Σbw from 90.5% to 87.7%,
    /// although after the first few hundred kilobytes the buffer no longer limits
    /// the sender; the handover gap is 160 ms instead of 169 ms.
    pub send_autotune: bool,
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
        }
    }
}

/// DSS option space kept free on every data segment: kind, length, subtype and
/// flags, a 64-bit DATA_ACK, a 64-bit DSN, the subflow sequence number, the
/// data-level length and the checksum (RFC 8684 §3.3, Figure 9).
pub const DSS_OPTION_SPACE: usize = 4 + 8 + 8 + 4 + 2 + 2;
